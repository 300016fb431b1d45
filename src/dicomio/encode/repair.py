"""What a write does with frames that failed to decode: the ``on_error`` option.

Every path that writes a DICOM file from a decoded one (:func:`dicomio.transcode`,
:func:`dicomio.decompress`, their folder and dask runs, the command line)
takes the same ``on_error`` and does the same with it:

``"raise"`` (the default)
    the first frame that fails raises its error, naming the file, frame,
    Transfer Syntax and backends tried; nothing is written.
``"fill"`` / ``"recover"``
    the file is written from the tolerant decode (a failed frame 0, or what a
    truncated frame holds and 0 for the rest; see
    :mod:`dicomio.image.tolerance`) as a *repaired copy*: it keeps every
    frame, so Number of Frames, the per-frame functional groups and
    everything indexed by frame stay true, and it says what was done
    (:func:`mark_repaired`).
``"skip"``
    refused (:func:`check_write_on_error`): dropping frames renumbers them,
    which silently breaks what refers to frames by number, inside the file
    (per-frame functional groups, frame vectors, dimension indices) and
    outside it (reports, presentation states, segmentations and key objects
    that name a Referenced Frame Number).

:class:`Repair` carries the failed frames of one file to its warning (one
per file) and to the per-file report of folder and dask runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from ..image.state import DicomioWarning, FrameInfo
from ..image.tolerance import check_on_error, failed_dict, failed_summary

__all__ = ["WRITE_ON_ERROR", "Repair", "check_write_on_error", "mark_repaired"]

#: The ``on_error`` values a write takes, the default first.
WRITE_ON_ERROR = ("raise", "recover", "fill")

# PS3.16 CID 7202 (Source Image Purpose of Reference).
_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
_ST_LIMIT = 1024  # Derivation Description is ST
_NAMED = 12  # frames named in the Derivation Description before "..."


def check_write_on_error(
        on_error: str, what: str, keeps: str = "every frame the header describes",
        why: str = "dropping frames would renumber them and break the per-frame "
                   "functional groups and every reference to a frame number") -> str:
    """Refuse an ``on_error`` a write cannot honour (``"skip"``, unknowns):
    ``what`` keeps ``keeps``, because ``why``."""
    if check_on_error(on_error) == "skip":
        raise ValueError(f"{what} keeps {keeps}: use on_error='fill' or 'recover', "
                         f"not 'skip' ({why})")
    return on_error


@dataclass
class Repair:
    """The frames of one file that failed to decode and how they were written."""

    mode: str
    n_frames: int
    failed: dict[int, FrameInfo]
    source: str = "<in-memory DICOM>"

    def summary(self) -> str:
        """``"2 of 3 frames failed; 2 were filled with 0: 1, 2"``."""
        return failed_summary(self.n_frames, sorted(self.failed.items()))

    def report(self) -> dict[str, Any]:
        """``{"3": {"action", "error", "missing_rows", "missing_bytes"}}``."""
        return failed_dict(self.failed)

    def note(self, dest: str | None = None) -> str:
        """The report's ``note`` (and, naming ``dest``, the warning's text):
        the summary and the first reason."""
        first, fi = min(self.failed.items())
        where = f" to {dest}" if dest else ""
        return (f"{self.summary()}; written{where} as a repaired copy (new SOP "
                f"Instance UID; its Derivation Description names the frames); "
                f"first failure: frame {first}: {fi.error}")

    def warn(self, dest: str, stacklevel: int = 3) -> None:
        """The one DicomioWarning of this file."""
        warn_note(self.source, self.note(dest), stacklevel=stacklevel + 1)


def warn_note(source: str, note: str, stacklevel: int = 3) -> None:
    """``SOURCE: note`` as a DicomioWarning (also for a dask run's reports)."""
    warnings.warn(f"{source}: {note}", DicomioWarning, stacklevel=stacklevel)


def found(img: Any, mode: str) -> Repair | None:
    """The :class:`Repair` of a read of every frame of ``img``, or None."""
    failed = dict(img.failed_frames)
    if not failed:
        return None
    return Repair(mode, img.n_frames, failed, img._where())


def mark_repaired(ds: Dataset, repair: Repair) -> None:
    """Say in ``ds`` that its pixels were repaired (PS3.3 C.7.6.1).

    * a new SOP Instance UID: the pixels are not the source's, so the copy
      must not be taken for (or replace) the original in an archive;
    * a sentence in Derivation Description (0008,2111) naming the frames
      (numbered from 1, as DICOM numbers frames) and what was written;
    * an item in Source Image Sequence (0008,2112) referencing the source
      (CID 7202 "Source image for image processing operation").
    """
    from .. import __version__

    old_uid = ds.get("SOPInstanceUID")
    sop_class = ds.get("SOPClassUID")
    if old_uid and sop_class:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = old_uid
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _PURPOSE
        item.PurposeOfReferenceCodeSequence = DicomSequence([code])
        items = list(ds.get("SourceImageSequence") or [])
        ds.SourceImageSequence = DicomSequence([*items, item])
    ds.SOPInstanceUID = generate_uid()
    named = []
    for i, fi in sorted(repair.failed.items())[:_NAMED]:
        rows = fi.missing_rows
        if rows is None:
            what = "rows unknown"
        elif rows[0] >= rows[1]:
            what = "no row lost"
        elif rows[0] == 0:
            what = "all rows"
        else:
            what = f"rows {rows[0] + 1}-{rows[1]}"
        named.append(f"{i + 1} ({what})")
    more = ", ..." if len(repair.failed) > _NAMED else ""
    note = (f"Repaired by dicomio {__version__} (on_error='{repair.mode}'): "
            f"{len(repair.failed)} of {repair.n_frames} frames of the source did "
            f"not decode whole (damaged or truncated data) and the pixels they "
            f"lost were written as 0 (frames and rows numbered from 1; rows "
            f"unknown: left as the codec decoded them): {', '.join(named)}{more}")
    old = str(ds.get("DerivationDescription", "") or "").strip()
    text = f"{old}; {note}" if old else note
    ds.DerivationDescription = text[:_ST_LIMIT]

