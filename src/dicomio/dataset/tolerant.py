"""Headers pydicom refuses, read the way GDCM and dcmtk read them.

pydicom reads almost every header, and :mod:`dicomio.image.open` asks it
first. This module adds only what it lacks:

- :func:`guess_encoding`: the encoding of a data set written without File
  Meta (or without a Transfer Syntax UID), judged from its first elements: a
  plausible tag, a valid two-letter VR, ascending tags, lengths that fit.
  :func:`starts_like_dataset` is the cheap "is this DICOM at all" test built
  on it (the imageio plugin and the folder scan use it for files without the
  ``DICM`` prefix).
- :func:`read_header`: a data set pydicom cannot parse because a sequence of
  undefined length is not encoded like the data set around it. PS3.5 6.2.2
  says a UN element of undefined length holds Implicit VR Little Endian
  items, also in an Explicit VR Big Endian file: pydicom reads them big
  endian and fails. Some writers (Philips Intera) byte-swapped private
  sequences, whose items are then Explicit VR Little Endian inside a Big
  Endian file. Here the end of each such sequence is found by walking its
  item and element headers in every candidate encoding; pydicom then reads
  it in the one that fits. A ``DICM`` prefix at byte 0 (no preamble) is
  read too.
- :func:`elements_end`: where a run of valid data elements ends, so that the
  elements stored after Pixel Data are told apart from garbage;
  :func:`read_elements` parses such a run.

Nothing here looks at pixel bytes: parsing stops before Pixel Data.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filereader import _read_file_meta_info, read_dataset, read_sequence
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_string

from .. import tsyntax

__all__ = ["Header", "describe", "guess_encoding", "starts_like_dataset",
           "read_header", "elements_end", "read_elements"]

#: ``(implicit VR, little endian)`` of the three uncompressed encodings.
Encoding = tuple[bool, bool]
IMPLICIT_LE: Encoding = (True, True)
EXPLICIT_LE: Encoding = (False, True)
EXPLICIT_BE: Encoding = (False, False)
_NAMES = {IMPLICIT_LE: "Implicit VR Little Endian",
          EXPLICIT_LE: "Explicit VR Little Endian",
          EXPLICIT_BE: "Explicit VR Big Endian"}

UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_VRS = frozenset(v.value.encode() for v in VR if len(v.value) == 2)
_LONG = frozenset(v.value.encode() for v in EXPLICIT_VR_LENGTH_32)
_MAX_DEPTH = 32


def describe(encoding: Encoding) -> str:
    """The name of an encoding, for messages."""
    return _NAMES.get((bool(encoding[0]), bool(encoding[1])), "Implicit VR Big Endian")


class _Bad(ValueError):
    """These bytes are not data elements in the encoding tried."""


#: Element headers one parse may read: trying every encoding at every level
#: of nested sequences must not turn a hostile file into a hang.
_BUDGET = 1_000_000


class _Counted:
    """``read(pos, n)`` and ``size`` of a source, counting element headers."""

    def __init__(self, read: Callable[[int, int], bytes], size: int) -> None:
        self.read = read
        self.size = size
        self.left = _BUDGET

    @classmethod
    def file(cls, fh: BinaryIO) -> _Counted:
        here = fh.tell()
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(here)

        def read(pos: int, n: int) -> bytes:
            fh.seek(pos)
            return fh.read(n)

        return cls(read, size)

    @classmethod
    def of(cls, src: Any) -> _Counted:
        """Wrap anything with ``read(pos, n)`` and ``size`` (or bytes)."""
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src)
            return cls(lambda pos, n: data[pos:pos + n], len(data))
        return cls(src.read, src.size)


def _element(src: _Counted, pos: int, enc: Encoding) -> tuple[int, str | None, int, int]:
    """``(tag, VR, length, value start)`` of the element header at ``pos``."""
    src.left -= 1
    if src.left < 0:
        raise _Bad("too many nested sequences to follow")
    head = src.read(pos, 12)
    if len(head) < 8:
        raise _Bad(f"the data end inside an element header at byte {pos}")
    order = "<" if enc[1] else ">"
    group, elem = struct.unpack(order + "HH", head[:4])
    tag = group << 16 | elem
    if enc[0] or group == 0xFFFE:  # items and delimiters are always implicit
        return tag, None, struct.unpack(order + "I", head[4:8])[0], pos + 8
    vr = head[4:6]
    if vr not in _VRS:
        raise _Bad(f"({group:04X},{elem:04X}) at byte {pos} has no valid VR")
    if vr in _LONG:
        if len(head) < 12:
            raise _Bad(f"the data end inside an element header at byte {pos}")
        return tag, vr.decode(), struct.unpack(order + "I", head[8:12])[0], pos + 12
    return tag, vr.decode(), struct.unpack(order + "H", head[6:8])[0], pos + 8


def _candidates(vr: str | None, outer: Encoding) -> list[Encoding]:
    """Encodings to try for the items of a sequence, most likely first."""
    order = [outer, EXPLICIT_LE, EXPLICIT_BE, IMPLICIT_LE]
    if vr == "UN":  # PS3.5 6.2.2: Implicit VR Little Endian, whatever the file
        order.insert(0, IMPLICIT_LE)
    return list(dict.fromkeys(order))


def _sequence_end(src: _Counted, pos: int, length: int, vr: str | None,
                  outer: Encoding, depth: int) -> tuple[int, Encoding]:
    """Where the items starting at ``pos`` end, and the encoding that fits."""
    if depth > _MAX_DEPTH:
        raise _Bad("sequences nested too deep")
    first: _Bad | None = None
    for enc in _candidates(vr, outer):
        try:
            return _items_end(src, pos, length, enc, depth), enc
        except _Bad as exc:
            first = first or exc
    assert first is not None
    raise first


def _items_end(src: _Counted, pos: int, length: int, enc: Encoding, depth: int) -> int:
    limit = src.size if length == UNDEFINED else pos + length
    if limit > src.size:
        raise _Bad(f"a sequence at byte {pos} runs past the end of the data")
    order = "<" if enc[1] else ">"
    while True:
        if length != UNDEFINED and pos == limit:
            return pos
        head = src.read(pos, 8)
        if len(head) < 8 or pos + 8 > limit:
            raise _Bad(f"the data end inside the sequence at byte {pos}")
        group, elem, size = struct.unpack(order + "HHI", head)
        tag = group << 16 | elem
        if tag == _SEQ_DELIM:
            return pos + 8
        if tag != _ITEM:
            raise _Bad(f"no item tag at byte {pos}")
        if size == UNDEFINED:
            pos = _dataset_end(src, pos + 8, enc, depth + 1)
        elif pos + 8 + size > limit:
            raise _Bad(f"the item at byte {pos} runs past its sequence")
        else:
            pos += 8 + size


def _dataset_end(src: _Counted, pos: int, enc: Encoding, depth: int) -> int:
    """Where an item of undefined length ends (after its delimiter)."""
    last = -1
    while True:
        tag, vr, length, start = _element(src, pos, enc)
        if tag == _ITEM_DELIM:
            return start
        if tag >> 16 == 0xFFFE or tag <= last:
            raise _Bad(f"tag ({tag >> 16:04X},{tag & 0xFFFF:04X}) at byte {pos} "
                       "is out of place")
        last = tag
        if length == UNDEFINED:
            pos = _sequence_end(src, start, length, vr, enc, depth)[0]
        elif start + length > src.size:
            raise _Bad(f"an element at byte {pos} runs past the end of the data")
        else:
            pos = start + length


def _plausible(head: bytes, enc: Encoding) -> int:
    """How many complete, plausible elements ``head`` starts with in ``enc``."""
    src, pos, last, count = _Counted.of(head), 0, -1, 0
    while pos < len(head) and count < 8:
        try:
            tag, _, length, start = _element(src, pos, enc)
        except _Bad:
            break
        group = tag >> 16
        if not any(head[pos:start]) or tag <= last or group in (0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF) \
                or group >= 0xFFFA or (length != UNDEFINED and length % 2 and enc[0]):
            break
        if length == UNDEFINED or start + length > len(head):
            break
        last, pos, count = tag, start + length, count + 1
    return count


def guess_encoding(head: bytes) -> Encoding | None:
    """The encoding the data set starting ``head`` is written in, or None.

    Each encoding is tried on the first elements; the one that reads the
    most of them as plausible elements (a valid VR for explicit encodings,
    ascending tags, even lengths that fit) wins, explicit before implicit on
    a tie (its VR check is the stronger test). Give a few hundred bytes.
    """
    best, score = None, 0
    for enc in (EXPLICIT_LE, EXPLICIT_BE, IMPLICIT_LE):
        n = _plausible(head, enc)
        if n > score:
            best, score = enc, n
    return best


def starts_like_dataset(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) begins like DICOM.

    The ``DICM`` prefix at byte 128 (or at byte 0, a file without preamble),
    or at least two plausible data elements at byte 0 in some encoding (a
    data set written without preamble and File Meta).
    """
    if head[128:132] == b"DICM" or head[:4] == b"DICM":
        return True
    return max(_plausible(head, e) for e in (EXPLICIT_LE, EXPLICIT_BE, IMPLICIT_LE)) >= 2


