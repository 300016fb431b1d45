"""Deflated Explicit VR Little Endian data sets, inflated with bounds."""
from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from ..tsyntax import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN

_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian uint32
_SEQ_DELIM = 0xE0DDFFFE
_ITEM_DELIM = 0xE00DFFFE
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UN", b"UC",
             b"UR", b"UT"}




# ------------------------------------------------------------------------
# Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99), bounded.
#
# pydicom inflates such a data set with one unbounded zlib.decompress: a
# 1 MB deflate bomb becomes gigabytes before any check can run. Here the
# data set is inflated in steps, against the memory limit and, once the
# header is readable, against the size its image attributes claim.
_DEFLATED_UID = DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN.encode()
_EXPLICIT_LE_UID = EXPLICIT_VR_LITTLE_ENDIAN.encode() + b"\x00"  # padded to even
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
    from ..errors import InvalidDicomError, MemoryLimitError

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

