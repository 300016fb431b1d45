"""URLs through every door: imageio, napari, dask, the CLI (a real Orthanc)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio.sources import dicomweb

from .conftest import PASSWORD, OrthancServer, RangeServer, WebFile


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    with dicomweb._clients_lock:
        dicomweb._clients.clear()


def _instance(orthanc: OrthancServer, f: WebFile) -> str:
    return orthanc.url(f.study, f.series, f.instance)


def test_imageio_instance_series_and_file_urls(
        orthanc: OrthancServer, web_files: dict[str, WebFile],
        web_volume: tuple[str, Path, np.ndarray], range_server: RangeServer) -> None:
    iio = pytest.importorskip("imageio.v3")
    f = web_files["multiframe-JPEGLSLossless"]
    local = dicomio.DicomImage(f.data)
    url = _instance(orthanc, f)
    np.testing.assert_array_equal(iio.imread(url, plugin="dicomio"), local.read())
    np.testing.assert_array_equal(iio.imread(url, plugin="dicomio", index=3),
                                  local.read(3))
    props = iio.improps(url, plugin="dicomio")
    assert props.shape == local.shape
    study, _, vol = web_volume
    series = dicomio.read_series(orthanc.url(study))[1]
    surl = orthanc.url(study, str(series.headers[0].SeriesInstanceUID))
    np.testing.assert_array_equal(iio.imread(surl, plugin="dicomio"), vol)
    (range_server.folder / "x.dcm").write_bytes(f.data)
    np.testing.assert_array_equal(
        iio.imread(f"{range_server.root}/x.dcm", plugin="dicomio", index=5),
        local.read(5))


def test_dask_instance_and_series(orthanc: OrthancServer, web_files: dict[str, WebFile],
                                  web_volume: tuple[str, Path, np.ndarray]) -> None:
    pytest.importorskip("dask")
    f = web_files["multiframe-JPEGLSLossless"]
    arr = dicomio.to_dask(_instance(orthanc, f), frames_per_chunk=5)
    assert arr.numblocks[0] == 5
    np.testing.assert_array_equal(arr.compute(scheduler="threads"),
                                  dicomio.DicomImage(f.data).read())
    # The graph carries no password.
    assert PASSWORD not in repr(dict(arr.__dask_graph__()))
    study, folder, vol = web_volume
    with pytest.raises(dicomio.SeriesError, match="2 series"):
        dicomio.to_dask(orthanc.url(study))
    lazy = dicomio.to_dask(orthanc.url(study), series=0, rescale=True)
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"),
                                  dicomio.read_series(str(folder))[0].read(rescale=True))


def test_cli_info_instance_and_study(orthanc: OrthancServer,
                                     web_files: dict[str, WebFile],
                                     web_volume: tuple[str, Path, np.ndarray],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from dicomio.cli import main

    f = web_files["JPEG2000.dcm"]
    assert main(["info", "--json", _instance(orthanc, f)]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert info["transfer_syntax"]["keyword"] == "JPEG2000"
    assert PASSWORD not in out
    study, _, vol = web_volume
    assert main(["info", "--json", orthanc.url(study)]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert [s["shape"] for s in info["series"]] == [list(vol.shape)] * 2
    assert PASSWORD not in out


def test_napari_opens_urls(orthanc: OrthancServer, web_files: dict[str, WebFile],
                           web_volume: tuple[str, Path, np.ndarray]) -> None:
    pytest.importorskip("napari")
    import npe2
    from napari.components import ViewerModel

    from dicomio._napari import get_reader

    npe2.PluginManager.instance().discover()
    study, _, vol = web_volume
    url = orthanc.url(study)
    assert get_reader(url) is not None
    assert get_reader("https://example.org/picture.png") is None
    viewer = ViewerModel()
    layers = viewer.open(url, plugin="dicomio")
    assert len(layers) == 2
    for layer in layers:
        data = np.asarray(layer.data)
        assert data.shape == vol.shape
    f = web_files["SC_rgb_rle_2frame.dcm"]
    (layer,) = viewer.open(_instance(orthanc, f), plugin="dicomio")
    assert layer.rgb and np.asarray(layer.data).shape == (2, 100, 100, 3)


@pytest.mark.gui
@pytest.mark.filterwarnings(
    "ignore:System theme detection requires a Qt6 backend:UserWarning")
def test_view_url(orthanc: OrthancServer, web_volume: tuple[str, Path, np.ndarray],
                  make_napari_viewer: Any) -> None:
    from dicomio._napari.launch import view

    study, _, vol = web_volume
    viewer = make_napari_viewer()
    view(orthanc.url(study), viewer=viewer, run=False, widget=False)
    assert [layer.data.shape for layer in viewer.layers] == [vol.shape] * 2
    assert all(layer.source.reader_plugin == "dicomio" for layer in viewer.layers)
