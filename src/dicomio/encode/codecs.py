"""Per-codec frame encoders and :func:`encode_frame` / :func:`encode_frames`.

Native and deflated bytes are made here; JPEG, JPEG-LS, JPEG 2000, HTJ2K and
JPEG XL through imagecodecs (and pyjpegls); RLE in ``rle.py``.
:func:`encode_frame` plans (``plan.py``), checks the value range and runs the
family's encoder; every codec failure becomes an ``EncodeError``.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import EncodeError
from ..tsyntax import TransferSyntax
from .plan import _check_range, _codec_array, _fail, _lookup, _Plan, _plan
from .rle import rle_encode_frame

__all__ = ["encode_frame", "encode_frames"]


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


def _jpeg2k(plan: _Plan, frame: np.ndarray, codec_threads: int = 1) -> bytes:
    encode = _imagecodecs(plan.ts, "jpeg2k_encode")
    data = _codec_array(plan, frame, unsigned=False)
    kwargs: dict[str, Any] = dict(
        codecformat="j2k",
        reversible=not plan.lossy,
        mct=plan.photometric in ("YBR_RCT", "YBR_ICT"),
    )
    if codec_threads > 1:
        # OpenJPEG codes code-blocks in its own threads; the stream is the same.
        kwargs["numthreads"] = codec_threads
    if plan.bits_stored != data.itemsize * 8:
        kwargs["bitspersample"] = plan.bits_stored
    if plan.options.get("decompositions") is not None:
        kwargs["resolutions"] = int(plan.options["decompositions"]) + 1
    if plan.samples > 1:
        kwargs["planar"] = False
    level = plan.level if plan.lossy else None
    return _strip_j2k_comments(bytes(encode(data, level, **kwargs)))


def _set_siz_precision(cs: bytes, bits: int, signed: bool) -> bytes:
    """Rewrite every component's Ssiz (precision and sign) in the SIZ marker."""
    if cs[2:4] != b"\xff\x51":
        raise ValueError("the codestream does not start with SOC, SIZ")
    ncomp = int.from_bytes(cs[40:42], "big")  # SOC, SIZ, Lsiz, Rsiz, 8 x 4 bytes
    out = bytearray(cs)
    for c in range(ncomp):
        out[42 + 3 * c] = (0x80 if signed else 0) | (bits - 1)
    return bytes(out)


def _htj2k_samples(plan: _Plan, data: np.ndarray) -> np.ndarray:
    """The samples to give OpenJPH so that the codestream can declare Bits Stored.

    OpenJPH always codes the container's precision C (8, 16 or 32 bits). After
    coding, SIZ is rewritten to the Bits Stored B (``_set_siz_precision``);
    the samples are first moved so that a decoder reading precision B gets
    the original values back:

    - reversible: the coefficients do not depend on the SIZ precision except
      through the DC level shift of unsigned data (2**(P-1)), so unsigned
      samples are offset by 2**(C-1) - 2**(B-1);
    - irreversible: the quantisation step sizes in QCD are relative to the
      nominal dynamic range that SIZ declares (ISO/IEC 15444-1 Annex E), so
      the samples are scaled by 2**(C-B); a B-bit decoder then reconstructs
      the same values at B bits (and clips to the B-bit range).
    """
    container = data.itemsize * 8
    bs = plan.bits_stored
    if bs >= container:
        return data
    if plan.lossy:
        return (data.astype(np.int64) << (container - bs)).astype(data.dtype)
    if plan.signed:
        return data
    offset = (1 << (container - 1)) - (1 << (bs - 1))
    return (data.astype(np.int64) + offset).astype(data.dtype)


def _htj2k(plan: _Plan, frame: np.ndarray) -> bytes:
    encode = _imagecodecs(plan.ts, "htj2k_encode")
    data = _codec_array(plan, frame, unsigned=False)
    precision = plan.bits_stored if plan.bits_stored < data.itemsize * 8 else 0
    data = _htj2k_samples(plan, data)
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
    # ``level`` (the step) is relative to the full scale 2**B of Bits Stored,
    # which the scaled samples above make the codestream's own.
    level = plan.level if plan.lossy else None
    cs = _strip_j2k_comments(bytes(encode(data, level, **kwargs)))
    if precision:
        cs = _set_siz_precision(cs, precision, plan.signed)
    return cs


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


def _encode(plan: _Plan, frame: np.ndarray, codec_threads: int = 1) -> bytes:
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
            return _jpeg2k(plan, frame, codec_threads)
        if fam == "htj2k":
            return _htj2k(plan, frame)
        if fam == "jpegxl":
            return _jpegxl(plan, frame)
    except EncodeError:
        raise
    except Exception as exc:
        raise _fail(ts, f"the encoder failed: {type(exc).__name__}: {exc}") from exc
    raise _fail(ts, "dicomio cannot encode this Transfer Syntax")  # pragma: no cover


def _encode_all(plan: _Plan, stack: np.ndarray, threads: int | None = None) -> list[bytes]:
    """Encode every frame of ``stack``, in order.

    Frames are coded in parallel threads (imagecodecs' encoders release the
    GIL: about 1.9x on 2 cores for JPEG 2000 and HTJ2K); a lone frame gets the
    codec's own threads instead where it has them (OpenJPEG). ``threads``:
    at most this many (default: one per core).
    """
    n = len(stack)
    threads = max(1, int(threads or os.cpu_count() or 1))
    if n <= 1 or threads == 1:
        return [_encode(plan, f, threads if n == 1 else 1) for f in stack]
    with ThreadPoolExecutor(max_workers=min(threads, n)) as pool:
        return list(pool.map(lambda f: _encode(plan, f), stack))


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
