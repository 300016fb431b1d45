"""Which ISO/IEC 10918-1 (T.81) process a JPEG stream uses, and whether its
Transfer Syntax allows it.

A JPEG Transfer Syntax names the processes its streams may use (PS3.6 Table
A-1, PS3.5 A.4.1): sequential, spectral selection, full progression (spectral
selection plus successive approximation) or lossless; Huffman or arithmetic
coding; hierarchical or not; 8 or 12 bits. The stream says the same through
its frame marker (SOF0-3 and SOF9-11; the differential SOF5-7 and SOF13-15 of
hierarchical frames), a DHP segment (hierarchical), and the scan headers (Ah
or Al not 0: successive approximation).

Decoders follow the stream, not the syntax, so a stream whose process the
syntax does not allow still decodes right: :func:`process_mismatch` says so
in words, and dicomio warns (as it reports a mislabelled colour space) rather
than refusing. The mode order is sequential < spectral selection < full
progression: T.81 (4.11) has every DCT decoder decode the simpler modes, so a
baseline stream in a progressive syntax is not reported; a feature the syntax
does not name (arithmetic coding, successive approximation, the hierarchical
mode, lossless versus lossy) is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...tsyntax import TransferSyntax
from ._common import _buffer, _u16
from .jpeg import JpegInfo

__all__ = ["JpegProcess", "jpeg_process", "process_mismatch", "upsampling_note",
           "SYNTAX_MODES"]

SEQUENTIAL, SPECTRAL, PROGRESSIVE, LOSSLESS = (
    "sequential", "spectral selection", "full progression", "lossless")
_RANK = {SEQUENTIAL: 0, SPECTRAL: 1, PROGRESSIVE: 2}

#: Transfer Syntax keyword -> (mode, arithmetic coding allowed, hierarchical).
SYNTAX_MODES: dict[str, tuple[str, bool, bool]] = {
    "JPEGBaseline8Bit": (SEQUENTIAL, False, False),
    "JPEGExtended12Bit": (SEQUENTIAL, False, False),
    "JPEGExtended35": (SEQUENTIAL, True, False),
    "JPEGSpectralSelectionNonHierarchical68": (SPECTRAL, False, False),
    "JPEGSpectralSelectionNonHierarchical79": (SPECTRAL, True, False),
    "JPEGFullProgressionNonHierarchical1012": (PROGRESSIVE, False, False),
    "JPEGFullProgressionNonHierarchical1113": (PROGRESSIVE, True, False),
    "JPEGLossless": (LOSSLESS, False, False),
    "JPEGLosslessSV1": (LOSSLESS, False, False),
    "JPEGLosslessNonHierarchical15": (LOSSLESS, True, False),
    "JPEGExtendedHierarchical1618": (SEQUENTIAL, False, True),
    "JPEGExtendedHierarchical1719": (SEQUENTIAL, True, True),
    "JPEGSpectralSelectionHierarchical2022": (SPECTRAL, False, True),
    "JPEGSpectralSelectionHierarchical2123": (SPECTRAL, True, True),
    "JPEGFullProgressionHierarchical2426": (PROGRESSIVE, False, True),
    "JPEGFullProgressionHierarchical2527": (PROGRESSIVE, True, True),
    "JPEGLosslessHierarchical28": (LOSSLESS, False, True),
    "JPEGLosslessHierarchical29": (LOSSLESS, True, True),
}

_ARITHMETIC_SOF = frozenset(range(0xC9, 0xD0)) - {0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# The first (base) process number of each mode, 8-bit Huffman; arithmetic
# adds 1, 12-bit adds 2 (T.81 Annex / ISO 10918-2 numbering, as PS3.6 uses).
_BASE = {(SEQUENTIAL, False): 2, (SPECTRAL, False): 6, (PROGRESSIVE, False): 10,
         (SEQUENTIAL, True): 16, (SPECTRAL, True): 20, (PROGRESSIVE, True): 24}


@dataclass(frozen=True)
class JpegProcess:
    """The T.81 process of one stream.

    Attributes
    ----------
    mode : str
        ``"sequential"``, ``"spectral selection"``, ``"full progression"`` or
        ``"lossless"``.
    arithmetic : bool
        Arithmetic coding (SOF9-11, SOF13-15) rather than Huffman.
    hierarchical : bool
        A DHP segment precedes the frames.
    precision : int
        Sample precision P of the frame header.
    baseline : bool
        SOF0: the baseline process 1.
    """

    mode: str
    arithmetic: bool
    hierarchical: bool
    precision: int
    baseline: bool = False

    @property
    def number(self) -> int:
        """The process number (1 to 29) of ISO/IEC 10918-1 as PS3.6 counts them."""
        if self.baseline and not self.hierarchical:
            return 1
        if self.mode == LOSSLESS:
            return (28 if self.hierarchical else 14) + int(self.arithmetic)
        base = _BASE[(self.mode, self.hierarchical)]
        return base + int(self.arithmetic) + (2 if self.precision > 8 else 0)

    def __str__(self) -> str:
        coding = "arithmetic" if self.arithmetic else "Huffman"
        mode = ("baseline" if self.number == 1 else
                f"hierarchical {self.mode}" if self.hierarchical else self.mode)
        return f"Process {self.number} ({mode}, {coding}, {self.precision}-bit)"


def jpeg_process(data: bytes | bytearray | memoryview, info: JpegInfo) -> JpegProcess:
    """The process of a T.81 stream whose header :func:`parse_jpeg` read.

    Parameters
    ----------
    data : bytes-like
        The whole frame (the scan headers after the first are read for a
        progressive stream: successive approximation tells full progression
        from spectral selection; a hierarchical stream's later frames, the
        differential ones, count too).
    info : JpegInfo
        Its parsed header.
    """
    sof = info.sof
    if info.hierarchical:
        # The first frame may be simpler than the differential frames that
        # follow it (sequential, then progressive): every frame counts.
        walk = _walk(data)
        frames = walk.frames or (sof,)
        if all(f in _LOSSLESS_SOF for f in frames):
            mode = LOSSLESS
        elif any(f in _PROGRESSIVE_SOF for f in frames):
            mode = PROGRESSIVE if walk.successive else SPECTRAL
        else:
            mode = SEQUENTIAL
        arithmetic = any(f in _ARITHMETIC_SOF for f in frames)
        return JpegProcess(mode, arithmetic, True, info.precision)
    if sof in _LOSSLESS_SOF:
        mode = LOSSLESS
    elif sof in _PROGRESSIVE_SOF:
        mode = PROGRESSIVE if _walk(data, stop_at_sa=True).successive else SPECTRAL
    else:
        mode = SEQUENTIAL
    return JpegProcess(mode, sof in _ARITHMETIC_SOF, info.hierarchical,
                       info.precision, baseline=sof == 0xC0)


@dataclass
class _Walk:
    """What a walk over every marker segment of a stream saw."""

    frames: list[int]  # SOFn markers, in order
    successive: bool = False  # a progressive scan with Ah or Al not 0
    expand_both: bool = False  # an EXP segment doubling width and height


def _walk(data: bytes | bytearray | memoryview, stop_at_sa: bool = False) -> _Walk:
    """Walk a stream's marker segments (and skip its entropy-coded data).

    Marker segments are stepped over by their lengths, entropy-coded data up
    to the next marker that is neither a stuffed FF 00 nor RSTn. Each step
    moves forward, so the walk ends within the data; a stream cut short
    answers from the segments it holds. ``stop_at_sa`` returns at the first
    scan with successive approximation.
    """
    buf = bytes(_buffer(data))
    n = len(buf)
    seen = _Walk([])
    pos = 2
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            pos = _next_marker(buf, pos)
            continue
        code = buf[pos + 1]
        if code == 0xFF:
            pos += 1  # fill byte
            continue
        if code == 0xD9:
            break
        if code == 0x01 or 0xD0 <= code <= 0xD7:
            pos += 2
            continue
        length = _u16(memoryview(buf), pos + 2)
        end = pos + 2 + max(length, 2)
        if code in _SOF_MARKERS:
            seen.frames.append(code)
        elif code == 0xDF and length == 3 and end <= n:
            seen.expand_both = seen.expand_both or buf[pos + 4] == 0x11
        elif (code == 0xDA and length >= 6 and end <= n and buf[end - 1] != 0
              and (not seen.frames or seen.frames[-1] in _PROGRESSIVE_SOF)):
            # The last byte of a scan header is Ah << 4 | Al (Pt in lossless).
            seen.successive = True
            if stop_at_sa:
                break
        pos = _next_marker(buf, end) if code == 0xDA else end
    return seen


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def upsampling_note(data: bytes | bytearray | memoryview, info: JpegInfo) -> str | None:
    """A caveat for hierarchical lossless streams that expand 2 x 2 at once.

    T.81 J.1.1.2 doubles the width, truncates, then doubles the height and
    truncates again; Thomas Richter's libjpeg 2.5 (pylibjpeg-libjpeg, the
    only decoder of the hierarchical mode here) keeps the fraction between
    the two: a sample between four reference samples comes out as
    ``(a + b + c + d) >> 2``, 1 above T.81's value where both pairs have odd
    sums totalling a multiple of 4 (measured on streams tests/_jpegwriter
    writes). Files its own encoder wrote decode right; others may be 1 off
    there. None when the stream has no such step.
    """
    if not info.hierarchical or not info.lossless:
        return None
    walk = _walk(data)
    if not walk.expand_both or not all(f in _LOSSLESS_SOF for f in walk.frames):
        return None
    return ("the hierarchical lossless stream expands a frame 2 x 2 in one step "
            "(EXP); pylibjpeg-libjpeg rounds the samples between four reference "
            "samples once instead of after each direction as T.81 J.1.1.2 says, "
            "so those samples may be 1 above the encoder's image unless it was "
            "written by libjpeg itself: lossless exactness is not assured")


def _next_marker(buf: bytes, pos: int) -> int:
    """Offset of the next marker in entropy-coded data (len(buf) if none)."""
    n = len(buf)
    while True:
        pos = buf.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            return n
        nxt = buf[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos += 2
            continue
        if nxt == 0xFF:
            pos += 1
            continue
        return pos


def process_mismatch(data: bytes | bytearray | memoryview, info: JpegInfo,
                     ts: TransferSyntax) -> str | None:
    """Say how a stream's process falls outside its Transfer Syntax, or None.

    Parameters
    ----------
    data : bytes-like
        The frame.
    info : JpegInfo
        Its parsed header (``kind == "jpeg"``).
    ts : TransferSyntax
        The syntax the file declares.
    """
    want = SYNTAX_MODES.get(ts.keyword)
    if want is None or info.kind != "jpeg":
        return None
    mode, arithmetic, hierarchical = want
    quick = info.sof in _PROGRESSIVE_SOF and mode == PROGRESSIVE
    # Under a full-progression syntax both progressive modes fit: the scans
    # are only walked (successive approximation or not) where it matters.
    proc = (JpegProcess(PROGRESSIVE, info.sof in _ARITHMETIC_SOF, info.hierarchical,
                        info.precision) if quick else jpeg_process(data, info))
    why = []
    if (proc.mode == LOSSLESS) != (mode == LOSSLESS):
        why.append("lossless" if proc.mode == LOSSLESS else "lossy")
    elif mode != LOSSLESS and _RANK[proc.mode] > _RANK[mode]:
        why.append(proc.mode)
    if proc.arithmetic and not arithmetic:
        why.append("arithmetic coding")
    if proc.hierarchical and not hierarchical:
        why.append("the hierarchical mode")
    if not why:
        return None
    verb = "is" if len(why) == 1 else "are"
    return (f"the codestream is JPEG {proc} but the Transfer Syntax "
            f"{ts.keyword} allows {ts.process}: {' and '.join(why)} {verb} not "
            "part of it (decoded as the stream says)")
