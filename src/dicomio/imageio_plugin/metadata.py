"""What the plugin answers without decoding: properties, metadata, index rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from imageio.core.v3_plugin_api import ImageProperties

from ..dataset.jsonify import to_json_dict
from ..errors import DicomioError, FrameIndexError, SeriesError
from ..image import DicomImage
from ..image.tolerance import failed_dict

if TYPE_CHECKING:  # the series layer loads only when a folder is read
    from ..series import ScanResult, Series


def count_frames(index: Any, n: int, *, none_batches: bool) -> int | None:
    """How many frames ``index`` selects of ``n`` (None: one frame, unbatched).

    Mirrors the index rules of :meth:`dicomio.DicomImage.read` and
    :meth:`dicomio.series.Series.read`, so properties agree with read.
    """
    if index is None:
        return n if (none_batches or n > 1) else None
    if index is Ellipsis:
        return n
    if isinstance(index, slice):
        return len(range(n)[index])
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        check_index(int(index), n)
        return None
    picks = list(index)
    for i in picks:
        check_index(int(i), n)
    return len(picks)


def check_index(i: int, n: int, path: str | None = None) -> int:
    if not -n <= i < n:
        raise FrameIndexError(f"index {i} is out of range for {n} frame(s)",
                              path=path, frame=i)
    return i % n


def image_properties(count: int | None, frame_shape: tuple[int, ...], dtype: Any,
                     pixel: Any, step: float | None, samples: int) -> ImageProperties:
    """``ImageProperties`` of ``count`` frames (None: one, unbatched); see
    ``DicomPlugin.properties`` for the spacing rules."""
    shape = frame_shape if count is None else (count, *frame_shape)
    spacing: tuple[float, ...] | None = None
    if pixel is not None:
        spacing = tuple(float(p) for p in pixel)
        if count is not None:
            spacing = (float(step) if step else 1.0, *spacing)
        if samples > 1:
            spacing = (*spacing, 1.0)
    return ImageProperties(shape=tuple(int(d) for d in shape),
                           dtype=np.dtype(dtype), n_images=count,
                           is_batch=count is not None, spacing=spacing)


def spacing_between_slices(ds: Any) -> float | None:
    value = ds.get("SpacingBetweenSlices", None)
    if value is None:
        try:
            measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
            value = measures.get("SpacingBetweenSlices", None)
        except (AttributeError, IndexError, KeyError, TypeError):
            value = None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


#: Header keys a display read (``read(display=True)``) has applied.
DISPLAY_APPLIED = ("WindowCenter", "WindowWidth", "VOILUTFunction",
                   "WindowCenterWidthExplanation", "VOILUTSequence",
                   "ModalityLUTSequence", "PresentationLUTShape",
                   "PhotometricInterpretation", "ICCProfile")


def drop_applied(meta: dict[str, Any], *, rescale: bool,
                 report: dict[str, Any] | None,
                 display: dict[str, Any] | None = None) -> None:
    """Remove header keys that no longer describe the array read returns."""
    if display is not None:
        rescale = True
        for key in DISPLAY_APPLIED:
            meta.pop(key, None)
    if rescale:
        meta.pop("RescaleSlope", None)
        meta.pop("RescaleIntercept", None)
        for seq in ("SharedFunctionalGroupsSequence",
                    "PerFrameFunctionalGroupsSequence"):
            for item in meta.get(seq) or []:
                if isinstance(item, dict):
                    item.pop("PixelValueTransformationSequence", None)
    declared = str(meta.get("PhotometricInterpretation", "") or "").strip().upper()
    output = str((report or {}).get("output") or "").strip().upper()
    if declared and output and output != declared:
        meta.pop("PhotometricInterpretation", None)
    if meta.get("PlanarConfiguration") == 1:
        meta.pop("PlanarConfiguration", None)


def display_frame_shape(frame_shape: tuple[int, ...], photometric: Any
                        ) -> tuple[tuple[int, ...], int]:
    """(frame shape, samples) of ``read(display=True)``: palette images are RGB."""
    samples = frame_shape[2] if len(frame_shape) == 3 else 1
    if len(frame_shape) == 2 and str(photometric).strip().upper() == "PALETTE COLOR":
        return (*frame_shape, 3), 3
    return frame_shape, samples


def declared_syntax(ds: Any) -> str | None:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID", None) if meta is not None else None
    return str(uid) if uid else None


def file_metadata(img: DicomImage, index: Any, color: str,
                  backend: Any) -> dict[str, Any]:
    """A file's header, colour report and decoder (see ``DicomPlugin.metadata``)."""
    meta = img.header_dict()
    meta["TransferSyntaxUID"] = declared_syntax(img.dataset) \
        or img.transfer_syntax.uid
    info = None
    failed = img.failed_frames
    if index is not None:
        pos = int(check_index(int(index), img.n_frames, img.path))
        info = img.frame_info(pos)
        failed = {i: f for i, f in failed.items() if i == pos}
    if info is not None and info.photometric:
        meta["photometric"] = dict(info.photometric)
        meta["decoder"] = info.backend
    elif img.frame_infos:
        meta["photometric"] = dict(img.photometric)
        meta["decoder"] = img.decoder
    else:
        meta["photometric"] = img.predicted_photometric(color)
        meta["decoder"] = _planned(img, backend)
    # Defects dicomio tolerated in this file (also issued as warnings).
    meta["warnings"] = list(img.warnings)
    # Frames a read with on_error went on without (also issued as a warning).
    meta["failed_frames"] = failed_dict(failed)
    return meta


