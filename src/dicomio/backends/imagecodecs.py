"""imagecodecs backend: the fast primary decoder for every compressed family.

Its decoders release the GIL and accept ``out=``, so frames decode in parallel
threads straight into the output array. It knows nothing of DICOM, so this
module tells it the colour space (libjpeg-turbo would otherwise guess YCbCr for
an unmarked RGB stream) and the core fixes sign and precision afterwards
(OpenJPEG keeps the codestream's signedness, CharLS returns unsigned).
"""

from __future__ import annotations

import functools
from types import MappingProxyType
from typing import Any

import numpy as np

from ._base import (
    CHARLS,
    LIBJPEG_TURBO,
    LIBJXL,
    OPENJPEG,
    OPENJPH,
    ZLIB,
    Backend,
    Decoded,
    FrameContext,
    PixelSpec,
    family_syntaxes,
    require_eoi,
)
from ._unraisable import raised_in

__all__ = ["ImagecodecsBackend", "backend"]

_FAMILIES = ("rle", "deflate", "jpeg", "jpegls", "jpeg2k", "htj2k", "jpegxl")


class ImagecodecsBackend(Backend):
    """Decode JPEG, JPEG-LS, JPEG 2000, HTJ2K, JPEG XL, RLE and deflate frames."""

    name = "imagecodecs"
    install = "pip install imagecodecs"
    modules = ("imagecodecs",)
    # libjpeg-turbo decodes arithmetic coding, spectral selection and full
    # progression (retired .52-.56, measured on 8-bit streams jpegtran wrote
    # and 12-bit ones from tests/_jpegwriter); it
    # refuses the hierarchical mode ("Unsupported marker type 0xde") and
    # lossless arithmetic coding ("Requested feature was omitted at compile
    # time"), so .58 and .59-.66 are not claimed.
    syntaxes = family_syntaxes(*_FAMILIES, retired=(52, 53, 54, 55, 56))
    gil_free = True
    codec_thread_families = frozenset({"jpeg2k", "htj2k"})
    # imagecodecs.version() names the library behind each codec (2026.3.6:
    # libjpeg_turbo-3.1.3, openjpeg-2.5.4, charls-2.4.3, openjph-0.26.3,
    # libjxl-0.11.2, libdeflate-1.25; RLE is its own C code, imcd), and its
    # README lists the same. jpeg8_decode is libjpeg-turbo alone (lossless
    # and 12-bit included).
    libraries = MappingProxyType({
        "jpeg": LIBJPEG_TURBO, "jpegls": CHARLS, "jpeg2k": OPENJPEG,
        "htj2k": OPENJPEG, "jpegxl": LIBJXL, "rle": "imagecodecs RLE (imcd)",
        "deflate": "libdeflate",
    })

    def _check(self) -> None:
        from packaging.version import Version

        ic = self._mods["imagecodecs"]
        if Version(ic.__version__) < Version("2024.9.22"):
            raise ImportError(f"imagecodecs>=2024.9.22 needed, {ic.__version__} found")

    def supports(self, spec: PixelSpec) -> bool:
        if spec.transfer_syntax.uid not in self.syntaxes:
            return False
        fam = spec.transfer_syntax.family
        if fam == "jpeg" and spec.bits_stored > 16:
            return False
        if fam == "rle":
            return spec.bits_allocated in (8, 16, 32, 64)
        return True

    def libraries_for(self, family: str, info: Any = None) -> tuple[str, ...]:
        """OpenJPH then OpenJPEG for reversible HTJ2K (:func:`_htj2k`), and
        libdeflate then zlib for deflate (:func:`_deflate`)."""
        if family == "htj2k" and getattr(info, "reversible", True):
            return (OPENJPH, OPENJPEG)
        if family == "deflate":
            return ("libdeflate", ZLIB)  # _deflate falls back to zlib
        return super().libraries_for(family, info)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        ic = self.load()["imagecodecs"]
        fam = ctx.spec.transfer_syntax.family
        return _DECODERS[fam](ic, data, ctx)


