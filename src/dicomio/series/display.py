"""``Series.read(display=True)``: the displayed volume, file by file.

Each slice is shown as its own file says (:mod:`dicomio.values.display`):
its own modality transform and, by default, its own first VOI preset, so a
stack whose windows differ per slice looks as it does slice by slice in a
viewer. ``window=`` applies one window to every slice. Slices without any
VOI share one min..max, that of the modality values of every such slice read
(an extra decoding pass), so the volume's greys agree between slices.

``on_error`` (``"raise"``, ``"recover"`` or ``"fill"``) is the image's: a
slice that fails is the display image of what was recovered (0 where nothing
was), listed in ``series.failed_slices`` and summed up in one warning, as
``Series.read`` does. ``"skip"`` is refused: a displayed volume keeps every
slice asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import MemoryLimitError, SeriesError

__all__ = ["read_series_display"]


def _merge(records: list[dict[str, Any]]) -> dict[str, Any]:
    first = dict(records[0])
    if any(r != records[0] for r in records[1:]):
        first["per_slice"] = records
    return first


def read_series_display(series: Any, picks: Sequence[int], *, window: Any = None,
                        voi: int | None = None, threads: int | None = None,
                        backend: Any = None, memory_limit: int | None = None,
                        limit: int, on_error: str = "raise") -> np.ndarray:
    """The display images of slices ``picks`` of ``series``, as one uint8 array.

    Sets ``series.display_record`` to what was applied (the first slice's
    record, with ``"per_slice"`` records when slices differ).
    """
    from ..image import DicomImage
    from ..values import display as _display
    from .failures import finish

    if on_error == "skip":
        raise ValueError("display=True reads every slice asked for: use "
                         "on_error='fill' or 'recover', not 'skip'")
    failed: dict[int, Any] = {}
    by_file: dict[str, list[tuple[int, int]]] = {}
    for pos, s in enumerate(picks):
        path, frame = series.slices[s]
        by_file.setdefault(path, []).append((pos, frame))
    jobs = list(by_file.items())
    workers = max(1, min(threads or os.cpu_count() or 1, len(jobs)))
    inner = max(1, (threads or os.cpu_count() or 1) // workers)

    def open_image(path: str) -> Any:
        img = DicomImage(path, backend=backend, threads=inner,
                         memory_limit=memory_limit)
        img._quiet_failures = True  # one warning for the series, below
        return img

    def survey(job: tuple[str, list[tuple[int, int]]]) -> tuple[Any, Any]:
        with open_image(job[0]) as img:
            plan = _display.DisplayPlan(img.dataset, img.spec, window=window, voi=voi)
            rng = None
            if plan.needs_range:
                rng = _display.value_range(img, [f for _, f in job[1]],
                                           threads=inner, backend=backend,
                                           on_error=on_error)
            return plan.frame_shape, rng

    with ThreadPoolExecutor(workers) as pool:
        surveyed = list(pool.map(survey, jobs))
        shapes = {shape for shape, _ in surveyed}
        if len(shapes) > 1:
            raise SeriesError(f"slices display with different shapes {sorted(shapes)}")
        shape = (len(picks), *(shapes.pop() if shapes else ()))
        nbytes = int(np.prod(shape, dtype=object))
        if nbytes > limit:
            raise MemoryLimitError(f"the displayed series would take "
                                   f"{nbytes / 2**20:.1f} MiB, over the "
                                   f"{limit / 2**20:.1f} MiB limit")
        got = [r for _, r in surveyed if r is not None]
        value_range = (min(r[0] for r in got), max(r[1] for r in got)) if got else None
        out = np.empty(shape, np.uint8)

        def show(job: tuple[str, list[tuple[int, int]]]) -> dict[str, Any]:
            targets = [pos for pos, _ in job[1]]
            a, b = targets[0], targets[-1] + 1
            direct = targets == list(range(a, b))
            with open_image(job[0]) as img:
                arr, rec = _display.read_display(
                    img, [f for _, f in job[1]], window=window, voi=voi,
                    out=out[a:b] if direct else None, threads=inner,
                    backend=backend, value_range=value_range, on_error=on_error)
                gone = img.failed_frames
                failed.update({pos: gone[f] for pos, f in job[1] if f in gone})
            if not direct:
                out[targets] = arr
            return rec

        records = list(pool.map(show, jobs))
    series.display_record = _merge(records) if records else {}
    return finish(series, picks, out, failed, on_error)
