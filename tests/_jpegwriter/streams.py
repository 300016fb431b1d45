"""Whole JPEG streams for tests, one grey component, from numpy arrays.

- :func:`dct_stream`: one DCT frame from quantised coefficients, sequential
  (SOF1, any precision 8 or 12) or progressive (SOF2) after a scan script,
  so the same coefficients can be written every way and every decoder must
  return identical pixels for all of them.
- :func:`hierarchical_lossless` and :func:`hierarchical_dct`: a DHP segment,
  a half-size first frame, EXP (2 x 2) and a full-size differential frame
  (T.81 Annex J), with the upsampling filter of J.1.1.2.

Huffman tables are optimal per scan (entropy.build_table), so no table of
Annex K has to be stretched to 12-bit magnitudes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import arith, scans
from .dct import coefficients, quant_table, reconstruct
from .entropy import Token, build_table, encode_tokens, segment

__all__ = ["Scan", "SPECTRAL", "FULL", "dct_stream", "DctImage", "encode_dct",
           "upsample", "lossless_stream", "hierarchical_lossless",
           "hierarchical_dct"]

SOI, EOI = b"\xff\xd8", b"\xff\xd9"
SOF1, SOF2, SOF3, SOF5, SOF6, SOF7 = 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7
DHT, DQT, DHP, EXP, SOS = 0xC4, 0xDB, 0xDE, 0xDF, 0xDA


@dataclass(frozen=True)
class Scan:
    """One progressive scan: spectral band ``ss..se``, successive
    approximation ``ah`` (0 for a first scan) and ``al``."""

    ss: int
    se: int
    ah: int = 0
    al: int = 0


#: Spectral selection only (Processes 6 and 8): DC, then two AC bands.
SPECTRAL = (Scan(0, 0), Scan(1, 5), Scan(6, 63))
#: Full progression (Processes 10 and 12): bands at Al 2 and 1, refined to 0.
FULL = (Scan(0, 0, 0, 1), Scan(1, 5, 0, 2), Scan(6, 63, 0, 2),
        Scan(1, 63, 2, 1), Scan(0, 0, 1, 0), Scan(1, 63, 1, 0))


@dataclass(frozen=True)
class DctImage:
    """Quantised coefficients of one component and how they were made."""

    coef: np.ndarray  # (by, bx, 64), zig-zag order
    q: np.ndarray  # (8, 8) natural order
    shape: tuple[int, int]
    precision: int


def encode_dct(plane: np.ndarray, precision: int, scale_percent: int = 50,
               shift: int | None = None) -> DctImage:
    """Quantised coefficients of ``plane`` (level shift ``2**(P-1)`` unless
    ``shift`` is given: 0 for differential frames)."""
    q = quant_table(scale_percent)
    level = 1 << (precision - 1) if shift is None else shift
    coef = coefficients(plane, q, level)
    return DctImage(coef, q, tuple(plane.shape), precision)


def _frame_header(precision: int, shape: tuple[int, int], tq: int = 0) -> bytes:
    rows, cols = shape
    return (bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big")
            + bytes([1, 1, 0x11, tq]))


def _dqt(q: np.ndarray) -> bytes:
    from .dct import ZIGZAG

    return segment(DQT, bytes([0x00]) + bytes(q.ravel()[ZIGZAG].tolist()))


def _scan(tokens: list[Token], ss: int, se: int, ahal: int) -> bytes:
    """DHT segment(s) for the tokens' tables, SOS and the coded data."""
    tables = {}
    out = b""
    for table in sorted({t.table for t in tokens if t.table is not None}):
        counts = Counter(t.sym for t in tokens if t.table == table)
        tables[table] = build_table(counts)
        out += segment(DHT, tables[table].dht(table, 0))
    sos = bytes([1, 1, 0x00, ss, se, ahal])
    return out + segment(SOS, sos) + encode_tokens(tokens, tables)


