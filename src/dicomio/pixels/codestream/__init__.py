"""Read the headers of compressed frames without decoding any pixels.

Decoders disagree about what they return and some of them abort the whole
process on malformed input, so the core looks at each frame's own header
first: its size, precision, sign, component count and the colour signals
(JFIF, Adobe APP14, component IDs, the J2K multiple-component transform).

The parsers here are pure Python and :mod:`struct`, import no codec, stop at
the first scan (JPEG SOS, J2K SOT) and never loop longer than the data is
long. Every malformed input raises :class:`dicomio.errors.CodestreamError`
with a message saying what is wrong and where.

References: ITU-T T.81 (JPEG), T.87 (JPEG-LS), T.800 / ISO 15444-1 and -2
(JPEG 2000 codestream and JP2 boxes), T.814 / ISO 15444-15 (HTJ2K),
ISO 18181-1 and -2 (JPEG XL codestream and container), DICOM PS3.5 Annex G
(RLE).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ...errors import CodestreamError

if TYPE_CHECKING:  # spec imports numpy; keep this import cheap
    from ..spec import PixelSpec

__all__ = [
    "JpegInfo",
    "J2KInfo",
    "RLEInfo",
    "JXLInfo",
    "CodestreamInfo",
    "parse_jpeg",
    "parse_j2k",
    "parse_rle",
    "parse_jxl",
    "parse",
    "validate",
    "starts_frame",
]


# ---------------------------------------------------------------------------
# Result records
# ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class J2KInfo:
    """Main header of a JPEG 2000 (Part 1, 2) or HTJ2K (Part 15) codestream.

    Attributes
    ----------
    kind : str
        ``"htj2k"`` when a CAP segment signals Part 15 or the COD
        code-block style has the HT bit (0x40), else ``"jpeg2k"``.
    jp2 : bool
        The codestream was wrapped in a JP2 file (signature box).
    rows, columns : int
        ``Ysiz - YOsiz`` and ``Xsiz - XOsiz``: the image area.
    components : int
        Csiz.
    precision : int
        Bit depth of component 0.
    signed : bool
        Signedness of component 0.
    precisions, signeds : tuple
        Bit depth and signedness of every component.
    subsampling : tuple of (int, int)
        ``(XRsiz, YRsiz)`` per component.
    mct : int
        The COD multiple-component transform byte: 0 none, 1 RCT (with the
        5-3 wavelet) or ICT (with the 9-7 wavelet), more than 1 for a Part 2
        arbitrary transform.
    reversible : bool
        True for the reversible 5-3 wavelet (transform byte 1).
    layers : int
        Number of quality layers.
    progression : int
        Progression order: 0 LRCP, 1 RLCP, 2 RPCL, 3 PCRL, 4 CPRL.
    decomposition_levels : int
        Number of wavelet decomposition levels.
    has_mcc : bool
        Part 2 MCT, MCC or MCO segments are in the main header.
    """

    kind: str
    jp2: bool
    rows: int
    columns: int
    components: int
    precision: int
    signed: bool
    precisions: tuple[int, ...]
    signeds: tuple[bool, ...]
    subsampling: tuple[tuple[int, int], ...]
    mct: int
    reversible: bool
    layers: int
    progression: int
    decomposition_levels: int
    has_mcc: bool = False


@dataclass(frozen=True)
class RLEInfo:
    """The 64-byte header of a DICOM RLE frame (PS3.5 Annex G).

    Attributes
    ----------
    segments : int
        Number of segments (1..15): one per byte of each sample.
    offsets : tuple of int
        Start offset of every segment, strictly increasing, inside the data.
    """

    segments: int
    offsets: tuple[int, ...]


@dataclass(frozen=True)
class JXLInfo:
    """Header of a JPEG XL frame (ISO 18181).

    Attributes
    ----------
    container : bool
        The frame is an ISOBMFF container (``"JXL "`` signature box), not a
        bare codestream (``FF 0A``).
    jpeg_reconstruction : bool
        The container has a ``jbrd`` box: the original JPEG can be rebuilt.
    rows, columns : int or None
        Image size from the codestream's SizeHeader, after the orientation
        in the image metadata (orientations 5-8 swap the axes). None means
        unknown; :func:`parse_jxl` decodes every SizeHeader encoding (small
        and full), so it always fills them in.
    """

    container: bool
    jpeg_reconstruction: bool
    rows: int | None
    columns: int | None


#: Whatever :func:`parse` returns for a compressed family.
CodestreamInfo = JpegInfo | J2KInfo | RLEInfo | JXLInfo


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _buffer(data: Any) -> memoryview:
    """Return a flat byte view of ``data`` without copying when possible."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"codestream data must be bytes-like, not {type(data).__name__}"
        ) from None
    if view.format == "B" and view.ndim == 1:
        return view
    try:
        return view.cast("B")
    except TypeError:  # non-contiguous: a copy is the only way to read it
        return memoryview(view.tobytes())


