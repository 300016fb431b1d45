"""Opening files GDCM and dcmtk tolerate (issue 15, item 3).

Each defect is made from a file of dicomio's own encoder by byte surgery
(tests/_defects.py). Each test checks the pixels bit for bit against the
source array, the exact DicomioWarning, and that the input is untouched;
what is still refused raises a DicomioError naming the file.
"""

from __future__ import annotations

import struct
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

import dicomio
from dicomio import DicomImage
from dicomio.dataset.jsonify import to_json_dict
from tests import _defects as D
from tests.robustness._hostile import snapshot

NAMES = {"ImplicitVRLittleEndian": "Implicit VR Little Endian",
         "ExplicitVRLittleEndian": "Explicit VR Little Endian",
         "ExplicitVRBigEndian": "Explicit VR Big Endian"}


def _read(tmp_path, data: bytes, name: str = "in.dcm", **kwargs):
    """Write ``data``, open and read it; (path, image, array, our warnings)."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    before = snapshot(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = DicomImage(path, **kwargs)
        arr = img.read()
    ours = [str(w.message) for w in caught if w.category is dicomio.DicomioWarning]
    others = [str(w.message) for w in caught if w.category is not dicomio.DicomioWarning]
    assert not [m for m in others if "found explicit VR" not in m], others
    assert ours == [f"{path}: {w}" for w in img.warnings]
    img.close()
    assert snapshot(folder) == before
    return path, img, arr, img.warnings


def _refused(tmp_path, data: bytes, match: str) -> str:
    path = tmp_path / "refused.dcm"
    path.write_bytes(data)
    with pytest.raises(dicomio.InvalidDicomError, match=match) as exc:
        DicomImage(path)
    assert str(path) in str(exc.value)
    assert path.read_bytes() == data
    return str(exc.value)


# ------------------------------------------------ no preamble / no File Meta
@pytest.mark.parametrize("preamble", [False, True], ids=["bare", "preamble"])
@pytest.mark.parametrize("syntax", sorted(NAMES))
def test_no_file_meta(tmp_path, syntax, preamble):
    _, img, arr, notes = _read(tmp_path, D.no_file_meta(syntax, preamble))
    assert notes == [f"no File Meta (so no Transfer Syntax UID): assumed "
                     f"{NAMES[syntax]} from the first elements"]
    assert img.transfer_syntax.keyword == syntax
    assert arr.dtype == np.uint16 and arr.dtype.isnative
    np.testing.assert_array_equal(arr, D.FRAMES16)


@pytest.mark.parametrize("syntax", sorted(NAMES))
def test_file_meta_without_transfer_syntax(tmp_path, syntax):
    _, img, arr, notes = _read(tmp_path, D.meta_without_syntax(syntax))
    assert notes == [f"File Meta has no Transfer Syntax UID: assumed "
                     f"{NAMES[syntax]} from the first elements"]
    np.testing.assert_array_equal(arr, D.FRAMES16)


def test_dicm_prefix_without_preamble(tmp_path):
    _, img, arr, notes = _read(tmp_path, D.dicm_at_zero())
    assert notes == ["no preamble: the file starts with 'DICM'"]
    assert img.transfer_syntax.keyword == "ExplicitVRLittleEndian"
    np.testing.assert_array_equal(arr, D.FRAMES16)


def test_no_file_meta_through_imageio(tmp_path):
    path = tmp_path / "nometa.dcm"
    path.write_bytes(D.no_file_meta("ImplicitVRLittleEndian"))
    with pytest.warns(dicomio.DicomioWarning, match="no File Meta"):
        np.testing.assert_array_equal(iio.imread(path), D.FRAMES16)
    with pytest.warns(dicomio.DicomioWarning, match="no File Meta"):
        meta = iio.immeta(path)
    assert meta["Rows"] == 20


# ------------------------------------------- Big Endian, undefined lengths
def test_big_endian_un_sequence_of_undefined_length(tmp_path):
    data = D.big_endian_with_sequence(D.items_le(D.ITEM_IMPLICIT))
    path, img, arr, notes = _read(tmp_path, data)
    assert notes == ["(0009,1010) is a UN element of undefined length whose items "
                     "are Implicit VR Little Endian inside Explicit VR Big Endian "
                     "data; read as such"]
    assert img.transfer_syntax.keyword == "ExplicitVRBigEndian"
    assert arr.dtype.isnative
    np.testing.assert_array_equal(arr, D.FRAMES16)
    assert img.dataset[0x00091010].value[1].CodeValue == "T-D1"
    assert img.header_dict()["Rows"] == 20
    with pytest.warns(dicomio.DicomioWarning, match="UN element of undefined length"):
        assert iio.immeta(path)["Rows"] == 20


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_big_endian_byte_swapped_private_sequence(tmp_path, undefined):
    data = D.big_endian_with_sequence(
        D.items_le(D.ITEM_EXPLICIT_LE, undefined=undefined), vr=b"SQ")
    _, _, arr, notes = _read(tmp_path, data)
    assert notes == ["(0009,1010) is a sequence whose items are Explicit VR Little "
                     "Endian inside Explicit VR Big Endian data; read as such"]
    np.testing.assert_array_equal(arr, D.FRAMES16)


def test_big_endian_8_bit(tmp_path):
    frames = D.FRAMES8
    data = D.big_endian_with_sequence(D.items_le(D.ITEM_IMPLICIT), frames=frames)
    _, _, arr, _ = _read(tmp_path, data)
    np.testing.assert_array_equal(arr, frames)


def test_big_endian_sequence_of_garbage_is_refused(tmp_path):
    data = D.big_endian_with_sequence(b"\x01\x02\x03\x04" * 8)
    _refused(tmp_path, data, "unreadable DICOM header")


# ------------------------------- native syntax, Pixel Data really encapsulated
MISFILED = [
    # (encoded as, what the stream is recognised as, frames, lossless)
    ("JPEGLSLossless", "JPEGLSLossless", D.FRAMES16, True),
    ("JPEGLSNearLossless", "JPEGLSNearLossless", D.FRAMES16, False),
    ("JPEGLosslessSV1", "JPEGLosslessSV1", D.FRAMES16, True),
    ("JPEG2000Lossless", "JPEG2000Lossless", D.FRAMES16, True),
    ("JPEG2000", "JPEG2000", D.FRAMES16, False),
    ("HTJ2KLossless", "HTJ2KLossless", D.FRAMES16, True),
    ("RLELossless", "RLELossless", D.FRAMES16, True),
    ("JPEGBaseline8Bit", "JPEGBaseline8Bit", D.FRAMES8, False),
    ("JPEGXLLossless", "JPEGXL", D.FRAMES8, True),
    ("EncapsulatedUncompressedExplicitVRLittleEndian",
     "EncapsulatedUncompressedExplicitVRLittleEndian", D.FRAMES16, True),
]


@pytest.mark.parametrize("encoded, found, frames, lossless", MISFILED,
                         ids=[m[0] for m in MISFILED])
def test_native_syntax_with_encapsulated_pixel_data(tmp_path, encoded, found, frames,
                                                    lossless):
    source = D.file_bytes(frames, encoded)
    data = D.relabel(source, "1.2.840.10008.1.2.1")
    _, img, arr, notes = _read(tmp_path, data)
    assert notes == [f"Pixel Data is an encapsulated {found} stream although the "
                     "Transfer Syntax says ExplicitVRLittleEndian"]
    assert img.transfer_syntax.keyword == found
    if lossless:
        np.testing.assert_array_equal(arr, frames)
    else:  # lossy: exactly what the correctly labelled file decodes to
        np.testing.assert_array_equal(arr, DicomImage(source).read())


def test_implicit_label_on_explicit_encapsulated_data(tmp_path):
    data = D.relabel(D.file_bytes(D.FRAMES16, "JPEGLSLossless"), "1.2.840.10008.1.2")
    _, _, arr, notes = _read(tmp_path, data)
    assert notes == ["Pixel Data is an encapsulated JPEGLSLossless stream although "
                     "the Transfer Syntax says ImplicitVRLittleEndian"]
    np.testing.assert_array_equal(arr, D.FRAMES16)


def test_bare_codestream_with_a_defined_length(tmp_path):
    # One JPEG-LS stream put straight into an OB Pixel Data (no items).
    stream = bytes(D.dataset(D.FRAMES16[0], "JPEGLSLossless").PixelData)
    start = stream.index(b"\xff\xd8\xff")
    size = struct.unpack("<I", stream[start - 4:start])[0]
    ds = D.dataset(D.FRAMES16[0])
    ds.PixelData = stream[start:start + size]
    ds["PixelData"].VR = "OB"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dicomio.encode.dataset_bytes(ds)
    _, _, arr, notes = _read(tmp_path, data)
    assert notes == ["Pixel Data is an encapsulated JPEGLSLossless stream although "
                     "the Transfer Syntax says ExplicitVRLittleEndian"]
    np.testing.assert_array_equal(arr, D.FRAMES16[0])


def test_encapsulated_without_a_known_stream_is_refused(tmp_path):
    data = D.relabel(D.file_bytes(D.FRAMES16, "DeflatedImageFrameCompression"),
                     "1.2.840.10008.1.2.1")
    _refused(tmp_path, data, "Pixel Data is encapsulated although the Transfer "
             "Syntax says ExplicitVRLittleEndian, and it holds no codestream "
             "dicomio recognises")


def test_compressed_syntax_with_uncompressed_pixel_data(tmp_path):
    # The reverse case: it still reads as uncompressed.
    data = D.relabel(D.file_bytes(D.FRAMES16), "1.2.840.10008.1.2.4.80")
    _, img, arr, notes = _read(tmp_path, data)
    assert notes == ["Transfer Syntax says JPEGLSLossless but Pixel Data is not "
                     "encapsulated and has exactly the uncompressed size; read as "
                     "uncompressed"]
    np.testing.assert_array_equal(arr, D.FRAMES16)


# ---------------------------------------------- elements after Pixel Data
def _with_trailing(syntax: str) -> bytes:
    ds = D.dataset(D.FRAMES16, syntax)
    ds.add_new(0x7FE10010, "LO", "DICOMIO TEST")
    ds.add_new(0x7FE11001, "LO", "after pixel data")
    ds.add_new(0xFFFAFFFA, "SQ", [])
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dicomio.encode.dataset_bytes(ds)
    if syntax == "ImplicitVRLittleEndian":
        return data
    # An overlay written after everything else (out of tag order).
    order = ">" if syntax == "ExplicitVRBigEndian" else "<"
    return data + struct.pack(order + "HH2sHI", 0x6000, 0x3000, b"OW", 0, 8) + bytes(8)


@pytest.mark.parametrize("syntax", ["ExplicitVRLittleEndian", "ExplicitVRBigEndian",
                                    "ImplicitVRLittleEndian", "JPEGLSLossless"])
def test_elements_after_pixel_data_are_silent_and_in_the_header(tmp_path, syntax):
    data = _with_trailing(syntax)
    _, img, arr, notes = _read(tmp_path, data)
    assert notes == []
    np.testing.assert_array_equal(arr, D.FRAMES16)
    assert 0x7FE11001 in img.dataset
    if syntax != "ImplicitVRLittleEndian":
        assert img.dataset[0x60003000].value == bytes(8)
    assert "DigitalSignaturesSequence" in img.header_dict()
    assert to_json_dict(img.dataset, include_private=True)["7FE1,0010"] == \
        "DICOMIO TEST"


def test_garbage_after_trailing_elements_is_reported(tmp_path):
    data = _with_trailing("ExplicitVRLittleEndian") + b"\x01garbage" * 3
    _, _, arr, notes = _read(tmp_path, data)
    assert notes == ["24 bytes after Pixel Data ignored (not a data element)"]
    np.testing.assert_array_equal(arr, D.FRAMES16)
