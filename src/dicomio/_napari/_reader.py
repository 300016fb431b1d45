"""The npe2 reader: DICOM files, folders and DICOMDIRs become image layers.

:func:`get_reader` decides cheaply (a 132-byte read per file, a bounded look
into folders) and never raises. :func:`read_dicom` assembles series with
:func:`dicomio.series.scan` and returns one ``"image"`` layer per series:

* data: numpy for a single frame, otherwise a dask array whose chunks of a
  few slices decode those slices by path and frame (sizes:
  :func:`dicomio._napari._lazy.frames_per_chunk`);
* ``scale``/``translate`` in mm in the series' own frame (axis 0 along the
  slice normal, axes 1 and 2 along the column and row directions),
  ``units``, ``axis_labels`` and an explicit ``rgb``;
* modality rescale applied (CT in HU); ``contrast_limits`` from the file's
  first VOI preset (Window Center/Width or VOI LUT), else from the decoded
  middle slice; MONOCHROME1 with the inverted ``gray_r`` colormap (the data
  stays modality values); PALETTE COLOR as RGB layers (:mod:`._display`);
* ``metadata`` with ``"photometric"``, ``"display"`` (what the layer shows,
  the file's VOI presets), ``"decoder"``, ``"TransferSyntaxUID"``,
  ``"header"`` and the series' geometry, slices and warnings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ..dataset.titles import series_title
from ..errors import DicomioError, SeriesError
from ..image import DicomioWarning
from ..series._web import WEB_ATTR
from ..sources.remote import is_dicomweb, is_url
from . import _display as _shown
from . import _lazy
from ._failed import layer_failures, refuse_empty

__all__ = ["get_reader", "read_dicom", "series_layer", "is_dicom_source",
           "refusal", "window_limits"]

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

# Bounds of the look into a folder: entries listed, files whose first bytes
# are read, headers parsed, and how deep sub-folders are visited.
_MAX_ENTRIES = 256
_MAX_PROBED_FILES = 64
_MAX_HEADERS = 8
_MAX_DEPTH = 4
# A list of paths is accepted when its first entries are all DICOM sources.
_MAX_LIST_CHECK = 16
_LAST_IMAGE_PIXEL_TAG = 0x00280011  # Columns: groups past 0028 are not needed

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


# ---------------------------------------------------------------------------
# Cheap recognition
# ---------------------------------------------------------------------------
def _has_dicom_magic(path: str) -> bool:
    """``DICM`` at byte 128, or a dataset that starts without preamble.

    Files without the 128-byte preamble (ACR-NEMA style, stripped meta) must
    start with a group 0x0002 or 0x0008 element (either byte order) whose next
    bytes are an explicit VR (two capitals) or a short implicit length.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM" or head[:4] == b"DICM":
        return True
    if len(head) < 8:
        return False
    order: Literal["little", "big"]
    if head[:2] in (b"\x02\x00", b"\x08\x00"):
        order = "little"
    elif head[:2] in (b"\x00\x02", b"\x00\x08"):
        order = "big"
    else:
        return False
    if int.from_bytes(head[2:4], order) > 0x0200:  # element: early in the group
        return False
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    return int.from_bytes(head[4:8], order) < 0x1000


def _is_image_file(path: str) -> bool:
    """True when the header (read up to Columns only) describes an image."""
    try:
        with open(path, "rb") as fh:
            ds = pydicom.filereader.read_partial(
                fh, stop_when=lambda tag, vr, length: tag > _LAST_IMAGE_PIXEL_TAG,
                defer_size=1024, force=True)
    except Exception:
        return False
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return sop != _DICOMDIR_CLASS and "Rows" in ds and "Columns" in ds


def _folder_has_images(folder: str) -> bool:
    """A bounded breadth-first look for one DICOM image (or a DICOMDIR)."""
    queue: list[tuple[str, int]] = [(folder, 0)]
    entries = probed = headers = 0
    while queue:
        current, depth = queue.pop(0)
        subdirs = []
        try:
            with os.scandir(current) as it:
                for entry in it:
                    entries += 1
                    if entries > _MAX_ENTRIES:
                        return False
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
                        continue
                    if probed >= _MAX_PROBED_FILES or not entry.is_file():
                        continue
                    probed += 1
                    if not _has_dicom_magic(entry.path):
                        continue
                    if entry.name.upper() == "DICOMDIR":
                        return True
                    headers += 1
                    if _is_image_file(entry.path):
                        return True
                    if headers >= _MAX_HEADERS:
                        return False
        except OSError:
            continue
        if depth < _MAX_DEPTH:
            queue.extend((d, depth + 1) for d in sorted(subdirs))
    return False


