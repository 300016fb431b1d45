"""Tests for dicomio.pixels.codestream: every real frame parses and agrees
with its header; hostile input (truncation, garbage, mutation); dispatch,
validation and frame splitting.

The per-codec parsers have their own files: test_codestream_jpeg.py,
test_codestream_j2k.py, test_codestream_rle.py and test_codestream_jxl.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from dicomio.backends._base import PixelSpec
from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from dicomio.tsyntax import lookup
from tests.pixels._codestream import (
    ENCAPSULATED,
    KNOWN_BAD,
    _frame,
    _jpeg_segments,
    _load,
    _rgb8,
    _rng,
    _segment,
    _spec,
    imagecodecs,
)

# ---------------------------------------------------------------------------
# Every real encapsulated frame parses and agrees with its DICOM header
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCAPSULATED)
def test_real_files_parse_and_validate(name: str) -> None:
    ds, frames = _load(name)
    spec = _spec(ds)
    family = spec.transfer_syntax.family
    for frame in frames:
        info = cs.parse(frame, family)
        problems = cs.validate(info, spec)
        expected = KNOWN_BAD.get(name, [])
        assert len(problems) == len(expected), problems
        for text, want in zip(problems, expected, strict=True):
            assert want in text
        # Every frame's first fragment starts a codestream, except RLE.
        assert cs.starts_frame(frame, family) == (family != "rle")


def test_real_files_were_found() -> None:
    # Guards against a silent empty parametrisation above.
    assert "JPEG-lossy.dcm" in ENCAPSULATED
    assert "GDCMJ2K_TextGBR.dcm" in ENCAPSULATED


# ---------------------------------------------------------------------------
# Known facts of particular real files
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Hostile input: truncation, garbage, mutation
# ---------------------------------------------------------------------------


TRUNCATION_CASES: dict[str, tuple[str, Any]] = {
    "jpeg-baseline": ("jpeg", lambda: _frame("SC_rgb_small_odd_jpeg.dcm")),
    "jpeg-lossless": ("jpeg", lambda: _frame("JPGLosslessP14SV1_1s_1f_8b.dcm")),
    "jpegls": ("jpegls", lambda: _frame("JPEGLSNearLossless_08.dcm")),
    "j2k": ("jpeg2k", lambda: _frame("MR_small_jp2klossless.dcm")),
    "jp2": ("jpeg2k", lambda: _frame("GDCMJ2K_TextGBR.dcm")),
    "htj2k": ("htj2k", lambda: bytes(imagecodecs.htj2k_encode(_rgb8()))),
    "rle": ("rle", lambda: _frame("SC_rgb_rle.dcm")),
    "jxl": ("jpegxl", lambda: bytes(imagecodecs.jpegxl_encode(_rgb8()))),
    "jxl-jbrd": (
        "jpegxl",
        lambda: bytes(
            imagecodecs.jpegxl_encode_jpeg(imagecodecs.jpeg8_encode(_rgb8()))
        ),
    ),
}


@pytest.mark.parametrize("case", list(TRUNCATION_CASES))
def test_truncation_at_every_byte(case: str) -> None:
    family, make = TRUNCATION_CASES[case]
    data = make()
    full = cs.parse(data, family)
    # Find the shortest prefix that parses: every shorter cut must raise
    # CodestreamError, every longer one must give the same answer.
    results = []
    for cut in range(min(len(data), 2000)):
        try:
            results.append(cs.parse(data[:cut], family))
        except CodestreamError as exc:
            assert str(exc)
            results.append(None)
    first = next((i for i, r in enumerate(results) if r is not None), len(results))
    assert 2 < first < len(results)
    assert all(r is None for r in results[:first])
    # A JXL container's jbrd box may come after the codestream header, so
    # short cuts legitimately lose it; every other family must be stable.
    if family != "jpegxl":
        assert all(r == full for r in results[first:])


def test_truncated_header_before_scan_raises() -> None:
    data = _frame("SC_rgb_small_odd_jpeg.dcm")
    sos, size = _segment(_jpeg_segments(data), 0xDA)
    for cut in range(sos + size):
        with pytest.raises(CodestreamError):
            cs.parse_jpeg(data[:cut])
    assert cs.parse_jpeg(data[: sos + size]) == cs.parse_jpeg(data)


FAMILIES = ["jpeg", "jpegls", "jpeg2k", "htj2k", "rle", "jpegxl"]
SIGNATURES = [
    b"",
    b"\xff\xd8",
    b"\xff\xd8\xff\xc0",
    b"\xff\xd8\xff\xf7",
    b"\xff\x4f\xff\x51",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    b"\xff\x0a",
    b"\x00\x00\x00\x0cJXL \r\n\x87\n",
    b"\x02\x00\x00\x00\x40\x00\x00\x00",
]


@pytest.mark.parametrize("family", FAMILIES)
def test_random_garbage(family: str) -> None:
    rng = _rng()
    for i in range(400):
        prefix = SIGNATURES[i % len(SIGNATURES)]
        size = int(rng.integers(0, 300))
        data = prefix + rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        try:
            info = cs.parse(data, family)
        except CodestreamError:
            continue
        assert info is not None


MUTATION_SOURCES = [
    ("jpeg", "SC_rgb_small_odd_jpeg.dcm"),
    ("jpeg", "SC_rgb_jpeg_gdcm.dcm"),
    ("jpegls", "JPEGLSNearLossless_08.dcm"),
    ("jpeg2k", "GDCMJ2K_TextGBR.dcm"),
    ("jpeg2k", "US1_J2KI.dcm"),
    ("rle", "SC_rgb_rle.dcm"),
]


@pytest.mark.parametrize("family, name", MUTATION_SOURCES)
def test_mutated_real_headers(family: str, name: str) -> None:
    rng = _rng()
    original = _frame(name)[:1500]
    for _ in range(300):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        try:
            cs.parse(bytes(data), family)
        except CodestreamError:
            pass


def test_long_fill_runs_are_fast() -> None:
    # Megabytes of fill bytes or standalone markers must not crawl or hang.
    with pytest.raises(CodestreamError, match="truncated"):
        cs.parse_jpeg(b"\xff\xd8" + b"\xff" * 4_000_000)
    with pytest.raises(CodestreamError, match="truncated"):
        cs.parse_jpeg(b"\xff\xd8" + b"\xff\xd0" * 100_000)


# ---------------------------------------------------------------------------
# Dispatch, validation, frame splitting, input types
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["native", "deflate", "video"])
def test_parse_families_without_header(family: str) -> None:
    assert cs.parse(b"anything", family) is None
    assert not cs.starts_frame(b"\xff\xd8\xff\xe0", family)


def test_parse_unknown_family() -> None:
    with pytest.raises(CodestreamError, match="unknown codec family"):
        cs.parse(b"", "gif")


def test_parse_dispatch_and_input_types() -> None:
    data = _frame("JPEGLSNearLossless_08.dcm")
    info = cs.parse(data, "jpegls")
    assert isinstance(info, cs.JpegInfo)
    assert cs.parse(bytearray(data), "jpeg") == info
    assert cs.parse(memoryview(data), "jpeg") == info
    assert cs.parse(np.frombuffer(data, np.uint8), "jpeg") == info
    assert cs.parse_jpeg(memoryview(data)[::1]) == info
    with pytest.raises(TypeError):
        cs.parse_jpeg("not bytes")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.rows = 1  # type: ignore[misc]


def test_validate_reports_mismatches() -> None:
    ds, frames = _load("SC_rgb_small_odd_jpeg.dcm")
    info = cs.parse_jpeg(frames[0])
    spec = _spec(ds)
    assert cs.validate(info, spec) == []
    assert cs.validate(None, spec) == []
    wrong = dataclasses.replace(spec, rows=4, samples_per_pixel=1)
    problems = cs.validate(info, wrong)
    assert len(problems) == 2
    assert "3 rows" in problems[0] and "Rows = 4" in problems[0]
    assert "Samples per Pixel = 1" in problems[1]
    # Precision below Bits Stored or a sign difference are not problems.
    ds2, frames2 = _load("J2K_pixelrep_mismatch.dcm")
    j2k = cs.parse_j2k(frames2[0])
    assert cs.validate(j2k, _spec(ds2)) == []
    narrow = dataclasses.replace(_spec(ds2), bits_allocated=8, bits_stored=8)
    assert any("13-bit" in p for p in cs.validate(j2k, narrow))


def test_validate_jxl_columns() -> None:
    info = cs.JXLInfo(False, False, 20, 30)
    spec = PixelSpec(lookup("JPEGXL"), 20, 31)
    assert cs.validate(info, spec) == [
        "the codestream has 30 columns but the header says Columns = 31"
    ]
    assert cs.validate(cs.JXLInfo(True, False, None, None), spec) == []


@pytest.mark.parametrize(
    "family, head, expected",
    [
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10", True),
        ("jpegls", b"\xff\xd8\xff\xf7", True),
        ("jpeg", b"\xff\xd8", False),
        ("jpeg", b"\x12\xff\xd8\xff", False),
        ("jpeg2k", b"\xff\x4f\xff\x51\x00\x29", True),
        ("htj2k", b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00", True),
        ("jpeg2k", b"\xff\x4f\xff\x52", False),
        ("jpegxl", b"\xff\x0a\x98", True),
        ("jpegxl", b"\x00\x00\x00\x0cJXL \r\n\x87\n", True),
        ("jpegxl", b"\xff\xd8\xff", False),
        ("rle", b"\x01\x00\x00\x00\x40\x00\x00\x00", False),
    ],
)
def test_starts_frame(family: str, head: bytes, expected: bool) -> None:
    assert cs.starts_frame(head, family) is expected


@pytest.mark.parametrize(
    "name", ["color3d_jpeg_baseline.dcm", "US1_J2KR.dcm", "examples_ybr_color.dcm"]
)
def test_starts_frame_not_inside_a_frame(name: str) -> None:
    ds, frames = _load(name)
    family = lookup(ds.file_meta.TransferSyntaxUID).family
    for frame in frames[:5]:
        assert cs.starts_frame(frame, family)
        for cut in (1, 2, len(frame) // 3, len(frame) // 2):
            assert not cs.starts_frame(frame[cut:], family)
