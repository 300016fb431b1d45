"""A zeroed J2K frame through imageio: refused, or recovered and listed in the metadata."""

from __future__ import annotations

import imagecodecs
import imageio.v3 as iio
import numpy as np
import pytest

import dicomio
from dicomio import DicomioWarning
from tests._zeroed import FRAMES, zeroed_path


@pytest.fixture
def zeroed(tmp_path):
    return zeroed_path(tmp_path, "JPEG2000Lossless", "middle")


def test_imread_refuses_a_zeroed_frame(zeroed):
    path, _bad = zeroed
    with pytest.raises(dicomio.DamagedStreamError, match=r"frame 1, .* the codestream "
                       r"is damaged: \d+ zero bytes in a row"):
        iio.imread(path, plugin="dicomio")


def test_recover_returns_the_decoders_pixels_and_the_metadata_says_why(zeroed):
    path, bad = zeroed
    with pytest.warns(DicomioWarning, match="1 have a damaged codestream and were "
                      "recovered as the decoder returned them"), \
            iio.imopen(path, "r", plugin="dicomio") as f:
        arr = f.read(on_error="recover")
        meta = f.metadata()
    np.testing.assert_array_equal(arr[[0, 2]], FRAMES[[0, 2]])
    np.testing.assert_array_equal(arr[1], imagecodecs.jpeg2k_decode(bad))
    entry = meta["failed_frames"]["1"]
    assert list(meta["failed_frames"]) == ["1"]
    assert entry["action"] == "recovered" and entry["missing_rows"] is None
    assert entry["error"].startswith("the codestream is damaged: ")


def test_skip_through_imiter(zeroed):
    path, _bad = zeroed
    with pytest.warns(DicomioWarning, match="were left out"):
        frames = list(iio.imiter(path, plugin="dicomio", on_error="skip"))
    assert len(frames) == 2
    np.testing.assert_array_equal(np.stack(frames), FRAMES[[0, 2]])
