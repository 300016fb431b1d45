"""Patient space in napari: differently oriented series of one patient overlap.

One phantom volume V[z, y, x] on a 1 mm LPS grid is written twice: as axial
slices and as sagittal slices (rows down the patient's feet direction). In
patient space a world point must land on the same phantom voxel in both
layers; back in 2D each layer returns to its own frame, with no napari
"Non-orthogonal slicing" warning (pytest turns warnings into errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.components import ViewerModel  # noqa: E402

from dicomio._napari import _lazy  # noqa: E402
from dicomio._napari._space import (  # noqa: E402
    in_patient_space,
    patient_affine,
    show_in_own_frame,
    show_in_patient_space,
)
from dicomio.encode import write  # noqa: E402

NZ, NY, NX = 7, 9, 11
ORIGIN = np.array([-5.0, 10.0, 20.0])  # patient (x, y, z) of voxel V[0, 0, 0]
STUDY = "1.2.826.0.1.3680043.10.9"


def phantom() -> np.ndarray:
    """Every voxel a different value: V[z, y, x] = 100 z + 10 y + x (+ 1)."""
    z, y, x = np.meshgrid(np.arange(NZ), np.arange(NY), np.arange(NX), indexing="ij")
    return (1 + 100 * z + 10 * y + x).astype(np.uint16)


def write_axial(folder: Path, volume: np.ndarray) -> None:
    folder.mkdir()
    for k in range(NZ):
        write(folder / f"ax{k:02d}", volume[k], "JPEGLSLossless",
              image_position=(ORIGIN + [0, 0, k]).tolist(),
              image_orientation=[1, 0, 0, 0, 1, 0], pixel_spacing=[1.0, 1.0],
              series_instance_uid=STUDY + ".1", study_instance_uid=STUDY,
              series_description="axial", instance_number=NZ - k)


def write_sagittal(folder: Path, volume: np.ndarray) -> None:
    # row direction +y, column direction -z: pixel (j, i) of slice m is the
    # patient point ORIGIN + (m, i, NZ - 1 - j), i.e. V[NZ - 1 - j, i, m].
    folder.mkdir()
    top = ORIGIN + [0, 0, NZ - 1]
    for m in range(NX):
        image = volume[::-1, :, m]
        write(folder / f"sag{m:02d}", np.ascontiguousarray(image), "RLELossless",
              image_position=(top + [m, 0, 0]).tolist(),
              image_orientation=[0, 1, 0, 0, 0, -1], pixel_spacing=[1.0, 1.0],
              series_instance_uid=STUDY + ".2", study_instance_uid=STUDY,
              series_description="sagittal", instance_number=m + 1)


@pytest.fixture
def exam(tmp_path: Path) -> Path:
    volume = phantom()
    write_axial(tmp_path / "axial", volume)
    write_sagittal(tmp_path / "sagittal", volume)
    return tmp_path


@pytest.fixture
def viewer() -> Any:
    import npe2

    npe2.PluginManager.instance().discover()
    _lazy.clear_caches()
    model = ViewerModel()
    yield model
    show_in_own_frame(model)
    model.layers.clear()
    _lazy.clear_caches()


def voxel(layer: Any, world: np.ndarray) -> int:
    index = np.round(np.asarray(layer.world_to_data(world), dtype=float)).astype(int)
    assert np.all(index >= 0) and np.all(index < layer.data.shape), (layer.name, world)
    return int(np.asarray(layer.data[tuple(index)]))


def test_two_orientations_overlap_voxel_for_voxel(exam: Path, viewer: Any) -> None:
    axial, = viewer.open(str(exam / "axial"), plugin="dicomio")
    sagittal, = viewer.open(str(exam / "sagittal"), plugin="dicomio")
    assert sagittal.data.shape == (NX, NZ, NY)

    result = show_in_patient_space(viewer)
    assert result == {"aligned": ["axial (OT #1)", "sagittal (OT #1)"], "unchanged": []}
    assert viewer.dims.ndisplay == 3 and in_patient_space(viewer)

    volume = phantom()
    rng = np.random.default_rng(3)
    for _ in range(40):
        z, y, x = (int(rng.integers(n)) for n in (NZ, NY, NX))
        world = np.array([ORIGIN[2] + z, ORIGIN[1] + y, ORIGIN[0] + x])
        assert voxel(axial, world) == volume[z, y, x]
        assert voxel(sagittal, world) == volume[z, y, x]
    # world axes are patient (z, y, x) in mm. The sagittal normal, row x
    # column = (-1, 0, 0), orders its slices from right (largest x) to left,
    # and each slice starts at its top row.
    np.testing.assert_allclose(sagittal.data_to_world((0, 0, 0)),
                               [ORIGIN[2] + NZ - 1, ORIGIN[1], ORIGIN[0] + NX - 1])


def test_back_to_2d_restores_each_own_frame_without_warnings(
        exam: Path, viewer: Any) -> None:
    sagittal, = viewer.open(str(exam / "sagittal"), plugin="dicomio")
    own = (tuple(sagittal.scale), tuple(sagittal.translate),
           np.array(sagittal.affine.affine_matrix))
    show_in_patient_space(viewer)
    assert not np.allclose(sagittal.affine.affine_matrix, own[2])

    viewer.dims.ndisplay = 2  # napari would warn while slicing a rotated layer
    assert not in_patient_space(viewer)
    assert (tuple(sagittal.scale), tuple(sagittal.translate)) == own[:2]
    np.testing.assert_array_equal(sagittal.affine.affine_matrix, own[2])
    viewer.dims.set_current_step(0, 3)
    np.testing.assert_array_equal(np.asarray(sagittal._slice.image.view).shape,
                                  (NZ, NY))


def test_layers_opened_later_join_and_others_are_left_alone(
        exam: Path, viewer: Any) -> None:
    viewer.add_image(np.zeros((4, 5, 6)), name="plain")
    single = exam / "single"
    single.mkdir()
    write(single / "one", phantom()[0], "RLELossless", image_position=[0, 0, 0],
          image_orientation=[1, 0, 0, 0, 1, 0], pixel_spacing=[1.0, 1.0])
    viewer.open(str(single), plugin="dicomio")

    result = show_in_patient_space(viewer)
    assert result["aligned"] == [] and set(result["unchanged"]) == {"plain", "OT #1"}
    assert viewer.dims.ndisplay == 2  # nothing to show in patient space

    axial, = viewer.open(str(exam / "axial"), plugin="dicomio")
    np.testing.assert_allclose(axial.affine.affine_matrix, patient_affine(axial))
    assert "dicomio_own_frame" in axial.metadata
    assert show_in_own_frame(viewer) == ["axial (OT #1)"]
    assert "dicomio_own_frame" not in axial.metadata
    assert patient_affine(viewer.layers["plain"]) is None


def test_menu_commands_are_in_the_manifest() -> None:
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("dicomio")
    ids = {c.id for c in manifest.contributions.commands or []}
    assert {"dicomio.patient_space", "dicomio.own_frame"} <= ids
    menu = manifest.contributions.menus["napari/layers/transform"]
    assert [item.command for item in menu] == ["dicomio.patient_space",
                                               "dicomio.own_frame"]
    manifest.validate_imports()  # what `npe2 validate --imports dicomio` checks


@pytest.mark.gui
@pytest.mark.filterwarnings(
    "ignore:System theme detection requires a Qt6 backend:UserWarning")
def test_menu_command_in_a_real_viewer(exam: Path, make_napari_viewer: Any,
                                       qtbot: Any) -> None:
    pytest.importorskip("pytestqt")
    from napari._app_model import get_app_model

    viewer = make_napari_viewer(show=True)
    viewer.open(str(exam / "axial"), plugin="dicomio")
    sagittal, = viewer.open(str(exam / "sagittal"), plugin="dicomio")
    try:
        get_app_model().commands.execute_command("dicomio.patient_space").result()
        assert viewer.dims.ndisplay == 3 and in_patient_space(viewer)
        np.testing.assert_allclose(sagittal.affine.affine_matrix,
                                   patient_affine(sagittal))
        qtbot.wait(50)
        shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
        assert shot[..., :3].max() > 0  # the volumes are drawn

        viewer.dims.ndisplay = 2
        assert not in_patient_space(viewer)
        np.testing.assert_allclose(sagittal.scale, (1.0, 1.0, 1.0))
        np.testing.assert_array_equal(sagittal.affine.affine_matrix, np.eye(4))
        get_app_model().commands.execute_command("dicomio.own_frame").result()
    finally:
        show_in_own_frame(viewer)


def test_the_2d_switch_restores_frames_before_napari_slices(
        exam: Path, viewer: Any) -> None:
    # _connect_first moves our callback ahead of napari's own ones through
    # private lists; if a napari release changes them, this fails.
    sagittal, = viewer.open(str(exam / "sagittal"), plugin="dicomio")
    show_in_patient_space(viewer)
    emitter = viewer.dims.events.ndisplay
    from dicomio._napari import _space

    state = _space._states[id(viewer)]
    assert emitter._callbacks[0] is state.on_ndisplay
    viewer.dims.ndisplay = 2  # with filterwarnings=error, a warning would fail
    np.testing.assert_array_equal(sagittal.affine.affine_matrix, np.eye(4))


@pytest.mark.gui
@pytest.mark.filterwarnings(
    "ignore:System theme detection requires a Qt6 backend:UserWarning")
def test_view_opens_an_exam_in_patient_space(exam: Path, make_napari_viewer: Any) -> None:
    pytest.importorskip("pytestqt")
    from dicomio._napari.launch import view

    viewer = make_napari_viewer(show=False)
    try:
        view([exam / "axial", exam / "sagittal"], viewer=viewer, stack=False,
             patient_space=True, widget=False, run=False)
        assert [layer.name for layer in viewer.layers] == ["axial (OT #1)",
                                                           "sagittal (OT #1)"]
        assert in_patient_space(viewer) and viewer.dims.ndisplay == 3
    finally:
        show_in_own_frame(viewer)


def test_cli_view_has_a_patient_space_option() -> None:
    from dicomio.cli.parser import build_parser

    args = build_parser().parse_args(["view", "exam", "--patient-space"])
    assert args.patient_space and args.paths == ["exam"]
