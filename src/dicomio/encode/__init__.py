"""Encode arrays as DICOM codestreams, datasets and files.

The encoding side of dicomio: tests, the bundled samples, the imageio writer
and the benchmarks use it to produce data in every Transfer Syntax dicomio
decodes (video excepted).

* :func:`encode_frame` turns one frame into the bytes of one frame for a
  Transfer Syntax (a codestream for the compressed ones).
* :func:`encode_frames` does the same for a stack of frames.
* :func:`make_dataset` builds a complete Secondary Capture
  :class:`pydicom.dataset.Dataset` whose Image Pixel attributes match the
  encoded data.
* :func:`write` saves such a dataset atomically; :func:`save_dataset` and
  :func:`dataset_bytes` also write the Transfer Syntaxes pydicom 3.0 cannot
  (Deflated Image Frame Compression and JPEG XL), so use them rather than
  ``Dataset.save_as``.

Arrays are ``(rows, cols)`` or ``(rows, cols, samples)`` per frame. Colour input
is always given as the samples to encode; where the codec itself performs the
colour transform the Photometric Interpretation names (JPEG ``YBR_FULL`` /
``YBR_FULL_422``, JPEG 2000 ``YBR_RCT`` / ``YBR_ICT``), the input is RGB.

Meaning of ``level`` per codec family (``None`` picks the default in brackets):

=================================  ==========================================
Deflated Image Frame (1.2.8.1)     zlib level 0-9 [9]
JPEG baseline / extended           quality 1-100 [90]
JPEG lossless                      ignored (``predictor=`` selects 1-7 [1])
JPEG-LS                            NEAR, the maximum error [0 for .80, 2 for .81]
JPEG 2000 lossy                    target PSNR in dB [50]
HTJ2K lossy                        quantization step in (0, 1] of Bits Stored's
                                   full scale [0.01]
JPEG XL lossy                      quality 0-100 [90]
=================================  ==========================================

Facts the encoders rely on (imagecodecs 2026.3.6, pyjpegls 1.5.1):

* Deflated Image Frame Compression (PS3.5 A.4.13) is *raw* deflate
  (RFC 1951, no zlib header or Adler-32 trailer) of each frame's native
  little-endian bytes, one fragment per frame, padded to even length.
* ``jpeg8_encode`` (libjpeg-turbo 3) writes 12-bit lossy JPEG (SOF1) with
  ``bitspersample=12`` and lossless JPEG (SOF3) at 2-16 bits with
  ``lossless=True, predictor=n``.
* ``jpegls_encode`` writes the container precision (8 or 16 bits) and a SPIFF
  header; the SPIFF header is removed here and other precisions go through
  pyjpegls (``jpeg_ls.encode_buffer``), so the codestream precision always
  equals Bits Stored.
* ``htj2k_encode`` (OpenJPH) has no precision option: the codestream precision
  is 8, 16 or 32 bits, and Bits Stored is set to that precision. Its default
  progression order is RPCL; ``tlm=True`` adds TLM markers.
* ``jpeg2k_encode`` writes JPEG 2000 Part 1 codestreams. No installed encoder
  writes Part 2 multi-component transforms, so JPEG 2000 Part 2 (.92 / .93)
  streams are Part 1 codestreams (RCT / ICT for colour), which Part 2
  decoders read.
* ``dicomrle_encode`` is not implemented in imagecodecs; RLE is encoded here
  (PS3.5 Annex G).
* JPEG XL has no signed integers; signed data is refused for JPEG XL.
* Signed data in JPEG lossless and JPEG-LS is the two's complement bit
  pattern masked to Bits Stored. Near-lossless JPEG-LS errors are bounded in
  that bit pattern, so values within NEAR of either end of the signed range
  would flip sign: such data is refused.
* imagecodecs' ``htj2k_decode`` does not clamp lossy reconstructions (values
  overshooting the range wrap around, e.g. 255 -> 0); pylibjpeg-openjpeg
  clamps. Lossy HTJ2K should be checked with the latter.
* pydicom's ``generate_uid(prefix=None, entropy_srcs=...)`` ignores the
  entropy sources (random UUID); :func:`uid_from` makes reproducible UIDs.
"""

from __future__ import annotations

import datetime
import os
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID, generate_uid

from ..errors import EncodeError
from ..tsyntax import TransferSyntax, lookup
from .atomic import atomic_write

__all__ = [
    "encode_frame",
    "encode_frames",
    "make_dataset",
    "write",
    "save_dataset",
    "dataset_bytes",
    "rle_encode_frame",
    "default_photometric",
    "uid_from",
    "LOSSLESS_ENCODABLE",
    "LOSSY_ENCODABLE",
    "ENCODABLE",
    "ENCODER_OPTIONS",
]

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

# Secondary Capture SOP Classes (PS3.4 B.5).
_SC = "1.2.840.10008.5.1.4.1.1.7"
_SC_MF_BIT = "1.2.840.10008.5.1.4.1.1.7.1"
_SC_MF_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"
_SC_MF_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
_SC_MF_COLOR = "1.2.840.10008.5.1.4.1.1.7.4"

