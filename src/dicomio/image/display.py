"""``DicomImage.read(display=True)``: the display image of one file.

The pipeline itself is :mod:`dicomio.values.display`; this module gives it the
image's memory limit and error context, and keeps what was applied as
``img.display_record``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DicomioError, MemoryLimitError
from .limits import memory_limit
from .tolerance import warn_failed_among

__all__ = ["read_display"]


def read_display(img: Any, idx: Sequence[int], batched: bool, *, window: Any,
                 voi: int | None, out: np.ndarray | None, threads: int | None,
                 backend: Any, on_error: str = "raise") -> np.ndarray:
    """Frames ``idx`` of ``img`` as display images (uint8); sets ``img.display_record``.

    Raises ValueError for a bad ``window``, IndexError for a ``voi`` the file
    does not have, MemoryLimitError over the memory limit and DicomioError
    when the file's LUTs or palette are unusable.
    """
    from ..values import display as _display
    from ..values import voi as _voi

    if on_error == "skip":
        raise ValueError("display=True reads every frame asked for: use "
                         "on_error='fill' or 'recover', not 'skip'")
    if window is not None:
        _voi.choose(img.dataset, 0, window)  # a bad window is the caller's ValueError

    def check(nbytes: int) -> None:
        limit = img.memory_limit or memory_limit()
        if nbytes > limit:
            raise img._err(MemoryLimitError, f"the display output would take "
                           f"{nbytes / 2**20:.1f} MiB, over the "
                           f"{limit / 2**20:.1f} MiB limit")

    # The frames decode a few at a time: one warning for the whole read.
    quiet, img._quiet_failures = img._quiet_failures, True
    try:
        arr, img.display_record = _display.read_display(
            img, idx, window=window, voi=voi, out=out, threads=threads,
            backend=backend, check_nbytes=check, on_error=on_error)
    except ValueError as exc:  # the file's LUTs or palette are unusable
        if isinstance(exc, DicomioError):
            raise
        raise img._err(DicomioError, f"display: {exc}") from exc
    finally:
        img._quiet_failures = quiet
    if on_error != "raise" and not quiet:
        warn_failed_among(img._where(), idx, img.failed_frames)
    return arr if batched else arr[0]
