"""``to_dask(on_error=...)``: fill and recover work lazily (plain, displayed,
4-D volumes, on a LocalCluster too); skip cannot."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio import DicomioWarning, encode
from dicomio.encode import mr
from tests.dask.conftest import _cluster_test
from tests.robustness._hostile import (
    BAD,
    GREY16,
    jpeg_with_bad_frames,
    truncated_native,
)

pytest.importorskip("dask")


def test_fill_and_recover_compute_with_the_header_shape(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    with pytest.warns(DicomioWarning, match="truncated"):
        arr = dicomio.to_dask(path, frames_per_chunk=2, on_error="recover")
    assert arr.shape == (3, 20, 24)
    with pytest.raises(dicomio.TruncatedError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        dicomio.to_dask(path).compute(scheduler="sync")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        got = arr.compute(scheduler="sync")
    np.testing.assert_array_equal(got[0], GREY16[0])
    np.testing.assert_array_equal(got[1, :17], GREY16[1, :17])
    assert not got[1, 17:].any() and not got[2].any()


def test_fill_over_a_bad_jpeg(tmp_path):
    path = tmp_path / "bad.dcm"
    path.write_bytes(jpeg_with_bad_frames(bad=BAD))
    arr = dicomio.to_dask(path, frames_per_chunk=16, on_error="fill")
    with pytest.warns(DicomioWarning, match="filled with 0"):
        got = arr.compute(scheduler="sync")
    assert got.shape == (140, 16, 16) and not got[list(BAD)].any()
    assert got[[k for k in range(140) if k not in BAD]].min() >= 9


def test_skip_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "bad.dcm"
    path.write_bytes(jpeg_with_bad_frames(n=4, bad=(1,)))
    with pytest.raises(ValueError, match="shape is fixed before anything is decoded"):
        dicomio.to_dask(path, on_error="skip")
    with pytest.raises(ValueError, match="on_error must be one of"):
        dicomio.to_dask(path, on_error="ignore")


@_cluster_test
def test_display_fill_on_a_cluster(client: Any, tmp_path: Path) -> None:
    # The display graph carries on_error to every task: a bad frame shows as
    # the display image of 0, the others as read(display=True) shows them.
    path = tmp_path / "bad.dcm"
    path.write_bytes(jpeg_with_bad_frames(n=8, bad=(2, 5)))
    with pytest.raises(dicomio.DecodeError, match="contradicts the header"):
        dicomio.to_dask(path, display=True).compute(scheduler="sync")
    arr = dicomio.to_dask(path, display=True, frames_per_chunk=3, on_error="fill")
    assert arr.dtype == np.uint8 and arr.shape == (8, 16, 16)
    got = client.compute(arr).result()
    with dicomio.DicomImage(path) as img, pytest.warns(
            DicomioWarning, match=r"2 of 8 frames failed; 2 were filled with 0: 2, 5"):
        eager = img.read(display=True, on_error="fill")
    np.testing.assert_array_equal(got, eager)
    assert len({int(v) for v in got[[2, 5]].ravel()}) == 1  # flat: the image of 0
    assert (got[[0, 1, 3, 4, 6, 7]] > got[2, 0, 0]).all()
    # The same graph warns in the process that computes it (sync scheduler):
    # once per task, for the frames of that task.
    with pytest.warns(DicomioWarning) as caught:
        arr.compute(scheduler="sync")
    assert sorted(str(w.message).split(": ", 1)[1] for w in caught) == [
        f"1 of 3 frames failed; 1 were filled with 0: {k} (see failed_frames for "
        "the reasons)" for k in (2, 5)]
    assert all(str(w.message).startswith(str(path)) for w in caught)


def test_display_recover_over_a_truncated_series(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for k in range(3):
        encode.write(folder / f"s{k}.dcm", GREY16[k], "ExplicitVRLittleEndian",
                     series_instance_uid="1.2.3.4.5.6", instance_number=k + 1,
                     image_position=(0.0, 0.0, 2.0 * k), pixel_spacing=(1.0, 1.0),
                     image_orientation=(1, 0, 0, 0, 1, 0), window=(1600, 3400))
    cut = folder / "s2.dcm"
    cut.write_bytes(cut.read_bytes()[:-200])  # the last 200 bytes: 100 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        arr = dicomio.to_dask(folder, display=True, on_error="recover")
    with pytest.raises(dicomio.TruncatedError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        dicomio.to_dask(folder, display=True).compute(scheduler="sync")
    with pytest.warns(DicomioWarning) as caught:
        got = arr.compute(scheduler="sync")
    said = [str(w.message) for w in caught]
    assert any(m.startswith(str(cut)) and "1 of 1 frame failed; 1 are incomplete"
               in m and "(rows 15-19 missing)" in m for m in said), said
    with dicomio.DicomImage(folder / "s0.dcm") as img:
        np.testing.assert_array_equal(got[0], img.read(display=True))
    with pytest.warns(DicomioWarning, match="truncated"):
        img = dicomio.DicomImage(cut)
    with img, pytest.warns(DicomioWarning, match="1 of 1 frame failed"):
        whole = img.read(display=True, on_error="recover")
    np.testing.assert_array_equal(got[2], whole)
    # The rows that are there are shown as usual; the lost ones as 0 would be.
    assert got[2, :15].std() > 0 and len(np.unique(got[2, 15:])) == 1


def test_four_d_volumes_take_on_error(tmp_path: Path) -> None:
    vols = mr.phantom(3, 4, 6, 5)
    paths = mr.write_mosaic_series(tmp_path, vols)
    last = Path(paths[1])
    last.write_bytes(last.read_bytes()[:-60])  # 3 of the 12 mosaic rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        strict = dicomio.to_dask(tmp_path)
        arr = dicomio.to_dask(tmp_path, on_error="recover")
    with pytest.raises(dicomio.TruncatedError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        strict.compute(scheduler="sync")
    with pytest.warns(DicomioWarning) as caught:
        got = arr.compute(scheduler="sync")
    assert any(str(w.message).startswith(str(last)) and "1 of 1 frame failed" in
               str(w.message) for w in caught)
    np.testing.assert_array_equal(got[[0, 2]], vols[[0, 2]])
    # 2 x 2 tiles of 6 rows: the bottom tiles (slices 2, 3) lost 3 rows each.
    np.testing.assert_array_equal(got[1, :2], vols[1, :2])
    np.testing.assert_array_equal(got[1, 2:, :3], vols[1, 2:, :3])
    assert not got[1, 2:, 3:].any()
    with pytest.raises(ValueError, match="shape is fixed"):
        dicomio.to_dask(tmp_path, on_error="skip")
