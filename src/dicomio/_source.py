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
import zlib
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

    def readinto(self, offset: int, buf: Any) -> int:
        """Read ``len(buf)`` bytes at ``offset`` straight into ``buf``.

        One copy from the page cache into the caller's memory (``preadv``),
        no intermediate ``bytes``. Returns the bytes read (short at the end
        of the file).
        """
        view = memoryview(buf).cast("B")
        if offset < 0:
            raise ValueError("negative offset")
        if self._data is not None:
            chunk = self._data[offset:offset + len(view)]
            view[:len(chunk)] = chunk
            return len(chunk)
        if self._fd is None:
            raise ValueError("the file is closed")
        got = 0
        while got < len(view):
            if hasattr(os, "preadv"):
                n = os.preadv(self._fd, [view[got:]], offset + got)
            else:  # Windows: no preadv
                more = os.pread(self._fd, len(view) - got, offset + got)
                n = len(more)
                view[got:got + n] = more
            if not n:
                break
            got += n
        return got

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
    end: int = 0  # where the scan stopped (after the sequence delimiter)


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
            break
        tag, length = struct.unpack("<II", head)
        if tag == _SEQ_DELIM:
            pos += 8
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
    if data is not None:
        return io.BytesIO(data)
    if path is None:
        raise ValueError("neither a path nor data to read")
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


# ------------------------------------------------------------------------
# Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99), bounded.
#
# pydicom inflates such a data set with one unbounded zlib.decompress: a
# 1 MB deflate bomb becomes gigabytes before any check can run. Here the
# data set is inflated in steps, against the memory limit and, once the
# header is readable, against the size its image attributes claim.
_DEFLATED_UID = b"1.2.840.10008.1.2.1.99"
_EXPLICIT_LE_UID = b"1.2.840.10008.1.2.1\x00"
_META_PROBE = 1 << 16  # the File Meta group is a few hundred bytes
_HEADER_PROBE = 1 << 20  # inflated bytes read before the header is checked
_INFLATE_STEP = 1 << 24
#: Inflated bytes tolerated beyond the end of the claimed Pixel Data
#: (trailing padding, digital signatures).
DEFLATE_SLACK = 16 << 20