#: Implementation Class UID written in the File Meta Information.
#: (``uid_from("implementation")``, a name-based UUID UID).
IMPLEMENTATION_CLASS_UID = "2.25.279804929913142677400103935210234737883"
IMPLEMENTATION_VERSION_NAME = "DICOMIO"

_METHODS = {
    "jpeg": "ISO_10918_1",
    "jpegls": "ISO_14495_1",
    "jpeg2k": "ISO_15444_1",
    "htj2k": "ISO_15444_15",
    "jpegxl": "ISO_18181_1",
}


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


def _imagecodecs(ts: TransferSyntax, name: str) -> Any:
    """Return an imagecodecs function, or raise EncodeError."""
    try:
        import imagecodecs
    except ImportError as exc:  # pragma: no cover - hard dependency
        raise _fail(ts, "imagecodecs is not installed") from exc
    func = getattr(imagecodecs, name, None)
    if func is None:  # pragma: no cover - depends on the imagecodecs build
        raise _fail(ts, f"this imagecodecs build has no {name}()")
    return func


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
    options.pop("data_bits", None)
    unknown = set(options) - set(ENCODER_OPTIONS)
    if unknown:
        raise _fail(
            ts,
            f"unknown encoder option(s) {sorted(unknown)}; known: "
            f"{', '.join(ENCODER_OPTIONS)}",
        )
    if ts.keyword not in ENCODABLE:
        raise _fail(ts, "dicomio cannot encode this Transfer Syntax (video)")
    rows, cols, samples = _frame_geometry(ts, shape)
    dtype = np.dtype(dtype)
    ba = _bits_allocated(ts, dtype)
    signed = dtype.kind == "i"
    bs = ba if bits_stored is None else int(bits_stored)
    if not 1 <= bs <= ba:
        raise _fail(ts, f"Bits Stored {bs} does not fit Bits Allocated {ba}")
    fam, kw = ts.family, ts.keyword

    # -- lossy or not, and the codec level ---------------------------------
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

    # -- bit depth and sign per codec ---------------------------------------
    if ba == 1 and kw not in (
        "ImplicitVRLittleEndian", "ExplicitVRLittleEndian", "ExplicitVRBigEndian",
        "DeflatedExplicitVRLittleEndian", "DeflatedImageFrameCompression",
        "EncapsulatedUncompressedExplicitVRLittleEndian",
    ):
        raise _fail(ts, "1-bit (bool) data is only encodable uncompressed or deflated")
    if ba == 1 and samples != 1:
        raise _fail(ts, "1-bit data must have one sample per pixel")
    if fam == "jpeg":
        if kw == "JPEGBaseline8Bit":
            if ba != 8 or signed or bs != 8:
                raise _fail(ts, f"JPEG baseline needs unsigned 8-bit data, got "
                                f"{dtype} with Bits Stored {bs}")
        elif kw == "JPEGExtended12Bit":
            if signed:
                raise _fail(ts, "lossy JPEG cannot code signed data")
            if ba == 8:
                if bs != 8:
                    raise _fail(ts, "8-bit JPEG extended needs Bits Stored 8")
            elif ba == 16 and (bits_stored is None or bs <= 12):
                bs = 12  # PS3.5 Table 8.2.1-1: Bits Stored 8 or 12
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
    elif fam == "htj2k":
        options["data_bits"] = bs
        bs = 8 if bs <= 8 else 16 if bs <= 16 else 32  # OpenJPH precision
    elif fam == "jpegxl":
        if signed:
            raise _fail(ts, "JPEG XL has no signed integer samples")
        if ba > 16:
            raise _fail(ts, f"JPEG XL integer samples are at most 16 bits, got {dtype}")
        if kw == "JPEGXLJPEGRecompression" and (ba != 8 or bs != 8):
            raise _fail(ts, "JPEG recompression needs unsigned 8-bit data")

    # -- photometric interpretation -----------------------------------------
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
    planar = int(options.get("planar_configuration") or 0)
    if planar not in (0, 1):
        raise _fail(ts, f"Planar Configuration must be 0 or 1, got {planar}")
    if planar and (samples == 1 or fam not in ("native", "deflate", "rle")):
        raise _fail(ts, "Planar Configuration 1 needs colour data and an "
                        "uncompressed, deflated or RLE Transfer Syntax")
    options["planar_configuration"] = planar
    return _Plan(ts, rows, cols, samples, dtype, ba, bs, signed, pi, lossy,
                 level, options)


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


# -- codec implementations ---------------------------------------------------


def _native_bytes(plan: _Plan, frame: np.ndarray, big_endian: bool = False) -> bytes:
    """Return the uncompressed bytes of one frame (little endian by default)."""
    if plan.bits_allocated == 1:
        bits = np.ascontiguousarray(frame, dtype=bool).ravel()
        return np.packbits(bits, bitorder="little").tobytes()
    arr = frame
    if plan.samples > 1 and plan.options.get("planar_configuration"):
        arr = np.moveaxis(arr, -1, 0)
    dtype = plan.dtype.newbyteorder(">" if big_endian else "<")
    return np.ascontiguousarray(arr, dtype=dtype).tobytes()


