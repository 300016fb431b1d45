"""Which Transfer Syntax a compressed frame belongs to, from its first bytes.

Some files carry an encapsulated (compressed) Pixel Data under a native
Transfer Syntax UID: the writer compressed the pixels and never changed the
File Meta. The codestream says what it is: a JPEG SOI and the SOF marker
(the process), JPEG-LS SOF55 and NEAR, a J2K SOC/SIZ and its COD transform
(HTJ2K when it signals Part 15), the JPEG XL signature, a DICOM RLE header
(PS3.5 G.3.1). :func:`syntax_of_stream` maps that to the keyword of the
syntax that decodes it. Only headers are parsed; nothing is decoded.
"""

from __future__ import annotations

from ..errors import CodestreamError
from .codestream import parse_j2k, parse_jpeg, parse_jxl, parse_rle
from .codestream._common import _JP2_SIGNATURE, _JXL_SIGNATURE

__all__ = ["syntax_of_stream"]

#: The T.81 frame markers (SOFn second byte) and the syntax of their process.
_JPEG_PROCESS = {
    0xC0: "1.2.840.10008.1.2.4.50",  # baseline
    0xC1: "1.2.840.10008.1.2.4.51",  # extended, Huffman
    0xC2: "1.2.840.10008.1.2.4.55",  # progressive, Huffman (retired)
    0xC3: "1.2.840.10008.1.2.4.57",  # lossless, Huffman
}


def syntax_of_stream(head: bytes) -> str | None:
    """The Transfer Syntax UID of the codestream ``head`` starts, or None.

    ``head`` is the start of a frame (a few kilobytes are plenty: every
    parser stops at the first scan). None when it is no codestream a DICOM
    syntax holds, or its header is malformed.
    """
    try:
        if head[:3] == b"\xff\xd8\xff":
            return _jpeg(head)
        if head[:4] == b"\xff\x4f\xff\x51" or head[:12] == _JP2_SIGNATURE:
            info = parse_j2k(head)
            if info.kind == "htj2k":
                return "1.2.840.10008.1.2.4." + ("201" if info.reversible else "203")
            part2 = info.mct > 1 or info.has_mcc
            lossless = info.reversible
            return "1.2.840.10008.1.2.4." + (("92" if lossless else "93") if part2
                                             else ("90" if lossless else "91"))
        if head[:2] == b"\xff\x0a" or head[:12] == _JXL_SIGNATURE:
            parse_jxl(head)
            return "1.2.840.10008.1.2.4.112"
        if len(head) >= 64:
            parse_rle(head)
            return "1.2.840.10008.1.2.5"
    except CodestreamError:
        return None
    return None


def _jpeg(head: bytes) -> str | None:
    info = parse_jpeg(head)
    if info.kind == "jpegls":
        return "1.2.840.10008.1.2.4." + ("80" if info.lossless else "81")
    if info.sof == 0xC3 and info.predictor == 1:
        return "1.2.840.10008.1.2.4.70"  # lossless, first-order prediction
    return _JPEG_PROCESS.get(info.sof)
