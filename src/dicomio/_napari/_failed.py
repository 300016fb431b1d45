"""Frames a layer cannot show whole: notified, and listed in the layer metadata.

The reader decodes with ``on_error="recover"``: a truncated file shows what
it holds, its missing rows as 0, and a frame no backend decodes shows as 0.
What the headers tell at once (the frames a cut file ends inside) is
notified when the layer is made; frames that fail later, when napari asks
for them, are notified as they are decoded (``_lazy.notify_failed``).
"""

from __future__ import annotations

import functools
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
    failed = _lazy.FailedFrames()
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
    # Frames that fail later, as napari asks for them, are added then.
    _lazy.watch_failures(failed, {(p, f): functools.partial(_at, str(pos))
                                  for pos, (p, f) in enumerate(slices)})
    return failed


def _at(key: str, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: record}


def volume_failures(items: list[tuple[str, int, Any]], per: int, mosaic: Any,
                    four_d: bool) -> Any:
    """``metadata["failed_frames"]`` of a 4-D or mosaic layer, filled in as
    its frames fail.

    Keys are layer indices: ``"t,z"`` in a 4-D layer, ``"z"`` in a single
    mosaic's 3-D layer. A mosaic frame holds a whole volume: its failure
    lists each slice whose tile lost rows (the rows given within the tile).
    """
    failed = _lazy.FailedFrames()
    where = {}
    for r, (path, frame, _) in enumerate(items):
        t, z = divmod(r, per)
        where[(path, frame)] = functools.partial(
            _volume_entries, t if four_d else None, z, mosaic)
    _lazy.watch_failures(failed, where)
    return failed


def _volume_entries(t: int | None, z: int, mosaic: Any,
                    record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def key(z: int) -> str:
        return str(z) if t is None else f"{t},{z}"

    if mosaic is None:
        return {key(z): record}
    rows = record.get("missing_rows")
    tr, g = mosaic.tile_rows, mosaic.grid
    a, b = (0, g * tr) if rows is None else rows
    out = {}
    for tile in range(mosaic.n_tiles):
        top = (tile // g) * tr
        lo, hi = max(a, top), min(b, top + tr)
        if lo < hi:
            out[key(tile)] = dict(record, missing_rows=(
                None if rows is None else [lo - top, hi - top]))
    return out