def _packbits_rows(plane: np.ndarray) -> bytearray:
    """PackBits-encode each row of a 2D uint8 plane (PS3.5 G.3.1).

    Runs of three or more equal bytes become Replicate Runs, everything else
    Literal Runs; no run crosses a row boundary and -128 is never written.
    """
    rows, cols = plane.shape
    flat = np.ascontiguousarray(plane, dtype=np.uint8).ravel()
    n = flat.size
    change = np.ones(n, dtype=bool)
    change[1:] = flat[1:] != flat[:-1]
    change[::cols] = True
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, n))
    rep = lengths >= 3
    token = rep.copy()
    token |= starts % cols == 0
    token[1:] |= rep[:-1]
    first = np.flatnonzero(token)
    tok_start = starts[first]
    tok_end = np.append(tok_start[1:], n)
    tok_rep = rep[first]
    data = flat.tobytes()
    out = bytearray()
    for s, e, r in zip(tok_start.tolist(), tok_end.tolist(), tok_rep.tolist(),
                       strict=True):
        count = e - s
        if r:
            value = data[s]
            while count:
                take = count
                if count > 128:
                    take = 128 if count - 128 >= 2 else 127
                out.append(257 - take)  # -(take - 1) as a signed byte
                out.append(value)
                count -= take
        else:
            while count:
                take = min(count, 128)
                out.append(take - 1)
                out += data[s:s + take]
                s += take
                count -= take
    return out


def rle_encode_frame(frame: np.ndarray, bits_allocated: int | None = None) -> bytes:
    """Return one RLE Lossless frame (PS3.5 Annex G) for ``frame``.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)`` integers; signed values
        are stored as two's complement.
    bits_allocated : int, optional
        8, 16 or 32; defaults to the dtype's size.

    Returns
    -------
    bytes
        The 64-byte RLE header followed by the RLE segments (one per byte of
        each sample, most significant byte first, each padded to even length).
    """
    arr = np.asarray(frame)
    if arr.ndim == 2:
        arr = arr[..., np.newaxis]
    size = (bits_allocated or arr.dtype.itemsize * 8) // 8
    arr = np.ascontiguousarray(arr, dtype=f">{arr.dtype.kind}{size}")
    rows, cols, samples = arr.shape
    nseg = samples * size
    if nseg > 15:
        raise EncodeError(f"RLE holds at most 15 segments, {nseg} needed",
                          transfer_syntax="RLELossless (1.2.840.10008.1.2.5)")
    planes = arr.view(np.uint8).reshape(rows, cols, samples, size)
    segments: list[bytes] = []
    for s in range(samples):
        for b in range(size):  # big-endian view: byte 0 is the most significant
            packed = _packbits_rows(planes[:, :, s, b])
            if len(packed) % 2:
                packed.append(0)
            segments.append(bytes(packed))
    header = np.zeros(16, dtype="<u4")
    header[0] = nseg
    offset = 64
    for i, segment in enumerate(segments):
        header[i + 1] = offset
        offset += len(segment)
    return header.tobytes() + b"".join(segments)


def _strip_spiff(cs: bytes) -> bytes:
    """Remove a SPIFF header (APP8 segments after SOI) from a JPEG-LS stream."""
    if cs[2:4] != b"\xff\xe8" or cs[6:12] != b"SPIFF\x00":
        return cs
    i = 2
    while cs[i:i + 2] == b"\xff\xe8":
        length = int.from_bytes(cs[i + 2:i + 4], "big")
        end_of_directory = cs[i + 4:i + 8] == b"\x00\x00\x00\x01"
        i += 2 + length
        if end_of_directory:
            break
    return b"\xff\xd8" + cs[i:]


def _strip_j2k_comments(cs: bytes) -> bytes:
    """Drop COM segments (encoder banners) from a J2K main header."""
    if cs[:2] != b"\xff\x4f":
        return cs
    out = bytearray(cs[:2])
    i = 2
    while i + 4 <= len(cs):
        marker = cs[i:i + 2]
        if marker == b"\xff\x90":  # SOT: the main header ends here
            break
        length = int.from_bytes(cs[i + 2:i + 4], "big")
        if marker != b"\xff\x64":
            out += cs[i:i + 2 + length]
        i += 2 + length
    return bytes(out) + cs[i:]


