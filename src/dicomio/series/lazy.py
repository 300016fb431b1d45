"""Lazy reading: the one builder of dask graphs over frames of files.

:func:`dicomio.to_dask`, the napari reader and :meth:`Series.slice_tasks`
describe the same thing: slices in array order, each ``(path, frame,
rescale)``, decoded a chunk of consecutive slices at a time into one array of
one dtype. This module holds that once; what differs between them is a
parameter:

* how a task opens a file (:class:`Decode` for dask: every task opens its
  files, header only, and closes them, so it runs on a remote worker; napari
  passes a cache of open images that start from the headers the scan parsed);
* what is recorded per decoded frame (``on_decoded`` / ``on_failed``
  callbacks: napari's provenance log; dask records nothing);
* how many slices a chunk holds (napari sizes chunks by decoding cost, dask
  takes ``frames_per_chunk``).

A task holds only paths, frame numbers, rescale parameters and options:
module-level functions and small tuples, so graphs pickle small. dask is
imported inside the functions that build graphs, never at import time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SeriesError
from ..image.tolerance import check_on_error
from ..sources.remote import is_url
from ..values import rescale as _rescale
from .failures import note_frames

if TYPE_CHECKING:  # pragma: no cover - typing only
    import dask.array

    from .reader import Series

__all__ = [
    "Item",
    "Decode",
    "decode_options",
    "read_slice",
    "read_file_chunk",
    "read_chunk",
    "decode_items",
    "series_items",
    "make_items",
    "file_stamp",
    "graph_token",
    "chunked_array",
    "require_dask",
]

#: One slice: ``(path, frame, (slope, intercept) or None)``.
Item = tuple[str, int, tuple[float, float] | None]

_COLORS = ("rgb", "native")


def require_dask() -> Any:
    """``dask.array``, or an ImportError saying what to install."""
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is a test dependency
        raise ImportError("dicomio's dask support needs dask: "
                          "pip install 'dicomio[dask]'") from exc
    return da


@dataclass(frozen=True)
class Decode:
    """Decode options carried by every task (small, picklable, hashable)."""

    rescale: bool = False
    color: str = "rgb"
    backend: str | tuple[str, ...] | None = None
    threads: int | None = 1
    on_error: str = "raise"  # "fill" or "recover" too; never "skip" (shapes)

    def open(self, path: str) -> Any:
        """A fresh DicomImage of ``path`` (the caller closes it)."""
        from ..image import DicomImage

        return DicomImage(path, backend=self.backend, color=self.color,
                          threads=self.threads)


def decode_options(rescale: bool, color: str, backend: Any,
                   threads: int | None, on_error: str = "raise") -> Decode:
    """Checked :class:`Decode` options (a ValueError names a bad one)."""
    if on_error == "skip":
        raise ValueError("a lazy array's shape is fixed before anything is "
                         "decoded: on_error='skip' cannot drop frames from it; "
                         "use 'fill' or 'recover'")
    check_on_error(on_error)
    if color not in _COLORS:
        raise ValueError(f"color must be one of {_COLORS}, not {color!r}")
    if threads is not None and (not isinstance(threads, (int, np.integer))
                                or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, "
                         f"not {threads!r}")
    if backend is not None and not isinstance(backend, str):
        backend = tuple(backend)
    return Decode(bool(rescale), color, backend,
                  None if threads is None else int(threads), on_error)


# ---------------------------------------------------------------------------
# Tasks (module level: workers import them by name)
# ---------------------------------------------------------------------------
def read_slice(
    path: str,
    frame: int = 0,
    *,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    rescale: tuple[float, float] | None = None,
    dtype: Any = None,
    on_error: str = "raise",
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
    on_error : {"raise", "recover", "fill"}
        As for :meth:`DicomImage.read` (a failed frame warns, and its
        missing rows are 0 after the rescale too).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)``.
    """
    from ..image import DicomImage

    if on_error == "skip":
        raise ValueError("read_slice returns one frame: on_error='skip' has "
                         "nothing to leave out; use 'fill' or 'recover'")
    with DicomImage(path, backend=backend, color=color) as img:
        arr = img.read(frame, on_error=on_error)
        missing = img.failed_frames.get(int(frame) % img.n_frames)
    if rescale is not None:
        arr = _rescale.apply_rescale(arr, rescale, np.dtype(dtype) if dtype is not None
                                     else np.dtype(np.float32))
    elif dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if missing is not None and missing.missing_rows is not None:
        arr[missing.missing_rows[0]:missing.missing_rows[1]] = 0
    return arr


