"""Transcode a whole folder into a complete copy of the archive.

Images are re-encoded with :func:`dicomio.transcode`. DICOM objects without
pixel data (DICOMDIRs, structured reports, presentation states, key object
selections, ...) are copied byte for byte, so the output folder is the whole
archive again, and each DICOMDIR is then updated so that its records name the
Transfer Syntax (and, after a lossy transcode, the new SOP Instance UID) of
the files it now points at. Its record structure and every relative path stay
as they were: the layout of the folder is kept. A file that fails is reported
and the others go on.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import DicomioError
from .atomic import atomic_write

__all__ = ["copy_if_no_pixels", "finish_dicomdirs", "folder_jobs", "transcode_folder", "transcode_member",
           "update_dicomdir"]

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, float, double
_SOP_CLASS = 0x00080016
_ROWS = 0x00280010
_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"


def folder_jobs(src: str | os.PathLike[str], dst: str | os.PathLike[str]
                ) -> list[tuple[Path, Path]]:
    """(input, output) pairs for every DICOM file under ``src`` (``DICM`` at byte
    128), sorted, hidden folders left out, the layout kept under ``dst``."""
    top, out = Path(src), Path(dst)
    jobs: list[tuple[Path, Path]] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            try:
                with open(path, "rb") as fh:
                    if fh.read(132)[128:] != b"DICM":
                        continue
            except OSError:
                continue
            jobs.append((path, out / path.relative_to(top)))
    return jobs


def _without_pixels(path: Path) -> str | None:
    """Why ``path`` has nothing to transcode (its SOP Class), or None if it has
    pixel data, should have (an image truncated before its pixels) or cannot
    be read: those are failures, never copies."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, specific_tags=[_SOP_CLASS, _ROWS, *_PIXEL_TAGS],
                             defer_size=1024, force=True)
    except Exception:
        return None
    if any(t in ds for t in (_ROWS, *_PIXEL_TAGS)):
        return None
    meta = getattr(ds, "file_meta", None)
    uid = str(ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID", "")
                                        if meta is not None else ""))
    if uid == _DIRECTORY_STORAGE:
        return "no pixel data (DICOMDIR)"
    name = pydicom.uid.UID(uid).name if uid else ""
    if not uid or "Image" in name:
        return None  # an image without its pixels, or no SOP Class: suspect
    return f"no pixel data ({name})"


def copy_if_no_pixels(src: str | os.PathLike[str], dst: str | os.PathLike[str]
                      ) -> str | None:
    """Copy ``src`` unchanged to ``dst`` (atomically) if it is a DICOM object
    without pixel data; return why (``"no pixel data (DICOMDIR): copied
    unchanged"``), or None (nothing copied) if it has pixels or is unreadable."""
    a, b = Path(src), Path(dst)
    reason = _without_pixels(a)
    if reason is None:
        return None
    if b.exists() and os.path.samefile(a, b):
        raise DicomioError("will not overwrite the source; choose another output "
                           "path", path=str(a))
    with open(a, "rb") as fh:
        atomic_write(b, lambda out: shutil.copyfileobj(fh, out), suffix=".tmp")
    return f"{reason}: copied unchanged"


def transcode_member(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                     transfer_syntax: str, **options: Any) -> dict[str, Any]:
    """Transcode one file of a folder run, or copy it if it has no pixels.

    Never raises. Returns ``{"source", "dest", "ok", "action", "error",
    "note", "failed_frames"}``: ``action`` is ``"transcoded"``, ``"copied"``
    (a DICOM object without pixel data, copied unchanged; ``note`` says
    which) or ``"failed"`` (``error`` says why). With ``on_error="fill"`` or
    ``"recover"`` in ``options``, a file whose frames failed is written as a
    repaired copy: ``failed_frames`` lists them (``{"3": {"action", "error",
    "missing_rows", "missing_bytes"}}``), ``note`` sums them up, and one
    :class:`~dicomio.DicomioWarning` says so.
    """
    from .transcode import transcode_file

    a, b = Path(src), Path(dst)
    report: dict[str, Any] = {"source": str(a), "dest": str(b), "ok": False,
                              "action": "failed", "error": None, "note": None,
                              "failed_frames": {}}
    try:
        b.parent.mkdir(parents=True, exist_ok=True)
        _, repair = transcode_file(a, b, transfer_syntax, **options)
        report.update(ok=True, action="transcoded")
        if repair is not None:
            report.update(note=repair.note(str(b)), failed_frames=repair.report())
            repair.warn(str(b))
        return report
    except Exception as exc:  # reported per file, never raised
        error = str(exc) if isinstance(exc, DicomioError) else \
            f"{type(exc).__name__}: {exc}"
    try:
        note = copy_if_no_pixels(a, b)
    except Exception as exc:
        report["error"] = f"{error}; copying it unchanged failed: {exc}"
        return report
    if note is None:
        report["error"] = error
    else:
        report.update(ok=True, action="copied", note=note)
    return report


