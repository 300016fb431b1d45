"""How series.py reads files: one header parse per file, the scan's threads,
and decoding straight into the volume (rescaled in place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from dicomio import series as S
from dicomio import tsyntax
from dicomio.dataset import elements as _values
from dicomio.series import pacing

from .test_series import pixels, write_ct, write_stack


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    original = pydicom.dcmread

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    return calls


def test_reading_parses_no_header_again(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write_stack(tmp_path, 5, BitsStored=12, HighBit=11)
    calls = count_parses(monkeypatch)
    s = S.scan(tmp_path).series[0]
    assert len(calls) == 5
    vol = s.read(rescale=True)
    assert s.shape == (5, 16, 16)
    assert len(calls) == 5  # neither the probe nor the decode parsed again
    assert vol.dtype == np.int16
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k).astype(np.int32) % 4096 - 1024)
    assert s.decoders == ["native"] * 5


def test_a_file_changed_after_the_scan_is_opened_afresh(tmp_path: Path) -> None:
    _, _, truth = write_stack(tmp_path, 3)
    s = S.scan(tmp_path).series[0]
    path = s.slices[1][0]
    k = truth[path]
    ds = pydicom.dcmread(path)
    ds.ImageComments = "a longer header moves Pixel Data" * 4
    ds.save_as(path)
    np.testing.assert_array_equal(s.read(1), pixels(k))
    np.testing.assert_array_equal(s.read(), np.stack([pixels(j) for j in range(3)]))


def test_deflated_slices_are_opened_by_the_image_reader(tmp_path: Path) -> None:
    uid = generate_uid()
    for k in range(2):
        path = write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k),
                        series_uid=uid)
        if k == 1:
            ds = pydicom.dcmread(path)
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            ds.save_as(path, enforce_file_format=True)
    s = S.scan(tmp_path).series[0]
    assert [r.tell is None for r in s._recs] == [False, True]
    np.testing.assert_array_equal(s.read(rescale=True),
                                  np.stack([pixels(0), pixels(1)]).astype(np.int32)
                                  - 1024)


def test_in_place_rescale_mixes_slices_with_and_without_one(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, rescale in enumerate([(1.0, -1024.0), None, (1.0, 0.0), (1.0, 7.0)]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k), series_uid=uid,
                 rescale=rescale, BitsStored=12, HighBit=11)
    s = S.scan(tmp_path).series[0]
    for threads in (1, 3):
        vol = s.read(rescale=True, threads=threads)
        assert vol.dtype == np.int16
        expected = [pixels(k).astype(np.int32) % 4096 + icpt
                    for k, icpt in enumerate([-1024, 0, 0, 7])]
        np.testing.assert_array_equal(vol, np.stack(expected))
        # Batches out of order take the copying path: same values.
        np.testing.assert_array_equal(s.read([3, 0], rescale=True, threads=threads),
                                      np.stack([expected[3], expected[0]]))


def test_scan_threads_give_the_same_result(tmp_path: Path) -> None:
    write_stack(tmp_path, 40)
    results = [S.scan(tmp_path, threads=t) for t in (None, 1, 4)]
    assert len({tuple(r.series[0].slices) for r in results}) == 1


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


def test_from_header_warn_false_keeps_defects_in_warnings_only(tmp_path: Path) -> None:
    # The napari chunks open files in dask's threads with warn=False: the
    # defects stay on the image, and no thread's warning filters are touched.
    import warnings

    from dicomio import encode
    from dicomio.image import DicomImage, DicomioWarning

    path = tmp_path / "x.dcm"
    encode.write(path, np.arange(16, dtype=np.uint16).reshape(4, 4),
                 "ExplicitVRLittleEndian")
    with open(path, "rb") as fh:
        ds = pydicom.dcmread(fh, stop_before_pixels=True)
        tell = fh.tell()
    del ds.PhotometricInterpretation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = DicomImage._from_header(str(path), ds, tell, warn=False)
    assert any("Photometric" in w for w in img.warnings)
    np.testing.assert_array_equal(img.read(), np.arange(16).reshape(4, 4))
    img.close()
    with pytest.warns(DicomioWarning, match="Photometric"):
        DicomImage._from_header(str(path), ds, tell).close()


def test_raw_value_fast_path_agrees_with_pydicom_on_every_corpus_file() -> None:
    # The scan converts plain elements (binary integers, IS, DS, UI, CS)
    # itself; on every header of both corpora it must give pydicom's values.
    import warnings

    from pydicom.dataelem import RawDataElement

    from .conftest import all_corpus_files

    checked = 0
    for path in all_corpus_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - unreadable corpus files are other tests' business
                continue
            for tag in list(ds._dict):
                elem = ds._dict[tag]
                if not isinstance(elem, RawDataElement):
                    continue
                fast = _values.raw_value(elem)
                if fast is _values.SLOW:
                    continue
                try:
                    slow = ds[tag].value
                except Exception:  # noqa: BLE001 - pydicom refuses it: so must _get
                    continue
                want = list(slow) if isinstance(slow, (list, tuple, MultiValue)) else slow
                assert fast == want, (path.name, tag, fast, want)
                checked += 1
    assert checked > 3000  # 4,456 elements with pydicom-data installed