@dataclass
class Header:
    """A header read by :func:`read_header`."""

    dataset: FileDataset
    tell: int  # where the Pixel Data element starts (the end of the data without one)
    notes: list[str] = field(default_factory=list)


def _meta(src: _Counted, fh: BinaryIO) -> tuple[bytes | None, FileMetaDataset, int, list[str]]:
    """Preamble, File Meta, where the data set starts, and what was odd."""
    head = src.read(0, 132)
    notes: list[str] = []
    if head[128:132] == b"DICM":
        preamble, pos = head[:128], 132
    elif head[:4] == b"DICM":
        preamble, pos = None, 4
        notes.append("no preamble: the file starts with 'DICM'")
    else:
        preamble, pos = None, 0
    fh.seek(pos)
    meta = _read_file_meta_info(fh)
    return preamble, meta, fh.tell(), notes


def _encoding(src: _Counted, meta: FileMetaDataset, start: int, notes: list[str]) -> Encoding:
    uid = str(meta.get("TransferSyntaxUID", "") or "")
    if uid == tsyntax.IMPLICIT_VR_LITTLE_ENDIAN:
        return IMPLICIT_LE
    if uid == tsyntax.EXPLICIT_VR_BIG_ENDIAN:
        return EXPLICIT_BE
    if uid:
        return EXPLICIT_LE  # PS3.5 A.4: every other syntax
    enc = guess_encoding(src.read(start, 1024))
    if enc is None:
        raise _Bad("no File Meta, and the first bytes are no data element in any "
                   "encoding")
    return enc


