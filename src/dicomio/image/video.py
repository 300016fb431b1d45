"""Video Transfer Syntaxes in the image layer: frames come from one stream.

For MPEG-2, H.264 and HEVC (PS3.5 8.2.5-8.2.7, A.4.5-A.4.7) the encapsulated
Pixel Data is not one codestream per frame: its fragments, concatenated, are
one stream (an MPEG program / transport stream, MP4, or a raw elementary
stream). :class:`VideoFrames` takes that role for a
:class:`~dicomio.image.DicomImage`:

* opening assembles the stream and indexes it (demuxing, no decoding; see
  :func:`dicomio.backends.video.index_stream`). The stream's own frame count,
  size and bit depth win over the header (PS3.5 says the stream's
  characteristics control decoding); a disagreement is a warning.
* :meth:`VideoFrames.read_into` decodes the wanted frames in display order,
  each straight into its slice of the output. A frame far ahead starts a
  fresh decoder at the keyframe before it; a frame at or just after the last
  one decoded continues with the same decoder, so scrolling through frames
  (napari) decodes every frame once.
* frames are returned as RGB (uint8, or uint16 holding 10-bit values for HEVC
  Main 10), converted with the matrix and range the stream signals; the colour
  report names them.
* ``on_error`` (:mod:`dicomio.image.tolerance`): a frame FFmpeg refuses
  fails, and so does every later frame of its group of pictures (GOP), which
  is predicted from it: with ``"raise"`` its DecodeError, otherwise each is
  recorded (``FrameInfo.action``) and set to 0 (``"fill"``, ``"recover"``)
  or left out (``"skip"``); the GOPs after it decode as usual. A file cut
  inside the stream keeps the header's frame count: the frames of the last
  GOP (whose data the cut reaches, so their order and pixels cannot be
  trusted) and those past it raise :class:`~dicomio.errors.TruncatedError`.
  A constant-rate stream whose timestamps skip pictures (lost packets) keeps
  their places: each skipped frame fails, and so do the GOPs around it,
  instead of every later frame moving up one place.

The image layer calls in at three places only: fragment setup, the frame loop
of ``read`` and the predicted colour report.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..backends import registry
from ..errors import DecodeError, DicomioError, TruncatedError
from ..values import photometric
from .tolerance import listed, record_failed

__all__ = ["VideoFrames", "frame_time", "chunk_bounds", "gop_chunks"]

_BACKEND = "pyav"


def _stream_bytes(image: Any, frags: Any) -> bytes:
    """Every fragment's bytes, concatenated: the one stream."""
    reader = image._reader
    return b"".join(reader.read(off, n) for off, n in zip(frags.offsets, frags.lengths))


def frame_time(image: Any) -> float | None:
    """Milliseconds between frames: Frame Time, else Cine Rate, else the stream's rate."""
    ds = image.dataset
    for keyword, convert in (("FrameTime", float), ("CineRate", lambda v: 1000.0 / float(v))):
        try:
            value = ds.get(keyword, None)
            if value not in (None, ""):
                ms = convert(value)
                if ms > 0:
                    return float(ms)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
    video = getattr(image, "_video", None)
    if video is not None and video.index is not None and video.index.frame_rate:
        return 1000.0 / video.index.frame_rate
    return None


def chunk_bounds(image: Any) -> list[int] | None:
    """Frame positions where a video's decodable groups (GOPs) start, then the count.

    None for an image that is not a video (or whose stream is not indexed).
    Lazy arrays chunk along these, so one chunk never decodes another's GOP.
    """
    video = getattr(image, "_video", None)
    if video is None or video.index is None:
        return None
    bounds = video.index.unit_bounds
    return [video.to_frame(b) for b in bounds[:-1]] + [image.n_frames]


def gop_chunks(bounds: Sequence[int], min_frames: int) -> list[int]:
    """Chunk boundaries made of whole GOPs, each at least ``min_frames`` long.

    ``bounds`` is :func:`chunk_bounds`' list (GOP starts, then the frame
    count); the last chunk may be shorter. A chunk then never starts inside
    a GOP, so computing it decodes no frame another chunk needs.
    """
    out = [0]
    for b in bounds[1:-1]:
        if b - out[-1] >= max(1, min_frames):
            out.append(int(b))
    if bounds[-1] > out[-1]:
        out.append(int(bounds[-1]))
    return out