def _u16(buf: memoryview, pos: int) -> int:
    return int(struct.unpack_from(">H", buf, pos)[0])


def _u32(buf: memoryview, pos: int) -> int:
    return int(struct.unpack_from(">I", buf, pos)[0])


def _truncated(what: str, pos: int, size: int) -> CodestreamError:
    return CodestreamError(
        f"truncated {what} at offset {pos}: the data ends at byte {size}"
    )


# ---------------------------------------------------------------------------
# JPEG and JPEG-LS (ITU T.81, T.87)
# ---------------------------------------------------------------------------

# Every T.81 start-of-frame marker: C4 (DHT), C8 (JPG) and CC (DAC) are not.
_SOF_T81 = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOF_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# SOF55 is T.87 JPEG-LS; SOF57 is the T.870 (JPEG-LS Part 2) extension.
_SOF_JPEGLS = frozenset({0xF7, 0xF9})
_LSE = 0xF8
_SOS = 0xDA
_DHP = 0xDE

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
    frame: _Frame | None = None
    hierarchy: _Frame | None = None  # DHP: the final size of a hierarchical image
    jfif = adobe = seen_lse = False
    adobe_transform: int | None = None
    hp_transform: int | None = None
    ls_size: tuple[int, int] | None = None  # JPEG-LS oversize dimensions (LSE 4)
    pos = 2
    # Every pass moves pos forward by at least one byte: bounded by n.
    while True:
        if pos >= n:
            raise _truncated("JPEG header (no scan found)", pos, n)
        if buf[pos] != 0xFF:
            raise CodestreamError(
                f"expected a JPEG marker at offset {pos}, found byte 0x{buf[pos]:02X}"
            )
        start = pos
        # Any number of 0xFF fill bytes may precede a marker (T.81 B.1.1.2).
        pos = _skip_fill(buf, pos)
        if pos >= n:
            raise _truncated("JPEG marker", start, n)
        code = buf[pos]
        pos += 1
        name = _jpeg_marker_name(code)
        if code == 0x00:
            raise CodestreamError(
                f"stuffed byte FF 00 at offset {start} outside entropy-coded data"
            )
        if code == 0x01 or 0xD0 <= code <= 0xD7:
            continue  # TEM / RSTn carry no length; libjpeg ignores them here
        if code == 0xD8:
            raise CodestreamError(f"second SOI marker at offset {start}")
        if code == 0xD9:
            raise CodestreamError(
                f"EOI at offset {start} before any scan: the frame holds no image"
            )
        if 0x02 <= code <= 0xBF:
            raise CodestreamError(
                f"reserved JPEG marker FF {code:02X} at offset {start}"
            )
        if pos + 2 > n:
            raise _truncated(f"{name} segment length", pos, n)
        length = _u16(buf, pos)
        if length < 2:
            raise CodestreamError(
                f"{name} segment at offset {start} has an impossible length {length}"
            )
        end = pos + length
        if end > n:
            raise CodestreamError(
                f"truncated {name} segment at offset {start}: it declares "
                f"{length} bytes but only {n - pos} remain"
            )
        seg = buf[pos + 2 : end]

        if code in _SOF_T81 or code in _SOF_JPEGLS:
            if frame is not None:
                raise CodestreamError(
                    f"second frame header {name} at offset {start} before any scan"
                )
            frame = _parse_frame_header(seg, code, start)
        elif code == _DHP:
            hierarchy = _parse_frame_header(seg, code, start)
        elif code == 0xE0:
            jfif = jfif or bytes(seg[:5]) == b"JFIF\x00"
        elif code == 0xEE:
            if bytes(seg[:5]) == b"Adobe":
                adobe = True
                # "Adobe", version (2), flags0 (2), flags1 (2), transform (1).
                if len(seg) >= 12:
                    adobe_transform = seg[11]
        elif code == 0xE8:
            # HP's JPEG-LS colour transform (CharLS writes it): "mrfx" + id.
            if bytes(seg[:4]) == b"mrfx" and len(seg) >= 5:
                hp_transform = seg[4]
        elif code == _LSE:
            seen_lse = True
            if len(seg) < 1:
                raise CodestreamError(f"empty LSE segment at offset {start}")
            if seg[0] == 4:
                ls_size = _parse_lse_size(seg, start)
        elif code == _SOS:
            return _finish_jpeg(
                buf,
                seg,
                start,
                end,
                frame,
                hierarchy,
                jfif,
                adobe,
                adobe_transform,
                hp_transform,
                seen_lse,
                ls_size,
            )
        # DQT, DHT, DAC, DRI, COM, EXP, other APPn and JPGn: nothing we need.
        pos = end


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
    buf: memoryview,
    seg: memoryview,
    start: int,
    end: int,
    frame: _Frame | None,
    hierarchy: _Frame | None,
    jfif: bool,
    adobe: bool,
    adobe_transform: int | None,
    hp_transform: int | None,
    seen_lse: bool,
    ls_size: tuple[int, int] | None,
) -> JpegInfo:
    """Build the JpegInfo once the first SOS segment has been read."""
    if frame is None:
        raise CodestreamError(f"scan (SOS) at offset {start} before any frame header")
    is_ls = frame.sof in _SOF_JPEGLS
    if seen_lse and not is_ls:
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
    if hierarchy is not None:
        rows, columns = hierarchy.rows, hierarchy.columns
    if is_ls and ls_size is not None:
        rows = ls_size[0] or rows
        columns = ls_size[1] or columns
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
        jfif=jfif,
        adobe=adobe,
        adobe_transform=adobe_transform,
        predictor=predictor,
        point_transform=point_transform,
        jpegls_near=near,
        jpegls_interleave=ilv,
        jpegls_color_transform=hp_transform if is_ls else None,
    )


