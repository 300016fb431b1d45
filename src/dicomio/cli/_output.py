"""What the ``dicomio`` command prints besides its results.

* one warning format for every command: ``dicomio: warning: FILE: message``;
  Python warnings raised while a file is read (pydicom's and dicomio's own)
  are caught and printed in it, naming the file;
* progress bars (tqdm) on stderr, only when stderr is a terminal, and never
  with ``--quiet``;
* terminal capabilities (colour, Unicode) for the doctor table.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["Reporter", "isatty", "repaired_note", "unicode_ok", "use_color"]


def repaired_note(n: int) -> str:
    """`` (2 repaired: see the warnings)`` after a written count, when ``n``
    files were written as repaired copies (``--on-error``); else ``""``."""
    return f" ({n} repaired: see the warnings)" if n else ""


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def unicode_ok(stream: Any) -> bool:
    return "utf" in (getattr(stream, "encoding", None) or "").lower()


def use_color(stream: Any) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return isatty(stream) and not os.environ.get("NO_COLOR")


def _strip_where(where: str, message: str) -> str:
    """``message`` without a leading mention of ``where`` (dicomio's own
    warnings and errors start with the file they are about)."""
    for prefix in (f"{where}: ", f"file {where!r}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _named_file(message: str) -> str | None:
    """The file a message starts with (``"PATH: ..."``, dicomio's own form),
    when that file exists."""
    head, sep, _ = message.partition(": ")
    if sep and head and os.path.isfile(head):
        return head
    return None


class Reporter:
    """Warnings and progress of one command run.

    Parameters
    ----------
    quiet : bool
        No progress bar and no warnings (errors are still printed).
    stream : file, optional
        Where warnings and bars go (default ``sys.stderr``).
    """

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._seen: set[tuple[str, str]] = set()
        self._local = threading.local()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ warnings
    def warn(self, where: str | os.PathLike[str], message: str) -> None:
        """Print ``dicomio: warning: WHERE: message`` (once per pair)."""
        where = os.fspath(where)
        text = _strip_where(where, str(message).strip())
        with self._lock:
            if self.quiet or (where, text) in self._seen:
                return
            self._seen.add((where, text))
            self.line(f"dicomio: warning: {where}: {text}")

    @contextlib.contextmanager
    def warnings_of(self, where: str | os.PathLike[str] | None = None
                    ) -> Iterator[None]:
        """Print the Python warnings raised inside as warnings about the file
        being worked on: the one set by :meth:`about` in the warning's own
        thread, else ``where`` (a file, or a folder for a series).

        Catching warnings is process-wide, so this covers worker threads too;
        each worker names its file with :meth:`about`.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            default = os.fspath(where) if where is not None else "?"

            def show(message: Any, category: Any, filename: str, lineno: int,
                     file: Any = None, line: Any = None) -> None:
                text = str(message)
                where = getattr(self._local, "where", None) or _named_file(text)
                self.warn(where or default, text)

            warnings.showwarning = show
            yield

    @contextlib.contextmanager
    def about(self, where: str | os.PathLike[str]) -> Iterator[None]:
        """Within :meth:`warnings_of`: warnings of this thread name ``where``."""
        self._local.where = os.fspath(where)
        try:
            yield
        finally:
            self._local.where = None

    def line(self, text: str) -> None:
        """Print a line to stderr without garbling a progress bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    # ------------------------------------------------------------ progress
    @contextlib.contextmanager
    def progress(self, total: int, desc: str, unit: str = "file") -> Iterator[Any]:
        """A tqdm bar on a terminal; a bar that draws nothing elsewhere.

        The bar is a :class:`tqdm.tqdm`: call ``update(n)``, or use
        :meth:`scan_callback` for :func:`dicomio.series.scan`.
        """
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream,
                   disable=self.quiet or not isatty(self.stream),
                   leave=False, dynamic_ncols=True,
                   ascii=None if unicode_ok(self.stream) else True)
        self._bar = bar
        try:
            yield bar
        finally:
            self._bar = None
            bar.close()

    @staticmethod
    def scan_callback(bar: Any) -> Any:
        """``progress(done, total)`` for :func:`dicomio.series.scan`."""
        def callback(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
                bar.refresh()
            if done > bar.n:
                bar.update(done - bar.n)
        return callback
