"""JPEG (ITU T.81) and JPEG-LS (T.87) headers, read up to the first scan."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import CodestreamError
from ._common import _buffer, _truncated, _u16

__all__ = ["JpegInfo", "parse_jpeg"]


@dataclass(frozen=True)
class JpegInfo:
    """Header of an ITU T.81 JPEG or a T.87 JPEG-LS stream.

    Attributes
    ----------
    kind : str
        ``"jpeg"`` or ``"jpegls"``.
    sof : int
        The frame marker's second byte: ``0xC0`` .. ``0xCF`` for T.81,
        ``0xF7`` (SOF55) for JPEG-LS, ``0xF9`` (SOF57) for JPEG-LS Part 2.
    lossless : bool
        True for the lossless JPEG processes (SOF3, SOF7, SOF11, SOF15) and
        for JPEG-LS coded with ``NEAR == 0``.
    precision : int
        Sample precision P of the frame header, in bits.
    rows, columns : int
        Image height and width (from DNL or the JPEG-LS oversize LSE
        segment when the frame header says 0).
    components : int
        Number of components Nf.
    component_ids : tuple of int
        Component identifiers Ci, in frame-header order.
    sampling : tuple of (int, int)
        ``(H, V)`` sampling factors per component.
    jfif : bool
        An APP0 ``"JFIF\\0"`` segment is present (libjpeg reads YCbCr).
    adobe : bool
        An APP14 ``"Adobe"`` segment is present.
    adobe_transform : int or None
        The APP14 transform byte: 0 RGB (or CMYK), 1 YCbCr, 2 YCCK. None
        when the APP14 segment is too short to hold it; libjpeg then ignores
        the whole segment, as if ``adobe`` were False.
    predictor : int or None
        Lossless JPEG only: selection value Ss of the first scan (1..7).
    point_transform : int or None
        Lossless JPEG and JPEG-LS: Al of the first scan.
    jpegls_near : int or None
        JPEG-LS only: NEAR of the first scan (0 means lossless).
    jpegls_interleave : int or None
        JPEG-LS only: ILV of the first scan (0 none, 1 line, 2 sample).
    jpegls_color_transform : int or None
        JPEG-LS only: the HP colour transform of an APP8 ``"mrfx"``
        segment (1, 2 or 3 are HP1..HP3), None when absent.
    hierarchical : bool
        A DHP segment (T.81 B.3.2) precedes the first frame: the stream uses
        the hierarchical mode (``rows`` and ``columns`` are DHP's).
    """

    kind: str
    sof: int
    lossless: bool
    precision: int
    rows: int
    columns: int
    components: int
    component_ids: tuple[int, ...]
    sampling: tuple[tuple[int, int], ...]
    jfif: bool = False
    adobe: bool = False
    adobe_transform: int | None = None
    predictor: int | None = None
    point_transform: int | None = None
    jpegls_near: int | None = None
    jpegls_interleave: int | None = None
    jpegls_color_transform: int | None = None
    hierarchical: bool = False

    @property
    def subsampled(self) -> bool:
        """True when a later component is sampled lower than the first.

        This is the chroma subsampling of YBR_FULL_422 style streams.
        """
        if len(self.sampling) < 2:
            return False
        h0, v0 = self.sampling[0]
        return any(h < h0 or v < v0 for h, v in self.sampling[1:])

    @property
    def rgb_component_ids(self) -> bool:
        """True when the component IDs are ``'R'``, ``'G'``, ``'B'``.

        libjpeg-turbo (and pydicom) take those IDs as a sign of RGB data.
        """
        return self.component_ids == (0x52, 0x47, 0x42)


# Every T.81 start-of-frame marker: C4 (DHT), C8 (JPG) and CC (DAC) are not.
_SOF_T81 = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOF_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# SOF55 is T.87 JPEG-LS; SOF57 is the T.870 (JPEG-LS Part 2) extension.
_SOF_JPEGLS = frozenset({0xF7, 0xF9})
_LSE = 0xF8
_SOS = 0xDA
_DHP = 0xDE
# Segments whose contents parse_jpeg reads before the first scan.
_NOTED = _SOF_T81 | _SOF_JPEGLS | {_DHP, 0xE0, 0xEE, 0xE8, _LSE}

_JPEG_NAMES = {
    0xC4: "DHT",
    0xC8: "JPG",
    0xCC: "DAC",
    0xD8: "SOI",
    0xD9: "EOI",
    0xDA: "SOS",
    0xDB: "DQT",
    0xDC: "DNL",
    0xDD: "DRI",
    0xDE: "DHP",
    0xDF: "EXP",
    0xFE: "COM",
    0xF7: "SOF55",
    0xF8: "LSE",
    0xF9: "SOF57",
    0x01: "TEM",
}


def _jpeg_marker_name(code: int) -> str:
    if code in _JPEG_NAMES:
        return _JPEG_NAMES[code]
    if code in _SOF_T81:
        return f"SOF{code - 0xC0}"
    if 0xD0 <= code <= 0xD7:
        return f"RST{code - 0xD0}"
    if 0xE0 <= code <= 0xEF:
        return f"APP{code - 0xE0}"
    if 0xF0 <= code <= 0xFD:
        return f"JPG{code - 0xF0}"
    return f"RES(0x{code:02X})"


@dataclass(frozen=True)
class _Frame:
    """A parsed SOF or DHP segment."""

    sof: int
    precision: int
    rows: int
    columns: int
    ids: tuple[int, ...]
    sampling: tuple[tuple[int, int], ...]


def _parse_frame_header(seg: memoryview, code: int, offset: int) -> _Frame:
    """Parse the body of a SOFn / SOF55 / DHP segment (after its length)."""
    name = _jpeg_marker_name(code)
    if len(seg) < 6:
        raise CodestreamError(
            f"{name} segment at offset {offset} is {len(seg) + 2} bytes long; "
            "a frame header needs at least 8"
        )
    precision = seg[0]
    rows = _u16(seg, 1)
    columns = _u16(seg, 3)
    ncomp = seg[5]
    if ncomp == 0:
        raise CodestreamError(f"{name} at offset {offset} declares 0 components")
    if len(seg) != 6 + 3 * ncomp:
        raise CodestreamError(
            f"{name} at offset {offset} declares {ncomp} components, which "
            f"needs a length of {8 + 3 * ncomp}, but the length is {len(seg) + 2}"
        )
    if not 2 <= precision <= 16:
        raise CodestreamError(
            f"{name} at offset {offset} has sample precision {precision}; "
            "JPEG allows 2 to 16 bits"
        )
    ids = []
    sampling = []
    for i in range(ncomp):
        cid, hv = seg[6 + 3 * i], seg[7 + 3 * i]
        h, v = hv >> 4, hv & 0x0F
        # Zero sampling factors make decoders divide by zero; T.81 allows 1..4.
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise CodestreamError(
                f"{name} at offset {offset}: component {i} has sampling "
                f"factors {h}x{v}; JPEG allows 1 to 4"
            )
        ids.append(cid)
        sampling.append((h, v))
    return _Frame(code, precision, rows, columns, tuple(ids), tuple(sampling))


def _skip_fill(buf: memoryview, pos: int) -> int:
    """Return the offset of the first byte at or after ``pos`` that is not FF.

    Strips in 4 KiB chunks so a hostile run of megabytes of fill bytes costs
    a few C-level passes rather than a Python step per byte.
    """
    n = len(buf)
    while pos < n:
        chunk = bytes(buf[pos : pos + 4096])
        skipped = len(chunk) - len(chunk.lstrip(b"\xff"))
        pos += skipped
        if skipped < len(chunk):
            break
    return pos


def _find_dnl(buf: memoryview, start: int) -> int | None:
    """Number of lines from a DNL segment after the first scan, if any.

    Only needed when the frame header says 0 lines (T.81 B.2.5); rare, so a
    copy of the rest of the frame to use ``bytes.find`` is acceptable.
    """
    rest = bytes(buf[start:])
    idx = rest.find(b"\xff\xdc\x00\x04")
    if idx < 0 or idx + 6 > len(rest):
        return None
    return int(struct.unpack_from(">H", rest, idx + 4)[0])


def parse_jpeg(data: bytes | bytearray | memoryview) -> JpegInfo:
    """Parse a JPEG (T.81) or JPEG-LS (T.87) header up to the first scan.

    Parameters
    ----------
    data : bytes-like
        One frame, starting with SOI (``FF D8``).

    Returns
    -------
    JpegInfo
        ``kind`` is ``"jpegls"`` when the frame marker is SOF55 (or SOF57)
        or an LSE segment is present, else ``"jpeg"``.

    Raises
    ------
    dicomio.errors.CodestreamError
        When the header is truncated or malformed: no SOI, a bad or
        reserved marker, a segment length past the end, a scan before the
        frame header, zero dimensions, impossible sampling factors, ...
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    n = len(buf)
    if n < 2 or buf[0] != 0xFF or buf[1] != 0xD8:
        raise CodestreamError(
            "not a JPEG stream: it does not start with the SOI marker FF D8 "
            f"(first bytes {bytes(buf[:4]).hex(' ') or 'none'})"
        )
    head = _Header()
    pos = 2
    # Every pass moves pos forward by at least one byte: bounded by n.
    while True:
        start, code, pos, end = _next_segment(buf, pos, n)
        if end < 0:
            continue  # TEM / RSTn carry no length; libjpeg ignores them here
        if code == _SOS:
            return _finish_jpeg(buf, buf[pos + 2 : end], start, end, head)
        if code in _NOTED:
            head.note(code, buf[pos + 2 : end], start)
        # DQT, DHT, DAC, DRI, COM, EXP, other APPn and JPGn: nothing we need.
        pos = end


def _next_segment(buf: memoryview, pos: int, n: int) -> tuple[int, int, int, int]:
    """Read the marker at ``pos`` and its segment length.

    Returns the marker's offset, its code, the offset of its length field
    and the offset just past its segment (-1 for TEM and RSTn, which have no
    length). Raises on markers that cannot occur before the first scan.
    """
    if pos >= n:
        raise _truncated("JPEG header (no scan found)", pos, n)
    if buf[pos] != 0xFF:
        raise CodestreamError(
            f"expected a JPEG marker at offset {pos}, found byte 0x{buf[pos]:02X}"
        )
    start = pos
    # Any number of 0xFF fill bytes may precede a marker (T.81 B.1.1.2).
    if pos + 1 < n and buf[pos + 1] != 0xFF:
        pos += 1  # the usual case: no fill bytes
    else:
        pos = _skip_fill(buf, pos)
    if pos >= n:
        raise _truncated("JPEG marker", start, n)
    code = buf[pos]
    pos += 1
    if code == 0x00:
        raise CodestreamError(
            f"stuffed byte FF 00 at offset {start} outside entropy-coded data"
        )
    if code == 0x01 or 0xD0 <= code <= 0xD7:
        return start, code, pos, -1
    if code == 0xD8:
        raise CodestreamError(f"second SOI marker at offset {start}")
    if code == 0xD9:
        raise CodestreamError(
            f"EOI at offset {start} before any scan: the frame holds no image"
        )
    if 0x02 <= code <= 0xBF:
        raise CodestreamError(f"reserved JPEG marker FF {code:02X} at offset {start}")
    if pos + 2 > n:
        raise _truncated(f"{_jpeg_marker_name(code)} segment length", pos, n)
    length = _u16(buf, pos)
    if length < 2:
        raise CodestreamError(
            f"{_jpeg_marker_name(code)} segment at offset {start} has an "
            f"impossible length {length}"
        )
    end = pos + length
    if end > n:
        raise CodestreamError(
            f"truncated {_jpeg_marker_name(code)} segment at offset {start}: it "
            f"declares {length} bytes but only {n - pos} remain"
        )
    return start, code, pos, end


class _Header:
    """What the segments before the first scan said."""

    __slots__ = (
        "frame",
        "hierarchy",
        "jfif",
        "adobe",
        "adobe_transform",
        "hp_transform",
        "seen_lse",
        "ls_size",
    )

    def __init__(self) -> None:
        self.frame: _Frame | None = None
        # DHP: the final size of a hierarchical image.
        self.hierarchy: _Frame | None = None
        self.jfif = self.adobe = self.seen_lse = False
        self.adobe_transform: int | None = None
        self.hp_transform: int | None = None
        # JPEG-LS oversize dimensions (LSE id 4).
        self.ls_size: tuple[int, int] | None = None

    def note(self, code: int, seg: memoryview, start: int) -> None:
        """Take what dicomio needs from one segment before the first scan."""
        if code in _SOF_T81 or code in _SOF_JPEGLS:
            if self.frame is not None:
                raise CodestreamError(
                    f"second frame header {_jpeg_marker_name(code)} at offset "
                    f"{start} before any scan"
                )
            self.frame = _parse_frame_header(seg, code, start)
        elif code == _DHP:
            self.hierarchy = _parse_frame_header(seg, code, start)
        elif code == 0xE0:
            self.jfif = self.jfif or bytes(seg[:5]) == b"JFIF\x00"
        elif code == 0xEE:
            if bytes(seg[:5]) == b"Adobe":
                self.adobe = True
                # "Adobe", version (2), flags0 (2), flags1 (2), transform (1).
                if len(seg) >= 12:
                    self.adobe_transform = seg[11]
        elif code == 0xE8:
            # HP's JPEG-LS colour transform (CharLS writes it): "mrfx" + id.
            if bytes(seg[:4]) == b"mrfx" and len(seg) >= 5:
                self.hp_transform = seg[4]
        elif code == _LSE:
            self.seen_lse = True
            if len(seg) < 1:
                raise CodestreamError(f"empty LSE segment at offset {start}")
            if seg[0] == 4:
                self.ls_size = _parse_lse_size(seg, start)


def _parse_lse_size(seg: memoryview, offset: int) -> tuple[int, int]:
    """JPEG-LS LSE id 4 (T.87 C.2.4.1.4): image size when it exceeds 65535."""
    if len(seg) < 2:
        raise CodestreamError(f"LSE size segment at offset {offset} is too short")
    wxy = seg[1]
    if not 2 <= wxy <= 4 or len(seg) != 2 + 2 * wxy:
        raise CodestreamError(
            f"LSE size segment at offset {offset} has an invalid layout "
            f"(Wxy={wxy}, length {len(seg) + 2})"
        )
    height = int.from_bytes(bytes(seg[2 : 2 + wxy]), "big")
    width = int.from_bytes(bytes(seg[2 + wxy : 2 + 2 * wxy]), "big")
    return height, width


def _finish_jpeg(
    buf: memoryview, seg: memoryview, start: int, end: int, head: _Header
) -> JpegInfo:
    """Build the JpegInfo once the first SOS segment has been read."""
    frame = head.frame
    if frame is None:
        raise CodestreamError(f"scan (SOS) at offset {start} before any frame header")
    is_ls = frame.sof in _SOF_JPEGLS
    if head.seen_lse and not is_ls:
        raise CodestreamError(
            f"JPEG-LS LSE segment in a T.81 stream ({_jpeg_marker_name(frame.sof)})"
        )
    # Both T.81 and T.87 scan headers are Ns, Ns x 2 bytes, then 3 bytes.
    if len(seg) < 1:
        raise CodestreamError(f"empty SOS segment at offset {start}")
    ns = seg[0]
    if ns == 0 or ns > len(frame.ids) or len(seg) != 4 + 2 * ns:
        raise CodestreamError(
            f"SOS at offset {start} declares {ns} components (frame has "
            f"{len(frame.ids)}) with length {len(seg) + 2}"
        )
    for i in range(ns):
        if seg[1 + 2 * i] not in frame.ids:
            raise CodestreamError(
                f"SOS at offset {start} names component {seg[1 + 2 * i]}, which "
                f"the frame header does not declare {frame.ids}"
            )
    ss, se, ahal = seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]

    rows, columns = frame.rows, frame.columns
    if head.hierarchy is not None:
        rows, columns = head.hierarchy.rows, head.hierarchy.columns
    if is_ls and head.ls_size is not None:
        rows = head.ls_size[0] or rows
        columns = head.ls_size[1] or columns
    if rows == 0:
        # The frame header may defer the line count to a DNL after the scan.
        dnl = _find_dnl(buf, end)
        if not dnl:
            raise CodestreamError(
                "the frame header has 0 rows and no DNL segment gives the count"
            )
        rows = dnl
    if columns == 0:
        raise CodestreamError("the frame header has 0 columns")

    predictor = point_transform = near = ilv = None
    if is_ls:
        near, ilv, point_transform = ss, se, ahal & 0x0F
        if ilv > 2:
            raise CodestreamError(
                f"JPEG-LS scan at offset {start} has interleave mode {ilv} "
                "(0, 1 or 2 allowed)"
            )
        lossless = near == 0
    else:
        lossless = frame.sof in _SOF_LOSSLESS
        if lossless:
            predictor, point_transform = ss, ahal & 0x0F
            if not 1 <= predictor <= 7:
                raise CodestreamError(
                    f"lossless JPEG scan at offset {start} has predictor "
                    f"{predictor} (1..7 allowed)"
                )
    return JpegInfo(
        kind="jpegls" if is_ls else "jpeg",
        sof=frame.sof,
        lossless=lossless,
        precision=frame.precision,
        rows=rows,
        columns=columns,
        components=len(frame.ids),
        component_ids=frame.ids,
        sampling=frame.sampling,
        jfif=head.jfif,
        adobe=head.adobe,
        adobe_transform=head.adobe_transform,
        predictor=predictor,
        point_transform=point_transform,
        jpegls_near=near,
        jpegls_interleave=ilv,
        jpegls_color_transform=head.hp_transform if is_ls else None,
        hierarchical=head.hierarchy is not None,
    )
