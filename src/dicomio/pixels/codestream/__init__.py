"""Read the headers of compressed frames without decoding any pixels.

Decoders disagree about what they return and some of them abort the whole
process on malformed input, so the core looks at each frame's own header
first: its size, precision, sign, component count and the colour signals
(JFIF, Adobe APP14, component IDs, the J2K multiple-component transform).

The parsers here are pure Python and :mod:`struct`, import no codec, stop at
the first scan (JPEG SOS, J2K SOT) and never loop longer than the data is
long. Every malformed input raises :class:`dicomio.errors.CodestreamError`
with a message saying what is wrong and where.

References: ITU-T T.81 (JPEG), T.87 (JPEG-LS), T.800 / ISO 15444-1 and -2
(JPEG 2000 codestream and JP2 boxes), T.814 / ISO 15444-15 (HTJ2K),
ISO 18181-1 and -2 (JPEG XL codestream and container), DICOM PS3.5 Annex G
(RLE).

Each codec has its module (``jpeg``, ``j2k``, ``rle``, ``jxl``; ``process``
says which T.81 process a JPEG stream uses and whether its Transfer Syntax
allows it; ``j2kzeros`` finds zeroed J2K coded data); this
package dispatches on the Transfer Syntax family and re-exports their records
and parsers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import CodestreamError
from ._common import _JP2_SIGNATURE, _JXL_SIGNATURE, _buffer
from .j2k import J2KInfo, j2k_cut_short, parse_j2k
from .j2kzeros import ZERO_RUN_MARGIN, j2k_zero_run
from .jpeg import JpegInfo, parse_jpeg
from .jxl import JXLInfo, parse_jxl
from .process import JpegProcess, jpeg_process, process_mismatch, upsampling_note
from .rle import RLEInfo, parse_rle

if TYPE_CHECKING:  # spec imports numpy; keep this import cheap
    from ..spec import PixelSpec

__all__ = [
    "JpegInfo",
    "J2KInfo",
    "RLEInfo",
    "JXLInfo",
    "JpegProcess",
    "CodestreamInfo",
    "parse_jpeg",
    "parse_j2k",
    "j2k_cut_short",
    "j2k_zero_run",
    "ZERO_RUN_MARGIN",
    "parse_rle",
    "parse_jxl",
    "parse",
    "jpeg_process",
    "process_mismatch",
    "upsampling_note",
    "validate",
    "starts_frame",
]


#: Whatever :func:`parse` returns for a compressed family.
CodestreamInfo = JpegInfo | J2KInfo | RLEInfo | JXLInfo


_PARSERS: dict[str, Callable[[Any], CodestreamInfo]] = {
    "jpeg": parse_jpeg,
    "jpegls": parse_jpeg,
    "jpeg2k": parse_j2k,
    "htj2k": parse_j2k,
    "rle": parse_rle,
    "jpegxl": parse_jxl,
}
_NO_HEADER = frozenset({"native", "deflate", "video"})


def parse(data: bytes | bytearray | memoryview, family: str) -> CodestreamInfo | None:
    """Parse one frame's header according to its Transfer Syntax family.

    Parameters
    ----------
    data : bytes-like
        One frame's bytes.
    family : str
        :attr:`dicomio.tsyntax.TransferSyntax.family`.

    Returns
    -------
    JpegInfo, J2KInfo, RLEInfo, JXLInfo or None
        None for families without a parsed header (native, deflate, video).

    Raises
    ------
    dicomio.errors.CodestreamError
        When the header is malformed, or ``family`` is unknown.
    """
    if family in _NO_HEADER:
        return None
    parser = _PARSERS.get(family)
    if parser is None:
        raise CodestreamError(f"unknown codec family {family!r}")
    return parser(data)


def validate(info: CodestreamInfo | None, spec: PixelSpec) -> list[str]:
    """List the ways a frame's header contradicts the DICOM header.

    Only contradictions that make decoding fail or return garbage or an
    array of the wrong size are reported. Precision below or above Bits
    Stored and signedness differences are not: the core corrects those.

    Parameters
    ----------
    info : JpegInfo, J2KInfo, RLEInfo, JXLInfo or None
        What :func:`parse` returned.
    spec : dicomio.pixels.spec.PixelSpec
        What the DICOM header says.

    Returns
    -------
    list of str
        Plain-English problems; empty when the two agree.
    """
    problems: list[str] = []
    if info is None:
        return problems
    if isinstance(info, (JpegInfo, J2KInfo, JXLInfo)):
        if info.rows is not None and info.rows != spec.rows:
            problems.append(
                f"the codestream has {info.rows} rows but the header says "
                f"Rows = {spec.rows}"
            )
        if info.columns is not None and info.columns != spec.columns:
            problems.append(
                f"the codestream has {info.columns} columns but the header says "
                f"Columns = {spec.columns}"
            )
    if isinstance(info, (JpegInfo, J2KInfo)):
        if info.components != spec.samples_per_pixel:
            problems.append(
                f"the codestream has {info.components} component(s) but the "
                f"header says Samples per Pixel = {spec.samples_per_pixel}"
            )
        precision = (
            max(info.precisions) if isinstance(info, J2KInfo) else info.precision
        )
        if precision > spec.bits_allocated:
            problems.append(
                f"the codestream has {precision}-bit samples, more than Bits "
                f"Allocated = {spec.bits_allocated}"
            )
    if isinstance(info, RLEInfo):
        per_sample = max(1, (spec.bits_allocated + 7) // 8)
        expected = spec.samples_per_pixel * per_sample
        if info.segments != expected:
            problems.append(
                f"the RLE frame has {info.segments} segment(s) but Samples per "
                f"Pixel = {spec.samples_per_pixel} and Bits Allocated = "
                f"{spec.bits_allocated} need {expected}"
            )
    return problems


def starts_frame(data: bytes | bytearray | memoryview, family: str) -> bool:
    """True when ``data`` begins a new codestream of ``family``.

    Used to group fragments into frames when there is no offset table: a
    fragment that starts a codestream starts a frame.

    Parameters
    ----------
    data : bytes-like
        A fragment (only its first 12 bytes are looked at).
    family : str
        :attr:`dicomio.tsyntax.TransferSyntax.family`.

    Returns
    -------
    bool
        False for families without a recognisable signature (RLE, ...).
    """
    head = bytes(_buffer(data)[:12])
    if family in ("jpeg", "jpegls"):
        # SOI and the next marker's FF: an FF D8 inside entropy-coded data
        # is impossible, and requiring the third byte guards APP payloads.
        return head[:3] == b"\xff\xd8\xff"
    if family in ("jpeg2k", "htj2k"):
        return head[:4] == b"\xff\x4f\xff\x51" or head == _JP2_SIGNATURE
    if family == "jpegxl":
        return head[:2] == b"\xff\x0a" or head == _JXL_SIGNATURE
    return False
