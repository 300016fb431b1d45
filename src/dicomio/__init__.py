"""dicomio: every DICOM Transfer Syntax, decoded fast, with an honest colour report.

>>> import dicomio
>>> img = dicomio.DicomImage(dicomio.samples.path("JPEG2000Lossless"))
>>> arr = img.read()
>>> img.photometric["output"] in ("MONOCHROME2", "RGB")
True

``import dicomio`` loads numpy and pydicom only; codec libraries load the first
time a frame needs them. When imageio is installed, importing dicomio also
registers the ``"dicomio"`` ImageIO v3 plugin (see :mod:`dicomio.imageio_plugin`),
when imageio itself is imported: before or after dicomio.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    BackendUnavailableError,
    CodestreamError,
    DamagedStreamError,
    DecodeError,
    DicomioError,
    EncodeError,
    FrameIndexError,
    InvalidDicomError,
    MemoryLimitError,
    RemoteError,
    SeriesError,
    TruncatedError,
    UnsupportedTransferSyntaxError,
)
from .image import DicomImage, DicomioWarning, FrameInfo, imread
from .tsyntax import TRANSFER_SYNTAXES, TransferSyntax

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "DicomImage",
    "FrameInfo",
    "imread",
    "decompress",
    "transcode",
    "TransferSyntax",
    "TRANSFER_SYNTAXES",
    "DicomioError",
    "DicomioWarning",
    "InvalidDicomError",
    "UnsupportedTransferSyntaxError",
    "BackendUnavailableError",
    "DecodeError",
    "TruncatedError",
    "DamagedStreamError",
    "FrameIndexError",
    "MemoryLimitError",
    "SeriesError",
    "EncodeError",
    "CodestreamError",
    "RemoteError",
    "configure_web",
]

# Submodules and functions loaded on first use, so `import dicomio` stays light.
_LAZY = {
    "samples": ("dicomio.samples", None),
    "registry": ("dicomio.backends.registry", None),
    "decompress": ("dicomio.encode.decompress", "decompress"),
    "transcode": ("dicomio.encode.transcode", "transcode"),
    "series": ("dicomio.series", None),
    "encode": ("dicomio.encode", None),
    "read_series": ("dicomio.series", "read_series"),
    "to_dask": ("dicomio.dask", "to_dask"),
    "configure_web": ("dicomio.sources.remote", "configure"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod_name, attr = _LAZY[name]
        mod = importlib.import_module(mod_name)
        value = getattr(mod, attr) if attr else mod
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dicomio' has no attribute {name!r}")


def _register_imageio() -> None:
    # When imageio is imported: now, or later (see _imageio_hook).
    from ._imageio_hook import register_when_imported

    register_when_imported()


_register_imageio()
