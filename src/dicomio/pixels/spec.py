"""What the DICOM header says every frame of an image holds.

:class:`PixelSpec` lives in the pixels layer because the codestream parsers
check frames against it (:func:`dicomio.pixels.codestream.validate`); the
backends layer above re-exports it from :mod:`dicomio.backends._base`, its
documented home.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tsyntax import TransferSyntax

__all__ = ["PixelSpec"]


@dataclass(frozen=True)
class PixelSpec:
    """What the DICOM header says every frame holds.

    Attributes mirror the Image Pixel module; ``photometric`` is the declared
    Photometric Interpretation.
    """

    transfer_syntax: TransferSyntax
    rows: int
    columns: int
    samples_per_pixel: int = 1
    bits_allocated: int = 8
    bits_stored: int = 8
    pixel_representation: int = 0
    planar_configuration: int = 0
    photometric: str = "MONOCHROME2"
    number_of_frames: int = 1
    float_pixels: bool = False

    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype dicomio returns for one sample (before rescale)."""
        if self.float_pixels:
            return np.dtype("<f4" if self.bits_allocated == 32 else "<f8")
        if self.bits_allocated == 1:
            return np.dtype(np.uint8)
        nbytes = max(1, (self.bits_allocated + 7) // 8)
        nbytes = {1: 1, 2: 2, 3: 4, 4: 4}.get(nbytes, 8)
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"{kind}{nbytes}")

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """``(rows, columns)`` or ``(rows, columns, samples)``."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one decoded frame as dicomio returns it."""
        n = self.rows * self.columns * self.samples_per_pixel
        return n * self.dtype.itemsize

    @property
    def native_frame_nbytes(self) -> int:
        """Bytes of one frame as stored uncompressed (bit-packed for 1-bit)."""
        n = self.rows * self.columns * self.samples_per_pixel
        if self.bits_allocated == 1:
            return (n + 7) // 8
        if self.photometric == "YBR_FULL_422" and not self.transfer_syntax.encapsulated:
            # Uncompressed YBR_FULL_422 stores two luma per chroma pair.
            n = self.rows * self.columns * 2
        return n * ((self.bits_allocated + 7) // 8)