def _jpeg(plan: _Plan, frame: np.ndarray, baseline_only: bool = False) -> bytes:
    ts = plan.ts
    encode = _imagecodecs(ts, "jpeg8_encode")
    kwargs: dict[str, Any] = {}
    lossless = not plan.lossy and not baseline_only
    data = _codec_array(plan, frame, unsigned=True)
    if lossless:
        kwargs.update(lossless=True, predictor=plan.options["predictor"],
                      bitspersample=plan.bits_stored)
        if plan.samples == 3:
            kwargs.update(colorspace="RGB", outcolorspace="RGB")
    else:
        kwargs["level"] = plan.level
        if plan.bits_stored == 12:
            kwargs["bitspersample"] = 12
        if plan.samples == 3:
            if plan.photometric == "RGB":
                kwargs.update(colorspace="RGB", outcolorspace="RGB")
            else:
                sub = plan.options.get("subsampling")
                if sub is None:
                    sub = "422" if plan.photometric == "YBR_FULL_422" else "444"
                if plan.photometric == "YBR_FULL" and sub != "444":
                    raise _fail(ts, "YBR_FULL means no chroma subsampling")
                if plan.photometric == "YBR_FULL_422" and sub != "422":
                    raise _fail(ts, "YBR_FULL_422 means 4:2:2 subsampling")
                kwargs["subsampling"] = sub
    return bytes(encode(data, **kwargs))


def _jpegls(plan: _Plan, frame: np.ndarray) -> bytes:
    data = _codec_array(plan, frame, unsigned=True)
    near = int(plan.level or 0)
    if plan.bits_stored == data.itemsize * 8:
        encode = _imagecodecs(plan.ts, "jpegls_encode")
        cs = bytes(encode(data, level=near if near else None))
    else:
        import jpeg_ls

        cs = bytes(jpeg_ls.encode_buffer(
            data.tobytes(), plan.rows, plan.cols, plan.samples, plan.bits_stored,
            lossy_error=near, interleave_mode=2 if plan.samples > 1 else None,
        ))
    return _strip_spiff(cs)


def _jpeg2k(plan: _Plan, frame: np.ndarray) -> bytes:
    encode = _imagecodecs(plan.ts, "jpeg2k_encode")
    data = _codec_array(plan, frame, unsigned=False)
    kwargs: dict[str, Any] = dict(
        codecformat="j2k",
        reversible=not plan.lossy,
        mct=plan.photometric in ("YBR_RCT", "YBR_ICT"),
    )
    if plan.bits_stored != data.itemsize * 8:
        kwargs["bitspersample"] = plan.bits_stored
    if plan.options.get("decompositions") is not None:
        kwargs["resolutions"] = int(plan.options["decompositions"]) + 1
    if plan.samples > 1:
        kwargs["planar"] = False
    level = plan.level if plan.lossy else None
    return _strip_j2k_comments(bytes(encode(data, level, **kwargs)))


def _htj2k(plan: _Plan, frame: np.ndarray) -> bytes:
    encode = _imagecodecs(plan.ts, "htj2k_encode")
    data = _codec_array(plan, frame, unsigned=False)
    kwargs: dict[str, Any] = dict(reversible=not plan.lossy)
    if plan.samples > 1:
        kwargs.update(planar=False,
                      rgb=plan.photometric in ("YBR_RCT", "YBR_ICT"))
    decompositions = plan.options.get("decompositions")
    if plan.ts.keyword == "HTJ2KLosslessRPCL":
        # PS3.5 A.4.6: RPCL (OpenJPH's default order), TLM markers, and enough
        # decompositions for a base resolution of at most 64 pixels.
        need = 0
        while max(plan.rows, plan.cols) > (64 << need):
            need += 1
        decompositions = max(need, 5 if decompositions is None else decompositions)
        kwargs.update(tlm=True, tilepart=1)
    if decompositions is not None:
        kwargs["resolutions"] = int(decompositions)
    level = None
    if plan.lossy:
        # The step is relative to the codestream's full scale; make ``level``
        # relative to the data's Bits Stored instead.
        shift = plan.options.get("data_bits", plan.bits_stored) - plan.bits_stored
        level = plan.level * 2.0 ** shift
    return _strip_j2k_comments(bytes(encode(data, level, **kwargs)))


def _jpegxl(plan: _Plan, frame: np.ndarray) -> bytes:
    ts = plan.ts
    if ts.keyword == "JPEGXLJPEGRecompression":
        jpeg = _jpeg(plan, frame, baseline_only=True)
        recompress = _imagecodecs(ts, "jpegxl_encode_jpeg")
        return bytes(recompress(jpeg))
    encode = _imagecodecs(ts, "jpegxl_encode")
    data = _codec_array(plan, frame, unsigned=False)
    kwargs: dict[str, Any] = dict(usecontainer=False)
    if plan.bits_stored != data.itemsize * 8:
        kwargs["bitspersample"] = plan.bits_stored
    if plan.options.get("effort") is not None:
        kwargs["effort"] = int(plan.options["effort"])
    if not plan.lossy:
        kwargs["lossless"] = True
    elif plan.options.get("distance") is not None:
        kwargs["distance"] = float(plan.options["distance"])
    else:
        kwargs["level"] = plan.level
    return bytes(encode(data, **kwargs))


