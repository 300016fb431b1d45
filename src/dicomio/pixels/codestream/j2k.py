"""JPEG 2000 (T.800, T.801) and HTJ2K (T.814) main headers, raw or in JP2."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from ...errors import CodestreamError
from ._common import _JP2_SIGNATURE, _boxes, _buffer, _truncated, _u16, _u32

__all__ = ["J2KInfo", "parse_j2k", "j2k_cut_short"]


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


def _jp2_codestream(buf: memoryview) -> memoryview:
    """Return the contents of the first ``jp2c`` box of a JP2 file."""
    for btype, start, end, _truncated_box in _boxes(buf, "JP2"):
        if btype == b"jp2c":
            return buf[start:end]
    raise CodestreamError("JP2 file has no contiguous codestream (jp2c) box")


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
    cod, ht, has_mcc = _main_header(buf, 6 + siz["length"] - 2, n)
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


def _main_header(buf: memoryview, pos: int, n: int) -> tuple[_Cod | None, bool, bool]:
    """Walk the main header from ``pos`` to the first SOT.

    Returns the first COD, whether the stream is HTJ2K (CAP Part 15 or the HT
    code-block style) and whether Part 2 MCT / MCC / MCO segments are present.
    """
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
    return cod, ht, has_mcc


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
        # Image and tile grid (Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz).
        "grid": (xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz),
        "rows": ysiz - yosiz,
        "columns": xsiz - xosiz,
        "precisions": tuple(precisions),
        "signeds": tuple(signeds),
        "subsampling": tuple(subsampling),
    }


def j2k_cut_short(data: bytes | bytearray | memoryview) -> str | None:
    """Say how a raw J2K / HTJ2K codestream is cut short, if its tile-parts prove it.

    Walks the chain of tile-parts from the first SOT by their lengths
    (Psot, T.800 A.4.2) to what follows the last one. The codestream is cut
    short when a tile-part runs past the end of the data, or when nothing
    but zero bytes (DICOM padding) follows the last tile-part: no EOC. These
    are the cases every OpenJPEG build here refuses (2.3 in python-gdcm,
    2.5.2 in pylibjpeg-openjpeg, 2.5.4 in imagecodecs and Pillow, measured
    on single- and multi-tile streams; see docs/robustness.md).

    Parameters
    ----------
    data : bytes-like
        One frame, a raw codestream whose main header :func:`parse_j2k`
        accepted.

    Returns
    -------
    str or None
        The problem, in words; None when the stream ends with its EOC, or
        when the chain cannot tell: a JP2 file, a tile-part whose Psot is 0
        (it runs to the EOC by definition), exactly two bytes after a
        tile-part (OpenJPEG 2.5 stops there without an error), or bytes other
        than a marker after a tile-part. Never raises on malformed input: the decoders
        judge what this does not.
    """
    buf = _buffer(data)
    n = len(buf)
    if bytes(buf[:12]) == _JP2_SIGNATURE:
        return None
    pos = _first_sot(buf, n)
    if pos is None:
        return None
    count = 0
    # Each pass advances pos by Psot >= 14 bytes: bounded by n / 14.
    while pos + 2 <= n and buf[pos] == 0xFF and buf[pos + 1] == _SOT:
        if n - pos == 2:
            return None  # see below: two bytes after a tile-part end the stream
        if pos + 12 > n:
            return f"the data ends inside tile-part {count}'s SOT at offset {pos}"
        lsot, _isot, psot = struct.unpack_from(">HHI", buf, pos + 2)
        if lsot != 10 or psot == 0:
            return None
        if psot < 14:
            return None  # not a tile-part any decoder reads: let them say so
        if pos + psot > n:
            return (
                f"tile-part {count} at offset {pos} declares {psot} bytes, but "
                f"only {n - pos} remain: the codestream is cut short"
            )
        pos += psot
        count += 1
    # Exactly two bytes after a complete tile-part, whatever they are (FF D9,
    # 00 00, FF 90 ...), end the stream for OpenJPEG 2.5: it reads them as the
    # next marker, finds the data exhausted and returns what it decoded
    # (measured). Any other count of zero bytes (0, 1, 3..) it refuses.
    if count and n - pos != 2 and not any(buf[pos:]):
        return (
            f"nothing follows the last of its {count} tile-part(s) (offset {pos}): "
            "the codestream has no EOC marker, it is cut short"
        )
    return None


def _first_sot(buf: memoryview, n: int) -> int | None:
    """Offset of the first SOT marker after the main header, or None."""
    try:
        siz_length = _u16(buf, 4)
        pos = 4 + siz_length
        while pos + 4 <= n and buf[pos] == 0xFF:
            if buf[pos + 1] == _SOT:
                return pos
            if 0x30 <= buf[pos + 1] <= 0x3F:
                pos += 2
                continue
            pos += 2 + _u16(buf, pos + 2)
    except struct.error:
        return None
    return None


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
