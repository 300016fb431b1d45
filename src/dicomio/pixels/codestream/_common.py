"""Helpers every codestream parser shares: byte views, big-endian reads,
truncation errors and the ISOBMFF box walk (JP2 files, the JPEG XL container).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from ...errors import CodestreamError

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_JXL_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def _buffer(data: Any) -> memoryview:
    """Return a flat byte view of ``data`` without copying when possible."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"codestream data must be bytes-like, not {type(data).__name__}"
        ) from None
    if view.format == "B" and view.ndim == 1:
        return view
    try:
        return view.cast("B")
    except TypeError:  # non-contiguous: a copy is the only way to read it
        return memoryview(view.tobytes())


def _u16(buf: memoryview, pos: int) -> int:
    return int(struct.unpack_from(">H", buf, pos)[0])


def _u32(buf: memoryview, pos: int) -> int:
    return int(struct.unpack_from(">I", buf, pos)[0])


def _truncated(what: str, pos: int, size: int) -> CodestreamError:
    return CodestreamError(
        f"truncated {what} at offset {pos}: the data ends at byte {size}"
    )


def _boxes(buf: memoryview, what: str) -> Iterator[tuple[bytes, int, int, bool]]:
    """Yield ``(type, content_start, content_end, truncated)`` per top-level box.

    A box whose declared length runs past the data is yielded clipped with
    ``truncated`` True so the caller decides whether that matters (a cut
    codestream box can still hold a whole main header). Up to 7 trailing
    zero bytes are accepted: DICOM pads fragments to an even length.
    """
    n = len(buf)
    pos = 0
    # Each box is at least 8 bytes long, so this loop runs at most n / 8 times.
    while pos < n:
        if n - pos < 8:
            if not any(buf[pos:]):
                return
            raise _truncated(f"{what} box header", pos, n)
        size = _u32(buf, pos)
        btype = bytes(buf[pos + 4 : pos + 8])
        header = 8
        if size == 1:  # 64-bit XLBox follows the type
            if n - pos < 16:
                raise _truncated(f"{what} box {btype!r} extended length", pos, n)
            size = int(struct.unpack_from(">Q", buf, pos + 8)[0])
            header = 16
        elif size == 0:  # the box runs to the end of the data
            size = n - pos
        if size < header:
            raise CodestreamError(
                f"{what} box {btype!r} at offset {pos} has an impossible length {size}"
            )
        end = pos + size
        truncated = end > n
        yield btype, pos + header, min(end, n), truncated
        if truncated:
            return
        pos = end