def read_header(fh: BinaryIO, path: str | None = None) -> Header:
    """Parse a header pydicom refused, up to Pixel Data; ValueError if impossible.

    Elements of defined length are kept raw (pydicom converts them when
    read); a sequence is read by pydicom in the encoding its items are
    really written in, or kept as raw bytes (VR UN) when that fails too;
    each departure from the standard is noted in :attr:`Header.notes`.
    """
    src = _Counted.file(fh)
    preamble, meta, start, notes = _meta(src, fh)
    enc = _encoding(src, meta, start, notes)
    elems: list[Any] = []
    charset: Any = default_encoding
    pos = start
    while pos < src.size:
        tag, vr, length, vstart = _element(src, pos, enc)
        if tag in _PIXEL_TAGS:
            break
        if tag >> 16 == 0xFFFE:  # a stray item or delimiter: skip it
            notes.append(f"a stray ({tag >> 16:04X},{tag & 0xFFFF:04X}) at byte {pos} "
                         "skipped")
            pos = vstart + (0 if length == UNDEFINED else length)
            continue
        if length == UNDEFINED or vr in ("SQ", "UN", None) and _swapped_items(src, vstart, enc):
            end, inner = _sequence_end(src, vstart, length, vr, enc, 0)
            elems.append(_sequence(src, tag, vr, vstart, end, length, inner, enc,
                                   charset, notes))
        else:
            end = vstart + length
            if end > src.size:
                raise _Bad(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) at byte {pos} "
                           "runs past the end of the file")
            value = src.read(vstart, length)
            if tag == 0x00080005:
                charset = convert_encodings(convert_string(value, enc[1]))
            elems.append(RawDataElement(BaseTag(tag), vr, length, value, vstart,
                                        enc[0], enc[1]))
        pos = end
    ds = FileDataset(path or "<in-memory>", Dataset({e.tag: e for e in elems}),
                     preamble=preamble, file_meta=meta, is_implicit_VR=enc[0],
                     is_little_endian=enc[1])
    ds.set_original_encoding(enc[0], enc[1], charset)
    return Header(ds, min(pos, src.size), notes)


