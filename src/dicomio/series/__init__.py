"""Series assembly: folders, DICOMDIRs and file lists become volumes in space.

:func:`scan` reads headers only (never pixel data), in parallel threads, and
groups the image objects it finds into :class:`Series`: one per
SeriesInstanceUID, split further where the images cannot form one regular
array (different orientation, matrix, pixel spacing or samples per pixel; the
same positions repeated per temporal position, echo, stack or acquisition).
Slices are sorted along the slice normal, never by file name or
InstanceNumber, and every :class:`Series` carries a :class:`Geometry` with
the origin, spacing, direction cosines and a 4x4 affine in patient space.

>>> import dicomio.series as ds
>>> result = ds.scan("/data/exam")                     # doctest: +SKIP
>>> for s in result.series:                            # doctest: +SKIP
...     print(s.number, s.description, s.shape, s.geometry.spacing)
>>> vol = result.series[0].read(rescale=True)          # doctest: +SKIP
>>> vol = ds.read_volume("/data/exam/CT_SERIES")       # doctest: +SKIP

Conventions
-----------
* Array axes are ``(k, j, i)``: slice, row, column (plus samples for colour).
* ``Geometry.spacing`` is ``(dz, dy, dx)`` in mm: ``dz`` along the slice
  normal, ``dy`` between rows (``PixelSpacing[0]``), ``dx`` between columns
  (``PixelSpacing[1]``).
* ``Geometry.affine @ [k, j, i, 1]`` gives the patient position ``(x, y, z)``
  in mm, in DICOM's LPS patient frame, of the centre of voxel ``(k, j, i)``.
* ``Geometry.direction`` holds the direction cosines as columns in ITK
  order: row cosine (direction of increasing ``i``), column cosine (increasing
  ``j``), slice normal (increasing ``k``).

Tolerances (module constants, stated here so users can reason about them):
orientations are equal when every direction cosine differs by at most
:data:`ORIENTATION_TOLERANCE`; two slices share a position when their
projections on the normal differ by at most :data:`POSITION_TOLERANCE` mm;
spacing is *irregular* when some slice lies farther than
``max(SPACING_ATOL, SPACING_RTOL * dz)`` from where the affine puts it; a step
of at least :data:`GAP_FACTOR` times the median step is a *gap* (missing
slices).

Dynamic series (the same positions repeated per temporal position, echo,
stack or acquisition) become one :class:`Series` per repetition, each a proper
3D volume that shares its ``uid`` with its siblings and names what sets it
apart in :attr:`Series.split`; :func:`stack_series` stacks siblings into 4D.
"""

from __future__ import annotations

import builtins
import functools
import math
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..dataset import elements as _values
from ..errors import FrameIndexError, MemoryLimitError, SeriesError
from ..values import rescale as _rescale

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "scan",
    "read_series",
    "read_volume",
    "read_slice",
    "stack_series",
    "ScanResult",
    "Series",
    "Geometry",
    "SeriesWarning",
    "ORIENTATION_TOLERANCE",
    "POSITION_TOLERANCE",
    "SPACING_RTOL",
    "SPACING_ATOL",
    "GAP_FACTOR",
]

#: Largest difference of any direction cosine for two orientations to be equal
#: (about 0.06 degrees): scanners write IOP with 5-6 decimals, so rounding
#: noise stays far below it while a real change of plane is far above it.
ORIENTATION_TOLERANCE = 1e-3
#: Two slices closer than this along the normal (mm) share a position.
POSITION_TOLERANCE = 0.01
#: Relative tolerance on slice positions, as a fraction of the slice spacing.
SPACING_RTOL = 0.01
#: Absolute tolerance on slice positions (mm).
SPACING_ATOL = 0.01
#: A step at least this many times the median step is reported as a gap.
GAP_FACTOR = 1.5
#: Relative tolerance for PixelSpacing to be equal between images.
_PIXEL_SPACING_RTOL = 1e-3

_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_IMAGE_SOP_ROOT = "1.2.840.10008.5.1.4.1.1."
# Storage classes under the image root that hold no Pixel Data: whole
# families (every UID below the prefix) and single classes. Matching is on
# whole UID components, so "481.3" does not swallow "481.30".
_NON_IMAGE_FAMILIES = (
    "88",  # structured reports, key object selection
    "11",  # presentation states
    "9",  # waveforms
    "104",  # encapsulated PDF, CDA, STL, OBJ, MTL
    "78", "79", "80", "81", "82",  # ophthalmic measurements
    "200",  # protocol storage
)
_NON_IMAGE_CLASSES = frozenset(
    [f"481.{n}" for n in range(3, 24)]  # RT plans, records, structures
    + ["66", "66.1", "66.2", "66.3", "66.5", "66.6"]  # raw data, registrations
    + ["67", "68.1", "68.2", "77.1.5.3", "90.1", "91.1"]
)
# Outside the image root: DICOMDIR, hanging protocols, colour palettes,
# implant templates.
_NON_IMAGE_ROOTS = (
    "1.2.840.10008.1.3.10",
    "1.2.840.10008.5.1.4.38.",
    "1.2.840.10008.5.1.4.39.",
    "1.2.840.10008.5.1.4.43.",
    "1.2.840.10008.5.1.4.44.",
    "1.2.840.10008.5.1.4.45.",
)
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
    "TriggerTime",
    "InversionTime",
    "AcquisitionNumber",
    "ImageType",
    "AcquisitionTime",
    "ContentTime",
)
_TS_IMPLICIT_LE = "1.2.840.10008.1.2"
_TS_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_TS_EXPLICIT_BE = "1.2.840.10008.1.2.2"
#: Uncompressed, not deflated: reading such a slice is a copy, not a decode.
_NATIVE_SYNTAXES = frozenset({_TS_IMPLICIT_LE, _TS_EXPLICIT_LE, _TS_EXPLICIT_BE})
_TS_DEFLATED = "1.2.840.10008.1.2.1.99"


class SeriesWarning(UserWarning):
    """A series could be assembled, but something about it needs attention."""


# ---------------------------------------------------------------------------
# Records: one per frame that can become a slice
# ---------------------------------------------------------------------------
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


def _non_image_reason(sop_class: str) -> str | None:
    """A skip reason when the SOP Class holds no Pixel Data, else None."""
    if not sop_class:
        return None
    if any(sop_class == r or sop_class.startswith(r) for r in _NON_IMAGE_ROOTS):
        return _describe_class(sop_class)
    if sop_class.startswith(_IMAGE_SOP_ROOT):
        rest = sop_class[len(_IMAGE_SOP_ROOT):]
        if rest in _NON_IMAGE_CLASSES or any(
                rest == f or rest.startswith(f + ".") for f in _NON_IMAGE_FAMILIES):
            return _describe_class(sop_class)
    return None


def _describe_class(sop_class: str) -> str:
    name = pydicom.uid.UID(sop_class).name
    if sop_class == _MEDIA_STORAGE_DIRECTORY:
        return "DICOMDIR (a directory index, not an image)"
    return f"non-image object: {name}"


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
        ts = (_TS_IMPLICIT_LE if implicit else _TS_EXPLICIT_LE) if little \
            else _TS_EXPLICIT_BE
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
        tell=tell if ts != _TS_DEFLATED else None,
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
    if n_frames > 1:
        return [
            _Rec(frame=f, kind="classic", ipp=ipp, keys=dict(top_keys),
                 **common)  # type: ignore[arg-type]
            for f in range(n_frames)
        ]
    return [_Rec(frame=0, kind="single", ipp=ipp, keys=top_keys,
                 **common)]  # type: ignore[arg-type]


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


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------
def _default_threads() -> int:
    """Header-reading threads once files prove slow to open (see scan)."""
    return min(8, (os.cpu_count() or 1) * 2)


