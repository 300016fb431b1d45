"""The fallback backends (pylibjpeg, gdcm, pillow, pyjpegls) against known pixels.

Every backend decodes every real test file of a syntax it claims, one frame at
a time through :meth:`Backend.decode`; the result, read the way
:class:`Decoded` says (planar, colour space, sign), must equal the paired
uncompressed file of pydicom-data or pydicom's own decode: bit for bit for
lossless syntaxes, within a stated tolerance for lossy JPEG.

Crafted streams (JPEG markers swapped, HTJ2K and JPEG-LS encoded here) cover
what no public file does: that a backend reports the colour space its array
really holds whatever the JPEG markers claim.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from dicomio.backends import gdcm as gdcm_backend
from dicomio.backends import pillow as pillow_backend
from dicomio.backends import pyjpegls as pyjpegls_backend
from dicomio.backends import pylibjpeg as pylibjpeg_backend
from dicomio.backends._base import Backend, Decoded, FrameContext, PixelSpec
from dicomio.pixels import codestream
from dicomio.tsyntax import lookup
from tests.conftest import corpus_file

BACKENDS: dict[str, Backend] = {
    "pylibjpeg": pylibjpeg_backend.backend,
    "gdcm": gdcm_backend.backend,
    "pillow": pillow_backend.backend,
    "pyjpegls": pyjpegls_backend.backend,
}

# The module each backend needs, per codec family (pylibjpeg has one plugin
# per family, and its GPL libjpeg plugin may be absent on its own).
_NEEDS: dict[str, dict[str, str]] = {
    "pylibjpeg": {"jpeg": "libjpeg", "jpegls": "libjpeg", "jpeg2k": "openjpeg",
                  "htj2k": "openjpeg", "rle": "rle"},
    "gdcm": dict.fromkeys(("jpeg", "jpegls", "jpeg2k", "htj2k", "rle"), "gdcm"),
    "pillow": dict.fromkeys(("jpeg", "jpeg2k", "htj2k"), "PIL"),
    "pyjpegls": {"jpegls": "jpeg_ls"},
}

# file: (Transfer Syntax keyword, frames to check, reference, tolerance). The
# keyword repeats the file's own so that collection reads no file. The
# reference is the paired uncompressed file, "pydicom" for pydicom's decode of
# the same file, or "imagecodecs" for libjpeg-turbo's decode of a monochrome
# JPEG frame.
# Tolerances are in sample levels and only for lossy JPEG, where IDCTs differ.
CASES: dict[str, tuple[str, int, str, int]] = {
    # JPEG
    # pydicom cannot decode JPEG-lossy.dcm (its SOS breaks libjpeg's rules).
    "JPEG-lossy.dcm": ("JPEGExtended12Bit", 1, "imagecodecs", 2),
    "JPGExtended.dcm": ("JPEGExtended12Bit", 1, "pydicom", 2),
    "SC_rgb_jpeg_dcmtk.dcm": ("JPEGBaseline8Bit", 1, "pydicom", 3),
    "SC_rgb_dcmtk_+eb+cy+n2.dcm": ("JPEGBaseline8Bit", 1, "pydicom", 4),
    "SC_rgb_dcmtk_+eb+cr.dcm": ("JPEGBaseline8Bit", 1, "pydicom", 3),
    "SC_jpeg_no_color_transform.dcm": ("JPEGBaseline8Bit", 1, "pydicom", 3),
    "color3d_jpeg_baseline.dcm": ("JPEGBaseline8Bit", 2, "pydicom", 4),
    "SC_rgb_jpeg_gdcm.dcm": ("JPEGLosslessSV1", 1, "pydicom", 0),
    "JPGLosslessP14SV1_1s_1f_8b.dcm": ("JPEGLosslessSV1", 1, "pydicom", 0),
    "JPEG-LL.dcm": ("JPEGLosslessSV1", 1, "pydicom", 0),
    # JPEG-LS (near-lossless decoding is exact: compare with pydicom's)
    "MR_small_jpeg_ls_lossless.dcm": ("JPEGLSLossless", 1, "MR_small.dcm", 0),
    "emri_small_jpeg_ls_lossless.dcm": ("JPEGLSLossless", 2, "emri_small.dcm", 0),
    "JPEGLSNearLossless_16.dcm": ("JPEGLSNearLossless", 1, "pydicom", 0),
    "JPEGLSNearLossless_08.dcm": ("JPEGLSNearLossless", 1, "pydicom", 0),
    "SC_rgb_jls_lossy_line.dcm": ("JPEGLSNearLossless", 1, "pydicom", 0),
    "SC_rgb_jls_lossy_sample.dcm": ("JPEGLSNearLossless", 1, "pydicom", 0),
    # JPEG 2000
    "MR_small_jp2klossless.dcm": ("JPEG2000Lossless", 1, "MR_small.dcm", 0),
    "RG1_J2KR.dcm": ("JPEG2000Lossless", 1, "RG1_UNCR.dcm", 0),
    "US1_J2KR.dcm": ("JPEG2000Lossless", 1, "US1_UNCR.dcm", 0),
    "693_J2KR.dcm": ("JPEG2000Lossless", 1, "693_UNCR.dcm", 0),
    "MR2_J2KR.dcm": ("JPEG2000Lossless", 1, "MR2_UNCR.dcm", 0),
    "emri_small_jpeg_2k_lossless.dcm": ("JPEG2000Lossless", 2, "emri_small.dcm", 0),
    "J2K_pixelrep_mismatch.dcm": ("JPEG2000Lossless", 1, "pydicom", 0),
    "SC_rgb_gdcm_KY.dcm": ("JPEG2000", 1, "pydicom", 0),
    "US1_J2KI.dcm": ("JPEG2000", 1, "pydicom", 1),
    "GDCMJ2K_TextGBR.dcm": ("JPEG2000Lossless", 1, "pydicom", 0),
    # RLE
    "MR_small_RLE.dcm": ("RLELossless", 1, "MR_small.dcm", 0),
    "emri_small_RLE.dcm": ("RLELossless", 2, "emri_small.dcm", 0),
    "SC_rgb_rle.dcm": ("RLELossless", 1, "SC_rgb.dcm", 0),
    "SC_rgb_rle_16bit.dcm": ("RLELossless", 1, "SC_rgb_16bit.dcm", 0),
    "SC_rgb_rle_32bit.dcm": ("RLELossless", 1, "SC_rgb_32bit.dcm", 0),
    "rtdose_rle.dcm": ("RLELossless", 2, "rtdose.dcm", 0),
    "OBXXXX1A_rle.dcm": ("RLELossless", 1, "OBXXXX1A.dcm", 0),
}

# (backend, file) pairs where supports() must say no, each with its reason.
REFUSED: dict[tuple[str, str], str] = {
    ("pillow", "JPEG-lossy.dcm"): "Pillow reads 8-bit JPEG only",
    ("pillow", "JPGExtended.dcm"): "Pillow reads 8-bit JPEG only",
    ("pillow", "JPEG-LL.dcm"): "Pillow reads 8-bit lossless JPEG only",
    ("gdcm", "SC_rgb_rle_16bit.dcm"): "GDCM scrambles 16-bit colour RLE segments",
    ("gdcm", "SC_rgb_rle_32bit.dcm"): "GDCM scrambles 32-bit colour RLE segments",
}

# (backend, file) pairs supports() accepts but the library fails on.
FAILS: dict[tuple[str, str], str] = {
    ("pillow", "GDCMJ2K_TextGBR.dcm"): "Pillow cannot read this JP2-wrapped frame",
    ("pylibjpeg", "JPEG-lossy.dcm"): "libjpeg rejects its SOS (Ss/Se not 0/63)",
}


# -- helpers -------------------------------------------------------------
def _quiet_read(path: Path, **kwargs: Any) -> pydicom.Dataset:
    # pydicom warns about some deliberately odd test files.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


def spec_of(ds: pydicom.Dataset) -> PixelSpec:
    """The PixelSpec of a dataset's header."""
    return PixelSpec(
        transfer_syntax=lookup(ds.file_meta.TransferSyntaxUID),
        rows=ds.Rows,
        columns=ds.Columns,
        samples_per_pixel=ds.SamplesPerPixel,
        bits_allocated=ds.BitsAllocated,
        bits_stored=ds.BitsStored,
        pixel_representation=ds.PixelRepresentation,
        planar_configuration=int(ds.get("PlanarConfiguration", 0) or 0),
        photometric=ds.PhotometricInterpretation,
        number_of_frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def stream_color_of(photometric: str) -> str:
    """What the core would decide the stream holds, for correctly labelled files."""
    if photometric.startswith("MONOCHROME"):
        return "MONOCHROME"
    if photometric == "PALETTE COLOR":
        return "PALETTE"
    if photometric in ("YBR_RCT", "YBR_ICT"):
        return photometric
    return "YBR_FULL" if photometric.startswith("YBR") else "RGB"


@functools.cache
def load_case(name: str) -> tuple[PixelSpec, tuple[bytes, ...]]:
    """The header and the first frames of a test file."""
    ds = _quiet_read(corpus_file(name))
    spec = spec_of(ds)
    assert spec.transfer_syntax.keyword == CASES[name][0]
    wanted = CASES[name][1]
    frames = []
    for frame in generate_frames(ds.PixelData, number_of_frames=spec.number_of_frames):
        frames.append(frame)
        if len(frames) == wanted:
            break
    return spec, tuple(frames)


@functools.cache
def reference(name: str, index: int, as_rgb: bool) -> np.ndarray:
    """Known-good pixels of frame ``index`` of test file ``name``."""
    ref = CASES[name][2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref == "pydicom":
            return pydicom.pixels.pixel_array(str(corpus_file(name)), index=index,
                                              as_rgb=as_rgb)
        if ref == "imagecodecs":
            imagecodecs = pytest.importorskip("imagecodecs")
            return imagecodecs.jpeg8_decode(load_case(name)[1][index])
        arr = _quiet_read(corpus_file(ref)).pixel_array
    nframes = int(_quiet_read(corpus_file(ref), stop_before_pixels=True)
                  .get("NumberOfFrames", 1) or 1)
    return arr[index] if nframes > 1 else arr


def stream_precision(frame: bytes, spec: PixelSpec) -> int:
    """The sample precision the codestream itself declares (Bits Stored for RLE)."""
    info = codestream.parse(frame, spec.transfer_syntax.family)
    return getattr(info, "precision", None) or spec.bits_stored


def as_read(dec: Decoded, spec: PixelSpec, frame: bytes) -> np.ndarray:
    """Apply what ``dec`` says: planar to interleaved, then the sign."""
    arr = np.asarray(dec.array)
    if dec.planar:
        arr = np.moveaxis(arr, 0, -1)
    arr = arr.astype(np.int64)
    if dec.signed is not True and spec.pixel_representation:
        # Two's-complement reinterpretation at the codestream precision (a
        # no-op for values the codec already sign-extended).
        shift = 64 - stream_precision(frame, spec)
        arr = (arr << shift) >> shift
    return arr


def ybr_to_rgb(arr: np.ndarray) -> np.ndarray:
    """YCbCr (full range, 8-bit) to RGB with the PS3.3 C.7.6.3.1.2 matrix."""
    ycc = arr.astype(np.float64)
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr,
                    y + 1.772 * cb], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.int64)


