"""dask integration: lazy arrays over files and series, and bulk jobs.

dicomio does not schedule work across machines itself. Instead it gives dask
a graph that any dask scheduler can run: the threaded, process and
synchronous schedulers on one machine, or a ``dask.distributed`` cluster.

* :func:`to_dask` turns a multi-frame file, a :class:`~dicomio.series.Series`
  or a folder/DICOMDIR holding one series into a lazy ``dask.array.Array``.
  Each chunk is one task holding only a path, frame indices and decode
  options. The task opens the file (reading the header only), decodes just
  its frames and closes it, so the graph pickles small and runs on remote
  workers.
* :func:`decompress_many` and :func:`decode_many` run one task per file and
  return one report per file. A bad file never stops the others.
  :func:`decompress_many` writes every output atomically, and a re-run redoes
  only the outputs that are missing.

See ``docs/dask.md`` for a guide (local cluster, existing cluster, CLI).

>>> import dicomio
>>> arr = dicomio.to_dask("multiframe.dcm")          # doctest: +SKIP
>>> arr.chunks[0][:3], arr.dtype                     # doctest: +SKIP
((1, 1, 1), dtype('uint8'))
>>> arr[10:20].mean().compute()                      # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DicomioError, SeriesError
from ..image import DicomImage

if TYPE_CHECKING:  # pragma: no cover - typing only
    import dask.array

    from ..series import Series

__all__ = ["to_dask", "decompress_many", "decode_many", "output_complete"]

_COLORS = ("rgb", "native")
_LOCAL_SCHEDULERS = ("threads", "threading", "processes", "multiprocessing",
                     "sync", "synchronous", "single-threaded")
_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_STAGE_PREFIX = ".dicomio-"
_STAGE_SUFFIX = ".part"


def _require_dask() -> Any:
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is a test dependency
        raise ImportError("dicomio's dask support needs dask: "
                          "pip install 'dicomio[dask]'") from exc
    return da


@dataclass(frozen=True)
class _Decode:
    """Decode options carried by every task (small, picklable, hashable)."""

    rescale: bool = False
    color: str = "rgb"
    backend: str | tuple[str, ...] | None = None
    threads: int | None = 1


def _options(rescale: bool, color: str, backend: Any, threads: int | None) -> _Decode:
    if color not in _COLORS:
        raise ValueError(f"color must be one of {_COLORS}, not {color!r}")
    if threads is not None and (not isinstance(threads, (int, np.integer))
                                or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, "
                         f"not {threads!r}")
    if backend is not None and not isinstance(backend, str):
        backend = tuple(backend)
    return _Decode(bool(rescale), color, backend,
                   None if threads is None else int(threads))


def _stamp(path: str) -> tuple[str, int, int]:
    """Identify a file version: a changed file gives new task names."""
    try:
        st = os.stat(path)
    except OSError:
        return (path, 0, 0)
    return (path, st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------
# Tasks (module level: workers import them by name)
# ---------------------------------------------------------------------------
def _read_file_chunk(path: str, start: int, stop: int | None,
                     options: _Decode) -> np.ndarray:
    """Decode frames ``start:stop`` of one file (``stop`` None: one frame, unbatched).

    Runs on a worker: the file is opened (header only), the frames decoded,
    and the file closed again.
    """
    with DicomImage(path, backend=options.backend, color=options.color,
                    threads=options.threads) as img:
        if stop is None:
            return img.read(start, rescale=options.rescale)
        # A range, not a slice: a frame the file no longer has raises
        # FrameIndexError instead of silently shortening the chunk.
        return img.read(range(start, stop), rescale=options.rescale)


def _read_series_chunk(items: Sequence[tuple[str, int, tuple[float, float] | None]],
                       frame_shape: tuple[int, ...], dtype: str,
                       options: _Decode) -> np.ndarray:
    """Decode some slices of a series into one ``(len(items), *frame_shape)`` block.

    ``items`` holds ``(path, frame, rescale)`` per slice, as
    :meth:`dicomio.series.Series.slice_tasks` describes them. Each file is
    opened once per chunk. The values equal those of
    :func:`dicomio.series.read_slice` and :meth:`Series.read`.
    """
    from ..values.rescale import apply_rescale

    out_dtype = np.dtype(dtype)
    out = np.empty((len(items), *frame_shape), out_dtype)
    by_path: dict[str, list[tuple[int, int, tuple[float, float] | None]]] = {}
    for pos, (path, frame, params) in enumerate(items):
        by_path.setdefault(path, []).append((pos, int(frame), params))
    for path, group in by_path.items():
        with DicomImage(path, backend=options.backend, color=options.color,
                        threads=options.threads) as img:
            if tuple(img.frame_shape) != tuple(frame_shape):
                raise SeriesError(f"slices of this file have shape {img.frame_shape}, "
                                  f"the series expects {tuple(frame_shape)}", path=path)
            batch = img.read([frame for _, frame, _ in group])
        for (pos, _, params), arr in zip(group, batch):
            if params is None and arr.dtype == out_dtype:
                out[pos] = arr
            else:
                apply_rescale(arr, params, out_dtype, out=out[pos])
    return out


# ---------------------------------------------------------------------------
# to_dask
# ---------------------------------------------------------------------------
def to_dask(
    source: str | os.PathLike[str] | Series | Iterable[str | os.PathLike[str]],
    *,
    frames_per_chunk: int = 1,
    rescale: bool = False,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    threads: int | None = 1,
    series: int | str | None = None,
) -> dask.array.Array:
    """A lazy dask array over a DICOM file, a series or a folder.

    Shape and dtype come from the headers; nothing is decoded until the
    array (or part of it) is computed. Each chunk is one task holding only
    the file path, the frame indices and the decode options. It carries no
    pixel data, no open file and no :class:`~dicomio.image.DicomImage`, so
    the graph pickles small and runs on any dask scheduler, including a
    ``dask.distributed`` cluster whose workers see the same files.

    Parameters
    ----------
    source : path, Series or iterable of paths
        A DICOM file: a multi-frame file gives ``(n, rows, cols[, samples])``,
        a single-frame file ``(rows, cols[, samples])`` (as
        :func:`dicomio.imread`). A :class:`dicomio.series.Series`, a folder,
        a DICOMDIR or a list of files gives the series volume
        ``(n, rows, cols[, samples])`` (as :meth:`Series.read`). A folder must
        hold exactly one series unless ``series`` picks one.
    frames_per_chunk : int
        Frames (or slices) per chunk along axis 0. The default, 1, gives one
        task per frame; larger values give fewer, bigger tasks, which suits
        many small frames.
    rescale : bool
        Apply the modality LUT (RescaleSlope/Intercept; Hounsfield units for
        CT). The dtype is then :attr:`DicomImage.rescaled_dtype` or
        :meth:`Series.rescaled_dtype`.
    color : {"rgb", "native"}
        Colour output, as for :class:`dicomio.DicomImage`.
    backend : str or sequence of str, optional
        Force these decoding backends (they must be installed on the workers).
    threads : int or None
        Decoding threads inside one task. The default, 1, suits dask, which
        already runs chunks in parallel. None uses every core of the worker.
    series : int or str, optional
        For a folder, DICOMDIR or list holding several series: the index in
        :attr:`ScanResult.series`, or a :attr:`Series.key` / ``uid``.

    Returns
    -------
    dask.array.Array

    Raises
    ------
    SeriesError
        When a folder holds no series, or several and ``series`` does not
        pick one (the message lists them).
    DicomioError
        When the header cannot be read. Decode errors surface on compute,
        naming the file, frame, Transfer Syntax and backends tried.
    TypeError
        For in-memory sources (bytes, file objects, datasets): tasks reopen
        the file by path.

    Examples
    --------
    >>> arr = dicomio.to_dask("cine.dcm", frames_per_chunk=8)   # doctest: +SKIP
    >>> vol = dicomio.to_dask("/data/exam/CT", rescale=True)    # doctest: +SKIP
    >>> vol[:, 256].max().compute()                             # doctest: +SKIP
    """
    from ..series import Series

    if isinstance(frames_per_chunk, bool) or not isinstance(
            frames_per_chunk, (int, np.integer)) or frames_per_chunk < 1:
        raise ValueError(f"frames_per_chunk must be a positive integer, "
                         f"not {frames_per_chunk!r}")
    options = _options(rescale, color, backend, threads)
    fpc = int(frames_per_chunk)
    if isinstance(source, Series):
        if series is not None:
            raise ValueError("series= picks one series of a folder; "
                             "a Series was given")
        return _series_array(source, fpc, options)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path) or os.path.basename(path).upper() == "DICOMDIR":
            return _series_array(_pick_series(path, series), fpc, options)
        if series is not None:
            raise ValueError("series= picks one series of a folder, DICOMDIR or "
                             f"list of files; {path!r} is a single file")
        return _file_array(path, fpc, options)
    in_memory = (isinstance(source, (bytes, bytearray, memoryview, DicomImage))
                 or hasattr(source, "read") or hasattr(source, "file_meta"))
    if isinstance(source, Iterable) and not in_memory:
        paths = list(source)
        if paths and all(isinstance(p, (str, os.PathLike)) for p in paths):
            return _series_array(_pick_series([os.fspath(p) for p in paths], series),
                                 fpc, options)
    raise TypeError(f"to_dask needs a file path, a folder, a list of paths or a "
                    f"dicomio.series.Series, not {type(source).__name__}: its tasks "
                    "reopen the file by path on the workers")


def _file_array(path: str, fpc: int, options: _Decode) -> dask.array.Array:
    da = _require_dask()
    from dask.base import tokenize

    path = os.path.abspath(path)
    with DicomImage(path, backend=options.backend, color=options.color) as img:
        n = img.n_frames
        frame_shape = tuple(img.frame_shape)
        dtype = np.dtype(img.rescaled_dtype if options.rescale else img.dtype)
    name = "dicomio-file-" + tokenize(_stamp(path), fpc, options)
    tail = (0,) * len(frame_shape)
    graph: dict[tuple[Any, ...], Any]
    if n == 1:
        # Like imread: a single frame is a 2D (or colour 3D) image.
        graph = {(name, *tail): (_read_file_chunk, path, 0, None, options)}
        chunks: tuple[tuple[int, ...], ...] = tuple((s,) for s in frame_shape)
    else:
        starts = range(0, n, fpc)
        graph = {(name, k, *tail): (_read_file_chunk, path, a, min(a + fpc, n), options)
                 for k, a in enumerate(starts)}
        chunks = (tuple(min(fpc, n - a) for a in starts),
                  *((s,) for s in frame_shape))
    meta = np.empty((0,) * len(chunks), dtype)
    return da.Array(graph, name, chunks, dtype=dtype, meta=meta)


def _series_array(series: Series, fpc: int, options: _Decode) -> dask.array.Array:
    da = _require_dask()
    from dask.base import tokenize

    backend = options.backend
    # slice_tasks is the series' own recipe per slice: path, frame, the
    # modality LUT to apply (None: none) and the dtype read() would give.
    tasks = series.slice_tasks(rescale=options.rescale, color=options.color,
                               backend=backend)  # type: ignore[arg-type]
    items = [(os.path.abspath(t.args[0]), int(t.args[1]),
              _params(t.keywords.get("rescale"))) for t in tasks]
    dtype = np.dtype(tasks[0].keywords["dtype"])
    frame_shape = tuple(int(s) for s in series.shape[1:])
    stamps = {p: _stamp(p) for p in dict.fromkeys(p for p, _, _ in items)}
    name = "dicomio-series-" + tokenize(
        [(stamps[p], f, r) for p, f, r in items], frame_shape, dtype.str, fpc, options)
    tail = (0,) * len(frame_shape)
    n = len(items)
    starts = range(0, n, fpc)
    graph = {(name, k, *tail): (_read_series_chunk, tuple(items[a:a + fpc]),
                                frame_shape, dtype.str, options)
             for k, a in enumerate(starts)}
    chunks = (tuple(min(fpc, n - a) for a in starts), *((s,) for s in frame_shape))
    meta = np.empty((0,) * len(chunks), dtype)
    return da.Array(graph, name, chunks, dtype=dtype, meta=meta)


def _params(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    return (float(value[0]), float(value[1]))


def _pick_series(source: str | list[str], pick: int | str | None) -> Series:
    """The one series in a folder, DICOMDIR or file list (or the one picked)."""
    from ..series import scan

    result = scan(source)
    found = result.series
    where = repr(source) if isinstance(source, str) else "the files given"
    if not found:
        skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
        raise SeriesError(f"no image series in {where}"
                          + (f" (skipped: {skips})" if skips else ""))
    if pick is None:
        if len(found) == 1:
            return found[0]
        raise SeriesError(
            f"{where} holds {len(found)} series; pass series= (an index or a key) "
            "or a Series from dicomio.series.scan():\n" + _listing(found))
    if isinstance(pick, (int, np.integer)) and not isinstance(pick, bool):
        if not -len(found) <= int(pick) < len(found):
            raise SeriesError(f"series index {pick} out of range: {len(found)} "
                              f"series in {where}:\n" + _listing(found))
        return found[int(pick)]
    chosen = [s for s in found if s.key == pick] or [s for s in found if s.uid == pick]
    if len(chosen) != 1:
        what = "no series" if not chosen else f"{len(chosen)} volumes for"
        raise SeriesError(f"{what} {pick!r} in {where}:\n" + _listing(found))
    return chosen[0]


def _listing(found: Sequence[Series]) -> str:
    return "\n".join(f"  [{i}] {s.label} {s.modality} {s.n_slices} slice(s) "
                     f"key={s.key}" for i, s in enumerate(found))


# ---------------------------------------------------------------------------
# Bulk jobs: one task per file
# ---------------------------------------------------------------------------
def _describe(exc: BaseException) -> str:
    if isinstance(exc, DicomioError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _attempt(work: Callable[[], Any], retries: int) -> Any:
    """Run ``work``; retry unexpected errors (not DicomioError) ``retries`` times.

    A DicomioError means the file itself is bad, so trying again cannot help.
    Other errors (an ``OSError`` on a network file system, say) may be
    transient.
    """
    for attempt in range(retries + 1):
        try:
            return work()
        except DicomioError:
            raise
        except Exception:
            if attempt >= retries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _stage_path(dest: str) -> str:
    """The private staging folder for ``dest``: ``.dicomio-<name>.part``."""
    folder, name = os.path.split(os.path.abspath(dest))
    return os.path.join(folder, f"{_STAGE_PREFIX}{name}{_STAGE_SUFFIX}")


def _clear_stage(dest: str) -> None:
    """Remove what a killed earlier attempt at ``dest`` left behind."""
    stage = _stage_path(dest)
    if os.path.isdir(stage) and not os.path.islink(stage):
        shutil.rmtree(stage, ignore_errors=True)
    elif os.path.lexists(stage):
        os.unlink(stage)


def _decompress_atomic(source: str, dest: str, options: _Decode) -> None:
    from ..encode.decompress import decompress

    dest = os.path.abspath(dest)
    if os.path.exists(dest) and os.path.exists(source) and os.path.samefile(source,
                                                                            dest):
        raise DicomioError("decompress will not overwrite its source; choose "
                           "another output path", path=source)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    _clear_stage(dest)
    stage = _stage_path(dest)
    os.mkdir(stage)
    try:
        staged = os.path.join(stage, os.path.basename(dest))
        # decompress writes atomically inside the stage folder; the rename
        # below publishes the finished file under its final name.
        decompress(source, staged, color=options.color,
                   backend=options.backend,  # type: ignore[arg-type]
                   threads=options.threads)
        os.replace(staged, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def output_complete(source: str | os.PathLike[str],
                    dest: str | os.PathLike[str]) -> bool:
    """True when ``dest`` is a finished uncompressed copy of ``source``.

    Checks headers and sizes only, nothing is decoded: ``dest`` is at least
    as new as ``source``, is Explicit VR Little Endian, has the same SOP
    Instance UID, Rows, Columns, Samples per Pixel and Number of Frames, and
    its Pixel Data element holds every byte its header promises.
    :func:`decompress_many` skips such outputs.
    """
    import pydicom

    source, dest = os.fspath(source), os.fspath(dest)
    try:
        if not os.path.isfile(dest) or os.path.getmtime(dest) < os.path.getmtime(source):
            return False
        src = pydicom.dcmread(source, stop_before_pixels=True)
        with open(dest, "rb") as fh:
            out = pydicom.dcmread(fh, stop_before_pixels=True)
            start = fh.tell()
            head = fh.read(12)
            size = os.fstat(fh.fileno()).st_size
        meta = getattr(out, "file_meta", None)
        if meta is None or str(meta.get("TransferSyntaxUID", "")) != _EXPLICIT_VR_LE:
            return False
        for kw in ("SOPInstanceUID", "Rows", "Columns"):
            if src.get(kw) is None or src.get(kw) != out.get(kw):
                return False
        frames = int(src.get("NumberOfFrames", 1) or 1)
        samples = int(src.get("SamplesPerPixel", 1) or 1)
        if (int(out.get("NumberOfFrames", 1) or 1) != frames
                or int(out.get("SamplesPerPixel", 1) or 1) != samples):
            return False
        if len(head) < 12:
            return False
        tag = (int.from_bytes(head[0:2], "little"), int.from_bytes(head[2:4], "little"))
        if tag not in _PIXEL_TAGS:
            return False
        length = int.from_bytes(head[8:12], "little")
        bits = int(out.get("BitsAllocated", 8) or 8)
        n_values = int(out.Rows) * int(out.Columns) * samples * frames
        expected = (n_values + 7) // 8 if bits == 1 else n_values * (bits // 8)
        return length != 0xFFFFFFFF and length >= expected and start + 12 + length <= size
    except Exception:  # unreadable or foreign file: not a finished output
        return False


def _decompress_task(source: str, dest: str, *, overwrite: bool, retries: int,
                     options: _Decode) -> dict[str, Any]:
    """One file: skip a finished output, else decompress atomically; never raises."""
    report: dict[str, Any] = {"source": source, "dest": dest, "ok": False,
                              "error": None, "skipped": False}
    try:
        if not overwrite and output_complete(source, dest):
            _clear_stage(dest)
            report.update(ok=True, skipped=True)
            return report
        _attempt(lambda: _decompress_atomic(source, dest, options), retries)
        report["ok"] = True
    except Exception as exc:  # reported per file, never raised
        report["error"] = _describe(exc)
    return report


def _decode_task(source: str, *, retries: int, options: _Decode) -> dict[str, Any]:
    """One file decoded whole; never raises."""
    report: dict[str, Any] = {"source": source, "ok": False, "error": None,
                              "array": None}

    def work() -> np.ndarray:
        with DicomImage(source, backend=options.backend, color=options.color,
                        threads=options.threads) as img:
            return img.read(rescale=options.rescale)

    try:
        report["array"] = _attempt(work, retries)
        report["ok"] = True
    except Exception as exc:  # reported per file, never raised
        report["error"] = _describe(exc)
    return report


def _is_client(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("submit", "map", "gather", "loop"))


def _run(func: Callable[..., dict[str, Any]], args: list[tuple[Any, ...]],
         kwargs: dict[str, Any], scheduler: Any, label: str,
         lost: Callable[[tuple[Any, ...], str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``func(*a, **kwargs)`` for every ``a`` on ``scheduler``; results in order."""
    if not args:
        return []
    if scheduler in ("distributed", "dask.distributed") or (
            scheduler is None and "distributed" in sys.modules):
        # dask.compute would use an active Client anyway; futures let one
        # lost file be reported instead of failing the whole batch.
        from distributed import default_client

        try:
            scheduler = default_client()
        except ValueError:
            if scheduler is not None:
                raise ValueError(f"scheduler={scheduler!r} needs a running "
                                 "distributed.Client") from None
    if isinstance(scheduler, str) and scheduler not in _LOCAL_SCHEDULERS:
        from distributed import Client

        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DicomioError(f"cannot connect to the dask scheduler at "
                               f"{scheduler!r}: {type(exc).__name__}: {exc}") from exc
        with client:
            return _run_futures(client, func, args, kwargs, label, lost)
    if scheduler is not None and _is_client(scheduler):
        return _run_futures(scheduler, func, args, kwargs, label, lost)
    import dask

    tasks = [dask.delayed(func, pure=False)(*a, **kwargs) for a in args]
    return list(dask.compute(*tasks, scheduler=scheduler))


