"""Files with the defects GDCM and dcmtk tolerate, made by byte surgery.

Each builder starts from a file written by dicomio's own encoder
(:func:`dicomio.encode.make_dataset`, :func:`dicomio.encode.dataset_bytes`)
and changes only what the defect needs, so the pixels of the source array
are the ground truth. Shared by tests/dataset, tests/image and tests/series.
"""

from __future__ import annotations

import struct
import warnings
from typing import Any

import numpy as np
import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

from dicomio import encode

#: 3 frames of 20 x 24, 16 bit, every value different from its neighbours.
FRAMES16 = (np.arange(3 * 20 * 24).reshape(3, 20, 24) * 7 % 4001).astype(np.uint16)
#: The same in 8 bit (JPEG baseline).
FRAMES8 = (np.add.outer(np.arange(3 * 20), np.arange(24)) % 251).astype(np.uint8)
FRAMES8 = FRAMES8.reshape(3, 20, 24)

ITEM_LE = b"\xfe\xff\x00\xe0"
ITEM_DELIM_LE = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
SEQ_DELIM_LE = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
UNDEFINED = b"\xff\xff\xff\xff"
ENCODINGS = {
    "ImplicitVRLittleEndian": (True, True),
    "ExplicitVRLittleEndian": (False, True),
    "ExplicitVRBigEndian": (False, False),
}
#: A placeholder element the sequence builders replace: (0009,1010) LO.
_PLACEHOLDER = "DICOMIO-SLOT"


def dataset(frames: np.ndarray = FRAMES16, syntax: str = "ExplicitVRLittleEndian",
            **kwargs: Any) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode.make_dataset(frames, syntax, **kwargs)


def file_bytes(frames: np.ndarray = FRAMES16, syntax: str = "ExplicitVRLittleEndian",
               **kwargs: Any) -> bytes:
    """A complete, valid file (preamble, File Meta, data set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode.dataset_bytes(dataset(frames, syntax, **kwargs))


def data_set_bytes(ds: pydicom.Dataset, syntax: str) -> bytes:
    """Only the data set of ``ds``, encoded in ``syntax`` (no preamble, no meta)."""
    implicit, little = ENCODINGS[syntax]
    buf = DicomBytesIO()
    buf.is_implicit_VR, buf.is_little_endian = implicit, little
    write_dataset(buf, ds)
    return buf.getvalue()


def meta_bytes(meta: pydicom.Dataset) -> bytes:
    buf = DicomBytesIO()
    write_file_meta_info(buf, meta, enforce_standard=False)
    return buf.getvalue()


def no_file_meta(syntax: str, preamble: bool = False,
                 frames: np.ndarray = FRAMES16, **kwargs: Any) -> bytes:
    """The data set alone (optionally after a preamble and ``DICM``)."""
    body = data_set_bytes(dataset(frames, syntax, **kwargs), syntax)
    return (b"\x00" * 128 + b"DICM" + body) if preamble else body


def meta_without_syntax(syntax: str, frames: np.ndarray = FRAMES16) -> bytes:
    """Preamble, File Meta without (0002,0010), then the data set."""
    ds = dataset(frames, syntax)
    meta = ds.file_meta
    del meta.TransferSyntaxUID
    return b"\x00" * 128 + b"DICM" + meta_bytes(meta) + data_set_bytes(ds, syntax)


def dicm_at_zero(frames: np.ndarray = FRAMES16) -> bytes:
    """A valid file with its 128-byte preamble cut off (``DICM`` first)."""
    return file_bytes(frames)[128:]


def relabel(data: bytes, uid: str) -> bytes:
    """``data`` with another Transfer Syntax UID in its File Meta (only)."""
    group_length = struct.unpack("<I", data[140:144])[0]
    start = 144 + group_length
    meta = pydicom.dcmread(DicomBytesIO(data), stop_before_pixels=True).file_meta
    meta.TransferSyntaxUID = uid
    return data[:132] + meta_bytes(meta) + data[start:]


def _element_le(tag: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


#: One item's elements, Implicit VR Little Endian and Explicit VR Little Endian.
ITEM_IMPLICIT = (struct.pack("<HHI", 0x0008, 0x0100, 4) + b"T-D1"
                 + struct.pack("<HHI", 0x0008, 0x0102, 4) + b"SRT ")
ITEM_EXPLICIT_LE = (_element_le(0x00080100, b"SH", b"T-D1")
                    + _element_le(0x00080102, b"SH", b"SRT "))


def with_sequence_slot(frames: np.ndarray = FRAMES16,
                       syntax: str = "ExplicitVRBigEndian",
                       **kwargs: Any) -> tuple[bytes, bytes]:
    """A file with a placeholder element at (0009,1010), and its encoded bytes."""
    ds = dataset(frames, syntax, **kwargs)
    ds.add_new(0x00090010, "LO", "DICOMIO")
    ds.add_new(0x00091010, "LO", _PLACEHOLDER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = encode.dataset_bytes(ds)
    order = ">" if syntax == "ExplicitVRBigEndian" else "<"
    slot = struct.pack(order + "HH2sH", 0x0009, 0x1010, b"LO",
                       len(_PLACEHOLDER)) + _PLACEHOLDER.encode()
    assert data.count(slot) == 1
    return data, slot


def big_endian_with_sequence(items: bytes, vr: bytes = b"UN",
                             length: int | None = None,
                             frames: np.ndarray = FRAMES16, **kwargs: Any) -> bytes:
    """An Explicit VR Big Endian file whose (0009,1010) holds ``items``.

    The element header is big endian (``vr``, undefined length unless
    ``length`` is given); ``items`` are put in as they are.
    """
    data, slot = with_sequence_slot(frames, **kwargs)
    size = 0xFFFFFFFF if length is None else length
    head = struct.pack(">HH2sHI", 0x0009, 0x1010, vr, 0, size)
    return data.replace(slot, head + items)


def items_le(body: bytes, count: int = 2, undefined: bool = True,
             delimited: bool = True) -> bytes:
    """``count`` little-endian items holding ``body``, and the delimiter."""
    if undefined:
        one = ITEM_LE + UNDEFINED + body + ITEM_DELIM_LE
    else:
        one = ITEM_LE + struct.pack("<I", len(body)) + body
    return one * count + (SEQ_DELIM_LE if delimited else b"")
