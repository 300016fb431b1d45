"""The pyjpegls backend: CharLS for JPEG-LS.

Install with ``pip install "dicomio[jpegls]"`` (or ``pip install pyjpegls``).

Decodes JPEG-LS Lossless (.80) and Near-Lossless (.81) at every precision
from 2 to 16 bits. Measured with pyjpegls 1.5.1 (CharLS 2): samples come back
unsigned (JPEG-LS has no sign), in the stream's interleave mode: colour-by-plane
for ``ILV=0`` (reported as planar), colour-by-pixel for line and sample
interleaving. The components are the coded ones (CharLS documents that it
undoes an HP colour transform, APP8 ``mrfx``, itself; no public DICOM file
has one to check).

CharLS holds the GIL here.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from packaging.version import Version

from ..tsyntax import TRANSFER_SYNTAXES
from ._base import CHARLS, Backend, Decoded, FrameContext, require_eoi

__all__ = ["PyjpeglsBackend", "backend"]


class PyjpeglsBackend(Backend):
    """Decode JPEG-LS with pyjpegls (CharLS)."""

    name = "pyjpegls"
    install = 'pip install "dicomio[jpegls]"'
    modules = ("jpeg_ls",)
    syntaxes = frozenset(
        u for u, t in TRANSFER_SYNTAXES.items() if t.family == "jpegls"
    )
    gil_free = False
    # pyjpegls is "JPEG-LS for Python via CharLS C++ Library" (its PyPI
    # summary); 1.5.1 bundles CharLS 2.
    libraries = MappingProxyType({"jpegls": CHARLS})

    def _check(self) -> None:
        have = str(self._mods["jpeg_ls"].__version__)
        # decode_pixel_data(), returning the frame header too, arrived in 1.2.
        if Version(have) < Version("1.2"):
            raise ImportError(f"pyjpegls {have} is too old (need >= 1.2)")

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode one JPEG-LS frame."""
        jpeg_ls = self.load()["jpeg_ls"]
        require_eoi(data)
        buf, info = jpeg_ls.decode_pixel_data(bytes(data))
        rows, columns = info["height"], info["width"]
        samples = info["components"]
        itemsize = 1 if info["bits_per_sample"] <= 8 else 2
        arr = np.frombuffer(buf, dtype=f"<u{itemsize}")
        if arr.size != rows * columns * samples:
            raise ValueError(
                f"CharLS returned {arr.size} samples for a {rows} x {columns} x "
                f"{samples} frame"
            )
        planar = samples > 1 and info["interleave_mode"] == 0
        if samples == 1:
            arr = arr.reshape(rows, columns)
        elif planar:
            arr = arr.reshape(samples, rows, columns)
        else:
            arr = arr.reshape(rows, columns, samples)
        # JPEG-LS samples are unsigned: a signed header needs the core's
        # reinterpretation at the stream precision.
        signed = None if ctx.spec.pixel_representation else True
        return Decoded(arr, ctx.stream_color, planar=planar, signed=signed)


#: The instance the registry uses.
backend = PyjpeglsBackend()
