"""The colour report on real files and on mislabelled copies made here."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import dicomio
from dicomio import DicomImage
from dicomio.values.photometric import make_report, merge_reports, ybr_to_rgb
from tests.conftest import corpus_file

KEYS = {"declared", "codestream", "output", "mismatch", "notes"}


def _relabel(tmp_path, name, pi, **extra):
    ds = pydicom.dcmread(corpus_file(name))
    ds.PhotometricInterpretation = pi
    for k, v in extra.items():
        setattr(ds, k, v)
    path = tmp_path / f"relabelled_{pi}_{name}"
    ds.save_as(path)
    return path


@pytest.mark.parametrize(
    "name,declared,codestream,output,mismatch",
    [
        # JFIF YCbCr 4:2:2, correctly labelled: converted to RGB, so the array
        # is not what the file declares.
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", "YBR_FULL_422", "YBR_FULL_422", "RGB", True),
        # RGB stream without any colour marker, labelled RGB: libjpeg-turbo
        # would guess YCbCr; the declared PI must win.
        ("SC_jpeg_no_color_transform.dcm", "RGB", "RGB", "RGB", False),
        # Adobe APP14 transform 0: RGB, labelled RGB.
        ("SC_rgb_jpeg_app14_dcmd.dcm", "RGB", "RGB", "RGB", False),
        # J2K with the reversible colour transform.
        ("US1_J2KR.dcm", "YBR_RCT", "YBR_RCT", "RGB", True),
        ("US1_J2KI.dcm", "YBR_ICT", "YBR_ICT", "RGB", True),
        ("MR_small_jp2klossless.dcm", "MONOCHROME2", "MONOCHROME2", "MONOCHROME2", False),
        ("SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422", "YBR_FULL_422", "RGB", True),
        ("OBXXXX1A_rle.dcm", "PALETTE COLOR", "PALETTE COLOR", "PALETTE COLOR", False),
    ],
)
def test_report_on_real_files(name, declared, codestream, output, mismatch):
    img = DicomImage(corpus_file(name))
    predicted = img.photometric  # before decoding: from the codestream header
    img.read()
    report = img.photometric
    assert KEYS <= set(report)
    assert report["declared"] == declared
    assert report["codestream"] == codestream
    assert report["output"] == output
    assert report["mismatch"] is mismatch
    assert all(isinstance(n, str) for n in report["notes"])
    for key in ("declared", "codestream", "output", "mismatch"):
        assert predicted[key] == report[key]


def test_unmarked_rgb_jpeg_is_not_decoded_as_ycbcr():
    # imagecodecs alone guesses YCbCr and returns wrong colours; pydicom's
    # pixel_array is right for this file.
    ours = dicomio.imread(corpus_file("SC_jpeg_no_color_transform.dcm"))
    ref = pydicom.dcmread(corpus_file("SC_jpeg_no_color_transform.dcm")).pixel_array
    np.testing.assert_array_equal(ours, ref)


def test_native_color_keeps_ycbcr():
    path = corpus_file("SC_rgb_dcmtk_+eb+cy+np.dcm")
    img = DicomImage(path, color="native")
    ycc = img.read()
    assert img.photometric["output"] == "YBR_FULL"
    rgb = dicomio.imread(path)
    converted = ycc.copy()
    ybr_to_rgb(converted)
    # The codec's own YCbCr->RGB and ours agree to rounding.
    assert np.abs(converted.astype(int) - rgb.astype(int)).max() <= 2
    assert not np.array_equal(ycc, rgb)


def test_rgb_stream_labelled_ybr_is_flagged_and_decoded_right(tmp_path):
    # Adobe APP14 transform=0 (RGB) labelled YBR_FULL_422: pydicom decodes this
    # wrong (it ignores APP14); dicomio follows the stream and says so.
    name = "SC_rgb_jpeg_app14_dcmd.dcm"
    path = _relabel(tmp_path, name, "YBR_FULL_422")
    img = DicomImage(path)
    arr = img.read()
    np.testing.assert_array_equal(arr, dicomio.imread(corpus_file(name)))
    rep = img.photometric
    assert rep["mismatch"] and rep["mislabelled"]
    assert rep["codestream"] == "RGB"
    assert any("Adobe" in n for n in rep["notes"])


def test_jfif_ycbcr_stream_labelled_rgb_is_flagged_and_decoded_right(tmp_path):
    name = "SC_rgb_dcmtk_+eb+cy+np.dcm"  # JFIF, YCbCr 4:2:2
    path = _relabel(tmp_path, name, "RGB")
    img = DicomImage(path)
    np.testing.assert_array_equal(img.read(), dicomio.imread(corpus_file(name)))
    rep = img.photometric
    assert rep["mislabelled"] and rep["mismatch"]
    assert rep["codestream"] == "YBR_FULL_422"
    assert rep["output"] == "RGB"
    assert any("JFIF" in n for n in rep["notes"])


def test_j2k_without_mct_labelled_ybr_ict_is_flagged(tmp_path):
    name = "SC_rgb_gdcm_KY.dcm"  # J2K, RGB samples, MCT=0
    path = _relabel(tmp_path, name, "YBR_ICT")
    img = DicomImage(path)
    np.testing.assert_array_equal(img.read(), dicomio.imread(corpus_file(name)))
    rep = img.photometric
    assert rep["mislabelled"] and rep["codestream"] == "RGB"
    assert any("MCT=0" in n for n in rep["notes"])


def test_j2k_with_mct_labelled_rgb_is_flagged(tmp_path):
    name = "US1_J2KR.dcm"
    path = _relabel(tmp_path, name, "RGB")
    img = DicomImage(path)
    np.testing.assert_array_equal(img.read(), dicomio.imread(corpus_file("US1_UNCR.dcm")))
    rep = img.photometric
    assert rep["mislabelled"] and rep["codestream"] == "YBR_RCT"
    assert rep["output"] == "RGB"


def test_ybr_to_rgb_matches_reference_values():
    # Pure grey stays grey; primaries land where BT.601 full range puts them.
    ycc = np.array([[[128, 128, 128], [76, 85, 255], [29, 255, 107]]], np.uint8)
    ybr_to_rgb(ycc)
    assert ycc[0, 0].tolist() == [128, 128, 128]
    assert np.abs(ycc[0, 1].astype(int) - [254, 0, 0]).max() <= 2
    assert np.abs(ycc[0, 2].astype(int) - [0, 0, 255]).max() <= 2


def test_merge_reports_flags_differing_frames():
    a = make_report("RGB", "RGB", "RGB", [], False)
    b = make_report("RGB", "YBR_FULL", "RGB", ["x"], True)
    merged = merge_reports([a, b])
    assert merged["mismatch"] is True
    assert merged["codestream"] == "RGB / YBR_FULL"
    assert "frames differ in colour handling" in merged["notes"]
    assert merge_reports([]) is None


def test_prediction_for_either_colour_option_without_decoding():
    img = DicomImage(corpus_file("SC_rgb_dcmtk_+eb+cy+np.dcm"))
    assert img.predicted_photometric("native")["output"] == "YBR_FULL"
    assert img.predicted_photometric("rgb")["output"] == "RGB"
    assert img.predicted_photometric()["output"] == "RGB"  # the image's default
    assert img.frame_infos == {}
    with pytest.raises(ValueError):
        img.predicted_photometric("cmyk")
