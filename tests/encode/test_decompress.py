"""decompress(): uncompressed output whose header matches its pixels."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pydicom
import pytest

import dicomio
from tests.conftest import corpus_file

CASES = [
    "SC_rgb_jpeg_dcmtk.dcm",  # YBR_FULL JPEG -> RGB
    "US1_J2KR.dcm",  # YBR_RCT -> RGB
    "SC_ybr_full_422_uncompressed.dcm",  # native 4:2:2 -> RGB
    "JPGExtended.dcm",  # 12-bit lossy
    "SC_rgb_rle_2frame.dcm",  # planar RLE -> colour-by-pixel
    "J2K_pixelrep_mismatch.dcm",  # signed
    "OBXXXX1A_rle.dcm",  # palette
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",
]


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("name", CASES)
def test_output_matches_pixels_and_source_untouched(tmp_path, name):
    src = corpus_file(name)
    before = _sha(src)
    out = tmp_path / "out.dcm"
    dicomio.decompress(src, out)
    assert _sha(src) == before
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    ours = dicomio.imread(src)
    # pydicom reads the output with no conversion: what it holds is what we say.
    np.testing.assert_array_equal(
        pydicom.pixels.pixel_array(ds, as_rgb=False), ours)
    report = dicomio.DicomImage(src)
    report.read()
    assert ds.PhotometricInterpretation == report.photometric["output"]
    if ds.SamplesPerPixel > 1:
        assert ds.PlanarConfiguration == 0
    # A decompressed file decodes to the same pixels through dicomio too.
    np.testing.assert_array_equal(dicomio.imread(out), ours)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".dicomio-")] == []


def test_lossy_history_is_kept(tmp_path):
    out = tmp_path / "out.dcm"
    dicomio.decompress(corpus_file("JPEG-lossy.dcm"), out)
    ds = pydicom.dcmread(out)
    assert ds.LossyImageCompression == "01"


def test_native_color_is_labelled_ybr_full(tmp_path):
    out = tmp_path / "out.dcm"
    dicomio.decompress(corpus_file("SC_rgb_jpeg_dcmtk.dcm"), out, color="native")
    ds = pydicom.dcmread(out)
    assert ds.PhotometricInterpretation == "YBR_FULL"


def test_refuses_to_overwrite_source(tmp_path):
    src = tmp_path / "in.dcm"
    src.write_bytes(corpus_file("MR_small_RLE.dcm").read_bytes())
    before = _sha(src)
    with pytest.raises(dicomio.DicomioError, match="source"):
        dicomio.decompress(src, src)
    assert _sha(src) == before


def test_failure_leaves_no_output(tmp_path):
    out = tmp_path / "out.dcm"
    with pytest.raises(dicomio.DicomioError), pytest.warns(dicomio.DicomioWarning):
        dicomio.decompress(corpus_file("MR_truncated.dcm"), out)
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_dataset_in(tmp_path):
    ds = pydicom.dcmread(corpus_file("MR_small_jpeg_ls_lossless.dcm"))
    out = tmp_path / "out.dcm"
    dicomio.decompress(ds, out)
    np.testing.assert_array_equal(
        pydicom.dcmread(out).pixel_array, dicomio.imread(corpus_file("MR_small.dcm")))
