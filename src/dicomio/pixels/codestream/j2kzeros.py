"""Zeroed coded data in JPEG 2000 / HTJ2K: a run of zero bytes no encoder writes.

A disk sector, a network buffer or a bad copy overwritten with zeros is the
commonest damage a J2K frame meets, and the worst: in packet data a zero
byte reads as an *empty packet* (T.800 B.10.3: the first bit of a packet
header, 0, says "no code-block contributes"), so the decoder sees a legal
stream, skips the packets that were there and returns wrong pixels without
an error. OpenJPEG 2.3 (GDCM), 2.5.2 (pylibjpeg-openjpeg) and 2.5.4
(imagecodecs, Pillow) all do so; OpenJPH (imagecodecs' reversible HTJ2K)
reports its error through a callback that imagecodecs prints and ignores.

What an encoder can legally write in a row is bounded, by the header alone:

- one zero byte per empty packet, and a tile has ``layers x (resolutions
  x precincts) x components`` packets (from SIZ, COD and COC, main and tile
  headers; a precinct is ``2**15`` wide unless COD / COC say otherwise);
- with more than one quality layer, one zero bit per code-block of a
  precinct that adds nothing to a layer: the code-blocks of the largest
  precinct, divided by 8;
- HTJ2K: its MagSgn bits are not entropy coded, and a code-block whose
  significant samples are all +1 (a smooth ramp's detail coefficients) is
  one zero bit per sample: two code-blocks' worth of bits (1,024 bytes for
  64 x 64 code-blocks; OpenJPH wrote up to 560 on ramps and stripes);
- a margin (:data:`ZERO_RUN_MARGIN`) for the few zero bytes arithmetic- and
  HT-coded data, tag trees and the end of a packet can hold (measured: 50 at
  most in the pydicom-data J2K files, 32 in imagecodecs' J2K and HTJ2K of
  flat, half-flat and smooth images).

:func:`j2k_zero_run` finds, in each tile-part's coded data (from SOD to the
end its Psot gives, or to the EOC when Psot is 0; nothing after the EOC is
looked at, so DICOM padding is fine), a run longer than that bound. It reads
the header with :mod:`struct` and the data with NumPy, sampling one byte in
``bound / 2`` first, so a 50 MB frame costs a few milliseconds. What it
cannot judge it leaves alone (None): a code-block style with arithmetic
coding bypass (raw bit-planes of data whose low bits are all 0 are zero
bytes, legally), a header it cannot read, tile-parts that do not chain.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from ._common import _JP2_SIGNATURE, _boxes, _buffer, _u16
from .j2k import _parse_siz as parse_siz

__all__ = ["j2k_zero_run", "ZERO_RUN_MARGIN"]

#: Zero bytes allowed in a row beyond what the tile's packets and
#: code-blocks explain (the measured legitimate runs are 50 bytes at most).
ZERO_RUN_MARGIN = 256

_SOC, _SIZ, _COD, _COC, _SOT, _SOD = 0x4F, 0x51, 0x52, 0x53, 0x90, 0x93
_BYPASS = 0x01  # code-block style: selective arithmetic coding bypass
_HT = 0xC0  # code-block style: HT (0x40), or HT and Part 1 mixed (0x80)
_MAX_GROUPS = 64  # candidate regions checked one by one before a full scan
# Tiles x components whose bound may be worked out (a hostile header can ask
# for 16384 components in each of thousands of tiles): past it, not judged.
_MAX_WORK = 200_000


class _Coding(NamedTuple):
    """SPcod / SPcoc: what the packet count of one component depends on."""

    levels: int
    xcb: int  # code-block width exponent
    ycb: int
    style: int
    precincts: tuple[tuple[int, int], ...] | None  # (PPx, PPy) per resolution


class _Header:
    """COD and COC found in the main header or in one tile's header."""

    def __init__(self) -> None:
        self.layers: int | None = None
        self.coding: _Coding | None = None
        self.coc: dict[int, _Coding] = {}


class _Siz(NamedTuple):
    xsiz: int
    ysiz: int
    xosiz: int
    yosiz: int
    xtsiz: int
    ytsiz: int
    xtosiz: int
    ytosiz: int
    subsampling: tuple[tuple[int, int], ...]


def j2k_zero_run(data: Any, margin: int = ZERO_RUN_MARGIN) -> str | None:
    """Say where a J2K / HTJ2K codestream holds more zero bytes in a row than it can.

    Parameters
    ----------
    data : bytes-like
        One frame: a raw codestream or a JP2 file.
    margin : int
        Zero bytes allowed beyond the tile's packets and code-blocks.

    Returns
    -------
    str or None
        The first such run, in words (its offset in ``data``, its length,
        the tile and the bound); None when there is none, or when the stream
        cannot be judged. Never raises on malformed input.
    """
    try:
        return _scan(_buffer(data), margin)
    except Exception:  # noqa: BLE001 - an odd stream is the decoders' to judge
        return None