def _scan_meta(head: bytes) -> tuple[int, dict[int, tuple[int, int, int]]] | None:
    """Walk the File Meta group (0002,xxxx) at the start of a file.

    Returns ``(end, {element: (position, header size, value length)})``, or
    None when there is no File Meta group or it does not fit in ``head``.
    """
    if head[128:132] == b"DICM":
        pos = 132
    elif head[:2] == b"\x02\x00":
        pos = 0  # no preamble (non-conformant, seen in the wild)
    else:
        return None
    elems: dict[int, tuple[int, int, int]] = {}
    while pos + 8 <= len(head):
        group, elem = struct.unpack_from("<HH", head, pos)
        if group != 2:
            break
        vr = head[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(head):
                return None
            hdr, length = 12, struct.unpack_from("<I", head, pos + 8)[0]
        elif vr.isalpha() and vr.isupper():
            hdr, length = 8, struct.unpack_from("<H", head, pos + 6)[0]
        else:  # implicit VR File Meta (non-conformant, seen in the wild)
            hdr, length = 8, struct.unpack_from("<I", head, pos + 4)[0]
        elems[elem] = (pos, hdr, length)
        pos += hdr + length
    if pos > len(head):
        return None
    return pos, elems


def _explicit_meta(head: bytes, end: int, elems: dict[int, tuple[int, int, int]]
                   ) -> bytearray:
    """The File Meta bytes with the syntax changed to Explicit VR Little Endian."""
    pos, hdr, length = elems[0x10]
    tag = head[pos : pos + 4]
    if hdr == 8 and head[pos + 4 : pos + 6] == b"UI":
        elem = tag + b"UI" + struct.pack("<H", len(_EXPLICIT_LE_UID))
    else:
        elem = tag + struct.pack("<I", len(_EXPLICIT_LE_UID))
    meta = bytearray(head[:pos] + elem + _EXPLICIT_LE_UID
                     + head[pos + hdr + length : end])
    glen = elems.get(0x0000)
    if glen is not None and glen[2] == 4 and glen[0] < pos:
        # (0002,0000) File Meta Information Group Length, UL
        at = glen[0] + glen[1]
        (old,) = struct.unpack_from("<I", meta, at)
        new = old + len(elem) + len(_EXPLICIT_LE_UID) - hdr - length
        struct.pack_into("<I", meta, at, max(0, new) & 0xFFFFFFFF)
    return meta


def _claimed_size(buf: bytes) -> int | None:
    """Bytes the data set needs up to the end of Pixel Data, from its header.

    None when the header is not complete in ``buf`` or lacks the image
    attributes.
    """
    import pydicom

    fh = io.BytesIO(buf)
    try:
        ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
        tell = fh.tell()
        if tell + 8 > len(buf):
            return None  # the header runs past what has been inflated
        values = []
        for kw, default in (("Rows", None), ("Columns", None),
                            ("SamplesPerPixel", 1), ("BitsAllocated", 16),
                            ("NumberOfFrames", 1)):
            value = ds.get(kw, default)
            if isinstance(value, (list, tuple)):
                value = value[0] if value else default
            if value is None or value == "":
                value = default
            if value is None:
                return None
            values.append(max(1, int(value)))
    except Exception:
        return None
    rows, cols, spp, bits, frames = values
    return tell + 12 + rows * cols * spp * ((bits + 7) // 8) * frames


def inflate_dataset(fh: Any, limit: int, path: str | None = None
                    ) -> tuple[bytes, list[str]] | None:
    """Inflate a Deflated Explicit VR Little Endian file, bounded.

    Parameters
    ----------
    fh : binary file object
        The whole file, positioned anywhere; left at offset 0.
    limit : int
        The memory limit in bytes: the inflated data set may not exceed it.
    path : str, optional
        For messages.

    Returns
    -------
    (bytes, list of str) or None
        None when the file is not deflated. Otherwise the file as Explicit
        VR Little Endian (same preamble and File Meta, the syntax element
        rewritten, the data set inflated) and the recoveries made.

    Raises
    ------
    dicomio.MemoryLimitError
        The header claims more than ``limit``, or inflation passes it.
    dicomio.InvalidDicomError
        The deflate stream is corrupt, or inflates to far more than the
        header's image needs (a deflate bomb).
    """
    from .errors import InvalidDicomError, MemoryLimitError

    fh.seek(0)
    head = fh.read(_META_PROBE)
    fh.seek(0)
    meta = _scan_meta(head)
    if meta is None or 0x10 not in meta[1]:
        return None
    end, elems = meta
    pos, hdr, length = elems[0x10]
    uid = head[pos + hdr : pos + hdr + length].rstrip(b"\x00 ").strip()
    if uid != _DEFLATED_UID:
        return None
    fh.seek(end)
    packed = fh.read()
    fh.seek(0)
    where = path or "<in-memory>"
    ts = "DeflatedExplicitVRLittleEndian (1.2.840.10008.1.2.1.99)"
    out = _explicit_meta(head, end, elems)
    notes: list[str] = []
    wbits = -15
    if (len(packed) >= 2 and packed[0] & 0x0F == 8
            and (packed[0] << 8 | packed[1]) % 31 == 0):
        wbits = 15
        notes.append("the deflated data set has a zlib header (PS3.5 A.5 "
                     "specifies raw deflate); read anyway")
    inflater = zlib.decompressobj(wbits)
    cap = len(out) + limit
    claimed: int | None = None
    probed = False
    tail = packed
    try:
        while True:
            step = _INFLATE_STEP if probed else _HEADER_PROBE
            chunk = inflater.decompress(tail, step)
            out += chunk
            tail = inflater.unconsumed_tail
            if not probed:
                probed = True
                claimed = _claimed_size(bytes(out))
                if claimed is not None and claimed > limit:
                    raise MemoryLimitError(
                        f"the header claims {claimed / 2**20:.1f} MiB of "
                        f"inflated data, over the {limit / 2**20:.1f} MiB "
                        "limit (set memory_limit= or DICOMIO_MEMORY_LIMIT to "
                        "allow it)", path=where, transfer_syntax=ts)
            if claimed is not None and len(out) > claimed + DEFLATE_SLACK:
                raise InvalidDicomError(
                    f"the deflated data set inflates to more than "
                    f"{len(out)} bytes, far beyond the {claimed} its header "
                    "describes (a deflate bomb?)", path=where,
                    transfer_syntax=ts)
            if len(out) > cap:
                raise MemoryLimitError(
                    f"the deflated data set inflates to more than "
                    f"{limit / 2**20:.1f} MiB, over the limit (set "
                    "memory_limit= or DICOMIO_MEMORY_LIMIT to allow it)",
                    path=where, transfer_syntax=ts)
            if inflater.eof or (not tail and len(chunk) < step):
                break
    except zlib.error as exc:
        raise InvalidDicomError(f"the deflated data set is corrupt: {exc}",
                                path=where, transfer_syntax=ts) from None
    if not inflater.eof:
        notes.append("the deflated data set ends before its deflate stream "
                     "does (file truncated?)")
    elif len(inflater.unused_data) > 8:
        # Up to 8 bytes are common: a pad byte, or a zlib / gzip trailer.
        notes.append(f"{len(inflater.unused_data)} bytes after the deflated "
                     "data set ignored")
    return bytes(out), notes
