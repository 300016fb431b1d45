"""Conveniences over :func:`scan`: read a whole volume, stack sibling volumes."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import SeriesError
from .geometry import POSITION_TOLERANCE
from .reader import Series
from .scanning import scan


def read_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    **kwargs: Any,
) -> list[Series]:
    """``scan(source, **kwargs).series``.

    ``source`` may be a DICOMweb study URL (all its series) or series URL
    (``http(s)://host/<prefix>/studies/{uid}[/series/{uid}]``): the series,
    their sorting and geometry then come from WADO-RS metadata, and pixels
    are fetched only when read. ``auth=(user, password)`` and ``token=``
    give credentials for a URL (see :doc:`/web`).
    """
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