def need(backend: str, spec: PixelSpec) -> None:
    """Skip when the library a backend needs for this family is missing."""
    pytest.importorskip(_NEEDS[backend][spec.transfer_syntax.family])


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def _params(kind: str) -> list[Any]:
    out = []
    for name in CASES:
        uid = lookup(CASES[name][0]).uid
        for label, backend in BACKENDS.items():
            if uid not in backend.syntaxes:
                continue
            key = (label, name)
            if (kind == "ok") == (key not in REFUSED and key not in FAILS):
                out.append(pytest.param(label, name, id=f"{label}-{name}"))
    return out


# -- real files ----------------------------------------------------------
@pytest.mark.parametrize(("label", "name"), _params("ok"))
def test_decodes_test_file(label: str, name: str) -> None:
    backend = BACKENDS[label]
    spec, frames = load_case(name)
    need(label, spec)
    assert backend.available(), backend.unavailable_reason
    assert backend.supports(spec)

    stream = stream_color_of(spec.photometric)
    tol = CASES[name][3]
    for want_rgb in (True, False) if spec.samples_per_pixel > 1 else (True,):
        for index, frame in enumerate(frames):
            ctx = FrameContext(spec=spec, stream_color=stream, want_rgb=want_rgb,
                               index=index)
            dec = backend.decode(frame, ctx)
            assert dec.color in ("MONOCHROME", "RGB", "YBR_FULL", "PALETTE")
            assert np.issubdtype(dec.array.dtype, np.integer)
            arr = as_read(dec, spec, frame)
            if stream == "YBR_FULL" and dec.color == "RGB":
                # The codec converted: compare with pydicom's conversion.
                expected = reference(name, index, True)
                tol_here = tol + 2
            else:
                expected = reference(name, index, False)
                tol_here = tol
            if stream in ("YBR_RCT", "YBR_ICT"):
                assert dec.color == "RGB", "OpenJPEG applies the inverse MCT"
            assert max_diff(arr, expected) <= tol_here, (want_rgb, index, dec.color)