# ---------------------------------------------------------------------------
# ISOBMFF boxes (JP2 and the JPEG XL container)
# ---------------------------------------------------------------------------

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_JXL_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def _boxes(buf: memoryview, what: str) -> Iterator[tuple[bytes, int, int, bool]]:
    """Yield ``(type, content_start, content_end, truncated)`` per top-level box.

    A box whose declared length runs past the data is yielded clipped with
    ``truncated`` True so the caller decides whether that matters (a cut
    codestream box can still hold a whole main header). Up to 7 trailing
    zero bytes are accepted: DICOM pads fragments to an even length.
    """
    n = len(buf)
    pos = 0
    # Each box is at least 8 bytes long, so this loop runs at most n / 8 times.
    while pos < n:
        if n - pos < 8:
            if not any(buf[pos:]):
                return
            raise _truncated(f"{what} box header", pos, n)
        size = _u32(buf, pos)
        btype = bytes(buf[pos + 4 : pos + 8])
        header = 8
        if size == 1:  # 64-bit XLBox follows the type
            if n - pos < 16:
                raise _truncated(f"{what} box {btype!r} extended length", pos, n)
            size = int(struct.unpack_from(">Q", buf, pos + 8)[0])
            header = 16
        elif size == 0:  # the box runs to the end of the data
            size = n - pos
        if size < header:
            raise CodestreamError(
                f"{what} box {btype!r} at offset {pos} has an impossible length {size}"
            )
        end = pos + size
        truncated = end > n
        yield btype, pos + header, min(end, n), truncated
        if truncated:
            return
        pos = end


