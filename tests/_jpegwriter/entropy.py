"""Huffman coding for the test JPEG writer: tokens, optimal tables, bits.

A scan is first turned into a list of tokens; each token is a Huffman
symbol of one table (with its extra bits) or a run of raw bits. The scan's
tables are then built from the symbol counts (T.81 Annex K.2: optimal code
lengths limited to 16 bits, no code of all 1-bits) and the tokens are
written with byte stuffing (an FF byte is followed by 00, F.1.2.3) and
1-bit padding at the end.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

__all__ = ["Token", "symbol", "raw", "category", "extra_bits", "HuffmanTable",
           "build_table", "encode_tokens", "segment"]


@dataclass(frozen=True)
class Token:
    """One item of a scan: ``table`` None means ``bits`` are written as is."""

    table: int | None
    sym: int
    bits: int
    nbits: int


def category(value: int) -> int:
    """SSSS of T.81 F.1.2.1: the number of bits of ``abs(value)``."""
    return abs(int(value)).bit_length()


def extra_bits(value: int, size: int) -> int:
    """The ``size`` extra bits of ``value``: negative values as ``value - 1``
    in one's-complement style (T.81 F.1.2.1.1)."""
    return value if value >= 0 else value + (1 << size) - 1


def symbol(table: int, sym: int, bits: int = 0, nbits: int = 0) -> Token:
    """A Huffman symbol of ``table`` followed by ``nbits`` extra bits."""
    return Token(table, sym, bits, nbits)


def raw(bits: int, nbits: int) -> Token:
    """Bits written without a Huffman code (refinement and sign bits)."""
    return Token(None, 0, bits, nbits)


@dataclass(frozen=True)
class HuffmanTable:
    """BITS and HUFFVAL of a DHT segment, and the code of every symbol."""

    bits: tuple[int, ...]  # 16 counts: codes of length 1..16
    values: tuple[int, ...]
    codes: dict[int, tuple[int, int]]  # symbol -> (code, length)

    def dht(self, cls: int, ident: int) -> bytes:
        """The body of a DHT segment defining this table (Tc, Th)."""
        return bytes([(cls << 4) | ident, *self.bits, *self.values])


def _lengths(counts: Counter[int]) -> dict[int, int]:
    """Huffman code lengths, one reserved symbol (-1) taking the longest."""
    freq = dict(counts)
    freq[-1] = 1  # the reserved code point keeps any code from being all 1s
    heap = [(f, i, [s]) for i, (s, f) in enumerate(sorted(freq.items()))]
    heapq.heapify(heap)
    length = {s: 0 for s in freq}
    order = len(heap)
    while len(heap) > 1:
        f1, _, a = heapq.heappop(heap)
        f2, _, b = heapq.heappop(heap)
        for s in a + b:
            length[s] += 1
        order += 1
        heapq.heappush(heap, (f1 + f2, order, a + b))
    return length


def _limit(length: dict[int, int]) -> list[int]:
    """Code-length counts limited to 16 bits, the reserved code removed
    (the adjustment procedure of T.81 Figure K.3)."""
    count = [0] * 64
    for n in length.values():
        count[n] += 1
    i = len(count) - 1
    while i > 16:
        while count[i] > 0:
            j = i - 2
            while count[j] == 0:
                j -= 1
            count[i] -= 2
            count[i - 1] += 1
            count[j + 1] += 2
            count[j] -= 1
        i -= 1
    while count[i] == 0:
        i -= 1
    count[i] -= 1  # the reserved code point
    return count[1:17]


def build_table(counts: Counter[int]) -> HuffmanTable:
    """An optimal table (lengths <= 16) for symbols counted in ``counts``."""
    if not counts:
        counts = Counter({0: 1})
    length = _lengths(counts)
    bits = _limit(length)
    ranked = sorted((s for s in length if s >= 0), key=lambda s: (length[s], s))
    codes: dict[int, tuple[int, int]] = {}
    code, pos = 0, 0
    for size in range(1, 17):
        for _ in range(bits[size - 1]):
            codes[ranked[pos]] = (code, size)
            code += 1
            pos += 1
        code <<= 1
    return HuffmanTable(tuple(bits), tuple(ranked), codes)


class _Bits:
    """MSB-first bit writer with byte stuffing."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, nbits: int) -> None:
        if nbits == 0:
            return
        self.acc = (self.acc << nbits) | (value & ((1 << nbits) - 1))
        self.n += nbits
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)
        self.acc &= (1 << self.n) - 1

    def finish(self) -> bytes:
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def encode_tokens(tokens: list[Token], tables: dict[int, HuffmanTable]) -> bytes:
    """The entropy-coded segment of ``tokens``."""
    w = _Bits()
    for t in tokens:
        if t.table is not None:
            code, size = tables[t.table].codes[t.sym]
            w.put(code, size)
        w.put(t.bits, t.nbits)
    return w.finish()


def segment(code: int, body: bytes) -> bytes:
    """A marker segment: FF, ``code``, length, ``body``."""
    return bytes([0xFF, code]) + (len(body) + 2).to_bytes(2, "big") + body
