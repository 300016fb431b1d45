"""Siemens CSA headers: the private (0029,xx10) image and (0029,xx20) series blocks.

Siemens MR files keep what the public header lacks (the number of tiles in a
mosaic, the slice normal, b-values and gradient directions, slice timing) in
binary "CSA" blocks. They are parsed with nibabel's reader
(:mod:`nibabel.nicom.csareader`, the ``[mr]`` extra), imported on first use
only; without nibabel every function here answers None and the callers fall
back to the public header.

>>> from dicomio.series import csa                  # doctest: +SKIP
>>> info = csa.image_header(ds)                     # doctest: +SKIP
>>> csa.scalar(info, "NumberOfImagesInMosaic")      # doctest: +SKIP
36
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["available", "image_header", "series_header", "scalar", "vector",
           "INSTALL_HINT"]

#: What to install when a CSA header is present but cannot be read.
INSTALL_HINT = 'nibabel reads Siemens CSA headers: pip install "dicomio[mr]"'

#: A parsed header: tag name -> its items (numbers converted, text as str).
CSA = dict[str, list[Any]]


@functools.cache
def _reader() -> Any:
    """nibabel's csareader module, or None when nibabel is not installed."""
    try:
        with warnings.catch_warnings():
            # nibabel.nicom warns on import that its DICOM *readers* are
            # experimental; only its CSA parser is used here.
            warnings.simplefilter("ignore", UserWarning)
            from nibabel.nicom import csareader
    except ImportError:
        return None
    return csareader


def available() -> bool:
    """Whether nibabel's CSA reader can be imported."""
    return _reader() is not None


_CREATOR = "SIEMENS CSA HEADER"


def _block(ds: Dataset) -> int | None:
    """The private block (0029,00xx) reserved by "SIEMENS CSA HEADER", or None.

    Direct tag look-ups: pydicom's ``private_block`` slices the dataset,
    which costs milliseconds per file in a scan.
    """
    for block in range(0x10, 0x100):
        tag = (0x0029 << 16) | block
        if tag not in ds:
            continue
        try:
            value = ds[tag].value
        except Exception:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
        if str(value).strip().rstrip("\x00").strip() == _CREATOR:
            return block
    return None


def _element(ds: Dataset, offset: int) -> bytes | None:
    block = _block(ds)
    if block is None:
        return None
    tag = (0x0029 << 16) | (block << 8) | offset
    if tag not in ds:
        return None
    try:
        value = ds[tag].value
    except Exception:
        return None
    return value if isinstance(value, bytes) and value else None


def has_csa(ds: Dataset) -> bool:
    """Whether ``ds`` carries a Siemens CSA private block (cheap, nothing parsed)."""
    return any(_element(ds, e) is not None for e in (0x10, 0x20))


def _header(ds: Dataset, kind: str) -> CSA | None:
    data = _element(ds, 0x10 if kind == "image" else 0x20)
    if data is None:
        return None
    csareader = _reader()
    if csareader is None:
        return None
    try:
        parsed = csareader.read(data)
    except Exception:  # a truncated or foreign block: as if absent
        return None
    if not parsed:
        return None
    return {name: list(tag.get("items", []))
            for name, tag in parsed.get("tags", {}).items()}


def image_header(ds: Dataset) -> CSA | None:
    """The CSA image header (0029,xx10) as ``{name: items}``, or None.

    None when the file has none, it cannot be parsed, or nibabel is missing
    (see :func:`available`).
    """
    return _header(ds, "image")


def series_header(ds: Dataset) -> CSA | None:
    """The CSA series header (0029,xx20) as ``{name: items}``, or None."""
    return _header(ds, "series")


def scalar(csa: CSA | None, name: str) -> Any:
    """The first item of tag ``name``, or None when absent or empty."""
    if not csa:
        return None
    items = csa.get(name) or []
    return items[0] if items else None


def vector(csa: CSA | None, name: str, n: int) -> tuple[float, ...] | None:
    """Tag ``name`` as ``n`` floats, or None when absent or of another length."""
    if not csa:
        return None
    items = csa.get(name) or []
    if len(items) != n:
        return None
    try:
        return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
