"""PyAV (FFmpeg) backend for the video Transfer Syntaxes (MPEG-2, H.264, HEVC).

Video is not a sequence of frames each in its own fragments: the whole
encapsulated Pixel Data (every fragment, concatenated) is one stream, an
MPEG-2 program or transport stream, an MP4 file or a raw elementary stream
(H.264 / HEVC Annex B, MPEG-2 video). FFmpeg probes which. This module is the
only one importing ``av``; :mod:`dicomio.image.video` drives it.

* :func:`index_stream` demuxes the stream once (no decoding) into packets in
  decode order and splits them into *units*, each starting at a random access
  point (a keyframe from which a fresh decoder can start). A unit's frames
  occupy the same run of positions in display order as its packets do in
  decode order, so frame ``i`` belongs to the unit whose packets cover ``i``.
* :class:`StreamDecoder` decodes forward from a unit's keyframe and writes the
  wanted frames, converted to RGB, into caller-supplied arrays; the caller
  keeps it to continue where it stopped (sequential reads).
* :func:`encode_stream` makes streams for the samples, tests and benchmarks.

Random access points: packets FFmpeg flags as keyframes when the stream has
timestamps; in raw Annex B streams (no timestamps) the access units holding
an IDR picture (H.264) or an IRAP picture (HEVC), found from the NAL unit
types. Leading pictures that a decoder starting at a keyframe cannot decode
(MPEG-2 open GOPs, HEVC RASL pictures) are counted per unit; a unit that has
them is decoded starting one unit earlier.

Decoding runs with ``err_detect=explode``, and a frame FFmpeg marks corrupt is
refused: a damaged stream raises instead of returning concealed pixels.
FFmpeg's log stays off stderr (PyAV's default); ``av.logging.set_level``
turns it on.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..tsyntax import TRANSFER_SYNTAXES
from ._base import Backend, Decoded, FrameContext

__all__ = ["VideoBackend", "backend", "StreamIndex", "StreamDecoder",
           "VideoStreamError", "index_stream", "encode_stream", "CODECS"]

#: FFmpeg decoder per Transfer Syntax keyword.
CODECS = {
    "MPEG2MPML": "mpeg2video", "MPEG2MPHL": "mpeg2video",
    "MPEG4HP41": "h264", "MPEG4HP41BD": "h264", "MPEG4HP422D": "h264",
    "MPEG4HP423D": "h264", "MPEG4HP42STEREO": "h264",
    "HEVCMP51": "hevc", "HEVCM10P51": "hevc",
}
# Elementary-stream demuxers to try when probing finds nothing.
_RAW_FORMATS = {"mpeg2video": "mpegvideo", "h264": "h264", "hevc": "hevc"}
# AVColorSpace values -> (swscale matrix name, label).
_MATRICES = {1: ("ITU709", "BT.709"), 5: ("ITU601", "BT.601"),
             6: ("ITU601", "BT.601"), 7: ("SMPTE240M", "SMPTE 240M"),
             4: ("FCC", "FCC"), 9: ("BT2020", "BT.2020"), 10: ("BT2020", "BT.2020")}


class VideoStreamError(ValueError):
    """A stream that cannot be demuxed or decoded; ``frame`` names the frame."""

    def __init__(self, message: str, frame: int | None = None) -> None:
        super().__init__(message)
        self.frame = frame


@dataclass
class StreamIndex:
    """What demuxing found: packets in decode order, grouped into units.

    Attributes
    ----------
    codec, container : str
        FFmpeg's decoder and demuxer names.
    width, height, bit_depth : int
        The coded picture size and sample precision.
    pix_fmt : str
        FFmpeg's pixel format (``yuv420p``, ``yuv420p10le``, ...).
    profile : str or None
        The profile FFmpeg read from the stream.
    packets : list
        ``av.Packet`` objects in decode order (their ``pts`` set to the
        decode position).
    starts : list of int
        Decode position of each unit's keyframe (``starts[0] == 0``).
    leading : list of int
        Per unit: pictures a decoder starting at its keyframe drops.
    frame_rate : float or None
        Frames per second the stream signals, if any.
    notes : list of str
        What was assumed while indexing.
    lost : list of int
        Display positions, counting the missing pictures too, of pictures
        the timestamps skip (a constant-rate stream that lost packets);
        the other positions here leave them out.
    """

    codec: str
    container: str
    width: int
    height: int
    bit_depth: int
    pix_fmt: str
    profile: str | None
    packets: list[Any]
    starts: list[int]
    leading: list[int]
    extradata: bytes | None = None
    frame_rate: float | None = None
    colorspace: int = 2
    color_range: int = 0
    notes: list[str] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Frames the stream displays (the first unit's undecodable ones excluded)."""
        return len(self.packets) - self.leading[0]

    def first(self, unit: int) -> int:
        """Display position of the first frame of ``unit``."""
        return 0 if unit == 0 else self.starts[unit] - self.leading[0]

    def unit_of(self, frame: int) -> int:
        """The unit holding display position ``frame``."""
        import bisect

        return max(0, bisect.bisect_right(self.starts, frame + self.leading[0]) - 1)

    @property
    def unit_bounds(self) -> list[int]:
        """Display positions where units start, then the frame count."""
        return [self.first(u) for u in range(len(self.starts))] + [self.n_frames]


