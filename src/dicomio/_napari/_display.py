"""What a napari layer shows: palette files as RGB, window presets, the record.

* PALETTE COLOR series become RGB layers: the display image of
  :mod:`dicomio.values.display` (palette applied, uint8), eager for one
  image, lazy (:func:`dicomio.dask.display.display_array`) for a stack.
* Grey layers keep modality values as data, so measurements stay right;
  MONOCHROME1 (or Presentation LUT Shape INVERSE) gets the inverted ``gray_r``
  colormap; the file's VOI presets (windows and VOI LUTs) become contrast
  limits, the first by default, the others offered by the dock widget.
* ``layer.metadata["display"]`` says what the layer shows, beside
  ``"photometric"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["first_limits", "grey_display", "is_palette", "layer_display", "layer_limits",
           "palette_layer_data"]


def is_palette(ds: Any, frame_shape: tuple[int, ...]) -> bool:
    """True for a PALETTE COLOR series (one sample per pixel)."""
    pi = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    return len(frame_shape) == 2 and pi == "PALETTE COLOR"


def _palette_frames(path: str, frame: int) -> Any:
    """One frame of a palette file as RGB uint8, batched (a dask chunk)."""
    from . import _lazy

    img = _lazy.open_image(path)
    arr = img.read([frame], display=True, on_error="recover")
    # Logged, and a failed frame notified and listed (as other layers' are).
    _lazy._record_decoded(img, path, frame)
    return arr


def palette_layer_data(slices: list[tuple[str, int]]) -> tuple[Any, dict[str, Any]]:
    """RGB uint8 data of a palette series and the record of what was applied.

    One image is read now; a stack is a dask array with one frame per chunk,
    decoded through the reader's cache of open files (whose opens record
    their warnings instead of issuing them).
    """
    from ..values.display import DisplayPlan
    from . import _lazy

    img = _lazy.open_image(slices[0][0])
    if len(slices) == 1:
        arr = img.read(slices[0][1], display=True, on_error="recover")
        _lazy._record_decoded(img, *slices[0])
        return arr, img.display_record or {}
    import dask.array as da
    from dask.base import tokenize

    plan = DisplayPlan(img.dataset, img.spec)
    name = "dicomio-napari-palette-" + tokenize(
        [(p, f, _lazy._stamp(p)) for p, f in slices])
    shape = plan.frame_shape
    graph = {(name, k, 0, 0, 0): (_palette_frames, p, f)
             for k, (p, f) in enumerate(slices)}
    chunks = ((1,) * len(slices), *((s,) for s in shape))
    data = da.Array(graph, name, chunks, dtype=np.uint8,
                    meta=np.empty((0, 0, 0, 0), np.uint8))
    return data, plan.record()


def grey_display(ds: Any, frame: int, rescaled: bool) -> dict[str, Any]:
    """The display record of a grey layer: presets, inversion, modality.

    ``presets`` lists ``{"label", "limits", ...}`` per VOI preset of the file
    (:func:`dicomio.values.voi.presets`), in the units of the layer's data
    (modality values when ``rescaled``).
    """
    from ..values.modality import modality_lut
    from ..values.voi import presets

    pi = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    inversion = ("MONOCHROME1" if pi == "MONOCHROME1" else
                 "INVERSE" if shape == "INVERSE" else None)
    try:
        found = presets(ds, frame)
    except Exception:  # unreadable VOI attributes: no presets
        found = []
    items = []
    for p in found:
        d = p.describe()
        d["label"] = p.label
        d["limits"] = [float(v) for v in p.limits]
        items.append(d)
    mod = modality_lut(ds, frame).describe()
    return {"pipeline": "grey", "dtype": None, "output": "layer data with contrast "
            "limits and colormap", "modality": mod if rescaled else {"kind": "none"},
            "voi": items[0] if items else None, "inversion": inversion,
            "inverted_colormap": inversion is not None, "palette": None, "icc": None,
            "presets": items}


def layer_display(ds: Any, slices: list[tuple[str, int]], frame: int, rgb: bool,
                  rescaled: bool) -> tuple[Any, dict[str, Any]]:
    """(RGB data for a palette series else None, the layer's display record)."""
    if not rgb and is_palette(ds, (0, 0)):
        return palette_layer_data(slices)
    if rgb:
        return None, {"pipeline": "color", "note": "stored RGB; read(display=True) "
                      "applies the ICC profile"}
    return None, grey_display(ds, frame, rescaled)


def layer_limits(record: dict[str, Any], limits: Any) -> Any:
    """A grey layer's contrast limits: its first preset's, else ``limits``."""
    if record.get("pipeline") == "grey":
        limits = first_limits(record) or limits
        record["limits"] = [float(v) for v in limits]
    return limits


def first_limits(record: dict[str, Any]) -> tuple[float, float] | None:
    """The contrast limits of the record's first preset (None without one)."""
    voi = record.get("voi")
    if not voi:
        return None
    lo, hi = voi["limits"]
    return (float(lo), float(hi)) if hi > lo else None

