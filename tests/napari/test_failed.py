"""The napari reader recovers truncated files and shows bad frames as 0, saying so.

A real viewer under Xvfb (pytest-xvfb): the layer opens, its frames can be
stepped through, a notification names the frames, and the layer metadata
lists them under ``"failed_frames"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.utils.notifications import notification_manager  # noqa: E402

from dicomio._napari import _lazy  # noqa: E402
from tests.robustness._hostile import (  # noqa: E402
    GREY16,
    jpeg_with_bad_frames,
    truncated_native,
)

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]


@pytest.fixture(autouse=True)
def _fresh():
    notification_manager.records.clear()
    _lazy.clear_caches()
    yield
    notification_manager.records.clear()
    _lazy.clear_caches()


def _shown() -> list[str]:
    return [str(n.message) for n in notification_manager.records
            if str(n.severity).lower().endswith("warning")]


def test_truncated_files_and_bad_frames_in_a_real_viewer(
        make_napari_viewer: Any, qtbot: Any, tmp_path: Path) -> None:
    # One viewer for both files: every Qt viewer costs the suite (napari/Qt
    # drop references to None at each start; see the report of issue 15).
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    viewer = make_napari_viewer(show=True)
    layer, = viewer.open(str(path), plugin="dicomio")
    assert layer.data.shape == (3, 20, 24)
    shown = _shown()
    assert any(f"{path}: the file is truncated: 2 of 3 frame(s) are incomplete (1, 2)"
               in m for m in shown), shown
    failed = layer.metadata["failed_frames"]
    assert set(failed) == {"1", "2"}
    assert failed["1"]["action"] == "recovered" and failed["1"]["missing_bytes"] == 100
    # Every frame can be shown: the whole ones exact, the cut ones with 0.
    data = np.asarray(layer.data)
    np.testing.assert_array_equal(data[0], GREY16[0])
    np.testing.assert_array_equal(data[1, :17], GREY16[1, :17])
    assert not data[1, 17:].any() and not data[2].any()
    viewer.dims.set_point(0, 2)
    qtbot.wait(50)
    assert any("frame 2 (rows 0-19 missing) could not be decoded whole" in m
               for m in _shown()), _shown()
    prov = _lazy.provenance(str(path), 1)
    assert prov is not None and prov["failed"]["missing_rows"] == [17, 20]

    # A JPEG whose middle frame (the sample napari decodes first) is bad.
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(jpeg_with_bad_frames(n=6, bad=(3,)))
    layer, = viewer.open(str(bad), plugin="dicomio")
    assert layer.data.shape == (6, 16, 16)
    assert layer.metadata["failed_frames"]["3"]["action"] == "filled"
    assert "contradicts the header" in layer.metadata["failed_frames"]["3"]["error"]
    assert any("frame 3 (rows 0-15 missing) could not be decoded whole and is "
               "shown as 0" in m for m in _shown()), _shown()
    data = np.asarray(layer.data)
    assert not data[3].any() and data[[0, 1, 2, 4, 5]].min() >= 9
