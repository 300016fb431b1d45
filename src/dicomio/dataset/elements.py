"""Header values without pydicom's per-element machinery, where that is safe.

pydicom converts an element the first time it is read, through hooks,
validation and value classes: most of the time of a header scan over
thousands of files. :func:`raw_value` converts the plain elements a reader
needs (binary integers and the ASCII-only text VRs IS, DS, UI and CS, which
no character set affects) straight from the raw bytes, exactly as pydicom
would (``tests/series/test_records.py`` compares them on every element of both
corpora), and hands everything else back to pydicom.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

__all__ = ["SLOW", "raw_value", "get", "tag_for"]


@functools.cache
def tag_for(keyword: str) -> BaseTag | None:
    """The tag of a dictionary keyword, or None."""
    found = pydicom.datadict.tag_for_keyword(keyword)
    return None if found is None else BaseTag(found)


def get(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword, default)``, with the fast path for plain elements.

    Errors of pydicom's conversion propagate, as from ``ds.get``.
    """
    tag = tag_for(keyword)
    if tag is None:
        return ds.get(keyword, default)
    elem = ds._dict.get(tag)
    if elem is None:
        return default
    if isinstance(elem, RawDataElement):
        value = raw_value(elem)
        if value is not SLOW:
            return value
    return ds[tag].value


SLOW = object()
_INT_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i"}
_TEXT_VRS = frozenset({"IS", "DS", "UI", "CS"})


def raw_value(elem: RawDataElement) -> Any:
    """The value of a still-raw element, for the plain VRs the scan reads most.

    Binary integers and the ASCII-only text VRs (IS, DS, UI, CS: no character
    set applies to them), converted the way pydicom converts them but without
    its per-element machinery, which is most of a header scan's time.
    Anything else, an empty or undefined-length value, or text that does not
    parse returns ``SLOW``: pydicom converts it (and reports its problems).
    """
    raw = elem.value
    if not isinstance(raw, bytes) or not raw or elem.length == 0xFFFFFFFF:
        return SLOW
    vr = elem.VR or _dictionary_vr(elem.tag)
    fmt = _INT_FORMATS.get(vr or "")
    if fmt is not None:
        size = struct.calcsize(fmt)
        if len(raw) % size:
            return SLOW
        values = struct.unpack(("<" if elem.is_little_endian else ">")
                               + fmt * (len(raw) // size), raw)
        return values[0] if len(values) == 1 else list(values)
    if vr not in _TEXT_VRS:
        return SLOW
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return SLOW
    # as pydicom: trailing padding off the whole value, then split
    parts = text.rstrip(" \0").split("\\")
    if vr in ("UI", "CS"):
        out: list[Any] = parts
    else:
        try:
            out = [int(p) if vr == "IS" else float(p) for p in parts]
        except ValueError:
            return SLOW
        if vr == "DS" and not all(math.isfinite(v) for v in out):
            return SLOW
    return out[0] if len(out) == 1 else out


@functools.cache
def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(pydicom.datadict.dictionary_VR(tag))
    except KeyError:
        return None