#: Files read one by one between two looks at whether they are slow to open.
_SCAN_WINDOW = 16
#: Seconds per file spent blocked (not computing) above which the header
#: scan switches to threads: a network share or a cold disk, not the page
#: cache (which costs ~0.01 ms per file; parsing costs ~0.3-0.6 ms).
_SLOW_OPEN = 0.2e-3


def _clock() -> tuple[float, float, int | None]:
    """Wall time, this thread's CPU time, its voluntary context switches.

    The switches (Linux: RUSAGE_THREAD) tell a thread that blocked on I/O
    from one that merely waited for a busy CPU; None where unknown.
    """
    switches = None
    who = getattr(resource, "RUSAGE_THREAD", None) if resource is not None else None
    if who is not None:
        switches = resource.getrusage(who).ru_nvcsw
    return time.perf_counter(), time.thread_time(), switches


def _slow_to_open(start: tuple[float, float, int | None], n: int) -> bool:
    """Whether the last ``n`` files, read since ``start``, waited on I/O."""
    wall, cpu, switches = _clock()
    waited = (wall - start[0]) - (cpu - start[1])
    if switches is None or start[2] is None:
        # Without the switch count a busy CPU looks like I/O: ask for more.
        return waited > max(5 * _SLOW_OPEN * n, cpu - start[1])
    return waited > _SLOW_OPEN * n and (switches - start[2]) >= n // 2


def _serially_while_fast(n: int, step: Callable[[int], None]) -> int:
    """Call ``step(0)``, ``step(1)``, ... in this thread while files are fast.

    After every :data:`_SCAN_WINDOW` calls, stop if that window spent time
    blocked on I/O (:func:`_slow_to_open`): the caller hands the rest to
    threads. Returns how many steps ran.
    """
    done = 0
    start = _clock()
    while done < n:
        step(done)
        done += 1
        if done % _SCAN_WINDOW == 0:
            if _slow_to_open(start, _SCAN_WINDOW):
                break
            start = _clock()
    return done


def _looks_like_dicom(head: bytes) -> bool:
    """Cheap test on a file's first 132 bytes: the DICM magic, or a raw
    dataset starting with group 0002/0008."""
    if head[128:132] == b"DICM":
        return True
    # Files without preamble (ACR-NEMA style, or stripped meta) start with a
    # group 0x0002 or 0x0008 tag in either byte order; anything else (text,
    # PNG, ZIP, ...) is rejected without parsing.
    return head[:2] in (b"\x08\x00", b"\x00\x08", b"\x02\x00", b"\x00\x02") \
        and len(head) >= 8


@dataclass
class _Outcome:
    path: str
    records: list[_Rec] | None = None
    reason: str | None = None
    detail: str | None = None


