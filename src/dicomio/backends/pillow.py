"""The Pillow backend: libjpeg-turbo for 8-bit JPEG, OpenJPEG for JPEG 2000.

Install with ``pip install "dicomio[pillow]"`` (or ``pip install pillow``).

=====================  =====================================================
Transfer Syntax        limits
=====================  =====================================================
JPEG .50 .51           8-bit samples only (Pillow refuses 12-bit JPEG)
JPEG .57 .70           8-bit samples only (libjpeg-turbo 3 lossless)
JPEG .52-.56           8-bit samples only (retired: arithmetic coding,
                       spectral selection, full progression); no
                       hierarchical mode (.59-.66), no lossless arithmetic
J2K .90-.93, HTJ2K     one sample of up to 16 bits, or three of up to 8 bits;
                       HTJ2K needs Pillow built with OpenJPEG >= 2.5; raw
                       codestreams only in practice (the JP2-wrapped frame of
                       GDCMJ2K_TextGBR.dcm fails)
=====================  =====================================================

What Pillow 13 returned, measured against known-good pixels:

- JPEG colour: libjpeg-turbo guesses the coded colour space and converts to
  RGB when it guesses YCbCr. The guess: a JFIF marker means YCbCr; else an
  Adobe APP14 marker decides (transform 0 RGB, otherwise YCbCr); else component
  ids ``'R','G','B'`` mean RGB; anything else (ids 1,2,3 or 0,1,2) YCbCr,
  except in lossless (SOF3) streams, where it assumes RGB. ``draft("YCbCr")``
  returns the raw components when it guessed YCbCr and fails when it guessed
  RGB. Lossless streams it guessed YCbCr fail unless drafted (no colour
  conversion in lossless mode). This backend repeats the guess from Pillow's own parse
  (``info``, ``layer``) so it never converts RGB samples as if they were YCbCr
  and always reports what the array holds.
- JPEG 2000: OpenJPEG applies the inverse MCT (RGB for YBR_RCT / YBR_ICT); a
  sample of precision P comes back as ``(v + 2**(P-1) if signed else v) <<
  (C - P)`` in a C-bit container ("L" 8, "I;16" 16). The backend undoes both,
  returning the codestream's own values.

Pillow's JPEG decoder releases the GIL (1.6x on two threads); its JPEG 2000
decoder holds it.
"""

from __future__ import annotations

import io
from types import MappingProxyType
from typing import Any

import numpy as np
from packaging.version import Version

from ..pixels.codestream import J2KInfo, parse_j2k
from ._base import (
    LIBJPEG_TURBO,
    OPENJPEG,
    Backend,
    Decoded,
    FrameContext,
    PixelSpec,
    Unsupported,
    family_syntaxes,
)

__all__ = ["PillowBackend", "backend"]

_FAMILIES = ("jpeg", "jpeg2k", "htj2k")

#: Bits of the container Pillow scales each JPEG 2000 mode to.
_J2K_CONTAINER = {"L": 8, "RGB": 8, "I;16": 16}


def _turbo_guesses_ycbcr(info: dict[str, Any], ids: list[int], lossless: bool) -> bool:
    """Repeat libjpeg-turbo's guess of a 3-component stream's colour space.

    Parameters
    ----------
    info : dict
        Pillow's ``JpegImageFile.info`` (``"jfif"``, ``"adobe_transform"``).
    ids : list of int
        The component identifiers of the SOF segment.
    lossless : bool
        True for a lossless (SOF3) stream, where libjpeg-turbo 3 assumes RGB
        unless a marker says otherwise.

    Returns
    -------
    bool
        True when libjpeg-turbo treats the components as YCbCr.
    """
    if "jfif" in info:
        return True
    # Pillow records the transform only for an APP14 segment long enough to
    # hold it, which is also when libjpeg-turbo honours the marker.
    transform = info.get("adobe_transform")
    if transform is not None:
        return bool(transform != 0)
    return not lossless and ids != [0x52, 0x47, 0x42]  # 'R', 'G', 'B'


