"""Arithmetic coding (the QM-coder of T.81 Annex D) and its DCT models.

The coder keeps its code register C as a Python integer that never drops a
bit: a carry then runs into the bytes already "written" by itself, so none
of Annex D's byte stacking is needed; the code string is C's bits above the
spacer bits once FLUSH (D.1.8) has run. The statistical models are those of
F.1.4.4 (sequential DC and AC, the default conditioning L = 0, U = 1,
Kx = 5: no DAC segment) and G.1.3 (progressive first and refinement scans).
"""

from __future__ import annotations

import numpy as np

__all__ = ["QMCoder", "sequential", "dc_first", "dc_refine", "ac_first",
           "ac_refine"]

# T.81 Table D.2, by index: Qe, Next_Index_LPS, Next_Index_MPS, Switch_MPS.
_QE = (
    0x5A1D, 0x2586, 0x1114, 0x080B, 0x03D8, 0x01DA, 0x00E5, 0x006F, 0x0036,
    0x001A, 0x000D, 0x0006, 0x0003, 0x0001, 0x5A7F, 0x3F25, 0x2CF2, 0x207C,
    0x17B9, 0x1182, 0x0CEF, 0x09A1, 0x072F, 0x055C, 0x0406, 0x0303, 0x0240,
    0x01B1, 0x0144, 0x00F5, 0x00B7, 0x008A, 0x0068, 0x004E, 0x003B, 0x002C,
    0x5AE1, 0x484C, 0x3A0D, 0x2EF1, 0x261F, 0x1F33, 0x19A8, 0x1518, 0x1177,
    0x0E74, 0x0BFB, 0x09F8, 0x0861, 0x0706, 0x05CD, 0x04DE, 0x040F, 0x0363,
    0x02D4, 0x025C, 0x01F8, 0x01A4, 0x0160, 0x0125, 0x00F6, 0x00CB, 0x00AB,
    0x008F, 0x5B12, 0x4D04, 0x412C, 0x37D8, 0x2FE8, 0x293C, 0x2379, 0x1EDF,
    0x1AA9, 0x174E, 0x1424, 0x119C, 0x0F6B, 0x0D51, 0x0BB6, 0x0A40, 0x5832,
    0x4D1C, 0x438E, 0x3BDD, 0x34EE, 0x2EAE, 0x299A, 0x2516, 0x5570, 0x4CA9,
    0x44D9, 0x3E22, 0x3824, 0x32B4, 0x2E17, 0x56A8, 0x4F46, 0x47E5, 0x41CF,
    0x3C3D, 0x375E, 0x5231, 0x4C0F, 0x4639, 0x415E, 0x5627, 0x50E7, 0x4B85,
    0x5597, 0x504F, 0x5A10, 0x5522, 0x59EB,
)
_NLPS = (
    1, 14, 16, 18, 20, 23, 25, 28, 30, 33, 35, 9, 10, 12, 15, 36, 38, 39, 40,
    42, 43, 45, 46, 48, 49, 51, 52, 54, 56, 57, 59, 60, 62, 63, 32, 33, 37, 64,
    65, 67, 68, 69, 70, 72, 73, 74, 75, 77, 78, 79, 48, 50, 50, 51, 52, 53, 54,
    55, 56, 57, 58, 59, 61, 61, 65, 80, 81, 82, 83, 84, 86, 87, 87, 72, 72, 74,
    74, 75, 77, 77, 80, 88, 89, 90, 91, 92, 93, 86, 88, 95, 96, 97, 99, 99, 93,
    95, 101, 102, 103, 104, 99, 105, 106, 107, 103, 105, 108, 109, 110, 111,
    110, 112, 112,
)
_NMPS = tuple(list(range(1, 13)) + [13, 13] + list(range(15, 35)) + [35, 9]
              + list(range(37, 63)) + [63, 32] + list(range(65, 79)) + [79, 48]
              + list(range(81, 87)) + [87, 71] + list(range(89, 94)) + [94, 86]
              + list(range(96, 100)) + [100, 93] + [102, 103, 104, 99]
              + [106, 107, 103] + [109, 107] + [111, 109] + [111])
_SWITCH = frozenset({0, 14, 36, 64, 80, 88, 95, 105, 110, 112})
#: The fixed estimate (Qe 0x5A1D, never adapted) of sign and refinement bits.
FIXED = -1


