"""Discovery: find the image files in folders, DICOMDIRs and file lists.

:func:`scan` reads headers only, turns each image file into records
(:mod:`.records`), skips what holds no pixels, and hands the records to
:mod:`.grouping`; :class:`ScanResult` is what it returns.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from ..dataset import tolerant
from ..errors import SeriesError
from ..sources.remote import is_url
from . import pacing
from .grouping import _assemble
from .reader import Series
from .records import _get, _int, _Rec, _records

_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_IMAGE_SOP_ROOT = "1.2.840.10008.5.1.4.1.1."
# Storage classes under the image root that hold no Pixel Data: whole
# families (every UID below the prefix) and single classes. Matching is on
# whole UID components, so "481.3" does not swallow "481.30".
_NON_IMAGE_FAMILIES = (
    "88",  # structured reports, key object selection
    "11",  # presentation states
    "9",  # waveforms
    "104",  # encapsulated PDF, CDA, STL, OBJ, MTL
    "78", "79", "80", "81", "82",  # ophthalmic measurements
    "200",  # protocol storage
)
_NON_IMAGE_CLASSES = frozenset(
    [f"481.{n}" for n in range(3, 24)]  # RT plans, records, structures
    + ["66", "66.1", "66.2", "66.3", "66.5", "66.6"]  # raw data, registrations
    + ["67", "68.1", "68.2", "77.1.5.3", "90.1", "91.1"]
)
# Outside the image root: DICOMDIR, hanging protocols, colour palettes,
# implant templates.
_NON_IMAGE_ROOTS = (
    "1.2.840.10008.1.3.10",
    "1.2.840.10008.5.1.4.38.",
    "1.2.840.10008.5.1.4.39.",
    "1.2.840.10008.5.1.4.43.",
    "1.2.840.10008.5.1.4.44.",
    "1.2.840.10008.5.1.4.45.",
)


class SeriesWarning(UserWarning):
    """A series could be assembled, but something about it needs attention."""



def _non_image_reason(sop_class: str) -> str | None:
    """A skip reason when the SOP Class holds no Pixel Data, else None."""
    if not sop_class:
        return None
    if any(sop_class == r or sop_class.startswith(r) for r in _NON_IMAGE_ROOTS):
        return _describe_class(sop_class)
    if sop_class.startswith(_IMAGE_SOP_ROOT):
        rest = sop_class[len(_IMAGE_SOP_ROOT):]
        if rest in _NON_IMAGE_CLASSES or any(
                rest == f or rest.startswith(f + ".") for f in _NON_IMAGE_FAMILIES):
            return _describe_class(sop_class)
    return None


def _describe_class(sop_class: str) -> str:
    name = pydicom.uid.UID(sop_class).name
    if sop_class == _MEDIA_STORAGE_DIRECTORY:
        return "DICOMDIR (a directory index, not an image)"
    return f"non-image object: {name}"



def _looks_like_dicom(head: bytes) -> bool:
    """Cheap test on a file's first bytes: the DICM magic, or a data set
    without preamble (ACR-NEMA style, or stripped File Meta) whose first
    elements are plausible in some encoding; anything else (text, PNG,
    ZIP, ...) is rejected without parsing."""
    return tolerant.starts_like_dataset(head)


@dataclass
class _Outcome:
    path: str
    records: list[_Rec] | None = None
    reason: str | None = None
    detail: str | None = None


_reading = threading.local()


def _keep_warning(caught: list[tuple[str | None, str]], message: Any,
                  category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    """``warnings.showwarning`` of a scan: keep the text and the file read."""
    caught.append((getattr(_reading, "path", None), str(message)))


def _scan_file_owned(path: str, known_class: str | None = None) -> _Outcome:
    """:func:`_scan_file`, with this thread's warnings attributed to ``path``."""
    _reading.path = path
    try:
        return _scan_file(path, known_class)
    finally:
        _reading.path = None