def _nal_types(data: bytes, codec: str) -> list[int]:
    """NAL unit types in an Annex B access unit (start-code delimited)."""
    types = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(data):
        head = data[pos + 3]
        types.append(head & 0x1F if codec == "h264" else (head >> 1) & 0x3F)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types


def _annexb(head: bytes) -> bool:
    return head.startswith(b"\x00\x00\x01") or head == b"\x00\x00\x00\x01"


def _annexb_units(packets: Sequence[Any], codec: str) -> tuple[list[int], list[int]]:
    """Units of a raw Annex B stream from its NAL unit types."""
    starts: list[int] = []
    leading: list[int] = []
    for d, pkt in enumerate(packets):
        types = _nal_types(bytes(pkt), codec)
        if codec == "h264":
            rap, rasl = 5 in types, False
        else:
            vcl = [t for t in types if t < 32]
            rap = bool(vcl) and 16 <= vcl[0] <= 21
            rasl = bool(vcl) and vcl[0] in (8, 9)
        if rap or d == 0:
            starts.append(d)
            leading.append(0)
        elif rasl:
            leading[-1] += 1
    return starts, leading


def _timed_units(packets: Sequence[Any], pts: Sequence[int]
                 ) -> tuple[list[int], list[int]] | None:
    """Units of a stream with timestamps; None when its order breaks the model."""
    starts = [d for d, p in enumerate(packets) if p.is_keyframe or d == 0]
    bounds = starts + [len(packets)]
    leading = [sum(1 for d in range(a, b) if pts[d] < pts[a])
               for a, b in zip(bounds, bounds[1:])]
    # Every unit must display exactly the positions its packets occupy.
    rank = {p: r for r, p in enumerate(sorted(pts))}
    for a, b in zip(bounds, bounds[1:]):
        if sorted(rank[pts[d]] for d in range(a, b)) != list(range(a, b)):
            return None
    return starts, leading


