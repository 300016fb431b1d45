"""The check every command makes on its input before doing any work.

A missing path, an empty file, a file that is not DICOM and a folder with no
DICOM file in it each give one line naming the path and the reason (exit
status 2), before anything is decoded, written or shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..dataset.tolerant import starts_like_dataset
from ..sources.remote import is_url

__all__ = ["InputError", "check_input", "is_dicom_file", "looks_like_dicom", "scan",
           "series_folder", "walk"]

# How many files of a folder are looked at before it is called DICOM-free.
_MAX_LOOKED_AT = 10_000


class InputError(Exception):
    """An input the command cannot use; ``str()`` is ``PATH: reason``."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _head(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(512)


def looks_like_dicom(head: bytes) -> bool:
    """The first 512 bytes of a file: ``DICM`` at byte 128 (or 0), or a data
    set without preamble (ACR-NEMA, stripped meta) whose first elements are
    plausible. The same rule as the folder scan's
    (:func:`dicomio.dataset.tolerant.starts_like_dataset`)."""
    return starts_like_dataset(head)


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """``DICM`` at byte 128 (the DICOM file format); never raises."""
    try:
        return _head(path)[128:132] == b"DICM"
    except OSError:
        return False


def _probe(path: Path) -> bool:
    try:
        return looks_like_dicom(_head(path))
    except OSError:
        return False


def walk(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted, hidden folders left out."""
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files))
    return out


def file_jobs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a folder's DICOM files with its layout kept, or one file
    (into ``dst`` when that is a folder)."""
    if src.is_dir():
        return [(p, dst / p.relative_to(src)) for p in walk(src) if is_dicom_file(p)]
    return [(src, dst / src.name if dst.is_dir() else dst)]


def check_input(path: str | os.PathLike[str], *, folders: bool = True) -> None:
    """Raise :class:`InputError` unless ``path`` can be a command's input.

    A file must exist, be readable and non-empty, and look like DICOM
    (:func:`looks_like_dicom`; opening it then says what else is wrong). A
    folder must hold at least one file that looks like DICOM.
    """
    if is_url(os.fspath(path)):
        return  # read remotely: the server answers for it (see docs/web.md)
    p = Path(path)
    if not p.exists():
        raise InputError(path, "no such file or folder")
    if p.is_dir():
        if not folders:
            raise InputError(path, "is a folder; this command takes a file")
        _check_folder(p)
        return
    try:
        head = _head(p)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if not head:
        raise InputError(path, "empty file (0 bytes), not DICOM")
    if not looks_like_dicom(head):
        raise InputError(path, "not a DICOM file (no 'DICM' prefix at byte 128 "
                         "and no DICOM header at its start)")


def _check_folder(folder: Path) -> None:
    looked = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            looked += 1
            if _probe(Path(root) / name):
                return
            if looked >= _MAX_LOOKED_AT:
                return  # a huge tree: let the command's scan decide
    what = f"{looked} file{'s' if looked != 1 else ''}" if looked else "no files"
    raise InputError(folder, f"no DICOM file in this folder ({what} looked at)")


def scan(path: str, reporter: Any) -> Any:
    """:func:`dicomio.series.scan` with a progress bar, its warnings printed
    (each naming the file, or for a series the folder holding it)."""
    import warnings

    from .. import series

    with reporter.progress(0, "scanning") as bar, reporter.warnings_of(path), \
            warnings.catch_warnings():
        # Series warnings are printed below, naming their folder; scan()
        # also issues them as Python warnings.
        warnings.simplefilter("ignore", series.SeriesWarning)
        result = series.scan(path, progress=reporter.scan_callback(bar))
    attributed = {t for texts in result.file_warnings.values() for t in texts}
    for file, texts in result.file_warnings.items():
        for text in texts:
            reporter.warn(file, text)
    for text in result.header_warnings:
        if text not in attributed:
            reporter.warn(path, text)
    for s in result.series:
        for text in s.warnings:
            reporter.warn(series_folder(s), f"{s.label}: {text}")
    return result


def series_folder(s: Any) -> str:
    """The folder holding a series' files (its one file when alone)."""
    paths = [str(p) for p, _ in s.slices]
    if len(set(paths)) == 1:
        return paths[0]
    try:
        return os.path.commonpath(paths)
    except ValueError:  # different drives
        return paths[0]
