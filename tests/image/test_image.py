"""DicomImage on the public corpora: pixels, frames, options and failures."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import dicomio
from dicomio import DicomImage
from tests.conftest import all_corpus_files, corpus_file

# Files with no image in them (SR, RT plan, waveforms...) or a header so broken
# that no reader finds an image: each must give InvalidDicomError.
NOT_IMAGES = {
    "ExplVR_BigEndNoMeta.dcm": "no image attributes, no file meta",
    "ExplVR_LitEndNoMeta.dcm": "no image attributes, no file meta",
    "UN_sequence.dcm": "no Pixel Data",
    "empty_charset_LEI.dcm": "no Pixel Data",
    "meta_missing_tsyntax.dcm": "header fragment only",
    "nested_priv_SQ.dcm": "no image attributes",
    "no_meta.dcm": "no image attributes",
    "no_meta_group_length.dcm": "no Pixel Data",
    "priv_SQ.dcm": "no Pixel Data",
    "reportsi.dcm": "structured report",
    "reportsi_with_empty_number_tags.dcm": "structured report",
    "rtplan.dcm": "RT plan",
    "rtplan_truncated.dcm": "RT plan",
    "rtstruct.dcm": "RT structure set",
    "test-SR.dcm": "structured report",
    "waveform_ecg.dcm": "waveform",
}
# Broken files no reader decodes; dicomio must say why, not crash.
BROKEN = {
    "MR_truncated.dcm": "Pixel Data truncated",
    "JPEG2000-embedded-sequence-delimiter.dcm": "fragment holds no valid codestream",
}
# Lossy syntaxes where decoders may differ by rounding in the IDCT.
LOSSY_TOLERANCE = {"JPGExtended.dcm": 1}


def _pydicom_pixels(path):
    ds = pydicom.dcmread(path)
    return ds.pixel_array


FILES = [p for p in all_corpus_files() if p.name not in NOT_IMAGES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_matches_pydicom(path):
    if path.name in BROKEN:
        with pytest.raises(dicomio.DicomioError) as exc:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                DicomImage(path).read()
        assert path.name in str(exc.value)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = DicomImage(path)
        ours = img.read()
        try:
            ref = _pydicom_pixels(path)
        except Exception:
            ref = None  # a file only dicomio decodes: checked elsewhere
    assert ours.shape == img.shape
    assert ours.dtype == img.dtype
    if ref is None:
        return
    assert ours.shape == ref.shape
    tol = LOSSY_TOLERANCE.get(path.name, 0)
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    assert diff.max() <= tol, f"max difference {diff.max()} (tolerance {tol})"


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_non_images_are_rejected_clearly(name):
    with pytest.raises(dicomio.InvalidDicomError) as exc:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DicomImage(corpus_file(name))
    assert name in str(exc.value)


PAIRS = [
    ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),
    ("RG3_J2KR.dcm", "RG3_UNCR.dcm"),
    ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
    ("US1_J2KR.dcm", "US1_UNCR.dcm"),
    ("693_J2KR.dcm", "693_UNCR.dcm"),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),
    ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm"),
    ("emri_small_RLE.dcm", "emri_small.dcm"),
    ("emri_small_big_endian.dcm", "emri_small.dcm"),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
    ("MR_small_RLE.dcm", "MR_small.dcm"),
    ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ("SC_rgb_rle.dcm", "SC_rgb.dcm"),
    ("SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_16bit_2frame.dcm"),
    ("SC_rgb_rle_32bit_2frame.dcm", "SC_rgb_32bit_2frame.dcm"),
    ("SC_rgb_expb_32bit_2frame.dcm", "SC_rgb_32bit_2frame.dcm"),
    ("OBXXXX1A_rle_2frame.dcm", "OBXXXX1A_2frame.dcm"),
    ("rtdose_rle.dcm", "rtdose.dcm"),
    ("liver_expb.dcm", "liver.dcm"),
]


@pytest.mark.parametrize("compressed,reference", PAIRS, ids=lambda p: p)
def test_lossless_pairs_bit_exact(compressed, reference):
    a = dicomio.imread(corpus_file(compressed))
    b = dicomio.imread(corpus_file(reference))
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def test_signed_j2k_with_unsigned_codestream():
    # PixelRepresentation 1 while the J2K stream says unsigned: the values must
    # come out signed, as the header says (pydicom agrees).
    img = DicomImage(corpus_file("J2K_pixelrep_mismatch.dcm"))
    arr = img.read()
    assert arr.dtype.kind == "i"
    assert arr.min() < 0
    np.testing.assert_array_equal(arr, _pydicom_pixels(corpus_file("J2K_pixelrep_mismatch.dcm")))


def test_header_only_open_reads_no_pixels(tmp_path):
    path = corpus_file("color3d_jpeg_baseline.dcm")
    img = DicomImage(path)
    assert img.n_frames == 120
    assert img.shape == (120, 480, 640, 3)
    assert img.dtype == np.uint8
    assert img.frame_infos == {}
    assert img.decoder is None
    assert img.planned_decoder == "imagecodecs"


def test_frame_access_and_batches():
    img = DicomImage(corpus_file("SC_rgb_rle_2frame.dcm"))
    whole = img.read()
    assert whole.shape == (2, 100, 100, 3)
    np.testing.assert_array_equal(img.read(1), whole[1])
    np.testing.assert_array_equal(img.read(-1), whole[1])
    np.testing.assert_array_equal(img.read([1, 0]), whole[::-1])
    assert img.read(...).shape == (2, 100, 100, 3)
    assert img.read(slice(0, 1)).shape == (1, 100, 100, 3)
    single = DicomImage(corpus_file("CT_small.dcm"))
    assert single.read().shape == (128, 128)
    assert single.read(...).shape == (1, 128, 128)
    with pytest.raises(dicomio.FrameIndexError) as exc:
        img.read(2)
    assert isinstance(exc.value, IndexError) and isinstance(exc.value, ValueError)
    assert "frame index 2" in str(exc.value)


def test_threads_give_identical_results():
    path = corpus_file("color3d_jpeg_baseline.dcm")
    one = DicomImage(path, threads=1).read(slice(0, 12))
    many = DicomImage(path, threads=4).read(slice(0, 12))
    np.testing.assert_array_equal(one, many)


def test_out_parameter_is_filled_in_place():
    img = DicomImage(corpus_file("MR_small_jp2klossless.dcm"))
    out = np.zeros(img.shape, img.dtype)
    res = img.read(out=out)
    assert res is out or np.shares_memory(res, out)
    np.testing.assert_array_equal(out, dicomio.imread(corpus_file("MR_small.dcm")))


def test_sources_path_bytes_fileobj_dataset():
    path = corpus_file("MR_small_jpeg_ls_lossless.dcm")
    ref = dicomio.imread(path)
    data = path.read_bytes()
    np.testing.assert_array_equal(dicomio.imread(data), ref)
    np.testing.assert_array_equal(dicomio.imread(io.BytesIO(data)), ref)
    np.testing.assert_array_equal(dicomio.imread(pydicom.dcmread(path)), ref)
    np.testing.assert_array_equal(dicomio.imread(str(path)), ref)


def test_deflated_dataset():
    img = DicomImage(corpus_file("image_dfl.dcm"))
    assert img.transfer_syntax.keyword == "DeflatedExplicitVRLittleEndian"
    np.testing.assert_array_equal(img.read(), _pydicom_pixels(corpus_file("image_dfl.dcm")))


def test_rescale_keeps_integers_when_possible():
    img = DicomImage(corpus_file("CT_small.dcm"))
    slope, intercept = img.rescale_params
    assert slope == 1.0
    hu = img.read(rescale=True)
    assert hu.dtype.kind == "i"
    np.testing.assert_array_equal(hu, img.read().astype(np.int32) + int(intercept))


def test_rescale_float_when_slope_is_not_one(tmp_path):
    ds = pydicom.dcmread(corpus_file("CT_small.dcm"))
    ds.RescaleSlope = 0.5
    ds.RescaleIntercept = -10.25
    path = tmp_path / "slope.dcm"
    ds.save_as(path)
    img = DicomImage(path)
    out = img.read(rescale=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img.read() * 0.5 - 10.25)


def test_memory_limit_refuses_before_allocating():
    img = DicomImage(corpus_file("color3d_jpeg_baseline.dcm"), memory_limit=1 << 20)
    with pytest.raises(dicomio.MemoryLimitError) as exc:
        img.read()
    assert "limit" in str(exc.value)
    assert img.read(0).shape == (480, 640, 3)  # one frame fits


def test_no_offset_table_frames_found_by_markers(tmp_path):
    src = pydicom.dcmread(corpus_file("color3d_jpeg_baseline.dcm"))
    frames = list(generate_frames(src.PixelData, number_of_frames=120))[:5]
    # Split every frame into two fragments and leave the Basic Offset Table
    # empty: frames must be found by their SOI markers.
    fragments = []
    for f in frames:
        half = (len(f) // 2) & ~1
        fragments += [f[:half], f[half:]]
    src.PixelData = (_item(b"") + b"".join(_item(x) for x in fragments)
                     + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    src.NumberOfFrames = 5
    path = tmp_path / "nobot.dcm"
    src.save_as(path)
    with pytest.warns(dicomio.DicomioWarning, match="start markers"):
        img = DicomImage(path)
    ref = DicomImage(corpus_file("color3d_jpeg_baseline.dcm")).read(slice(0, 5))
    np.testing.assert_array_equal(img.read(), ref)


def _item(payload: bytes) -> bytes:
    if len(payload) % 2:
        payload += b"\x00"
    return b"\xfe\xff\x00\xe0" + len(payload).to_bytes(4, "little") + payload


def test_extended_offset_table(tmp_path):
    from pydicom.encaps import encapsulate_extended

    src = pydicom.dcmread(corpus_file("color3d_jpeg_baseline.dcm"))
    frames = list(generate_frames(src.PixelData, number_of_frames=120))[:4]
    data, offsets, lengths = encapsulate_extended(frames)
    src.PixelData = data
    src.ExtendedOffsetTable = offsets
    src.ExtendedOffsetTableLengths = lengths
    src.NumberOfFrames = 4
    path = tmp_path / "eot.dcm"
    src.save_as(path)
    ref = DicomImage(corpus_file("color3d_jpeg_baseline.dcm")).read(slice(0, 4))
    np.testing.assert_array_equal(DicomImage(path).read(), ref)


def test_wrong_number_of_frames_is_tolerated_and_reported(tmp_path):
    src = pydicom.dcmread(corpus_file("SC_rgb_rle_2frame.dcm"))
    src.NumberOfFrames = 5
    path = tmp_path / "nf.dcm"
    src.save_as(path)
    with pytest.warns(dicomio.DicomioWarning, match="Number of Frames says 5"):
        img = DicomImage(path)
    assert img.n_frames == 2
    assert any("Number of Frames" in w for w in img.warnings)
    np.testing.assert_array_equal(
        img.read(), dicomio.imread(corpus_file("SC_rgb_rle_2frame.dcm")))


def test_unknown_and_forced_backends():
    path = corpus_file("MR_small_RLE.dcm")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        DicomImage(path, backend="nope").read()
    ref = dicomio.imread(path)
    np.testing.assert_array_equal(DicomImage(path, backend="native").read(), ref)
    img = DicomImage(path, backend="native")
    img.read()
    assert img.decoder == "native"
    with pytest.raises(dicomio.UnsupportedTransferSyntaxError):
        DicomImage(corpus_file("JPEG2000.dcm"), backend="native").read()


def test_decode_error_names_file_frame_syntax_and_backends(tmp_path):
    src = pydicom.dcmread(corpus_file("MR_small_RLE.dcm"))
    frame = next(generate_frames(src.PixelData, number_of_frames=1))
    broken = frame[:64] + b"\x00" * 10  # header intact, segments gone
    src.PixelData = encapsulate([broken])
    path = tmp_path / "broken_rle.dcm"
    src.save_as(path)
    with pytest.raises(dicomio.DecodeError) as exc:
        DicomImage(path).read()
    msg = str(exc.value)
    assert "broken_rle.dcm" in msg and "frame 0" in msg and "RLELossless" in msg
    assert "imagecodecs: not run" in msg and "native: not run" in msg
    assert exc.value.frame == 0 and len(exc.value.tried) >= 2


def test_every_backend_failing_is_reported(tmp_path):
    src = pydicom.dcmread(corpus_file("MR_small_RLE.dcm"))
    frame = next(generate_frames(src.PixelData, number_of_frames=1))
    # Valid header, segment bodies replaced by control bytes that run short.
    broken = frame[:64] + b"\x00" * (len(frame) - 64)
    src.PixelData = encapsulate([broken])
    path = tmp_path / "short_rle.dcm"
    src.save_as(path)
    with pytest.raises(dicomio.DecodeError) as exc:
        DicomImage(path).read()
    tried = dict(exc.value.tried)
    assert "native" in tried and "imagecodecs" in tried
    assert "short_rle.dcm" in str(exc.value)


def test_memmap_is_zero_copy():
    img = DicomImage(corpus_file("CT_small.dcm"))
    view = img.memmap()
    assert isinstance(view, np.memmap)
    np.testing.assert_array_equal(view[0], img.read())


def test_header_dict_is_json_friendly():
    import json

    img = DicomImage(corpus_file("CT_small.dcm"))
    header = img.header_dict()
    json.dumps(header)
    assert header["Modality"] == "CT"
    assert "PixelData" not in header
    assert header["PixelSpacing"] == [0.661468, 0.661468]


def test_import_is_light():
    # pydicom itself imports the codec libraries it finds; dicomio adds none.
    code = (
        "import sys, pydicom; before = set(sys.modules); import dicomio; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "bad = sorted(new & {'imagecodecs', 'gdcm', 'pylibjpeg', 'napari', 'dask', "
        "'distributed', 'qtpy', 'PyQt5', 'PIL', 'jpeg_ls', 'skimage', 'SimpleITK'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