class PillowBackend(Backend):
    """Decode 8-bit JPEG and JPEG 2000 with Pillow."""

    name = "pillow"
    install = 'pip install "dicomio[pillow]"'
    modules = ("PIL", "PIL.Image", "PIL.features")
    # Pillow's libjpeg-turbo: arithmetic, spectral selection and full
    # progression (.52-.56, 8-bit), not the hierarchical mode.
    syntaxes = family_syntaxes(*_FAMILIES, retired=(52, 53, 54, 55, 56))
    # True for the JPEG decoder (libjpeg-turbo runs without the GIL); the
    # JPEG 2000 decoder holds it, which costs speed, not correctness.
    gil_free = True
    # Pillow's wheels bundle libjpeg-turbo and OpenJPEG (its installation
    # docs; here PIL.features.check_feature("libjpeg_turbo") is True and
    # version_codec("jpg_2000") is "2.5.4").
    libraries = MappingProxyType({
        "jpeg": LIBJPEG_TURBO, "jpeg2k": OPENJPEG, "htj2k": OPENJPEG,
    })

    def _check(self) -> None:
        have = str(self._mods["PIL"].__version__)
        if Version(have) < Version("10.0"):
            raise ImportError(f"Pillow {have} is too old (need >= 10.0)")

    def _codec(self, name: str) -> str | None:
        """The version of Pillow's ``jpg`` / ``jpg_2000`` codec, None if absent."""
        features = self._mods["PIL.features"]
        if not features.check_codec(name):
            return None
        return str(features.version_codec(name) or "0")

    def supports(self, spec: PixelSpec) -> bool:
        """8-bit JPEG; JPEG 2000 of 1 x <= 16 or 3 x <= 8 bits.

        Without Pillow the answer comes from the header alone, so the registry
        can say what to install; with it, the codecs Pillow was built with
        count too.
        """
        ts = spec.transfer_syntax
        if ts.uid not in self.syntaxes:
            return False
        if ts.family == "jpeg":
            fits = spec.samples_per_pixel in (1, 3) and spec.bits_stored <= 8
            return fits and (not self.available() or self._codec("jpg") is not None)
        if spec.samples_per_pixel == 1:
            fits = spec.bits_stored <= 16
        else:
            fits = spec.samples_per_pixel == 3 and spec.bits_stored <= 8
        if not fits or not self.available():
            return fits
        opj = self._codec("jpg_2000")
        if opj is None:
            return False
        # High-throughput decoding arrived in OpenJPEG 2.5.
        return ts.family != "htj2k" or Version(opj) >= Version("2.5")

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode one frame with Pillow."""
        if ctx.spec.transfer_syntax.family == "jpeg":
            return self._jpeg(bytes(data), ctx)
        return self._j2k(bytes(data), ctx)

    def _jpeg(self, data: bytes, ctx: FrameContext) -> Decoded:
        signed = None if ctx.spec.pixel_representation else True
        with self._mods["PIL.Image"].open(io.BytesIO(data), formats=("JPEG",)) as image:
            if image.mode == "L":
                return Decoded(np.asarray(image), ctx.stream_color, signed=signed)
            if image.mode != "RGB":
                raise Unsupported(f"Pillow opened the JPEG frame as {image.mode!r}")
            return self._jpeg_colour(image, ctx, signed)

    @staticmethod
    def _jpeg_colour(image: Any, ctx: FrameContext, signed: bool | None) -> Decoded:
        """Decode a 3-component JPEG, converting only what is truly YCbCr."""
        ids = [layer[0] for layer in getattr(image, "layer", [])]
        lossless = not ctx.spec.transfer_syntax.lossy
        if _turbo_guesses_ycbcr(image.info, ids, lossless):
            # Lossless mode cannot convert colour (libjpeg-turbo fails the
            # decode), so only lossy YCbCr goes through the codec's matrix.
            if ctx.want_rgb and ctx.stream_color == "YBR_FULL" and not lossless:
                # libjpeg-turbo's integer conversion, exact to the standard
                # matrix within rounding, done without the GIL.
                color = "RGB"
            else:
                # Keep the raw components: the stream may be RGB that
                # libjpeg-turbo would wrongly convert, or YCbCr kept as is.
                image.draft("YCbCr", image.size)
                color = ctx.stream_color
        else:
            # libjpeg-turbo takes the components as RGB and leaves them alone.
            color = ctx.stream_color
        return Decoded(np.asarray(image), color, planar=False, signed=signed)

    def _j2k(self, data: bytes, ctx: FrameContext) -> Decoded:
        # The undoing below needs the SIZ segment (the core's parse if it made one).
        info = ctx.info if isinstance(ctx.info, J2KInfo) else parse_j2k(data)
        count, precision, signed = info.components, info.precision, info.signed
        if any(s != (1, 1) for s in info.subsampling):
            # Pillow treats subsampled chroma as sYCC and converts it.
            raise Unsupported("Pillow converts subsampled J2K components to RGB")
        if len(set(info.precisions)) != 1 or len(set(info.signeds)) != 1:
            raise Unsupported("JPEG 2000 components differ in precision or sign")
        if count not in (1, 3) or precision > (16 if count == 1 else 8):
            raise Unsupported(
                f"Pillow cannot decode {count} x {precision}-bit JPEG 2000 exactly"
            )
        with self._mods["PIL.Image"].open(io.BytesIO(data),
                                          formats=("JPEG2000",)) as image:
            container = _J2K_CONTAINER.get(image.mode)
            if container is None:
                raise Unsupported(f"Pillow opened the J2K frame as {image.mode!r}")
            arr = np.asarray(image)
        # Undo Pillow's scaling to the container and its offset for signed
        # samples: the result is the codestream's own values.
        if container > precision:
            arr = arr >> (container - precision)
        if signed:
            arr = arr.astype(np.int32) - (1 << (precision - 1))

        color = ctx.stream_color
        if color in ("YBR_RCT", "YBR_ICT"):
            # Pillow's OpenJPEG applies the inverse multiple-component transform.
            color = "RGB"
        return Decoded(arr, color, planar=False, signed=None)


#: The instance the registry uses.
backend = PillowBackend()
