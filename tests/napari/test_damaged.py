"""The napari reader (no Qt) over a zeroed J2K frame: shown as decoded, and said."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("dask")

from napari.utils.notifications import notification_manager  # noqa: E402

from dicomio._napari import _lazy, read_dicom  # noqa: E402
from tests._zeroed import FRAMES, zeroed_path  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_state():
    notification_manager.records.clear()
    _lazy.clear_caches()
    yield
    notification_manager.records.clear()
    _lazy.clear_caches()


def test_a_zeroed_frame_opens_with_the_decoders_pixels_and_a_notification(tmp_path):
    path, bad = zeroed_path(tmp_path, "JPEG2000Lossless", "middle")
    (layer, kwargs, layer_type), = read_dicom(str(path))
    assert layer_type == "image"
    pixels = np.asarray(layer)
    np.testing.assert_array_equal(pixels[[0, 2]], FRAMES[[0, 2]])
    np.testing.assert_array_equal(pixels[1], imagecodecs.jpeg2k_decode(bad))
    failed = kwargs["metadata"]["failed_frames"]
    assert list(failed) == ["1"] and failed["1"]["action"] == "recovered"
    assert failed["1"]["error"].startswith("the codestream is damaged: ")
    shown = [str(n.message) for n in notification_manager.records
             if str(n.severity).lower().endswith("warning")]
    assert any(m.startswith(f"{path}: frame 1 has a damaged codestream and is shown "
                            "as the decoder returned it (the pixels may be wrong): "
                            "the codestream is damaged: ") for m in shown), shown