class VideoFrames:
    """One video file's stream, its index and a decoder kept between reads.

    Parameters
    ----------
    image : DicomImage
        The image being opened (its ``spec`` is updated from the stream).
    frags : Fragments
        The scanned fragments of its Pixel Data.
    """

    def __init__(self, image: Any, frags: Any) -> None:
        self.image = image
        self.index: Any = None
        self.error: str | None = None
        self._decoder: Any = None
        # The file ends inside the stream: frames from cut_from on are lost.
        self.cut_from: int | None = None
        self._cut_bytes: int | None = None
        # Unit -> stream position where decoding it failed, and why.
        self._broken: dict[int, tuple[int, DicomioError]] = {}
        # Frames (display positions) whose pictures the stream lost; stream
        # positions (the index's) leave them out.
        self._lost: list[int] = []
        self._lock = threading.Lock()
        be = registry.get(_BACKEND)
        if not be.available():
            # Opening stays header-only; read() says what to install.
            return
        from ..backends.video import CODECS, VideoStreamError, index_stream

        try:
            # The joined stream lives only while it is demuxed: the packets
            # hold their own copies of its bytes.
            self.index = index_stream(be.load()["av"], _stream_bytes(image, frags),
                                      CODECS[image.transfer_syntax.keyword])
        except VideoStreamError as exc:
            self.error = str(exc)
        except Exception as exc:  # PyAV / FFmpeg failing in a way not foreseen
            self.error = f"{type(exc).__name__}: {exc}"
        if self.index is None:
            # Opening succeeds (the header is fine); read() raises.
            image.warnings.append(f"the video stream cannot be read: {self.error}")
            return
        self._lost = sorted(self.index.lost)
        # A file that ends inside a fragment is cut; one that ends between
        # items (no sequence delimiter) only when frames are missing too.
        self._header_n = int(image.spec.number_of_frames)
        cut = not getattr(image, "_from_dataset", False) and (
            frags.cut is not None or (not frags.delimited and self._header_n > (
                self.index.n_frames + len(self._lost))))
        self._adopt_stream(cut)
        if self._lost:
            self._adopt_lost()
        if cut:
            self._adopt_cut(frags)

    def to_frame(self, q: int) -> int:
        """The frame (display position) of stream position ``q``."""
        p = int(q)
        for lost in self._lost:
            if lost > p:
                break
            p += 1
        return p

    def _to_stream(self, p: int) -> int | None:
        """The stream position of frame ``p``; None for a lost picture."""
        k = bisect.bisect_left(self._lost, p)
        if k < len(self._lost) and self._lost[k] == p:
            return None
        return p - k

    def _adopt_lost(self) -> None:
        """Lost pictures: they and the GOPs on either side of each fail."""
        index, lost = self.index, self._lost
        shown = listed(map(str, lost))
        self.image.warnings.append(
            f"the video stream's timestamps skip {len(lost)} picture(s) (lost "
            f"packets): frames {shown} are missing, and the groups of pictures "
            "around them cannot be trusted (read with on_error='fill' for the "
            "others)")
        for p in lost:
            q = p - bisect.bisect_left(lost, p)  # the next picture there is
            # The group before the gap lost it, unless the gap is the leading
            # pictures of an open group after it (a lost keyframe merges its
            # group into the one before: one unit then).
            near = {q - 1} if q < index.n_frames and not index.leading[
                index.unit_of(q)] else {q - 1, q}
            for pos in near & set(range(index.n_frames)):
                unit = index.unit_of(pos)
                self._broken[unit] = (index.first(unit), self._fail(
                    f"the stream lost a picture of this group of pictures (frame "
                    f"{p}: its timestamp is skipped)", p))

    def _adopt_cut(self, frags: Any) -> None:
        """A file cut inside the stream: the last GOP and what follows are lost."""
        index, image = self.index, self.image
        self.cut_from = index.first(len(index.starts) - 1)
        if isinstance(frags.cut, tuple) and frags.cut[1]:
            self._cut_bytes = int(frags.cut[1])
        n = max(self._header_n, image.spec.number_of_frames)
        image.spec = replace(image.spec, number_of_frames=n)
        image.warnings.append(
            f"the file ends inside the video stream: frames "
            f"{self.to_frame(self.cut_from)} to "
            f"{n - 1} are incomplete or missing (read with on_error='recover' "
            "for the frames before)")

    def _adopt_stream(self, cut: bool = False) -> None:
        """Make the image's spec say what the stream holds; warn where it differs."""
        image, index = self.image, self.index
        spec = image.spec
        notes = image.warnings
        if (spec.rows, spec.columns) != (index.height, index.width):
            notes.append(f"(0028,0010) Rows / (0028,0011) Columns say {spec.rows} x "
                         f"{spec.columns} but the stream is {index.height} x "
                         f"{index.width}; using the stream's size")
        bits = index.bit_depth
        if spec.bits_stored != bits:
            notes.append(f"(0028,0101) Bits Stored says {spec.bits_stored} but the "
                         f"stream has {bits}-bit samples; using {bits}")
        grey = photometric.family(spec.photometric) == "MONOCHROME"
        n = index.n_frames + len(self._lost)
        if n != spec.number_of_frames and not cut:
            notes.append(f"(0028,0008) Number of Frames says {spec.number_of_frames} "
                         f"but the video stream holds {n} frames; using {n}")
        image.spec = replace(spec, rows=index.height, columns=index.width,
                             samples_per_pixel=1 if grey else 3,
                             bits_allocated=8 if bits <= 8 else 16, bits_stored=bits,
                             pixel_representation=0, planar_configuration=0,
                             number_of_frames=n)

    # ------------------------------------------------------------------ read
    def _fail(self, msg: str, frame: int | None) -> DicomioError:
        return self.image._err(DecodeError, msg, frame=frame,
                               tried=[(_BACKEND, msg)])

    def _av(self) -> Any:
        return registry.get(_BACKEND).load()["av"]

    def read_into(self, idx: Sequence[int], result: np.ndarray, want_rgb: bool,
                  rescale: bool, threads: int | None, on_error: str = "raise") -> None:
        """Decode frames ``idx`` (display positions) into ``result[k]``.

        ``result`` has the rescaled dtype when ``rescale`` is set. A frame
        that fails raises, or with another ``on_error`` is recorded in its
        FrameInfo and set to 0 (``finish`` warns, and drops it for skip).
        """
        if self.index is None:
            err = self._fail(f"the video stream cannot be read: {self.error}",
                             idx[0] if len(idx) else None)
            if on_error == "raise":
                raise err
            for k, i in enumerate(idx):
                record_failed(self.image, int(i), err, on_error)  # type: ignore[arg-type]
                result[k] = 0
            return
        slots: dict[int, list[int]] = {}
        for k, i in enumerate(idx):
            slots.setdefault(int(i), []).append(k)
        image = self.image
        scratch = (np.empty(image.frame_shape, image.dtype)
                   if rescale and result.dtype != image.dtype else None)
        with self._lock:
            for i in sorted(slots):
                first = slots[i][0]
                dest = result[first] if scratch is None else scratch
                try:
                    self._decode(i, dest, want_rgb, threads)
                except DecodeError as exc:
                    if on_error == "raise":
                        raise
                    record_failed(self.image, i, exc, on_error)
                    for k in slots[i]:
                        result[k] = 0
                    continue
                if scratch is not None:
                    image.rescale(scratch, out=result[first])
                elif rescale:
                    image.rescale(result[first], out=result[first])
                for k in slots[i][1:]:
                    result[k] = result[first]

    def _seek_unit(self, i: int) -> int:
        index = self.index
        unit = index.unit_of(i)
        # A unit with leading pictures a fresh decoder drops (open GOP) is
        # decoded from the unit before it.
        return unit - 1 if unit and index.leading[unit] else unit

    def _decode(self, frame: int, dest: np.ndarray, want_rgb: bool,
                threads: int | None) -> None:
        """Decode ``frame`` (a display position) into ``dest``."""
        from ..backends.video import StreamDecoder, VideoStreamError

        index = self.index
        i = self._to_stream(frame)
        if i is None:
            raise self._fail("the stream holds no picture for this frame: its "
                             "timestamp is skipped (a lost packet)", frame)
        if self.cut_from is not None and i >= self.cut_from:
            raise self.image._err(
                TruncatedError, "the file ends inside the video stream: this "
                "frame's group of pictures (from frame "
                f"{self.to_frame(self.cut_from)}) is cut (file truncated; read "
                "with on_error='recover' for the frames before)", frame=frame,
                tried=[(_BACKEND, "not run: the stream is cut")])
        unit = self._seek_unit(i)
        broken = self._broken.get(index.unit_of(i))
        if broken is not None and i >= broken[0]:
            # Predicted from a frame that failed: decoding again fails again.
            at = self.to_frame(broken[0])
            raise self._fail(f"{broken[1].message}" + (
                "" if at == frame else f" (at frame {at}, which this frame is "
                "predicted from)"), frame)
        dec = self._decoder
        # Continue the decoder when it is not past frame i and restarting at
        # the unit's keyframe would not save work (its next frame is in the
        # unit already, or about to be): sequential reads never restart.
        if (dec is None or dec.position > i
                or dec.position < index.first(unit) - 2):
            dec = self._decoder = StreamDecoder(
                self._av(), index, unit, threads=threads or 0)
        try:
            dec.decode_to({i: dest}, i, self._converter(want_rgb))
        except VideoStreamError as exc:
            self._decoder = None
            at = i if exc.frame is None else int(exc.frame)
            where = "" if at == i else f" (at frame {self.to_frame(at)})"
            err = self._fail(f"{exc}{where}", frame)
            if index.unit_of(at) == index.unit_of(i):
                self._broken[index.unit_of(i)] = (at, self._fail(
                    str(exc), self.to_frame(at)))
            raise err from None
        except DicomioError:
            self._decoder = None
            raise
        except Exception as exc:  # FFmpeg / PyAV failure outside decoding
            self._decoder = None
            raise self._fail(f"{type(exc).__name__}: {exc}", frame) from None

    def _converter(self, want_rgb: bool) -> Callable[[Any, np.ndarray, int], None]:
        from ..backends.video import convert_frame

        height = self.index.height

        def convert(frame: Any, dest: np.ndarray, pos: int) -> None:
            notes: list[str] = []
            convert_frame(frame, dest, True, height, notes.append)
            self._record(self.to_frame(pos), notes, want_rgb)

        return convert

    def _record(self, i: int, colour_notes: list[str], want_rgb: bool) -> None:
        from . import FrameInfo

        report = self.report(colour_notes, want_rgb)
        with self.image._lock:
            self.image._infos[i] = FrameInfo(i, _BACKEND, report, [])

    # --------------------------------------------------------------- colour
    def report(self, colour_notes: list[str], want_rgb: bool) -> dict[str, Any]:
        """The colour report of a frame (or, without notes, the predicted one)."""
        spec, index = self.image.spec, self.index
        declared = spec.photometric
        fam = photometric.family(declared)
        full = any("full range" in n for n in colour_notes)
        codestream = "YBR_FULL" if full else "YBR_PARTIAL_420"
        notes = []
        if index is not None:
            notes.append(f"{index.codec} {index.profile or ''} stream ({index.container},"
                         f" {index.pix_fmt})".replace("  ", " "))
        notes += colour_notes
        mislabelled = fam not in ("YBR", "MONOCHROME")
        if mislabelled:
            notes.append(f"declared {declared or 'nothing'}; video streams hold YCbCr")
        if spec.samples_per_pixel == 1:
            output = "MONOCHROME2"
            codestream = "MONOCHROME2" if fam == "MONOCHROME" else codestream
        else:
            output = "RGB"
            if not want_rgb:
                notes.append("video frames are always returned as RGB")
        return photometric.make_report(declared, codestream, output, notes,
                                       mislabelled)

    def predicted(self, color: str) -> dict[str, Any]:
        """The report :meth:`read_into` would give, from the stream's header."""
        notes: list[str] = []
        index = self.index
        if index is not None and index.packets:
            from ..backends.video import colour

            notes.append(colour(_Signal(index), index.height)[3])
        return self.report(notes, color == "rgb")


class _Signal:
    """The colour signalling FFmpeg read from the stream header (frame-like)."""

    def __init__(self, index: Any) -> None:
        self.colorspace = index.colorspace
        self.color_range = index.color_range
