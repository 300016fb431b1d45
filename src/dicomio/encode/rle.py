"""The RLE Lossless encoder (PS3.5 Annex G): PackBits rows, one segment per byte.

imagecodecs has no ``dicomrle_encode``, so RLE is encoded here.
"""

from __future__ import annotations

import numpy as np

from ..errors import EncodeError

__all__ = ["rle_encode_frame"]


def _packbits_rows(plane: np.ndarray) -> bytearray:
    """PackBits-encode each row of a 2D uint8 plane (PS3.5 G.3.1).

    Runs of three or more equal bytes become Replicate Runs, everything else
    Literal Runs; no run crosses a row boundary and -128 is never written.
    """
    rows, cols = plane.shape
    flat = np.ascontiguousarray(plane, dtype=np.uint8).ravel()
    n = flat.size
    change = np.ones(n, dtype=bool)
    change[1:] = flat[1:] != flat[:-1]
    change[::cols] = True
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, n))
    rep = lengths >= 3
    token = rep.copy()
    token |= starts % cols == 0
    token[1:] |= rep[:-1]
    first = np.flatnonzero(token)
    tok_start = starts[first]
    tok_end = np.append(tok_start[1:], n)
    tok_rep = rep[first]
    data = flat.tobytes()
    out = bytearray()
    for s, e, r in zip(tok_start.tolist(), tok_end.tolist(), tok_rep.tolist(),
                       strict=True):
        count = e - s
        if r:
            value = data[s]
            while count:
                take = count
                if count > 128:
                    take = 128 if count - 128 >= 2 else 127
                out.append(257 - take)  # -(take - 1) as a signed byte
                out.append(value)
                count -= take
        else:
            while count:
                take = min(count, 128)
                out.append(take - 1)
                out += data[s:s + take]
                s += take
                count -= take
    return out


def rle_encode_frame(frame: np.ndarray, bits_allocated: int | None = None) -> bytes:
    """Return one RLE Lossless frame (PS3.5 Annex G) for ``frame``.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, samples)`` integers; signed values
        are stored as two's complement.
    bits_allocated : int, optional
        8, 16 or 32; defaults to the dtype's size.

    Returns
    -------
    bytes
        The 64-byte RLE header followed by the RLE segments (one per byte of
        each sample, most significant byte first, each padded to even length).
    """
    arr = np.asarray(frame)
    if arr.ndim == 2:
        arr = arr[..., np.newaxis]
    size = (bits_allocated or arr.dtype.itemsize * 8) // 8
    arr = np.ascontiguousarray(arr, dtype=f">{arr.dtype.kind}{size}")
    rows, cols, samples = arr.shape
    nseg = samples * size
    if nseg > 15:
        raise EncodeError(f"RLE holds at most 15 segments, {nseg} needed",
                          transfer_syntax="RLELossless (1.2.840.10008.1.2.5)")
    planes = arr.view(np.uint8).reshape(rows, cols, samples, size)
    segments: list[bytes] = []
    for s in range(samples):
        for b in range(size):  # big-endian view: byte 0 is the most significant
            packed = _packbits_rows(planes[:, :, s, b])
            if len(packed) % 2:
                packed.append(0)
            segments.append(bytes(packed))
    header = np.zeros(16, dtype="<u4")
    header[0] = nseg
    offset = 64
    for i, segment in enumerate(segments):
        header[i + 1] = offset
        offset += len(segment)
    return header.tobytes() + b"".join(segments)
