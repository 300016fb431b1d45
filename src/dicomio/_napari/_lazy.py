"""Frame decoding for napari layers: lazy chunks of a few slices, with provenance.

A layer's dask array has chunks of consecutive slices. A chunk is one task
``(decode_chunk, items, frame_shape, dtype, color)`` where ``items`` holds
``(path, frame, rescale)`` per slice: only paths and frame numbers travel
with it, never pixels. The frames of one file in a chunk are decoded by one
:meth:`DicomImage.read` call (in parallel threads), straight into the chunk's
array when nothing is rescaled; slices that need no rescale are never copied.

Chunk size (:func:`frames_per_chunk`) weighs the two ways napari uses the
data. Moving the slider computes the chunk holding the slice shown, and the
next slices of that chunk then come from napari's dask cache; computing the
whole layer (3D view, ``np.asarray(layer.data)``) pays a fixed cost per task,
per file and per page of memory, which bigger chunks spread. A chunk holds
about :data:`CHUNK_BUDGET_MS` of one-core decoding, from a rough cost per
Transfer Syntax (for 512 x 512 16-bit frames: 1 frame of JPEG 2000, 8 of
JPEG-LS, 26 of HTJ2K, 32 uncompressed), and at most :data:`MAX_CHUNK_BYTES` and
:data:`MAX_FRAMES_PER_CHUNK` slices: a slider step into a new chunk waits
tens of milliseconds, and the computed layer costs about what
``DicomImage.read()`` does plus the one copy dask makes to join the chunks.

Tasks reuse open :class:`~dicomio.image.DicomImage` objects through a small
cache, so the header of a multi-frame file (and the item table of its
fragments) is parsed once, not once per chunk; the headers the reader's scan
parsed are kept too (:func:`remember_headers`), so a folder of slices is not
parsed a second time when its chunks open the files.

Every decode is logged by ``(path, frame)``: which backend produced it, the
colour report, the backends that failed first, the file's warnings. The dock
widget reads that log; a chunk computed in another process (dask.distributed)
simply leaves no entry here.

Opening a file warns about the defects dicomio tolerates: those warnings are
recorded, not issued, since the reader reported them already and the log
keeps them (``img.warnings``) for the widget. A file whose header the scan
kept opens with ``warn=False`` (no parse, nothing to capture); any other
open is captured with :func:`warnings.catch_warnings`, which swaps
process-wide state, so it is serialised by a lock, and the cache makes it
rare. Decoding runs outside it, in parallel: dicomio issues no warnings
there, and whatever a codec issues reaches the caller's filters as usual.

The graph and the chunk decoding are :mod:`dicomio.series.lazy`'s, shared
with :func:`dicomio.to_dask`, whose tasks open and close their file each
time so they run anywhere. napari runs chunks in this process, over and over
as the user browses, which is what the cache and the log are for: they are
what this module passes in.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..image import DicomImage
from ..image.tolerance import describe, failed_dict
from ..series import lazy
from ..sources.remote import is_url
from ..tsyntax import lookup
from ..values.rescale import apply_rescale

__all__ = [
    "CHUNK_BUDGET_MS",
    "MAX_CHUNK_BYTES",
    "MAX_FRAMES_PER_CHUNK",
    "decode_frame",
    "decode_chunk",
    "frames_per_chunk",
    "open_image",
    "remember_headers",
    "lazy_stack",
    "provenance",
    "clear_caches",
    "captured_warnings",
    "FailedFrames",
    "watch_failures",
]

#: One-core decoding time aimed at per chunk, in milliseconds.
CHUNK_BUDGET_MS = 40.0
#: At most this many decoded bytes per chunk (16 MiB: past that, bigger
#: chunks no longer make the computed layer faster).
MAX_CHUNK_BYTES = 16 * 2**20
#: At most this many slices per chunk, however small.
MAX_FRAMES_PER_CHUNK = 64

# Rough one-core decoding cost in ms per MiB of output, measured on 512 x 512
# 16-bit frames (benchmarks/): only the ratios matter. Unknown: the slowest.
_COST_MS_PER_MIB = {"native": 0.2, "deflate": 0.5, "rle": 0.7, "jpeg": 1.0,
                    "htj2k": 3.0, "jpegls": 9.0, "video": 10.0, "jpegxl": 35.0,
                    "jpeg2k": 50.0}
_COST_BY_KEYWORD = {"JPEGLossless": 5.0, "JPEGLosslessSV1": 5.0}
# Opening a file (its header parse), per slice when every slice is a file.
_OPEN_MS = 1.0

_IMAGE_CACHE_SIZE = 16
_HEADER_CACHE_SIZE = 2048  # a CT slice header is ~30 kB in memory
_LOG_SIZE = 100_000

_lock = threading.Lock()
# catch_warnings swaps process-wide state: two threads inside it at once can
# leave the filters changed for good, so every use of it here is serialised.
_warn_lock = threading.RLock()
_images: OrderedDict[tuple[Any, ...], DicomImage] = OrderedDict()
_headers: OrderedDict[tuple[str, int, int], tuple[Any, int]] = OrderedDict()
_log: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
_notified: set[tuple[str, int]] = set()  # frames notify_failed announced
# Layers' metadata["failed_frames"] to fill in when a frame fails later.
_Entries = Callable[[dict[str, Any]], dict[str, dict[str, Any]]]
_watchers: dict[tuple[str, int], list[tuple[weakref.ref[Any], _Entries]]] = {}

Item = lazy.Item


def _key(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)


def _stamp(path: str) -> tuple[str, int, int]:
    if is_url(path):
        return path, 0, 0  # a remote object: no local version to compare
    st = os.stat(path)
    return _key(path), st.st_mtime_ns, st.st_size


def remember_headers(headers: Sequence[tuple[str, Any, int]]) -> None:
    """Keep headers parsed already, for :func:`open_image` to start from.

    Parameters
    ----------
    headers : sequence of (path, dataset, tell)
        A header ``pydicom.dcmread(fh, stop_before_pixels=True)`` read from
        ``path`` and ``fh.tell()`` after it (what :func:`dicomio.series.scan`
        keeps). Only the latest few thousand are kept; a file changed since
        is opened afresh.
    """
    entries = []
    for path, ds, tell in headers:
        try:
            entries.append((_stamp(path), (ds, int(tell))))
        except OSError:
            continue
    with _lock:
        for stamp, value in entries:
            _headers[stamp] = value
            _headers.move_to_end(stamp)
        while len(_headers) > _HEADER_CACHE_SIZE:
            _headers.popitem(last=False)


def open_image(path: str, color: str = "rgb") -> DicomImage:
    """An open DicomImage for ``path``, shared while the file is unchanged.

    Cached (a few files): do not close it. The warnings of opening it are
    recorded in ``img.warnings``, not issued.
    """
    stamp = _stamp(path)
    key = (*stamp, color)
    with _lock:
        img = _images.get(key)
        if img is not None:
            _images.move_to_end(key)
            return img
        header = _headers.get(stamp)
    # DicomImage warns about tolerated defects when it opens a file; the
    # reader reports them for the files it looked at, and the log keeps them
    # (img.warnings) for the widget.
    if header is not None and header[1] < 0:
        # A DICOMweb instance: opened from its metadata (frames on demand).
        from ..image._web import from_metadata
        from ..series._web import WEB_ATTR

        client, url = getattr(header[0], WEB_ATTR)
        img = from_metadata(client, url, header[0], color=color, warn=False)
    elif header is not None:
        # No parse, so no pydicom warnings; dicomio's stay in img.warnings.
        # (No catch_warnings here: it would swap every thread's filters.)
        img = DicomImage._from_header(path, header[0], header[1], color=color,
                                      warn=False)
    else:
        with captured_warnings():
            img = DicomImage(path, color=color)
    # napari reads with on_error="recover": failed frames are notified here
    # (_record_decoded), once each, instead of a warning per read.
    img._quiet_failures = True
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


def _record_decoded(img: DicomImage, path: str, frame: int) -> None:
    info = img.frame_info(frame)
    failed = info is not None and info.action is not None
    _record(path, frame, {
        "backend": (info.backend or None) if info else img.decoder,
        "photometric": dict(info.photometric) if info else img.photometric,
        "tried": [list(t) for t in info.tried] if info else [],
        "warnings": list(img.warnings),
        "error": info.error if failed and info else None,
        "failed": failed_dict({frame: info})[str(frame)] if failed and info else None,
    })
    if failed and info is not None:
        _fill_in(path, frame, failed_dict({frame: info})[str(frame)])
        notify_failed(path, frame, info)


class FailedFrames(dict):  # type: ignore[type-arg]
    """A layer's ``metadata["failed_frames"]``, completed as frames fail.

    napari copies a layer's metadata dict but not the values in it, so the
    layer holds this very object: frames that fail when napari first asks
    for them (a slider move, the 3D view) are added here as they are decoded
    (:func:`watch_failures`).
    """


def watch_failures(failed: FailedFrames,
                   where: Mapping[tuple[str, int], _Entries]) -> None:
    """Add to ``failed`` the frames ``where`` names when they fail to decode.

    ``where[(path, frame)](record)`` gives the ``{layer index: record}``
    entries of a failed frame (several for a mosaic, one per slice it
    holds). Only a weak reference to ``failed`` is kept: a closed layer
    stops being filled in.
    """
    ref = weakref.ref(failed)
    with _lock:
        if len(_watchers) > _LOG_SIZE:  # forget the layers that are gone
            for key in [k for k, v in _watchers.items()
                        if all(r() is None for r, _ in v)]:
                del _watchers[key]
        for (path, frame), entries in where.items():
            _watchers.setdefault((_key(path), int(frame)), []).append((ref, entries))


def _fill_in(path: str, frame: int, record: dict[str, Any]) -> None:
    with _lock:
        targets = list(_watchers.get((_key(path), int(frame)), ()))
    for ref, entries in targets:
        failed = ref()
        if failed is not None:
            failed.update(entries(dict(record)))


def notify_failed(path: str, frame: int, info: Any) -> None:
    """A napari warning for a frame shown incomplete (once per file and frame)."""
    key = (_key(path), int(frame))
    with _lock:
        if key in _notified:
            return
        _notified.add(key)
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # pragma: no cover - the reader runs inside napari
        return
    if info.damaged and info.missing_rows is None:
        show_warning(f"{path}: frame {frame} has a damaged codestream and is shown "
                     f"as the decoder returned it (the pixels may be wrong): {info.error}")
        return
    what = ("shown with the missing rows as 0" if info.action == "recovered"
            else "shown as 0")
    show_warning(f"{path}: frame {describe(frame, info)} could not be decoded "
                 f"whole and is {what}: {info.error}")


def _record_failed(img: DicomImage, path: str, frame: int, exc: Exception) -> None:
    _record(path, frame, {
        "backend": None, "photometric": None, "tried": getattr(exc, "tried", []),
        "warnings": list(img.warnings), "error": str(exc)})


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
    """Close cached files, forget remembered headers and the decode log."""
    with _lock:
        images = list(_images.values())
        _images.clear()
        _headers.clear()
        _log.clear()
        _notified.clear()
        _watchers.clear()
    for img in images:
        img.close()


def _rescaled(raw: np.ndarray, params: Sequence[float] | None,
              dtype: np.dtype[Any]) -> np.ndarray:
    # Nothing to do is common (MR, colour, uncompressed OT): no copy then.
    if params is None and raw.dtype == dtype:
        return raw
    return apply_rescale(raw, params, dtype)


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
        Codec threads for this frame (None: all cores).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)``; the decoded array
        itself when there is nothing to rescale.
    """
    img = open_image(path, color)
    frame = int(frame)
    try:
        raw = img.read(frame, threads=threads, on_error="recover")
    except Exception as exc:
        _record_failed(img, path, frame, exc)
        raise
    _record_decoded(img, path, frame)
    out_dtype = np.dtype(dtype) if dtype is not None else raw.dtype
    out = _rescaled(raw, rescale, out_dtype)
    info = img.frame_info(frame)
    if info is not None and info.missing_rows is not None:
        # Missing rows are 0 in what napari shows, after the rescale too.
        out = out if out is not raw else out.copy()
        out[info.missing_rows[0]:info.missing_rows[1]] = 0
    return out