def _lost(pts: Sequence[int], leading: int) -> list[int]:
    """Display positions the timestamps of a constant-rate stream skip.

    Counted with the missing pictures; ``leading`` undecodable pictures at
    the start are not shown. Empty when the steps are not all multiples of
    the most common one (a variable rate: nothing to tell).
    """
    from collections import Counter

    ordered = sorted(set(pts))
    if len(ordered) < 3:
        return []
    steps = [b - a for a, b in zip(ordered, ordered[1:])]
    step = Counter(steps).most_common(1)[0][0]
    if step <= 0 or any(d % step for d in steps) or \
            (ordered[-1] - ordered[0]) // step >= 2 * len(ordered):
        return []
    out: list[int] = []
    for a, d in zip(ordered, steps):
        at = (a - ordered[0]) // step - leading
        out.extend(at + j for j in range(1, d // step) if at + j >= 0)
    return out


def _stream_info(container: Any, stream: Any) -> dict[str, Any]:
    """What the index needs from the stream, read while the container is open.

    (A stream or codec context used after its container closed is freed
    memory: FFmpeg crashes on it.)
    """
    cc = stream.codec_context
    if cc is None:
        raise VideoStreamError(f"{container.format.name}: FFmpeg has no decoder "
                               "for the video stream")
    rate = stream.average_rate or stream.guessed_rate
    return {"name": cc.name, "width": int(cc.width or 0), "height": int(cc.height or 0),
            "pix_fmt": cc.pix_fmt, "profile": cc.profile,
            "extradata": bytes(cc.extradata) if cc.extradata else None,
            "rate": float(rate) if rate else None, "colorspace": int(cc.colorspace),
            "color_range": int(cc.color_range), "container": container.format.name}


def _demux(av: Any, data: bytes, codec: str) -> tuple[dict[str, Any], list[Any]]:
    errors = []
    for fmt in (None, _RAW_FORMATS[codec]):
        try:
            container = av.open(io.BytesIO(data), format=fmt)
        except Exception as exc:  # FFmpeg could not probe: try the raw demuxer
            errors.append(f"{fmt or 'probe'}: {exc}")
            continue
        with container:
            if not container.streams.video:
                errors.append(f"{container.format.name}: no video stream")
                continue
            stream = container.streams.video[0]
            info = _stream_info(container, stream)
            try:
                packets = [p for p in container.demux(stream) if p.size]
            except Exception as exc:
                raise VideoStreamError(f"cannot demux the stream: {exc}") from None
            if packets:
                return info, packets
            errors.append(f"{container.format.name}: no packets")
    raise VideoStreamError("not a video stream FFmpeg can read (" + "; ".join(errors) + ")")


def index_stream(av: Any, data: bytes, codec: str) -> StreamIndex:
    """Demux ``data`` (no decoding) and find its units.

    Raises
    ------
    VideoStreamError
        When FFmpeg finds no video stream or it is not ``codec``.
    """
    info, packets = _demux(av, data, codec)
    if info["name"] != codec:
        raise VideoStreamError(f"the stream is {info['name']}, but the Transfer "
                               f"Syntax says {codec}")
    if info["width"] < 1 or info["height"] < 1:
        raise VideoStreamError("the stream's picture size is unknown (no sequence "
                               "header / parameter sets)")
    pix = info["pix_fmt"] or "yuv420p"
    depth = 10 if "10" in pix else 12 if "12" in pix else 8
    notes: list[str] = []
    pts = [p.pts for p in packets]
    units = None
    lost: list[int] = []
    if all(v is not None for v in pts):
        units = _timed_units(packets, pts)
        if units is None:
            notes.append("the stream's display order does not follow its "
                         "keyframes: frames are decoded from the start")
            units = ([0], [0])
    elif codec in ("h264", "hevc") and _annexb(bytes(packets[0])[:4]):
        units = _annexb_units(packets, codec)
    else:
        notes.append("the stream has no timestamps: frames are decoded from the start")
        units = ([0], [0])
    if all(v is not None for v in pts):
        lost = _lost(pts, units[1][0])
    for d, pkt in enumerate(packets):
        pkt.pts = d
        pkt.dts = None
    return StreamIndex(
        codec=codec, container=info["container"], width=info["width"],
        height=info["height"], bit_depth=depth, pix_fmt=pix, profile=info["profile"],
        packets=packets, starts=units[0], leading=units[1],
        extradata=info["extradata"], frame_rate=info["rate"], notes=notes,
        colorspace=info["colorspace"], color_range=info["color_range"], lost=lost)


def colour(frame: Any, height: int) -> tuple[str, str, bool, str]:
    """The YCbCr -> RGB matrix and range for ``frame``.

    Returns ``(swscale matrix, label, full_range, note)``. A stream that does
    not signal its matrix gets BT.709 from 720 lines up, BT.601 below (what
    players do); an unsignalled range is limited (video range).
    """
    cs = int(frame.colorspace)
    rng = int(frame.color_range)
    if cs in _MATRICES:
        sws, label = _MATRICES[cs]
        where = "signalled in the stream"
    else:
        sws, label = ("ITU709", "BT.709") if height >= 720 else ("ITU601", "BT.601")
        where = f"not signalled in the stream; assumed for {height} lines"
    full = rng == 2
    what = "full" if full else "limited"
    how = "signalled" if rng in (1, 2) else "assumed"
    return sws, label, full, f"{label} matrix ({where}), {what} range ({how})"


class StreamDecoder:
    """A decoder positioned in a stream, continuing forward on request.

    Parameters
    ----------
    av : module
        PyAV.
    index : StreamIndex
        The demuxed stream.
    unit : int
        Start at this unit's keyframe.
    threads : int
        FFmpeg decoding threads (0: FFmpeg chooses).
    """

    def __init__(self, av: Any, index: StreamIndex, unit: int, threads: int = 0
                 ) -> None:
        self.index = index
        ctx = av.CodecContext.create(index.codec, "r")
        if index.extradata:
            ctx.extradata = index.extradata
        ctx.options = {"err_detect": "explode"}
        ctx.thread_type = "AUTO"
        ctx.thread_count = max(0, int(threads))
        self.ctx = ctx
        self.unit = unit
        self.packet = index.starts[unit]
        # Display position of the next frame out: a fresh decoder drops the
        # unit's undecodable leading pictures (already excluded for unit 0).
        self.position = index.first(unit) + (index.leading[unit] if unit else 0)
        self.drained = False
        self.pending: deque[Any] = deque()

    def _frames(self) -> Any:
        """Yield decoded frames in display order, feeding packets as needed.

        Frames one ``decode`` call returns beyond the one wanted wait in
        ``pending`` for the next call (a generator left unfinished would
        lose them).
        """
        packets = self.index.packets
        while self.pending or not self.drained:
            if self.pending:
                yield self.pending.popleft()
                continue
            if self.packet < len(packets):
                pkt = packets[self.packet]
                self.packet += 1
            else:
                pkt = None
                self.drained = True
            try:
                self.pending.extend(self.ctx.decode(pkt))
            except Exception as exc:
                raise VideoStreamError(f"FFmpeg cannot decode the stream "
                                       f"({type(exc).__name__}: {exc})",
                                       self.position) from None

    def decode_to(self, targets: dict[int, np.ndarray], stop: int,
                  convert: Callable[[Any, np.ndarray, int], None]) -> None:
        """Decode forward up to display position ``stop`` (inclusive).

        Frames whose position is a key of ``targets`` are converted into the
        array it maps to (``convert(frame, dest, position)``); the others are
        skipped without conversion.
        """
        index = self.index
        if self.position > stop:
            raise ValueError("the decoder is already past the frame")
        for frame in self._frames():
            pos = self.position
            if frame.is_corrupt:
                raise VideoStreamError("FFmpeg marks the frame corrupt", pos)
            if frame.pts is not None and index.unit_of(pos) != index.unit_of(
                    int(frame.pts) - index.leading[0]):
                raise VideoStreamError("frames came out of order (the stream's "
                                       "keyframes do not split it into "
                                       "independent groups)", pos)
            self.position += 1
            dest = targets.get(pos)
            if dest is not None:
                convert(frame, dest, pos)
            if pos >= stop:
                return
        raise VideoStreamError(f"the stream ends after {self.position} frames",
                               self.position)


def convert_frame(frame: Any, dest: np.ndarray, rgb: bool, height: int,
                  report: Callable[[str], None] | None = None) -> None:
    """Convert a decoded YCbCr frame into ``dest`` (RGB, or grey luma)."""
    sws, _label, full, note = colour(frame, height)
    if report is not None:
        report(note)
    wide = dest.dtype.itemsize > 1
    # Chroma is replicated (POINT): swscale's 8-bit 4:2:0 -> RGB path does so
    # whatever is asked, and its bilinear 10-bit path is 5 dB worse here.
    kwargs = {"src_colorspace": sws, "src_color_range": "JPEG" if full else "MPEG",
              "dst_color_range": "JPEG", "interpolation": "POINT"}
    grey = dest.ndim == 2 or not rgb
    if wide:
        # 16-bit output rounded to the stream's 10 bits (swscale's gbrp10le
        # output loses 10 dB on the same frames).
        arr = frame.to_ndarray(format="gray16le" if grey else "rgb48le", **kwargs)
        arr = to_bits(arr, 10)
    else:
        arr = frame.to_ndarray(format="gray" if grey else "rgb24", **kwargs)
    if arr.shape != dest.shape:
        raise VideoStreamError(f"decoded frame shape {arr.shape}, expected "
                               f"{dest.shape}")
    np.copyto(dest, arr, casting="unsafe")


def to_bits(arr: np.ndarray, bits: int) -> np.ndarray:
    """Round 16-bit samples to ``bits`` bits, in place (uint16)."""
    shift = 16 - bits
    np.right_shift(arr, shift - 1, out=arr)
    arr += 1
    np.right_shift(arr, 1, out=arr)
    np.minimum(arr, (1 << bits) - 1, out=arr)
    return arr


class VideoBackend(Backend):
    """Decode MPEG-2, H.264 and HEVC streams with PyAV (FFmpeg)."""

    name = "pyav"
    install = 'pip install "dicomio[video]"'
    modules = ("av",)
    syntaxes = frozenset(u for u, t in TRANSFER_SYNTAXES.items() if t.family == "video")
    gil_free = True
    # PyAV is "Pythonic bindings for FFmpeg's libraries" (its README).
    libraries = MappingProxyType({"video": "FFmpeg (libavcodec)"})

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode frame ``ctx.index`` of the whole stream ``data`` (slow path).

        :mod:`dicomio.image.video` indexes the stream once and keeps a
        decoder; this entry point exists for the backend contract (and
        process isolation) and redoes both.
        """
        av = self.load()["av"]
        index = index_stream(av, data, CODECS[ctx.spec.transfer_syntax.keyword])
        i = int(ctx.index)
        unit = index.unit_of(i)
        if index.leading[unit] and unit:
            unit -= 1
        dec = StreamDecoder(av, index, unit)
        shape = ctx.spec.frame_shape
        out = np.empty(shape, np.uint16 if index.bit_depth > 8 else np.uint8)
        dec.decode_to({i: out}, i, lambda f, d, _: convert_frame(
            f, d, ctx.want_rgb, index.height))
        return Decoded(out, "RGB" if out.ndim == 3 else "MONOCHROME")


def encode_stream(frames: np.ndarray, keyword: str, *, fps: float = 25.0,
                  gop: int = 12, bframes: int = 2, quality: int | None = None,
                  container: str | None = None, matrix: str = "bt709") -> bytes:
    """Encode RGB ``frames`` ``(n, rows, cols, 3)`` as a stream for ``keyword``.

    uint8 input gives 8-bit 4:2:0; uint16 input (10-bit values, 0..1023) gives
    10-bit 4:2:0 (HEVC Main 10 only). ``container`` is an FFmpeg muxer:
    ``"mpeg"`` (MPEG-2 program stream, the default for MPEG-2), ``"mpegts"``
    (the default for H.264 / HEVC), ``"mp4"``, or ``"h264"`` / ``"hevc"`` /
    ``"mpeg2video"`` for a raw elementary stream. The profile and level of
    the Transfer Syntax are requested from the encoder; GOPs are closed.
    ``matrix`` is signalled in the stream (``"bt709"`` or ``"bt601"``).
    """
    import av

    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be (n, rows, cols, 3), not {arr.shape}")
    codec = CODECS[keyword]
    ten = arr.dtype == np.uint16
    if ten and keyword != "HEVCM10P51":
        raise ValueError("10-bit input is for HEVCM10P51 only")
    fmt = container or ("mpeg" if codec == "mpeg2video" else "mpegts")
    enc = {"mpeg2video": "mpeg2video", "h264": "libx264", "hevc": "libx265"}[codec]
    space = {"bt709": ("ITU709", 1), "bt601": ("ITU601", 6)}[matrix]
    buf = io.BytesIO()
    from fractions import Fraction

    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(enc, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = int(arr.shape[2]), int(arr.shape[1])
        stream.pix_fmt = "yuv420p10le" if ten else "yuv420p"
        stream.codec_context.colorspace = space[1]
        stream.codec_context.color_range = 1
        stream.options = _encoder_options(keyword, gop, bframes, quality, matrix)
        if codec == "mpeg2video":
            stream.codec_context.gop_size = gop
            stream.codec_context.max_b_frames = bframes
        for rgb in arr:
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb * 64 if ten else rgb),
                format="rgb48le" if ten else "rgb24")
            vf = vf.reformat(format=stream.pix_fmt, dst_colorspace=space[0],
                             dst_color_range="MPEG")
            for pkt in stream.encode(vf):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return buf.getvalue()


def _encoder_options(keyword: str, gop: int, bframes: int, quality: int | None,
                     matrix: str) -> dict[str, str]:
    if keyword.startswith("MPEG2"):
        # Main profile (4); Main (8) or High (4) level.
        return {"profile": "4", "level": "4" if keyword == "MPEG2MPHL" else "8",
                "flags": "+cgop", "sc_threshold": "1000000000", "qmin": "1",
                "qmax": str(quality if quality is not None else 4), "b": "8M"}
    if keyword.startswith("MPEG4"):
        level = "4.1" if keyword.startswith("MPEG4HP41") else "4.2"
        params = [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0",
                  f"bframes={bframes}", "log-level=none", f"colormatrix={matrix}",
                  f"colorprim={matrix}", f"transfer={matrix}"]
        if keyword == "MPEG4HP41BD":
            params.append("bluray-compat=1")
        return {"profile": "high", "level": level, "crf": str(18 if quality is None else quality),
                "x264-params": ":".join(params)}
    params = [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0", f"bframes={bframes}",
              "open-gop=0", "log-level=none", "level-idc=5.1", f"colormatrix={matrix}",
              f"colorprim={matrix}", f"transfer={matrix}",
              f"crf={18 if quality is None else quality}"]
    profile = "main10" if keyword == "HEVCM10P51" else "main"
    return {"profile": profile, "x265-params": ":".join(params)}


backend = VideoBackend()