class QMCoder:
    """The QM-coder's encoder (T.81 D.1) with adaptive contexts by key."""

    def __init__(self) -> None:
        self.a = 0x10000
        self.c = 0
        self.ct = 11
        self.nbytes = 0
        self.states: dict[object, list[int]] = {}  # key -> [index, mps]

    def encode(self, key: object, bit: int) -> None:
        """Code ``bit`` in context ``key`` (:data:`FIXED`: probability 1/2)."""
        if key == FIXED:
            state = [113, 0]
        else:
            state = self.states.setdefault(key, [0, 0])
        index, mps = state
        qe = _QE[index] if index < 113 else 0x5A1D
        self.a -= qe
        if bit == mps:
            if self.a >= 0x8000:
                return
            if self.a < qe:  # conditional exchange (D.1.4)
                self.c += self.a
                self.a = qe
            if index < 113:
                state[0] = _NMPS[index]
        else:
            if self.a >= qe:
                self.c += self.a
                self.a = qe
            if index < 113:
                if index in _SWITCH:
                    state[1] = 1 - mps
                state[0] = _NLPS[index]
        self._renormalise()

    def _renormalise(self) -> None:
        while self.a < 0x8000:
            self.a <<= 1
            self.c <<= 1
            self.ct -= 1
            if self.ct == 0:
                self.nbytes += 1
                self.ct = 8

    def flush(self) -> bytes:
        """FLUSH (D.1.8): the entropy-coded segment, FF bytes stuffed and
        trailing zero bytes dropped (decoders read zeros past the end)."""
        t = (self.c + self.a - 1) & ~0xFFFF
        if t < self.c:
            t += 0x8000
        self.c = t << (self.ct + 8)
        self.nbytes += 2
        value = self.c >> 19
        if value >> (8 * self.nbytes):
            raise AssertionError("carry out of the code string")
        raw = value.to_bytes(self.nbytes, "big").rstrip(b"\x00")
        return raw.replace(b"\xff", b"\xff\x00")


def _magnitude(qm: QMCoder, first: object, x_keys, m_base: object, v: int) -> None:
    """Figures F.8 and F.9: the magnitude category of ``v - 1``, then its bits.

    ``first`` is the context of the first decision; ``x_keys(i)`` the
    context of the i-th further one (i = 1, 2, ...); the bit pattern uses
    ``(m_base, width)`` contexts.
    """
    v -= 1
    key = first
    m = 0
    if v:
        qm.encode(key, 1)
        m, i = 1, 1
        key = x_keys(i)
        while v >> i:  # one more magnitude doubling per 1-decision
            qm.encode(key, 1)
            m <<= 1
            i += 1
            key = x_keys(i)
    qm.encode(key, 0)
    bit = m >> 1
    while bit:
        qm.encode((m_base, m), 1 if v & bit else 0)
        bit >>= 1


def _ac_magnitude(qm: QMCoder, k: int, mag: int) -> None:
    """F.1.4.4.2: first decision in SE + 2 (shared with X1), then X2 ...
    in one of two context sets split at Kx = 5."""
    band = "low" if k <= 5 else "high"
    _magnitude(qm, ("ac", k, "x1"),
               lambda i: ("ac", k, "x1") if i == 1 else ("ac", band, "x", i),
               ("ac", band, "m"), mag)


def _ac_band(qm: QMCoder, values: list[int], ss: int) -> None:
    """Sequential AC coding (F.1.4.4.2) of one band starting at ``ss``."""
    last = max((i for i, v in enumerate(values) if v), default=-1)
    k = 0
    while k <= last:
        qm.encode(("ac", ss + k, "se"), 0)  # not the end of the block
        while values[k] == 0:
            qm.encode(("ac", ss + k, "s0"), 0)
            k += 1
        v = values[k]
        qm.encode(("ac", ss + k, "s0"), 1)
        qm.encode(FIXED, int(v < 0))
        _ac_magnitude(qm, ss + k, abs(v))
        k += 1
    if k < len(values):
        qm.encode(("ac", ss + k, "se"), 1)


def sequential(coef: np.ndarray, differential: bool = False) -> bytes:
    """A sequential arithmetic scan (SOF9 / SOF13) of ``(blocks, 64)``:
    per block its DC difference, then its AC coefficients."""
    qm = QMCoder()
    state = (0, 0)
    for block in coef.tolist():
        state = _dc_one(qm, block[0], state, differential)
        _ac_band(qm, block[1:], 1)
    return qm.flush()


