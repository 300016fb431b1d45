"""``to_dask`` over a zeroed J2K frame: raises when computed, or recovers / fills."""

from __future__ import annotations

import warnings

import imagecodecs
import numpy as np
import pytest

import dicomio
from dicomio import DicomioWarning
from tests._zeroed import FRAMES, zeroed_path

pytest.importorskip("dask")


@pytest.fixture
def zeroed(tmp_path):
    return zeroed_path(tmp_path, "JPEG2000Lossless", "sector")


def test_compute_raises_by_default(zeroed):
    path, _bad = zeroed
    arr = dicomio.to_dask(path, frames_per_chunk=1)
    np.testing.assert_array_equal(arr[0].compute(scheduler="sync"), FRAMES[0])
    with pytest.raises(dicomio.DamagedStreamError, match="frame 1"):
        arr.compute(scheduler="sync")


def test_recover_and_fill(zeroed):
    path, bad = zeroed
    arr = dicomio.to_dask(path, frames_per_chunk=2, on_error="recover")
    with pytest.warns(DicomioWarning, match="damaged codestream"):
        got = arr.compute(scheduler="sync")
    np.testing.assert_array_equal(got[[0, 2]], FRAMES[[0, 2]])
    np.testing.assert_array_equal(got[1], imagecodecs.jpeg2k_decode(bad))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        filled = dicomio.to_dask(path, on_error="fill").compute(scheduler="sync")
    assert not filled[1].any()
    np.testing.assert_array_equal(filled[[0, 2]], FRAMES[[0, 2]])