def _scan(buf: memoryview, margin: int) -> str | None:
    import numpy as np  # numpy is loaded with dicomio; keep this package's import cheap

    base = 0
    if bytes(buf[:12]) == _JP2_SIGNATURE:
        for btype, start, box_end, _cut in _boxes(buf, "JP2"):
            if btype == b"jp2c":
                base, buf = start, buf[start:box_end]
                break
        else:
            return None
    n = len(buf)
    if n < 6 or bytes(buf[:4]) != bytes((0xFF, _SOC, 0xFF, _SIZ)):
        return None
    siz = _parse_siz(buf)
    main = _Header()
    pos = _segments(buf, 4 + _u16(buf, 4), n, main, _SOT, len(siz.subsampling))
    if pos is None or main.coding is None or main.layers is None:
        return None
    arr = np.frombuffer(buf, np.uint8)
    tiles: dict[int, _Header] = {}
    bounds: dict[int, tuple[int, int] | None] = {}
    # Each pass moves pos on by Psot >= 14 bytes: bounded by n / 14.
    while pos + 12 <= n and buf[pos] == 0xFF and buf[pos + 1] == _SOT:
        lsot, tile, psot, tpart = struct.unpack_from(">HHIB", buf, pos + 2)
        if lsot != 10:
            return None
        end = _eoc(buf) if psot == 0 else pos + psot
        if end is None or (psot and (psot < 14 or end > n)):
            return None
        hdr = tiles.setdefault(tile, _Header())
        sod = _segments(buf, pos + 12, end, hdr, _SOD, len(siz.subsampling))
        if sod is None:
            return None
        if tile not in bounds:
            if len(siz.subsampling) * (len(bounds) + 1) > _MAX_WORK:
                return None
            bounds[tile] = _tile_bound(siz, main, hdr, tile)
        found = bounds[tile]
        if found is not None:
            packets, extra = found
            limit = packets + extra + margin
            run = _zero_run_over(np, arr[sod + 2 : end], limit)
            if run is not None:
                start, length = run
                blocks = f", {extra} for its code-blocks" if extra else ""
                return (f"{length} zero bytes in a row at byte {base + sod + 2 + start} "
                        f"(tile {tile}, tile-part {tpart}), where a legal stream holds "
                        f"at most {limit} (one per packet of the tile, {packets}"
                        f"{blocks}, and {margin} to spare)")
        if psot == 0:
            break
        pos = end
    return None


def _parse_siz(buf: memoryview) -> _Siz:
    """The tile grid and sub-sampling (T.800 A.5.1); raises on nonsense."""
    siz = parse_siz(buf, len(buf))
    xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz = siz["grid"]
    return _Siz(xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz,
                siz["subsampling"])


def _segments(buf: memoryview, pos: int, end: int, hdr: _Header, stop: int,
              ncomp: int) -> int | None:
    """Walk marker segments from ``pos`` up to marker ``stop``; its offset.

    COD and COC go into ``hdr``; None when the walk leaves the markers.
    """
    # Each pass advances pos by at least 2 bytes: bounded by end.
    while pos + 2 <= end and buf[pos] == 0xFF:
        code = buf[pos + 1]
        if code == stop:
            return pos
        if 0x30 <= code <= 0x3F:  # markers without a segment
            pos += 2
            continue
        length = _u16(buf, pos + 2)
        if length < 2 or pos + 2 + length > end:
            return None
        seg = buf[pos + 4 : pos + 2 + length]
        if code == _COD and len(seg) >= 10:
            scod = seg[0]
            hdr.layers = _u16(seg, 2)
            hdr.coding = _coding(seg[5:], bool(scod & 1))
        elif code == _COC:
            wide = ncomp > 256
            comp = _u16(seg, 0) if wide else seg[0]
            rest = seg[2 if wide else 1 :]
            hdr.coc[comp] = _coding(rest[1:], bool(rest[0] & 1))
        pos += 2 + length
    return None


def _coding(sp: memoryview, precincts: bool) -> _Coding:
    """SPcod / SPcoc (T.800 A.6.1): levels, code-block size, style, precincts."""
    levels = sp[0]
    pp = None
    if precincts:
        if len(sp) < 5 + levels + 1:
            raise ValueError("precinct sizes missing")
        pp = tuple((sp[5 + r] & 0x0F, sp[5 + r] >> 4) for r in range(levels + 1))
    return _Coding(levels, (sp[1] & 0x0F) + 2, (sp[2] & 0x0F) + 2, sp[3], pp)


