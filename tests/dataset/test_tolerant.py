"""dicomio.dataset.tolerant: encodings guessed, sequences pydicom refuses, trailing elements."""

from __future__ import annotations

import io
import struct

import pydicom
import pytest

from dicomio.dataset import tolerant
from tests import _defects as D


@pytest.mark.parametrize("syntax", sorted(D.ENCODINGS))
def test_guess_encoding_from_the_first_elements(syntax):
    body = D.data_set_bytes(D.dataset(), syntax)
    assert tolerant.guess_encoding(body[:512]) == D.ENCODINGS[syntax]
    assert tolerant.starts_like_dataset(body[:512])
    assert tolerant.describe(D.ENCODINGS[syntax]) == {
        "ImplicitVRLittleEndian": "Implicit VR Little Endian",
        "ExplicitVRLittleEndian": "Explicit VR Little Endian",
        "ExplicitVRBigEndian": "Explicit VR Big Endian",
    }[syntax]


@pytest.mark.parametrize("head", [
    b"",
    b"\x00" * 512,
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2,
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 9,
    b"PK\x03\x04" + b"\x14\x00" * 200,
], ids=["empty", "zeros", "png", "text", "zip"])
def test_not_a_data_set(head):
    assert tolerant.guess_encoding(head) is None
    assert not tolerant.starts_like_dataset(head)


def test_dicm_prefix_at_0_or_128_is_dicom():
    data = D.file_bytes()
    assert tolerant.starts_like_dataset(data[:512])
    assert tolerant.starts_like_dataset(data[128:640])


def _pixel_tell(data: bytes) -> int:
    """Where the Pixel Data element starts (either byte order)."""
    return max(data.rfind(b"\x7f\xe0\x00\x10"), data.rfind(b"\xe0\x7f\x10\x00"))


def test_un_sequence_in_big_endian_read_as_implicit_little_endian():
    data = D.big_endian_with_sequence(D.items_le(D.ITEM_IMPLICIT))
    with pytest.raises(OSError):  # pydicom reads the items big endian
        pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    head = tolerant.read_header(io.BytesIO(data), "x.dcm")
    assert head.notes == [
        "(0009,1010) is a UN element of undefined length whose items are "
        "Implicit VR Little Endian inside Explicit VR Big Endian data; read as such"]
    seq = head.dataset[0x00091010]
    assert seq.VR == "SQ" and len(seq.value) == 2
    assert [item.CodeValue for item in seq.value] == ["T-D1", "T-D1"]
    assert head.dataset.Rows == 20 and head.dataset.BitsAllocated == 16
    assert head.tell == _pixel_tell(data)
    assert head.dataset.original_encoding == (False, False)


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_byte_swapped_items_in_big_endian(undefined):
    # Philips Intera: a private sequence whose items were written little endian.
    data = D.big_endian_with_sequence(D.items_le(D.ITEM_EXPLICIT_LE, undefined=undefined),
                                      vr=b"SQ")
    head = tolerant.read_header(io.BytesIO(data))
    assert head.notes == [
        "(0009,1010) is a sequence whose items are Explicit VR Little Endian "
        "inside Explicit VR Big Endian data; read as such"]
    assert [i.CodingSchemeDesignator for i in head.dataset[0x00091010].value] == \
        ["SRT", "SRT"]
    assert head.tell == _pixel_tell(data)


def test_nested_undefined_sequences_find_their_end():
    # An item holding an undefined-length sequence of its own, all implicit LE.
    inner = D.items_le(D.ITEM_IMPLICIT, count=1)
    nested = struct.pack("<HHI", 0x0008, 0x1140, 0xFFFFFFFF) + inner
    data = D.big_endian_with_sequence(D.items_le(D.ITEM_IMPLICIT[:12] + nested, count=1))
    head = tolerant.read_header(io.BytesIO(data))
    item = head.dataset[0x00091010].value[0]
    assert item.CodeValue == "T-D1"
    assert item.ReferencedImageSequence[0].CodingSchemeDesignator == "SRT"
    assert head.tell == _pixel_tell(data)


