"""The display image and its record at every door: DicomImage, imageio, dask."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

import dicomio
from dicomio import encode

iio = pytest.importorskip("imageio.v3")


@pytest.mark.parametrize("name", ["CT_small.dcm", "RG3_UNCR.dcm", "OBXXXX1A_2frame.dcm",
                                  "SC_rgb.dcm", "emri_small.dcm"])
def test_imageio_display_equals_the_core(corpus, name):
    path = str(corpus(name))
    img = dicomio.DicomImage(path)
    core = img.read(display=True)
    assert np.array_equal(iio.imread(path, plugin="dicomio", display=True), core)
    props = iio.improps(path, plugin="dicomio", display=True)
    assert props.shape == core.shape and props.dtype == np.uint8
    with iio.imopen(path, "r", plugin="dicomio") as f:
        f.read(display=True)
        meta = f.metadata()
        assert meta["display"] == img.display_record
        assert "photometric" in meta  # the colour report stays beside it
        # What display applied no longer describes the array.
        assert "WindowCenter" not in meta and "PhotometricInterpretation" not in meta
        f.read()
        assert "display" not in f.metadata()


def test_imageio_window_and_voi(corpus):
    path = str(corpus("MR_small.dcm"))
    img = dicomio.DicomImage(path)
    got = iio.imread(path, plugin="dicomio", display=True, window=(600, 800))
    assert np.array_equal(got, img.read(display=True, window=(600, 800)))
    assert np.array_equal(iio.imread(path, plugin="dicomio", display=True, voi=0),
                          img.read(display=True))


def _folder(tmp_path: Path, window: bool) -> Path:
    uid = generate_uid()
    for k in range(3):
        arr = (np.arange(12 * 10, dtype=np.int16).reshape(12, 10) * (k + 1)) - 50
        kw = {"window": (0, 200 + 100 * k)} if window else {}
        encode.write(tmp_path / f"{k}.dcm", arr, "ExplicitVRLittleEndian",
                     series_instance_uid=uid, instance_number=k + 1,
                     image_position=(0, 0, float(k)),
                     image_orientation=(1, 0, 0, 0, 1, 0), **kw)
    return tmp_path


def test_imageio_folder_display(tmp_path):
    folder = _folder(tmp_path, window=True)
    vol = iio.imread(folder, plugin="dicomio", display=True)
    s = dicomio.series.scan(folder).series[0]
    assert np.array_equal(vol, s.read(display=True))
    with iio.imopen(folder, "r", plugin="dicomio") as f:
        f.read(display=True)
        assert len(f.metadata()["display"]["per_slice"]) == 3


@pytest.mark.parametrize("window", [True, False])
def test_dask_display_series_equals_eager(tmp_path, window):
    pytest.importorskip("dask")
    folder = _folder(tmp_path, window=window)
    lazy = dicomio.to_dask(folder, display=True, frames_per_chunk=2)
    assert lazy.dtype == np.uint8 and lazy.shape == (3, 12, 10)
    s = dicomio.series.scan(folder).series[0]
    assert np.array_equal(lazy.compute(), s.read(display=True))
    assert np.array_equal(lazy[1].compute(), s.read(display=True)[1])
    pickle.loads(pickle.dumps(dict(lazy.__dask_graph__())))  # ships to workers


@pytest.mark.parametrize("name", ["emri_small.dcm", "OBXXXX1A_2frame.dcm",
                                  "RG1_UNCR.dcm"])
def test_dask_display_file_equals_eager(corpus, name):
    pytest.importorskip("dask")
    path = str(corpus(name))
    lazy = dicomio.to_dask(path, display=True, frames_per_chunk=3)
    core = dicomio.DicomImage(path).read(display=True)
    assert lazy.shape == core.shape and lazy.dtype == np.uint8
    assert np.array_equal(lazy.compute(), core)
    win = dicomio.to_dask(path, display=True, window=(1000, 2000)).compute()
    if name != "OBXXXX1A_2frame.dcm":
        assert np.array_equal(win, dicomio.DicomImage(path).read(display=True,
                                                                 window=(1000, 2000)))
