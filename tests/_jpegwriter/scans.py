"""Scan tokens of one component's DCT coefficients (T.81 Annex F and G).

Every function takes the coefficients as ``(blocks, 64)`` int arrays in
zig-zag order and returns the scan's :class:`~.entropy.Token` list: table 0
is the DC table, table 1 the AC table. ``differential`` (hierarchical
differential frames) codes DC values without prediction (T.81 J.1.2).
"""

from __future__ import annotations

import numpy as np

from .entropy import Token, category, extra_bits, raw, symbol

__all__ = ["sequential", "dc_first", "dc_refine", "ac_first", "ac_refine",
           "lossless"]

DC, AC = 0, 1
ZRL = 0xF0


def _value(table: int, value: int, run: int = 0) -> Token:
    size = category(value)
    limit = 15 if table == DC else 14
    if size > limit:
        raise ValueError(f"coefficient {value} needs category {size} > {limit}")
    return symbol(table, (run << 4) | size, extra_bits(value, size), size)


def _dc(values: np.ndarray, differential: bool) -> list[Token]:
    out, pred = [], 0
    for v in values.tolist():
        out.append(_value(DC, v - pred))
        if not differential:
            pred = v
    return out


def sequential(coef: np.ndarray, differential: bool = False) -> list[Token]:
    """A sequential scan (F.1.2): per block the DC difference, then AC runs
    with ZRL for 16 zeros and EOB after the last non-zero coefficient."""
    dc = _dc(coef[:, 0], differential)
    out: list[Token] = []
    for block, first in zip(coef.tolist(), dc, strict=True):
        out.append(first)
        run = 0
        for v in block[1:]:
            if v == 0:
                run += 1
                continue
            while run > 15:
                out.append(symbol(AC, ZRL))
                run -= 16
            out.append(_value(AC, v, run))
            run = 0
        if run:
            out.append(symbol(AC, 0x00))
    return out


def dc_first(coef: np.ndarray, al: int, differential: bool = False) -> list[Token]:
    """First DC scan of a progressive frame: DC >> Al (an arithmetic shift)."""
    return _dc(coef[:, 0] >> al, differential)


def dc_refine(coef: np.ndarray, al: int) -> list[Token]:
    """DC refinement (G.1.2.1): bit Al of every DC value, uncoded."""
    return [raw(int(v >> al) & 1, 1) for v in coef[:, 0].tolist()]


class _EobRun:
    """The end-of-band run of a progressive AC scan (G.1.2.2), with the
    refinement bits that wait for it (G.1.2.3)."""

    def __init__(self, out: list[Token]) -> None:
        self.out = out
        self.run = 0
        self.pending: list[Token] = []

    def flush(self) -> None:
        if self.run:
            n = self.run.bit_length() - 1
            self.out.append(symbol(AC, n << 4, self.run - (1 << n), n))
            self.run = 0
        self.out.extend(self.pending)
        self.pending = []

    def add(self, bits: list[Token]) -> None:
        self.run += 1
        self.pending.extend(bits)
        if self.run == 0x7FFF:
            self.flush()


def _point(coef: np.ndarray, al: int) -> np.ndarray:
    """The AC point transform: magnitude >> Al, sign kept (G.1.2.2)."""
    return np.sign(coef) * (np.abs(coef) >> al)


def ac_first(coef: np.ndarray, ss: int, se: int, al: int) -> list[Token]:
    """First scan of the AC band ``ss..se`` at point transform ``al``."""
    out: list[Token] = []
    eob = _EobRun(out)
    for block in _point(coef[:, ss:se + 1], al).tolist():
        run = 0
        for v in block:
            if v == 0:
                run += 1
                continue
            eob.flush()
            while run > 15:
                out.append(symbol(AC, ZRL))
                run -= 16
            out.append(_value(AC, v, run))
            run = 0
        if run:
            eob.add([])
    eob.flush()
    return out


def ac_refine(coef: np.ndarray, ss: int, se: int, al: int) -> list[Token]:
    """Refinement scan of the AC band ``ss..se`` for bit ``al`` (G.1.2.3).

    Coefficients that become non-zero at this bit are coded like a first
    scan (run of still-zero coefficients, size 1, a sign bit); each
    coefficient already non-zero gets one correction bit, sent after the
    next coded symbol (or after the end-of-band run that covers it).
    """
    out: list[Token] = []
    eob = _EobRun(out)
    band = coef[:, ss:se + 1]
    mags = (np.abs(band) >> al).tolist()
    signs = (band > 0).tolist()
    for mag, pos in zip(mags, signs, strict=True):
        last_new = max((k for k, m in enumerate(mag) if m == 1), default=-1)
        run, bits = 0, []
        for k, m in enumerate(mag):
            if m == 0:
                run += 1
                continue
            while run > 15 and k <= last_new:
                eob.flush()
                out.append(symbol(AC, ZRL))
                out.extend(bits)
                bits, run = [], run - 16
            if m > 1:
                bits.append(raw(m & 1, 1))
                continue
            eob.flush()
            out.append(symbol(AC, (run << 4) | 1, int(pos[k]), 1))
            out.extend(bits)
            bits, run = [], 0
        if run or bits:
            eob.add(bits)
    eob.flush()
    return out


def lossless(diffs: np.ndarray) -> list[Token]:
    """Lossless scan tokens (H.1.2.2): each difference modulo 2**16 as a
    category 0..16 (16 is 32768 alone, with no extra bits)."""
    out = []
    for d in (np.asarray(diffs, np.int64).ravel() & 0xFFFF).tolist():
        if d >= 0x8000:
            d -= 0x10000
        if d == -0x8000:
            out.append(symbol(DC, 16))
            continue
        size = category(d)
        out.append(symbol(DC, size, extra_bits(d, size), size))
    return out