def is_dicom_source(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM file or a folder holding DICOM images.

    Files need the ``DICM`` magic; folders are searched a little (a few
    hundred entries, a few levels deep) for one image or a DICOMDIR.
    """
    return refusal(path) is None


def refusal(path: str | os.PathLike[str]) -> str | None:
    """Why the reader refuses ``path``, or None when it reads it.

    The same cheap checks as :func:`get_reader`, in words a user can act on.
    """
    p = os.fspath(path)
    if is_url(p):
        # No request here (get_reader must stay cheap): a DICOMweb URL, or
        # a file URL named like DICOM.
        if is_dicomweb(p) or p.lower().split("?")[0].endswith((".dcm", ".dicom")):
            return None
        return ("a URL that is neither a DICOMweb study, series or instance URL "
                "nor a .dcm / .dicom file")
    if os.path.isdir(p):
        if _folder_has_images(p):
            return None
        return ("no DICOM image found in this folder (looked at up to "
                f"{_MAX_ENTRIES} entries, {_MAX_DEPTH} levels deep)")
    if not os.path.exists(p):
        return "no such file or folder"
    if not os.path.isfile(p):
        return "not a regular file"
    try:
        size = os.path.getsize(p)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if size == 0:
        return "empty file (0 bytes), not DICOM"
    if not _has_dicom_magic(p):
        return ("not a DICOM file (no 'DICM' prefix at byte 128 and no DICOM "
                "header at its start)")
    return None


ReaderFunction = Callable[[PathOrPaths], list[LayerData]]


def get_reader(path: str | list[str]) -> ReaderFunction | None:
    """npe2 ``get_reader``: :func:`read_dicom` for DICOM input, else None.

    Never raises. A list is accepted when its first entries are all DICOM
    files or folders holding DICOM images (they are read as one source, so
    slices given as separate files still form one volume). A refusal says
    why in a napari warning notification, naming the path.
    """
    try:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        if not paths:
            return None
        for p in paths[:_MAX_LIST_CHECK]:
            reason = refusal(p)
            if reason is not None:
                _notify(f"dicomio did not read {os.fspath(p)}: {reason}")
                return None
        return read_dicom
    except Exception:  # a reader probe must never take napari down
        return None


# ---------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------
def _notify(message: str) -> None:
    """A napari warning notification (a Python warning outside napari)."""
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # pragma: no cover - the reader runs inside napari
        import warnings

        warnings.warn(message, UserWarning, stacklevel=3)
        return
    show_warning(message)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def read_dicom(path: PathOrPaths, *, color: str = "rgb") -> list[LayerData]:
    """npe2 reader function: one image layer per series found in ``path``.

    Parameters
    ----------
    path : path or list of paths
        DICOM files, folders (walked recursively) and DICOMDIRs; a list is
        read as one source (slices given as files still form one volume).
    color : {"rgb", "native"}
        ``"native"`` keeps YCbCr where the codec allows it (napari passes
        only ``path``).

    Returns
    -------
    list of (data, kwargs, "image")

    Raises
    ------
    dicomio.SeriesError
        When no image series is found (the message lists what was skipped).
    dicomio.DicomioError
        When every series fails to open (the first error).
    """
    from ..series import SeriesWarning, scan

    source: Any
    if isinstance(path, (str, os.PathLike)):
        source = os.fspath(path)
        where = source
    else:
        source = [os.fspath(p) for p in path]
        where = source[0] if len(source) == 1 else f"{len(source)} paths"
        if len(source) == 1:
            source = source[0]
    with _lazy.captured_warnings() as caught:
        result = scan(source)
    # Series problems come back with each layer (Series.warnings); header
    # quirks pydicom complains about are counted by scan, not shown.
    for w in caught:
        if issubclass(w.category, DicomioWarning) and \
                not issubclass(w.category, SeriesWarning):
            _notify(f"{where}: {w.message}")
    _report_skips(where, result)
    if not result.series:
        skipped = ", ".join(f"{n} {reason}" for reason, n in
                            sorted(result.skipped_counts.items()))
        raise SeriesError(f"no DICOM image series in {where}"
                          + (f" (skipped: {skipped})" if skipped else ""))
    layers: list[LayerData] = []
    errors: list[Exception] = []
    scan_summary = {
        "n_files": result.n_files,
        "n_series": len(result.series),
        "skipped": result.skipped_counts,
        "header_warnings": dict(result.header_warnings),
    }
    for series in result.series:
        try:
            layers.append(series_layer(series, color=color, scan=scan_summary))
        except (DicomioError, OSError, ValueError) as exc:
            errors.append(exc)
            _notify(f"{series.label}: not opened: {exc}")
    if not layers:
        raise errors[0]
    return layers


def _report_skips(where: str, result: Any) -> None:
    if result.errors:
        first, message = next(iter(result.errors.items()))
        _notify(f"{where}: {len(result.errors)} file(s) have an unreadable DICOM "
                f"header and were skipped (first: {first}: {message})")
    missing = result.skipped.get("not found", [])
    if missing:
        _notify(f"{where}: {len(missing)} referenced file(s) are missing "
                f"(first: {missing[0]})")


def series_layer(series: Any, *, color: str = "rgb",
                 scan: dict[str, Any] | None = None) -> LayerData:
    """The ``(data, kwargs, "image")`` tuple of one :class:`dicomio.series.Series`.

    Decodes one slice (the middle one) now, for the contrast limits and the
    provenance; every other slice is decoded when napari asks for it. 4-D
    series and Siemens mosaics: see :mod:`dicomio._napari._fourd`.
    """
    if getattr(series, "layout", None) is not None:
        from ._fourd import layout_layer

        return layout_layer(series, color=color, scan=scan)
    slices = [(str(p), int(f)) for p, f in series.slices]
    n = len(slices)
    first_path = slices[0][0]
    mid = n // 2
    _lazy.remember_headers(_scanned_headers(series))
    with _lazy.captured_warnings() as caught:
        # The image the chunks of this file will use (cached, not closed).
        img0 = _lazy.open_image(first_path, color)
        header = img0.header_dict()
        ts = img0.transfer_syntax
        has_spacing = img0.pixel_spacing is not None
        dtype = series.rescaled_dtype(color)
        frame_shape = tuple(series.shape[1:])
        params = [_params(p) for p in series.rescale_params]
        sample = _lazy.decode_frame(slices[mid][0], slices[mid][1],
                                    rescale=params[mid], dtype=dtype, color=color,
                                    threads=None if n == 1 else 1)
    refuse_empty(n, *slices[mid])
    prov = _lazy.provenance(*slices[mid]) or {}
    # dicomio's own warnings name the file and the defect it tolerated.
    shown = [f"{first_path}: {text}" for text in img0.warnings]
    shown += [str(w.message) for w in caught if issubclass(w.category, DicomioWarning)]
    if slices[mid][0] != first_path:
        shown += [f"{slices[mid][0]}: {text}" for text in prov.get("warnings", [])]
    for text in dict.fromkeys(shown):
        _notify(text)

    report = prov.get("photometric") or {}
    decoder = prov.get("backend")
    ds0 = series.headers[0]
    rgb = len(frame_shape) == 3
    name = _layer_name(series, first_path)

    if n == 1:
        data: Any = sample
    else:
        data = _lazy.lazy_stack(slices, frame_shape, dtype, params, color,
                                transfer_syntaxes=sorted(series.transfer_syntaxes))

    pal_data, display_rec = _shown.layer_display(ds0, slices, slices[mid][1], rgb,
                                                 any(p is not None for p in params))
    if pal_data is not None:  # PALETTE COLOR: an RGB layer, the palette applied
        data, rgb, dtype = pal_data, True, np.dtype(np.uint8)
    kwargs: dict[str, Any] = {"name": name, "rgb": rgb}
    kwargs.update(_spatial(series, n, has_spacing))
    if n > 1 and series.kind == "frames" and ts.family == "video":
        _time_axis(kwargs, img0)
    colormap, limits = ((None, (0.0, 255.0)) if pal_data is not None else
                        _display(ds0, sample, dtype, rgb, report, slices[mid][1]))
    kwargs["contrast_limits"] = _shown.layer_limits(display_rec, limits)
    if colormap is not None:
        kwargs["colormap"] = colormap

    _notify_mislabelled(report, slices[mid][0])
    failed = layer_failures(img0, first_path, slices, _notify)
    for text in series.warnings:
        _notify(f"{name}: {text}")

    kwargs["metadata"] = {
        "photometric": report,
        "display": display_rec,
        "decoder": decoder,
        "TransferSyntaxUID": ts.uid,
        "transfer_syntax": ts.keyword,
        "transfer_syntaxes": sorted(series.transfer_syntaxes),
        "header": header,
        "slices": [[p, f] for p, f in slices],
        "sample_slice": mid,
        "rescale": any(p is not None for p in params),
        "dtype": str(np.dtype(dtype)),
        "series": _series_dict(series),
        "geometry": _geometry_dict(series.geometry),
        "scan": dict(scan or {}),
        "failed_frames": failed,
    }
    return data, kwargs, "image"



def _notify_mislabelled(report: dict[str, Any], path: str) -> None:
    """A notification for a mislabelled colour file.

    The colour state lives in the DICOM header widget and the layer's
    metadata, not in the layer name; a mislabelled file is also worth a
    notification (a quietly converted YCbCr file is not: that is what the
    standard intends).
    """
    if not report.get("mislabelled"):
        return
    notes = "; ".join(report.get("notes", []))
    _notify(f"{path}: mislabelled colour: the file declares "
            f"{report.get('declared')} but the codestream is "
            f"{report.get('codestream')}; decoded as {report.get('output')} "
            f"following the codestream ({notes}). Details in the DICOM "
            "header widget.")


def _series_dict(series: Any) -> dict[str, Any]:
    """The ``"series"`` entry of a layer's metadata."""
    return {"uid": series.uid, "key": series.key, "label": series.label,
            "description": series.description, "modality": series.modality,
            "number": series.number, "kind": series.kind,
            "warnings": list(series.warnings), "notes": list(series.notes)}

def _scanned_headers(series: Any) -> list[tuple[str, Any, int]]:
    """``(path, header, tell)`` of the slices whose header the scan kept.

    Best effort: what :class:`dicomio.series.Series` keeps of its scan is
    private, and without it the chunks simply parse the headers again.
    """
    out = []
    for rec in getattr(series, "_recs", None) or ():
        tell = getattr(rec, "tell", None)
        header = getattr(rec, "header", None)
        if header is not None and getattr(header, WEB_ATTR, None) is not None:
            out.append((str(rec.path), header, -1))  # a DICOMweb instance
        elif tell is not None and header is not None:
            out.append((str(rec.path), header, int(tell)))
    return out


def _params(p: Any) -> tuple[float, float] | None:
    if p is None:
        return None
    slope, intercept = float(p[0]), float(p[1])
    if slope == 1.0 and intercept == 0.0:
        return None
    return slope, intercept


def _layer_name(series: Any, first_path: str) -> str:
    """SeriesDescription, Modality and SeriesNumber, as present; the file's
    name when the header has none of them."""
    name = series_title(series.description, series.modality, series.number,
                        (series.part, series.n_parts))
    return name or Path(first_path).stem


def _spatial(series: Any, n: int, has_spacing: bool) -> dict[str, Any]:
    """scale, translate, units and axis_labels in the series' own frame."""
    geom = series.geometry
    dz, dy, dx = (float(v) for v in geom.spacing)
    direction = np.asarray(geom.direction, dtype=float)
    # Coordinates of the origin along the row, column and normal directions.
    t_row, t_col, t_normal = (direction.T @ np.asarray(geom.origin, dtype=float))
    plane = "mm" if has_spacing else "pixel"
    if n == 1:
        return {
            "scale": (dy, dx),
            "translate": (float(t_col), float(t_row)),
            "units": (plane, plane),
            "axis_labels": ("y", "x"),
        }
    if series.kind == "volume":
        known = geom.z_source not in ("default", "frame index")
        first = ("z", dz, float(t_normal), "mm" if known else "pixel")
    else:
        label = "frame" if series.kind == "frames" else "image"
        first = (label, 1.0, 0.0, "pixel")
    return {
        "scale": (first[1], dy, dx),
        "translate": (first[2], float(t_col), float(t_row)),
        "units": (first[3], plane, plane),
        "axis_labels": (first[0], "y", "x"),
    }


def _time_axis(kwargs: dict[str, Any], img: Any) -> None:
    """Axis 0 of a video is time: scaled by Frame Time (or Cine Rate), in ms."""
    from ..image.video import frame_time

    ms = frame_time(img)
    if ms is None:
        return
    for key, value in (("scale", ms), ("translate", 0.0), ("units", "ms"),
                       ("axis_labels", "t")):
        kwargs[key] = (value, *kwargs[key][1:])


def _geometry_dict(geom: Any) -> dict[str, Any]:
    return {
        "origin": [float(v) for v in geom.origin],
        "spacing": [float(v) for v in geom.spacing],
        "direction": np.asarray(geom.direction, dtype=float).tolist(),
        "affine": np.asarray(geom.affine, dtype=float).tolist(),
        "irregular": bool(geom.irregular),
        "z_source": str(geom.z_source),
    }


# ---------------------------------------------------------------------------
# Display: colormap and contrast limits
# ---------------------------------------------------------------------------
def _first_number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple)) or (
                hasattr(value, "__len__") and not isinstance(value, (str, bytes))):
            value = value[0]
        out = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return out if math.isfinite(out) else None