def _run_futures(client: Any, func: Callable[..., dict[str, Any]],
                 args: list[tuple[Any, ...]], kwargs: dict[str, Any], label: str,
                 lost: Callable[[tuple[Any, ...], str], dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    from distributed import as_completed

    run = uuid.uuid4().hex
    keys = [f"dicomio-{label}-{i}-{run}" for i in range(len(args))]
    # Keywords are bound, not passed to map: map has its own (retries=, ...).
    task = functools.partial(func, **kwargs)
    futures = client.map(task, *zip(*args), key=keys, pure=False)
    try:
        for _ in as_completed(futures, loop=client.loop, raise_errors=False):
            pass
        done = [f for f in futures if f.status == "finished"]
        values = iter(client.gather(done))
        out = []
        for a, f in zip(args, futures):
            if f.status == "finished":
                out.append(next(values))
            else:
                # Only failures outside the task (it catches its own): a worker
                # that died on every attempt (KilledWorker), a cancellation.
                exc = f.exception()
                out.append(lost(a, _describe(exc) if exc is not None else f.status))
        return out
    finally:
        client.cancel(futures)


def decompress_many(
    sources: Sequence[str | os.PathLike[str]],
    dests: Sequence[str | os.PathLike[str]],
    *,
    scheduler: Any = None,
    retries: int = 1,
    overwrite: bool = False,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    threads: int | None = 1,
) -> list[dict[str, Any]]:
    """Write uncompressed copies of many files, one dask task per file.

    Each output is produced by :func:`dicomio.decompress` in a private
    staging folder next to it (``.dicomio-<name>.part``), then renamed into
    place. A worker killed mid-file therefore never leaves a partial output
    under the final name. Its leftovers are removed when the file is tried
    again (dask.distributed reschedules the task, or you re-run the call).
    Outputs that already exist and are complete (:func:`output_complete`)
    are skipped, so a re-run redoes only what is missing.

    Parameters
    ----------
    sources, dests : sequence of paths
        Source file and output path, pairwise. Output folders are created.
        Two sources may not share an output.
    scheduler : None, str or distributed.Client
        None: dask's default (local threads, or the active
        ``distributed.Client`` if there is one). ``"threads"``,
        ``"processes"`` or ``"sync"``: that local scheduler. A
        ``distributed.Client``: its cluster. Any other string: the address of
        a running scheduler (``"tcp://10.0.0.5:8786"``), connected for this
        call and then disconnected.
    retries : int
        Extra attempts for a file failing with an unexpected error (an
        ``OSError`` on a network file system, say). A :class:`DicomioError`
        is final: the file itself is bad. A worker that *dies* is handled by
        dask.distributed, which reruns its tasks elsewhere (up to
        ``distributed.scheduler.allowed-failures`` times).
    overwrite : bool
        Rewrite outputs even when they are complete.
    color, backend, threads
        As for :func:`dicomio.decompress`. ``threads`` is per task.

    Returns
    -------
    list of dict
        One per source, in order: ``{"source", "dest", "ok", "error",
        "skipped"}``. ``error`` is None or the message (a DicomioError names
        the file, frame, Transfer Syntax and backends tried); ``skipped`` is
        True when a complete output was kept.

    Raises
    ------
    ValueError
        When ``sources`` and ``dests`` differ in length or outputs repeat.
    """
    srcs = [os.fspath(s) for s in sources]
    dsts = [os.fspath(d) for d in dests]
    if len(srcs) != len(dsts):
        raise ValueError(f"{len(srcs)} sources but {len(dsts)} destinations")
    seen: dict[str, str] = {}
    for s, d in zip(srcs, dsts):
        key = os.path.normcase(os.path.abspath(d))
        if key in seen:
            raise ValueError(f"{seen[key]!r} and {s!r} would both be written to {d!r}")
        seen[key] = s
    if retries < 0:
        raise ValueError(f"retries must be >= 0, not {retries}")
    options = _options(False, color, backend, threads)

    def lost(a: tuple[Any, ...], error: str) -> dict[str, Any]:
        return {"source": a[0], "dest": a[1], "ok": False, "error": error,
                "skipped": False}

    return _run(_decompress_task, list(zip(srcs, dsts)),
                {"overwrite": bool(overwrite), "retries": int(retries),
                 "options": options}, scheduler, "decompress", lost)


def decode_many(
    sources: Sequence[str | os.PathLike[str]],
    *,
    scheduler: Any = None,
    retries: int = 1,
    rescale: bool = False,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    threads: int | None = 1,
) -> list[dict[str, Any]]:
    """Decode many files, one dask task per file, into in-memory arrays.

    Every decoded array travels back to the caller, so this suits many
    files that fit in memory together. For a large volume, compute
    reductions of :func:`to_dask` on the cluster instead.

    Parameters
    ----------
    sources : sequence of paths
        The files.
    scheduler, retries
        As for :func:`decompress_many`.
    rescale, color, backend, threads
        As for :func:`dicomio.imread`; ``threads`` is per task.

    Returns
    -------
    list of dict
        One per source, in order: ``{"source", "ok", "error", "array"}``, with
        ``array`` the result of ``dicomio.imread(source)`` or None.
    """
    srcs = [os.fspath(s) for s in sources]
    if retries < 0:
        raise ValueError(f"retries must be >= 0, not {retries}")
    options = _options(rescale, color, backend, threads)

    def lost(a: tuple[Any, ...], error: str) -> dict[str, Any]:
        return {"source": a[0], "ok": False, "error": error, "array": None}

    return _run(_decode_task, [(s,) for s in srcs],
                {"retries": int(retries), "options": options}, scheduler,
                "decode", lost)
