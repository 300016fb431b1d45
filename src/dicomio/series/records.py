"""Per-file records: one per frame that can become a slice, and value helpers.

A scanned header becomes one :class:`_Rec` per frame (single files, classic
and enhanced multi-frame files, RT Dose grids) holding only what grouping,
ordering and geometry need; the header itself rides along so reading never
parses it again. The helpers read DICOM values defensively: one malformed
element never costs the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from .. import tsyntax
from ..dataset import elements as _values
from . import mosaic as _mosaic

# Attributes that may tell apart images sharing positions, in order of
# preference: explicit dimensions first, per-slice clocks last (they are
# accepted only if they yield as many volumes as positions repeat).
_SPLIT_KEYS = (
    "StackID",
    "TemporalPositionIdentifier",
    "TemporalPositionIndex",
    "EchoNumbers",
    "EchoTime",
    "EffectiveEchoTime",
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "DimensionIndexValues",
    "TriggerTime",
    "InversionTime",
    "AcquisitionNumber",
    "ImageType",
    "AcquisitionTime",
    "ContentTime",
)


@dataclass(eq=False)
class _Rec:
    path: str
    frame: int
    header: Dataset
    kind: str  # "single", "positioned" (per-frame geometry), "classic" (frames)
    n_frames: int
    series_uid: str
    sop_uid: str
    rows: int
    columns: int
    samples: int
    transfer_syntax: str
    pixel_spacing: tuple[float, ...] | None
    spacing_from_imager: bool
    iop: tuple[float, ...] | None
    ipp: tuple[float, ...] | None
    instance: int | None
    thickness: float | None
    spacing_between: float | None
    rescale: tuple[float, float] | None
    bits_stored: int
    bits_allocated: int
    signed: bool
    keys: dict[str, Any] = field(default_factory=dict)
    # Where pydicom stopped (the Pixel Data element), handed to DicomImage so
    # reading does not parse the header again; None: open the file afresh.
    tell: int | None = None
    # A Siemens MOSAIC image: the layout of the volume it holds (.mosaic).
    mosaic: Any = None

    @property
    def sort_tail(self) -> tuple[Any, ...]:
        # InstanceNumber, then file name, then frame: the tie-break order.
        inst = self.instance if self.instance is not None else math.inf
        return (inst, self.path, self.frame)


def _get(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get`` that treats a value pydicom cannot convert as absent.

    One malformed element (an IS of "1A") must not cost the whole image.
    Plain values skip pydicom's per-element machinery (:mod:`._values`).
    """
    try:
        if not isinstance(ds, Dataset):
            return ds.get(keyword, default)
        return _values.get(ds, keyword, default)
    except Exception:
        return default


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        seq = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(seq) != n or not all(math.isfinite(v) for v in seq):
        return None
    return tuple(seq)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hashable(value: Any) -> Any:
    """A value usable as a dict key and sortable against its own kind."""
    if isinstance(value, (MultiValue, list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    f = _float(value) if not isinstance(value, str) else None
    if f is not None:
        return f
    if value is None:
        return None
    return str(value).strip()


def _sort_value(value: Any) -> tuple[int, Any]:
    # Mixed types (a number here, a string there) must still sort.
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))



def _first_item(container: Dataset | None, keyword: str) -> Dataset | None:
    if container is None:
        return None
    seq = container.get(keyword)
    if seq is None or len(seq) == 0:
        return None
    item = seq[0]
    return item if isinstance(item, Dataset) else None