@pytest.mark.parametrize(("label", "name"), _params("refused"))
def test_refuses_or_fails(label: str, name: str) -> None:
    backend = BACKENDS[label]
    spec, frames = load_case(name)
    need(label, spec)
    if (label, name) in REFUSED:
        assert not backend.supports(spec), REFUSED[label, name]
        return
    assert backend.supports(spec)
    ctx = FrameContext(spec=spec, stream_color=stream_color_of(spec.photometric))
    with pytest.raises(Exception):  # noqa: B017 - any failure, the core falls back
        backend.decode(frames[0], ctx)


# -- JPEG colour honesty on crafted streams -------------------------------
def _segments(stream: bytes) -> list[tuple[int, bytes]]:
    """Split a JPEG stream into (marker, segment bytes) up to SOS + entropy data."""
    out, i = [], 2
    while True:
        marker = stream[i + 1]
        length = int.from_bytes(stream[i + 2:i + 4], "big")
        if marker == 0xDA:
            out.append((marker, stream[i:]))
            return out
        out.append((marker, stream[i:i + 2 + length]))
        i += 2 + length


def _app14(transform: int) -> bytes:
    return b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + bytes([transform])


def restamp(stream: bytes, app14: int | None = None, ids: bytes | None = None,
            keep_app: bool = False) -> bytes:
    """The same entropy-coded data under other colour markers."""
    parts = [b"\xff\xd8"]
    if app14 is not None:
        parts.append(_app14(app14))
    for marker, seg in _segments(stream):
        if marker in (0xE0, 0xEE) and not keep_app:
            continue
        if ids is not None and marker in (0xC0, 0xC1, 0xC3):
            buf = bytearray(seg)
            for k in range(buf[9]):
                buf[10 + 3 * k] = ids[k]
            seg = bytes(buf)
        if ids is not None and marker == 0xDA:
            buf = bytearray(seg)
            for k in range(buf[4]):
                buf[5 + 2 * k] = ids[k]
            seg = bytes(buf)
        parts.append(seg)
    return b"".join(parts)


