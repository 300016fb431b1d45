"""JPEG XL (ISO 18181-1, -2) frame headers: bare codestream or container."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import CodestreamError
from ._common import _JXL_SIGNATURE, _boxes, _buffer, _u32

__all__ = ["JXLInfo", "parse_jxl"]


@dataclass(frozen=True)
class JXLInfo:
    """Header of a JPEG XL frame (ISO 18181).

    Attributes
    ----------
    container : bool
        The frame is an ISOBMFF container (``"JXL "`` signature box), not a
        bare codestream (``FF 0A``).
    jpeg_reconstruction : bool
        The container has a ``jbrd`` box: the original JPEG can be rebuilt.
    rows, columns : int or None
        Image size from the codestream's SizeHeader, after the orientation
        in the image metadata (orientations 5-8 swap the axes). None means
        unknown; :func:`parse_jxl` decodes every SizeHeader encoding (small
        and full), so it always fills them in.
    """

    container: bool
    jpeg_reconstruction: bool
    rows: int | None
    columns: int | None


# SizeHeader ratio codes 1..7 (18181-1 Table D.3): width = height * num / den.
_JXL_RATIOS = {
    1: (1, 1),
    2: (12, 10),
    3: (4, 3),
    4: (3, 2),
    5: (16, 9),
    6: (5, 4),
    7: (2, 1),
}
_JXL_U32_BITS = (9, 13, 18, 30)  # U32(BitsOffset(9,1), (13,1), (18,1), (30,1))


class _Bits:
    """Least-significant-bit-first reader, as JPEG XL defines it."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.size = 8 * len(data)
        self.pos = 0

    def read(self, count: int) -> int:
        if self.pos + count > self.size:
            raise CodestreamError(
                "truncated JPEG XL codestream: the SizeHeader needs more bits "
                f"than the {self.size // 8} byte(s) available"
            )
        out = (self.value >> self.pos) & ((1 << count) - 1)
        self.pos += count
        return out

    def size_u32(self) -> int:
        return self.read(_JXL_U32_BITS[self.read(2)]) + 1


def _jxl_size(code: bytes) -> tuple[int, int]:
    """Decode ``(rows, columns)`` from a bare codestream's first bytes."""
    if len(code) < 2 or code[:2] != b"\xff\x0a":
        raise CodestreamError(
            "not a JPEG XL codestream: it does not start with FF 0A "
            f"(first bytes {code[:4].hex(' ') or 'none'})"
        )
    # SizeHeader plus the start of ImageMetadata take at most 73 bits.
    bits = _Bits(code[2:12])
    small = bits.read(1)
    rows = (bits.read(5) + 1) * 8 if small else bits.size_u32()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        columns = rows * num // den
    else:
        columns = (bits.read(5) + 1) * 8 if small else bits.size_u32()
    # ImageMetadata: all_default, extra_fields, then orientation - 1 (3 bits).
    # Decoders apply orientations 5..8 by transposing, so the array's shape
    # swaps; reading it costs at most 5 more bits.
    if bits.pos + 5 <= bits.size and not bits.read(1) and bits.read(1):
        if bits.read(3) + 1 >= 5:
            rows, columns = columns, rows
    return rows, columns


def parse_jxl(data: bytes | bytearray | memoryview) -> JXLInfo:
    """Parse a JPEG XL frame: bare codestream or ISOBMFF container.

    Parameters
    ----------
    data : bytes-like
        One frame, starting with ``FF 0A`` or the ``"JXL "`` signature box.

    Returns
    -------
    JXLInfo

    Raises
    ------
    dicomio.errors.CodestreamError
        When neither signature is present, a box is malformed or the
        SizeHeader is truncated.
    TypeError
        When ``data`` is not bytes-like.
    """
    buf = _buffer(data)
    if bytes(buf[:2]) == b"\xff\x0a":
        rows, columns = _jxl_size(bytes(buf[:12]))
        return JXLInfo(False, False, rows, columns)
    if bytes(buf[:12]) != _JXL_SIGNATURE:
        raise CodestreamError(
            "not JPEG XL: no FF 0A codestream signature and no JXL container "
            f"signature box (first bytes {bytes(buf[:4]).hex(' ') or 'none'})"
        )
    jbrd = False
    head = b""  # the first bytes of the codestream, enough for its SizeHeader
    found = last = False
    # Walk every box: libjxl writes jbrd after the first jxlp part, so the
    # codestream box alone does not tell whether reconstruction data exists.
    for btype, start, end, _cut in _boxes(buf, "JPEG XL"):
        if btype == b"jbrd":
            jbrd = True
        elif btype == b"brob" and bytes(buf[start : start + 4]) == b"jbrd":
            jbrd = True  # a Brotli-compressed box names its inner type first
        elif btype == b"jxlc" and not found:
            found = last = True
            head = bytes(buf[start : min(end, start + 12)])
        elif btype == b"jxlp" and not last:
            # Partial codestream boxes start with a 4-byte index whose high
            # bit marks the last part; keep only what the header needs.
            if end - start < 4:
                raise CodestreamError("JPEG XL jxlp box is shorter than its index")
            found = True
            last = bool(_u32(buf, start) & 0x80000000)
            want = 12 - len(head)
            if want > 0:
                head += bytes(buf[start + 4 : min(end, start + 4 + want)])
    if not found:
        raise CodestreamError("JPEG XL container has no codestream (jxlc/jxlp) box")
    rows, columns = _jxl_size(head)
    return JXLInfo(True, jbrd, rows, columns)