def _out(ctx: FrameContext, dtype: Any) -> np.ndarray | None:
    """The caller's buffer when the codec would fill it with the same dtype."""
    out = ctx.out
    if out is not None and out.dtype == np.dtype(dtype) and out.flags.c_contiguous:
        return out
    return None


def _unsigned(spec: PixelSpec) -> np.dtype[Any]:
    return np.dtype(np.uint8 if spec.bits_stored <= 8 else np.uint16)


def _jpeg(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    spec, info = ctx.spec, ctx.info
    lossless = bool(getattr(info, "lossless", False))
    if spec.samples_per_pixel == 1:
        cs = out_cs = "GRAY"
        color = "MONOCHROME" if ctx.stream_color != "PALETTE" else "PALETTE"
    elif ctx.stream_color == "RGB":
        cs = out_cs = "RGB"
        color = "RGB"
    else:
        cs = "YCBCR"
        # Lossless processes carry no colour conversion in libjpeg-turbo.
        out_cs = "RGB" if (ctx.want_rgb and not lossless) else "YCBCR"
        color = "RGB" if out_cs == "RGB" else "YBR_FULL"
    if cs == "GRAY":
        arr = ic.jpeg8_decode(data, out=_out(ctx, _unsigned(spec)))
    else:
        arr = ic.jpeg8_decode(data, colorspace=cs, outcolorspace=out_cs,
                              out=_out(ctx, _unsigned(spec)))
    return Decoded(arr, color)


def _jpegls(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    require_eoi(data)
    arr = ic.jpegls_decode(data, out=_out(ctx, _unsigned(ctx.spec)))
    return Decoded(arr, _plain(ctx))


def _plain(ctx: FrameContext) -> str:
    c = ctx.stream_color
    return "YBR_FULL" if c == "YBR_FULL" else ("RGB" if c.startswith("YBR") else c)


def _j2k_out(ctx: FrameContext) -> np.ndarray | None:
    """The caller's buffer when OpenJPEG / OpenJPH would return that very dtype.

    Their dtype follows the codestream's SIZ (precision and sign), not the
    DICOM header, so ``out=`` is only given when the two agree; otherwise the
    core casts a copy as before.
    """
    info = ctx.info
    precs = getattr(info, "precisions", None)
    if (not precs or len(set(precs)) != 1 or len(set(info.signeds)) != 1
            or info.components != ctx.spec.samples_per_pixel
            or any(s != (1, 1) for s in getattr(info, "subsampling", ()) or ())):
        return None
    p = precs[0]
    size = 1 if p <= 8 else 2 if p <= 16 else 4
    return _out(ctx, np.dtype(f"{'i' if info.signeds[0] else 'u'}{size}"))


def _into(fn: Any, data: bytes, out: np.ndarray | None, **kwargs: Any) -> Any:
    """``fn(data, out=out)``; without ``out`` when the codec refuses it."""
    if out is not None:
        try:
            return fn(data, out=out, **kwargs)
        except Exception:
            pass  # decode again into a new array: same errors as before
    return fn(data, **kwargs)


def _jpeg2k(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    threads = int(ctx.options.get("codec_threads", 1))
    arr = _into(ic.jpeg2k_decode, data, _j2k_out(ctx), planar=False, numthreads=threads)
    return Decoded(arr, _plain(ctx))


def _openjph(ic: Any, data: bytes, **kwargs: Any) -> Any:
    # OpenJPH's errors are printed and ignored inside imagecodecs: raise them.
    return raised_in("imagecodecs._htj2k.", ic.htj2k_decode, data, **kwargs)


def _htj2k(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    if getattr(ctx.info, "reversible", True):
        try:
            return Decoded(_into(functools.partial(_openjph, ic), data, _j2k_out(ctx),
                                 planar=False), _plain(ctx))
        except Exception:
            pass
    # OpenJPEG (>= 2.5) decodes HT code-blocks too. It is used for the 9-7
    # wavelet because imagecodecs' OpenJPH path does not clamp lossy output:
    # a bright sample can wrap around to 0.
    threads = int(ctx.options.get("codec_threads", 1))
    return Decoded(_into(ic.jpeg2k_decode, data, _j2k_out(ctx), planar=False,
                         numthreads=threads), _plain(ctx))


def _jpegxl(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    # libjxl refuses an out= of another dtype or shape (then: a new array).
    arr = _into(ic.jpegxl_decode, data, _out(ctx, ctx.spec.dtype))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if ctx.spec.samples_per_pixel == 1:
        color = "MONOCHROME"
    else:
        # libjxl hands back RGB for colour (reconstructed JPEGs included).
        color = "RGB" if ctx.spec.transfer_syntax.lossy else _plain(ctx)
    return Decoded(arr, color)


def _rle(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    spec = ctx.spec
    nbytes = spec.bits_allocated // 8
    # imagecodecs returns bytes in the byte order of the dtype it is given,
    # colour-by-plane (one plane per sample, as RLE stores them).
    dtype = np.dtype(f"<{'i' if spec.pixel_representation else 'u'}{nbytes}")
    spp = spec.samples_per_pixel
    out = _out(ctx, dtype) if spp == 1 else None
    if out is None:
        out = np.empty((spp, spec.rows, spec.columns), dtype)
    raw = out.reshape(-1).view(np.uint8)
    _rle_complete(ic, data, dtype, raw, spp, spec.rows * spec.columns, nbytes)
    arr = out.reshape(spp, spec.rows, spec.columns)
    if spp == 1:
        return Decoded(arr[0], "MONOCHROME")
    return Decoded(arr, _plain(ctx), planar=True)


def _rle_complete(ic: Any, data: bytes, dtype: np.dtype[Any], raw: np.ndarray,
                  spp: int, size: int, nbytes: int) -> None:
    """Decode into ``raw``, refusing a segment that stops short.

    imagecodecs leaves the rest of a short segment untouched (uninitialised
    memory in the output, different on every call). A short segment never
    writes its plane's last byte: set those bytes to a sentinel, decode, and
    if one still holds it, decode again with another sentinel to tell an
    unwritten byte from a pixel that happens to equal the first.
    """
    last = np.array([((s // nbytes) * size + size - 1) * nbytes
                     + nbytes - 1 - s % nbytes for s in range(spp * nbytes)])
    short = np.ones(last.size, bool)
    for sentinel in (0x5A, 0xA5):
        raw[last] = sentinel
        got = ic.dicomrle_decode(data, dtype, out=raw)
        if len(got) != raw.size:
            raise ValueError(f"RLE frame decodes to {len(got)} bytes, "
                             f"{raw.size} expected")
        short &= raw[last] == sentinel
        if not short.any():
            return
    raise ValueError(f"an RLE segment decodes to fewer than {size} bytes "
                     "(part of the output was never written)")


def _deflate(ic: Any, data: bytes, ctx: FrameContext) -> Decoded:
    from .native import inflate_frame, unpack_native

    expected = ctx.spec.native_frame_nbytes
    try:
        buf = bytearray(expected)
        n = ic.deflate_decode(data, raw=True, out=buf)
        size = len(n) if not isinstance(n, int) else n
        raw = bytes(buf[:size]) if size != expected else bytes(buf)
        if size != expected:
            raise ValueError(f"inflated {size} bytes, expected {expected}")
    except Exception:
        raw = inflate_frame(data, expected)
    return unpack_native(raw, ctx)


_DECODERS = {
    "jpeg": _jpeg,
    "jpegls": _jpegls,
    "jpeg2k": _jpeg2k,
    "htj2k": _htj2k,
    "jpegxl": _jpegxl,
    "rle": _rle,
    "deflate": _deflate,
}

backend = ImagecodecsBackend()