def _frame_scans(img: DctImage, script: tuple[Scan, ...] | None,
                 differential: bool, arithmetic: bool) -> bytes:
    """The scans of a DCT frame: one sequential scan, or ``script``."""
    coef = img.coef.reshape(-1, 64)
    if script is None:
        if arithmetic:
            return segment(SOS, bytes([1, 1, 0, 0, 63, 0])) + arith.sequential(
                coef, differential)
        return _scan(scans.sequential(coef, differential), 0, 63, 0)
    coder = arith if arithmetic else scans
    out = b""
    for s in script:
        if s.ss == 0:
            data = (coder.dc_first(coef, s.al, differential) if s.ah == 0
                    else coder.dc_refine(coef, s.al))
        elif s.ah == 0:
            data = coder.ac_first(coef, s.ss, s.se, s.al)
        else:
            data = coder.ac_refine(coef, s.ss, s.se, s.al)
        ahal = (s.ah << 4) | s.al
        if arithmetic:
            out += segment(SOS, bytes([1, 1, 0, s.ss, s.se, ahal])) + data
        else:
            out += _scan(data, s.ss, s.se, ahal)
    return out


def _dct_frame(img: DctImage, script: tuple[Scan, ...] | None,
               differential: bool = False, arithmetic: bool = False) -> bytes:
    """DQT, the frame header and the scans. SOF1 / SOF2 (SOF5 / SOF6 when
    differential); arithmetic coding adds 8 (SOF9, SOF10, SOF13, SOF14)."""
    sof = (SOF2 if script else SOF1) + (4 if differential else 0)
    sof += 8 if arithmetic else 0
    return (_dqt(img.q) + segment(sof, _frame_header(img.precision, img.shape))
            + _frame_scans(img, script, differential, arithmetic))


def dct_stream(img: DctImage, script: tuple[Scan, ...] | None = None,
               arithmetic: bool = False) -> bytes:
    """A non-hierarchical stream: SOF1 sequential when ``script`` is None,
    else SOF2 with the scans of ``script`` (:data:`SPECTRAL`, :data:`FULL`);
    SOF9 / SOF10 with ``arithmetic`` (no DAC segment: default conditioning)."""
    return SOI + _dct_frame(img, script, arithmetic=arithmetic) + EOI


def upsample(ref: np.ndarray, shape: tuple[int, int],
             expand: tuple[int, int] = (1, 1)) -> np.ndarray:
    """T.81 J.1.1.2: double the width (``expand[1]``), then the height
    (``expand[0]``), cropping to ``shape``.

    A new sample between two reference samples is their mean rounded down
    (``(a + b) >> 1``, truncated after each direction); past the last
    reference sample it repeats it.
    """
    out = np.asarray(ref, np.int64)

    def double(a: np.ndarray, n: int) -> np.ndarray:
        nxt = np.concatenate([a[:, 1:], a[:, -1:]], axis=1)
        wide = np.empty((a.shape[0], 2 * a.shape[1]), np.int64)
        wide[:, 0::2] = a
        wide[:, 1::2] = (a + nxt) >> 1
        return wide[:, :n]

    if expand[1]:
        out = double(out, shape[1])
    if expand[0]:
        out = double(out.T, shape[0]).T
    return out


