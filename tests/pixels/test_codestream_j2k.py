"""Tests for the JPEG 2000 / HTJ2K header parser (dicomio.pixels.codestream.j2k)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from tests.pixels._codestream import (
    _box,
    _frame,
    _gray16,
    _j2k_segments,
    _load,
    _rgb8,
    _rng,
    _segment,
    _spec,
    imagecodecs,
)

# Known facts of particular real files

J2K_FACTS: list[tuple[str, dict[str, Any]]] = [
    # Header: Pixel Representation 1; codestream: unsigned 13-bit.
    (
        "J2K_pixelrep_mismatch.dcm",
        dict(signed=False, precision=13, mct=0, reversible=True),
    ),
    (
        "GDCMJ2K_TextGBR.dcm",
        dict(
            jp2=True,
            components=3,
            mct=1,
            reversible=True,
            rows=400,
            columns=400,
            layers=6,
            progression=1,
        ),
    ),
    # Lossy transfer syntax, yet the reversible 5-3 wavelet, 16-bit signed
    # while Bits Stored is 14.
    ("693_J2KI.dcm", dict(reversible=True, signed=True, precision=16, layers=3)),
    ("693_J2KR.dcm", dict(signed=True, precision=14)),
    ("SC_rgb_gdcm_KY.dcm", dict(components=3, mct=0, kind="jpeg2k")),
    ("US1_J2KI.dcm", dict(mct=1, reversible=False, components=3)),
    ("US1_J2KR.dcm", dict(mct=1, reversible=True)),
    ("examples_jpeg2k.dcm", dict(mct=1, reversible=True, jp2=False)),
    ("MR2_J2KI.dcm", dict(reversible=False, precision=12, signed=False)),
    (
        "RG1_J2KR.dcm",
        dict(
            rows=1955, columns=1841, precision=15, decomposition_levels=5, has_mcc=False
        ),
    ),
    ("emri_small_jpeg_2k_lossless.dcm", dict(precision=16, signed=False)),
]


@pytest.mark.parametrize("name, facts", J2K_FACTS, ids=[n for n, _ in J2K_FACTS])
def test_j2k_facts(name: str, facts: dict[str, Any]) -> None:
    info = cs.parse_j2k(_frame(name))
    assert isinstance(info, cs.J2KInfo)
    assert info.kind == "jpeg2k"
    for key, value in facts.items():
        assert getattr(info, key) == value, key


def test_embedded_delimiter_columns_are_reported() -> None:
    ds, frames = _load("JPEG2000-embedded-sequence-delimiter.dcm")
    info = cs.parse_j2k(frames[0])
    assert info.columns == 0xDDE00100
    assert any("Columns = 256" in p for p in cs.validate(info, _spec(ds)))


# ---------------------------------------------------------------------------
# JPEG 2000 / HTJ2K streams made with imagecodecs
# ---------------------------------------------------------------------------


def test_htj2k_signed_gray() -> None:
    info = cs.parse_j2k(imagecodecs.htj2k_encode(_gray16()))
    assert (info.kind, info.signed, info.precision) == ("htj2k", True, 16)
    assert (info.rows, info.columns, info.components) == (33, 47, 1)
    assert info.reversible and info.mct == 0 and not info.jp2


def test_htj2k_rgb_has_mct() -> None:
    info = cs.parse_j2k(imagecodecs.htj2k_encode(_rgb8()))
    assert (info.kind, info.components, info.mct) == ("htj2k", 3, 1)
    assert info.signeds == (False, False, False)


def test_htj2k_detected_by_cap_or_block_style_alone() -> None:
    data = bytearray(imagecodecs.htj2k_encode(_rgb8()))
    segments = _j2k_segments(bytes(data))
    cod, _ = _segment(segments, 0x52)
    cap, cap_size = _segment(segments, 0x50)
    # COD body: Lcod(2) Scod SGcod(4) levels xcb ycb style transform.
    style_at = cod + 2 + 2 + 1 + 4 + 3
    assert data[style_at] & 0x40
    cap_only = bytearray(data)
    cap_only[style_at] &= ~0x40 & 0xFF
    assert cs.parse_j2k(bytes(cap_only)).kind == "htj2k"
    style_only = data[:cap] + data[cap + cap_size :]
    assert cs.parse_j2k(bytes(style_only)).kind == "htj2k"
    neither = cap_only[:cap] + cap_only[cap + cap_size :]
    assert cs.parse_j2k(bytes(neither)).kind == "jpeg2k"


@pytest.mark.parametrize("codecformat", ["j2k", "jp2"])
def test_jpeg2k_signed_precision(codecformat: str) -> None:
    data = imagecodecs.jpeg2k_encode(_gray16(), codecformat=codecformat)
    info = cs.parse_j2k(data)
    assert info.jp2 == (codecformat == "jp2")
    assert (info.signed, info.precision, info.kind) == (True, 16, "jpeg2k")


@pytest.mark.parametrize("mct", [True, False])
def test_jpeg2k_mct_flag(mct: bool) -> None:
    data = imagecodecs.jpeg2k_encode(_rgb8(), codecformat="jp2", mct=mct)
    info = cs.parse_j2k(data)
    assert info.mct == int(mct) and info.jp2 and info.components == 3


def test_jpeg2k_irreversible_12bit() -> None:
    gray = _rng().integers(0, 4000, (20, 30), dtype=np.uint16)
    data = imagecodecs.jpeg2k_encode(
        gray, codecformat="j2k", bitspersample=12, reversible=False
    )
    info = cs.parse_j2k(data)
    assert (info.precision, info.signed, info.reversible) == (12, False, False)


def _j2k_codestream() -> bytes:
    return bytes(imagecodecs.jpeg2k_encode(_rgb8(), codecformat="j2k"))


@pytest.mark.parametrize("mode", ["plain", "xl", "zero"])
def test_jp2_box_lengths(mode: str) -> None:
    code = _j2k_codestream()
    jp2 = (
        b"\x00\x00\x00\x0cjP  \r\n\x87\n"
        + _box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ")
        + _box(b"jp2h", _box(b"ihdr", bytes(14)))
        + _box(b"jp2c", code, mode)
    )
    info = cs.parse_j2k(jp2)
    assert info.jp2 and info == dataclasses.replace(cs.parse_j2k(code), jp2=True)
    # DICOM pads odd fragments with a zero byte.
    if mode != "zero":
        assert cs.parse_j2k(jp2 + b"\x00") == info


def test_jp2_without_codestream_box() -> None:
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + _box(b"ftyp", b"jp2 ")
    with pytest.raises(CodestreamError, match="jp2c"):
        cs.parse_j2k(jp2)


def test_j2k_cod_after_other_segments_and_part2_markers() -> None:
    code = _j2k_codestream()
    segments = _j2k_segments(code)
    siz_end = segments[0][1] + segments[0][2]
    cod, cod_size = _segment(segments, 0x52)
    sot = segments[-1][1] + segments[-1][2]
    cod_bytes = code[cod : cod + cod_size]
    others = code[siz_end:cod] + code[cod + cod_size : sot]
    mcc = b"\xff\x75\x00\x05\x00\x00\x00"  # a Part 2 MCC segment
    coc = b"\xff\x53\x00\x09\x00\x00\x05\x04\x04\x40\x01"  # COC: ignored
    moved = code[:siz_end] + others + coc + mcc + cod_bytes + code[sot:]
    info = cs.parse_j2k(moved)
    assert info.has_mcc and info.kind == "jpeg2k"
    assert dataclasses.replace(info, has_mcc=False) == cs.parse_j2k(code)


def test_j2k_without_cod_is_an_error() -> None:
    code = _j2k_codestream()
    cod, size = _segment(_j2k_segments(code), 0x52)
    with pytest.raises(CodestreamError, match="COD"):
        cs.parse_j2k(code[:cod] + code[cod + size :])


@pytest.mark.parametrize(
    "offset, value, message",
    [
        (8, b"\x00\x00\x00\x00", "image area is empty"),  # Xsiz = 0
        (40, b"\x00\x00", "components"),  # Csiz = 0
        (4, b"\x00\x10", "impossible length"),  # Lsiz too short
        (4, b"\xff\xff", "truncated SIZ"),
        (24, b"\x00\x00\x00\x00", "tile size"),  # XTsiz = 0
        (43, b"\x00", "sub-sampling"),  # XRsiz of component 0
        (42, b"\x7f", "bit depth"),  # 128-bit samples
    ],
)
def test_j2k_bad_siz(offset: int, value: bytes, message: str) -> None:
    data = bytearray(_j2k_codestream())
    data[offset : offset + len(value)] = value
    with pytest.raises(CodestreamError, match=message):
        cs.parse_j2k(bytes(data))


# ------------------------------------------------- j2k_cut_short


def _tiled_j2k() -> bytes:
    """A lossless 64 x 64 codestream of four 32 x 32 tiles (Pillow's encoder)."""
    import io

    image_mod = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    arr = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    image_mod.fromarray(arr).save(buf, "JPEG2000", tile_size=(32, 32), no_jp2=True,
                                  irreversible=False)
    return buf.getvalue()


def _sots(data: bytes) -> list[int]:
    """Offsets of the tile-parts' SOT markers, following their Psot."""
    segments = _j2k_segments(data)
    pos = segments[-1][1] + segments[-1][2]
    out = []
    while data[pos : pos + 2] == b"\xff\x90":
        out.append(pos)
        pos += int.from_bytes(data[pos + 6 : pos + 10], "big")
    return out


def test_cut_short_says_nothing_of_whole_streams():
    tiled = _tiled_j2k()
    assert len(_sots(tiled)) == 4
    assert cs.j2k_cut_short(tiled) is None
    assert cs.j2k_cut_short(tiled + b"\x00") is None  # DICOM padding after EOC
    # Two bytes in place of the EOC, whatever they are: OpenJPEG 2.5 stops
    # there without an error.
    assert cs.j2k_cut_short(tiled[:-2] + b"\x00\x00") is None
    assert cs.j2k_cut_short(tiled[: _sots(tiled)[2] + 2]) is None
    # Something else after the last tile-part: left to the decoders.
    assert cs.j2k_cut_short(tiled[:-2] + b"\xff") is None


@pytest.mark.parametrize(("cut", "match"), [
    (lambda d, s: d[: s[2] + 40], "tile-part 2 at offset .* declares"),
    (lambda d, s: d[: s[2] + 6], "the data ends inside tile-part 2's SOT"),
    (lambda d, s: d[: s[2]], "last of its 2 tile-part"),
    (lambda d, s: d[:-2], "last of its 4 tile-part.*no EOC"),
    (lambda d, s: d[:-2] + b"\x00", "no EOC"),
    (lambda d, s: d[:-2] + bytes(8), "no EOC"),
])
def test_cut_short_finds_where_a_tiled_stream_stops(cut, match):
    import re

    tiled = _tiled_j2k()
    problem = cs.j2k_cut_short(cut(tiled, _sots(tiled)))
    assert problem is not None and re.search(match, problem), problem


def test_cut_short_cannot_tell_from_a_zero_psot_or_a_jp2_file():
    tiled = bytearray(_tiled_j2k())
    last = _sots(bytes(tiled))[-1]
    tiled[last + 6 : last + 10] = bytes(4)  # Psot 0: runs to the EOC
    assert cs.j2k_cut_short(bytes(tiled[:-2])) is None
    jp2 = _box(b"jP  ", b"\r\n\x87\n") + _box(b"jp2c", bytes(tiled[:-200]))
    assert cs.j2k_cut_short(jp2) is None


def test_cut_short_never_raises_on_garbage():
    rng = _rng()
    tiled = _tiled_j2k()
    for _ in range(200):
        data = bytearray(tiled[: int(rng.integers(0, len(tiled)))])
        for pos in rng.integers(0, max(1, len(data)), 3):
            if data:
                data[int(pos)] = int(rng.integers(0, 256))
        result = cs.j2k_cut_short(bytes(data))
        assert result is None or isinstance(result, str)
