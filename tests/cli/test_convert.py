"""``dicomio convert`` to .npy, .tif and .png."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import dicomio
from dicomio import samples
from tests.cli._run import run
from tests.conftest import corpus_file


def test_convert_to_npy(tmp_path: Path) -> None:
    out = tmp_path / "ct.npy"
    proc = run("convert", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out), samples.expected("JPEG2000Lossless"))


def test_convert_rescale_to_npy(tmp_path: Path) -> None:
    out = tmp_path / "hu.npy"
    proc = run("convert", "--rescale", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    expected = samples.expected("JPEG2000Lossless").astype(np.int32) - 1024
    np.testing.assert_array_equal(np.load(out), expected)


def test_convert_to_png(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    out = tmp_path / "rgb.png"
    proc = run("convert", samples.path("JPEGBaseline8Bit"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(iio.imread(out),
                                  dicomio.imread(samples.path("JPEGBaseline8Bit")))


def test_convert_multiframe_to_png_writes_one_file_per_frame(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    proc = run("convert", samples.path("RLELossless"), tmp_path / "f.png")
    assert proc.returncode == 0, proc.stderr
    frames = sorted(tmp_path.glob("f_*.png"))
    assert [p.name for p in frames] == ["f_0000.png", "f_0001.png"]
    # PNG gets the display image by default ...
    shown = dicomio.DicomImage(samples.path("RLELossless")).read(display=True)
    for i, p in enumerate(frames):
        np.testing.assert_array_equal(iio.imread(p), shown[i])
    # ... and the stored values with --raw.
    proc = run("convert", "--raw", samples.path("RLELossless"), tmp_path / "r.png")
    assert proc.returncode == 0, proc.stderr
    expected = samples.expected("RLELossless")
    for i, p in enumerate(sorted(tmp_path.glob("r_*.png"))):
        np.testing.assert_array_equal(iio.imread(p), expected[i])


def test_convert_signed_raw_to_png_is_refused_before_writing(tmp_path: Path) -> None:
    proc = run("convert", "--raw", samples.path("JPEGLSLossless"), tmp_path / "ct.png")
    assert proc.returncode == 2
    assert "int16" in proc.stderr and ".tif" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_convert_to_tif(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    out = tmp_path / "ct.tif"
    proc = run("convert", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(iio.imread(out, index=None),
                                  samples.expected("JPEG2000Lossless"))


def test_convert_folder_volume(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(samples.path("JPEG2000Lossless"), folder)
    out = tmp_path / "vol.npy"
    proc = run("convert", folder, out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out), samples.expected("JPEG2000Lossless"))


def test_convert_unknown_format(tmp_path: Path) -> None:
    proc = run("convert", samples.path("JPEGBaseline8Bit"), tmp_path / "x.bmp")
    assert proc.returncode == 2
    assert ".npy" in proc.stderr and ".png" in proc.stderr


# ------------------------------------------------------- convert: display image
def test_convert_signed_ct_to_png_is_the_display_image(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    ct = tmp_path / "ct.dcm"
    hu = np.linspace(-1000, 1500, 64 * 64).reshape(64, 64).astype(np.int16)
    dicomio.encode.write(ct, hu, "ExplicitVRLittleEndian", window=(40, 400),
                         modality="CT")
    proc = run("convert", ct, tmp_path / "ct.png")
    assert proc.returncode == 0, proc.stderr
    png = iio.imread(tmp_path / "ct.png")
    assert png.dtype == np.uint8
    np.testing.assert_array_equal(png, dicomio.DicomImage(ct).read(display=True))
    assert png.min() == 0 and png.max() == 255  # the window spreads over 0..255


def test_convert_window_and_voi(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    ct = tmp_path / "ct.dcm"
    hu = np.linspace(-1000, 1500, 64 * 64).reshape(64, 64).astype(np.int16)
    dicomio.encode.write(ct, hu, "ExplicitVRLittleEndian",
                         window=([40, -600], [400, 1500]), modality="CT")
    img = dicomio.DicomImage(ct)
    proc = run("convert", "--window", "-600", "1500", ct, tmp_path / "lung.png")
    assert proc.returncode == 0, proc.stderr
    lung = img.read(display=True, voi=1)
    np.testing.assert_array_equal(iio.imread(tmp_path / "lung.png"), lung)
    proc = run("convert", "--voi", "1", ct, tmp_path / "voi.png")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(iio.imread(tmp_path / "voi.png"), lung)
    proc = run("convert", "--display", ct, tmp_path / "shown.npy")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "shown.npy"), img.read(display=True))
    proc = run("convert", "--voi", "5", ct, tmp_path / "bad.png")
    assert proc.returncode == 2 and "VOI preset" in proc.stderr
    proc = run("convert", "--window", "40", "0", ct, tmp_path / "bad.png")
    assert proc.returncode == 2 and "width" in proc.stderr
    proc = run("convert", "--raw", "--window", "40", "400", ct, tmp_path / "bad.png")
    assert proc.returncode == 2 and "--raw" in proc.stderr
    assert not list(tmp_path.glob("bad*"))


def test_convert_palette_and_monochrome1_to_png(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    for name in ("OBXXXX1A.dcm", "RG3_UNCR.dcm"):
        out = tmp_path / (name + ".png")
        proc = run("convert", corpus_file(name), out)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(
            iio.imread(out), dicomio.DicomImage(str(corpus_file(name))).read(display=True))
    assert iio.imread(tmp_path / "OBXXXX1A.dcm.png").shape == (600, 800, 3)


def test_convert_raw_keeps_16_bit_values_in_png(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    out = tmp_path / "raw.png"
    proc = run("convert", "--raw", corpus_file("RG3_UNCR.dcm"), out)
    assert proc.returncode == 0, proc.stderr
    png = iio.imread(out)
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, dicomio.DicomImage(str(corpus_file("RG3_UNCR.dcm"))).read())