def _encode(plan: _Plan, frame: np.ndarray) -> bytes:
    ts = plan.ts
    fam = ts.family
    try:
        if fam == "native":
            return _native_bytes(plan, frame, big_endian=ts.is_big_endian)
        if fam == "deflate":
            raw = _native_bytes(plan, frame)
            comp = zlib.compressobj(plan.level, zlib.DEFLATED, -15)
            return comp.compress(raw) + comp.flush()
        if fam == "rle":
            data = frame
            if plan.samples > 1 and frame.ndim == 2:  # pragma: no cover
                data = frame[..., np.newaxis]
            return rle_encode_frame(data, plan.bits_allocated)
        if fam == "jpeg":
            return _jpeg(plan, frame)
        if fam == "jpegls":
            return _jpegls(plan, frame)
        if fam == "jpeg2k":
            return _jpeg2k(plan, frame)
        if fam == "htj2k":
            return _htj2k(plan, frame)
        if fam == "jpegxl":
            return _jpegxl(plan, frame)
    except EncodeError:
        raise
    except Exception as exc:
        raise _fail(ts, f"the encoder failed: {type(exc).__name__}: {exc}") from exc
    raise _fail(ts, "dicomio cannot encode this Transfer Syntax")  # pragma: no cover


def _as_frame(arr: Any) -> np.ndarray:
    frame = np.asarray(arr)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    return frame


def encode_frame(
    arr: np.ndarray,
    transfer_syntax: str | TransferSyntax,
    *,
    photometric: str | None = None,
    level: float | int | None = None,
    bits_stored: int | None = None,
    **opts: Any,
) -> bytes:
    """Encode one frame for a Transfer Syntax.

    Parameters
    ----------
    arr : numpy.ndarray
        One frame, ``(rows, cols)`` or ``(rows, cols, samples)``; dtype bool
        (1 bit), (u)int8, (u)int16 or (u)int32. Signed dtypes mean Pixel
        Representation 1.
    transfer_syntax : str
        Transfer Syntax UID or keyword (see :data:`ENCODABLE`).
    photometric : str, optional
        Photometric Interpretation of the encoded stream; default from
        :func:`default_photometric`. ``YBR_FULL`` / ``YBR_FULL_422`` with a
        lossy JPEG syntax and ``YBR_RCT`` / ``YBR_ICT`` with JPEG 2000 / HTJ2K
        make the codec convert the RGB input; any other value labels the
        samples as given.
    level : int or float, optional
        Codec level, see the module documentation.
    bits_stored : int, optional
        Bits Stored (codestream precision); defaults to the dtype's size.
    **opts
        ``lossless`` (bool: reversible coding in JPEG 2000 / HTJ2K / JPEG XL
        lossy syntaxes, NEAR=0 for JPEG-LS near-lossless), ``predictor``
        (JPEG lossless, 1-7), ``near`` (JPEG-LS), ``subsampling`` (JPEG,
        ``"422"`` or ``"444"``), ``decompositions`` (JPEG 2000 / HTJ2K),
        ``effort`` and ``distance`` (JPEG XL), ``planar_configuration``
        (uncompressed / deflated / RLE colour).

    Returns
    -------
    bytes
        The frame's bytes: a codestream, an RLE frame, raw deflate data, or
        the uncompressed frame (big endian for Explicit VR Big Endian). Odd
        lengths are not padded; :func:`make_dataset` pads fragments.

    Raises
    ------
    dicomio.errors.EncodeError
        When the Transfer Syntax cannot hold this data (e.g. signed data in
        JPEG baseline), naming the syntax and the reason.
    """
    ts = _lookup(transfer_syntax)
    frame = _as_frame(arr)
    plan = _plan(ts, frame.shape, frame.dtype, photometric=photometric, level=level,
                 bits_stored=bits_stored, **opts)
    _check_range(plan, frame)
    return _encode(plan, frame)


def encode_frames(
    frames: np.ndarray,
    transfer_syntax: str | TransferSyntax,
    **same: Any,
) -> list[bytes]:
    """Encode each frame of ``(n, rows, cols[, samples])`` with :func:`encode_frame`.

    Parameters
    ----------
    frames : numpy.ndarray or sequence of arrays
        The frames, first axis is the frame index.
    transfer_syntax : str
        Transfer Syntax UID or keyword.
    **same
        Keyword arguments of :func:`encode_frame`, used for every frame.

    Returns
    -------
    list of bytes
        One encoded frame per input frame.
    """
    ts = _lookup(transfer_syntax)
    stack = np.asarray(frames)
    if stack.ndim < 3:
        raise _fail(ts, f"frames must be (n, rows, cols[, samples]), got {stack.shape}")
    return [encode_frame(f, ts, **same) for f in stack]


# -- datasets ------------------------------------------------------------------


