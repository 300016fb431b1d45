"""Write a file so that it appears whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object],
                 *, suffix: str = ".part") -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it.

    The temporary file (``.dicomio-*``) lives in the destination folder, so
    the final ``os.replace`` is atomic; it is flushed to disk first, and
    removed if anything fails, so a crash never leaves a half-written output.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".dicomio-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