def _jp2_codestream(buf: memoryview) -> memoryview:
    """Return the contents of the first ``jp2c`` box of a JP2 file."""
    for btype, start, end, _truncated_box in _boxes(buf, "JP2"):
        if btype == b"jp2c":
            return buf[start:end]
    raise CodestreamError("JP2 file has no contiguous codestream (jp2c) box")


# ---------------------------------------------------------------------------
# JPEG 2000 and HTJ2K (T.800, T.801, T.814)
# ---------------------------------------------------------------------------

_SOC, _SIZ, _CAP, _COD, _SOT, _SOD, _EOC = 0x4F, 0x51, 0x50, 0x52, 0x90, 0x93, 0xD9
_PART2_MCT = frozenset({0x74, 0x75, 0x77})  # MCT, MCC, MCO
_HT_BLOCK_STYLE = 0x40
_PCAP_PART15 = 1 << (32 - 15)  # Pcap bit i (MSB = 1) flags Part i


def parse_j2k(data: bytes | bytearray | memoryview) -> J2KInfo:
    """Parse a JPEG 2000 / HTJ2K main header (raw codestream or JP2 file).

    Parameters
    ----------
    data : bytes-like
        One frame: a codestream starting with SOC SIZ (``FF 4F FF 51``) or
        a JP2 file starting with its signature box.

    Returns
    -------
    J2KInfo

    Raises
    ------
    dicomio.errors.CodestreamError
        When the main header is truncated or malformed: no SOC/SIZ, SIZ
        length inconsistent with Csiz, zero or negative image area, zero
        tile size or sub-sampling, no COD before the first tile-part, ...
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    jp2 = bytes(buf[:12]) == _JP2_SIGNATURE
    if jp2:
        buf = _jp2_codestream(buf)
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != _SOC:
        raise CodestreamError(
            "not a JPEG 2000 codestream: it does not start with SOC FF 4F "
            f"(first bytes {bytes(buf[:4]).hex(' ') or 'none'})"
        )
    if buf[2] != 0xFF or buf[3] != _SIZ:
        raise CodestreamError("JPEG 2000 SOC is not followed by the SIZ segment")
    siz = _parse_siz(buf, n)
    pos = 6 + siz["length"] - 2

    cod: _Cod | None = None
    ht = has_mcc = False
    # Each pass advances pos by at least 2 bytes: bounded by n.
    while True:
        if pos + 2 > n:
            raise _truncated("JPEG 2000 main header (no tile-part found)", pos, n)
        if buf[pos] != 0xFF:
            raise CodestreamError(
                f"expected a JPEG 2000 marker at offset {pos}, found byte "
                f"0x{buf[pos]:02X}"
            )
        code = buf[pos + 1]
        if code == _SOT:
            break
        if code in (_SOC, _SIZ):
            raise CodestreamError(f"repeated marker FF {code:02X} at offset {pos}")
        if code in (_SOD, _EOC):
            raise CodestreamError(
                f"marker FF {code:02X} at offset {pos} before any tile-part (SOT)"
            )
        if 0x30 <= code <= 0x3F:  # reserved markers without a segment
            pos += 2
            continue
        if code < 0x30:
            raise CodestreamError(
                f"invalid JPEG 2000 marker FF {code:02X} at offset {pos}"
            )
        if pos + 4 > n:
            raise _truncated(f"marker FF {code:02X} segment length", pos + 2, n)
        length = _u16(buf, pos + 2)
        if length < 2:
            raise CodestreamError(
                f"marker FF {code:02X} at offset {pos} has an impossible length "
                f"{length}"
            )
        end = pos + 2 + length
        if end > n:
            raise CodestreamError(
                f"truncated marker segment FF {code:02X} at offset {pos}: it "
                f"declares {length} bytes but only {n - pos - 2} remain"
            )
        seg = buf[pos + 4 : end]
        if code == _COD:
            if cod is None:  # only one COD is allowed; keep the first
                cod = _parse_cod(seg, pos)
                ht = ht or bool(cod.style & _HT_BLOCK_STYLE)
        elif code == _CAP:
            if len(seg) < 4:
                raise CodestreamError(f"CAP segment at offset {pos} is too short")
            ht = ht or bool(_u32(seg, 0) & _PCAP_PART15)
        elif code in _PART2_MCT:
            has_mcc = True
        # COC, QCD, QCC, RGN, POC, PPM, TLM, PLM, CRG, COM, ...: not needed.
        pos = end

    if cod is None:
        raise CodestreamError("JPEG 2000 main header has no COD segment")
    return J2KInfo(
        kind="htj2k" if ht else "jpeg2k",
        jp2=jp2,
        rows=siz["rows"],
        columns=siz["columns"],
        components=len(siz["precisions"]),
        precision=siz["precisions"][0],
        signed=siz["signeds"][0],
        precisions=siz["precisions"],
        signeds=siz["signeds"],
        subsampling=siz["subsampling"],
        mct=cod.mct,
        reversible=cod.transform == 1,
        layers=cod.layers,
        progression=cod.progression,
        decomposition_levels=cod.levels,
        has_mcc=has_mcc,
    )


def _parse_siz(buf: memoryview, n: int) -> dict[str, Any]:
    """Parse the SIZ segment that starts at offset 2 (T.800 A.5.1)."""
    if n < 6:
        raise _truncated("SIZ segment length", 4, n)
    length = _u16(buf, 4)
    if length < 41:
        raise CodestreamError(f"SIZ segment has an impossible length {length}")
    if 4 + length > n:
        raise CodestreamError(
            f"truncated SIZ segment: it declares {length} bytes but only {n - 4} remain"
        )
    (_rsiz, xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz, csiz) = (
        struct.unpack_from(">H8IH", buf, 6)
    )
    if not 1 <= csiz <= 16384:
        raise CodestreamError(f"SIZ declares {csiz} components (1..16384 allowed)")
    if length != 38 + 3 * csiz:
        raise CodestreamError(
            f"SIZ declares {csiz} components, which needs a length of "
            f"{38 + 3 * csiz}, but the length is {length}"
        )
    if xsiz <= xosiz or ysiz <= yosiz:
        raise CodestreamError(
            f"SIZ image area is empty: Xsiz={xsiz} XOsiz={xosiz} "
            f"Ysiz={ysiz} YOsiz={yosiz}"
        )
    if xtsiz == 0 or ytsiz == 0:
        raise CodestreamError(f"SIZ tile size is {xtsiz}x{ytsiz}")
    # T.800 A.5.1: the first tile must overlap the image area.
    if (
        xtosiz > xosiz
        or ytosiz > yosiz
        or xtsiz + xtosiz <= xosiz
        or (ytsiz + ytosiz <= yosiz)
    ):
        raise CodestreamError(
            f"SIZ tile grid (offset {xtosiz},{ytosiz} size {xtsiz}x{ytsiz}) "
            f"does not cover the image origin ({xosiz},{yosiz})"
        )
    precisions = []
    signeds = []
    subsampling = []
    for i in range(csiz):
        ssiz, xr, yr = buf[42 + 3 * i], buf[43 + 3 * i], buf[44 + 3 * i]
        bits = (ssiz & 0x7F) + 1
        if bits > 38:
            raise CodestreamError(
                f"SIZ component {i} has bit depth {bits} (1..38 allowed)"
            )
        if xr == 0 or yr == 0:
            raise CodestreamError(f"SIZ component {i} has sub-sampling {xr}x{yr}")
        precisions.append(bits)
        signeds.append(bool(ssiz & 0x80))
        subsampling.append((xr, yr))
    return {
        "length": length,
        "rows": ysiz - yosiz,
        "columns": xsiz - xosiz,
        "precisions": tuple(precisions),
        "signeds": tuple(signeds),
        "subsampling": tuple(subsampling),
    }


class _Cod(NamedTuple):
    """The COD fields dicomio reports or needs."""

    progression: int
    layers: int
    mct: int
    levels: int
    style: int
    transform: int


def _parse_cod(seg: memoryview, offset: int) -> _Cod:
    """Parse a COD body (T.800 A.6.1): Scod, SGcod, then SPcod."""
    if len(seg) < 10:
        raise CodestreamError(
            f"COD segment at offset {offset} is {len(seg) + 2} bytes; at least "
            "12 are needed"
        )
    scod = seg[0]
    progression, layers, mct = seg[1], _u16(seg, 2), seg[4]
    # SPcod: levels, code-block width and height exponents, style, wavelet.
    levels, style, transform = seg[5], seg[8], seg[9]
    if levels > 32:
        raise CodestreamError(
            f"COD at offset {offset} has {levels} decomposition levels (0..32)"
        )
    if layers == 0:
        raise CodestreamError(f"COD at offset {offset} has 0 quality layers")
    if progression > 4:
        raise CodestreamError(
            f"COD at offset {offset} has progression order {progression} (0..4)"
        )
    # Scod bit 0: one precinct-size byte per resolution level follows.
    if scod & 1 and len(seg) < 10 + levels + 1:
        raise CodestreamError(
            f"COD at offset {offset} declares precinct sizes but is too short"
        )
    return _Cod(progression, layers, mct, levels, style, transform)


# ---------------------------------------------------------------------------
# RLE (DICOM PS3.5 Annex G)
# ---------------------------------------------------------------------------


def parse_rle(data: bytes | bytearray | memoryview) -> RLEInfo:
    """Parse the 64-byte header of a DICOM RLE frame.

    Parameters
    ----------
    data : bytes-like
        One frame, starting with its RLE header.

    Returns
    -------
    RLEInfo

    Raises
    ------
    dicomio.errors.CodestreamError
        When the header is shorter than 64 bytes, declares 0 or more than 15
        segments, or its offsets are not increasing inside the data (the
        first one must be 64).
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    n = len(buf)
    if n < 64:
        raise _truncated("RLE header", 0, n)
    words = struct.unpack_from("<16I", buf, 0)
    count = words[0]
    if not 1 <= count <= 15:
        raise CodestreamError(f"RLE header declares {count} segments (1..15 allowed)")
    offsets = tuple(int(x) for x in words[1 : 1 + count])
    if offsets[0] != 64:
        raise CodestreamError(
            f"RLE segment 1 starts at offset {offsets[0]}; PS3.5 G.5 fixes it at 64"
        )
    for i in range(1, count):
        if offsets[i] <= offsets[i - 1]:
            raise CodestreamError(
                f"RLE segment offsets are not increasing: segment {i + 1} starts "
                f"at {offsets[i]}, segment {i} at {offsets[i - 1]}"
            )
    if offsets[-1] >= n:
        raise CodestreamError(
            f"RLE segment {count} starts at offset {offsets[-1]}, past the end "
            f"of the {n}-byte frame"
        )
    return RLEInfo(segments=count, offsets=offsets)