def series_metadata(chosen: Series, index: Any, color: str,
                    backend: Any) -> dict[str, Any]:
    """A series' slice header, colour report, decoder and geometry."""
    pos = 0 if index is None else check_index(int(index), len(chosen))
    header = chosen.headers[pos]
    meta = to_json_dict(header)
    meta["TransferSyntaxUID"] = declared_syntax(header)
    report = chosen.slice_photometric[pos] if index is not None else (
        chosen.photometric if any(chosen.slice_photometric) else None)
    decoder = chosen.decoders[pos] if index is not None else chosen.decoder
    if report is None or decoder is None:
        path, _ = chosen.slices[pos]
        with DicomImage(path) as img:
            report = report or img.predicted_photometric(color)
            decoder = decoder or _planned(img, backend)
    meta["photometric"] = dict(report)
    meta["decoder"] = decoder
    failed = getattr(chosen, "failed_slices", {})
    meta["failed_frames"] = failed_dict(
        failed if index is None else {k: f for k, f in failed.items() if k == pos})
    geom = chosen.geometry
    meta["series"] = {
        "key": chosen.key,
        "uid": chosen.uid,
        "kind": chosen.kind,
        "n_slices": len(chosen),
        "origin": [float(v) for v in geom.origin],
        "affine": np.asarray(geom.affine, dtype=float).tolist(),
        "irregular": bool(geom.irregular),
        "z_source": geom.z_source,
        "warnings": list(chosen.warnings),
        "notes": list(chosen.notes),
    }
    return meta


def pick_series(result: ScanResult, series: int | str | None, where: str) -> Series:
    """The one series of a scanned folder ``series`` names (None: the only one)."""
    found = list(result.series)
    if not found:
        skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
        raise SeriesError("no image series"
                          + (f" (skipped: {skips})" if skips else " (no files found)"),
                          path=where)
    if series is None:
        if len(found) == 1:
            return found[0]
        raise SeriesError(f"{where} holds {len(found)} volumes; pass series= "
                          "(an index or a key):\n" + _listing(found))
    if isinstance(series, (int, np.integer)) and not isinstance(series, bool):
        if not -len(found) <= int(series) < len(found):
            raise SeriesError(f"series index {series} out of range: "
                              f"{len(found)} series in {where}")
        return found[int(series)]
    chosen = [s for s in found if s.key == series] or \
        [s for s in found if s.uid == series]
    if len(chosen) != 1:
        what = "no series" if not chosen else f"{len(chosen)} volumes for"
        raise SeriesError(f"{what} {series!r} in {where}:\n" + _listing(found))
    return chosen[0]


def _listing(found: Sequence[Series]) -> str:
    return "\n".join(f"  [{i}] {s.label} {s.modality} {len(s)} slices key={s.key}"
                     for i, s in enumerate(found))


def _planned(img: DicomImage, backend: Any) -> str | None:
    if backend is None:
        return img.planned_decoder
    from ..backends import registry

    try:
        return str(registry.candidates(img.spec, backend)[0].name)
    except (DicomioError, IndexError):
        return None


def file_properties(img: DicomImage, index: Any, rescale: bool,
                    display: bool) -> ImageProperties:
    """``DicomPlugin.properties`` of one file (headers only)."""
    count = count_frames(index, img.n_frames, none_batches=False)
    frame_shape = tuple(img.frame_shape)
    dtype = img.rescaled_dtype if rescale else img.dtype
    samples = img.spec.samples_per_pixel
    if display:
        frame_shape, samples = display_frame_shape(frame_shape, img.spec.photometric)
        dtype = np.dtype(np.uint8)
    return image_properties(count, frame_shape, dtype, img.pixel_spacing,
                            spacing_between_slices(img.dataset), samples)


def series_properties(chosen: Series, index: Any, rescale: bool, display: bool,
                      color: str, backend: Any) -> ImageProperties:
    """``DicomPlugin.properties`` of a series (headers only).

    A 4-D series (or a mosaic) counts volumes (or mosaic slices); the volume
    axis of a 4-D series has no spacing in mm (1.0).
    """
    layout = getattr(chosen, "layout", None)
    n_items = chosen.shape[0] if layout is not None else len(chosen)
    count = count_frames(index, n_items, none_batches=True)
    frame_shape = tuple(chosen.shape[1:])
    dtype = chosen.rescaled_dtype(color, backend) if rescale else chosen.dtype
    dz, dy, dx = chosen.geometry.spacing
    pixel: tuple[float, ...] = (dy, dx)
    step = dz
    samples = frame_shape[2] if len(frame_shape) == 3 and layout is None else 1
    if layout is not None and layout.four_d:
        pixel, step = (dz, dy, dx), 1.0
    if display:
        pi = chosen.headers[0].get("PhotometricInterpretation", "")
        frame_shape, samples = display_frame_shape(frame_shape, pi)
        dtype = np.dtype(np.uint8)
    return image_properties(count, frame_shape, dtype, pixel, step, samples)