# name: (source file, APP14 transform or None, component ids or None, keep APPn)
CRAFTED: dict[str, tuple[str, int | None, bytes | None, bool]] = {
    "ycc-jfif": ("SC_rgb_jpeg_dcmtk.dcm", None, None, True),
    "ycc-unmarked": ("SC_rgb_jpeg_dcmtk.dcm", None, None, False),
    "ycc-app14-1": ("SC_rgb_jpeg_dcmtk.dcm", 1, None, False),
    "ycc-app14-0": ("SC_rgb_jpeg_dcmtk.dcm", 0, None, False),
    "ycc-ids-RGB": ("SC_rgb_jpeg_dcmtk.dcm", None, b"RGB", False),
    "ycc-jfif-ids-RGB": ("SC_rgb_jpeg_dcmtk.dcm", None, b"RGB", True),
    "ycc-ids-012": ("SC_rgb_jpeg_dcmtk.dcm", None, b"\x00\x01\x02", False),
    "ycc422-app14-1": ("color3d_jpeg_baseline.dcm", 1, None, False),
    "rgb-app14-0": ("SC_rgb_dcmtk_+eb+cr.dcm", None, None, True),
    "rgb-ids-RGB": ("SC_rgb_dcmtk_+eb+cr.dcm", None, None, False),
    "rgb-unmarked-123": ("SC_rgb_dcmtk_+eb+cr.dcm", None, b"\x01\x02\x03", False),
    "rgb-lossless-unmarked": ("SC_rgb_jpeg_gdcm.dcm", None, b"\x01\x02\x03", False),
}