def update_dicomdir(path: str | os.PathLike[str]) -> int:
    """Make the records of the DICOMDIR at ``path`` describe the files it names.

    For every record that references a file, Referenced Transfer Syntax UID
    in File and Referenced SOP Instance UID in File are set from that file's
    File Meta Information. The record tree, the relative paths and every other
    element are kept; the offsets are recomputed (pydicom's File-set writer).
    Records of missing files are left as they are. Returns the number of
    values changed; the file is rewritten (atomically) only if one changed.
    Call it in one thread: it silences pydicom's warnings about missing files
    while it reads the DICOMDIR.
    """
    from pydicom.filebase import DicomFileLike
    from pydicom.filereader import read_file_meta_info
    from pydicom.fileset import FileSet

    with warnings.catch_warnings():
        # pydicom warns about records whose file is missing (a failed file).
        warnings.simplefilter("ignore")
        fs = FileSet(os.fspath(path))
    try:
        changed = 0
        for instance in fs:
            try:
                meta = read_file_meta_info(instance.path)
            except Exception:
                continue
            record = instance.node._record
            for keyword, value in (
                    ("ReferencedTransferSyntaxUIDInFile",
                     meta.get("TransferSyntaxUID")),
                    ("ReferencedSOPInstanceUIDInFile",
                     meta.get("MediaStorageSOPInstanceUID"))):
                if value and record.get(keyword) != value:
                    setattr(record, keyword, value)
                    changed += 1
        if changed:
            atomic_write(path, lambda fh: fs._write_dicomdir(DicomFileLike(fh)),
                         suffix=".tmp")
        return changed
    finally:
        stage = getattr(fs, "_stage", {}).get("t")
        if stage is not None:
            stage.cleanup()  # the File-set's staging folder (unused here)


def finish_dicomdirs(reports: list[dict[str, Any]]) -> None:
    """Update the DICOMDIRs copied by a folder run (after every other file)."""
    for report in reports:
        if report["action"] != "copied" or "(DICOMDIR)" not in (report["note"] or ""):
            continue
        try:
            n = update_dicomdir(report["dest"])
        except Exception as exc:  # the copy stays; say why it is stale
            report["note"] += (f"; its records could not be updated "
                               f"({type(exc).__name__}: {exc})")
            continue
        if n:
            report["note"] += f"; {n} record values updated"


def transcode_folder(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    transfer_syntax: str,
    *,
    jobs: int | None = None,
    each: Callable[[dict[str, Any]], object] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Transcode every DICOM file under ``src`` into the same layout under ``dst``.

    See :func:`transcode_member` for the per-file report (one per file, in
    :func:`folder_jobs` order, with the frames repaired under ``on_error``) and the module documentation for what happens
    to files without pixel data and to DICOMDIRs. ``jobs`` files run at once
    (default: one per core; each file then decodes on one thread); ``each`` is
    called with every report as it finishes.
    """
    from .repair import check_write_on_error

    check_write_on_error(options.get("on_error", "raise"), "transcode")
    pairs = folder_jobs(src, dst)
    n_jobs = max(1, jobs or os.cpu_count() or 1)
    if n_jobs > 1 and options.get("threads") is None:
        options["threads"] = 1  # the cores go to whole files

    def one(job: tuple[Path, Path]) -> dict[str, Any]:
        report = transcode_member(job[0], job[1], transfer_syntax, **options)
        if each is not None:
            each(report)
        return report

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        reports = list(pool.map(one, pairs))
    finish_dicomdirs(reports)
    return reports
