"""Lazy reading: picklable per-slice tasks (dicomio.series.lazy)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dicomio import series as S
from tests._builders import (
    pixels,
    write_stack,
)


def test_slice_tasks_are_picklable_and_match_read(tmp_path: Path) -> None:
    write_stack(tmp_path, 3, rescale=(2.0, 1.0))
    s = S.scan(tmp_path).series[0]
    tasks = s.slice_tasks(rescale=True)
    vol = s.read(rescale=True)
    for k, task in enumerate(tasks):
        out = pickle.loads(pickle.dumps(task))()
        assert out.dtype == vol.dtype
        np.testing.assert_array_equal(out, vol[k])
    path, frame = s.slices[1]
    np.testing.assert_array_equal(S.read_slice(path, frame), pixels(1))


def test_chunked_array_takes_explicit_bounds() -> None:
    import pytest

    from dicomio.series import lazy

    def task(a: int, b: int) -> tuple:
        return (np.arange, a, b)

    arr = lazy.chunked_array("bounds-test", 7, (), np.int64, 3, task, bounds=[0, 2, 7])
    assert arr.chunks == ((2, 5),)
    np.testing.assert_array_equal(arr.compute(), np.arange(7))
    assert lazy.chunked_array("step-test", 7, (), np.int64, 3, task).chunks == ((3, 3, 1),)
    with pytest.raises(ValueError, match="do not split"):
        lazy.chunked_array("bad-test", 7, (), np.int64, 3, task, bounds=[0, 5, 5, 7])