def _dc_one(qm: QMCoder, v: int, state: tuple[int, int], differential: bool
            ) -> tuple[int, int]:
    """One DC value of :func:`_dc_values`; returns the new (prediction,
    conditioning)."""
    pred, cond = state
    diff = v - pred
    pred = pred if differential else v
    s0 = ("dc", cond)
    if diff == 0:
        qm.encode(s0, 0)
        return pred, 0
    qm.encode(s0, 1)
    qm.encode(("dc", cond, "ss"), int(diff < 0))
    mag = abs(diff)
    _magnitude(qm, ("dc", cond, "sn" if diff < 0 else "sp"),
               lambda i: ("dc", "x", i), "dc-m", mag)
    m = 1 << ((mag - 1).bit_length() - 1) if mag > 1 else 0
    # L = 0, U = 1: "large" once the magnitude category exceeds 1.
    return pred, (3 if m > 1 else 1) + int(diff < 0)


def dc_first(coef: np.ndarray, al: int, differential: bool = False) -> bytes:
    """First DC scan (G.1.3.1): DC >> Al coded as sequential DC."""
    qm = QMCoder()
    state = (0, 0)
    for v in (coef[:, 0] >> al).tolist():
        state = _dc_one(qm, v, state, differential)
    return qm.flush()


def dc_refine(coef: np.ndarray, al: int) -> bytes:
    """DC refinement (G.1.3.1): bit Al of each DC, fixed probability."""
    qm = QMCoder()
    for v in coef[:, 0].tolist():
        qm.encode(FIXED, (v >> al) & 1)
    return qm.flush()


def ac_first(coef: np.ndarray, ss: int, se: int, al: int) -> bytes:
    """First AC scan of band ``ss..se`` (G.1.3.2): sequential coding of the
    point-transformed values (magnitude >> Al, sign kept)."""
    qm = QMCoder()
    band = np.sign(coef[:, ss:se + 1]) * (np.abs(coef[:, ss:se + 1]) >> al)
    for values in band.tolist():
        _ac_band(qm, values, ss)
    return qm.flush()


def ac_refine(coef: np.ndarray, ss: int, se: int, al: int) -> bytes:
    """AC refinement scan (G.1.3.3): for bit ``al``, an end-of-band decision
    past the previous stage's last non-zero coefficient, S0 decisions for
    zero-history coefficients, a sign for new ones and a correction bit
    (context SC) for old ones."""
    qm = QMCoder()
    band = coef[:, ss:se + 1]
    for now, before, neg in zip((np.abs(band) >> al).tolist(),
                                (np.abs(band) >> (al + 1)).tolist(),
                                (band < 0).tolist(), strict=True):
        last = max((i for i, v in enumerate(now) if v), default=-1)
        last_before = max((i for i, v in enumerate(before) if v), default=-1)
        k = 0
        while k <= last:
            if k > last_before:
                qm.encode(("ac", ss + k, "se"), 0)
            while True:
                if now[k]:
                    if before[k]:
                        qm.encode(("ac", ss + k, "x1"), now[k] & 1)
                    else:
                        qm.encode(("ac", ss + k, "s0"), 1)
                        qm.encode(FIXED, int(neg[k]))
                    break
                qm.encode(("ac", ss + k, "s0"), 0)
                k += 1
            k += 1
        if k < len(now):
            qm.encode(("ac", ss + k, "se"), 1)
    return qm.flush()


def _classify(d: int) -> int:
    """F.1.4.4.1.2 with L = 0, U = 1: 0 zero, 1 / 2 small + / -, 3 / 4
    large + / - (large: magnitude above 2)."""
    if d == 0:
        return 0
    return (1 if abs(d) <= 2 else 3) + int(d < 0)


def lossless(diffs: np.ndarray) -> bytes:
    """A lossless arithmetic scan (H.1.2.3) of 2-D differences.

    Each difference (modulo 2**16, read as -32768..32767) is coded like a
    DC difference, its first decisions conditioned on the differences
    coded to the left (Da, 0 at the start of a line) and above (Db, 0 on
    the first line): 25 context sets; the magnitude contexts form two sets,
    picked by whether Db is large.
    """
    qm = QMCoder()
    d = np.asarray(diffs, np.int64) & 0xFFFF
    d = np.where(d >= 0x8000, d - 0x10000, d).tolist()
    above = [0] * len(d[0])
    for row in d:
        left = 0
        for x, v in enumerate(row):
            cond = (_classify(left), _classify(above[x]))
            if v == 0:
                qm.encode(("ll", cond), 0)
            else:
                qm.encode(("ll", cond), 1)
                qm.encode(("ll", cond, "ss"), int(v < 0))
                big = "high" if abs(above[x]) > 2 else "low"
                _magnitude(qm, ("ll", cond, "sn" if v < 0 else "sp"),
                           lambda i, big=big: ("ll", big, "x", i),
                           ("ll", big, "m"), abs(v))
            left = above[x] = v
    return qm.flush()
