"""Show DICOM volumes in patient space, so differently oriented series overlap.

The reader places each series in its *own frame* (axis 0 along the slice
normal, axes 1 and 2 down the columns and along the rows): exact in a 2D
view, and the same frame for every axial series, but a sagittal or oblique
series then does not overlap an axial one of the same patient.

Patient space puts every dicomio volume layer at its DICOM patient
coordinates: the layer's whole data-to-world transform becomes the series'
affine (:attr:`dicomio.series.Geometry.affine`, including any shear of a
tilted gantry), with world axes ``(z, y, x)`` in mm of the patient
coordinate system (LPS). It is a 3D mode: napari's 2D slicing does not
apply an out-of-slice rotation (napari warns "Non-orthogonal slicing" and
shows misplaced slices), so

* switching to patient space also switches the viewer to 3D;
* going back to 2D restores every layer's own frame;
* DICOM volumes opened while patient space is on join it.

Layers that are not spatial volumes (single images, frame or image stacks
with no slice geometry, non-dicomio layers) are left untouched and named in
the notification.
"""

from __future__ import annotations

import weakref
from typing import Any

import napari
import napari.viewer
import numpy as np

__all__ = [
    "patient_affine",
    "show_in_patient_space",
    "show_in_own_frame",
    "in_patient_space",
    "patient_space_command",
    "own_frame_command",
]

_OWN_FRAME_KEY = "dicomio_own_frame"

# world (z, y, x) from patient (x, y, z): reverse the first three axes.
_XYZ_TO_ZYX = np.array([[0.0, 0.0, 1.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0],
                        [1.0, 0.0, 0.0, 0.0],
                        [0.0, 0.0, 0.0, 1.0]])


class _State:
    """Patient-space bookkeeping for one viewer: its two event callbacks.

    The callbacks are closures holding a weak reference, so that they are
    stored as plain functions by napari's event emitters (which
    :func:`_connect_first` relies on) and do not keep the viewer alive.
    """

    def __init__(self, viewer: Any) -> None:
        ref = weakref.ref(viewer)

        def on_ndisplay(event: Any = None) -> None:
            viewer = ref()
            if viewer is not None and viewer.dims.ndisplay == 2:
                show_in_own_frame(viewer)

        def on_inserted(event: Any = None) -> None:
            viewer, layer = ref(), getattr(event, "value", None)
            if viewer is None or layer is None or patient_affine(layer) is None:
                return
            viewer.dims.ndisplay = 3
            _align(layer)

        self.viewer_ref = ref
        self.on_ndisplay = on_ndisplay
        self.on_inserted = on_inserted


def _connect_first(emitter: Any, callback: Any) -> None:
    """Connect ``callback`` so that it runs before napari's own callbacks.

    Going back to 2D must restore the layers' own frames *before* napari
    slices and draws them: a rotated layer sliced in 2D makes napari warn,
    and a sagittal one gives vispy a singular 2D transform. napari's public
    ``connect`` always places a plugin's callback after its own ones, so the
    callback is moved to the front of the emitter's lists (napari 0.5-0.9
    keep three parallel lists; ``tests/napari/test_space.py`` checks this
    still holds).
    """
    emitter.connect(callback)
    lists = [getattr(emitter, name, None)
             for name in ("_callbacks", "_callback_refs", "_callback_pass_event")]
    if any(not isinstance(lst, list) for lst in lists):
        return
    try:
        index = lists[0].index(callback)  # type: ignore[union-attr]
    except ValueError:
        return
    if len({len(lst) for lst in lists}) == 1:  # type: ignore[arg-type]
        for lst in lists:
            lst.insert(0, lst.pop(index))  # type: ignore[union-attr]


_states: dict[int, _State] = {}


def patient_affine(layer: Any) -> np.ndarray | None:
    """The 4x4 napari affine placing ``layer`` in patient space, or None.

    ``affine @ [k, j, i, 1]`` is ``[z, y, x, 1]`` in mm (LPS) for data index
    ``(k, j, i)``. None when the layer is not a dicomio volume: no geometry
    in its metadata, not three spatial dimensions, or slices that are frames
    or separate images rather than positions in space.
    """
    md = getattr(layer, "metadata", None) or {}
    geometry = md.get("geometry")
    series = md.get("series") or {}
    if not isinstance(geometry, dict) or "affine" not in geometry:
        return None
    if series.get("kind") != "volume" or getattr(layer, "ndim", 0) != 3:
        return None
    if geometry.get("z_source") in ("default", "frame index"):
        return None
    affine = np.asarray(geometry["affine"], dtype=float)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        return None
    return _XYZ_TO_ZYX @ affine