@pytest.mark.parametrize("label", ["pylibjpeg", "gdcm", "pillow"])
@pytest.mark.parametrize("kind", list(CRAFTED))
def test_jpeg_colour_is_reported_truthfully(label: str, kind: str) -> None:
    """Whatever the markers claim, Decoded.color names what the array holds."""
    source, app14, ids, keep = CRAFTED[kind]
    spec, frames = load_case(source)
    need(label, spec)
    stream = restamp(frames[0], app14, ids, keep)
    # The true content, which the core learns from the header here.
    truth = "YBR_FULL" if kind.startswith("ycc") else "RGB"
    raw = reference(source, 0, False)  # the coded components
    lossless = spec.transfer_syntax.keyword.startswith("JPEGLossless")
    tol = 0 if lossless else 4
    for want_rgb in (True, False):
        ctx = FrameContext(spec=spec, stream_color=truth, want_rgb=want_rgb)
        dec = BACKENDS[label].decode(stream, ctx)
        arr = as_read(dec, spec, stream)
        if dec.color == truth:
            assert max_diff(arr, raw) <= tol, (want_rgb, dec.color)
        else:
            assert (truth, dec.color) == ("YBR_FULL", "RGB")
            assert want_rgb, "converted although raw components were asked for"
            assert max_diff(arr, ybr_to_rgb(raw)) <= tol + 2


# -- streams encoded here: HTJ2K, J2K, JPEG-LS ------------------------------
def _mono_spec(uid: str, arr: np.ndarray, bits: int) -> PixelSpec:
    return PixelSpec(
        transfer_syntax=lookup(uid), rows=arr.shape[0], columns=arr.shape[1],
        samples_per_pixel=1 if arr.ndim == 2 else arr.shape[2],
        bits_allocated=arr.dtype.itemsize * 8, bits_stored=bits,
        pixel_representation=int(arr.dtype.kind == "i"),
        photometric="MONOCHROME2" if arr.ndim == 2 else "RGB",
    )


