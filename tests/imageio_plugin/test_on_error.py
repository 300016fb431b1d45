"""``on_error`` through imageio v3: read, iter and the ``failed_frames`` metadata."""

from __future__ import annotations

import warnings

import imageio.v3 as iio
import numpy as np
import pytest

import dicomio
from dicomio import DicomioWarning
from tests.robustness._hostile import (
    BAD,
    GREY16,
    jpeg_with_bad_frames,
    truncated_native,
)


@pytest.fixture
def cut(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    return path


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.dcm"
    path.write_bytes(jpeg_with_bad_frames(bad=BAD))
    return path


def test_imread_is_strict_by_default(cut):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)  # the opening's note
        with pytest.raises(dicomio.TruncatedError, match="frame 1"):
            iio.imread(cut, plugin="dicomio")


def test_recover_through_imread_and_the_metadata_lists_the_frames(cut):
    with pytest.warns(DicomioWarning) as caught, \
            iio.imopen(cut, "r", plugin="dicomio") as f:
        arr = f.read(on_error="recover")
        meta = f.metadata()
        one = f.metadata(index=1)
        fine = f.metadata(index=0)
    assert any("2 of 3 frames failed" in str(w.message) for w in caught)
    np.testing.assert_array_equal(arr[0], GREY16[0])
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17])
    assert set(meta["failed_frames"]) == {"1", "2"}
    entry = meta["failed_frames"]["1"]
    assert entry == {"action": "recovered", "error": entry["error"],
                     "missing_rows": [17, 20], "missing_bytes": 100}
    assert "100 of its 960 bytes are missing" in entry["error"]
    assert list(one["failed_frames"]) == ["1"] and fine["failed_frames"] == {}
    assert meta["photometric"]["declared"] == "MONOCHROME2"


def test_skip_and_fill_through_imread(bad):
    with pytest.warns(DicomioWarning, match="23 were left out"):
        assert iio.imread(bad, plugin="dicomio", on_error="skip").shape == (117, 16, 16)
    with pytest.warns(DicomioWarning, match="23 were filled with 0"):
        arr = iio.imread(bad, plugin="dicomio", on_error="fill")
    assert arr.shape == (140, 16, 16) and not arr[list(BAD)].any()


def test_iter_skips_the_frames_that_fail(bad):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        frames = list(iio.imiter(bad, plugin="dicomio", on_error="skip"))
        filled = list(iio.imiter(bad, plugin="dicomio", on_error="fill"))
    assert len(frames) == 117 and all(f.shape == (16, 16) for f in frames)
    assert len(filled) == 140 and not filled[BAD[0]].any()
    with pytest.raises(dicomio.DecodeError, match="frame 3"):
        list(iio.imiter(bad, plugin="dicomio"))


def test_a_folder_lists_its_failed_slices(tmp_path):
    from pathlib import Path

    from tests._builders import write_stack

    _, _, truth = write_stack(tmp_path, 3)
    victim = next(p for p, k in truth.items() if k == 1)
    data = Path(victim).read_bytes()
    Path(victim).write_bytes(data[: len(data) - 50])
    with pytest.warns(DicomioWarning) as caught, \
            iio.imopen(tmp_path, "r", plugin="dicomio") as f:
        vol = f.read(on_error="fill")
        meta = f.metadata()
    assert any("1 of 3 slices failed" in str(w.message) for w in caught)
    assert vol.shape[0] == 3 and not vol[1].any()
    assert list(meta["failed_frames"]) == ["1"]
    assert meta["failed_frames"]["1"]["action"] == "filled"
