"""The header of a DICOM RLE frame (PS3.5 Annex G)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import CodestreamError
from ._common import _buffer, _truncated

__all__ = ["RLEInfo", "parse_rle"]


@dataclass(frozen=True)
class RLEInfo:
    """The 64-byte header of a DICOM RLE frame (PS3.5 Annex G).

    Attributes
    ----------
    segments : int
        Number of segments (1..15): one per byte of each sample.
    offsets : tuple of int
        Start offset of every segment, strictly increasing, inside the data.
    """

    segments: int
    offsets: tuple[int, ...]


def parse_rle(data: bytes | bytearray | memoryview) -> RLEInfo:
    """Parse the 64-byte header of a DICOM RLE frame.

    Parameters
    ----------
    data : bytes-like
        One frame, starting with its RLE header.

    Returns
    -------
    RLEInfo

    Raises
    ------
    dicomio.errors.CodestreamError
        When the header is shorter than 64 bytes, declares 0 or more than 15
        segments, or its offsets are not increasing inside the data (the
        first one must be 64).
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    n = len(buf)
    if n < 64:
        raise _truncated("RLE header", 0, n)
    words = struct.unpack_from("<16I", buf, 0)
    count = words[0]
    if not 1 <= count <= 15:
        raise CodestreamError(f"RLE header declares {count} segments (1..15 allowed)")
    offsets = tuple(int(x) for x in words[1 : 1 + count])
    if offsets[0] != 64:
        raise CodestreamError(
            f"RLE segment 1 starts at offset {offsets[0]}; PS3.5 G.5 fixes it at 64"
        )
    for i in range(1, count):
        if offsets[i] <= offsets[i - 1]:
            raise CodestreamError(
                f"RLE segment offsets are not increasing: segment {i + 1} starts "
                f"at {offsets[i]}, segment {i} at {offsets[i - 1]}"
            )
    if offsets[-1] >= n:
        raise CodestreamError(
            f"RLE segment {count} starts at offset {offsets[-1]}, past the end "
            f"of the {n}-byte frame"
        )
    return RLEInfo(segments=count, offsets=offsets)