def read_file_chunk(path: str, start: int, stop: int | None,
                    options: Decode) -> np.ndarray:
    """Decode frames ``start:stop`` of one file (``stop`` None: one frame, unbatched).

    The file is opened (header only), the frames decoded, and the file closed
    again, so the task runs anywhere the path is readable.
    """
    with options.open(path) as img:
        if stop is None:
            return img.read(start, rescale=options.rescale,  # type: ignore[no-any-return]
                            on_error=options.on_error)
        # A range, not a slice: a frame the file no longer has raises
        # FrameIndexError instead of silently shortening the chunk.
        return img.read(range(start, stop),  # type: ignore[no-any-return]
                        rescale=options.rescale, on_error=options.on_error)


def read_chunk(items: Sequence[Item], frame_shape: tuple[int, ...], dtype: str,
               options: Decode) -> np.ndarray:
    """Decode some slices into one ``(len(items), *frame_shape)`` block.

    Every file is opened once for the chunk and closed after it. The values
    equal those of :func:`read_slice` and :meth:`Series.read`.
    """
    return decode_items(items, frame_shape, dtype, options.open, close=True,
                        on_error=options.on_error)


def decode_items(
    items: Sequence[Item],
    frame_shape: Sequence[int],
    dtype: Any,
    open_image: Callable[[str], Any],
    *,
    close: bool,
    on_decoded: Callable[[Any, str, int], None] | None = None,
    on_failed: Callable[[Any, str, int, Exception], None] | None = None,
    on_error: str = "raise",
) -> np.ndarray:
    """The slices ``items`` decoded (and rescaled) into one new array.

    Parameters
    ----------
    items : sequence of (path, frame, rescale)
        The slices in array order; ``rescale`` is ``(slope, intercept)`` or
        None.
    frame_shape : sequence of int
        Shape of one decoded frame; a file whose frames differ raises
        :class:`SeriesError`.
    dtype : dtype
        dtype of the result (after rescaling).
    open_image : callable
        ``open_image(path)`` gives an open DicomImage.
    close : bool
        Close every image after use (False: ``open_image`` shares cached ones).
    on_decoded, on_failed : callable, optional
        Called as ``on_decoded(img, path, frame)`` after each decoded frame
        and ``on_failed(img, path, frame, exc)`` for the frame that failed.
    on_error : {"raise", "recover", "fill"}
        As for :meth:`DicomImage.read`; failed frames are 0 after the rescale.
    """
    shape = tuple(int(s) for s in frame_shape)
    out = np.empty((len(items), *shape), np.dtype(dtype))
    by_path: dict[str, list[tuple[int, int, Any]]] = {}
    for pos, (path, frame, params) in enumerate(items):
        by_path.setdefault(path, []).append((pos, int(frame), params))
    for path, group in by_path.items():
        img = open_image(path)
        try:
            _decode_file(img, path, group, out, on_decoded, on_failed, on_error)
        finally:
            if close:
                img.close()
    return out


def _decode_file(img: Any, path: str, group: list[tuple[int, int, Any]],
                 out: np.ndarray, on_decoded: Callable[[Any, str, int], None] | None,
                 on_failed: Callable[[Any, str, int, Exception], None] | None,
                 on_error: str = "raise") -> None:
    """Decode ``(position, frame, rescale)`` of one file into ``out[position]``."""
    if tuple(img.frame_shape) != out.shape[1:]:
        raise SeriesError(f"slices of this file have shape {img.frame_shape}, the "
                          f"series expects {out.shape[1:]}", path=path)
    frames = [frame for _, frame, _ in group]
    try:
        # Straight into the chunk where it can (the frames decode in parallel
        # threads), as a series read does.
        targets = [pos for pos, _, _ in group]
        _rescale.read_rescaled(img, frames, targets,
                               [params for _, _, params in group], out, on_error)
        if on_error != "raise":
            note_frames(img, frames, targets, out, {})
    except Exception:
        if on_failed is None:
            raise
        # Which frame failed, for the record: decode them one by one (rare).
        for pos, frame, params in group:
            try:
                arr = img.read(frame, threads=1, on_error=on_error)
            except Exception as exc:
                on_failed(img, path, frame, exc)
                raise
            if on_decoded is not None:
                on_decoded(img, path, frame)
            if params is None and arr.dtype == out.dtype:
                out[pos] = arr
            else:
                _rescale.apply_rescale(arr, params, out.dtype, out=out[pos])
        raise  # a failure the frames alone do not reproduce (e.g. memory)
    if on_decoded is not None:
        for frame in frames:
            on_decoded(img, path, frame)