def _swapped_items(src: _Counted, pos: int, enc: Encoding) -> bool:
    """A defined-length sequence whose first item tag has the other byte order."""
    other = "<" if not enc[1] else ">"
    return src.read(pos, 4) == struct.pack(other + "HH", 0xFFFE, 0xE000)


def _sequence(src: _Counted, tag: int, vr: str | None, start: int, end: int, length: int,
              inner: Encoding, outer: Encoding, charset: Any,
              notes: list[str]) -> Any:
    """The sequence element at ``start`` (its value), read in ``inner``."""
    name = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    value = src.read(start, end - start)
    fp = io.BytesIO(value)
    try:
        seq = read_sequence(fp, inner[0], inner[1], length, charset, offset=start)
        if fp.tell() != len(value):
            raise ValueError("the items end before the sequence does")
        for item in seq:  # convert now: a failure belongs to the fallback below
            for _ in item:
                pass
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types
        notes.append(f"{name} is a sequence pydicom cannot read ({exc}); kept as "
                     "raw bytes (UN)")
        return RawDataElement(BaseTag(tag), "UN", len(value), value, start,
                              outer[0], outer[1])
    if inner != outer:
        what = "a UN element of undefined length" if vr == "UN" else "a sequence"
        notes.append(f"{name} is {what} whose items are {describe(inner)} inside "
                     f"{describe(outer)} data; read as such")
    return DataElement(BaseTag(tag), "SQ", seq, start,
                       is_undefined_length=length == UNDEFINED)


def elements_end(src: Any, pos: int, implicit: bool, little: bool,
                 after: int = 0x7FE00010,
                 spans: list[tuple[int, int]] | None = None) -> int:
    """Where the run of valid data elements starting at ``pos`` ends.

    ``src`` offers ``read(pos, n)`` and ``size``. An element must have a
    valid VR (explicit VR) and a length that fits; out of tag order (an
    overlay group after Pixel Data) is accepted with explicit VR, while
    Implicit VR, where the VR check is missing, needs tags ascending from
    ``after``. Items and delimiters (FFFE,xxxx) of defined length are
    accepted (a repeated sequence delimiter is a common writer artefact), as
    is one pad byte at the very end. Returns ``src.size`` when everything
    from ``pos`` on is data elements. ``spans`` (when given) receives the
    ``(start, end)`` of each data element, items and delimiters left out.
    """
    enc = (implicit, little)
    last = after
    src = _Counted.of(src)
    while pos < src.size - 1:
        try:
            tag, vr, length, start = _element(src, pos, enc)
            if tag >> 16 == 0xFFFE:
                if length == UNDEFINED:
                    return pos
                pos = start + length
                continue
            if tag >> 16 < 0x0008 or implicit and tag <= last:
                return pos
            if length == UNDEFINED:
                end = _sequence_end(src, start, length, vr, enc, 0)[0]
            else:
                end = start + length
        except _Bad:
            return pos
        if end > src.size:
            return pos
        if spans is not None:
            spans.append((pos, end))
        last, pos = tag, end
    return src.size


def read_elements(data: bytes, implicit: bool, little: bool) -> Dataset:
    """Parse ``data`` (whole data elements, as :func:`elements_end` found)."""
    fp = io.BytesIO(data)
    return read_dataset(fp, implicit, little, bytelength=len(data))
