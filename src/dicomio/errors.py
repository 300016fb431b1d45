"""Exceptions raised by dicomio.

Every error dicomio raises is a :class:`DicomioError`. Decode errors carry the
context a user needs to act: the file, the frame, the Transfer Syntax and the
backends that were tried, each with the reason it failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "DicomioError",
    "InvalidDicomError",
    "UnsupportedTransferSyntaxError",
    "BackendUnavailableError",
    "DecodeError",
    "TruncatedError",
    "DamagedStreamError",
    "FrameIndexError",
    "MemoryLimitError",
    "SeriesError",
    "EncodeError",
    "CodestreamError",
    "RemoteError",
]


class DicomioError(Exception):
    """Base class of every error raised by dicomio.

    Parameters
    ----------
    message : str
        What went wrong, in plain words.
    path : str, optional
        The file concerned.
    frame : int, optional
        The 0-based frame index concerned.
    transfer_syntax : str, optional
        The Transfer Syntax, as ``"Keyword (UID)"``.
    tried : sequence of (str, str), optional
        ``(backend, reason)`` for every backend that was tried.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        frame: int | None = None,
        transfer_syntax: str | None = None,
        tried: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.message = message
        self.path = path
        self.frame = frame
        self.transfer_syntax = transfer_syntax
        self.tried = list(tried)
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"file {self.path!r}")
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        if self.transfer_syntax is not None:
            where.append(f"transfer syntax {self.transfer_syntax}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.tried:
            lines = "; ".join(f"{name}: {why}" for name, why in self.tried)
            text += f" [backends tried: {lines}]"
        return text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only arguments need help to cross process boundaries (dask).
        return (
            _rebuild,
            (type(self), self.message, self.path, self.frame,
             self.transfer_syntax, self.tried),
        )


def _rebuild(cls, message, path, frame, ts, tried):  # type: ignore[no-untyped-def]
    return cls(message, path=path, frame=frame, transfer_syntax=ts, tried=tried)


class InvalidDicomError(DicomioError, ValueError):
    """The input is not DICOM, or its header is broken beyond repair."""


class UnsupportedTransferSyntaxError(DicomioError, NotImplementedError):
    """No backend dicomio knows can decode this Transfer Syntax."""


class BackendUnavailableError(DicomioError, ImportError):
    """The backends able to decode this data are not installed (says what to install)."""


class DecodeError(DicomioError, RuntimeError):
    """Every capable backend failed on a frame, or produced data of the wrong size."""


class TruncatedError(DecodeError):
    """The file ends inside a frame's pixel data (it was cut short).

    ``missing_bytes`` is how many bytes of the frame are missing, or None
    when the file does not say (an encapsulated frame that is missing whole).
    Read with ``on_error="recover"`` to get what is there (see
    ``docs/robustness.md``).
    """

    def __init__(self, message: str, *, missing_bytes: int | None = None,
                 **kwargs: Any) -> None:
        self.missing_bytes = missing_bytes
        super().__init__(message, **kwargs)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_truncated, (self.message, self.path, self.frame,
                                     self.transfer_syntax, self.tried,
                                     self.missing_bytes))


def _rebuild_truncated(message, path, frame, ts, tried, missing):  # type: ignore[no-untyped-def]
    return TruncatedError(message, path=path, frame=frame, transfer_syntax=ts,
                          tried=tried, missing_bytes=missing)


class DamagedStreamError(DecodeError):
    """A frame's codestream is damaged in a way its decoders do not report.

    Raised before any decoder runs, for damage the stream's own structure
    proves but decoders turn into wrong pixels without an error: today a
    run of zero bytes in JPEG 2000 / HTJ2K coded data longer than any
    encoder writes there (overwritten data, read as empty packets). Read
    with ``on_error="recover"`` to get the decoder's pixels anyway (see
    ``docs/robustness.md``).
    """


class FrameIndexError(DicomioError, IndexError, ValueError):
    """A frame index is out of range (an IndexError and a ValueError, for imageio)."""


class MemoryLimitError(DicomioError, MemoryError):
    """The decoded size the header claims exceeds the configured memory limit."""


class SeriesError(DicomioError, ValueError):
    """Files cannot be assembled into a volume (geometry, missing slices, ...)."""


class EncodeError(DicomioError, ValueError):
    """An array cannot be written with the requested Transfer Syntax."""


class CodestreamError(DicomioError, ValueError):
    """A compressed frame's header is malformed or contradicts the DICOM header."""


class RemoteError(DicomioError, OSError):
    """A URL could not be read: server down, refused credentials, unknown UID,
    a truncated or malformed response (the message names the URL, never a password)."""