def _records(path: str, ds: Dataset, tell: int | None = None) -> list[_Rec]:
    """One record per frame of an image file (header already parsed).

    ``tell`` is where the header parse stopped in the file (see _Rec.tell).
    """
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        implicit, little = getattr(ds, "original_encoding", (True, True))
        ts = (tsyntax.IMPLICIT_VR_LITTLE_ENDIAN if implicit else tsyntax.EXPLICIT_VR_LITTLE_ENDIAN) if little \
            else tsyntax.EXPLICIT_VR_BIG_ENDIAN
    n_frames = max(1, _int(_get(ds, "NumberOfFrames", 1)) or 1)
    pixel_spacing = _floats(_get(ds, "PixelSpacing"), 2)
    from_imager = False
    base = dict(
        path=path,
        header=ds,
        n_frames=n_frames,
        series_uid=str(_get(ds, "SeriesInstanceUID", "") or ""),
        sop_uid=str(_get(ds, "SOPInstanceUID", "") or ""),
        rows=_int(_get(ds, "Rows")) or 0,
        columns=_int(_get(ds, "Columns")) or 0,
        samples=_int(_get(ds, "SamplesPerPixel", 1)) or 1,
        transfer_syntax=ts,
        instance=_int(_get(ds, "InstanceNumber")),
        bits_stored=_int(_get(ds, "BitsStored")) or _int(_get(ds, "BitsAllocated")) or 8,
        bits_allocated=_int(_get(ds, "BitsAllocated")) or 8,
        signed=_int(_get(ds, "PixelRepresentation", 0)) == 1,
        tell=tell if ts != tsyntax.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN else None,
    )
    top_keys = {}
    for k in _SPLIT_KEYS:
        value = _get(ds, k)
        if value is not None:
            top_keys[k] = _hashable(value)

    def top_rescale(src: Dataset | None) -> tuple[float, float] | None:
        if src is None:
            return None
        if "RescaleSlope" not in src and "RescaleIntercept" not in src:
            # RT Dose scales stored values to Gy with DoseGridScaling instead.
            scaling = _float(_get(src, "DoseGridScaling"))
            return (scaling, 0.0) if scaling else None
        slope = _float(_get(src, "RescaleSlope", 1.0))
        icpt = _float(_get(src, "RescaleIntercept", 0.0))
        return (1.0 if slope is None else slope, 0.0 if icpt is None else icpt)

    per_frame = _get(ds, "PerFrameFunctionalGroupsSequence")
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) >= n_frames:
        recs = _enhanced_records(ds, base, top_keys, per_frame, shared, n_frames,
                                 top_rescale(ds))
        if recs is not None:
            return recs
    if pixel_spacing is None:
        pixel_spacing = _floats(_get(ds, "ImagerPixelSpacing"), 2)
        from_imager = pixel_spacing is not None
    iop = _floats(_get(ds, "ImageOrientationPatient"), 6)
    ipp = _floats(_get(ds, "ImagePositionPatient"), 3)
    common = dict(
        base,
        pixel_spacing=pixel_spacing,
        spacing_from_imager=from_imager,
        iop=iop,
        thickness=_float(_get(ds, "SliceThickness")),
        spacing_between=_float(_get(ds, "SpacingBetweenSlices")),
        rescale=top_rescale(ds),
    )
    offsets = _floats(_get(ds, "GridFrameOffsetVector"), n_frames) if n_frames > 1 \
        else None
    if offsets is not None and iop is not None and ipp is not None:
        # RT Dose: frames are planes at IPP + (offset - offset[0]) * normal
        # (PS3.3 C.8.8.3.2 allows relative offsets from 0 or absolute ones).
        normal = _normal(iop)
        recs = []
        for f in range(n_frames):
            pos = np.asarray(ipp) + (offsets[f] - offsets[0]) * normal
            p3 = (float(pos[0]), float(pos[1]), float(pos[2]))
            recs.append(_Rec(frame=f, kind="positioned", ipp=p3,
                             keys=dict(top_keys), **common))  # type: ignore[arg-type]
        return recs
    # ImageType is read for the split keys already: a mosaic costs other
    # files nothing.
    image_type = top_keys.get("ImageType")
    if n_frames == 1 and "MOSAIC" in ((image_type,) if isinstance(image_type, str)
                                      else image_type or ()):
        layout = _mosaic.mosaic_layout(ds)
        if layout is not None:
            return [_Rec(frame=0, kind="single", ipp=ipp, keys=top_keys,
                         mosaic=layout, **common)]  # type: ignore[arg-type]
    if n_frames > 1:
        return [
            _Rec(frame=f, kind="classic", ipp=ipp, keys=dict(top_keys),
                 **common)  # type: ignore[arg-type]
            for f in range(n_frames)
        ]
    return [_Rec(frame=0, kind="single", ipp=ipp, keys=top_keys,
                 **common)]  # type: ignore[arg-type]