def _align(layer: Any) -> bool:
    """Give ``layer`` its patient transform, remembering its own frame."""
    affine = patient_affine(layer)
    if affine is None:
        return False
    md = layer.metadata
    if _OWN_FRAME_KEY not in md:
        md[_OWN_FRAME_KEY] = {
            "scale": [float(v) for v in layer.scale],
            "translate": [float(v) for v in layer.translate],
            "affine": np.asarray(layer.affine.affine_matrix, dtype=float).tolist(),
        }
    layer.scale = (1.0, 1.0, 1.0)
    layer.translate = (0.0, 0.0, 0.0)
    layer.affine = affine
    return True


def _restore(layer: Any) -> bool:
    own = (getattr(layer, "metadata", None) or {}).pop(_OWN_FRAME_KEY, None)
    if own is None:
        return False
    # the rotation goes first, so that no intermediate state is non-orthogonal
    layer.affine = np.asarray(own["affine"], dtype=float)
    layer.scale = tuple(own["scale"])
    layer.translate = tuple(own["translate"])
    return True


def in_patient_space(viewer: Any) -> bool:
    """Whether :func:`show_in_patient_space` is on for ``viewer``."""
    state = _states.get(id(viewer))
    return state is not None and state.viewer_ref() is viewer


def show_in_patient_space(viewer: Any) -> dict[str, list[str]]:
    """Place every dicomio volume of ``viewer`` in patient space, in 3D.

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
        The viewer; its layers are changed in place.

    Returns
    -------
    dict
        ``{"aligned": [layer names], "unchanged": [layer names]}``.
    """
    layers = list(viewer.layers)
    movable = [patient_affine(layer) is not None for layer in layers]
    if any(movable):
        # 3D first: a rotated layer sliced in 2D makes napari warn
        viewer.dims.ndisplay = 3
    aligned = [layer.name for layer, ok in zip(layers, movable) if ok and _align(layer)]
    unchanged = [layer.name for layer, ok in zip(layers, movable) if not ok]
    if not in_patient_space(viewer):
        state = _State(viewer)
        _states[id(viewer)] = state
        viewer.layers.events.inserted.connect(state.on_inserted)
        _connect_first(viewer.dims.events.ndisplay, state.on_ndisplay)
        weakref.finalize(viewer, _states.pop, id(viewer), None)
    if aligned:
        viewer.reset_view()
    return {"aligned": aligned, "unchanged": unchanged}


def show_in_own_frame(viewer: Any) -> list[str]:
    """Undo :func:`show_in_patient_space`: each volume back in its own frame.

    Returns the names of the layers restored. The viewer stays in its
    current number of displayed dimensions.
    """
    state = _states.pop(id(viewer), None)
    if state is not None:
        viewer.layers.events.inserted.disconnect(state.on_inserted)
        viewer.dims.events.ndisplay.disconnect(state.on_ndisplay)
    restored = [layer.name for layer in viewer.layers if _restore(layer)]
    if restored:
        viewer.reset_view()
    return restored


def _notify(text: str) -> None:
    from napari.utils.notifications import show_info

    show_info(text)


def _unwrap(viewer: Any) -> Any:
    # napari injects a public-only proxy of the viewer into plugin commands;
    # the bookkeeping (events, identity) needs the viewer itself.
    return getattr(viewer, "__wrapped__", viewer)


def patient_space_command(viewer: napari.viewer.Viewer) -> None:
    """Menu command: Layers > Transform > Show DICOM volumes in patient space."""
    result = show_in_patient_space(_unwrap(viewer))
    if result["aligned"]:
        text = (f"dicomio: {len(result['aligned'])} volume(s) in patient space "
                "(3D; back to 2D restores each series' own frame)")
    else:
        text = "dicomio: no DICOM volume with slice positions to place in patient space"
    if result["unchanged"]:
        text += "; left as they are: " + ", ".join(result["unchanged"])
    _notify(text)


def own_frame_command(viewer: napari.viewer.Viewer) -> None:
    """Menu command: Layers > Transform > Show DICOM volumes in their own frame."""
    restored = show_in_own_frame(_unwrap(viewer))
    _notify(f"dicomio: {len(restored)} volume(s) back in their own frame"
            if restored else "dicomio: no volume was in patient space")