def _shrink(image: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """The mean of each ``fy`` x ``fx`` cell, rounded down (edges repeated):
    a lower level of the hierarchy (any encoder choice works; the
    differential frames carry what it misses)."""
    a = np.asarray(image, np.int64)
    a = np.pad(a, ((0, -a.shape[0] % fy), (0, -a.shape[1] % fx)), mode="edge")
    rows, cols = a.shape[0] // fy, a.shape[1] // fx
    return a.reshape(rows, fy, cols, fx).sum(axis=(1, 3)) // (fy * fx)


def _half(image: np.ndarray) -> np.ndarray:
    return _shrink(image, 2, 2)


def _predict(x: np.ndarray, predictor: int, precision: int) -> np.ndarray:
    """Lossless prediction (T.81 H.1.2.1): Ra left, Rb above, Rc above-left;
    the first row uses Ra, the first column Rb, the first sample 2**(P-1)."""
    ra = np.roll(x, 1, axis=1)
    rb = np.roll(x, 1, axis=0)
    rc = np.roll(rb, 1, axis=1)
    pred = {1: ra, 2: rb, 3: rc, 4: ra + rb - rc, 5: ra + ((rb - rc) >> 1),
            6: rb + ((ra - rc) >> 1), 7: (ra + rb) >> 1}[predictor]
    pred = pred.copy()
    pred[0, :] = ra[0, :]
    pred[:, 0] = rb[:, 0]
    pred[0, 0] = 1 << (precision - 1)
    return pred


def _lossless_frame(x: np.ndarray, precision: int, predictor: int | None,
                    arithmetic: bool = False) -> bytes:
    """SOF3 (``predictor`` 1..7) or differential SOF7 (None: Ss 0, the
    values are the differences themselves); SOF11 / SOF15 arithmetic."""
    x = np.asarray(x, np.int64)
    if predictor is None:
        sof, ss, diffs = SOF7, 0, x
    else:
        sof, ss, diffs = SOF3, predictor, x - _predict(x, predictor, precision)
    if arithmetic:
        return (segment(sof + 8, _frame_header(precision, x.shape))
                + segment(SOS, bytes([1, 1, 0, ss, 0, 0])) + arith.lossless(diffs))
    return (segment(sof, _frame_header(precision, x.shape))
            + _scan(scans.lossless(diffs), ss, 0, 0))


def lossless_stream(image: np.ndarray, precision: int, predictor: int = 1,
                    arithmetic: bool = False) -> bytes:
    """A non-hierarchical lossless stream: SOF3, or SOF11 (Process 15)."""
    return SOI + _lossless_frame(image, precision, predictor, arithmetic) + EOI


def _dhp(precision: int, shape: tuple[int, int]) -> bytes:
    return segment(DHP, _frame_header(precision, shape))


def _exp(expand: tuple[int, int]) -> bytes:
    """EXP (T.81 B.3.3): Eh in the high nibble, Ev in the low one."""
    return segment(EXP, bytes([(expand[1] << 4) | expand[0]]))


_EXP_2X2 = _exp((1, 1))


def hierarchical_lossless(image: np.ndarray, precision: int, predictor: int = 1,
                          expansions: tuple[tuple[int, int], ...] = ((1, 1),),
                          arithmetic: bool = False) -> bytes:
    """Process 28: DHP, a reduced SOF3 frame, then per expansion EXP and a
    differential SOF7 frame (Ss 0: the values are the differences).

    ``expansions`` lists ``(vertical, horizontal)`` doublings, first to
    last: ``((1, 1),)`` is one 2 x 2 step (a half-size first frame),
    ``((0, 1), (1, 0))`` doubles the width, then the height, in two frames.
    Each differential frame codes ``level - upsample(previous level)``
    modulo 2**16, so a decoder following J.1.1.2 returns ``image`` exactly.
    ``arithmetic``: SOF11 and SOF15 frames (Process 29).
    """
    image = np.asarray(image, np.int64)
    fy = 1 << sum(e[0] for e in expansions)
    fx = 1 << sum(e[1] for e in expansions)
    level = _shrink(image, fy, fx)
    out = (SOI + _dhp(precision, image.shape)
           + _lossless_frame(level, precision, predictor, arithmetic))
    for ey, ex in expansions:
        fy, fx = fy >> ey, fx >> ex
        target = _shrink(image, fy, fx)[: -(-image.shape[0] // fy),
                                        : -(-image.shape[1] // fx)]
        diff = (target - upsample(level, target.shape, (ey, ex))) & 0xFFFF
        out += _exp((ey, ex)) + _lossless_frame(diff, precision, None, arithmetic)
        level = target
    return out + EOI


def hierarchical_dct(image: np.ndarray, precision: int, *,
                     script: tuple[Scan, ...] | None = None,
                     arithmetic: bool = False,
                     scale_percent: int = 50, diff_scale_percent: int = 10
                     ) -> tuple[bytes, np.ndarray, np.ndarray]:
    """DHP, a half-size DCT frame (SOF1, or SOF2 with ``script``), EXP, a
    full-size differential DCT frame (SOF5, or SOF6 with the same script).

    Returns the stream, the ideal decoder's first frame (upsampled: what the
    differential frame refines) and the ideal decoder's final image.
    """
    image = np.asarray(image, np.int64)
    maxval = (1 << precision) - 1
    low = encode_dct(_half(image), precision, scale_percent)
    low_rec = reconstruct(low.coef, low.q, 1 << (precision - 1), low.shape, maxval)
    up = upsample(low_rec, image.shape)
    diff = encode_dct(image - up, precision, diff_scale_percent, shift=0)
    final = up + reconstruct(diff.coef, diff.q, 0, image.shape, None)
    stream = (SOI + _dhp(precision, image.shape)
              + _dct_frame(low, script, arithmetic=arithmetic) + _EXP_2X2
              + _dct_frame(diff, script, differential=True, arithmetic=arithmetic)
              + EOI)
    return stream, up, final
