"""Turn a pydicom header into JSON-friendly Python values, keyed by keyword."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import IS, DSdecimal, DSfloat, PersonName

__all__ = ["to_json_dict", "jsonable"]

_BULK_LIMIT = 256  # bytes: larger binary values are summarised, not copied
_SKIP = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x7FE00001, 0x7FE00002}


def jsonable(value: Any) -> Any:
    """A JSON-serialisable rendering of one element value."""
    if value is None:
        return None
    if isinstance(value, (DSfloat, DSdecimal)):
        return float(value)
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, (MultiValue, list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        if len(value) <= _BULK_LIMIT:
            return value.hex()
        return f"<{len(value)} bytes>"
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Dataset):
        return to_json_dict(value)
    return str(value)


def to_json_dict(ds: Dataset, *, include_private: bool = False) -> dict[str, Any]:
    """``{keyword: value}`` for every element of ``ds`` except pixel data.

    Sequences become lists of dicts; private elements are skipped unless asked
    for (they have no keyword and are keyed ``"gggg,eeee"`` then).
    An element that cannot be read (unknown VR, stray item tag, broken
    value) is shown as ``"<unreadable: reason>"`` and its key listed under
    ``"_unreadable"``; it never hides the rest of the header.
    """
    out: dict[str, Any] = {}
    unreadable: list[str] = []
    # Iterate over tags, not elements: converting one raw element may raise
    # (an unknown VR such as 'NONE', a stray item tag), which must not hide
    # the rest of the header.
    for tag in list(ds.keys()):
        itag = int(tag)
        if itag in _SKIP or tag.group == 0xFFFC:
            continue
        text = f"{tag.group:04X},{tag.element:04X}"
        try:
            elem = ds[tag]
        except Exception as exc:
            out[text] = f"<unreadable: {exc}>"
            unreadable.append(text)
            continue
        key = elem.keyword
        if not key:
            if not include_private:
                continue
            key = text
        try:
            if elem.VR == "SQ":
                out[key] = [to_json_dict(item, include_private=include_private)
                            for item in elem.value]
            else:
                out[key] = jsonable(elem.value)
        except Exception as exc:  # a broken value must not hide the rest
            out[key] = f"<unreadable: {exc}>"
            unreadable.append(key)
    if unreadable:
        out["_unreadable"] = unreadable
    return out
