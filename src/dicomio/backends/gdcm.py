"""The GDCM backend: python-gdcm's codecs, driven one frame at a time.

Install with ``pip install "dicomio[gdcm]"`` (or ``pip install python-gdcm``).

Each frame is wrapped in an in-memory ``gdcm.Image`` (one fragment, the
header's geometry and pixel format) and decoded by ``GetBuffer()``: no file, no
temporary dataset, and none of the refusals of pydicom's gdcm plugin, so 12-bit
JPEG and HTJ2K decode. GDCM prints codec chatter to stderr ("Unsupported JPEG
data precision 12" before a successful 12-bit decode): harmless.

What python-gdcm 3.2.6 returned, measured against known-good pixels:

- JPEG (.50 .51 .57 .70, retired .53 .55), JPEG-LS (.80 .81) and RLE: the coded components,
  interleaved, whatever the Photometric Interpretation, JFIF / Adobe APP14
  markers or component ids say (YCbCr stays YCbCr). JPEG and JPEG-LS samples
  are unsigned.
- J2K (.90-.93) and HTJ2K (.201-.203): the inverse multiple-component
  transform applied (RGB for YBR_RCT / YBR_ICT streams), the codestream's sign
  (signed components sign-extended into the container, unsigned ones not
  reinterpreted for a signed header).
- Refused here because GDCM gets them wrong: RLE with more than one sample of
  16 or 32 bits (the byte segments come back scrambled), JPEG-LS of 6 or 7 bits
  and near-lossless JPEG-LS below 8 bits (no output).

python-gdcm holds the GIL.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
from packaging.version import Version

from ._base import (
    CHARLS,
    IJG_LIBJPEG,
    OPENJPEG,
    Backend,
    Decoded,
    FrameContext,
    PixelSpec,
    Unsupported,
    family_syntaxes,
)

__all__ = ["GdcmBackend", "backend"]

_FAMILIES = ("jpeg", "jpegls", "jpeg2k", "htj2k", "rle")


class GdcmBackend(Backend):
    """Decode with python-gdcm's JPEG, JPEG-LS, JPEG 2000 and RLE codecs."""

    name = "gdcm"
    install = 'pip install "dicomio[gdcm]"'
    modules = ("gdcm",)
    # Of the retired JPEG syntaxes GDCM knows .52, .53 and .55 by UID; its
    # IJG 6b codec refuses arithmetic coding ("Sorry, there are legal
    # restrictions on arithmetic coding"), so only the Huffman progressive
    # ones (.53 spectral selection, .55 full progression) are claimed: 8-bit
    # ones from jpegtran and 12-bit ones from tests/_jpegwriter decode right.
    syntaxes = family_syntaxes(*_FAMILIES, retired=(53, 55))
    gil_free = False
    # GDCM aborts (C++ terminate) on some corrupt JPEG streams: tools/fuzz.py.
    crash_prone = True
    # The python-gdcm 3.2.6 wheel bundles GDCM's own copies of its codecs:
    # libgdcmopenjp2.so.2.3.0 (OpenJPEG 2.3 with the HT code-block decoder
    # added: its strings hold OpenJPEG's "Malformed HT codeblock" messages),
    # libgdcmcharls.so.2.0 (CharLS 2: its charls_category symbols) and
    # libgdcmjpeg8/12/16 (GDCM's patched IJG libjpeg 6b:
    # Utilities/gdcmjpeg/README in GDCM's source); RLE is GDCM's own code.
    libraries = MappingProxyType({
        "jpeg": IJG_LIBJPEG, "jpegls": CHARLS, "jpeg2k": OPENJPEG,
        "htj2k": OPENJPEG, "rle": "GDCM RLE",
    })

    def _check(self) -> None:
        have = self.version()
        if Version(have) < Version("3.0.10"):
            raise ImportError(f"python-gdcm {have} is too old (need >= 3.0.10)")

    def version(self) -> str:
        """GDCM's version (python-gdcm has no ``__version__``)."""
        if not self._mods:
            try:
                self.load()
            except ImportError:
                return ""
        return str(self._mods["gdcm"].Version.GetVersion())

    def supports(self, spec: PixelSpec) -> bool:
        """False for the syntaxes and bit depths GDCM decodes wrongly."""
        ts = spec.transfer_syntax
        if ts.uid not in self.syntaxes:
            return False
        if spec.bits_allocated == 1 or spec.samples_per_pixel not in (1, 3):
            return False
        if ts.family == "rle":
            return spec.samples_per_pixel == 1 or spec.bits_allocated == 8
        if ts.family == "jpegls":
            if spec.bits_stored in (6, 7):
                return False
            return not (ts.lossy and spec.bits_stored < 8)
        if ts.family == "htj2k" and self.available():
            # HTJ2K arrived in GDCM 3.2; when GDCM is missing, claim it so the
            # registry says what to install.
            return hasattr(self._mods["gdcm"].TransferSyntax, "HTJ2K")
        return True

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode one frame through an in-memory ``gdcm.Image``."""
        gdcm = self.load()["gdcm"]
        spec = ctx.spec
        j2k = spec.transfer_syntax.family in ("jpeg2k", "htj2k")
        image = self._image(gdcm, bytes(data), spec, ctx.info)

        buf = image.GetBuffer()
        if buf is None:
            raise RuntimeError("GDCM could not decode the frame (details on stderr)")
        # SWIG hands the char buffer back as str: surrogateescape restores it
        # byte for byte.
        raw = buf.encode("utf-8", "surrogateescape")

        # GDCM sizes the container from the codestream (J2K, JPEG-LS), not
        # always from Bits Allocated: read the sample size off the buffer.
        count = spec.rows * spec.columns * spec.samples_per_pixel
        itemsize, rest = divmod(len(raw), count)
        if rest or itemsize not in (1, 2, 4):
            raise Unsupported(
                f"GDCM returned {len(raw)} bytes for {spec.rows} x {spec.columns} "
                f"x {spec.samples_per_pixel} samples"
            )
        if j2k:
            # Values follow the codestream's sign, in a container of the
            # header's signedness: the core settles SIZ vs Pixel Representation.
            kind = "i" if spec.pixel_representation else "u"
            signed = None
        else:
            kind = "u"
            signed = None if spec.pixel_representation else True
        arr = np.frombuffer(raw, dtype=f"<{kind}{itemsize}")
        if spec.samples_per_pixel == 1:
            arr = arr.reshape(spec.rows, spec.columns)
        else:
            arr = arr.reshape(spec.rows, spec.columns, spec.samples_per_pixel)
        color = ctx.stream_color
        if j2k and color in ("YBR_RCT", "YBR_ICT"):
            # GDCM's OpenJPEG applies the inverse MCT (while still reporting
            # YBR_RCT / YBR_ICT as its Photometric Interpretation).
            color = "RGB"
        return Decoded(arr, color, planar=False, signed=signed)

    @staticmethod
    def _image(gdcm: Any, data: bytes, spec: PixelSpec, info: Any = None) -> Any:
        """Build a one-fragment ``gdcm.Image`` describing the frame.

        GDCM aborts the whole process (C++ terminate) when the image it is
        given disagrees with the stream, so nothing here is taken from header
        fields a broken file can get wrong when the stream says otherwise:
        the Photometric Interpretation only carries the sample count (GDCM's
        codecs never convert colour for us anyway) and the pixel format
        follows the codestream's own precision and sign where it has them.
        """
        fragment = gdcm.Fragment()
        fragment.SetByteStringValue(data)
        fragments = gdcm.SequenceOfFragments.New()
        fragments.AddFragment(fragment)
        element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
        element.SetValue(fragments.__ref__())

        image = gdcm.Image()
        image.SetNumberOfDimensions(2)
        image.SetDimensions((spec.columns, spec.rows, 1))
        image.SetDataElement(element)

        pi_type = gdcm.PhotometricInterpretation.GetPIType(
            "RGB" if spec.samples_per_pixel > 1 else "MONOCHROME2"
        )
        image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
        if spec.samples_per_pixel > 1:
            # Every GDCM codec returns colour-by-pixel; say so up front.
            image.SetPlanarConfiguration(0)

        ts_type = gdcm.TransferSyntax.GetTSType(spec.transfer_syntax.uid)
        if ts_type == gdcm.TransferSyntax.TS_END:
            raise Unsupported(
                f"GDCM {gdcm.Version.GetVersion()} does not know {spec.transfer_syntax}"
            )
        image.SetTransferSyntax(gdcm.TransferSyntax(ts_type))
        allocated, stored = spec.bits_allocated, spec.bits_stored
        signed = spec.pixel_representation
        precision = getattr(info, "precision", None)
        if precision:
            stored = int(precision)
            allocated = 8 if stored <= 8 else 16 if stored <= 16 else 32
            if getattr(info, "kind", "") in ("jpeg2k", "htj2k"):
                signed = int(bool(info.signed))
            elif getattr(info, "kind", "") in ("jpeg", "jpegls"):
                signed = 0  # the core re-signs from Pixel Representation
        image.SetPixelFormat(
            gdcm.PixelFormat(spec.samples_per_pixel, allocated, stored, stored - 1,
                             signed)
        )
        return image


#: The instance the registry uses.
backend = GdcmBackend()
