"""Where a dataset's bytes come from: a local file or an in-memory buffer.

Frames are read with ``os.pread`` on one shared descriptor, which is safe
from many threads.
"""
from __future__ import annotations

import io
import os
from typing import Any

_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian uint32
_SEQ_DELIM = 0xE0DDFFFE
_ITEM_DELIM = 0xE00DFFFE
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UN", b"UC",
             b"UR", b"UT"}



class _Reader:
    """Random access to the file or in-memory buffer holding the dataset."""

    def __init__(self, path: str | None = None, data: bytes | None = None) -> None:
        self.path = path
        self._data = memoryview(data) if data is not None else None
        self._fd: int | None = None
        if path is not None and data is None:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self.size = os.fstat(self._fd).st_size
        else:
            self.size = len(self._data) if self._data is not None else 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if self._data is not None:
            return bytes(self._data[offset:offset + length])
        if self._fd is None:
            raise ValueError("the file is closed")
        out = os.pread(self._fd, length, offset)
        while len(out) < length:
            more = os.pread(self._fd, length - len(out), offset + len(out))
            if not more:
                break
            out += more
        return out

    def readinto(self, offset: int, buf: Any) -> int:
        """Read ``len(buf)`` bytes at ``offset`` straight into ``buf``.

        One copy from the page cache into the caller's memory (``preadv``),
        no intermediate ``bytes``. Returns the bytes read (short at the end
        of the file).
        """
        view = memoryview(buf).cast("B")
        if offset < 0:
            raise ValueError("negative offset")
        if self._data is not None:
            chunk = self._data[offset:offset + len(view)]
            view[:len(chunk)] = chunk
            return len(chunk)
        if self._fd is None:
            raise ValueError("the file is closed")
        got = 0
        while got < len(view):
            if hasattr(os, "preadv"):
                n = os.preadv(self._fd, [view[got:]], offset + got)
            else:  # Windows: no preadv
                more = os.pread(self._fd, len(view) - got, offset + got)
                n = len(more)
                view[got:got + n] = more
            if not n:
                break
            got += n
        return got

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None




def open_bytes(source: Any) -> tuple[str | None, bytes | None]:
    """Normalise a user's source into (path, in-memory bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return None, bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source), None
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("file object must be opened in binary mode")
        return (name if isinstance(name, str) else None), bytes(data)
    raise TypeError(f"cannot read DICOM from {type(source).__name__}")


def as_filelike(path: str | None, data: bytes | None) -> Any:
    if data is not None:
        return io.BytesIO(data)
    if path is None:
        raise ValueError("neither a path nor data to read")
    return open(path, "rb")  # noqa: SIM115 - the caller closes it

