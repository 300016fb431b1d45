"""Pure NumPy backend: uncompressed data, deflate and RLE.

Handles little and big endian, bit-packed 1-bit data, planar configuration,
uncompressed YBR_FULL_422, encapsulated uncompressed frames (1.2.1.98),
Deflated Image Frame Compression (1.2.8.1, inflation bounded by the frame
size) and RLE Lossless in Python (slow, but always there).
"""

from __future__ import annotations

import zlib
from types import MappingProxyType

import numpy as np

from ..tsyntax import DEFLATED_IMAGE_FRAME_COMPRESSION, RLE_LOSSLESS, TRANSFER_SYNTAXES
from ._base import ZLIB, Backend, Decoded, FrameContext, PixelSpec

__all__ = ["NativeBackend", "backend", "inflate_frame", "rle_decode_frame"]

_NATIVE = frozenset(u for u, t in TRANSFER_SYNTAXES.items() if t.family == "native")
_RLE = RLE_LOSSLESS
_DEFLATE_FRAME = DEFLATED_IMAGE_FRAME_COMPRESSION


class NativeBackend(Backend):
    """NumPy decoder for uncompressed, deflated-frame and RLE data."""

    name = "native"
    install = "built in (numpy)"
    modules = ("numpy",)
    syntaxes = _NATIVE | {_RLE, _DEFLATE_FRAME}
    gil_free = False
    # This module's own NumPy code, and Python's zlib module for deflate.
    libraries = MappingProxyType({
        "native": "dicomio (NumPy)", "rle": "dicomio RLE (NumPy)", "deflate": ZLIB,
    })

    def supports(self, spec: PixelSpec) -> bool:
        if spec.transfer_syntax.uid not in self.syntaxes:
            return False
        if spec.transfer_syntax.uid == _RLE:
            return spec.bits_allocated in (8, 16, 32, 64)
        return True

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        spec = ctx.spec
        uid = spec.transfer_syntax.uid
        if uid == _RLE:
            decoded = rle_decode_frame(data, spec)
            decoded.color = _color(ctx)
            return decoded
        if uid == _DEFLATE_FRAME:
            data = inflate_frame(data, spec.native_frame_nbytes)
        return unpack_native(data, ctx)


def inflate_frame(data: bytes, expected: int) -> bytes:
    """Inflate one Deflated Image Frame, never producing more than ``expected``.

    Accepts raw deflate (RFC 1951, what PS3.5 A.4.13 specifies) and, leniently,
    a zlib-wrapped stream.
    """
    wbits = 15 if (len(data) >= 2 and data[0] & 0x0F == 8
                   and (data[0] << 8 | data[1]) % 31 == 0) else -15
    inflater = zlib.decompressobj(wbits)
    # max_length bounds the output: a deflate bomb stops at the frame size.
    out = inflater.decompress(data, expected)
    if len(out) < expected:
        raise ValueError(
            f"deflated frame inflates to {len(out)} bytes, expected {expected}"
        )
    return out


def unpack_native(data: bytes, ctx: FrameContext) -> Decoded:
    """Turn one frame's uncompressed bytes into an array."""
    spec = ctx.spec
    opts = ctx.options
    rows, cols, spp = spec.rows, spec.columns, spec.samples_per_pixel
    big = spec.transfer_syntax.is_big_endian
    if spec.bits_allocated == 1:
        bit_offset = int(opts.get("bit_offset", 0))
        n = rows * cols * spp
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        if bits.size < bit_offset + n:
            raise ValueError("1-bit frame is shorter than Rows x Columns")
        arr = bits[bit_offset:bit_offset + n].reshape(spec.frame_shape)
        return Decoded(arr, _color(ctx))
    dtype = spec.dtype.newbyteorder(">" if big else "<")
    if spec.photometric == "YBR_FULL_422" and spp == 3:
        return _ybr422(data, spec, dtype)
    need = rows * cols * spp * dtype.itemsize
    if len(data) < need:
        raise ValueError(f"frame holds {len(data)} bytes, {need} expected")
    arr = np.frombuffer(data, dtype, count=rows * cols * spp)
    if big:
        arr = arr.astype(dtype.newbyteorder("="))
    if spp == 1:
        return Decoded(arr.reshape(rows, cols), _color(ctx))
    if spec.planar_configuration == 1:
        return Decoded(arr.reshape(spp, rows, cols), _color(ctx), planar=True)
    return Decoded(arr.reshape(rows, cols, spp), _color(ctx))


