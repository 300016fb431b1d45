"""How frames of one shape and dtype are coded for one Transfer Syntax.

:func:`_plan` checks everything before any codec runs (options, geometry,
bit depth and sign per codec, lossy or not and the codec level, the
Photometric Interpretation) and returns a :class:`_Plan` the encoders follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import EncodeError
from ..tsyntax import TransferSyntax, lookup

#: Lossless-only Transfer Syntax keywords :func:`encode_frame` supports.
LOSSLESS_ENCODABLE: tuple[str, ...] = (
    "ImplicitVRLittleEndian",
    "ExplicitVRLittleEndian",
    "ExplicitVRBigEndian",
    "DeflatedExplicitVRLittleEndian",
    "EncapsulatedUncompressedExplicitVRLittleEndian",
    "DeflatedImageFrameCompression",
    "RLELossless",
    "JPEGLossless",
    "JPEGLosslessSV1",
    "JPEGLSLossless",
    "JPEG2000Lossless",
    "JPEG2000MCLossless",
    "HTJ2KLossless",
    "HTJ2KLosslessRPCL",
    "JPEGXLLossless",
)

#: Transfer Syntax keywords that allow lossy coding and that
#: :func:`encode_frame` supports (lossy by default; ``lossless=True`` codes
#: the lossless variant where the codec has one).
LOSSY_ENCODABLE: tuple[str, ...] = (
    "JPEGBaseline8Bit",
    "JPEGExtended12Bit",
    "JPEGLSNearLossless",
    "JPEG2000",
    "JPEG2000MC",
    "HTJ2K",
    "JPEGXLJPEGRecompression",
    "JPEGXL",
)

#: Every Transfer Syntax keyword :func:`encode_frame` supports.
ENCODABLE: tuple[str, ...] = LOSSLESS_ENCODABLE + LOSSY_ENCODABLE

_JPEGTRAN = ("dicomio.encode.retired.make_retired_dataset re-codes baseline JPEG "
             "into it with libjpeg-turbo's jpegtran")
_HIERARCHICAL = ("no installed encoder writes the hierarchical mode (DHP, EXP and "
                 "differential frames)")

#: Transfer Syntaxes dicomio decodes (or names in errors) but cannot encode,
#: keyword -> why. Every syntax is in :data:`ENCODABLE`, here, or video.
DECODE_ONLY: dict[str, str] = {
    "JPEGExtended35": "no installed Python encoder writes arithmetic coding; "
                      + _JPEGTRAN,
    "JPEGSpectralSelectionNonHierarchical68": "no installed Python encoder writes "
                                              "spectral-selection scans; " + _JPEGTRAN,
    "JPEGSpectralSelectionNonHierarchical79": "no installed Python encoder writes "
                                              "spectral selection with arithmetic "
                                              "coding; " + _JPEGTRAN,
    "JPEGFullProgressionNonHierarchical1012": "imagecodecs' jpeg8_encode writes no "
                                              "progressive scans; " + _JPEGTRAN,
    "JPEGFullProgressionNonHierarchical1113": "no installed Python encoder writes "
                                              "progressive arithmetic coding; "
                                              + _JPEGTRAN,
    "JPEGLosslessNonHierarchical15": "no installed encoder writes lossless JPEG "
                                     "with arithmetic coding (Process 15)",
    **{kw: _HIERARCHICAL for kw in (
        "JPEGExtendedHierarchical1618", "JPEGExtendedHierarchical1719",
        "JPEGSpectralSelectionHierarchical2022", "JPEGSpectralSelectionHierarchical2123",
        "JPEGFullProgressionHierarchical2426", "JPEGFullProgressionHierarchical2527",
        "JPEGLosslessHierarchical28", "JPEGLosslessHierarchical29")},
}

#: Codec options accepted by :func:`encode_frame` (and routed by
#: :func:`make_dataset`): see :func:`encode_frame`.
ENCODER_OPTIONS: tuple[str, ...] = (
    "bits_stored",
    "lossless",
    "predictor",
    "near",
    "subsampling",
    "decompositions",
    "effort",
    "distance",
    "planar_configuration",
)

_MONO = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
_CODEC_TRANSFORMS = ("YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT")


@dataclass(frozen=True)
class _Plan:
    """How one frame shape / dtype is coded for one Transfer Syntax."""

    ts: TransferSyntax
    rows: int
    cols: int
    samples: int
    dtype: np.dtype
    bits_allocated: int
    bits_stored: int  # header value == codestream precision
    signed: bool
    photometric: str
    lossy: bool
    level: Any
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        if self.samples == 1:
            return (self.rows, self.cols)
        return (self.rows, self.cols, self.samples)

    @property
    def frame_nbytes(self) -> int:
        """Uncompressed size of one frame in bytes (bit-packed for 1-bit)."""
        n = self.rows * self.cols * self.samples
        if self.bits_allocated == 1:
            return (n + 7) // 8
        return n * self.bits_allocated // 8


def _fail(ts: TransferSyntax | str, message: str) -> EncodeError:
    return EncodeError(message, transfer_syntax=str(ts))


def _lookup(transfer_syntax: str | TransferSyntax) -> TransferSyntax:
    if isinstance(transfer_syntax, TransferSyntax):
        return transfer_syntax
    return lookup(transfer_syntax)


def default_photometric(
    transfer_syntax: str | TransferSyntax,
    samples: int = 1,
    *,
    lossy: bool | None = None,
) -> str:
    """Return the Photometric Interpretation :func:`make_dataset` writes by default.

    Parameters
    ----------
    transfer_syntax : str or TransferSyntax
        UID or keyword.
    samples : int
        Samples per pixel (1 or 3).
    lossy : bool, optional
        Whether the coding is lossy; defaults to lossy for syntaxes in
        :data:`LOSSY_ENCODABLE`. Only matters for JPEG 2000 / HTJ2K colour.

    Returns
    -------
    str
        ``MONOCHROME2`` for one sample; for colour ``YBR_FULL_422`` (JPEG
        baseline / extended and JPEG XL JPEG recompression), ``YBR_RCT`` /
        ``YBR_ICT`` (reversible / irreversible JPEG 2000 and HTJ2K) or ``RGB``.
    """
    ts = _lookup(transfer_syntax)
    if samples == 1:
        return "MONOCHROME2"
    if lossy is None:
        lossy = ts.keyword in LOSSY_ENCODABLE
    if ts.keyword in ("JPEGBaseline8Bit", "JPEGExtended12Bit",
                      "JPEGXLJPEGRecompression"):
        return "YBR_FULL_422"
    if ts.family in ("jpeg2k", "htj2k"):
        return "YBR_ICT" if lossy else "YBR_RCT"
    return "RGB"


def _bits_allocated(ts: TransferSyntax, dtype: np.dtype) -> int:
    if dtype == np.bool_:
        return 1
    if dtype.kind in "ui" and dtype.itemsize in (1, 2, 4):
        return dtype.itemsize * 8
    raise _fail(
        ts,
        f"cannot encode dtype {dtype}: use bool, (u)int8, (u)int16 or (u)int32",
    )


def _frame_geometry(ts: TransferSyntax, shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 2:
        rows, cols, samples = shape[0], shape[1], 1
    elif len(shape) == 3:
        rows, cols, samples = shape
    else:
        raise _fail(ts, f"a frame must be (rows, cols[, samples]), got shape {shape}")
    if samples not in (1, 3):
        raise _fail(ts, f"{samples} samples per pixel: only 1 or 3 can be encoded")
    if rows < 1 or cols < 1 or rows > 65535 or cols > 65535:
        raise _fail(ts, f"rows and columns must be 1-65535, got {rows} x {cols}")
    return rows, cols, samples


def _plan(
    ts: TransferSyntax,
    shape: tuple[int, ...],
    dtype: np.dtype,
    *,
    photometric: str | None,
    level: Any,
    bits_stored: int | None = None,
    lossless: bool | None = None,
    **options: Any,
) -> _Plan:
    """Check that ``ts`` can code frames of this shape and dtype, and how."""
    unknown = set(options) - set(ENCODER_OPTIONS)
    if unknown:
        raise _fail(
            ts,
            f"unknown encoder option(s) {sorted(unknown)}; known: "
            f"{', '.join(ENCODER_OPTIONS)}",
        )
    if ts.keyword not in ENCODABLE:
        why = DECODE_ONLY.get(ts.keyword, "video is decoded, not written")
        raise _fail(ts, f"dicomio cannot encode this Transfer Syntax: {why}")
    rows, cols, samples = _frame_geometry(ts, shape)
    dtype = np.dtype(dtype)
    ba = _bits_allocated(ts, dtype)
    signed = dtype.kind == "i"
    bs = ba if bits_stored is None else int(bits_stored)
    if not 1 <= bs <= ba:
        raise _fail(ts, f"Bits Stored {bs} does not fit Bits Allocated {ba}")
    fam = ts.family
    lossy, level = _lossy_level(ts, level, lossless, options)
    bs = _bits(ts, dtype, ba, bs, bits_stored, samples, options, lossy)
    pi = _photometric(ts, photometric, samples, lossy)
    planar = int(options.get("planar_configuration") or 0)
    if planar not in (0, 1):
        raise _fail(ts, f"Planar Configuration must be 0 or 1, got {planar}")
    if planar and (samples == 1 or fam not in ("native", "deflate", "rle")):
        raise _fail(ts, "Planar Configuration 1 needs colour data and an "
                        "uncompressed, deflated or RLE Transfer Syntax")
    options["planar_configuration"] = planar
    return _Plan(ts, rows, cols, samples, dtype, ba, bs, signed, pi, lossy,
                 level, options)


def _lossy_level(
    ts: TransferSyntax, level: Any, lossless: bool | None, options: dict[str, Any]
) -> tuple[bool, Any]:
    """Whether ``ts`` codes lossy here, and the codec level (defaults filled in)."""
    fam, kw = ts.family, ts.keyword
    lossy = False
    if kw in ("JPEGBaseline8Bit", "JPEGExtended12Bit"):
        if lossless:
            raise _fail(ts, "JPEG baseline / extended is always lossy")
        lossy, level = True, 90 if level is None else int(level)
    elif kw == "JPEGXLJPEGRecompression":
        if lossless:
            raise _fail(ts, "JPEG recompression stores a lossy JPEG")
        lossy, level = True, 90 if level is None else int(level)
    elif fam == "jpegls":
        near = options.pop("near", None)
        near = level if near is None else near
        if kw == "JPEGLSLossless":
            if near:
                raise _fail(ts, f"NEAR={near}: JPEG-LS Lossless needs NEAR=0")
            near = 0
        elif lossless:
            near = 0
        elif near is None:
            near = 2
        level = int(near)
        if level < 0:
            raise _fail(ts, f"NEAR must be >= 0, got {level}")
        lossy = level > 0
    elif kw in ("JPEG2000", "JPEG2000MC"):
        lossy = not lossless
        level = (50.0 if level is None else float(level)) if lossy else None
    elif kw == "HTJ2K":
        lossy = not lossless
        level = (0.01 if level is None else float(level)) if lossy else None
        if level is not None and not 0 < level < 1:
            raise _fail(ts, f"the HTJ2K level is the quantisation step as a fraction "
                            f"of the Bits Stored range, between 0 and 1 (got {level})")
    elif kw == "JPEGXL":
        lossy = not lossless
        level = (90 if level is None else level) if lossy else None
    elif fam == "deflate":
        level = 9 if level is None else int(level)
    else:
        if lossless is False:
            raise _fail(ts, "this Transfer Syntax is lossless only")
        if fam not in ("native", "jpeg"):
            level = None
    return lossy, level


def _bits(
    ts: TransferSyntax,
    dtype: np.dtype,
    ba: int,
    bs: int,
    bits_stored: int | None,
    samples: int,
    options: dict[str, Any],
    lossy: bool = False,
) -> int:
    """Check bit depth and sign against the codec; return the Bits Stored it writes.

    Records the lossless JPEG ``predictor`` in ``options``.
    """
    fam, kw = ts.family, ts.keyword
    signed = dtype.kind == "i"
    if ba == 1 and kw not in (
        "ImplicitVRLittleEndian", "ExplicitVRLittleEndian", "ExplicitVRBigEndian",
        "DeflatedExplicitVRLittleEndian", "DeflatedImageFrameCompression",
        "EncapsulatedUncompressedExplicitVRLittleEndian",
    ):
        raise _fail(ts, "1-bit (bool) data is only encodable uncompressed or deflated")
    if ba == 1 and samples != 1:
        raise _fail(ts, "1-bit data must have one sample per pixel")
    if fam == "jpeg":
        # Lossy JPEG codes 8- or 12-bit samples only (ISO 10918-1 B.2.2), and
        # the header must agree with the codestream (PS3.5 8.2.1): fewer bits
        # are coded at the next precision up and Bits Stored says so (the
        # values do not change). dcmtk and dcm4che write the same.
        if kw == "JPEGBaseline8Bit":
            if ba != 8 or signed:
                raise _fail(ts, f"JPEG baseline needs unsigned 8-bit data, got "
                                f"{dtype} with Bits Stored {bs}")
            bs = 8
        elif kw == "JPEGExtended12Bit":
            if signed:
                raise _fail(ts, "lossy JPEG cannot code signed data")
            if ba == 8:
                bs = 8
            elif ba == 16 and (bits_stored is None or bs <= 12):
                bs = 12
            else:
                raise _fail(ts, f"12-bit JPEG needs (u)int8 or uint16 data with "
                                f"Bits Stored <= 12, got {dtype} / {bs}")
        else:
            if ba > 16 or bs < 2:
                raise _fail(ts, f"lossless JPEG codes 2-16 bits, got {dtype} / {bs}")
            predictor = int(options.get("predictor") or 1)
            if kw == "JPEGLosslessSV1" and predictor != 1:
                raise _fail(ts, "JPEG Lossless SV1 requires predictor 1")
            if not 1 <= predictor <= 7:
                raise _fail(ts, f"JPEG lossless predictor must be 1-7, got {predictor}")
            options["predictor"] = predictor
    elif fam == "jpegls":
        if ba > 16 or bs < 2:
            raise _fail(ts, f"JPEG-LS codes 2-16 bits, got {dtype} / {bs}")
        if bs not in (8, 16):
            try:
                import jpeg_ls  # noqa: F401
            except ImportError as exc:
                raise _fail(
                    ts,
                    f"JPEG-LS at {bs} bits needs pyjpegls (imagecodecs.jpegls_encode "
                    "only writes 8- or 16-bit precision)",
                ) from exc
    elif fam == "jpeg2k":
        if bs > 26:
            raise _fail(ts, f"OpenJPEG (imagecodecs) codes at most 26 bits, got {bs}; "
                            "pass bits_stored=")
    elif fam == "jpegxl":
        if signed:
            raise _fail(ts, "JPEG XL has no signed integer samples")
        if ba > 16:
            raise _fail(ts, f"JPEG XL integer samples are at most 16 bits, got {dtype}")
        if kw == "JPEGXLJPEGRecompression" and (ba != 8 or bs != 8):
            raise _fail(ts, "JPEG recompression needs unsigned 8-bit data")
    return bs


def _photometric(
    ts: TransferSyntax, photometric: str | None, samples: int, lossy: bool
) -> str:
    """The Photometric Interpretation to write, checked against ``ts``."""
    fam, kw = ts.family, ts.keyword
    pi = photometric or default_photometric(ts, samples, lossy=lossy)
    pi = str(pi).strip().upper()
    if samples == 1 and pi not in _MONO:
        raise _fail(ts, f"one sample per pixel needs a monochrome or palette "
                        f"Photometric Interpretation, got {pi}")
    if samples == 3 and pi in _MONO:
        raise _fail(ts, f"three samples per pixel cannot be {pi}")
    if pi not in ts.photometric:
        raise _fail(ts, f"Photometric Interpretation {pi} is not allowed; PS3.5 "
                        f"allows {', '.join(ts.photometric)}")
    if samples == 3:
        allowed: tuple[str, ...]
        if fam == "jpeg" and lossy:
            allowed = ("RGB", "YBR_FULL", "YBR_FULL_422")
        elif kw == "JPEGXLJPEGRecompression":
            allowed = ("RGB", "YBR_FULL", "YBR_FULL_422")
        elif fam in ("jpeg2k", "htj2k"):
            allowed = ("RGB", "YBR_FULL", "YBR_ICT" if lossy else "YBR_RCT")
        else:
            allowed = ("RGB", "YBR_FULL")
        if pi not in allowed:
            raise _fail(ts, f"{pi} cannot be written with "
                            f"{'lossy' if lossy else 'lossless'} {kw}; use one of "
                            f"{', '.join(allowed)}")
    return pi


def _check_range(plan: _Plan, arr: np.ndarray) -> None:
    """Raise unless the values of ``arr`` fit Bits Stored."""
    if plan.bits_allocated == 1 or arr.size == 0:
        return
    bs = plan.bits_stored
    if plan.signed:
        lo, hi = -(1 << (bs - 1)), (1 << (bs - 1)) - 1
    else:
        lo, hi = 0, (1 << bs) - 1
    amin, amax = int(arr.min()), int(arr.max())
    if amin < lo or amax > hi:
        raise _fail(plan.ts, f"values {amin}..{amax} do not fit Bits Stored {bs} "
                             f"({'signed' if plan.signed else 'unsigned'} {lo}..{hi})")
    if plan.signed and plan.ts.family == "jpegls" and plan.level:
        # JPEG-LS codes the two's complement bit pattern: -2**(bs-1) and
        # 2**(bs-1)-1 are neighbours there, so a reconstruction error of up to
        # NEAR near either end flips the sign after decoding.
        if amin < lo + plan.level or amax > hi - plan.level:
            raise _fail(plan.ts, f"signed near-lossless JPEG-LS with NEAR={plan.level} "
                                 f"needs values in {lo + plan.level}.."
                                 f"{hi - plan.level} (got {amin}..{amax}): errors "
                                 "near the ends would wrap around the sign")


def _codec_array(plan: _Plan, frame: np.ndarray, *, unsigned: bool) -> np.ndarray:
    """Return ``frame`` in the smallest integer type holding Bits Stored.

    With ``unsigned`` True, signed values become their two's complement bit
    pattern masked to Bits Stored (JPEG lossless, JPEG-LS), as PS3.5 requires.
    """
    bs = plan.bits_stored
    size = 1 if bs <= 8 else 2 if bs <= 16 else 4
    if plan.signed and unsigned:
        mask = (1 << bs) - 1
        return np.ascontiguousarray(
            (frame.astype(np.int64) & mask).astype(f"u{size}"))
    kind = "i" if plan.signed else "u"
    return np.ascontiguousarray(frame, dtype=f"{kind}{size}")