def _scan_file(path: str, known_class: str | None = None) -> _Outcome:
    """Read one file's header and turn it into records, or say why not."""
    if known_class is not None:
        # A DICOMDIR record told us the SOP Class: skip without opening.
        why = _non_image_reason(known_class)
        if why is not None:
            return _Outcome(path, reason=why)
    if not os.path.isfile(path):
        return _Outcome(path, reason="not found")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return _Outcome(path, reason="not DICOM")
    # One open for the magic test and the parse; the position pydicom stops
    # at (Pixel Data) goes to the records, so reading never parses again.
    with fh:
        try:
            head = fh.read(132)
        except OSError:
            return _Outcome(path, reason="not DICOM")
        if not _looks_like_dicom(head):
            return _Outcome(path, reason="not DICOM")
        try:
            fh.seek(0)
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
            except pydicom.errors.InvalidDicomError:
                # No preamble: accept it only if it parses into a dataset with
                # an image's identity (a forced parse of junk yields neither).
                fh.seek(0)
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
                if "SOPClassUID" not in ds and "Rows" not in ds:
                    return _Outcome(path, reason="not DICOM")
            tell = fh.tell()
        except Exception as exc:  # pydicom raises many types on broken headers
            return _Outcome(path, reason="unreadable DICOM header",
                            detail=f"{type(exc).__name__}: {exc}")
    meta = getattr(ds, "file_meta", None)
    sop_class = str(_get(ds, "SOPClassUID", "") or
                    (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    why = _non_image_reason(sop_class)
    if why is not None:
        return _Outcome(path, reason=why)
    if "DirectoryRecordSequence" in ds:
        return _Outcome(path, reason=_describe_class(_MEDIA_STORAGE_DIRECTORY))
    rows, cols = _int(_get(ds, "Rows")), _int(_get(ds, "Columns"))
    if not rows or not cols:
        return _Outcome(path, reason="no image pixel module (Rows/Columns missing)")
    try:
        return _Outcome(path, records=_records(path, ds, tell))
    except Exception as exc:  # malformed values in an otherwise valid header
        return _Outcome(path, reason="unreadable DICOM header",
                        detail=f"{type(exc).__name__}: {exc}")


def _resolve_case(base: Path, parts: Sequence[str]) -> Path:
    """Join DICOMDIR file ID components, forgiving case (media are uppercase)."""
    path = base.joinpath(*parts)
    if path.exists():
        return path
    current = base
    for part in parts:
        candidate = current / part
        if not candidate.exists() and current.is_dir():
            matches = [c for c in current.iterdir() if c.name.upper() == part.upper()]
            candidate = matches[0] if matches else candidate
        current = candidate
    return current


def _dicomdir_entries(path: Path) -> list[tuple[str, str | None]]:
    """``(file, SOP Class UID or None)`` for every in-use record naming a file."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise SeriesError(f"cannot read DICOMDIR: {type(exc).__name__}: {exc}",
                          path=str(path)) from exc
    out = []
    for rec in _get(ds, "DirectoryRecordSequence", []):
        # 0x0000 marks a record the media creator deleted (PS3.3 F.3.2.2).
        if rec.get("RecordInUseFlag", 0xFFFF) == 0:
            continue
        file_id = rec.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        sop = rec.get("ReferencedSOPClassUIDInFile")
        target = _resolve_case(path.parent, [str(p) for p in parts])
        out.append((str(target), str(sop) if sop else None))
    return out


def _is_dicomdir(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == _MEDIA_STORAGE_DIRECTORY


def _walk(folder: Path, recursive: bool) -> list[str]:
    if not recursive:
        return sorted(str(p) for p in folder.iterdir() if p.is_file())
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files))
    return found


def _collect(
    source: Any, recursive: bool
) -> tuple[list[tuple[str, str | None]], dict[str, list[str]]]:
    """Files to read (with any SOP Class known from a DICOMDIR) and early skips."""
    items: list[Any]
    if isinstance(source, (str, os.PathLike)):
        top = Path(source)
        if not top.exists():
            raise FileNotFoundError(f"no such file or directory: {str(top)!r}")
        items = [top]
    else:
        items = [Path(p) for p in source]
    todo: list[tuple[str, str | None]] = []
    skipped: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.is_dir():
            todo.extend((p, None) for p in _walk(item, recursive))
        elif item.is_file() and _is_dicomdir(item):
            todo.extend(_dicomdir_entries(item))
        elif item.is_file():
            todo.append((str(item), None))
        else:
            skipped["not found"].append(str(item))
    # The same file may be listed twice (a folder and a file inside it).
    seen: dict[str, str | None] = {}
    for p, sop in todo:
        seen.setdefault(p, sop)
    return list(seen.items()), skipped


def scan(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> ScanResult:
    """Find the image series in a folder, a DICOMDIR, a file or a list of paths.

    Only headers are read (``stop_before_pixels``), in threads when the files
    are slow to open (see ``threads``). Files that are not DICOM, and DICOM objects without
    pixels (SR, RT Structure Set, RT Plan, presentation states, waveforms,
    ...), are skipped and reported in :attr:`ScanResult.skipped`.

    Parameters
    ----------
    source : path or iterable of paths
        A folder (walked), a DICOMDIR (its records are followed), a single
        file, or a list mixing those.
    recursive : bool
        Walk sub-folders of folders.
    threads : int, optional
        Header-reading threads. By default files are read one by one (parsing
        a header is Python work that holds the GIL, so threads slow down a
        scan of local or cached files) until a window of 16 files shows time
        spent blocked on I/O (a network share, a cold disk); the remaining
        files are then read in ``min(8, 2 * os.cpu_count())`` threads. An
        explicit ``threads=N`` uses N threads from the start.
    progress : callable, optional
        Called as ``progress(done, total)`` from the calling thread: once with
        ``done == 0`` before reading and after each file.

    Returns
    -------
    ScanResult

    Raises
    ------
    FileNotFoundError
        When ``source`` is a single path that does not exist.
    SeriesError
        When a DICOMDIR cannot be read.

    Warns
    -----
    SeriesWarning
        Once per problem found while assembling a series (gaps, duplicate or
        missing positions, irregular spacing, sheared stacks).
    """
    todo, skipped = _collect(source, recursive)
    total = len(todo)
    n_files = total + len(skipped.get("not found", []))
    if progress is not None:
        progress(0, total)
    # Parsing a header holds the GIL: threads only pay off while files wait
    # on I/O. By default files are read one by one, and the rest go to
    # threads once a window of files shows time spent blocked (see
    # _slow_to_open); threads=N forces N threads from the start.
    adaptive = not threads
    n_threads = _default_threads() if adaptive else max(1, threads or 1)
    outcomes: list[_Outcome] = []
    # pydicom warns about many harmless header quirks; thousands of files
    # would flood the user, and a "warnings are errors" setting would turn
    # them into skipped files. They are collected and reported instead.
    # (catch_warnings is process-wide: it also covers the worker threads.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        def scan_one(k: int) -> None:
            outcomes.append(_scan_file(*todo[k]))
            if progress is not None:
                progress(k + 1, total)

        done = 0
        if adaptive:
            done = _serially_while_fast(total, scan_one)
        elif n_threads == 1 or total <= 1:
            for done in range(total):
                scan_one(done)
            done = total
        if done < total:
            with ThreadPoolExecutor(max_workers=n_threads,
                                    thread_name_prefix="dicomio-scan") as pool:
                futures = [pool.submit(_scan_file, p, sop) for p, sop in todo[done:]]
                for fut in as_completed(futures):
                    outcomes.append(fut.result())
                    done += 1
                    if progress is not None:
                        progress(done, total)
    header_warnings: dict[str, int] = defaultdict(int)
    for w in caught:
        header_warnings[str(w.message)] += 1
    # as_completed order is arbitrary: keep results reproducible.
    order = {p: i for i, (p, _) in enumerate(todo)}
    outcomes.sort(key=lambda o: order[o.path])
    errors: dict[str, str] = {}
    records: list[_Rec] = []
    seen_sop: set[tuple[str, int]] = set()
    for out in outcomes:
        if out.reason is not None:
            skipped[out.reason].append(out.path)
            if out.detail:
                errors[out.path] = out.detail
            continue
        assert out.records is not None
        first = out.records[0]
        if first.sop_uid and (first.sop_uid, 0) in seen_sop:
            # The same instance twice (a copy in another folder): one is enough.
            skipped["duplicate SOP Instance UID"].append(out.path)
            continue
        seen_sop.update((r.sop_uid, r.frame) for r in out.records if r.sop_uid)
        records.extend(out.records)
    series = _assemble(records)
    for s in series:
        for text in s.warnings:
            warnings.warn(SeriesWarning(f"{s.label}: {text}"), stacklevel=2)
    return ScanResult(series=series, skipped=dict(skipped), errors=errors,
                      n_files=n_files, header_warnings=dict(header_warnings))


# ---------------------------------------------------------------------------
# Grouping, splitting, ordering
# ---------------------------------------------------------------------------
def _normal(iop: Sequence[float]) -> np.ndarray:
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:6], dtype=float)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _close_orientation(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return max(abs(x - y) for x, y in zip(a, b)) <= ORIENTATION_TOLERANCE


def _close_spacing(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(abs(x - y) <= _PIXEL_SPACING_RTOL * max(abs(x), abs(y), 1e-9)
               for x, y in zip(a, b))


def _split_geometry(recs: list[_Rec]) -> list[tuple[dict[str, Any], list[_Rec]]]:
    """Clusters of records that can share one array and one orientation."""
    clusters: list[list[_Rec]] = []
    for r in recs:
        for c in clusters:
            h = c[0]
            if ((r.rows, r.columns, r.samples) == (h.rows, h.columns, h.samples)
                    and _close_spacing(r.pixel_spacing, h.pixel_spacing)
                    and _close_orientation(r.iop, h.iop)):
                c.append(r)
                break
        else:
            clusters.append([r])
    if len(clusters) == 1:
        return [({}, clusters[0])]
    sigs = [{
        "Rows": c[0].rows,
        "Columns": c[0].columns,
        "SamplesPerPixel": c[0].samples,
        "PixelSpacing": c[0].pixel_spacing,
        "ImageOrientationPatient": c[0].iop,
    } for c in clusters]
    varying = [k for k in sigs[0] if len({repr(s[k]) for s in sigs}) > 1]
    if not varying:  # tolerance-level differences only: name orientation
        varying = ["ImageOrientationPatient"]
    return [({k: s[k] for k in varying}, c) for s, c in zip(sigs, clusters)]


def _locations(recs: list[_Rec], normal: np.ndarray) -> list[int]:
    """A location id per record: equal ids share a position along the normal."""
    proj = [float(np.dot(r.ipp, normal)) for r in recs]  # type: ignore[arg-type]
    order = sorted(range(len(recs)), key=lambda i: proj[i])
    ids = [0] * len(recs)
    loc, prev = -1, -math.inf
    for i in order:
        if proj[i] - prev > POSITION_TOLERANCE:
            loc += 1
        ids[i] = loc
        prev = proj[i]
    return ids


def _max_multiplicity(ids: list[int]) -> int:
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    return max(counts.values()) if counts else 0


@dataclass
class _Part:
    split: dict[str, Any]
    recs: list[_Rec]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    time_series: str | None = None  # key ordering a single-position series


def _split_repeats(recs: list[_Rec], split: dict[str, Any]) -> list[_Part]:
    """Split records whose positions repeat into one part per repetition."""
    if any(r.ipp is None or r.iop is None for r in recs) or len(recs) < 2:
        return [_Part(split, recs)]
    normal = _normal(recs[0].iop)  # type: ignore[arg-type]
    ids = _locations(recs, normal)
    m = _max_multiplicity(ids)
    if m == 1:
        return [_Part(split, recs)]
    if len(set(ids)) == 1:
        # Every image at one position: a time series of one slice (cine,
        # perfusion), kept whole and ordered by what varies.
        key = next((k for k in _SPLIT_KEYS
                    if all(k in r.keys for r in recs)
                    and len({r.keys[k] for r in recs}) > 1), None)
        part = _Part(split, recs, time_series=key or "InstanceNumber")
        return [part]
    for clean_only in (True, False):
        for key in _SPLIT_KEYS:
            if not all(key in r.keys for r in recs):
                continue
            groups: dict[Any, list[int]] = defaultdict(list)
            for i, r in enumerate(recs):
                groups[r.keys[key]].append(i)
            if len(groups) < 2 or len(groups) > m:
                # More groups than repeats means a per-slice value
                # (AcquisitionTime in sequential CT): not a dimension.
                continue
            sub_m = [_max_multiplicity([ids[i] for i in g]) for g in groups.values()]
            if clean_only and max(sub_m) != 1:
                continue
            if not clean_only and max(sub_m) >= m:
                continue
            parts = []
            for value in sorted(groups, key=_sort_value):
                sub = [recs[i] for i in groups[value]]
                parts.extend(_split_repeats(sub, {**split, key: value}))
            return parts
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    if len(set(counts.values())) == 1:
        # Every position repeated m times and nothing names the repetition:
        # the k-th image (by InstanceNumber) at each position joins volume k.
        per_loc: dict[int, list[int]] = defaultdict(list)
        for i in sorted(range(len(recs)), key=lambda i: recs[i].sort_tail):
            per_loc[ids[i]].append(i)
        parts = []
        text = (f"{len(recs)} images share each of {len(counts)} positions "
                f"{m} times and no attribute ({', '.join(_SPLIT_KEYS[:6])}, ...) "
                f"tells the repetitions apart; they were split into {m} volumes "
                "by InstanceNumber order.")
        for k in range(m):
            sub = [recs[idx[k]] for idx in per_loc.values()]
            parts.append(_Part({**split, "repetition": k + 1}, sub,
                               warnings=[text]))
        return parts
    return [_Part(split, recs)]


def _assemble(records: list[_Rec]) -> list[Series]:
    """Group records into ordered series (pure: no I/O, no warnings emitted)."""
    groups: dict[tuple[str, str], list[_Rec]] = defaultdict(list)
    for r in records:
        if r.kind == "classic":
            groups[("frames", r.path)].append(r)
        else:
            # Without a SeriesInstanceUID each file stands alone.
            groups[("series", r.series_uid or f"file:{r.path}")].append(r)
    series: list[Series] = []
    for (kind, _), recs in groups.items():
        if kind == "frames":
            recs.sort(key=lambda r: r.frame)
            series.append(Series(recs, "frames", {}, [], []))
            continue
        parts: list[_Part] = []
        for split, cluster in _split_geometry(recs):
            parts.extend(_split_repeats(cluster, split))
        built = [_build_part(p) for p in parts]
        for i, s in enumerate(built):
            s.part = i + 1
            s.n_parts = len(built)
        series.extend(built)
    series.sort(key=_series_sort_key)
    return series


def _series_sort_key(s: Series) -> tuple[Any, ...]:
    number = s.number if s.number is not None else math.inf
    return (str(_get(s.headers[0], "StudyInstanceUID", "")), number, s.uid,
            s.part, s.slices[0][0])


def _build_part(part: _Part) -> Series:
    recs = part.recs
    notes = list(part.notes)
    warns = list(part.warnings)
    if part.time_series is not None:
        key = part.time_series
        if key == "InstanceNumber":
            recs = sorted(recs, key=lambda r: r.sort_tail)
        else:
            recs = sorted(recs, key=lambda r: (_sort_value(r.keys[key]), r.sort_tail))
        notes.append(f"All {len(recs)} images share one position: kept as a "
                     f"time series, axis 0 ordered by {key}.")
        return Series(recs, "frames", part.split, warns, notes)
    positioned = [r for r in recs if r.ipp is not None and r.iop is not None]
    if len(positioned) == len(recs):
        normal = _normal(recs[0].iop)  # type: ignore[arg-type]
        # Sort by location id, not raw projection, so images within
        # POSITION_TOLERANCE of each other count as tied and follow the
        # tie-break order instead of sub-micron noise.
        ids = _locations(recs, normal)
        order = sorted(range(len(recs)), key=lambda i: (ids[i], recs[i].sort_tail))
        recs, ids = [recs[i] for i in order], [ids[i] for i in order]
        ties = [k for k in range(len(ids) - 1) if ids[k] == ids[k + 1]]
        if ties:
            has_numbers = all(r.instance is not None for r in recs)
            by = "InstanceNumber, then file name" if has_numbers else "file name"
            first = ties[0]
            where = float(np.dot(recs[first].ipp, normal))  # type: ignore[arg-type]
            warns.append(
                f"{len(set(ids[k] for k in ties))} position(s) are shared by more "
                f"than one image (first at {where:.3f} mm along the normal, "
                f"slices {first} and {first + 1}); tied images are ordered by "
                f"{by}.")
        return Series(recs, "volume", part.split, warns, notes)
    recs = sorted(recs, key=lambda r: r.sort_tail)
    if len(recs) > 1:
        missing = len(recs) - len(positioned)
        has_numbers = all(r.instance is not None for r in recs)
        by = "InstanceNumber, then file name" if has_numbers else "file name"
        what = ("no image has" if missing == len(recs)
                else f"{missing} of {len(recs)} images lack")
        warns.append(f"{what} ImagePositionPatient/ImageOrientationPatient: "
                     f"slices are ordered by {by}, not by position.")
    return Series(recs, "images", part.split, warns, notes)


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Geometry:
    """Where a series' voxels are in the patient (DICOM LPS frame, mm).

    Attributes
    ----------
    origin : tuple of float
        Patient position ``(x, y, z)`` of the centre of voxel ``(0, 0, 0)``:
        the ImagePositionPatient of the first slice.
    spacing : tuple of float
        ``(dz, dy, dx)`` in mm. ``dz`` is the median step between sorted slice
        positions along the normal (see :attr:`z_source` for where it came
        from otherwise); ``dy`` is PixelSpacing[0] (between rows), ``dx`` is
        PixelSpacing[1] (between columns).
    direction : numpy.ndarray
        3x3; columns are the row cosine (increasing ``i``), the column cosine
        (increasing ``j``) and the slice normal (increasing ``k``), as in
        ITK/SimpleITK. Identity when the images carry no orientation.
    affine : numpy.ndarray
        4x4; ``affine @ [k, j, i, 1]`` is ``[x, y, z, 1]`` for array index
        ``(k, j, i)``. Column 0 is the median step between slices (the normal
        times ``dz``, unless the stack is sheared), column 1 the column
        cosine times ``dy``, column 2 the row cosine times ``dx``, column 3
        the origin.
    irregular : bool
        True when some slice lies farther than ``max(SPACING_ATOL,
        SPACING_RTOL * dz)`` (0.01 mm or 1 %) from where :attr:`affine` puts
        it: gaps, duplicates, uneven steps. :attr:`positions` stays exact.
    positions : numpy.ndarray or None
        ``(n, 3)`` ImagePositionPatient of every slice, in array order.
    z_source : str
        Where ``dz`` comes from: ``"ImagePositionPatient"``,
        ``"SpacingBetweenSlices"``, ``"SliceThickness"``, ``"frame index"``
        (axis 0 is frame order, not space: ``dz`` is 1 and affine column 0
        the unit normal) or ``"default"`` (1 mm, nothing known).
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: np.ndarray
    affine: np.ndarray
    irregular: bool = False
    positions: np.ndarray | None = None
    z_source: str = "ImagePositionPatient"

    @property
    def normal(self) -> np.ndarray:
        """The slice normal (third column of :attr:`direction`)."""
        return np.array(self.direction[:, 2])

    def index_to_patient(self, index: Sequence[float]) -> np.ndarray:
        """Patient ``(x, y, z)`` in mm of array index ``(k, j, i)``."""
        k, j, i = index
        point: np.ndarray = self.affine @ np.array([k, j, i, 1.0])
        return point[:3]

    def patient_to_index(self, point: Sequence[float]) -> np.ndarray:
        """Fractional array index ``(k, j, i)`` of patient point ``(x, y, z)``."""
        x, y, z = point
        index: np.ndarray = np.linalg.solve(self.affine, np.array([x, y, z, 1.0]))
        return index[:3]

    def __repr__(self) -> str:
        sp = ", ".join(f"{v:.4g}" for v in self.spacing)
        org = ", ".join(f"{v:.4g}" for v in self.origin)
        flag = ", irregular" if self.irregular else ""
        return f"Geometry(origin=({org}), spacing=({sp}){flag})"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _geometry(recs: list[_Rec], kind: str) -> tuple[Geometry, list[str], list[str]]:
    """The geometry of ordered records, with warnings and notes about it."""
    warns: list[str] = []
    notes: list[str] = []
    first = recs[0]
    if first.pixel_spacing is not None:
        dy, dx = first.pixel_spacing
        if first.spacing_from_imager:
            notes.append("PixelSpacing is missing: ImagerPixelSpacing (at the "
                         "detector, not in the patient) gives the in-plane spacing.")
    else:
        dy = dx = 1.0
        notes.append("PixelSpacing is missing: in-plane spacing set to 1 mm.")
    if first.iop is not None:
        row = np.asarray(first.iop[:3], dtype=float)
        col = np.asarray(first.iop[3:6], dtype=float)
        normal = _normal(first.iop)
    else:
        row, col, normal = np.eye(3)
    direction = np.column_stack([row, col, normal])
    positions = None
    if all(r.ipp is not None for r in recs):
        positions = np.array([r.ipp for r in recs], dtype=float)
    origin = positions[0] if positions is not None else np.zeros(3)
    if first.kind == "classic":
        # A classic multi-frame file has one position for all its frames:
        # repeating it per frame would claim a geometry the file lacks.
        positions = None

    # Spacing from the header, for everything but a positioned stack.
    if first.spacing_between is not None and first.spacing_between > 0:
        dz, z_source = first.spacing_between, "SpacingBetweenSlices"
    elif first.thickness is not None and first.thickness > 0:
        dz, z_source = first.thickness, "SliceThickness"
    else:
        dz, z_source = 1.0, "default"
    if kind == "frames":
        dz, z_source = 1.0, "frame index"
    step = normal * dz
    irregular = False

    if kind == "volume" and positions is not None and len(recs) > 1:
        proj = positions @ normal
        steps = np.diff(proj)
        real = steps > POSITION_TOLERANCE
        if real.any():
            dz = float(np.median(steps[real]))
            z_source = "ImagePositionPatient"
            # The median step vector keeps a gantry tilt (shear) in the affine
            # so the affine reproduces every position of a regular stack.
            step = np.median(np.diff(positions, axis=0)[real], axis=0)
            tol = max(SPACING_ATOL, SPACING_RTOL * dz)
            k = np.arange(len(recs))[:, None]
            predicted = origin + k * step
            deviation = np.linalg.norm(positions - predicted, axis=1)
            irregular = bool(deviation.max() > tol) or not real.all()
            gaps = [(i, s) for i, s in enumerate(steps) if s >= GAP_FACTOR * dz]
            for i, s in gaps:
                missing = max(1, round(s / dz) - 1)
                warns.append(
                    f"Gap between slices {i} and {i + 1}: the step is {_fmt(s)} mm, "
                    f"{s / dz:.1f} times the median {_fmt(dz)} mm (about {missing} "
                    f"slice(s) missing).")
            uneven = [s for i, s in enumerate(steps) if real[i]
                      and abs(s - dz) > tol and s < GAP_FACTOR * dz]
            if uneven:
                warns.append(
                    f"Slice spacing is irregular: steps range from "
                    f"{_fmt(float(steps[real].min()))} to "
                    f"{_fmt(float(steps[real].max()))} mm around the median "
                    f"{_fmt(dz)} mm (tolerance {_fmt(tol)} mm); the affine uses "
                    "the median.")
            inplane = step - np.dot(step, normal) * normal
            shift = float(np.linalg.norm(inplane))
            if shift > tol:
                angle = math.degrees(math.atan2(shift, dz))
                warns.append(
                    f"The stack is sheared (gantry tilt of about {angle:.2g} "
                    f"degrees): each slice is offset {_fmt(shift)} mm in-plane; "
                    "the affine includes the shear, spacing and direction alone "
                    "do not.")
            elif irregular and not gaps and not uneven and real.all():
                warns.append(
                    f"Slice positions deviate from a regular grid by up to "
                    f"{_fmt(float(deviation.max()))} mm (tolerance {_fmt(tol)} mm).")
            # Thickness differing from spacing is normal (overlapping CT
            # reconstructions, MR slice gaps): a note, not a warning.
            if first.thickness and abs(first.thickness - dz) > tol:
                how = "overlap" if first.thickness > dz else "leave gaps between them"
                notes.append(
                    f"SliceThickness ({_fmt(first.thickness)} mm) differs from the "
                    f"spacing of the positions ({_fmt(dz)} mm): slices {how}.")
            if first.spacing_between and abs(first.spacing_between - dz) > tol:
                notes.append(
                    f"SpacingBetweenSlices ({_fmt(first.spacing_between)} mm) "
                    f"differs from the spacing of the positions ({_fmt(dz)} mm); "
                    "the positions are used.")
    elif kind == "volume" and len(recs) == 1 and z_source == "default":
        notes.append("Single slice without SliceThickness or SpacingBetweenSlices: "
                     "slice spacing set to 1 mm.")

    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col * dy
    affine[:3, 2] = row * dx
    affine[:3, 3] = origin
    geom = Geometry(
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        spacing=(float(dz), float(dy), float(dx)),
        direction=_readonly(direction),
        affine=_readonly(affine),
        irregular=irregular,
        positions=_readonly(positions) if positions is not None else None,
        z_source=z_source,
    )
    return geom, warns, notes


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------
def read_slice(
    path: str,
    frame: int = 0,
    *,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    rescale: tuple[float, float] | None = None,
    dtype: Any = None,
) -> np.ndarray:
    """Decode one frame of one file; a pure function a dask task can call.

    Parameters
    ----------
    path : str
        The file.
    frame : int
        0-based frame index within the file.
    color : {"rgb", "native"}
        Passed to :class:`dicomio.image.DicomImage`.
    backend : str or sequence of str, optional
        Force these decoding backends, in this order.
    rescale : (slope, intercept), optional
        Linear modality LUT to apply (see :meth:`Series.slice_tasks`).
    dtype : dtype, optional
        Cast the result to this dtype.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)``.
    """
    from ..image import DicomImage

    with DicomImage(path, backend=backend, color=color) as img:
        arr = img.read(frame)
    if rescale is not None:
        arr = _rescale.apply_rescale(arr, rescale, np.dtype(dtype) if dtype is not None
                                     else np.dtype(np.float32))
    elif dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def _memory_limit() -> int:
    from ..image import memory_limit

    return memory_limit()


# ---------------------------------------------------------------------------
# Series
# ---------------------------------------------------------------------------
class Series:
    """One volume: ordered slices of one series, with geometry, read lazily.

    Built by :func:`scan`; not meant to be constructed directly.

    Attributes
    ----------
    uid : str
        SeriesInstanceUID (shared by the parts of a split series).
    key : str
        Unique within a scan: ``uid``, or ``"uid#part"`` when the series was
        split into several volumes.
    description, modality : str
        SeriesDescription and Modality.
    number : int or None
        SeriesNumber.
    kind : str
        ``"volume"``: slices sorted along the normal by position;
        ``"frames"``: a classic multi-frame file, or images all at one
        position, whose axis 0 is frame order (time), not space;
        ``"images"``: no positions, ordered by InstanceNumber then file name.
    split : dict
        What sets this part apart from the other parts of the same series
        (e.g. ``{"TemporalPositionIdentifier": 2}`` or
        ``{"ImageOrientationPatient": (...)}``); empty when not split.
    part, n_parts : int
        1-based index of this part among the parts of ``uid``, and their count.
    slices : list of (str, int)
        ``(path, frame)`` per slice, in array order.
    warnings : list of str
        Problems that may make the volume wrong (also issued as
        :class:`SeriesWarning` by :func:`scan`).
    notes : list of str
        Plain facts worth knowing (splits, thickness vs spacing, defaults).
    geometry : Geometry
    """

    uid: str
    description: str
    modality: str
    number: int | None
    kind: str
    split: dict[str, Any]
    part: int
    n_parts: int
    slices: list[tuple[str, int]]
    warnings: list[str]
    notes: list[str]
    geometry: Geometry

    def __init__(self, recs: list[_Rec], kind: str, split: dict[str, Any],
                 warns: list[str], notes: list[str]) -> None:
        self._recs = recs
        head = recs[0].header
        self.uid = recs[0].series_uid
        self.description = str(_get(head, "SeriesDescription", "") or "")
        self.modality = str(_get(head, "Modality", "") or "")
        self.number = _int(_get(head, "SeriesNumber"))
        self.kind = kind
        self.split = dict(split)
        self.part = 1
        self.n_parts = 1
        self.slices = [(r.path, r.frame) for r in recs]
        geom, g_warns, g_notes = _geometry(recs, kind)
        self.geometry = geom
        self.warnings = list(warns) + g_warns
        split_notes = []
        if split:
            what = ", ".join(f"{k}={_short(v)}" for k, v in split.items())
            split_notes.append(f"Part of a series split into several volumes: {what}.")
        self.notes = split_notes + list(notes) + g_notes
        self._probe_cache: dict[tuple[str, str | tuple[str, ...] | None],
                                tuple[np.dtype[Any], tuple[int, ...]]] = {}
        self._decoders: list[str | None] = [None] * len(recs)
        self._photometric: list[dict[str, Any] | None] = [None] * len(recs)

    # -- identity -------------------------------------------------------
    @property
    def key(self) -> str:
        """``uid``, or ``uid#part`` for one of several parts."""
        return self.uid if self.n_parts == 1 else f"{self.uid}#{self.part}"

    @property
    def label(self) -> str:
        """A short human label for messages."""
        bits = []
        if self.number is not None:
            bits.append(f"series {self.number}")
        else:
            bits.append("series")
        if self.description:
            bits.append(repr(self.description))
        if self.n_parts > 1:
            bits.append(f"part {self.part}/{self.n_parts}")
        bits.append(f"({self.uid or self.slices[0][0]})")
        return " ".join(bits)

    def __repr__(self) -> str:
        dims = "x".join(str(d) for d in self._header_shape())
        return (f"<Series {self.label} {self.modality} {self.kind} {dims}"
                f"{' with warnings' if self.warnings else ''}>")

    def __len__(self) -> int:
        return len(self.slices)

    # -- shape and type -------------------------------------------------
    @property
    def n_slices(self) -> int:
        """Number of slices (axis 0)."""
        return len(self.slices)

    def _header_shape(self) -> tuple[int, ...]:
        r = self._recs[0]
        tail = (r.samples,) if r.samples > 1 else ()
        return (len(self._recs), r.rows, r.columns, *tail)

    def _probe(self, color: str = "rgb", backend: str | Sequence[str] | None = None
               ) -> tuple[np.dtype[Any], tuple[int, ...]]:
        """dtype and frame shape of decoded slices, from DicomImage (cached)."""
        # Lists are unhashable; a tuple names the same backend order.
        key = (color, backend if backend is None or isinstance(backend, str)
               else tuple(backend))
        if key not in self._probe_cache:
            try:
                from .. import image  # noqa: F401 - importable, or use the header
            except ImportError:
                # The core is not importable (partial install): the header's
                # description is the best answer.
                self._probe_cache[key] = (self._header_dtype(),
                                          self._header_shape()[1:])
                return self._probe_cache[key]
            dtypes = []
            shape: tuple[int, ...] | None = None
            seen: set[tuple[int, int, bool, int]] = set()
            for r in self._recs:
                sig = (r.bits_allocated, r.samples, r.signed,
                       int(_get(r.header, "FloatPixelData") is not None))
                if sig in seen:
                    continue
                seen.add(sig)
                with self._open_image(r, backend=backend, color=color) as img:
                    dtypes.append(np.dtype(img.dtype))
                    if shape is None:
                        shape = tuple(img.frame_shape)
            assert shape is not None
            self._probe_cache[key] = (np.result_type(*dtypes), shape)
        return self._probe_cache[key]

    @staticmethod
    def _open_image(rec: _Rec, **options: Any) -> Any:
        """A DicomImage of ``rec``'s file, from the header the scan parsed."""
        from ..image import DicomImage

        if rec.tell is None:
            return DicomImage(rec.path, **options)
        return DicomImage._from_header(rec.path, rec.header, rec.tell, **options)

    def _header_dtype(self) -> np.dtype[Any]:
        r = self._recs[0]
        nbytes = {1: 1, 2: 2, 3: 4, 4: 4}.get(max(1, (r.bits_allocated + 7) // 8), 8)
        return np.dtype(f"{'i' if r.signed else 'u'}{nbytes}")

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n, rows, cols)`` or ``(n, rows, cols, samples)`` of :meth:`read`."""
        return (len(self.slices), *self._probe()[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        """dtype of :meth:`read` without rescale."""
        return self._probe()[0]

    @property
    def rescale_params(self) -> list[tuple[float, float] | None]:
        """Per-slice ``(slope, intercept)`` from the header (None: not given)."""
        return [r.rescale for r in self._recs]

    def rescaled_dtype(self, color: str = "rgb", backend: str | Sequence[str] | None = None
                       ) -> np.dtype[Any]:
        """dtype of ``read(rescale=True)``.

        The raw dtype when no slice has a rescale other than (1, 0); the
        smallest integer dtype holding every slice's stored range plus its
        intercept when every slope is 1 and every intercept is integral;
        otherwise float32 (float64 for float64 or wider-than-16-bit data, whose
        values float32 cannot hold exactly).
        """
        raw = self._probe(color, backend)[0]
        return _rescale.rescaled_dtype(
            raw, [(r.bits_stored, r.signed, p)
                  for r, p in zip(self._recs, self.rescale_params, strict=True)])

    # -- headers and provenance -----------------------------------------
    @property
    def headers(self) -> list[Dataset]:
        """The header of every slice, in array order (frames share theirs)."""
        return [r.header for r in self._recs]

    @property
    def transfer_syntaxes(self) -> set[str]:
        """Transfer Syntax UIDs found among the slices."""
        return {r.transfer_syntax for r in self._recs}

    @property
    def positions(self) -> np.ndarray | None:
        """``(n, 3)`` ImagePositionPatient per slice, or None."""
        return self.geometry.positions

    @property
    def slice_locations(self) -> np.ndarray | None:
        """Position of each slice along the normal (mm), or None."""
        if self.geometry.positions is None:
            return None
        locations: np.ndarray = self.geometry.positions @ self.geometry.normal
        return locations

    @property
    def instance_numbers(self) -> list[int | None]:
        """InstanceNumber per slice, in array order."""
        return [r.instance for r in self._recs]

    @property
    def decoders(self) -> list[str | None]:
        """Backend label per slice; None until that slice is decoded."""
        return list(self._decoders)

    @property
    def decoder(self) -> str | None:
        """The backend that decoded the slices ("a, b" when they differ)."""
        used = list(dict.fromkeys(d for d in self._decoders if d))
        return ", ".join(used) if used else None

    @property
    def slice_photometric(self) -> list[dict[str, Any] | None]:
        """The colour report of every slice; None until it is decoded."""
        return list(self._photometric)

    @property
    def photometric(self) -> dict[str, Any]:
        """The colour report aggregated over slices (keys as DicomImage's).

        Before decoding only ``declared`` is known.
        """
        reports = [p for p in self._photometric if p is not None]
        if reports:
            from ..values.photometric import merge_reports

            merged = merge_reports(reports)
            if merged is not None:
                return merged
        declared = list(dict.fromkeys(
            str(_get(r.header, "PhotometricInterpretation", "")).strip()
            for r in self._recs))
        return {"declared": " / ".join(declared), "codestream": None,
                "output": None, "mismatch": False, "notes": []}

    # -- reading ----------------------------------------------------------
    def _select(self, index: Any) -> tuple[list[int], bool]:
        n = len(self.slices)
        if index is None or index is Ellipsis:
            return list(range(n)), False
        if isinstance(index, builtins.slice):
            return list(range(n))[index], False
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -n <= i < n:
                raise FrameIndexError(f"slice index {i} out of range for {n} slices")
            return [i % n], True
        picks = []
        for i in index:
            i = int(i)
            if not -n <= i < n:
                raise FrameIndexError(f"slice index {i} out of range for {n} slices")
            picks.append(i % n)
        return picks, False

    def read(
        self,
        index: int | builtins.slice | Sequence[int] | None = None,
        *,
        rescale: bool = False,
        color: str = "rgb",
        threads: int | None = None,
        backend: str | Sequence[str] | None = None,
        memory_limit: int | None = None,
    ) -> np.ndarray:
        """Decode the volume, or some slices, into one new array.

        Parameters
        ----------
        index : int, slice, sequence of int or None
            None: every slice, ``(n, rows, cols[, samples])``. An int: that
            slice alone, ``(rows, cols[, samples])``. A slice or sequence: a
            batch in the order given.
        rescale : bool
            Apply each slice's own RescaleSlope/RescaleIntercept (they may
            differ between files); see :meth:`rescaled_dtype` for the dtype.
        color : {"rgb", "native"}
            Colour output, as for :class:`dicomio.image.DicomImage`.
        threads : int, optional
            Decoding threads; default ``os.cpu_count()``.
        backend : str or sequence of str, optional
            Force these decoding backends, in this order.
        memory_limit : int, optional
            Refuse outputs larger than this many bytes (default
            :func:`dicomio.image.memory_limit`).

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        FrameIndexError
            For an index out of range.
        MemoryLimitError
            When the output would exceed ``memory_limit``.
        SeriesError
            When a slice decodes to a different shape than the first.
        DicomioError
            Any decode error, naming file, frame and backends tried.
        """
        picks, scalar = self._select(index)
        raw_dtype, frame_shape = self._probe(color, backend)
        out_dtype = self.rescaled_dtype(color, backend) if rescale else raw_dtype
        shape = (len(picks), *frame_shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * out_dtype.itemsize
        limit = memory_limit or _memory_limit()
        if nbytes > limit:
            raise MemoryLimitError(
                f"the decoded series would take {nbytes / 2**20:.1f} MiB, over the "
                f"{limit / 2**20:.1f} MiB limit (pass memory_limit= or set "
                "DICOMIO_MEMORY_LIMIT)")
        out = np.empty(shape, dtype=out_dtype)
        by_file: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for pos, s in enumerate(picks):
            by_file[self._recs[s].path].append((pos, s))

        def params(s: int) -> tuple[float, float] | None:
            p = self._recs[s].rescale
            if not rescale or p is None or p == (1.0, 0.0):
                return None
            return p

        n_threads = max(1, threads or os.cpu_count() or 1)
        n_workers = min(n_threads, len(by_file))
        # Files decode in parallel here; a file's own frames get the threads
        # left over, so a single enhanced file still uses every core.
        inner = max(1, n_threads // n_workers)

        def work(path: str, items: list[tuple[int, int]]) -> None:
            frames = [self._recs[s].frame for _, s in items]
            targets = [pos for pos, _ in items]
            with self._open_image(self._recs[items[0][1]], backend=backend,
                                  color=color, threads=inner,
                                  memory_limit=memory_limit) as img:
                if tuple(img.frame_shape) != frame_shape:
                    raise SeriesError(
                        f"slices of this file have shape {img.frame_shape}, the "
                        f"series expects {frame_shape}", path=path)
                _rescale.read_rescaled(img, frames, targets,
                                       [params(s) for _, s in items], out)
                for (_, s), frame in zip(items, frames):
                    self._record_provenance(img, s, frame)

        jobs = list(by_file.items())
        done = 0
        if n_workers <= 1:
            for path, items in jobs:
                work(path, items)
            done = len(jobs)
        elif threads is None and self.transfer_syntaxes <= _NATIVE_SYNTAXES:
            # Uncompressed slices are a copy from the file and some Python
            # per file, which holds the GIL: as for the header scan, threads
            # only pay off while files wait on I/O (500 slices of 512 x 512
            # from page cache: 157 ms in one thread, 188 ms in two).
            done = _serially_while_fast(len(jobs), lambda k: work(*jobs[k]))
        if done < len(jobs):
            with ThreadPoolExecutor(max_workers=n_workers,
                                    thread_name_prefix="dicomio-series") as pool:
                futures = [pool.submit(work, p, it) for p, it in jobs[done:]]
                for fut in as_completed(futures):
                    exc = fut.exception()
                    if exc is not None:
                        # Fail fast: drop files not started yet.
                        for other in futures:
                            other.cancel()
                        raise exc
        return out[0] if scalar else out

    def _record_provenance(self, img: Any, s: int, frame: int) -> None:
        info = None
        frame_info = getattr(img, "frame_info", None)
        if frame_info is not None:
            try:
                info = frame_info(frame)
            except Exception:  # provenance is best effort, never fatal
                info = None
        backend = getattr(info, "backend", None) or getattr(img, "decoder", None)
        report = getattr(info, "photometric", None) or getattr(img, "photometric", None)
        self._decoders[s] = backend
        self._photometric[s] = dict(report) if report else None

    def slice(self, i: int, **options: Any) -> np.ndarray:
        """Slice ``i`` alone: ``read(i, **options)``."""
        return self.read(i, **options)

    def slice_tasks(
        self,
        *,
        rescale: bool = False,
        color: str = "rgb",
        backend: str | Sequence[str] | None = None,
    ) -> list[functools.partial[np.ndarray]]:
        """One picklable zero-argument callable per slice (for dask).

        Each is :func:`read_slice` bound to one ``(path, frame)``, returning an
        array of the dtype :meth:`read` would use, so chunks agree.
        """
        raw = self._probe(color, backend)[0]
        dtype = self.rescaled_dtype(color, backend) if rescale else raw
        tasks = []
        for r in self._recs:
            params = r.rescale if rescale and r.rescale not in (None, (1.0, 0.0)) \
                else None
            tasks.append(functools.partial(
                read_slice, r.path, r.frame, color=color, backend=backend,
                rescale=params, dtype=dtype))
        return tasks


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------------------
# Results and conveniences
# ---------------------------------------------------------------------------
@dataclass
class ScanResult:
    """What :func:`scan` found.

    Attributes
    ----------
    series : list of Series
        Ordered by study, SeriesNumber, SeriesInstanceUID and part.
    skipped : dict of str to list of str
        Paths not used, by reason (``"not DICOM"``, ``"non-image object: RT
        Structure Set Storage"``, ``"duplicate SOP Instance UID"``, ...).
    errors : dict of str to str
        For unreadable headers: path to the error message.
    n_files : int
        Files examined.
    header_warnings : dict of str to int
        Warnings pydicom raised while reading headers, with how often.
    """

    series: list[Series]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    n_files: int = 0
    header_warnings: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_counts(self) -> dict[str, int]:
        """How many files were skipped, by reason."""
        return {k: len(v) for k, v in self.skipped.items()}

    @property
    def n_skipped(self) -> int:
        """Total files skipped."""
        return sum(len(v) for v in self.skipped.values())

    def groups(self) -> dict[str, list[Series]]:
        """The series by SeriesInstanceUID (parts of a split series together)."""
        out: dict[str, list[Series]] = defaultdict(list)
        for s in self.series:
            out[s.uid].append(s)
        return dict(out)

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, i: int) -> Series:
        return self.series[i]

    def summary(self) -> str:
        """A few lines for humans (CLI): every series, then the skips."""
        lines = [f"{len(self.series)} series from {self.n_files} files"]
        for s in self.series:
            dims = "x".join(str(d) for d in s._header_shape())
            flag = f"  [{len(s.warnings)} warning(s)]" if s.warnings else ""
            lines.append(f"  {s.label} {s.modality} {dims}{flag}")
        for reason, paths in sorted(self.skipped.items()):
            lines.append(f"  skipped {len(paths)}: {reason}")
        return "\n".join(lines)


def read_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    **kwargs: Any,
) -> list[Series]:
    """``scan(source, **kwargs).series``."""
    return scan(source, **kwargs).series


def read_volume(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    series: int | str | None = None,
    rescale: bool = False,
    color: str = "rgb",
    threads: int | None = None,
    backend: str | Sequence[str] | None = None,
    recursive: bool = True,
) -> np.ndarray:
    """The one volume in ``source``, decoded.

    Parameters
    ----------
    source : path or iterable of paths
        As for :func:`scan`.
    series : int or str, optional
        Pick one when ``source`` holds several: an index into
        :attr:`ScanResult.series`, or a :attr:`Series.key` / ``uid`` (a uid
        must then name a single volume).
    rescale, color, threads, backend
        As for :meth:`Series.read`.
    recursive : bool
        As for :func:`scan`.

    Raises
    ------
    SeriesError
        When ``source`` holds no image series, or several and ``series`` does
        not pick one (the message lists them).
    """
    result = scan(source, recursive=recursive, threads=threads)
    found = result.series
    where = str(source) if isinstance(source, (str, os.PathLike)) else "the files given"
    if not found:
        skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
        raise SeriesError(f"no image series in {where}"
                          + (f" (skipped: {skips})" if skips else ""))
    chosen: list[Series]
    if series is None:
        chosen = found
    elif isinstance(series, (int, np.integer)):
        if not -len(found) <= int(series) < len(found):
            raise SeriesError(f"series index {series} out of range: {len(found)} "
                              f"series in {where}")
        chosen = [found[int(series)]]
    else:
        chosen = [s for s in found if s.key == series] or \
            [s for s in found if s.uid == series]
        if not chosen:
            raise SeriesError(f"no series {series!r} in {where}:\n"
                              + _listing(found))
    if len(chosen) > 1:
        raise SeriesError(
            f"{where} holds {len(chosen)} volumes; pass series= (an index or a "
            f"key) or use scan()/read_series():\n" + _listing(chosen))
    return chosen[0].read(rescale=rescale, color=color, threads=threads,
                          backend=backend)


def _listing(found: Sequence[Series]) -> str:
    lines = []
    for i, s in enumerate(found):
        dims = "x".join(str(d) for d in s._header_shape())
        lines.append(f"  [{i}] {s.label} {s.modality} {dims} key={s.key}")
    return "\n".join(lines)


def stack_series(series: Sequence[Series], **read_options: Any) -> np.ndarray:
    """Stack sibling volumes (e.g. temporal positions) into ``(t, k, j, i)``.

    Parameters
    ----------
    series : sequence of Series
        Volumes of equal shape whose slices lie at the same positions
        (within :data:`POSITION_TOLERANCE`), typically
        ``ScanResult.groups()[uid]`` for a dynamic series.
    **read_options
        Passed to :meth:`Series.read`.

    Raises
    ------
    SeriesError
        When shapes or slice positions differ.
    """
    if not series:
        raise SeriesError("no series to stack")
    first = series[0]
    for s in series[1:]:
        if s._header_shape() != first._header_shape():
            raise SeriesError(f"cannot stack {s.label} {s._header_shape()} with "
                              f"{first.label} {first._header_shape()}")
        a, b = s.geometry.positions, first.geometry.positions
        if (a is None) != (b is None) or (
                a is not None and b is not None
                and float(np.abs(a - b).max()) > POSITION_TOLERANCE * 10):
            raise SeriesError(f"cannot stack {s.label} with {first.label}: "
                              "slice positions differ")
    vols = [s.read(**read_options) for s in series]
    return np.stack(vols)
