"""Frames a cut file lost: where the file ends inside Pixel Data.

A file that ends inside its Pixel Data keeps the frames its header (native:
the element's length; encapsulated: Number of Frames, bounded by the offset
table) promised; :meth:`TruncatedFrames._truncation` says which of them the
cut reaches and how many bytes each lacks, and
:meth:`TruncatedFrames._check_complete` turns that into a
:class:`~dicomio.errors.TruncatedError` before any codec sees the frame.
A codestream that ends without its end marker is truncated too
(:meth:`TruncatedFrames._check_stream_end`). Reading past them is the
``on_error`` option (:mod:`dicomio.image.tolerance`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import TruncatedError
from .state import ImageState


class TruncatedFrames(ImageState):
    """Truncation (a part of :class:`~dicomio.image.DicomImage`)."""

    def _replace_frames(self, n: int) -> None:
        self.spec = replace(self.spec, number_of_frames=n)

    def _setup_cut_native(self, length: int, avail: int) -> None:
        """The file ends inside native Pixel Data: keep the frames its length holds.

        The element's own length says what was written; frames the cut
        reaches are truncated (:meth:`_truncation`), not dropped, so that
        reading them fails, or recovers with ``on_error="recover"``.
        """
        spec = self.spec
        self.warnings.append(f"Pixel Data claims {length} bytes but the file "
                             f"holds {avail}: truncated")
        if spec.bits_allocated == 1:
            bits = spec.rows * spec.columns * spec.samples_per_pixel
            full, rest = divmod(length * 8, bits)
            backed = full + (1 if rest >= 8 else 0)
        else:
            full, rest = divmod(length, spec.native_frame_nbytes)
            backed = full + (1 if rest > 1 else 0)  # one byte pads to even
        n = spec.number_of_frames
        if getattr(self, "_count_frames", False):
            self._replace_frames(max(1, backed))
        elif backed < n:
            self.warnings.append(
                f"(0028,0008) Number of Frames says {n} but Pixel Data holds "
                f"{backed} frame(s); reading {backed}")
            self._replace_frames(max(1, backed))
        self._cut = avail
        self._length = length

    def _cut_fragments(self, frags: Any, groups: list[list[int]]) -> bool:
        """Note which frames a file cut inside encapsulated Pixel Data lost.

        Sets ``_cut_frames``: ``{frame: (bytes present, bytes missing or
        None)}`` for the frames present but incomplete; frames past the last
        group have no byte at all. False when the data is not cut (a
        delimited sequence, or a value taken from a pydicom Dataset).
        """
        if getattr(self, "_from_dataset", False) or (frags.delimited
                                                     and frags.cut is None):
            return False
        cut: dict[int, tuple[int, int | None]] = {}
        if frags.cut is not None and groups:
            k, missing = frags.cut
            frame = next((g for g, members in enumerate(groups) if k in members),
                         len(groups) - 1)
            have = sum(frags.lengths[j] for j in groups[frame])
            cut[frame] = (have, missing or None)
        elif groups and not self._ends_whole(frags, groups[-1]):
            last = len(groups) - 1
            cut[last] = (sum(frags.lengths[j] for j in groups[last]), None)
        self._cut_frames = cut
        return True

    def _ends_whole(self, frags: Any, group: list[int]) -> bool:
        """Whether a frame's last fragment ends its codestream (EOI / EOC)."""
        if self.transfer_syntax.family not in ("jpeg", "jpegls", "jpeg2k", "htj2k"):
            return True  # no end marker to check
        assert self._reader is not None
        last = group[-1]
        size = frags.lengths[last]
        tail = self._reader.read(frags.offsets[last] + max(0, size - 64), min(64, size))
        return _ends_with_marker(tail)

    def _check_stream_end(self, i: int, data: bytes, tried: Any = ()) -> None:
        """Raise :class:`TruncatedError` for a codestream cut before its end marker.

        JPEG, JPEG-LS, JPEG 2000 and HTJ2K streams end with FFD9 (EOI / EOC);
        padding after it (zeros, an FF byte as some writers add) is fine.
        """
        if (self.transfer_syntax.family in ("jpeg", "jpegls", "jpeg2k", "htj2k")
                and data and not _ends_with_marker(bytes(data[-64:]))):
            raise TruncatedError(
                "the codestream does not end with EOI / EOC (FFD9): it is "
                "truncated, by an unknown number of bytes (read with "
                "on_error='recover' for what is there)",
                path=self.path or "<in-memory>", frame=i,
                transfer_syntax=str(self.transfer_syntax), tried=tried)

    def _truncation(self, i: int) -> tuple[int, int | None] | None:
        """``(bytes present, bytes missing or None)`` of frame ``i`` in a cut file.

        None when the frame is whole (or the file is not cut).
        """
        if not self.transfer_syntax.encapsulated:
            cut = getattr(self, "_cut", None)
            if cut is None:
                return None
            start, stop = self._native_span(i)
            if stop <= cut:
                return None
            return max(0, cut - start), stop - max(cut, start)
        cut_frames = getattr(self, "_cut_frames", None)
        if cut_frames is None:
            return None
        if i >= len(self._groups):
            return 0, None
        return cut_frames.get(i)

    def _native_span(self, i: int) -> tuple[int, int]:
        """Byte range of native frame ``i`` within Pixel Data's value."""
        spec = self.spec
        if spec.bits_allocated == 1:
            bits = spec.rows * spec.columns * spec.samples_per_pixel
            return (i * bits) // 8, (i * bits + bits + 7) // 8
        size = spec.native_frame_nbytes
        return i * size, i * size + size

    def _native_frame_span(self, i: int) -> int:
        """How many bytes :meth:`_frame_bytes` gives for whole native frame ``i``."""
        start, stop = self._native_span(i)
        return stop - start

    def _check_complete(self, i: int, tried: Any = ()) -> None:
        """Raise :class:`TruncatedError` when the file ends inside frame ``i``."""
        cut = self._truncation(i)
        if cut is None:
            return
        have, missing = cut
        if not have:
            size = f" {missing}" if missing is not None else ""
            what = f"the file ends before this frame: none of its{size} bytes is there"
        elif missing is not None:
            what = (f"the file ends inside this frame: {missing} of its "
                    f"{have + missing} bytes are missing")
        else:
            what = (f"the file ends inside this frame: {have} bytes are there, "
                    "the rest is missing")
        raise TruncatedError(
            f"{what} (file truncated; read with on_error='recover' for what "
            "is there)", path=self.path or "<in-memory>", frame=i,
            transfer_syntax=str(self.transfer_syntax), tried=tried,
            missing_bytes=missing)


def _ends_with_marker(tail: bytes) -> bool:
    """Whether a codestream's last bytes hold its FFD9 end marker.

    Entropy-coded data never holds FF D9 (JPEG stuffs FF with 00, JPEG-LS
    and JPEG 2000 keep the byte after FF below 90), so FF D9 among the last
    bytes is the end marker, whatever padding follows it.
    """
    return b"\xff\xd9" in tail
