"""napari: 4-D MR series as one layer with a volume slider, in mm (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("dask")

import dask.array as da  # noqa: E402
import npe2  # noqa: E402
from napari.components import ViewerModel  # noqa: E402

from dicomio._napari import read_dicom  # noqa: E402
from dicomio._napari._fourd import axis_label  # noqa: E402
from dicomio.encode import mr  # noqa: E402


def test_fmri_mosaics_are_one_4d_layer_with_a_time_slider(tmp_path: Path) -> None:
    vols = mr.phantom(4, 5, 6, 4)
    mr.write_mosaic_series(tmp_path, vols, bvals=[0, 1000, 1000, 1000],
                           bvecs=[(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
    (data, kwargs, kind), = read_dicom(str(tmp_path))
    assert kind == "image" and isinstance(data, da.Array)
    assert data.shape == (4, 5, 6, 4) and data.chunks[0] == (1, 1, 1, 1)
    np.testing.assert_array_equal(data.compute(), vols)
    assert kwargs["axis_labels"] == ("time", "z", "y", "x")
    assert kwargs["scale"] == pytest.approx((1.0, 4.0, 3.0, 2.5))
    assert kwargs["translate"] == pytest.approx((0.0, 10.0, -50.0, -40.0))
    assert kwargs["units"] == ("pixel", "mm", "mm", "mm")
    md = kwargs["metadata"]
    assert md["volumes"]["n"] == 4 and md["volumes"]["mosaic"]
    # Volume 0 was decoded for the limits: its decoder and colour are known.
    assert md["decoder"] == "native" and md["photometric"]["output"] == "MONOCHROME2"
    assert md["failed_frames"] == {}
    assert md["diffusion"]["bvals"] == [0, 1000, 1000, 1000]
    json.dumps(md)


def test_multi_echo_layer_in_a_viewer(tmp_path: Path) -> None:
    vols = mr.phantom(3, 4, 5, 5)
    mr.write_enhanced(tmp_path / "me.dcm", vols, axis="echo")
    npe2.PluginManager.instance().discover()
    viewer = ViewerModel()
    layers = viewer.open(str(tmp_path / "me.dcm"), plugin="dicomio")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape == (3, 4, 5, 5) and layer.ndim == 4
    assert tuple(layer.axis_labels) == ("echo", "z", "y", "x")
    assert viewer.dims.nsteps[0] == 3
    viewer.dims.set_current_step(0, 2)
    np.testing.assert_array_equal(np.asarray(layer.data[2]), vols[2])


def test_single_mosaic_layer_is_3d(tmp_path: Path) -> None:
    vols = mr.phantom(1, 5, 6, 4)
    path = mr.write_mosaic_series(tmp_path, vols)[0]
    (data, kwargs, _), = read_dicom(str(path))
    np.testing.assert_array_equal(data, vols[0])
    assert kwargs["axis_labels"] == ("z", "y", "x")


def test_axis_labels() -> None:
    assert axis_label(("EchoNumbers", "EchoTime")) == "echo"
    assert axis_label(("DiffusionBValue",)) == "volume"
    assert axis_label(("TemporalPositionIdentifier", "EchoNumbers")) == "volume"


@pytest.mark.gui
@pytest.mark.filterwarnings(
    "ignore:System theme detection requires a Qt6 backend:UserWarning")
def test_time_slider_in_a_real_viewer(make_napari_viewer: Any, qtbot: Any,
                                      tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    vols = mr.phantom(3, 4, 6, 4)
    mr.write_mosaic_series(tmp_path, vols)
    viewer = make_napari_viewer(show=True)
    layer, = viewer.open(str(tmp_path), plugin="dicomio")
    assert tuple(viewer.dims.axis_labels) == ("time", "z", "y", "x")
    assert viewer.dims.nsteps[0] == 3
    # The slider of the volume axis is shown (ndisplay 2: time and z sliders).
    assert viewer.dims.ndisplay == 2 and len(viewer.dims.not_displayed) == 2
    viewer.dims.set_current_step(0, 2)
    viewer.dims.set_current_step(1, 1)
    qtbot.wait(50)
    np.testing.assert_array_equal(np.asarray(layer._slice.image.raw), vols[2, 1])