def _split_frames(
    ts: TransferSyntax,
    arr: np.ndarray,
    multiframe: bool | None,
    photometric: str | None,
) -> tuple[np.ndarray, bool]:
    """Return ``(n, rows, cols[, s])`` frames and whether the file is multi-frame."""
    colour_pi = photometric is not None and str(photometric).upper() not in _MONO
    if multiframe is None:
        if arr.ndim == 2:
            multiframe = False
        elif arr.ndim == 4:
            multiframe = True
        elif arr.ndim == 3:
            if photometric is not None:
                multiframe = not colour_pi
            else:
                multiframe = arr.shape[2] != 3
        else:
            raise _fail(ts, f"cannot interpret an array of shape {arr.shape}")
    if multiframe:
        if arr.ndim not in (3, 4):
            raise _fail(ts, f"multi-frame data must be (n, rows, cols[, samples]), "
                            f"got {arr.shape}")
        stack = arr
    else:
        if arr.ndim not in (2, 3):
            raise _fail(ts, f"a single frame must be (rows, cols[, samples]), "
                            f"got {arr.shape}")
        stack = arr[np.newaxis]
    if stack.ndim == 4 and stack.shape[3] == 1:
        stack = stack[..., 0]
    if stack.shape[0] < 1:
        raise _fail(ts, "no frames to encode")
    return stack, bool(multiframe)


def _coerce_sign(
    ts: TransferSyntax, arr: np.ndarray, signed: bool | None
) -> np.ndarray:
    if signed is None or arr.dtype == np.bool_:
        return arr
    kind = "i" if signed else "u"
    if arr.dtype.kind == kind:
        return arr
    target = np.dtype(f"{kind}{arr.dtype.itemsize}")
    info = np.iinfo(target)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        raise _fail(ts, f"signed={signed}: values {arr.min()}..{arr.max()} do not fit "
                        f"{target}")
    return arr.astype(target)


def _sop_class(plan: _Plan, multiframe: bool) -> str:
    if not multiframe:
        return _SC
    if plan.samples == 3:
        return _SC_MF_COLOR
    return {1: _SC_MF_BIT, 8: _SC_MF_BYTE, 16: _SC_MF_WORD}.get(
        plan.bits_allocated, _SC)


