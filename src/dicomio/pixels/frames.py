"""Where Pixel Data lives in a file, and where each fragment of it starts.

Opening parses the header with pydicom up to (not into) Pixel Data, then
either notes where native frames start or scans the encapsulated item headers
once (8 bytes each, never the fragment bodies).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..sources.local import _Reader

_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian uint32
_SEQ_DELIM = 0xE0DDFFFE
_ITEM_DELIM = 0xE00DFFFE
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UN", b"UC",
             b"UR", b"UT"}



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
    if implicit and vr_b in (b"OB", b"OW", b"OF", b"OD") and head[6:8] == b"\0\0":
        # The header promised implicit VR but the element is explicit, as
        # pydicom found too ("Expected implicit VR, but found explicit VR");
        # read as implicit, these bytes would be an odd length, never valid.
        implicit = False
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
    end: int = 0  # where the scan stopped (after the sequence delimiter)
    # The file ends inside Pixel Data: ``cut`` is (index in ``offsets`` of the
    # fragment cut short, -1 for the offset table; bytes it misses), or the
    # number of fragments when the file ends between items; ``delimited``
    # says the sequence delimiter was found.
    cut: tuple[int, int] | None = None
    delimited: bool = False


def scan_fragments(reader: _Reader, start: int, max_items: int = 10_000_000,
                   delimited: bool = True) -> Fragments:
    """Walk the item headers of an encapsulated Pixel Data value once."""
    frags = Fragments()
    pos = start
    first = True
    first_frag_tag = None
    odd = 0  # position of the first odd-length fragment
    end = reader.size
    while True:
        head = reader.read(pos, 8)
        if len(head) < 8:
            if not delimited and not head:
                break  # a value taken from a Dataset ends without a delimiter
            frags.warnings.append(
                "Pixel Data ends without a sequence delimiter (file truncated?)"
            )
            if head and frags.cut is None:
                frags.cut = (len(frags.offsets), 0)  # an item header cut short
            break
        tag, length = struct.unpack("<II", head)
        if tag == _SEQ_DELIM:
            pos += 8
            frags.delimited = True
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
            frags.cut = (-1 if first else len(frags.offsets),
                         length - max(0, end - body))
            length = max(0, end - body)
        if first:
            first = False
            if length % 4 == 0 and length:
                raw = reader.read(body, length)
                frags.bot = list(struct.unpack(f"<{length // 4}I", raw))
            elif length:
                frags.warnings.append(
                    f"the Basic Offset Table is {length} bytes long, not a "
                    "multiple of 4; ignored"
                )
            first_frag_tag = body + length
        else:
            if length % 2 and not odd:
                odd = pos
            frags.offsets.append(body)
            frags.lengths.append(length)
            frags.rel.append(pos - (first_frag_tag or 0))
        pos = body + length
        if len(frags.offsets) > max_items:
            raise ValueError("more fragments than any real file holds")
    if odd:
        frags.warnings.append(
            f"odd-length fragment at byte {odd} (DICOM requires even item "
            "lengths); read as is"
        )
    frags.end = pos
    return frags


def trailing_data(reader: _Reader, end: int) -> str | None:
    """Describe bytes after the Pixel Data value, or None when there are none.

    Data Set Trailing Padding (FFFC,FFFC) and Digital Signatures (FFFA,xxxx)
    are legitimate elements there and are not reported, nor is a repeated
    sequence delimiter (FFFE,E0DD), a common artefact of writers.
    """
    extra = reader.size - end
    if extra <= 1 or end <= 0:
        return None  # one byte is a harmless pad to even length
    head = reader.read(end, min(extra, 1 << 16))
    for order in "<>":
        group = struct.unpack_from(order + "H", head)[0] if extra >= 8 else 0
        if group in (0xFFFA, 0xFFFC, 0xFFFE):
            return None
    what = "zero padding" if not head.strip(b"\x00") else "not a data element"
    return f"{extra} bytes after Pixel Data ignored ({what})"
