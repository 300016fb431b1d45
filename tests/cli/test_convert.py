"""``dicomio convert`` to .npy, .tif and .png."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import dicomio
from dicomio import samples
from tests.cli._run import run


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
    expected = samples.expected("RLELossless")
    for i, p in enumerate(frames):
        np.testing.assert_array_equal(iio.imread(p), expected[i])


def test_convert_signed_to_png_is_refused_before_writing(tmp_path: Path) -> None:
    proc = run("convert", samples.path("JPEGLSLossless"), tmp_path / "ct.png")
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
