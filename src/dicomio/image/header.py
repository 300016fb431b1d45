"""Values read straight from a DICOM header, tolerant of bad ones.

Small readers :class:`~dicomio.image.DicomImage` uses to plan and describe an
image: integers of the Image Pixel module, the encoding the header was read
with, the modality LUT parameters and the pixel spacing. Each returns a
default (or None) instead of raising on a malformed value.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from ..dataset import elements as _values


def int_value(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    """The element as an int (the first value of a multi-valued one), or ``default``."""
    value = _values.get(ds, keyword, None)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            value = value[0]
        return int(value)
    except (TypeError, ValueError, IndexError):
        return default


def encoding(ds: Dataset) -> tuple[bool, bool]:
    """``(implicit VR, little endian)`` as the header was read."""
    enc = getattr(ds, "original_encoding", None)
    if enc and enc[0] is not None:
        return bool(enc[0]), bool(enc[1])
    return bool(ds.is_implicit_VR), bool(ds.is_little_endian)


def rescale_params(ds: Dataset) -> tuple[float, float] | None:
    """``(slope, intercept)`` of the modality LUT, or None when absent."""
    src: Dataset | None = ds if "RescaleSlope" in ds or "RescaleIntercept" in ds else None
    if src is None:
        for seq in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            try:
                item = ds[seq][0].PixelValueTransformationSequence[0]
                src = item
                break
            except Exception:  # absent, or unreadable (pydicom converts lazily)
                continue
    if src is None:
        return None
    try:
        slope = float(src.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(src.get("RescaleIntercept", 0.0) or 0.0)
    except Exception:
        return None
    if slope == 1.0 and intercept == 0.0:
        return None
    return slope, intercept


def pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm, from PixelSpacing or the functional groups."""
    value = ds.get("PixelSpacing", None) or ds.get("ImagerPixelSpacing", None)
    if value is None:
        try:
            value = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        except (AttributeError, IndexError, KeyError, TypeError):
            value = None
    try:
        if value is not None and len(value) == 2:
            return float(value[0]), float(value[1])
    except (TypeError, ValueError):
        pass
    return None