# ---------------------------------------------------------------------------
# JPEG XL (ISO 18181-1, -2)
# ---------------------------------------------------------------------------

# SizeHeader ratio codes 1..7 (18181-1 Table D.3): width = height * num / den.
_JXL_RATIOS = {
    1: (1, 1),
    2: (12, 10),
    3: (4, 3),
    4: (3, 2),
    5: (16, 9),
    6: (5, 4),
    7: (2, 1),
}
_JXL_U32_BITS = (9, 13, 18, 30)  # U32(BitsOffset(9,1), (13,1), (18,1), (30,1))


class _Bits:
    """Least-significant-bit-first reader, as JPEG XL defines it."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.size = 8 * len(data)
        self.pos = 0

    def read(self, count: int) -> int:
        if self.pos + count > self.size:
            raise CodestreamError(
                "truncated JPEG XL codestream: the SizeHeader needs more bits "
                f"than the {self.size // 8} byte(s) available"
            )
        out = (self.value >> self.pos) & ((1 << count) - 1)
        self.pos += count
        return out

    def size_u32(self) -> int:
        return self.read(_JXL_U32_BITS[self.read(2)]) + 1


def _jxl_size(code: bytes) -> tuple[int, int]:
    """Decode ``(rows, columns)`` from a bare codestream's first bytes."""
    if len(code) < 2 or code[:2] != b"\xff\x0a":
        raise CodestreamError(
            "not a JPEG XL codestream: it does not start with FF 0A "
            f"(first bytes {code[:4].hex(' ') or 'none'})"
        )
    # SizeHeader plus the start of ImageMetadata take at most 73 bits.
    bits = _Bits(code[2:12])
    small = bits.read(1)
    rows = (bits.read(5) + 1) * 8 if small else bits.size_u32()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        columns = rows * num // den
    else:
        columns = (bits.read(5) + 1) * 8 if small else bits.size_u32()
    # ImageMetadata: all_default, extra_fields, then orientation - 1 (3 bits).
    # Decoders apply orientations 5..8 by transposing, so the array's shape
    # swaps; reading it costs at most 5 more bits.
    if bits.pos + 5 <= bits.size and not bits.read(1) and bits.read(1):
        if bits.read(3) + 1 >= 5:
            rows, columns = columns, rows
    return rows, columns