def _voi_source(ds: Dataset, frame: int) -> Dataset | None:
    """The dataset holding Window Center/Width: top level or functional groups."""
    if "WindowCenter" in ds and "WindowWidth" in ds:
        return ds
    for seq, index in (("PerFrameFunctionalGroupsSequence", frame),
                       ("SharedFunctionalGroupsSequence", 0)):
        try:
            item = ds[seq].value[index].FrameVOILUTSequence[0]
        except (KeyError, IndexError, AttributeError, TypeError):
            continue
        if "WindowCenter" in item and "WindowWidth" in item:
            return item
    return None


def window_limits(ds: Dataset, frame: int = 0) -> tuple[float, float] | None:
    """Contrast limits from the first Window Center/Width, or None.

    Window values are in the units of the modality LUT's output (HU for CT),
    which is what the layer holds, since the reader applies the rescale. The
    limits are where the VOI LUT reaches its minimum and maximum (PS3.3
    C.11.2.1.2: ``c - 0.5 -/+ (w - 1) / 2`` for LINEAR, ``c -/+ w / 2`` for
    LINEAR_EXACT and as the half-way points of SIGMOID).
    """
    src = _voi_source(ds, frame)
    if src is None:
        return None
    center = _first_number(src.get("WindowCenter"))
    width = _first_number(src.get("WindowWidth"))
    if center is None or width is None:
        return None
    function = str(src.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function == "LINEAR" and width > 1:
        lo, hi = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    elif width > 0:
        lo, hi = center - width / 2, center + width / 2
    else:
        return None
    return (lo, hi) if hi > lo else None


def _display(ds: Dataset, sample: np.ndarray, dtype: Any, rgb: bool,
             report: dict[str, Any], frame: int) -> tuple[Any, tuple[float, float]]:
    """(colormap or None, contrast_limits) for a layer."""
    dtype = np.dtype(dtype)
    output = str(report.get("output") or "")
    declared = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if rgb:
        if dtype.kind in "iu":
            bits = int(ds.get("BitsStored", dtype.itemsize * 8) or dtype.itemsize * 8)
            return None, (0.0, float((1 << min(bits, dtype.itemsize * 8)) - 1))
        return None, _sample_limits(sample)
    inverse = str(ds.get("PresentationLUTShape", "") or "").strip().upper() == "INVERSE"
    colormap = "gray_r" if (output or declared) == "MONOCHROME1" or inverse else None
    limits = window_limits(ds, frame) or _sample_limits(sample)
    return colormap, limits


def _sample_limits(sample: np.ndarray) -> tuple[float, float]:
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        # napari refuses equal limits; a flat image shows as mid grey.
        lo, hi = lo - 0.5, lo + 0.5
    return lo, hi
