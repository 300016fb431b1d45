"""Frames a layer cannot show whole: notified, and listed in the layer metadata.

The reader decodes with ``on_error="recover"``: a truncated file shows what
it holds, its missing rows as 0, and a frame no backend decodes shows as 0.
What the headers tell at once (the frames a cut file ends inside) is
notified when the layer is made; frames that fail later, when napari asks
for them, are notified as they are decoded (``_lazy.notify_failed``).
"""

from __future__ import annotations

from typing import Any

from ..errors import DecodeError
from ..image.tolerance import truncated_frames
from . import _lazy


def refuse_empty(n: int, path: str, frame: int) -> None:
    """A one-image layer whose only frame decoded to nothing is not opened.

    Recovery is for showing what a file holds; an all-zero image holds
    nothing, so its error is raised (the reader reports the series as not
    opened, and opens the others).
    """
    prov = _lazy.provenance(path, frame) or {}
    failed = prov.get("failed")
    if n == 1 and failed and failed.get("missing_rows") and \
            failed["missing_rows"][0] == 0:
        raise DecodeError(str(prov.get("error")), path=path, frame=frame)


def layer_failures(img: Any, path: str, slices: list[tuple[str, int]],
                   notify: Any) -> dict[str, Any]:
    """``metadata["failed_frames"]`` of a layer: ``{"layer index": {...}}``.

    ``img`` is the open first file of the layer; its truncated frames are
    known from the layout. Frames decoded so far (the sample slice) add
    their own record from the provenance log.
    """
    where = {(p, f): k for k, (p, f) in enumerate(slices)}
    failed: dict[str, Any] = {}
    cut = truncated_frames(img)
    if cut:
        shown = ", ".join(str(f) for f in list(cut)[:20]) + (", ..." if len(cut) > 20 else "")
        notify(f"{path}: the file is truncated: {len(cut)} of {img.n_frames} "
               f"frame(s) are incomplete ({shown}); they are shown with what the "
               "file holds and the missing rows as 0")
        for frame, missing in cut.items():
            pos = where.get((path, frame))
            if pos is not None:
                failed[str(pos)] = {"action": "recovered", "error": "the file ends "
                                    "inside this frame", "missing_rows": None,
                                    "missing_bytes": missing}
    for pos, (p, f) in enumerate(slices):
        prov = _lazy.provenance(p, f)
        if prov and prov.get("failed"):
            failed[str(pos)] = dict(prov["failed"])
    return failed