def parse_jxl(data: bytes | bytearray | memoryview) -> JXLInfo:
    """Parse a JPEG XL frame: bare codestream or ISOBMFF container.

    Parameters
    ----------
    data : bytes-like
        One frame, starting with ``FF 0A`` or the ``"JXL "`` signature box.

    Returns
    -------
    JXLInfo

    Raises
    ------
    dicomio.errors.CodestreamError
        When neither signature is present, a box is malformed or the
        SizeHeader is truncated.
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    if bytes(buf[:2]) == b"\xff\x0a":
        rows, columns = _jxl_size(bytes(buf[:12]))
        return JXLInfo(False, False, rows, columns)
    if bytes(buf[:12]) != _JXL_SIGNATURE:
        raise CodestreamError(
            "not JPEG XL: no FF 0A codestream signature and no JXL container "
            f"signature box (first bytes {bytes(buf[:4]).hex(' ') or 'none'})"
        )
    jbrd = False
    head = b""  # the first bytes of the codestream, enough for its SizeHeader
    found = last = False
    # Walk every box: libjxl writes jbrd after the first jxlp part, so the
    # codestream box alone does not tell whether reconstruction data exists.
    for btype, start, end, _cut in _boxes(buf, "JPEG XL"):
        if btype == b"jbrd":
            jbrd = True
        elif btype == b"brob" and bytes(buf[start : start + 4]) == b"jbrd":
            jbrd = True  # a Brotli-compressed box names its inner type first
        elif btype == b"jxlc" and not found:
            found = last = True
            head = bytes(buf[start : min(end, start + 12)])
        elif btype == b"jxlp" and not last:
            # Partial codestream boxes start with a 4-byte index whose high
            # bit marks the last part; keep only what the header needs.
            if end - start < 4:
                raise CodestreamError("JPEG XL jxlp box is shorter than its index")
            found = True
            last = bool(_u32(buf, start) & 0x80000000)
            want = 12 - len(head)
            if want > 0:
                head += bytes(buf[start + 4 : min(end, start + 4 + want)])
    if not found:
        raise CodestreamError("JPEG XL container has no codestream (jxlc/jxlp) box")
    rows, columns = _jxl_size(head)
    return JXLInfo(True, jbrd, rows, columns)


# ---------------------------------------------------------------------------
# Dispatch, validation, frame splitting
# ---------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[Any], CodestreamInfo]] = {
    "jpeg": parse_jpeg,
    "jpegls": parse_jpeg,
    "jpeg2k": parse_j2k,
    "htj2k": parse_j2k,
    "rle": parse_rle,
    "jpegxl": parse_jxl,
}
_NO_HEADER = frozenset({"native", "deflate", "video"})


def parse(data: bytes | bytearray | memoryview, family: str) -> CodestreamInfo | None:
    """Parse one frame's header according to its Transfer Syntax family.

    Parameters
    ----------
    data : bytes-like
        One frame's bytes.
    family : str
        :attr:`dicomio.tsyntax.TransferSyntax.family`.

    Returns
    -------
    JpegInfo, J2KInfo, RLEInfo, JXLInfo or None
        None for families without a parsed header (native, deflate, video).

    Raises
    ------
    dicomio.errors.CodestreamError
        When the header is malformed, or ``family`` is unknown.
    """
    if family in _NO_HEADER:
        return None
    parser = _PARSERS.get(family)
    if parser is None:
        raise CodestreamError(f"unknown codec family {family!r}")
    return parser(data)


def validate(info: CodestreamInfo | None, spec: PixelSpec) -> list[str]:
    """List the ways a frame's header contradicts the DICOM header.

    Only contradictions that make decoding fail or return garbage or an
    array of the wrong size are reported. Precision below or above Bits
    Stored and signedness differences are not: the core corrects those.

    Parameters
    ----------
    info : JpegInfo, J2KInfo, RLEInfo, JXLInfo or None
        What :func:`parse` returned.
    spec : dicomio.pixels.spec.PixelSpec
        What the DICOM header says.

    Returns
    -------
    list of str
        Plain-English problems; empty when the two agree.
    """
    problems: list[str] = []
    if info is None:
        return problems
    if isinstance(info, (JpegInfo, J2KInfo, JXLInfo)):
        if info.rows is not None and info.rows != spec.rows:
            problems.append(
                f"the codestream has {info.rows} rows but the header says "
                f"Rows = {spec.rows}"
            )
        if info.columns is not None and info.columns != spec.columns:
            problems.append(
                f"the codestream has {info.columns} columns but the header says "
                f"Columns = {spec.columns}"
            )
    if isinstance(info, (JpegInfo, J2KInfo)):
        if info.components != spec.samples_per_pixel:
            problems.append(
                f"the codestream has {info.components} component(s) but the "
                f"header says Samples per Pixel = {spec.samples_per_pixel}"
            )
        precision = (
            max(info.precisions) if isinstance(info, J2KInfo) else info.precision
        )
        if precision > spec.bits_allocated:
            problems.append(
                f"the codestream has {precision}-bit samples, more than Bits "
                f"Allocated = {spec.bits_allocated}"
            )
    if isinstance(info, RLEInfo):
        per_sample = max(1, (spec.bits_allocated + 7) // 8)
        expected = spec.samples_per_pixel * per_sample
        if info.segments != expected:
            problems.append(
                f"the RLE frame has {info.segments} segment(s) but Samples per "
                f"Pixel = {spec.samples_per_pixel} and Bits Allocated = "
                f"{spec.bits_allocated} need {expected}"
            )
    return problems


def starts_frame(data: bytes | bytearray | memoryview, family: str) -> bool:
    """True when ``data`` begins a new codestream of ``family``.

    Used to group fragments into frames when there is no offset table: a
    fragment that starts a codestream starts a frame.

    Parameters
    ----------
    data : bytes-like
        A fragment (only its first 12 bytes are looked at).
    family : str
        :attr:`dicomio.tsyntax.TransferSyntax.family`.

    Returns
    -------
    bool
        False for families without a recognisable signature (RLE, ...).
    """
    head = bytes(_buffer(data)[:12])
    if family in ("jpeg", "jpegls"):
        # SOI and the next marker's FF: an FF D8 inside entropy-coded data
        # is impossible, and requiring the third byte guards APP payloads.
        return head[:3] == b"\xff\xd8\xff"
    if family in ("jpeg2k", "htj2k"):
        return head[:4] == b"\xff\x4f\xff\x51" or head == _JP2_SIGNATURE
    if family == "jpegxl":
        return head[:2] == b"\xff\x0a" or head == _JXL_SIGNATURE
    return False
