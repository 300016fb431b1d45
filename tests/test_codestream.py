"""Tests for dicomio.pixels.codestream: header parsers for compressed frames.

Real frames come from pydicom's bundled test files and the pydicom-data
package (never downloaded here); HTJ2K, JPEG XL and edge cases are made with
imagecodecs or by editing real headers byte by byte.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.filereader import read_file_meta_info

from dicomio.backends._base import PixelSpec
from dicomio.errors import CodestreamError
from dicomio.pixels import codestream as cs
from dicomio.tsyntax import TRANSFER_SYNTAXES, lookup

imagecodecs = pytest.importorskip("imagecodecs")

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
try:
    import data_store

    DATA_STORE: Path | None = Path(data_store.__file__).parent / "data"
except ImportError:  # pydicom-data is a test extra; its cases skip without it
    DATA_STORE = None


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _path(name: str) -> Path:
    """Find a test file in pydicom's files first, then in pydicom-data."""
    candidate = PYDICOM_FILES / name
    if candidate.exists():
        return candidate
    if DATA_STORE is not None and (DATA_STORE / name).exists():
        return DATA_STORE / name
    pytest.skip(f"{name} is not installed")


@cache
def _load(name: str) -> tuple[Any, tuple[bytes, ...]]:
    """Return ``(dataset, frames)`` for an encapsulated test file."""
    with warnings.catch_warnings():
        # Some test files are deliberately odd; pydicom warns about them.
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(_path(name))
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        frames = tuple(generate_frames(ds.PixelData, number_of_frames=nframes))
    return ds, frames


def _frame(name: str, index: int = 0) -> bytes:
    return _load(name)[1][index]


def _spec(ds: Any) -> PixelSpec:
    return PixelSpec(
        transfer_syntax=lookup(ds.file_meta.TransferSyntaxUID),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        samples_per_pixel=int(ds.SamplesPerPixel),
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.BitsStored),
        pixel_representation=int(ds.PixelRepresentation),
        photometric=str(ds.PhotometricInterpretation),
        number_of_frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def _encapsulated_files() -> list[str]:
    """Every installed test file whose Pixel Data is encapsulated."""
    names = []
    folders = [PYDICOM_FILES] + ([DATA_STORE] if DATA_STORE else [])
    for folder in folders:
        for path in sorted(folder.glob("*.dcm")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    uid = read_file_meta_info(path).TransferSyntaxUID
            except Exception:  # files without meta or broken on purpose
                continue
            ts = TRANSFER_SYNTAXES.get(str(uid))
            if ts is None or not ts.encapsulated or ts.family == "native":
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Deferred reading: only whether Pixel Data exists matters.
                ds = pydicom.dcmread(path, defer_size=1024)
            if "PixelData" in ds:
                names.append(path.name)
    return sorted(set(names))


ENCAPSULATED = _encapsulated_files()
# Deliberately damaged files whose codestream disagrees with the header.
KNOWN_BAD = {
    # pydicom's test overwrote Rsiz/Xsiz with a sequence delimiter tag.
    "JPEG2000-embedded-sequence-delimiter.dcm": ["3722445056 columns"],
}


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, offset, total_size)`` of a JPEG's segments up to SOS."""
    out = []
    pos = 2
    while True:
        code = data[pos + 1]
        length = struct.unpack_from(">H", data, pos + 2)[0]
        out.append((code, pos, length + 2))
        if code == 0xDA:
            return out
        pos += length + 2


def _j2k_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, offset, total_size)`` of a J2K main header's segments."""
    out = []
    pos = 2
    while True:
        code = data[pos + 1]
        if code == 0x90:
            return out
        length = struct.unpack_from(">H", data, pos + 2)[0]
        out.append((code, pos, length + 2))
        pos += length + 2


def _segment(segments: list[tuple[int, int, int]], code: int) -> tuple[int, int]:
    for c, pos, size in segments:
        if c == code:
            return pos, size
    raise AssertionError(f"no marker {code:02X}")


def _box(btype: bytes, payload: bytes, mode: str = "plain") -> bytes:
    """An ISOBMFF box; ``mode`` "xl" uses the 64-bit length, "zero" length 0."""
    if mode == "xl":
        return struct.pack(">I4sQ", 1, btype, 16 + len(payload)) + payload
    if mode == "zero":
        return struct.pack(">I4s", 0, btype) + payload
    return struct.pack(">I4s", 8 + len(payload), btype) + payload


def _pack_bits(fields: list[tuple[int, int]]) -> bytes:
    """Pack ``(value, nbits)`` least-significant-bit first, as JPEG XL does."""
    value = pos = 0
    for v, nbits in fields:
        value |= v << pos
        pos += nbits
    return value.to_bytes((pos + 7) // 8 + 4, "little")


def _rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


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


def test_embedded_delimiter_columns_are_reported() -> None:
    ds, frames = _load("JPEG2000-embedded-sequence-delimiter.dcm")
    info = cs.parse_j2k(frames[0])
    assert info.columns == 0xDDE00100
    assert any("Columns = 256" in p for p in cs.validate(info, _spec(ds)))


# ---------------------------------------------------------------------------
# JPEG 2000 / HTJ2K streams made with imagecodecs
# ---------------------------------------------------------------------------


def _gray16() -> np.ndarray:
    return _rng().integers(-1000, 1000, (33, 47), dtype=np.int16)


def _rgb8() -> np.ndarray:
    return _rng().integers(0, 255, (20, 30, 3), dtype=np.uint8)


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