def _scan_file(path: str, known_class: str | None = None) -> _Outcome:
    """Read one file's header and turn it into records, or say why not."""
    if known_class is not None:
        # A DICOMDIR record told us the SOP Class: skip without opening.
        why = _non_image_reason(known_class)
        if why is not None:
            return _Outcome(path, reason=why)
    if not os.path.isfile(path):
        return _Outcome(path, reason="not found")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return _Outcome(path, reason="not DICOM")
    # One open for the magic test and the parse; the position pydicom stops
    # at (Pixel Data) goes to the records, so reading never parses again.
    with fh:
        try:
            head = fh.read(512)
        except OSError:
            return _Outcome(path, reason="not DICOM")
        if not _looks_like_dicom(head):
            return _Outcome(path, reason="not DICOM")
        # A header pydicom cannot parse (no preamble before 'DICM', a UN
        # sequence in a Big Endian file...) is read tolerantly (tell None:
        # the image reopens the file, and says what it assumed).
        ds: Dataset | None
        tell: int | None = None
        try:
            fh.seek(0)
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
            except pydicom.errors.InvalidDicomError:
                # No preamble: accept it only if it parses into a dataset with
                # an image's identity (a forced parse of junk yields neither).
                fh.seek(0)
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
                if "SOPClassUID" in ds or "Rows" in ds:
                    tell = fh.tell()
                else:
                    ds = _tolerant_header(fh, path)
                    if ds is None:
                        return _Outcome(path, reason="not DICOM")
            else:
                tell = fh.tell()
        except Exception as exc:  # pydicom raises many types on broken headers
            ds = _tolerant_header(fh, path)
            if ds is None:
                return _Outcome(path, reason="unreadable DICOM header",
                                detail=f"{type(exc).__name__}: {exc}")
    meta = getattr(ds, "file_meta", None)
    sop_class = str(_get(ds, "SOPClassUID", "") or
                    (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    why = _non_image_reason(sop_class)
    if why is not None:
        return _Outcome(path, reason=why)
    if "DirectoryRecordSequence" in ds:
        return _Outcome(path, reason=_describe_class(_MEDIA_STORAGE_DIRECTORY))
    rows, cols = _int(_get(ds, "Rows")), _int(_get(ds, "Columns"))
    if not rows or not cols:
        return _Outcome(path, reason="no image pixel module (Rows/Columns missing)")
    try:
        return _Outcome(path, records=_records(path, ds, tell))
    except Exception as exc:  # malformed values in an otherwise valid header
        return _Outcome(path, reason="unreadable DICOM header",
                        detail=f"{type(exc).__name__}: {exc}")


def _tolerant_header(fh: Any, path: str) -> Dataset | None:
    """The header read by :func:`dicomio.dataset.tolerant.read_header`, its
    notes issued as warnings (the scan collects them per file), or None."""
    try:
        head = tolerant.read_header(fh, path)
    except Exception:  # noqa: BLE001 - pydicom's reason is the one to give
        return None
    for note in head.notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return head.dataset


def _resolve_case(base: Path, parts: Sequence[str]) -> Path:
    """Join DICOMDIR file ID components, forgiving case (media are uppercase)."""
    path = base.joinpath(*parts)
    if path.exists():
        return path
    current = base
    for part in parts:
        candidate = current / part
        if not candidate.exists() and current.is_dir():
            matches = [c for c in current.iterdir() if c.name.upper() == part.upper()]
            candidate = matches[0] if matches else candidate
        current = candidate
    return current


def _dicomdir_entries(path: Path) -> list[tuple[str, str | None]]:
    """``(file, SOP Class UID or None)`` for every in-use record naming a file."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise SeriesError(f"cannot read DICOMDIR: {type(exc).__name__}: {exc}",
                          path=str(path)) from exc
    out = []
    for rec in _get(ds, "DirectoryRecordSequence", []):
        # 0x0000 marks a record the media creator deleted (PS3.3 F.3.2.2).
        if rec.get("RecordInUseFlag", 0xFFFF) == 0:
            continue
        file_id = rec.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        sop = rec.get("ReferencedSOPClassUIDInFile")
        target = _resolve_case(path.parent, [str(p) for p in parts])
        out.append((str(target), str(sop) if sop else None))
    return out


def _is_dicomdir(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == _MEDIA_STORAGE_DIRECTORY


def _walk(folder: Path, recursive: bool) -> list[str]:
    if not recursive:
        return sorted(str(p) for p in folder.iterdir() if p.is_file())
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files))
    return found


def _collect(
    source: Any, recursive: bool
) -> tuple[list[tuple[str, str | None]], dict[str, list[str]]]:
    """Files to read (with any SOP Class known from a DICOMDIR) and early skips."""
    items: list[Any]
    if isinstance(source, (str, os.PathLike)):
        top = Path(source)
        if not top.exists():
            raise FileNotFoundError(f"no such file or directory: {str(top)!r}")
        items = [top]
    else:
        items = [Path(p) for p in source]
    todo: list[tuple[str, str | None]] = []
    skipped: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.is_dir():
            todo.extend((p, None) for p in _walk(item, recursive))
        elif item.is_file() and _is_dicomdir(item):
            todo.extend(_dicomdir_entries(item))
        elif item.is_file():
            todo.append((str(item), None))
        else:
            skipped["not found"].append(str(item))
    # The same file may be listed twice (a folder and a file inside it).
    seen: dict[str, str | None] = {}
    for p, sop in todo:
        seen.setdefault(p, sop)
    return list(seen.items()), skipped


def scan(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    four_d: bool | None = None,
) -> ScanResult:
    """Find the image series in a folder, a DICOMDIR, a file or a list of paths.

    A DICOMweb study URL (all its series) or series URL
    (``http(s)://host/<prefix>/studies/{uid}[/series/{uid}]``) works too: the
    series, their sorting and geometry then come from one WADO-RS metadata
    request, and pixels are fetched only when read (see :doc:`/web`).

    Only headers are read (``stop_before_pixels``), in threads when the files
    are slow to open (see ``threads``). Files that are not DICOM, and DICOM objects without
    pixels (SR, RT Structure Set, RT Plan, presentation states, waveforms,
    ...), are skipped and reported in :attr:`ScanResult.skipped`.

    Parameters
    ----------
    source : path or iterable of paths
        A folder (walked), a DICOMDIR (its records are followed), a single
        file, or a list mixing those.
    recursive : bool
        Walk sub-folders of folders.
    threads : int, optional
        Header-reading threads. By default files are read one by one (parsing
        a header is Python work that holds the GIL, so threads slow down a
        scan of local or cached files) until a window of 16 files shows time
        spent blocked on I/O (a network share, a cold disk); the remaining
        files are then read in ``min(8, 2 * os.cpu_count())`` threads. An
        explicit ``threads=N`` uses N threads from the start.
    progress : callable, optional
        Called as ``progress(done, total)`` from the calling thread: once with
        ``done == 0`` before reading and after each file.
    auth : (user, password), optional
        HTTP Basic credentials for a URL source.
    token : str, optional
        A bearer token for a URL source.
    four_d : bool, optional
        Join the volumes of a dynamic series (the same positions per temporal
        position, echo, b-value, acquisition or enhanced dimension index) into
        one 4-D :class:`Series` reading as ``(t, z, y, x)`` (True), or keep one
        3-D part per volume (False). Default: 4-D for MR series, parts for
        the rest. Siemens MOSAIC series are 4-D unless ``four_d=False``.

    Returns
    -------
    ScanResult

    Raises
    ------
    FileNotFoundError
        When ``source`` is a single path that does not exist.
    SeriesError
        When a DICOMDIR cannot be read.

    Warns
    -----
    SeriesWarning
        Once per problem found while assembling a series (gaps, duplicate or
        missing positions, irregular spacing, sheared stacks).
    """
    if is_url(source):
        from . import _web

        return _web.scan_url(str(source), auth=auth, token=token)
    todo, skipped = _collect(source, recursive)
    n_files = len(todo) + len(skipped.get("not found", []))
    outcomes, caught = _read_headers(todo, threads, progress)
    records, errors = _keep(outcomes, skipped)
    series = _assemble(records, four_d)
    for s in series:
        for text in s.warnings:
            warnings.warn(SeriesWarning(f"{s.label}: {text}"), stacklevel=2)
    header_warnings: dict[str, int] = defaultdict(int)
    file_warnings: dict[str, list[str]] = defaultdict(list)
    for owner, text in caught:
        header_warnings[text] += 1
        if owner is not None and text not in file_warnings[owner]:
            file_warnings[owner].append(text)
    return ScanResult(series=series, skipped=dict(skipped), errors=errors,
                      n_files=n_files, header_warnings=dict(header_warnings),
                      file_warnings=dict(file_warnings))


def _read_headers(
    todo: list[tuple[str, str | None]],
    threads: int | None,
    progress: Callable[[int, int], Any] | None,
) -> tuple[list[_Outcome], list[tuple[str | None, str]]]:
    """Every file's outcome, in ``todo`` order, and pydicom's warnings with
    the file whose header raised each."""
    total = len(todo)
    if progress is not None:
        progress(0, total)
    # Parsing a header holds the GIL: threads only pay off while files wait
    # on I/O. By default files are read one by one, and the rest go to
    # threads once a window of files shows time spent blocked (see
    # pacing._slow_to_open); threads=N forces N threads from the start.
    adaptive = not threads
    n_threads = pacing.default_threads() if adaptive else max(1, threads or 1)
    outcomes: list[_Outcome] = []
    # pydicom warns about many harmless header quirks; thousands of files
    # would flood the user, and a "warnings are errors" setting would turn
    # them into skipped files. They are collected and reported instead.
    # (catch_warnings is process-wide: it also covers the worker threads,
    # and each thread knows which file it is reading.)
    caught: list[tuple[str | None, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = functools.partial(_keep_warning, caught)

        def scan_one(k: int) -> None:
            outcomes.append(_scan_file_owned(*todo[k]))
            if progress is not None:
                progress(k + 1, total)

        done = 0
        if adaptive:
            done = pacing.serially_while_fast(total, scan_one)
        elif n_threads == 1 or total <= 1:
            for done in range(total):
                scan_one(done)
            done = total
        if done < total:
            with pacing.ThreadPoolExecutor(max_workers=n_threads,
                                           thread_name_prefix="dicomio-scan") as pool:
                futures = [pool.submit(_scan_file_owned, p, sop)
                           for p, sop in todo[done:]]
                for fut in pacing.as_completed(futures):
                    outcomes.append(fut.result())
                    done += 1
                    if progress is not None:
                        progress(done, total)
    # as_completed order is arbitrary: keep results reproducible.
    order = {p: i for i, (p, _) in enumerate(todo)}
    outcomes.sort(key=lambda o: order[o.path])
    return outcomes, caught


def _keep(outcomes: list[_Outcome], skipped: dict[str, list[str]]
          ) -> tuple[list[_Rec], dict[str, str]]:
    """The records to group, with skips (added to ``skipped``) and errors."""
    errors: dict[str, str] = {}
    records: list[_Rec] = []
    seen_sop: set[tuple[str, int]] = set()
    for out in outcomes:
        if out.reason is not None:
            skipped[out.reason].append(out.path)
            if out.detail:
                errors[out.path] = out.detail
            continue
        assert out.records is not None
        first = out.records[0]
        if first.sop_uid and (first.sop_uid, 0) in seen_sop:
            # The same instance twice (a copy in another folder): one is enough.
            skipped["duplicate SOP Instance UID"].append(out.path)
            continue
        seen_sop.update((r.sop_uid, r.frame) for r in out.records if r.sop_uid)
        records.extend(out.records)
    return records, errors


@dataclass
class ScanResult:
    """What :func:`scan` found.

    Attributes
    ----------
    series : list of Series
        Ordered by study, SeriesNumber, SeriesInstanceUID and part.
    skipped : dict of str to list of str
        Paths not used, by reason (``"not DICOM"``, ``"non-image object: RT
        Structure Set Storage"``, ``"duplicate SOP Instance UID"``, ...).
    errors : dict of str to str
        For unreadable headers: path to the error message.
    n_files : int
        Files examined.
    header_warnings : dict of str to int
        Warnings pydicom raised while reading headers, with how often.
    file_warnings : dict of str to list of str
        The same warnings by file: path to the texts its header raised.
    """

    series: list[Series]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    n_files: int = 0
    header_warnings: dict[str, int] = field(default_factory=dict)
    file_warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def skipped_counts(self) -> dict[str, int]:
        """How many files were skipped, by reason."""
        return {k: len(v) for k, v in self.skipped.items()}

    @property
    def n_skipped(self) -> int:
        """Total files skipped."""
        return sum(len(v) for v in self.skipped.values())

    def groups(self) -> dict[str, list[Series]]:
        """The series by SeriesInstanceUID (parts of a split series together)."""
        out: dict[str, list[Series]] = defaultdict(list)
        for s in self.series:
            out[s.uid].append(s)
        return dict(out)

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, i: int) -> Series:
        return self.series[i]

    def summary(self) -> str:
        """A few lines for humans (CLI): every series, then the skips."""
        lines = [f"{len(self.series)} series from {self.n_files} files"]
        for s in self.series:
            dims = "x".join(str(d) for d in s._header_shape())
            flag = f"  [{len(s.warnings)} warning(s)]" if s.warnings else ""
            lines.append(f"  {s.label} {s.modality} {dims}{flag}")
        for reason, paths in sorted(self.skipped.items()):
            lines.append(f"  skipped {len(paths)}: {reason}")
        return "\n".join(lines)


