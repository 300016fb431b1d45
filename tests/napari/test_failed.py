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

import dicomio  # noqa: E402
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


def test_lazy_failures_fill_in_the_layer_metadata(
        make_napari_viewer: Any, qtbot: Any, tmp_path: Path) -> None:
    # A 4-D mosaic series whose volume 2 is cut short, and a multi-frame file
    # whose last frame is bad: neither failure shows until napari decodes it.
    from dicomio.encode import mr

    vols = mr.phantom(4, 4, 6, 5)
    folder = tmp_path / "fmri"
    paths = mr.write_mosaic_series(folder, vols)
    cut = Path(paths[2])
    cut.write_bytes(cut.read_bytes()[:-60])  # mosaic rows 9-11 of 12
    viewer = make_napari_viewer(show=True)
    layer, = viewer.open(str(folder), plugin="dicomio")
    assert layer.data.shape == (4, 4, 6, 5)
    assert layer.metadata["failed_frames"] == {}  # volume 0 is whole
    assert not any("could not be decoded whole" in m for m in _shown())
    viewer.dims.set_current_step(0, 2)
    viewer.dims.set_current_step(1, 3)
    qtbot.waitUntil(lambda: "2,3" in layer.metadata["failed_frames"], timeout=5000)
    failed = layer.metadata["failed_frames"]
    # Slices 2 and 3 of volume 2 sit in the bottom tiles, which lost 3 rows.
    assert set(failed) == {"2,2", "2,3"}
    assert failed["2,3"]["action"] == "recovered"
    assert failed["2,3"]["missing_rows"] == [3, 6]
    assert "the file ends inside this frame" in failed["2,3"]["error"]
    assert any(f"{cut}: frame 0 (rows 9-11 missing) could not be decoded whole "
               "and is shown with the missing rows as 0" in m for m in _shown()), _shown()
    shown = np.asarray(layer._slice.image.raw)
    np.testing.assert_array_equal(shown[:3], vols[2, 3, :3])
    assert not shown[3:].any()
    data = np.asarray(layer.data)
    np.testing.assert_array_equal(data[[0, 1, 3]], vols[[0, 1, 3]])
    np.testing.assert_array_equal(data[2, :2], vols[2, :2])

    # An ordinary lazy layer: frame 139 is bad, in a chunk napari computes
    # only when the slider gets there (the sample, frame 70, is whole).
    bad = tmp_path / "late.dcm"
    bad.write_bytes(jpeg_with_bad_frames(n=140, bad=(139,)))
    viewer.layers.clear()
    layer, = viewer.open(str(bad), plugin="dicomio")
    qtbot.wait(50)
    assert layer.data.chunks[0][-1] < 140 and layer.metadata["failed_frames"] == {}
    viewer.dims.set_point(0, 139)
    qtbot.waitUntil(lambda: "139" in layer.metadata["failed_frames"], timeout=5000)
    failed = layer.metadata["failed_frames"]["139"]
    assert failed["action"] == "filled" and "contradicts the header" in failed["error"]
    assert any(f"{bad}: frame 139 (rows 0-15 missing) could not be decoded whole "
               "and is shown as 0" in m for m in _shown()), _shown()
    assert not np.asarray(layer._slice.image.raw).any()


def test_a_palette_stack_reports_what_it_recovers(tmp_path: Path) -> None:
    # The palette layer decodes through read(display=True): its failed frames
    # are notified and listed like those of the other layers.
    from dicomio._napari import read_dicom
    from tests.conftest import corpus_file

    data = corpus_file("OBXXXX1A_2frame.dcm").read_bytes()
    path = tmp_path / "pal.dcm"
    path.write_bytes(data[:-800 * 100])  # frame 1 loses its last 100 rows
    (arr, kwargs, _), = read_dicom(str(path))
    assert kwargs["rgb"] is True and arr.shape == (2, 600, 800, 3)
    failed = kwargs["metadata"]["failed_frames"]
    assert set(failed) == {"1"} and failed["1"]["missing_bytes"] == 80000
    shown = np.asarray(arr)
    assert failed["1"]["missing_rows"] == [500, 600]  # known once decoded
    assert any(f"{path}: frame 1 (rows 500-599 missing) could not be decoded whole"
               in m for m in _shown()), _shown()
    with dicomio.DicomImage(corpus_file("OBXXXX1A_2frame.dcm")) as img:
        whole = img.read(display=True)
    np.testing.assert_array_equal(shown[0], whole[0])
    np.testing.assert_array_equal(shown[1, :500], whole[1, :500])
