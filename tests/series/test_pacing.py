"""Threads only while files wait on I/O: the header scan and uncompressed reads (dicomio.series.pacing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomio import series as S
from dicomio import tsyntax
from dicomio.series import pacing
from tests._builders import write_stack


def watch_threads(monkeypatch: pytest.MonkeyPatch, slow: bool
                  ) -> tuple[list[int], list[int]]:
    """Make every I/O check answer ``slow``; record the checks and the pools.

    Returns ``(looks, pools)``: the window sizes :func:`pacing._slow_to_open` was
    asked about and the ``max_workers`` of every thread pool started.
    """
    looks: list[int] = []
    pools: list[int] = []
    real_pool = pacing.ThreadPoolExecutor

    def slow_to_open(start: Any, n: int) -> bool:
        looks.append(n)
        return slow

    def pool(*args: Any, **kwargs: Any) -> Any:
        pools.append(kwargs["max_workers"])
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(pacing, "_slow_to_open", slow_to_open)
    monkeypatch.setattr(pacing, "ThreadPoolExecutor", pool)
    return looks, pools


@pytest.mark.parametrize("slow", [False, True])
def test_scan_switches_to_threads_when_files_are_slow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    _, _, truth = write_stack(tmp_path, 40)
    looks, pools = watch_threads(monkeypatch, slow)
    progress: list[tuple[int, int]] = []
    result = S.scan(tmp_path, progress=lambda d, t: progress.append((d, t)))
    assert [d for d, _ in progress] == list(range(41))
    assert [truth[p] for p, _ in result.series[0].slices] == list(range(40))
    if slow:
        assert looks == [pacing.SCAN_WINDOW] and pools == [pacing.default_threads()]
    else:
        assert looks == [pacing.SCAN_WINDOW] * (40 // pacing.SCAN_WINDOW) and pools == []


@pytest.mark.parametrize("slow", [False, True])
def test_uncompressed_slices_are_read_in_threads_only_when_files_are_slow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    write_stack(tmp_path, 40)
    series = S.scan(tmp_path).series[0]
    assert series.transfer_syntaxes <= tsyntax.UNCOMPRESSED
    want = series.read(rescale=True, threads=1)
    looks, pools = watch_threads(monkeypatch, slow)
    monkeypatch.setattr(pacing.os, "cpu_count", lambda: 4)
    np.testing.assert_array_equal(series.read(rescale=True), want)
    if slow:
        assert looks == [pacing.SCAN_WINDOW] and pools == [4]
    else:
        assert looks == [pacing.SCAN_WINDOW] * (40 // pacing.SCAN_WINDOW) and pools == []
    pools.clear()
    np.testing.assert_array_equal(series.read(rescale=True, threads=4), want)
    assert pools == [4]  # threads=N is obeyed


def test_slow_to_open_needs_time_blocked_not_a_busy_cpu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    n = pacing.SCAN_WINDOW
    now: list[Any] = []
    monkeypatch.setattr(pacing, "_clock", lambda: now[0])
    start = (0.0, 0.0, 0)
    # Page cache: all CPU.
    now[:] = [(n * 0.5e-3, n * 0.5e-3, 0)]
    assert not pacing._slow_to_open(start, n)
    # A CPU shared with other processes: waiting, but never blocked.
    now[:] = [(n * 2e-3, n * 0.5e-3, 0)]
    assert not pacing._slow_to_open(start, n)
    # A network share: blocked in a read for every file.
    now[:] = [(n * 2e-3, n * 0.5e-3, n)]
    assert pacing._slow_to_open(start, n)
    # Without switch counts (not Linux) only a long wait counts.
    assert pacing._slow_to_open((0.0, 0.0, None), n) is True
    now[:] = [(n * 0.9e-3, n * 0.5e-3, None)]
    assert not pacing._slow_to_open((0.0, 0.0, None), n)
