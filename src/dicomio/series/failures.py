"""``Series.read(on_error=...)``: slices that fail, and what the read does.

Each file's frames are read with the image's own ``on_error``
(:mod:`dicomio.image.tolerance`; ``"skip"`` reads as ``"fill"`` and the
slices are dropped at the end, so every file writes into its own rows of the
output). A file that cannot be opened at all fails all its slices. The
failures end in :attr:`Series.failed_slices` and one
:class:`~dicomio.image.DicomioWarning` per read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DicomioError
from ..image.state import FrameInfo
from ..image.tolerance import check_on_error, warn_failed


def file_mode(on_error: str) -> str:
    """The ``on_error`` each file is read with for the series' ``on_error``."""
    return "fill" if check_on_error(on_error) == "skip" else on_error


def note_frames(img: Any, frames: Sequence[int], targets: Sequence[int],
                out: np.ndarray, failed: dict[int, FrameInfo]) -> None:
    """Zero what failed in ``out[targets]`` (after the rescale) and note it."""
    gone = img.failed_frames
    for frame, pos in zip(frames, targets, strict=True):
        fi = gone.get(frame)
        if fi is None:
            continue
        rows = fi.missing_rows
        if rows is not None:
            out[pos][rows[0]:rows[1]] = 0
        failed[pos] = fi


def note_file(exc: DicomioError, frames: Sequence[int], targets: Sequence[int],
              out: np.ndarray, failed: dict[int, FrameInfo], on_error: str) -> None:
    """A file that failed whole: its slices are 0 and noted."""
    action = {"skip": "skipped"}.get(on_error, "filled")
    for frame, pos in zip(frames, targets, strict=True):
        out[pos] = 0
        failed[pos] = FrameInfo(frame, "", {}, list(exc.tried), error=str(exc),
                                action=action, missing_rows=(0, out.shape[1]))


def finish(series: Any, picks: Sequence[int], out: np.ndarray,
           failed: dict[int, FrameInfo], on_error: str) -> np.ndarray:
    """Record and announce the failed slices; drop them for ``"skip"``."""
    series.failed_slices = {picks[pos]: fi for pos, fi in sorted(failed.items())}
    if not failed:
        return out
    if on_error == "skip":
        for fi in failed.values():
            fi.action = "skipped"
    warn_failed(series.label, len(picks),
                [(picks[pos], fi) for pos, fi in sorted(failed.items())],
                unit="slice", attr="failed_slices", stacklevel=5)
    if on_error == "skip":
        return out[[k for k in range(len(picks)) if k not in failed]]
    return out