# ---------------------------------------------------------------------------
# Describing slices
# ---------------------------------------------------------------------------
def _params(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    return (float(value[0]), float(value[1]))


def make_items(slices: Sequence[tuple[str, int]],
               rescale: Sequence[Sequence[float] | None],
               absolute: bool = False) -> list[Item]:
    """``(path, frame, rescale)`` per slice, normalised (plain ints and floats)."""
    return [(os.path.abspath(path) if absolute and not is_url(path) else path,
             int(frame), _params(p))
            for (path, frame), p in zip(slices, rescale, strict=True)]


def series_items(series: Series, *, rescale: bool, color: str,
                 backend: str | Sequence[str] | None, absolute: bool = False
                 ) -> tuple[list[Item], np.dtype[Any], tuple[int, ...]]:
    """A series' slices as items, with the dtype and frame shape of its read().

    Only rescale parameters other than (1, 0) are kept: the others change
    nothing; ``absolute`` makes the paths absolute (for remote workers). The
    dtype is what :meth:`Series.read` gives with the same
    options, so chunks agree with it.
    """
    raw = series._probe(color, backend)[0]
    dtype = series.rescaled_dtype(color, backend) if rescale else raw
    params = [p if rescale and p not in (None, (1.0, 0.0)) else None
              for p in series.rescale_params]
    items = make_items(series.slices, params, absolute)
    return items, np.dtype(dtype), tuple(int(s) for s in series.shape[1:])


# ---------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------
def file_stamp(path: str) -> tuple[str, int, int]:
    """Identify a file version: a changed file gives new task names."""
    if is_url(path):
        return (path, 0, 0)  # a remote object: no local version to compare
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError:
        return (path, 0, 0)
    return (path, st.st_mtime_ns, st.st_size)


def graph_token(items: Sequence[Item], *extra: Any) -> str:
    """A dask token for ``items`` and ``extra``, new whenever a file changes.

    The name changes when a file does, so a chunk cache keyed by task name
    (napari's) never serves pixels of an older version of the file.
    """
    from dask.base import tokenize

    stamps = {p: file_stamp(p) for p in dict.fromkeys(p for p, _, _ in items)}
    return str(tokenize([(stamps[p], f, r) for p, f, r in items], *extra))


def chunked_array(
    name: str,
    n: int,
    frame_shape: Sequence[int],
    dtype: Any,
    step: int,
    task: Callable[[int, int], tuple[Any, ...]],
    *,
    stacked: bool = True,
    bounds: Sequence[int] | None = None,
) -> dask.array.Array:
    """A dask array ``(n, *frame_shape)`` in chunks of ``step`` slices along axis 0.

    ``task(a, b)`` gives the task (a tuple: function, then its arguments)
    computing slices ``a:b``. ``stacked=False`` (``n`` must be 1): the array
    is the one frame, ``frame_shape``, without axis 0. ``bounds`` (``0, ...,
    n``) gives the chunk boundaries instead of ``step`` (a video's GOPs).
    """
    da = require_dask()
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in frame_shape)
    tail = (0,) * len(shape)
    chunks: tuple[tuple[int, ...], ...]
    if not stacked:
        if n != 1:
            raise ValueError(f"an unstacked array holds one frame, not {n}")
        graph = {(name, *tail): task(0, 1)}
        chunks = tuple((s,) for s in shape)
        meta = np.empty((0,) * len(chunks), dtype)
        return da.Array(graph, name, chunks, dtype=dtype, meta=meta)
    step = max(1, int(step))
    edges = (list(bounds) if bounds is not None
             else [*range(0, n, step), n])
    if edges[0] != 0 or edges[-1] != n or any(
            b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"chunk bounds {edges} do not split 0..{n}")
    graph = {(name, k, *tail): task(a, b)
             for k, (a, b) in enumerate(zip(edges, edges[1:]))}
    chunks = (tuple(b - a for a, b in zip(edges, edges[1:])), *((s,) for s in shape))
    meta = np.empty((0,) * len(chunks), dtype)
    return da.Array(graph, name, chunks, dtype=dtype, meta=meta)


def slice_tasks(series: Series, *, rescale: bool, color: str,
                backend: Any, on_error: str = "raise"
                ) -> list[functools.partial[np.ndarray]]:
    """One picklable zero-argument callable per item of axis 0 of ``series.read()``.

    :func:`read_slice` bound to one ``(path, frame)``, or for a series with a
    layout (4-D, mosaic) one volume reader per item (:func:`.fourd.tasks`).
    ``on_error`` (not ``"skip"``) goes to every task.
    """
    decode_options(rescale, color, backend, 1, on_error)  # a bad value fails here
    if series.layout is not None:
        from . import fourd

        raw = series._probe(color, backend)[0]
        dtype = series.rescaled_dtype(color, backend) if rescale else raw
        return fourd.tasks(series, rescale, color, backend, dtype, on_error)
    items, dtype, _ = series_items(series, rescale=rescale, color=color, backend=backend)
    return [functools.partial(read_slice, path, frame, color=color,
                              backend=backend, rescale=params, dtype=dtype,
                              on_error=on_error)
            for path, frame, params in items]