def _color(ctx: FrameContext) -> str:
    c = ctx.stream_color
    return "YBR_FULL" if c.startswith("YBR") else c


def _ybr422(data: bytes, spec: PixelSpec, dtype: np.dtype) -> Decoded:
    # Uncompressed YBR_FULL_422 stores Y1 Y2 Cb Cr for each horizontal pair.
    rows, cols = spec.rows, spec.columns
    pairs = (cols + 1) // 2
    need = rows * pairs * 4 * dtype.itemsize
    if len(data) < need:
        raise ValueError(f"YBR_FULL_422 frame holds {len(data)} bytes, {need} expected")
    quad = np.frombuffer(data, dtype, count=rows * pairs * 4).reshape(rows, pairs, 4)
    out = np.empty((rows, pairs * 2, 3), dtype.newbyteorder("="))
    out[:, 0::2, 0] = quad[..., 0]
    out[:, 1::2, 0] = quad[..., 1]
    for k in (1, 2):
        out[:, 0::2, k] = quad[..., k + 1]
        out[:, 1::2, k] = quad[..., k + 1]
    return Decoded(out[:, :cols], "YBR_FULL")


def unpackbits_segment(seg: bytes, size: int, *, partial: bool = False) -> bytes:
    """Decode one PackBits (PS3.5 Annex G) segment to at most ``size`` bytes.

    A segment that decodes short raises ValueError; with ``partial`` (a cut
    file recovered) it returns the bytes it holds, without a literal run the
    cut falls inside.
    """
    out = bytearray()
    i, n = 0, len(seg)
    while i < n and len(out) < size:
        h = seg[i]
        i += 1
        if h < 128:
            run = h + 1
            if partial and i + run > n:
                break  # the cut falls inside this literal run: drop it
            out += seg[i:i + run]
            i += run
        elif h > 128:
            if i >= n:
                break
            out += seg[i:i + 1] * (257 - h)
            i += 1
        # h == 128 is a no-op by definition
    if len(out) < size and not partial:
        raise ValueError(f"RLE segment decodes to {len(out)} bytes, {size} expected")
    return bytes(out[:size])


def rle_decode_frame(data: bytes, spec: PixelSpec) -> Decoded:
    """Decode one RLE Lossless frame (PS3.5 Annex G) with NumPy."""
    if len(data) < 64:
        raise ValueError("RLE frame shorter than its 64-byte header")
    header = np.frombuffer(data[:64], "<u4")
    nseg = int(header[0])
    nbytes = spec.bits_allocated // 8
    spp = spec.samples_per_pixel
    if nseg != spp * nbytes:
        raise ValueError(
            f"RLE header lists {nseg} segments, {spp * nbytes} expected for "
            f"{spp} samples of {spec.bits_allocated} bits"
        )
    offsets = [int(x) for x in header[1:1 + nseg]] + [len(data)]
    size = spec.rows * spec.columns
    planes = np.empty((spp, nbytes, size), np.uint8)
    for s in range(nseg):
        start, end = offsets[s], offsets[s + 1]
        if not 64 <= start <= end <= len(data):
            raise ValueError(f"RLE segment {s} offset {start} is out of range")
        seg = unpackbits_segment(data[start:end], size)
        # Segments run from the most to the least significant byte.
        planes[s // nbytes, s % nbytes] = np.frombuffer(seg, np.uint8)
    be = planes.transpose(0, 2, 1).copy()  # (spp, size, nbytes) big-endian bytes
    arr = be.view(np.dtype(f">u{nbytes}") if nbytes > 1 else np.uint8)[..., 0]
    arr = arr.astype(spec.dtype.newbyteorder("=")).reshape(spp, spec.rows, spec.columns)
    if spp == 1:
        return Decoded(arr[0], "MONOCHROME")
    return Decoded(arr, "RGB", planar=True)


backend = NativeBackend()