def _random(dtype: str, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(bits)
    low = -(1 << (bits - 1)) if dtype.startswith("i") else 0
    return rng.integers(low, low + (1 << bits), shape).astype(dtype)


@pytest.mark.parametrize("label", ["pylibjpeg", "gdcm", "pillow"])
@pytest.mark.parametrize(
    ("uid", "dtype", "bits", "shape"),
    [
        ("1.2.840.10008.1.2.4.201", "u1", 8, (24, 40)),
        ("1.2.840.10008.1.2.4.201", "u2", 12, (24, 40)),
        ("1.2.840.10008.1.2.4.201", "i2", 16, (24, 40)),
        ("1.2.840.10008.1.2.4.201", "u1", 8, (24, 40, 3)),
        ("1.2.840.10008.1.2.4.202", "i2", 12, (24, 40)),
        ("1.2.840.10008.1.2.4.90", "i2", 10, (24, 40)),
        ("1.2.840.10008.1.2.4.92", "u1", 6, (24, 40, 3)),
    ],
    ids=["ht-u8", "ht-u12", "ht-s16", "ht-rgb", "ht-rpcl-s12", "j2k-s10",
         "j2k-part2-rgb6"],
)
def test_encoded_j2k(label: str, uid: str, dtype: str, bits: int,
                     shape: tuple[int, ...]) -> None:
    imagecodecs = pytest.importorskip("imagecodecs")
    arr = _random(dtype, bits, shape)
    spec = _mono_spec(uid, arr, bits)
    need(label, spec)
    if spec.transfer_syntax.family == "htj2k":
        stream = bytes(imagecodecs.htj2k_encode(arr, level=0, reversible=True))
    else:
        stream = bytes(imagecodecs.jpeg2k_encode(
            arr, level=0, codecformat="J2K", reversible=True, bitspersample=bits))
    color = "MONOCHROME" if arr.ndim == 2 else "RGB"
    if arr.ndim == 3 and codestream.parse_j2k(stream).mct:
        color = "YBR_RCT"
    backend = BACKENDS[label]
    assert backend.supports(spec)
    dec = backend.decode(stream, FrameContext(spec=spec, stream_color=color))
    assert dec.color in ("MONOCHROME", "RGB")
    assert max_diff(as_read(dec, spec, stream), arr) == 0


@pytest.mark.parametrize("label", ["pylibjpeg", "gdcm", "pillow"])
@pytest.mark.parametrize(
    ("dtype", "bits", "shape", "predictor"),
    [("u1", 8, (20, 24), 2), ("u1", 8, (20, 24, 3), 5), ("u2", 12, (20, 24), 7),
     ("i2", 16, (20, 24), 6)],
    ids=["mono8-p2", "rgb8-p5", "mono12-p7", "s16-p6"],
)
def test_encoded_lossless_jpeg(label: str, dtype: str, bits: int,
                               shape: tuple[int, ...], predictor: int) -> None:
    """JPEG Lossless (.57) with predictors other than 1: no public file has them."""
    imagecodecs = pytest.importorskip("imagecodecs")
    arr = _random(dtype, bits, shape)
    rgb = {"colorspace": "RGB", "outcolorspace": "RGB"} if arr.ndim == 3 else {}
    # libjpeg-turbo codes the two's-complement bit patterns of signed samples.
    coded = arr.view(f"u{arr.itemsize}")
    stream = bytes(imagecodecs.jpeg8_encode(coded, lossless=True, predictor=predictor,
                                            bitspersample=bits, **rgb))
    spec = _mono_spec("1.2.840.10008.1.2.4.57", arr, bits)
    need(label, spec)
    backend = BACKENDS[label]
    if label == "pillow" and bits > 8:
        assert not backend.supports(spec), "Pillow reads 8-bit lossless JPEG only"
        return
    assert backend.supports(spec)
    color = "RGB" if arr.ndim == 3 else "MONOCHROME"
    for want_rgb in (True, False):
        ctx = FrameContext(spec=spec, stream_color=color, want_rgb=want_rgb)
        dec = backend.decode(stream, ctx)
        assert dec.color == color
        assert max_diff(as_read(dec, spec, stream), arr) == 0


@pytest.mark.parametrize("label", ["pyjpegls", "pylibjpeg", "gdcm"])
@pytest.mark.parametrize(
    ("ilv", "bits", "samples", "near"),
    [(0, 8, 3, 0), (1, 8, 3, 0), (2, 8, 3, 0), (0, 4, 1, 0), (0, 12, 1, 1),
     (0, 6, 1, 0)],
    ids=["rgb-ilv0", "rgb-ilv1", "rgb-ilv2", "mono4", "mono12-near1", "mono6"],
)
def test_encoded_jpegls(label: str, ilv: int, bits: int, samples: int,
                        near: int) -> None:
    jpeg_ls = pytest.importorskip("jpeg_ls")
    shape = (20, 24, samples) if samples > 1 else (20, 24)
    arr = _random("u1" if bits <= 8 else "u2", bits, shape)
    # encode_buffer wants colour-by-plane bytes for ILV 0.
    planes = samples > 1 and ilv == 0
    src = np.moveaxis(arr, -1, 0).tobytes() if planes else arr.tobytes()
    stream = bytes(jpeg_ls.encode_buffer(src, 20, 24, samples, bits, near, ilv))
    uid = "1.2.840.10008.1.2.4.81" if near else "1.2.840.10008.1.2.4.80"
    spec = _mono_spec(uid, arr, bits)
    need(label, spec)
    backend = BACKENDS[label]
    if label == "gdcm" and bits in (6, 7):
        assert not backend.supports(spec), "GDCM returns nothing for 6/7-bit JPEG-LS"
        return
    assert backend.supports(spec)
    color = "RGB" if samples > 1 else "MONOCHROME"
    dec = backend.decode(stream, FrameContext(spec=spec, stream_color=color))
    assert dec.color == color
    if label == "pyjpegls" and samples > 1:
        assert dec.planar == (ilv == 0)
    assert max_diff(as_read(dec, spec, stream), arr) <= near


# -- availability -----------------------------------------------------------
@pytest.mark.parametrize("label", list(BACKENDS))
def test_contract(label: str) -> None:
    backend = BACKENDS[label]
    assert backend.name == label
    assert backend.install.startswith("pip install ")
    assert backend.modules
    assert backend.syntaxes and all(lookup(uid) for uid in backend.syntaxes)
    assert backend.gil_free is (label == "pillow")


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return result.stdout


def test_missing_libraries_leave_backends_unavailable() -> None:
    """A missing library makes its backend unavailable, never breaks the import."""
    out = _run("""
        import sys
        for m in ("PIL", "gdcm", "jpeg_ls", "libjpeg", "openjpeg", "rle",
                  "pylibjpeg"):
            sys.modules[m] = None  # makes the import fail
        from dicomio.backends import gdcm, pillow, pyjpegls, pylibjpeg
        for b in (gdcm.backend, pillow.backend, pyjpegls.backend,
                  pylibjpeg.backend):
            print(b.name, b.available(), "halted" in b.unavailable_reason)
    """)
    assert sorted(out.split("\n")[:-1]) == [
        "gdcm False True", "pillow False True", "pyjpegls False True",
        "pylibjpeg False True",
    ]


def test_pylibjpeg_without_gpl_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pylibjpeg-libjpeg, J2K still works and JPEG names what to install."""
    pytest.importorskip("pylibjpeg")
    pytest.importorskip("openjpeg")
    plugins = pylibjpeg_backend._PLUGINS
    _, dist, minimum, uids = plugins["libjpeg"]
    monkeypatch.setitem(plugins, "libjpeg",
                        ("dicomio_tests_no_such_module", dist, minimum, uids))
    backend = pylibjpeg_backend.PylibjpegBackend()  # a fresh, unloaded one
    assert backend.available()
    jpeg = PixelSpec(lookup("JPEGBaseline8Bit"), 8, 8)
    # Still claimed, so the core's error names the missing GPL plugin.
    assert backend.supports(jpeg)
    with pytest.raises(ImportError, match="pylibjpeg-libjpeg is not installed"):
        backend.decode(b"\xff\xd8", FrameContext(jpeg))
    assert backend.supports(PixelSpec(lookup("JPEG2000Lossless"), 8, 8))
    assert "libjpeg" not in backend.version()
