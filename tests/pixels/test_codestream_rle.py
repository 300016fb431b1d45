"""Tests for the RLE header parser (dicomio.pixels.codestream.rle)."""

from __future__ import annotations

import struct

import pytest

from dicomio.backends._base import PixelSpec
from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from dicomio.tsyntax import lookup
from tests.pixels._codestream import (
    _frame,
)

# Known facts of particular real files

RLE_FACTS = [
    ("MR_small_RLE.dcm", 2, (64, 1948)),
    ("SC_rgb_rle.dcm", 3, (64, 264, 464)),
    ("SC_rgb_rle_16bit.dcm", 6, (64, 264, 464, 664, 864, 1064)),
    ("SC_rgb_rle_32bit.dcm", 12, None),
    ("rtdose_rle.dcm", 4, (64, 84, 112, 222)),
    ("OBXXXX1A_rle.dcm", 1, (64,)),
]


@pytest.mark.parametrize("name, segments, offsets", RLE_FACTS)
def test_rle_facts(name: str, segments: int, offsets: tuple[int, ...] | None) -> None:
    info = cs.parse_rle(_frame(name))
    assert info.segments == segments
    if offsets is not None:
        assert info.offsets == offsets


# ---------------------------------------------------------------------------
# RLE
# ---------------------------------------------------------------------------


def _rle(count: int, offsets: list[int], size: int) -> bytes:
    header = struct.pack("<16I", count, *offsets, *([0] * (15 - len(offsets))))
    return header + bytes(size - 64)


@pytest.mark.parametrize(
    "count, offsets, size, message",
    [
        (0, [], 100, "0 segments"),
        (16, [64], 100, "16 segments"),
        (2, [60, 80], 100, "fixes it at 64"),
        (3, [64, 90, 90], 200, "not increasing"),
        (2, [64, 100], 100, "past the end"),
    ],
)
def test_rle_bad_headers(
    count: int, offsets: list[int], size: int, message: str
) -> None:
    with pytest.raises(CodestreamError, match=message):
        cs.parse_rle(_rle(count, offsets, size))


def test_rle_short_header() -> None:
    with pytest.raises(CodestreamError, match="RLE header"):
        cs.parse_rle(b"\x01\x00\x00\x00@\x00\x00\x00")


def test_rle_good_and_validate() -> None:
    info = cs.parse_rle(_rle(3, [64, 100, 150], 200))
    assert (info.segments, info.offsets) == (3, (64, 100, 150))
    ts = lookup("RLELossless")
    assert cs.validate(info, PixelSpec(ts, 4, 4, 3, 8, 8)) == []
    problems = cs.validate(info, PixelSpec(ts, 4, 4, 3, 16, 16))
    assert len(problems) == 1 and "need 6" in problems[0]
