"""A small JPEG writer for test data the installed encoders cannot make.

12-bit progressive streams (spectral selection, full progression) and
hierarchical streams with real differential frames, written from numpy
arrays after ITU T.81 (our own code; no codec library is used). See
:mod:`.streams` for the entry points.
"""

from __future__ import annotations

from .dct import error_bound, reconstruct
from .streams import (
    FULL,
    SPECTRAL,
    DctImage,
    Scan,
    dct_stream,
    encode_dct,
    hierarchical_dct,
    hierarchical_lossless,
    upsample,
)

__all__ = ["FULL", "SPECTRAL", "DctImage", "Scan", "dct_stream", "encode_dct",
           "error_bound", "hierarchical_dct", "hierarchical_lossless",
           "reconstruct", "upsample"]