def decode_chunk(items: Sequence[Item], frame_shape: tuple[int, ...], dtype: str,
                 color: str) -> np.ndarray:
    """One dask chunk: the slices ``items`` as one ``(len(items), *frame_shape)`` array.

    Parameters
    ----------
    items : sequence of (path, frame, rescale)
        The slices of the chunk in array order; ``rescale`` is
        ``(slope, intercept)`` or None.
    frame_shape : tuple of int
        Shape of one decoded frame.
    dtype : str
        dtype of the chunk (after rescaling).
    color : {"rgb", "native"}
        Colour output.

    Returns
    -------
    numpy.ndarray
    """
    # The shared chunk decoder, with this module's cache of open images
    # (never closed here) and its provenance log.
    return lazy.decode_items(items, frame_shape, dtype,
                             lambda path: open_image(path, color), close=False,
                             on_decoded=_record_decoded, on_failed=_record_failed,
                             on_error="recover")


def _cost_ms_per_mib(transfer_syntax: str) -> float:
    try:
        ts = lookup(transfer_syntax)
    except Exception:  # unknown: assume the slowest codec
        return max(_COST_MS_PER_MIB.values())
    return _COST_BY_KEYWORD.get(ts.keyword, _COST_MS_PER_MIB.get(
        ts.family, max(_COST_MS_PER_MIB.values())))


