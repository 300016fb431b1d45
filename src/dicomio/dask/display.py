"""``to_dask(..., display=True)``: the displayed image as a lazy uint8 array.

Each chunk is one task holding paths, frame indices and the display options
(window, voi); it decodes and maps its frames with
:func:`dicomio.values.display.read_display`, as ``read(display=True)`` does,
so chunks equal the eager result. Frames without any VOI need the min..max of
the modality values of everything read: then one small range task per chunk
and one reduction are part of the graph, and every display task depends on
that reduction (the frames are decoded twice, as in the eager path). The
graph stays lazy and picklable for dask.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..image import DicomImage

__all__ = ["display_array"]

Item = tuple[str, int]  # (path, frame)


def _groups(items: Sequence[Item]) -> dict[str, list[tuple[int, int]]]:
    by_path: dict[str, list[tuple[int, int]]] = {}
    for pos, (path, frame) in enumerate(items):
        by_path.setdefault(path, []).append((pos, int(frame)))
    return by_path


def _chunk_range(items: Sequence[Item], backend: Any, threads: int | None,
                 on_error: str = "raise") -> tuple[float, float] | None:
    """Min..max modality values of the frames ``items`` that have no VOI."""
    from ..values.display import DisplayPlan, value_range

    got = []
    for path, group in _groups(items).items():
        with DicomImage(path, backend=backend, threads=threads) as img:
            img._quiet_failures = True  # the display task warns about them
            if DisplayPlan(img.dataset, img.spec).needs_range:
                r = value_range(img, [f for _, f in group], threads=threads,
                                backend=backend, on_error=on_error)
                if r is not None:
                    got.append(r)
    if not got:
        return None
    return (min(r[0] for r in got), max(r[1] for r in got))


def _reduce_ranges(*ranges: tuple[float, float] | None) -> tuple[float, float] | None:
    got = [r for r in ranges if r is not None]
    if not got:
        return None
    return (min(r[0] for r in got), max(r[1] for r in got))


def _display_chunk(items: Sequence[Item], frame_shape: tuple[int, ...],
                   window: Any, voi: int | None, backend: Any, threads: int | None,
                   value_range: tuple[float, float] | None,
                   squeeze: bool, on_error: str = "raise") -> np.ndarray:
    """The display images of ``items``, one ``(len(items), *frame_shape)`` block."""
    from ..image.tolerance import warn_failed_among
    from ..values.display import read_display

    out = np.empty((len(items), *frame_shape), np.uint8)
    for path, group in _groups(items).items():
        frames = [f for _, f in group]
        with DicomImage(path, backend=backend, threads=threads) as img:
            img._quiet_failures = True  # one warning per file, below
            arr, _ = read_display(img, frames, window=window, voi=voi,
                                  threads=threads, backend=backend,
                                  value_range=value_range, on_error=on_error)
            failed = img.failed_frames
        out[[pos for pos, _ in group]] = arr
        warn_failed_among(path, frames, failed, stacklevel=2)
    return out[0] if squeeze else out


def display_array(items: Sequence[tuple[Any, Any]], *, single: bool, frames_per_chunk: int,
                  window: Any = None, voi: int | None = None, backend: Any = None,
                  threads: int | None = 1, on_error: str = "raise") -> Any:
    """A lazy uint8 dask array of the display images of ``items``.

    ``single``: one frame of one file, returned without the frame axis (as
    ``imread``). ``on_error``: ``"raise"``, ``"recover"`` or ``"fill"``.
    """
    import dask.array as da
    from dask.base import tokenize

    from ..values.display import DisplayPlan

    items = [(os.path.abspath(str(p)), int(f)) for p, f in items]
    paths = list(dict.fromkeys(p for p, _ in items))
    needs_range = False
    shapes = set()
    for path in paths:
        with DicomImage(path, backend=backend) as img:
            plan = DisplayPlan(img.dataset, img.spec, window=window, voi=voi)
            shapes.add(plan.frame_shape)
            needs_range |= plan.needs_range
    if len(shapes) != 1:
        from ..errors import SeriesError

        raise SeriesError(f"slices display with different shapes {sorted(shapes)}")
    frame_shape = shapes.pop()
    stamps = [(p, os.stat(p).st_mtime_ns) for p in paths]
    name = "dicomio-display-" + tokenize(items, stamps, frames_per_chunk,
                                         window, voi, backend, threads, on_error)
    graph: dict[Any, Any] = {}
    n = len(items)
    starts = list(range(0, n, frames_per_chunk))
    range_key: Any = None
    if needs_range:
        range_key = (name + "-range",)
        parts = []
        for k, a in enumerate(starts):
            part: tuple[Any, ...] = (name + "-range-part", k)
            graph[part] = (_chunk_range, items[a:a + frames_per_chunk], backend,
                           threads, on_error)
            parts.append(part)
        graph[range_key] = (_reduce_ranges, *parts)
    tail = (0,) * len(frame_shape)
    for k, a in enumerate(starts):
        key: tuple[Any, ...] = (name, *tail) if single else (name, k, *tail)
        graph[key] = (_display_chunk, items[a:a + frames_per_chunk], frame_shape,
                      window, voi, backend, threads, range_key, single, on_error)
    if single:
        chunks: tuple[tuple[int, ...], ...] = tuple((s,) for s in frame_shape)
    else:
        chunks = (tuple(min(frames_per_chunk, n - a) for a in starts),
                  *((s,) for s in frame_shape))
    meta = np.empty((0,) * len(chunks), np.uint8)
    return da.Array(graph, name, chunks, dtype=np.uint8, meta=meta)
