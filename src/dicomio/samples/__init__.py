"""Small sample files, one per Transfer Syntax (video clips made with PyAV).

The files are synthetic phantoms made by ``tools/make_samples.py`` (which see)
and described by ``MANIFEST.json``. For lossless samples the exact source
array is regenerated on demand, so tests have ground truth without storing
the pixels twice::

    from dicomio import samples

    p = samples.path("JPEG2000Lossless")            # or the UID
    truth = samples.expected("JPEG2000Lossless")    # numpy array, or None if lossy
    for keyword, p in samples.all_paths().items():
        ...
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import _phantom

__all__ = [
    "SAMPLE_DIR",
    "path",
    "all_paths",
    "manifest",
    "entry",
    "expected",
    "source",
]

#: Directory holding the sample files.
SAMPLE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    with open(SAMPLE_DIR / "MANIFEST.json", encoding="utf-8") as fh:
        return json.load(fh)


def manifest() -> list[dict[str, Any]]:
    """Return one dict per sample from ``MANIFEST.json`` (a fresh copy).

    Keys: ``file``, ``transfer_syntax_uid``, ``keyword``, ``description``,
    ``shape`` (what a reader returns: frames first, colour as RGB), ``dtype``,
    ``frames``, ``rows``, ``columns``, ``samples_per_pixel``,
    ``bits_allocated``, ``bits_stored``, ``pixel_representation``,
    ``photometric`` (as written in the file), ``lossless``, ``size``,
    ``offset_table`` (encapsulated files: ``"basic"`` or ``"extended"``),
    ``sha256`` (lossless: of the expected pixels' little-endian bytes) and
    ``psnr_db`` (lossy: measured with an independent decoder).
    """
    return copy.deepcopy(_manifest()["samples"])


def _keyword(keyword_or_uid: str) -> str:
    key = str(keyword_or_uid).strip()
    if key in _phantom._BY_KEYWORD:
        return key
    from ..tsyntax import lookup

    return lookup(key).keyword


def entry(keyword_or_uid: str) -> dict[str, Any]:
    """Return the manifest entry of one sample (KeyError if there is none)."""
    keyword = _keyword(keyword_or_uid)
    for item in _manifest()["samples"]:
        if item["keyword"] == keyword:
            return copy.deepcopy(item)
    raise KeyError(f"no sample for {keyword}; available: {', '.join(all_paths())}")


def path(keyword_or_uid: str) -> Path:
    """Return the sample file for a Transfer Syntax keyword or UID.

    Raises
    ------
    KeyError
        When there is no sample file for that Transfer Syntax.
    dicomio.errors.UnsupportedTransferSyntaxError
        When the UID or keyword is not a Transfer Syntax dicomio knows.
    """
    keyword = _keyword(keyword_or_uid)
    p = SAMPLE_DIR / f"{keyword}.dcm"
    if keyword not in _phantom._BY_KEYWORD or not p.is_file():
        raise KeyError(f"no sample for {keyword}; available: {', '.join(all_paths())}")
    return p


def all_paths() -> dict[str, Path]:
    """Return ``{keyword: path}`` for every sample, in manifest order."""
    out = {}
    for item in _manifest()["samples"]:
        p = SAMPLE_DIR / item["file"]
        if p.is_file():
            out[item["keyword"]] = p
    return out


def source(keyword_or_uid: str) -> np.ndarray:
    """Return the array that was encoded into the sample (lossy ones too).

    ``(rows, cols[, 3])`` or ``(frames, rows, cols[, 3])``; bool for 1-bit.
    """
    return _phantom.source(_keyword(keyword_or_uid))


def expected(keyword_or_uid: str) -> np.ndarray | None:
    """Return the exact pixels a reader must return, or None for lossy samples.

    The array is regenerated from the phantom recipe (bit-identical on every
    platform) and matches the manifest's ``sha256``. Its shape is
    ``(rows, cols[, 3])`` for single-frame samples and
    ``(frames, rows, cols[, 3])`` for multi-frame ones, colour as RGB, the
    dtype the file's Bits Allocated / Pixel Representation imply (1-bit masks
    as uint8 0/1).
    """
    keyword = _keyword(keyword_or_uid)
    if not entry(keyword)["lossless"]:
        return None
    arr = _phantom.source(keyword)
    return arr.astype(np.uint8) if arr.dtype == np.bool_ else arr
