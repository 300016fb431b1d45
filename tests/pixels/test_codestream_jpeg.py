"""Tests for the JPEG and JPEG-LS header parser (dicomio.pixels.codestream.jpeg)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from tests.pixels._codestream import (
    _frame,
    _jpeg_segments,
    _rgb8,
    _rng,
    _segment,
    imagecodecs,
)

# Known facts of particular real files

JPEG_FACTS: list[tuple[str, dict[str, Any]]] = [
    (
        "JPEG-lossy.dcm",
        dict(
            kind="jpeg",
            sof=0xC1,
            precision=12,
            rows=1024,
            columns=256,
            components=1,
            lossless=False,
            jfif=False,
            adobe=False,
        ),
    ),
    ("JPGExtended.dcm", dict(sof=0xC1, precision=12, predictor=None)),
    # No JFIF and no Adobe marker, component IDs 0,1,2: libjpeg guesses YCbCr
    # although the file says RGB.
    (
        "SC_jpeg_no_color_transform.dcm",
        dict(
            jfif=False,
            adobe=False,
            adobe_transform=None,
            component_ids=(0, 1, 2),
            subsampled=False,
            rgb_component_ids=False,
        ),
    ),
    ("SC_jpeg_no_color_transform_2.dcm", dict(adobe=True, adobe_transform=0)),
    ("SC_rgb_jpeg_app14_dcmd.dcm", dict(jfif=False, adobe=True, adobe_transform=0)),
    # A 10-byte APP14 without the transform byte (libjpeg ignores it).
    ("SC_rgb_jpeg.dcm", dict(adobe=True, adobe_transform=None)),
    (
        "SC_rgb_dcmtk_+eb+cr.dcm",
        dict(rgb_component_ids=True, adobe_transform=0, jfif=False),
    ),
    (
        "SC_rgb_dcmtk_+eb+cy+np.dcm",
        dict(jfif=True, subsampled=True, sampling=((2, 2), (1, 1), (1, 1))),
    ),
    (
        "SC_rgb_dcmtk_+eb+cy+s2.dcm",
        dict(subsampled=True, sampling=((2, 1), (1, 1), (1, 1))),
    ),
    ("SC_rgb_jpeg_dcmtk.dcm", dict(jfif=True, subsampled=False)),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", dict(jfif=False, adobe=False, subsampled=True)),
    (
        "SC_rgb_jpeg_gdcm.dcm",
        dict(
            sof=0xC3,
            lossless=True,
            predictor=1,
            point_transform=0,
            rgb_component_ids=True,
            adobe_transform=0,
        ),
    ),
    ("SC_rgb_small_odd_jpeg.dcm", dict(rows=3, columns=3, jfif=True)),
    (
        "JPEGLSNearLossless_08.dcm",
        dict(
            kind="jpegls",
            sof=0xF7,
            lossless=False,
            precision=8,
            rows=45,
            columns=10,
            jpegls_near=2,
            jpegls_interleave=0,
            predictor=None,
            jpegls_color_transform=None,
        ),
    ),
    ("JPEGLSNearLossless_16.dcm", dict(kind="jpegls", precision=16, jpegls_near=2)),
    (
        "MR_small_jpeg_ls_lossless.dcm",
        dict(kind="jpegls", lossless=True, jpegls_near=0, precision=16),
    ),
    ("SC_rgb_jls_lossy_line.dcm", dict(components=3, jpegls_interleave=1)),
    ("SC_rgb_jls_lossy_sample.dcm", dict(components=3, jpegls_interleave=2)),
    (
        "color3d_jpeg_baseline.dcm",
        dict(
            jfif=False, adobe=False, subsampled=True, sampling=((2, 1), (1, 1), (1, 1))
        ),
    ),
    (
        "JPGLosslessP14SV1_1s_1f_8b.dcm",
        dict(sof=0xC3, lossless=True, predictor=1, precision=8, rows=768, columns=1024),
    ),
    ("JPEG-LL.dcm", dict(sof=0xC3, precision=16, predictor=1)),
    # BitsStored 12 but the stream is coded with 16-bit precision.
    ("emri_small_jpeg_ls_lossless.dcm", dict(kind="jpegls", precision=16)),
]


@pytest.mark.parametrize("name, facts", JPEG_FACTS, ids=[n for n, _ in JPEG_FACTS])
def test_jpeg_facts(name: str, facts: dict[str, Any]) -> None:
    info = cs.parse_jpeg(_frame(name))
    assert isinstance(info, cs.JpegInfo)
    for key, value in facts.items():
        assert getattr(info, key) == value, key


# ---------------------------------------------------------------------------
# JPEG and JPEG-LS streams made with imagecodecs or edited real headers
# ---------------------------------------------------------------------------


def test_jpeg8_generated() -> None:
    info = cs.parse_jpeg(imagecodecs.jpeg8_encode(_rgb8()))
    assert (info.kind, info.sof, info.jfif, info.components) == ("jpeg", 0xC0, True, 3)
    assert info.subsampled


@pytest.mark.parametrize("predictor", [1, 5, 7])
def test_lossless_jpeg_predictor(predictor: int) -> None:
    gray = _rng().integers(0, 4000, (20, 30), dtype=np.uint16)
    data = imagecodecs.jpeg8_encode(
        gray, lossless=True, predictor=predictor, bitspersample=12
    )
    info = cs.parse_jpeg(data)
    assert (info.sof, info.lossless, info.precision) == (0xC3, True, 12)
    assert (info.predictor, info.point_transform) == (predictor, 0)


def test_jpegls_generated() -> None:
    info = cs.parse_jpeg(imagecodecs.jpegls_encode(_rgb8()))
    assert (info.kind, info.lossless, info.jpegls_near) == ("jpegls", True, 0)
    near = cs.parse_jpeg(imagecodecs.jpegls_encode(_rgb8(), level=3))
    assert (near.lossless, near.jpegls_near) == (False, 3)


def test_jpegls_hp_colour_transform() -> None:
    data = bytes(imagecodecs.jpegls_encode(_rgb8()))
    app8 = b"\xff\xe8\x00\x07mrfx\x01"
    info = cs.parse_jpeg(data[:2] + app8 + data[2:])
    assert info.jpegls_color_transform == 1


def test_jpegls_oversize_lse() -> None:
    data = bytearray(imagecodecs.jpegls_encode(_rgb8()))
    sof, size = _segment(_jpeg_segments(bytes(data)), 0xF7)
    data[sof + 5 : sof + 9] = bytes(4)  # Y = X = 0 in SOF55
    # LSE id 4, Wxy = 3: a 3-byte height and width follow (T.87 C.2.4.1.4).
    lse = b"\xff\xf8\x00\x0a\x04\x03" + (70000).to_bytes(3, "big")
    lse += (30).to_bytes(3, "big")
    edited = bytes(data[: sof + size] + lse + data[sof + size :])
    info = cs.parse_jpeg(edited)
    assert (info.rows, info.columns, info.kind) == (70000, 30, "jpegls")
    bad = edited.replace(b"\x0a\x04\x03", b"\x0a\x04\x05")
    with pytest.raises(CodestreamError, match="LSE"):
        cs.parse_jpeg(bad)


def test_jpegls_without_oversize_lse_has_zero_size() -> None:
    data = bytearray(imagecodecs.jpegls_encode(_rgb8()))
    sof, _ = _segment(_jpeg_segments(bytes(data)), 0xF7)
    data[sof + 7 : sof + 9] = bytes(2)  # X = 0
    with pytest.raises(CodestreamError, match="0 columns"):
        cs.parse_jpeg(bytes(data))


def test_jpeg_dnl_gives_rows() -> None:
    data = bytearray(imagecodecs.jpeg8_encode(_rgb8()))
    sof, _ = _segment(_jpeg_segments(bytes(data)), 0xC0)
    data[sof + 5 : sof + 7] = b"\x00\x00"  # Y = 0: the count follows the scan
    with pytest.raises(CodestreamError, match="DNL"):
        cs.parse_jpeg(bytes(data))
    assert data[-2:] == b"\xff\xd9"
    with_dnl = bytes(data[:-2]) + b"\xff\xdc\x00\x04\x00\x14\xff\xd9"
    assert cs.parse_jpeg(with_dnl).rows == 20


def test_jpeg_fill_bytes_and_extra_segments() -> None:
    data = _frame("SC_rgb_small_odd_jpeg.dcm")
    reference = cs.parse_jpeg(data)
    segments = _jpeg_segments(data)
    sof, _ = _segment(segments, 0xC0)
    extra = (
        b"\xff\xfe\x00\x07hello"  # COM
        + b"\xff\xdd\x00\x04\x00\x10"  # DRI
        + b"\xff\xff\xff"  # fill bytes before the next marker
    )
    edited = data[:sof] + extra + data[sof:]
    assert cs.parse_jpeg(edited) == reference
    assert cs.parse_jpeg(edited + b"\x00") == reference  # odd-length padding


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: b"\x00" + d[1:], "SOI"),
        (lambda d: d[:2] + b"\x12" + d[3:], "expected a JPEG marker"),
        (lambda d: d[:2] + b"\xff\x05\x00\x02" + d[2:], "reserved"),
        (lambda d: d[:2] + b"\xff\xd8" + d[2:], "second SOI"),
        (lambda d: d[:2] + b"\xff\xd9", "EOI"),
        (lambda d: d[:2] + b"\xff\xfe\x00\x01" + d[2:], "impossible length"),
        (lambda d: d[:2] + b"\xff\xfe\xff\xf0" + d[2:], "truncated COM"),
        (lambda d: d[:2] + b"\xff\x00" + d[2:], "stuffed"),
    ],
)
def test_jpeg_bad_markers(edit: Any, message: str) -> None:
    data = _frame("SC_rgb_small_odd_jpeg.dcm")
    with pytest.raises(CodestreamError, match=message):
        cs.parse_jpeg(edit(data))


@pytest.mark.parametrize(
    "field, value, message",
    [
        (4, b"\x00", "precision"),  # P = 0
        (4, b"\x11", "precision"),  # P = 17
        (7, b"\x00\x00", "0 columns"),
        (9, b"\x00", "0 components"),
        (9, b"\x04", "needs a length"),  # Nf disagrees with Lf
        (11, b"\x00", "sampling factors"),  # H = V = 0 for component 0
        (11, b"\x55", "sampling factors"),  # H = V = 5
    ],
)
def test_jpeg_bad_frame_header(field: int, value: bytes, message: str) -> None:
    data = bytearray(_frame("SC_rgb_small_odd_jpeg.dcm"))
    sof, _ = _segment(_jpeg_segments(bytes(data)), 0xC0)
    # Offsets from the marker: FF C0 Lf(2) P Y(2) X(2) Nf C1 H1V1 Tq1 ...
    data[sof + field : sof + field + len(value)] = value
    with pytest.raises(CodestreamError, match=message):
        cs.parse_jpeg(bytes(data))


def test_jpeg_scan_before_frame() -> None:
    data = _frame("SC_rgb_small_odd_jpeg.dcm")
    segments = _jpeg_segments(data)
    sof, size = _segment(segments, 0xC0)
    with pytest.raises(CodestreamError, match="before any frame header"):
        cs.parse_jpeg(data[:sof] + data[sof + size :])
