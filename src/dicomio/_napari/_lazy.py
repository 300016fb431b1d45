"""Frame decoding for napari layers: one dask chunk per slice, with provenance.

A chunk is one task ``(decode_chunk, path, frame, rescale, dtype, color)``:
only a path and a frame number travel with it, never pixels. Tasks reuse
open :class:`~dicomio.image.DicomImage` objects through a small cache, so the
header of a multi-frame file (and the item table of its fragments) is parsed
once, not once per frame.

Every decode is logged by ``(path, frame)``: which backend produced it, the
colour report, the backends that failed first, the file's warnings. The dock
widget reads that log; a chunk computed in another process (dask.distributed)
simply leaves no entry here.

:func:`dicomio.to_dask` builds the same kind of graph for general use; its
tasks open and close their file each time so they run anywhere. napari runs
chunks in this process, over and over as the user browses, which is what the
cache and the log are for.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._rescale import apply_rescale
from ..image import DicomImage

__all__ = [
    "decode_frame",
    "decode_chunk",
    "lazy_stack",
    "provenance",
    "clear_caches",
    "captured_warnings",
]

_IMAGE_CACHE_SIZE = 16
_LOG_SIZE = 100_000

_lock = threading.Lock()
# catch_warnings swaps process-wide state: two threads inside it at once can
# leave the filters changed for good, so every use of it here is serialised.
_warn_lock = threading.RLock()
_images: OrderedDict[tuple[Any, ...], DicomImage] = OrderedDict()
_log: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()


def _key(path: str) -> str:
    return os.path.abspath(path)


def _open(path: str, color: str, threads: int | None) -> DicomImage:
    """An open DicomImage for ``path``, reused while the file is unchanged."""
    st = os.stat(path)
    key = (_key(path), color, threads, st.st_mtime_ns, st.st_size)
    with _lock:
        img = _images.get(key)
        if img is not None:
            _images.move_to_end(key)
            return img
    # DicomImage warns about tolerated defects when it opens a file; the
    # reader has already reported them for the files it looked at, and the
    # log keeps them (img.warnings) for the widget.
    with captured_warnings():
        img = DicomImage(path, color=color, threads=threads)
    with _lock:
        _images[key] = img
        while len(_images) > _IMAGE_CACHE_SIZE:
            _images.popitem(last=False)
    return img


@contextmanager
def captured_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record warnings instead of issuing them (serialised across threads)."""
    with _warn_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _record(path: str, frame: int, entry: dict[str, Any]) -> None:
    with _lock:
        _log[(_key(path), frame)] = entry
        _log.move_to_end((_key(path), frame))
        while len(_log) > _LOG_SIZE:
            _log.popitem(last=False)


def provenance(path: str, frame: int) -> dict[str, Any] | None:
    """What happened when frame ``frame`` of ``path`` was last decoded here.

    Returns
    -------
    dict or None
        ``{"backend", "photometric", "tried", "warnings", "error"}``, or None
        when this process has not decoded that frame.
    """
    with _lock:
        entry = _log.get((_key(path), int(frame)))
    return None if entry is None else dict(entry)


def clear_caches() -> None:
    """Close cached files and forget the decode log."""
    with _lock:
        images = list(_images.values())
        _images.clear()
        _log.clear()
    for img in images:
        img.close()


def decode_frame(
    path: str,
    frame: int,
    *,
    rescale: Sequence[float] | None = None,
    dtype: Any = None,
    color: str = "rgb",
    threads: int | None = 1,
) -> np.ndarray:
    """Decode one frame of one file, log its provenance, rescale it.

    Parameters
    ----------
    path : str
        The file.
    frame : int
        0-based frame index in the file.
    rescale : (slope, intercept), optional
        Modality LUT to apply (the series' value for this slice).
    dtype : dtype, optional
        Output dtype (default: the decoded dtype).
    color : {"rgb", "native"}
        As for :class:`dicomio.image.DicomImage`.
    threads : int or None
        Codec threads for this frame: 1 inside dask (chunks already run in
        parallel), None (all cores) for a single image.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)``.
    """
    img = _open(path, color, threads)
    try:
        raw = img.read(int(frame))
    except Exception as exc:
        _record(path, int(frame), {
            "backend": None, "photometric": None, "tried": getattr(exc, "tried", []),
            "warnings": list(img.warnings), "error": str(exc)})
        raise
    info = img.frame_info(int(frame))
    _record(path, int(frame), {
        "backend": info.backend if info else img.decoder,
        "photometric": dict(info.photometric) if info else img.photometric,
        "tried": [list(t) for t in info.tried] if info else [],
        "warnings": list(img.warnings),
        "error": None,
    })
    out_dtype = np.dtype(dtype) if dtype is not None else raw.dtype
    return apply_rescale(raw, rescale, out_dtype)


def decode_chunk(path: str, frame: int, rescale: Sequence[float] | None,
                 dtype: str, color: str) -> np.ndarray:
    """One dask chunk: :func:`decode_frame` with a leading axis of length 1."""
    arr = decode_frame(path, frame, rescale=rescale, dtype=dtype, color=color)
    return arr[np.newaxis]


def lazy_stack(
    slices: Sequence[tuple[str, int]],
    frame_shape: tuple[int, ...],
    dtype: Any,
    rescale: Sequence[Sequence[float] | None],
    color: str = "rgb",
) -> Any:
    """A dask array ``(n, *frame_shape)``, one chunk per slice.

    Parameters
    ----------
    slices : sequence of (path, frame)
        The slices in array order.
    frame_shape : tuple of int
        Shape of one decoded frame.
    dtype : dtype
        dtype of every chunk (after rescaling).
    rescale : sequence
        ``(slope, intercept)`` or None, per slice.
    color : {"rgb", "native"}
        Colour output.

    Returns
    -------
    dask.array.Array
    """
    import dask.array as da
    from dask.base import tokenize

    dtype = np.dtype(dtype)
    stamps = []
    for path, frame in slices:
        try:
            st = os.stat(path)
            stamps.append((_key(path), frame, st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append((_key(path), frame, 0, 0))
    # The name changes when a file does, so napari's chunk cache (keyed by
    # task name) never serves pixels of an older version of the file.
    name = "dicomio-" + tokenize(stamps, frame_shape, dtype.str,
                                 [tuple(p) if p else None for p in rescale], color)
    zeros = (0,) * len(frame_shape)
    graph = {
        (name, i, *zeros): (decode_chunk, path, int(frame),
                            tuple(params) if params else None, dtype.str, color)
        for i, ((path, frame), params) in enumerate(zip(slices, rescale, strict=True))
    }
    chunks = ((1,) * len(slices), *((int(s),) for s in frame_shape))
    meta = np.empty((0,) * (1 + len(frame_shape)), dtype)
    return da.Array(graph, name, chunks, dtype=dtype, meta=meta)
