"""``to_dask(on_error=...)``: fill and recover work lazily; skip cannot."""

from __future__ import annotations

import warnings

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