def _ds_values(values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return [values]
    return list(values)


def _num(value: float) -> float | int:
    f = float(value)
    return int(f) if f.is_integer() else f


def uid_from(*names: str) -> str:
    """Return a deterministic ``2.25.`` UID (name-based UUID) for ``names``.

    ``pydicom.uid.generate_uid(prefix=None, ...)`` ignores its entropy
    sources and returns a random UUID, hence this helper.
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'dicomio:' + '/'.join(names)).int}"


def _uid(seed: str | None, role: str) -> str:
    if seed is None:
        return generate_uid()
    return uid_from(seed, role)


def make_dataset(
    frames: np.ndarray,
    transfer_syntax: str | TransferSyntax = "ExplicitVRLittleEndian",
    *,
    photometric: str | None = None,
    multiframe: bool | None = None,
    bits_stored: int | None = None,
    planar_configuration: int = 0,
    signed: bool | None = None,
    sop_class_uid: str | None = None,
    pixel_spacing: Sequence[float] | None = None,
    image_position: Sequence[float] | None = None,
    image_orientation: Sequence[float] | None = None,
    rescale: Sequence[Any] | None = None,
    window: Sequence[Any] | None = None,
    extended_offset_table: bool = False,
    basic_offset_table: bool = True,
    fragments_per_frame: int = 1,
    level: float | int | None = None,
    lossless: bool | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    patient_name: str = "Dicomio^Synthetic",
    patient_id: str = "DICOMIO",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    uid_seed: str | None = None,
    study_date: str | datetime.date | None = None,
    study_time: str | None = None,
    study_description: str | None = None,
    modality: str = "OT",
    series_number: int = 1,
    series_description: str | None = None,
    instance_number: int = 1,
    **attrs: Any,
) -> Dataset:
    """Build a complete DICOM dataset holding ``frames``.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(rows, cols)`` grey or ``(rows, cols, 3)`` colour for one frame;
        ``(n, rows, cols[, 3])`` for multi-frame. dtype bool (1 bit,
        bit-packed), (u)int8, (u)int16 or (u)int32 (Bits Allocated 8/16/32);
        signed dtypes give Pixel Representation 1.
    transfer_syntax : str
        UID or keyword (:data:`ENCODABLE`).
    photometric : str, optional
        Photometric Interpretation (see :func:`encode_frame`); default
        ``MONOCHROME2`` or :func:`default_photometric` for colour.
    multiframe : bool, optional
        Force (or forbid) a multi-frame object. By default a 2D array is one
        frame, a 4D array is multi-frame and a 3D array is one colour frame
        when its last axis is 3 (or ``photometric`` is a colour one), else a
        grey multi-frame. Multi-frame objects carry Number of Frames.
    bits_stored : int, optional
        Bits Stored; defaults to Bits Allocated. Values must fit. Codecs that
        cannot write this precision change it: 12 for JPEG extended 16-bit
        data, the container precision (8/16/32) for HTJ2K.
    planar_configuration : int
        0 (colour-by-pixel) or 1 (colour-by-plane, uncompressed / deflated /
        RLE only).
    signed : bool, optional
        Cast to a signed (True) or unsigned (False) dtype of the same size
        first (values must fit); default: keep the dtype.
    sop_class_uid : str, optional
        Default: Secondary Capture Image Storage for one frame, the matching
        Multi-frame Secondary Capture class (single bit, grayscale byte or
        word, true colour) for multi-frame.
    pixel_spacing, image_position, image_orientation : sequence of float
        Pixel Spacing (row, column, mm), Image Position (Patient) and Image
        Orientation (Patient).
    rescale : (slope, intercept[, type])
        Rescale Slope, Rescale Intercept and optionally Rescale Type.
    window : (center, width)
        Window Center / Window Width (scalars or sequences).
    extended_offset_table : bool
        Encapsulated data with an Extended Offset Table (and an empty Basic
        Offset Table), one fragment per frame.
    basic_offset_table : bool
        Write a Basic Offset Table (ignored with ``extended_offset_table``).
    fragments_per_frame : int
        Split each encapsulated frame into this many fragments.
    level, lossless, encoder_options
        Codec settings passed to :func:`encode_frame` (``encoder_options`` is
        a mapping of :data:`ENCODER_OPTIONS`; those names are also accepted as
        keyword arguments here).
    patient_name, patient_id, study_description, modality, series_number,
    series_description, instance_number
        Patient, study, series and instance attributes.
    study_instance_uid, series_instance_uid, sop_instance_uid : str, optional
        UIDs; by default fresh ones from :func:`pydicom.uid.generate_uid`, or
        derived from ``uid_seed`` when given (deterministic output).
    uid_seed : str, optional
        Derive every default UID from this string (``2.25.`` UIDs).
    study_date, study_time : str, optional
        ``YYYYMMDD`` / ``HHMMSS``; default now. Also used for Content Date
        and Time.
    **attrs
        Any other DICOM keyword (``SeriesInstanceUID``, ``InstanceNumber``,
        ``RescaleType``, ...), set last, so it overrides the defaults above.

    Returns
    -------
    pydicom.dataset.Dataset
        With File Meta Information (Transfer Syntax UID, SOP Class / Instance,
        Implementation Class UID) and Pixel Data native or encapsulated.
        Lossy coding adds Lossy Image Compression, its Ratio and Method.

    Raises
    ------
    dicomio.errors.EncodeError
        When the data cannot be written with this Transfer Syntax, or an
        attribute keyword is unknown.
    """
    ts = _lookup(transfer_syntax)
    arr = np.asarray(frames)
    if arr.dtype == object:
        arr = np.stack([np.asarray(f) for f in frames])
    stack, multiframe = _split_frames(ts, arr, multiframe, photometric)
    stack = _coerce_sign(ts, stack, signed)

    options: dict[str, Any] = dict(encoder_options or {})
    for name in list(attrs):
        if name in ENCODER_OPTIONS:
            options[name] = attrs.pop(name)
    unknown = [k for k in attrs if tag_for_keyword(k) is None]
    if unknown:
        raise _fail(ts, f"unknown DICOM keyword(s) {unknown}; encoder options are "
                        f"{', '.join(ENCODER_OPTIONS)}")
    if bits_stored is not None:
        options["bits_stored"] = bits_stored
    if lossless is not None:
        options["lossless"] = lossless
    options.setdefault("planar_configuration", planar_configuration)

    plan = _plan(ts, stack.shape[1:], stack.dtype, photometric=photometric,
                 level=level, **options)
    _check_range(plan, stack)
    nframes = stack.shape[0]

    # -- pixel data ----------------------------------------------------------
    pixel_vr = "OB" if plan.bits_allocated <= 8 else "OW"
    eot = eot_lengths = None
    if not ts.encapsulated:
        if plan.bits_allocated == 1:
            bits = np.ascontiguousarray(stack, dtype=bool).ravel()
            pixel_data = np.packbits(bits, bitorder="little").tobytes()
        else:
            pixel_data = b"".join(
                _native_bytes(plan, f, big_endian=ts.is_big_endian) for f in stack)
        if len(pixel_data) % 2:
            pixel_data += b"\x00"
        encoded_size = len(pixel_data)
    else:
        encoded = [_encode(plan, f) for f in stack]
        encoded_size = sum(len(e) for e in encoded)
        encoded = [e + b"\x00" if len(e) % 2 else e for e in encoded]
        fragments_per_frame = int(fragments_per_frame)
        if fragments_per_frame < 1:
            raise _fail(ts, "fragments_per_frame must be >= 1")
        if fragments_per_frame != 1 and (
            extended_offset_table or ts.family == "deflate"
            or ts.keyword == "EncapsulatedUncompressedExplicitVRLittleEndian"
        ):
            raise _fail(ts, "this encapsulation needs exactly one fragment per frame")
        if extended_offset_table:
            pixel_data, eot, eot_lengths = encapsulate_extended(encoded)
        else:
            pixel_data = encapsulate(encoded, fragments_per_frame=fragments_per_frame,
                                     has_bot=basic_offset_table)
        pixel_vr = "OB"

    # -- attributes ----------------------------------------------------------
    now = datetime.datetime.now()
    if study_date is None:
        study_date = now.strftime("%Y%m%d")
    elif isinstance(study_date, datetime.date):
        study_date = study_date.strftime("%Y%m%d")
    if study_time is None:
        study_time = now.strftime("%H%M%S")

    ds = Dataset()
    ds.SOPClassUID = sop_class_uid or _sop_class(plan, multiframe)
    ds.SOPInstanceUID = sop_instance_uid or _uid(uid_seed, "sop")
    ds.StudyDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.ContentTime = study_time
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    if study_description is not None:
        ds.StudyDescription = study_description
    if series_description is not None:
        ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_instance_uid or _uid(uid_seed, "study")
    ds.SeriesInstanceUID = series_instance_uid or _uid(uid_seed, "series")
    ds.StudyID = ""
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    if image_position is not None:
        ds.ImagePositionPatient = [_num(v) for v in image_position]
    if image_orientation is not None:
        ds.ImageOrientationPatient = [_num(v) for v in image_orientation]
    ds.BurnedInAnnotation = "NO"
    if plan.lossy:
        ratio = nframes * plan.frame_nbytes / max(encoded_size, 1)
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = round(ratio, 2)
        ds.LossyImageCompressionMethod = _METHODS[
            "jpeg" if ts.keyword == "JPEGXLJPEGRecompression" else ts.family]
    ds.SamplesPerPixel = plan.samples
    ds.PhotometricInterpretation = plan.photometric
    if plan.samples > 1:
        ds.PlanarConfiguration = plan.options["planar_configuration"]
    if multiframe:
        ds.NumberOfFrames = nframes
        ds.FrameIncrementPointer = 0x00182002  # Frame Label Vector
        ds.FrameLabelVector = [f"frame {i + 1}" for i in range(nframes)]
    ds.Rows = plan.rows
    ds.Columns = plan.cols
    if pixel_spacing is not None:
        ds.PixelSpacing = [_num(v) for v in pixel_spacing]
    ds.BitsAllocated = plan.bits_allocated
    ds.BitsStored = plan.bits_stored
    ds.HighBit = plan.bits_stored - 1
    ds.PixelRepresentation = int(plan.signed)
    if window is not None:
        center, width = window
        ds.WindowCenter = [_num(v) for v in _ds_values(center)]
        ds.WindowWidth = [_num(v) for v in _ds_values(width)]
    if rescale is not None:
        ds.RescaleIntercept = _num(rescale[1])
        ds.RescaleSlope = _num(rescale[0])
        if len(rescale) > 2:
            ds.RescaleType = rescale[2]
    for key, value in attrs.items():
        setattr(ds, key, value)
    if eot is not None:
        ds.ExtendedOffsetTable = eot
        ds.ExtendedOffsetTableLengths = eot_lengths
    ds.PixelData = pixel_data
    elem = ds["PixelData"]
    elem.VR = pixel_vr
    if ts.encapsulated:
        elem.is_undefined_length = True
    # Ambiguous VRs (US or SS) follow Pixel Representation.
    for key in attrs:
        if dictionary_VR(key) in ("US or SS", "US or OW", "US or SS or OW"):
            ds[key].VR = "SS" if plan.signed else "US"

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ts.uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    return ds


def write(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    transfer_syntax: str | TransferSyntax = "ExplicitVRLittleEndian",
    **make_dataset_kwargs: Any,
) -> None:
    """Write ``frames`` as a DICOM file, atomically.

    The dataset from :func:`make_dataset` is written to a temporary file in
    the destination directory, which then replaces ``path`` (``os.replace``),
    so readers never see a partial file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    frames : numpy.ndarray
        See :func:`make_dataset`.
    transfer_syntax : str
        UID or keyword.
    **make_dataset_kwargs
        Passed to :func:`make_dataset`.
    """
    ds = make_dataset(frames, transfer_syntax, **make_dataset_kwargs)
    save_dataset(ds, path)


def dataset_bytes(ds: Dataset) -> bytes:
    """Return ``ds`` encoded as a DICOM file (preamble, File Meta, data set).

    Unlike :meth:`pydicom.dataset.Dataset.save_as`, this also writes Transfer
    Syntaxes pydicom 3.0 does not know (Deflated Image Frame Compression,
    JPEG XL): their data sets are Explicit VR Little Endian (PS3.5 A.4).
    """
    buf = DicomBytesIO()
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if ts.is_transfer_syntax or ts.is_private:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        return buf.getvalue()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, ds.file_meta, enforce_standard=True)
    buf.is_implicit_VR = False
    buf.is_little_endian = True
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = True
    write_dataset(buf, ds)
    return buf.getvalue()


def save_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Save a dataset (from :func:`make_dataset`) atomically as a DICOM file.

    Also handles the Transfer Syntaxes pydicom cannot write itself (see
    :func:`dataset_bytes`).
    """
    data = dataset_bytes(ds)
    atomic_write(path, lambda fh: fh.write(data), suffix=".tmp")