def _eoc(buf: memoryview) -> int | None:
    """Offset of the EOC that ends the data (after DICOM zero padding), or None."""
    tail = bytes(buf[-64:]).rstrip(b"\x00")
    if not tail.endswith(b"\xff\xd9"):
        return None
    return len(buf) - (len(bytes(buf[-64:])) - len(tail)) - 2


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _tile_bound(siz: _Siz, main: _Header, tile: _Header, t: int) -> tuple[int, int] | None:
    """``(packets, extra)`` of tile ``t``: its packet count, and the zero
    bytes its code-blocks can add (None when it cannot be judged)."""
    nx = _ceil(siz.xsiz - siz.xtosiz, siz.xtsiz)
    ny = _ceil(siz.ysiz - siz.ytosiz, siz.ytsiz)
    if t >= nx * ny:
        return None
    p, q = t % nx, t // nx
    tx0 = max(siz.xtosiz + p * siz.xtsiz, siz.xosiz)
    tx1 = min(siz.xtosiz + (p + 1) * siz.xtsiz, siz.xsiz)
    ty0 = max(siz.ytosiz + q * siz.ytsiz, siz.yosiz)
    ty1 = min(siz.ytosiz + (q + 1) * siz.ytsiz, siz.ysiz)
    layers = tile.layers or main.layers or 1
    precincts = blocks = ht = 0
    seen: dict[tuple[Any, ...], tuple[int, int]] = {}
    for c, (xr, yr) in enumerate(siz.subsampling):
        # T.800 A.6: tile COC, then tile COD, then main COC, then main COD.
        coding = tile.coc.get(c) or tile.coding or main.coc.get(c) or main.coding
        if coding is None or coding.style & _BYPASS:
            return None
        key = (coding, xr, yr)
        if key not in seen:
            seen[key] = _component(coding, _ceil(tx0, xr), _ceil(tx1, xr),
                                   _ceil(ty0, yr), _ceil(ty1, yr))
        count, most = seen[key]
        precincts += count
        blocks = max(blocks, most)
        if coding.style & _HT:
            # Raw MagSgn bits: one zero bit per sample, two code-blocks' worth.
            ht = max(ht, 2 * (1 << (coding.xcb + coding.ycb)) // 8)
    # A precinct's code-blocks that add nothing to a later layer: a 0 bit each.
    return layers * precincts, ht + (_ceil(blocks, 8) if layers > 1 else 0)


def _component(coding: _Coding, x0: int, x1: int, y0: int, y1: int) -> tuple[int, int]:
    """Precincts of one tile-component over its resolutions (B.6), and the
    most code-blocks one of them can hold (an upper bound)."""
    total = most = 0
    for r in range(coding.levels + 1):
        d = 1 << (coding.levels - r)
        rx0, rx1, ry0, ry1 = _ceil(x0, d), _ceil(x1, d), _ceil(y0, d), _ceil(y1, d)
        if rx1 <= rx0 or ry1 <= ry0:
            continue
        ppx, ppy = coding.precincts[r] if coding.precincts else (15, 15)
        count = ((_ceil(rx1, 1 << ppx) - (rx0 >> ppx))
                 * (_ceil(ry1, 1 << ppy) - (ry0 >> ppy)))
        total += count
        # In a sub-band a precinct is half as wide, except at resolution 0.
        bx, by, bands = (ppx, ppy, 1) if r == 0 else (max(ppx - 1, 0), max(ppy - 1, 0), 3)
        w = min(1 << bx, _ceil(rx1 - rx0, 1 if r == 0 else 2))
        h = min(1 << by, _ceil(ry1 - ry0, 1 if r == 0 else 2))
        cbx, cby = min(coding.xcb, bx), min(coding.ycb, by)
        most = max(most, bands * (_ceil(w, 1 << cbx) + 1) * (_ceil(h, 1 << cby) + 1))
    return total, most


def _zero_run_over(np: Any, a: Any, floor: int) -> tuple[int, int] | None:
    """``(start, length)`` of the longest run of zeros in ``a`` longer than ``floor``.

    A run longer than ``floor`` covers two consecutive samples taken every
    ``step = (floor + 1) // 2`` bytes, so only the regions around such pairs
    are measured byte by byte.
    """
    n = a.size
    if n <= floor:
        return None
    step = max(1, (floor + 1) // 2)
    hits = a[::step] == 0
    pairs = np.flatnonzero(hits[:-1] & hits[1:])
    if pairs.size == 0:
        return None
    cuts = np.flatnonzero(np.diff(pairs) > 1)
    firsts = np.concatenate((pairs[:1], pairs[cuts + 1]))
    lasts = np.concatenate((pairs[cuts], pairs[-1:]))
    if firsts.size > _MAX_GROUPS:
        regions = [(0, n)]
    else:
        regions = [(max(0, (int(j0) - 1) * step), min(n, (int(j1) + 2) * step + 1))
                   for j0, j1 in zip(firsts, lasts, strict=True)]
    best: tuple[int, int] | None = None
    for lo, hi in regions:
        zero = np.concatenate(([False], a[lo:hi] == 0, [False]))
        edges = np.flatnonzero(zero[1:] != zero[:-1])
        lengths = edges[1::2] - edges[::2]
        k = int(np.argmax(lengths))
        if lengths[k] > floor and (best is None or lengths[k] > best[1]):
            best = (lo + int(edges[2 * k]), int(lengths[k]))
    return best