def frames_per_chunk(frame_shape: Sequence[int], dtype: Any,
                     transfer_syntaxes: Sequence[str] = (),
                     file_per_slice: bool = False) -> int:
    """Slices per chunk: about :data:`CHUNK_BUDGET_MS` of one-core decoding.

    Parameters
    ----------
    frame_shape : sequence of int
        Shape of one decoded frame.
    dtype : dtype
        dtype of the decoded frames.
    transfer_syntaxes : sequence of str
        UIDs or keywords of the slices' Transfer Syntaxes; the slowest
        decides (none given: the slowest known codec).
    file_per_slice : bool
        Every slice is its own file, opened once per chunk.

    Returns
    -------
    int
        At least 1, at most :data:`MAX_FRAMES_PER_CHUNK`, and no more slices
        than fit :data:`MAX_CHUNK_BYTES`.
    """
    nbytes = max(1, int(np.prod(frame_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    cost = max((_cost_ms_per_mib(t) for t in transfer_syntaxes),
               default=max(_COST_MS_PER_MIB.values()))
    frame_ms = cost * nbytes / 2**20 + (_OPEN_MS if file_per_slice else 0.0)
    n = min(int(CHUNK_BUDGET_MS // frame_ms), MAX_CHUNK_BYTES // nbytes,
            MAX_FRAMES_PER_CHUNK)
    return max(1, n)


def lazy_stack(
    slices: Sequence[tuple[str, int]],
    frame_shape: tuple[int, ...],
    dtype: Any,
    rescale: Sequence[Sequence[float] | None],
    color: str = "rgb",
    transfer_syntaxes: Sequence[str] = (),
    chunk: int | None = None,
) -> Any:
    """A dask array ``(n, *frame_shape)`` whose chunks decode a few slices each.

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
    transfer_syntaxes : sequence of str
        The Transfer Syntaxes of the slices (UIDs or keywords), for
        :func:`frames_per_chunk`.
    chunk : int, optional
        Slices per chunk, instead of :func:`frames_per_chunk`.

    Returns
    -------
    dask.array.Array
    """
    dtype = np.dtype(dtype)
    if chunk is None:
        file_per_slice = len({path for path, _ in slices}) == len(slices)
        chunk = frames_per_chunk(frame_shape, dtype, transfer_syntaxes, file_per_slice)
    step = max(1, int(chunk))
    items = lazy.make_items(slices, rescale)
    shape = tuple(int(s) for s in frame_shape)
    # The name changes when a file does, so napari's chunk cache (keyed by
    # task name) never serves pixels of an older version of the file.
    name = "dicomio-" + lazy.graph_token(items, shape, dtype.str, color, step)
    return lazy.chunked_array(
        name, len(items), shape, dtype, step,
        lambda a, b: (decode_chunk, tuple(items[a:b]), shape, dtype.str, color))