def test_unparseable_sequence_is_kept_raw():
    # Items whose content is no data set in any encoding: the extent is still
    # known from the delimiters, so the element is kept as bytes.
    data = D.big_endian_with_sequence(D.items_le(b"", count=1))
    head = tolerant.read_header(io.BytesIO(data))
    assert head.dataset[0x00091010].VR == "SQ"  # an empty item is a valid item
    broken = D.ITEM_LE + struct.pack("<I", 6) + b"\x01\x02\x03\x04\x05\x06" + \
        D.SEQ_DELIM_LE
    data = D.big_endian_with_sequence(broken)
    head = tolerant.read_header(io.BytesIO(data))
    assert head.dataset[0x00091010].VR == "UN"
    assert len(head.notes) == 1 and head.notes[0].startswith(
        "(0009,1010) is a sequence pydicom cannot read (")
    assert head.notes[0].endswith("); kept as raw bytes (UN)")
    assert head.tell == _pixel_tell(data)


def test_garbage_sequence_is_refused():
    data = D.big_endian_with_sequence(b"\x01\x02\x03\x04" * 8)
    with pytest.raises(ValueError, match="no item tag"):
        tolerant.read_header(io.BytesIO(data))


def test_dicm_at_byte_0():
    data = D.dicm_at_zero()
    head = tolerant.read_header(io.BytesIO(data))
    assert head.notes == ["no preamble: the file starts with 'DICM'"]
    assert head.dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert head.tell == _pixel_tell(data)


@pytest.mark.parametrize("syntax", sorted(D.ENCODINGS))
def test_no_file_meta(syntax):
    data = D.no_file_meta(syntax)
    head = tolerant.read_header(io.BytesIO(data))
    assert head.dataset.original_encoding == D.ENCODINGS[syntax]
    assert head.dataset.Columns == 24
    assert len(head.dataset.file_meta) == 0


class _Src:
    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def read(self, pos: int, n: int) -> bytes:
        return self.data[pos:pos + n]


def _le(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"OW", b"SQ", b"UN"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def test_elements_end_accepts_valid_elements_only():
    valid = (_le(0x7FE10010, b"LO", b"PRIVATE ") + _le(0x7FE11001, b"OB", b"\x00" * 10)
             + _le(0xFFFAFFFA, b"SQ", b"") + _le(0xFFFCFFFC, b"OB", b"\x00" * 8))
    assert tolerant.elements_end(_Src(valid), 0, False, True) == len(valid)
    assert tolerant.elements_end(_Src(valid + b"\x00"), 0, False, True) == len(valid) + 1
    assert tolerant.elements_end(_Src(valid + b"garbage!" * 3), 0, False, True) == len(valid)
    # Explicit VR: out of tag order is fine (an overlay written last), but
    # File Meta or command groups are not data set elements.
    overlay = _le(0x60003000, b"OW", b"\x00" * 8)
    assert tolerant.elements_end(_Src(overlay), 0, False, True) == len(overlay)
    assert tolerant.elements_end(_Src(_le(0x00020010, b"UI", b"1.2 ")), 0, False, True) == 0
    # Implicit VR has no VR to check: the tags must ascend from Pixel Data.
    implicit = struct.pack("<HHI", 0x7FE1, 0x0010, 4) + b"ABCD"
    assert tolerant.elements_end(_Src(implicit), 0, True, True) == len(implicit)
    late = struct.pack("<HHI", 0x6000, 0x3000, 4) + b"ABCD"
    assert tolerant.elements_end(_Src(late), 0, True, True) == 0
    parsed = tolerant.read_elements(valid, False, True)
    assert parsed[0x7FE11001].value == b"\x00" * 10


def test_hostile_nesting_is_refused_not_followed():
    # 40 sequences nested in one another: deeper than any real file.
    body = b""
    for _ in range(40):
        body = D.ITEM_LE + D.UNDEFINED + struct.pack("<HHI", 0x0008, 0x1140,
                                                     0xFFFFFFFF) + body
    data = D.big_endian_with_sequence(body)
    with pytest.raises(ValueError, match="nested too deep"):
        tolerant.read_header(io.BytesIO(data))
