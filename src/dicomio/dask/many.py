"""Bulk jobs on dask: one task per file, one report per file.

:func:`decompress_many` writes every output atomically (a staging folder,
then a rename) and a re-run redoes only the outputs that are missing
(:func:`output_complete`); :func:`decode_many` brings decoded arrays back.
A bad file never stops the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import tsyntax
from ..errors import DicomioError
from ..image import DicomImage
from ..series.lazy import Decode, decode_options

if TYPE_CHECKING:
    from ..encode.repair import Repair

__all__ = ["decompress_many", "decode_many", "output_complete", "transcode_many"]

_LOCAL_SCHEDULERS = ("threads", "threading", "processes", "multiprocessing",
                     "sync", "synchronous", "single-threaded")
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_STAGE_PREFIX = ".dicomio-"
_STAGE_SUFFIX = ".part"


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


@contextlib.contextmanager
def _staged(dest: str) -> Iterator[str]:
    """A path in a fresh staging folder beside ``dest``, moved onto ``dest``
    when the block succeeds; the folder is removed either way."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    _clear_stage(dest)
    stage = _stage_path(dest)
    os.mkdir(stage)
    try:
        staged = os.path.join(stage, os.path.basename(dest))
        yield staged
        os.replace(staged, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _decompress_atomic(source: str, dest: str, options: Decode,
                       on_error: str = "raise") -> Repair | None:
    from ..encode.decompress import decompress_file

    dest = os.path.abspath(dest)
    if os.path.exists(dest) and os.path.exists(source) and os.path.samefile(source,
                                                                            dest):
        raise DicomioError("decompress will not overwrite its source; choose "
                           "another output path", path=source)
    with _staged(dest) as staged:
        # decompress writes atomically inside the stage folder; leaving the
        # block publishes the finished file under its final name.
        _, repair = decompress_file(source, staged, color=options.color,
                                    backend=options.backend,  # type: ignore[arg-type]
                                    threads=options.threads, on_error=on_error)
    return repair


def output_complete(source: str | os.PathLike[str],
                    dest: str | os.PathLike[str]) -> bool:
    """True when ``dest`` is a finished uncompressed copy of ``source``.

    Checks headers and sizes only, nothing is decoded: ``dest`` is at least
    as new as ``source``, is Explicit VR Little Endian, has the same SOP
    Instance UID, Rows, Columns, Samples per Pixel and Number of Frames, and
    its Pixel Data element holds every byte its header promises.
    :func:`decompress_many` skips such outputs. A repaired copy (written
    with ``on_error``: a new SOP Instance UID, and the source's in its Source
    Image Sequence) counts as finished too.
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
        if meta is None or str(meta.get("TransferSyntaxUID", "")) != tsyntax.EXPLICIT_VR_LITTLE_ENDIAN:
            return False
        for kw in ("Rows", "Columns"):
            if src.get(kw) is None or src.get(kw) != out.get(kw):
                return False
        uid = src.get("SOPInstanceUID")
        if uid is None or (out.get("SOPInstanceUID") != uid and not any(
                item.get("ReferencedSOPInstanceUID") == uid
                for item in out.get("SourceImageSequence") or [])):
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


def _repaired(report: dict[str, Any], repair: Repair | None) -> None:
    """Put the frames ``repair`` wrote repaired into ``report``."""
    if repair is not None:
        report.update(failed_frames=repair.report(), note=repair.note(report["dest"]))


def _warn_repaired(reports: list[dict[str, Any]]) -> None:
    """One DicomioWarning per repaired file, in the calling process (the
    tasks may have run on other machines)."""
    from ..encode.repair import warn_note

    for r in reports:
        if r.get("failed_frames") and r.get("note"):
            warn_note(r["source"], r["note"], stacklevel=4)


def _decompress_task(source: str, dest: str, *, overwrite: bool, retries: int,
                     options: Decode, on_error: str = "raise") -> dict[str, Any]:
    """One file: skip a finished output, else decompress atomically; never raises."""
    report: dict[str, Any] = {"source": source, "dest": dest, "ok": False,
                              "error": None, "skipped": False, "note": None,
                              "failed_frames": {}}
    try:
        if not overwrite and output_complete(source, dest):
            _clear_stage(dest)
            report.update(ok=True, skipped=True)
            return report
        _repaired(report, _attempt(
            lambda: _decompress_atomic(source, dest, options, on_error), retries))
        report["ok"] = True
    except Exception as exc:  # reported per file, never raised
        report["error"] = _describe(exc)
    return report


def _decode_task(source: str, *, retries: int, options: Decode,
                 on_error: str = "raise") -> dict[str, Any]:
    """One file decoded whole; never raises."""
    from ..image.tolerance import failed_dict, failed_summary

    report: dict[str, Any] = {"source": source, "ok": False, "error": None,
                              "array": None, "note": None, "failed_frames": {}}

    def work() -> np.ndarray:
        with DicomImage(source, backend=options.backend, color=options.color,
                        threads=options.threads) as img:
            img._quiet_failures = True  # warned in the caller, from the report
            arr = img.read(rescale=options.rescale, on_error=on_error)
            failed = img.failed_frames
            if failed:
                report.update(failed_frames=failed_dict(failed), note=failed_summary(
                    img.n_frames, sorted(failed.items())))
            return arr

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
    on_error: str = "raise",
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
    on_error : {"raise", "recover", "fill"}
        As for :func:`dicomio.decompress`: by default a file with a frame
        that fails is reported as failed and not written; ``"fill"`` and
        ``"recover"`` write it as a repaired copy, listed in its report, with
        one :class:`~dicomio.DicomioWarning` per such file raised here, in
        the calling process. ``"skip"`` is refused (``ValueError``).

    Returns
    -------
    list of dict
        One per source, in order: ``{"source", "dest", "ok", "error",
        "skipped", "note", "failed_frames"}``. ``error`` is None or the
        message (a DicomioError names the file, frame, Transfer Syntax and
        backends tried); ``skipped`` is True when a complete output was kept;
        ``failed_frames`` lists the frames written repaired (``{"3":
        {"action", "error", "missing_rows", "missing_bytes"}}``, empty when
        none) and ``note`` sums them up (else None).

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
    from ..encode.repair import check_write_on_error

    check_write_on_error(on_error, "decompress")
    options = decode_options(False, color, backend, threads)

    def lost(a: tuple[Any, ...], error: str) -> dict[str, Any]:
        return {"source": a[0], "dest": a[1], "ok": False, "error": error,
                "skipped": False, "note": None, "failed_frames": {}}

    reports = _run(_decompress_task, list(zip(srcs, dsts)),
                   {"overwrite": bool(overwrite), "retries": int(retries),
                    "options": options, "on_error": on_error}, scheduler,
                   "decompress", lost)
    _warn_repaired(reports)
    return reports


def decode_many(
    sources: Sequence[str | os.PathLike[str]],
    *,
    scheduler: Any = None,
    retries: int = 1,
    rescale: bool = False,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    threads: int | None = 1,
    on_error: str = "raise",
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
    rescale, color, backend, threads, on_error
        As for :func:`dicomio.imread`; ``threads`` is per task. The frames a
        read with ``on_error`` went on without are in the report, with one
        :class:`~dicomio.DicomioWarning` per such file raised here.

    Returns
    -------
    list of dict
        One per source, in order: ``{"source", "ok", "error", "array",
        "note", "failed_frames"}``, with ``array`` the result of
        ``dicomio.imread(source, on_error=...)`` or None, ``failed_frames``
        as in :func:`decompress_many` and ``note`` their summary.
    """
    srcs = [os.fspath(s) for s in sources]
    if retries < 0:
        raise ValueError(f"retries must be >= 0, not {retries}")
    from ..image.tolerance import check_on_error

    check_on_error(on_error)
    options = decode_options(rescale, color, backend, threads)

    def lost(a: tuple[Any, ...], error: str) -> dict[str, Any]:
        return {"source": a[0], "ok": False, "error": error, "array": None,
                "note": None, "failed_frames": {}}

    reports = _run(_decode_task, [(s,) for s in srcs],
                   {"retries": int(retries), "options": options,
                    "on_error": on_error}, scheduler, "decode", lost)
    _warn_repaired(reports)
    return reports


def _transcode_task(source: str, dest: str, *, transfer_syntax: str, retries: int,
                    options: dict[str, Any]) -> dict[str, Any]:
    """One file transcoded (atomically, inside a staging folder), or copied
    unchanged when it has no pixel data; never raises."""
    from ..encode.folder import copy_if_no_pixels
    from ..encode.transcode import transcode_file

    report: dict[str, Any] = {"source": source, "dest": dest, "ok": False,
                              "error": None, "skipped": False, "action": "failed",
                              "note": None, "failed_frames": {}}

    def work() -> tuple[str | None, Repair | None]:
        with _staged(os.path.abspath(dest)) as staged:
            try:
                _, repair = transcode_file(source, staged, transfer_syntax,
                                           **options)
                note = None
            except DicomioError:
                # DICOMDIRs, reports, presentation states: copied unchanged.
                note, repair = copy_if_no_pixels(source, staged), None
                if note is None:
                    raise
        return note, repair

    try:
        note, repair = _attempt(work, retries)
        report.update(ok=True, action="copied" if note else "transcoded",
                      skipped=bool(note), note=note)
        _repaired(report, repair)
    except Exception as exc:  # reported per file, never raised
        report["error"] = _describe(exc)
    return report


def transcode_many(
    sources: Sequence[str | os.PathLike[str]],
    dests: Sequence[str | os.PathLike[str]],
    transfer_syntax: str = "HTJ2KLossless",
    *,
    scheduler: Any = None,
    retries: int = 1,
    level: float | int | None = None,
    threads: int | None = 1,
    on_error: str = "raise",
) -> list[dict[str, Any]]:
    """Transcode many files with :func:`dicomio.transcode`, one dask task per file.

    Same scheduling, staging and per-file reports as :func:`decompress_many`
    (``scheduler`` a local scheduler name, a ``distributed.Client`` or a
    scheduler address); a bad file is reported and the others go on. DICOM
    objects without pixel data (DICOMDIR, SR, presentation states, ...) are
    copied unchanged, as in a folder run of :func:`dicomio.transcode`; once
    every task is done, each copied DICOMDIR is updated here (in the calling
    process) to name the Transfer Syntax and SOP Instance UID of the files
    written (:func:`dicomio.encode.folder.update_dicomdir`).

    ``on_error`` is :func:`dicomio.transcode`'s: by default a file with a
    frame that fails is reported as failed and not written; ``"fill"`` and
    ``"recover"`` write it as a repaired copy, listed in its report
    (``failed_frames``, ``note``), with one :class:`~dicomio.DicomioWarning`
    per such file raised here, in the calling process.

    Returns
    -------
    list of dict
        One per source, in order: ``{"source", "dest", "ok", "error",
        "skipped", "action", "note", "failed_frames"}``. ``action`` is
        ``"transcoded"``, ``"copied"`` (then ``skipped`` is True and ``note``
        says why) or ``"failed"``; ``failed_frames`` as in
        :func:`decompress_many`.
    """
    srcs = [os.fspath(s) for s in sources]
    dsts = [os.fspath(d) for d in dests]
    if len(srcs) != len(dsts):
        raise ValueError(f"{len(srcs)} sources but {len(dsts)} destinations")
    tsyntax.lookup(transfer_syntax)  # an unknown syntax fails here, not per file
    from ..encode.repair import check_write_on_error

    check_write_on_error(on_error, "transcode")

    def lost(a: tuple[Any, ...], error: str) -> dict[str, Any]:
        return {"source": a[0], "dest": a[1], "ok": False, "error": error,
                "skipped": False, "action": "failed", "note": None,
                "failed_frames": {}}

    reports = _run(_transcode_task, list(zip(srcs, dsts)),
                   {"transfer_syntax": str(transfer_syntax), "retries": int(retries),
                    "options": {"level": level, "threads": threads,
                                "on_error": on_error}},
                   scheduler, "transcode", lost)
    from ..encode.folder import finish_dicomdirs

    finish_dicomdirs(reports)
    _warn_repaired(reports)
    return reports