#: Dimension Index Pointers that order frames in space, not across volumes.
_SPATIAL_DIMENSIONS = frozenset({"InStackPositionNumber", "ImagePositionPatient",
                                 "SliceLocation", "StackID"})


def _dimension_pointers(ds: Dataset) -> list[str]:
    """Keyword of every Dimension Index Pointer of an enhanced file, in order."""
    out = []
    for item in _get(ds, "DimensionIndexSequence") or ():
        pointer = item.get("DimensionIndexPointer")
        try:
            out.append(pydicom.datadict.keyword_for_tag(int(pointer)) or str(pointer))
        except (TypeError, ValueError):
            out.append(str(pointer))
    return out


def _enhanced_records(
    ds: Dataset,
    base: dict[str, Any],
    top_keys: dict[str, Any],
    per_frame: Sequence[Dataset],
    shared: Dataset | None,
    n_frames: int,
    top_rescale: tuple[float, float] | None,
) -> list[_Rec] | None:
    """Records from the functional groups, or None when frames lack positions."""
    recs = []
    dims = _dimension_pointers(ds)
    for f in range(n_frames):
        item = per_frame[f]

        def group(keyword: str, item: Dataset = item) -> Dataset | None:
            # A per-frame macro overrides the shared one (PS3.3 C.7.6.16).
            found = _first_item(item, keyword)
            return found if found is not None else _first_item(shared, keyword)

        position = group("PlanePositionSequence")
        ipp = _floats(_get(position, "ImagePositionPatient"), 3) if position else None
        if ipp is None:
            return None
        orientation = group("PlaneOrientationSequence")
        iop = _floats(_get(orientation, "ImageOrientationPatient"), 6) \
            if orientation else _floats(_get(ds, "ImageOrientationPatient"), 6)
        measures = group("PixelMeasuresSequence")
        src = measures if measures is not None else ds
        transform = group("PixelValueTransformationSequence")
        rescale = top_rescale
        if transform is not None and "RescaleSlope" in transform:
            rescale = (_float(_get(transform, "RescaleSlope")) or 1.0,
                       _float(_get(transform, "RescaleIntercept", 0.0)) or 0.0)
        keys = dict(top_keys)
        content = group("FrameContentSequence")
        if content is not None:
            for kw in ("StackID", "TemporalPositionIndex"):
                if _get(content, kw) is not None:
                    keys[kw] = _hashable(_get(content, kw))
        echo = group("MREchoSequence")
        if echo is not None and _get(echo, "EffectiveEchoTime") is not None:
            keys["EffectiveEchoTime"] = _hashable(_get(echo, "EffectiveEchoTime"))
        diffusion = group("MRDiffusionSequence")
        if diffusion is not None and _get(diffusion, "DiffusionBValue") is not None:
            keys["DiffusionBValue"] = _hashable(_get(diffusion, "DiffusionBValue"))
            gradient = _first_item(diffusion, "DiffusionGradientDirectionSequence")
            vector = _floats(_get(gradient, "DiffusionGradientOrientation"), 3) \
                if gradient is not None else None
            if vector is not None:
                keys["DiffusionGradientOrientation"] = vector
        if content is not None and dims:
            # The non-spatial dimension indices (echo, time, b-value, ...):
            # frames that share them belong to one volume.
            values = _get(content, "DimensionIndexValues")
            values = [values] if isinstance(values, int) else list(values or ())
            if len(values) == len(dims):
                picked = tuple(int(v) for v, d in zip(values, dims)
                               if d not in _SPATIAL_DIMENSIONS)
                if picked:
                    keys["DimensionIndexValues"] = picked
        # Frames share the file's InstanceNumber and path, so tied frames
        # fall back to frame order (see _Rec.sort_tail).
        recs.append(_Rec(
            frame=f,
            kind="positioned",
            pixel_spacing=_floats(_get(src, "PixelSpacing"), 2),
            spacing_from_imager=False,
            iop=iop,
            ipp=(ipp[0], ipp[1], ipp[2]),
            thickness=_float(_get(src, "SliceThickness")),
            spacing_between=_float(_get(src, "SpacingBetweenSlices")),
            rescale=rescale,
            keys=keys,
            **base,
        ))
    return recs


def _normal(iop: Sequence[float]) -> np.ndarray:
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:6], dtype=float)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])

