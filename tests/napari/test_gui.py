"""The napari plugin in a real viewer (Qt, OpenGL) under Xvfb.

pytest-xvfb starts the X server; QT_QPA_PLATFORM=offscreen cannot be used
(no OpenGL context for image layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from dicomio import samples  # noqa: E402
from dicomio._napari import _lazy  # noqa: E402
from dicomio._napari._widget import DicomHeaderWidget  # noqa: E402
from tests.napari.test_reader import ROWS, slice_hu, write_ct_folder  # noqa: E402

pytestmark = [
    pytest.mark.gui,
    # napari 0.9.2 with PyQt5 says so at every viewer start; not ours.
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]


@pytest.fixture(autouse=True)
def _fresh_caches():
    _lazy.clear_caches()
    yield
    _lazy.clear_caches()


@pytest.fixture
def viewer(make_napari_viewer: Any) -> Any:
    return make_napari_viewer(show=True)


def canvas(viewer: Any, qtbot: Any) -> np.ndarray:
    """A screenshot of the canvas after napari has drawn the current slice."""
    viewer.reset_view()
    qtbot.wait(50)
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    assert shot.ndim == 3 and shot.shape[2] == 4
    return shot[..., :3].astype(int)


def dock(viewer: Any) -> DicomHeaderWidget:
    _, widget = viewer.window.add_plugin_dock_widget("dicomio", "DICOM header")
    assert isinstance(widget, DicomHeaderWidget)
    return widget


def test_colour_j2k_file_renders_in_colour(viewer: Any, qtbot: Any) -> None:
    layer, = viewer.open(str(samples.path("JPEG2000")), plugin="dicomio")
    assert layer.rgb and layer.source.reader_plugin == "dicomio"
    shot = canvas(viewer, qtbot)
    assert shot.std() > 10, "blank canvas"
    # The sample is a colour test pattern: channels differ where it is drawn.
    spread = np.abs(shot[..., 0] - shot[..., 1]) + np.abs(shot[..., 1] - shot[..., 2])
    assert (spread > 60).mean() > 0.01


def test_grey_file_renders_grey(viewer: Any, qtbot: Any) -> None:
    layer, = viewer.open(str(samples.path("JPEGLSLossless")), plugin="dicomio")
    assert not layer.rgb
    shot = canvas(viewer, qtbot)
    assert shot.std() > 10
    assert np.abs(shot[..., 0] - shot[..., 2]).max() <= 2  # grey stays grey


def test_shuffled_folder_and_dock_widget(viewer: Any, qtbot: Any,
                                         tmp_path: Path) -> None:
    write_ct_folder(tmp_path / "ct", n=6)
    layer, = viewer.open(str(tmp_path / "ct"), plugin="dicomio")
    assert layer.data.shape == (6, ROWS, 20)
    np.testing.assert_allclose(layer.scale, (2.5, 0.7, 0.6))
    # Show slice 4 (world z = 12 + 4 * 2.5 mm) and check its pixels are slice 4's.
    viewer.dims.set_point(0, 12.0 + 4 * 2.5)
    shot = canvas(viewer, qtbot)
    assert shot.std() > 5
    np.testing.assert_array_equal(np.asarray(layer.data[4]), slice_hu(4))

    widget = dock(viewer)
    qtbot.waitUntil(lambda: widget.frames.rowCount() >= 2, timeout=3000)
    assert widget.current_slice() == 4
    assert "JPEG2000Lossless" in widget.summary.text()
    assert "Chest 2.5 mm" in widget.title.text()
    # The series line: description, modality and number, no stray separator.
    assert "<b>Series</b>: Chest 2.5 mm (CT #1), 6 slices" in widget.summary.text()
    assert " ," not in widget.summary.text()
    table = widget.frames
    backends = {table.item(r, 1).text() for r in range(table.rowCount())}
    assert backends == {layer.metadata["decoder"]}
    assert "slice 4" in widget.header_label.text()

    # The search box filters the header tree.
    widget.search.setText("windowcenter")
    assert widget.visible_keywords() == ["WindowCenter"]
    widget.search.setText("Chest")
    assert "SeriesDescription" in widget.visible_keywords()
    widget.search.setText("")
    assert len(widget.visible_keywords()) > 20

    # Moving the slider updates the header shown (another file).
    viewer.dims.set_point(0, 12.0)
    qtbot.waitUntil(lambda: "slice 0" in widget.header_label.text(), timeout=3000)


def test_widget_shows_the_colour_state_the_layer_name_does_not(
        viewer: Any, tmp_path: Path) -> None:
    import pydicom

    layer, = viewer.open(str(samples.path("JPEGBaseline8Bit")), plugin="dicomio")
    assert "[" not in layer.name and "colour" not in layer.name
    widget = dock(viewer)
    text = widget.summary.text()
    assert "<b>Colour</b>: converted from YBR_FULL_422 to RGB" in text
    assert "<b>Series</b>: " in text and " ," not in text

    ds = pydicom.dcmread(samples.path("JPEGBaseline8Bit"))
    ds.PhotometricInterpretation = "RGB"  # the JPEG stream is JFIF YCbCr
    ds.save_as(tmp_path / "mislabelled.dcm")
    viewer.layers.clear()  # napari would number a second layer of that name
    layer, = viewer.open(str(tmp_path / "mislabelled.dcm"), plugin="dicomio")
    assert "[" not in layer.name and "mislabel" not in layer.name
    viewer.layers.selection.active = layer
    assert "<b>mislabelled</b>" in widget.summary.text()
    assert "declares RGB, the codestream is YBR_FULL_422" in widget.summary.text()


def test_widget_on_a_layer_not_from_dicomio(viewer: Any) -> None:
    viewer.add_image(np.zeros((4, 4)), name="plain")
    widget = dock(viewer)
    assert "not opened by dicomio" in widget.summary.text()
    assert widget.tree.topLevelItemCount() == 0


def test_widget_is_in_the_layers_metadata_menu(viewer: Any) -> None:
    from napari._app_model import get_app_model

    items = get_app_model().menus.get_menu("napari/layers/metadata")
    assert "dicomio.header_widget" in {
        getattr(getattr(item, "command", None), "id", None) for item in items}


def test_launch_view_opens_with_the_plugin(make_napari_viewer: Any,
                                           tmp_path: Path) -> None:
    from dicomio._napari.launch import view

    write_ct_folder(tmp_path / "ct", n=3)
    viewer = make_napari_viewer()
    out = view([tmp_path / "ct", samples.path("JPEGBaseline8Bit")], viewer=viewer,
               run=False)
    assert out is viewer
    assert [layer.source.reader_plugin for layer in viewer.layers] == ["dicomio"] * 2
    assert any(isinstance(w, DicomHeaderWidget)
               for w in viewer.window.dock_widgets.values())
    files = sorted(str(p) for p in (tmp_path / "ct").iterdir())
    view(files, viewer=viewer, widget=False, run=False)  # one volume from files
    assert viewer.layers[-1].data.shape[0] == 3


def test_window_chooser_sets_contrast_limits(viewer: Any, qtbot: Any,
                                             tmp_path: Path) -> None:
    from dicomio import encode

    path = tmp_path / "ct.dcm"
    hu = np.arange(-1000, 1048, dtype=np.int16).reshape(32, 64)
    encode.write(path, hu, "ExplicitVRLittleEndian", window=([40, -600], [400, 1500]),
                 WindowCenterWidthExplanation=["SOFT", "LUNG"], modality="CT")
    layer, = viewer.open(str(path), plugin="dicomio")
    widget = dock(viewer)
    viewer.layers.selection.active = layer
    assert not widget.windows.isHidden()
    labels = [label for label, _ in widget.windows.presets()]
    assert labels[:2] == ["SOFT: C 40 / W 400", "LUNG: C -600 / W 1500"]
    assert tuple(layer.contrast_limits) == pytest.approx((-160, 239))
    soft = canvas(viewer, qtbot)
    widget.windows.choose(1)
    assert tuple(layer.contrast_limits) == pytest.approx((-1350, 149))
    assert not np.array_equal(canvas(viewer, qtbot), soft)  # the screen changed


def test_palette_and_monochrome1_on_screen(viewer: Any, qtbot: Any) -> None:
    from tests.conftest import corpus_file

    pal, = viewer.open(str(corpus_file("OBXXXX1A.dcm")), plugin="dicomio")
    assert pal.rgb
    shot = canvas(viewer, qtbot)
    assert (np.abs(shot[..., 0] - shot[..., 1]) > 20).any()  # colours, not grey
    viewer.layers.clear()
    mono1, = viewer.open(str(corpus_file("RG3_UNCR.dcm")), plugin="dicomio")
    assert mono1.colormap.name == "gray_r"
    widget = dock(viewer)
    viewer.layers.selection.active = mono1
    assert widget.windows.presets()  # the file's window is offered
