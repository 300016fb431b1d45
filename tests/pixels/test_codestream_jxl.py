"""Tests for the JPEG XL header parser (dicomio.pixels.codestream.jxl)."""

from __future__ import annotations

import numpy as np
import pytest

from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from tests.pixels._codestream import (
    _box,
    _pack_bits,
    _rgb8,
    _rng,
    imagecodecs,
)

# ---------------------------------------------------------------------------
# JPEG XL
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        (1, 1),
        (8, 8),
        (16, 40),
        (7, 9),
        (300, 400),
        (100, 133),
        (100, 125),
        (90, 160),
        (50, 100),
        (4000, 10),
        (9000, 3),
    ],
)
@pytest.mark.parametrize("container", [False, True])
def test_jxl_sizes(shape: tuple[int, int], container: bool) -> None:
    image = _rng().integers(0, 255, shape, dtype=np.uint8)
    data = imagecodecs.jpegxl_encode(image, usecontainer=container, effort=1)
    info = cs.parse_jxl(data)
    assert (info.rows, info.columns) == shape
    assert info.container == container and not info.jpeg_reconstruction


def test_jxl_jpeg_reconstruction() -> None:
    jpeg = imagecodecs.jpeg8_encode(_rgb8())
    info = cs.parse_jxl(imagecodecs.jpegxl_encode_jpeg(jpeg))
    assert info == cs.JXLInfo(True, True, 20, 30)


def test_jxl_handmade_container_xl_box_and_brob() -> None:
    code = bytes(imagecodecs.jpegxl_encode(_rgb8()))
    signature = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
    ftyp = _box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
    plain = signature + ftyp + _box(b"jxlc", code, "xl")
    assert cs.parse_jxl(plain) == cs.JXLInfo(True, False, 20, 30)
    brob = signature + ftyp + _box(b"brob", b"jbrd" + bytes(5)) + _box(b"jxlc", code)
    assert cs.parse_jxl(brob + b"\x00").jpeg_reconstruction
    with pytest.raises(CodestreamError, match="no codestream"):
        cs.parse_jxl(signature + ftyp)


def test_jxl_orientation_swaps_axes() -> None:
    # small=1, height/8-1=1, ratio=0, width/8-1=3, all_default=0,
    # extra_fields=1, orientation-1=4 (a transpose)
    header = _pack_bits([(1, 1), (1, 5), (0, 3), (3, 5), (0, 1), (1, 1), (4, 3)])
    info = cs.parse_jxl(b"\xff\x0a" + header)
    assert (info.rows, info.columns) == (32, 16)
    upright = _pack_bits([(1, 1), (1, 5), (0, 3), (3, 5), (1, 1)])
    assert (cs.parse_jxl(b"\xff\x0a" + upright).rows) == 16


def test_jxl_large_sizes_handmade() -> None:
    # Not small: height U32 selector 3 (30 bits), ratio 7 (width = 2 * height).
    header = _pack_bits([(0, 1), (3, 2), (2**29, 30), (7, 3), (1, 1)])
    info = cs.parse_jxl(b"\xff\x0a" + header)
    assert (info.rows, info.columns) == (2**29 + 1, 2 * (2**29 + 1))
