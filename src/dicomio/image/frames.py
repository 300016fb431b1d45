"""Where each frame's bytes are, and reading them.

Native Pixel Data holds the frames back to back (``_setup_native`` counts the
complete ones); encapsulated Pixel Data holds fragments, grouped into frames
by the Extended or Basic Offset Table, else by codestream start markers
(``_setup_fragments``). :meth:`FrameLayout._frame_bytes` then reads one
frame's bytes with one read per fragment, never rescanning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..backends._base import PixelSpec
from ..errors import DecodeError, DicomioError, FrameIndexError, InvalidDicomError
from ..pixels import codestream
from ..pixels.frames import PixelLocation, scan_fragments
from .truncation import TruncatedFrames


class FrameLayout(TruncatedFrames):
    """Locating frames in Pixel Data (a part of :class:`~dicomio.image.DicomImage`)."""

    @staticmethod
    def _native_size(spec: PixelSpec) -> int:
        n = spec.number_of_frames
        if spec.bits_allocated == 1:
            total = (n * spec.rows * spec.columns * spec.samples_per_pixel + 7) // 8
        else:
            total = n * spec.native_frame_nbytes
        return total + (total % 2)

    def _setup_native(self, loc: PixelLocation) -> None:
        spec = self.spec
        assert self._reader is not None
        avail = self._reader.size - loc.offset
        length = loc.length if loc.length is not None else avail
        if length > avail:
            self._setup_cut_native(length, avail)
            return
        if spec.bits_allocated == 1:
            bits = spec.rows * spec.columns * spec.samples_per_pixel
            have = (length * 8) // bits
        else:
            have = length // spec.native_frame_nbytes
        if getattr(self, "_count_frames", False) and have > 1:
            self._replace_frames(have)
        n = self.spec.number_of_frames
        if have < n:
            if have == 0:
                self._native_missing = True
                if n > 1:
                    # Keep no hostile frame count nothing backs (shape, loops).
                    self.warnings.append(
                        f"(0028,0008) Number of Frames says {n} but Pixel Data "
                        "holds no complete frame")
                    self._replace_frames(1)
            else:
                self.warnings.append(
                    f"(0028,0008) Number of Frames says {n} but Pixel Data holds "
                    f"{have} complete frame(s); reading {have}")
                self._replace_frames(have)
        else:
            extra = length - n * spec.native_frame_nbytes
            if spec.bits_allocated != 1 and extra > 1:
                self.warnings.append(f"Pixel Data holds {extra} bytes beyond "
                                     f"{n} frame(s); ignored")
        self._length = length

    def _setup_fragments(self, loc: PixelLocation) -> None:
        assert self._reader is not None
        try:
            frags = scan_fragments(self._reader, loc.offset,
                                   delimited=not getattr(self, "_from_dataset", False))
        except ValueError as exc:
            raise self._err(InvalidDicomError, f"broken encapsulated Pixel Data: {exc}") from exc
        self.warnings.extend(frags.warnings)
        if not frags.offsets:
            raise self._err(InvalidDicomError, "encapsulated Pixel Data holds no fragments")
        self._frags = frags
        if self.transfer_syntax.family == "video":
            # One stream across all fragments, not frames (dicomio.image.video).
            from .video import VideoFrames

            self._video = VideoFrames(self, frags)
            return
        n = self.spec.number_of_frames
        if getattr(self, "_count_frames", False):
            # No usable count: the offset table, start markers or one frame
            # per fragment decide (0 matches no count _group_fragments knows).
            groups = self._group_fragments(frags, 0)
            n = len(groups)
            self._replace_frames(n)
        else:
            groups = self._group_fragments(frags, n)
        if self._cut_fragments(frags, groups) and len(groups) < n:
            # The file ends inside Pixel Data: the frames it lost are
            # truncated (_truncation), not dropped; an offset table bounds them.
            keep = max(len(groups), len(frags.bot)) if frags.bot else n
            if keep < n:
                self._replace_frames(keep)
        elif len(groups) != n:
            if len(groups) > n:
                self.warnings.append(
                    f"(0028,0008) Number of Frames says {n} but the data holds "
                    f"{len(groups)} frames; the extra frames are ignored")
                groups = groups[:n]
            else:
                self.warnings.append(
                    f"(0028,0008) Number of Frames says {n} but the data holds "
                    f"only {len(groups)}; reading {len(groups)}")
                self._replace_frames(len(groups))
        self._groups = groups

    def _group_fragments(self, frags: Any, n: int) -> list[list[int]]:
        nfrag = len(frags.offsets)
        ds = self.dataset
        table: list[int] | None = None
        try:
            eot = ds.get("ExtendedOffsetTable", None)
            if eot is not None:
                table = list(np.frombuffer(bytes(eot), "<u8").astype(int))
        except Exception:
            self.warnings.append("Extended Offset Table is unreadable; ignored")
        if table is None and frags.bot:
            table = list(frags.bot)
        if table and not frags.delimited and frags.rel:
            # A cut file: the table's frames past the end are missing, not wrong.
            end = frags.rel[-1]
            while len(table) > 1 and table[-1] > end:
                table.pop()
        if table:
            starts = {r: i for i, r in enumerate(frags.rel)}
            found = [starts.get(int(off)) for off in table]
            idx = [i for i in found if i is not None]
            if len(idx) == len(found) and idx == sorted(idx) and idx[0] == 0:
                bounds = idx + [nfrag]
                return [list(range(bounds[k], bounds[k + 1])) for k in range(len(idx))]
            self.warnings.append("the offset table does not match the fragments; "
                                 "frames located by scanning instead")
        fam = self.transfer_syntax.family
        # One frame split over fragments is normal, but fragments that each
        # start a JPEG / J2K codestream are frames the header does not count
        # (the caller warns); JPEG XL's 2-byte signature is too weak for that.
        marked = fam in ("jpeg", "jpegls", "jpeg2k", "htj2k")
        if n == 1 and (nfrag == 1 or not marked):
            if nfrag > 1 and fam in ("rle", "deflate", "native"):
                # PS3.5 A.4: these frames are one fragment each.
                self.warnings.append(f"{nfrag} fragments for 1 frame; joined, "
                                     "though each frame should be one fragment")
            return [list(range(nfrag))]
        if nfrag == n and not marked:
            # (Marked streams are checked below: a fragment per frame only
            # holds when each one starts a codestream.)
            return [[i] for i in range(nfrag)]
        if fam in ("jpeg", "jpegls", "jpeg2k", "htj2k", "jpegxl"):
            groups: list[list[int]] = []
            for i, off in enumerate(frags.offsets):
                head = self._reader.read(off, 16) if self._reader else b""
                if not groups or codestream.starts_frame(head, fam):
                    groups.append([i])
                else:
                    groups[-1].append(i)
            if len(groups) != nfrag and n != 1:
                self.warnings.append("no offset table: frames found by codestream "
                                     "start markers")
            return groups
        # RLE and uncompressed fragments carry no start marker to split on.
        self.warnings.append(f"{nfrag} fragments for {n} frames and no offset table; "
                             "one fragment per frame assumed")
        return [[i] for i in range(nfrag)]

    def _check_index(self, index: Any) -> int:
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise TypeError(f"frame index must be an integer, not {index!r}") from None
        n = self.spec.number_of_frames
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise self._err(FrameIndexError, f"frame index {index} is out of range "
                            f"for {n} frame(s)", frame=int(index))
        return i

    def _indices(self, index: Any) -> tuple[Sequence[int], bool]:
        # range, not list: a hostile Number of Frames must not allocate here.
        n = self.spec.number_of_frames
        if index is None:
            return range(n), n > 1
        if index is Ellipsis:
            return range(n), True
        if isinstance(index, slice):
            return range(n)[index], True
        if isinstance(index, (int, np.integer)):
            return [self._check_index(index)], False
        if isinstance(index, Iterable):
            return [self._check_index(i) for i in index], True
        raise TypeError(f"unsupported index {index!r}")

    def _frame_bytes(self, i: int) -> bytes:
        if getattr(self, "_web", None) is not None:
            from ._web import frame_bytes

            return frame_bytes(self, i)  # type: ignore[arg-type]
        reader = self._reader
        if reader is None:
            raise self._err(DicomioError, "the image is closed", frame=i)
        spec = self.spec
        if not self.transfer_syntax.encapsulated:
            if getattr(self, "_native_missing", False):
                raise self._err(DecodeError, "Pixel Data holds no complete frame "
                                "(file truncated?)", frame=i)
            if spec.bits_allocated == 1:
                bits = spec.rows * spec.columns * spec.samples_per_pixel
                start_bit = i * bits
                start, stop = start_bit // 8, (start_bit + bits + 7) // 8
                return reader.read(self._loc.offset + start, stop - start)
            size = spec.native_frame_nbytes
            start = self._loc.offset + i * size
            if (self.transfer_syntax.is_big_endian and spec.bits_allocated == 8
                    and self._loc.vr == "OW"):
                # 8-bit data in a big-endian OW value is byte-swapped in 16-bit
                # words, which may straddle frames: swap an even-aligned window.
                lo = i * size - (i * size) % 2
                hi = i * size + size + ((i * size + size) % 2)
                raw = np.frombuffer(reader.read(self._loc.offset + lo, hi - lo), np.uint8)
                raw = raw[: raw.size - raw.size % 2].reshape(-1, 2)[:, ::-1].reshape(-1)
                skip = i * size - lo
                return raw[skip:skip + size].tobytes()
            return reader.read(start, size)
        frags = self._frags
        if i >= len(self._groups):
            return b""  # a cut file lost this frame (_truncation)
        parts = [reader.read(frags.offsets[k], frags.lengths[k])
                 for k in self._groups[i]]
        return parts[0] if len(parts) == 1 else b"".join(parts)
