"""Where a file's pixel bytes live, and how to fetch one frame's worth.

Opening parses the header with pydicom up to (not into) Pixel Data, then
either notes where native frames start or scans the encapsulated item headers
once (8 bytes each, never the fragment bodies). Frames are then read with
``os.pread`` on one shared descriptor, which is safe from many threads.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from typing import Any

_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian uint32
_SEQ_DELIM = 0xE0DDFFFE
_ITEM_DELIM = 0xE00DFFFE
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UN", b"UC",
             b"UR", b"UT"}


class _Reader:
    """Random access to the file or in-memory buffer holding the dataset."""

    def __init__(self, path: str | None = None, data: bytes | None = None) -> None:
        self.path = path
        self._data = memoryview(data) if data is not None else None
        self._fd: int | None = None
        if path is not None and data is None:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self.size = os.fstat(self._fd).st_size
        else:
            self.size = len(self._data) if self._data is not None else 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if self._data is not None:
            return bytes(self._data[offset:offset + length])
        if self._fd is None:
            raise ValueError("the file is closed")
        out = os.pread(self._fd, length, offset)
        while len(out) < length:
            more = os.pread(self._fd, length - len(out), offset + len(out))
            if not more:
                break
            out += more
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class PixelLocation:
    """Where Pixel Data's value starts and how it is encoded."""

    offset: int
    length: int | None  # None for undefined length (encapsulated)
    vr: str
    keyword: str = "PixelData"


def locate_pixel_data(reader: _Reader, tell: int, little: bool, implicit: bool
                      ) -> PixelLocation | None:
    """Parse the element header pydicom stopped at (``tell``)."""
    head = reader.read(tell, 12)
    if len(head) < 8:
        return None
    fmt = "<" if little else ">"
    group, elem = struct.unpack(fmt + "HH", head[:4])
    if group != 0x7FE0 or elem not in (0x0008, 0x0009, 0x0010):
        return None
    keyword = {0x10: "PixelData", 0x08: "FloatPixelData",
               0x09: "DoubleFloatPixelData"}[elem]
    vr_b = head[4:6]
    if not implicit and not (vr_b.isalpha() and vr_b.isupper()):
        # The header promised explicit VR but the element is implicit (pydicom
        # tolerates this and so do we).
        implicit = True
    if implicit:
        (length,) = struct.unpack(fmt + "I", head[4:8])
        vr, start = "OW" if elem == 0x10 else ("OF" if elem == 8 else "OD"), tell + 8
    else:
        vr_b = head[4:6]
        vr = vr_b.decode("ascii", "replace")
        if vr_b in _LONG_VRS:
            (length,) = struct.unpack(fmt + "I", head[8:12])
            start = tell + 12
        else:
            (length,) = struct.unpack(fmt + "H", head[6:8])
            start = tell + 8
    return PixelLocation(start, None if length == 0xFFFFFFFF else length, vr, keyword)


@dataclass
class Fragments:
    """The encapsulated item table: Basic Offset Table and fragment positions."""

    bot: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # absolute value offsets
    lengths: list[int] = field(default_factory=list)
    rel: list[int] = field(default_factory=list)  # item-tag offsets after the BOT
    warnings: list[str] = field(default_factory=list)


def scan_fragments(reader: _Reader, start: int, max_items: int = 10_000_000,
                   delimited: bool = True) -> Fragments:
    """Walk the item headers of an encapsulated Pixel Data value once."""
    frags = Fragments()
    pos = start
    first = True
    first_frag_tag = None
    end = reader.size
    while True:
        head = reader.read(pos, 8)
        if len(head) < 8:
            if not delimited and not head:
                break  # a value taken from a Dataset ends without a delimiter
            frags.warnings.append(
                "Pixel Data ends without a sequence delimiter (file truncated?)"
            )
            break
        tag, length = struct.unpack("<II", head)
        if tag == _SEQ_DELIM:
            break
        if tag != _ITEM:
            if tag == _ITEM_DELIM:
                pos += 8
                continue
            frags.warnings.append(
                f"unexpected tag {tag & 0xFFFF:04X},{tag >> 16:04X} inside "
                f"Pixel Data at byte {pos}; fragments after it are ignored"
            )
            break
        if length == 0xFFFFFFFF:
            raise ValueError(f"fragment item at byte {pos} has undefined length")
        body = pos + 8
        if body + length > end:
            frags.warnings.append(
                f"fragment at byte {pos} claims {length} bytes but the file ends "
                f"after {end - body}; it is truncated"
            )
            length = max(0, end - body)
        if first:
            first = False
            if length % 4 == 0 and length:
                raw = reader.read(body, length)
                frags.bot = list(struct.unpack(f"<{length // 4}I", raw))
            first_frag_tag = body + length
        else:
            frags.offsets.append(body)
            frags.lengths.append(length)
            frags.rel.append(pos - (first_frag_tag or 0))
        pos = body + length
        if len(frags.offsets) > max_items:
            raise ValueError("more fragments than any real file holds")
    return frags


def open_bytes(source: Any) -> tuple[str | None, bytes | None]:
    """Normalise a user's source into (path, in-memory bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return None, bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source), None
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("file object must be opened in binary mode")
        return (name if isinstance(name, str) else None), bytes(data)
    raise TypeError(f"cannot read DICOM from {type(source).__name__}")


def as_filelike(path: str | None, data: bytes | None) -> Any:
    return io.BytesIO(data) if data is not None else open(path, "rb")  # noqa: SIM115
