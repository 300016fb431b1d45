"""What a read does with a frame that fails: the ``on_error`` option.

``"raise"`` (the default) stops the read at the first frame that fails, with
its :class:`~dicomio.errors.DecodeError` (a
:class:`~dicomio.errors.TruncatedError` when the file ends inside the frame).
The other values keep going through every frame and record each failure in
the frame's :class:`~dicomio.image.FrameInfo` (``error``, ``action``,
``missing_rows``, ``missing_bytes``), listed by
:attr:`DicomImage.failed_frames <dicomio.DicomImage.failed_frames>`, with one
:class:`~dicomio.image.DicomioWarning` per read summing them up:

``"fill"``
    a frame that fails is set to 0 (the shape stays the header's);
``"skip"``
    a frame that fails is left out (the batch comes back shorter);
``"recover"``
    as ``"fill"``, but a frame the file ends inside keeps what its bytes
    hold: the complete rows of uncompressed data, the rows a codec decodes
    from a cut stream (libjpeg-turbo), and the rest is set to 0; a frame
    whose codestream is damaged where the decoders do not notice
    (:class:`~dicomio.errors.DamagedStreamError`) keeps the decoder's pixels.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DamagedStreamError, DecodeError, TruncatedError
from .state import DicomioWarning, FrameInfo

if TYPE_CHECKING:
    from ..backends._base import Backend
    from .dicomimage import DicomImage

#: The values of the ``on_error`` option, the default first.
ON_ERROR = ("raise", "recover", "skip", "fill")

#: What each value does to a failed frame (the ``FrameInfo.action`` word).
_ACTIONS = {"fill": "filled", "skip": "skipped", "recover": "filled"}

_LISTED = 20  # frame numbers named in a warning before "..."


def check_on_error(on_error: str) -> str:
    """Refuse an ``on_error`` value that is not one of :data:`ON_ERROR`."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    return on_error


def frame_worker(img: DicomImage, idx: Sequence[int], result: np.ndarray,
                 cands: list[Backend], want_rgb: bool, alone: int | None,
                 need_rescale: bool, on_error: str) -> Callable[[int], None]:
    """``work(k)``: decode frame ``idx[k]`` into ``result[k]``, as ``on_error`` says."""
    scratch = threading.local()  # one frame buffer per thread, reused

    def work(k: int) -> None:
        i = idx[k]
        dest = result[k]
        if need_rescale:
            dest = getattr(scratch, "frame", None)
            if dest is None:
                dest = scratch.frame = np.empty(img.frame_shape, img.dtype)
        try:
            img._decode_into(i, dest, cands, want_rgb, alone)
        except DecodeError as exc:
            if on_error == "raise":
                raise
            if on_error == "recover" and isinstance(exc, TruncatedError):
                good = _recover(img, i, dest, cands, want_rgb, exc)
            elif on_error == "recover" and isinstance(exc, DamagedStreamError):
                good = _decode_damaged(img, i, dest, cands, want_rgb, alone, exc)
            else:
                record_failed(img, i, exc, on_error)
                result[k] = 0
                return
        else:
            good = img.spec.rows
        if need_rescale:
            img.rescale(dest, out=result[k])
        if good < img.spec.rows:
            result[k][good:] = 0

    return work


def record_failed(img: DicomImage, i: int, exc: DecodeError, on_error: str) -> None:
    """Record frame ``i`` as failed with ``exc``, as ``on_error`` treats it
    (its pixels are set by the caller: 0, or left out)."""
    fi = FrameInfo(i, "", {}, list(exc.tried), error=exc.message,
                   action=_ACTIONS[on_error],
                   missing_rows=(0, img.spec.rows),
                   missing_bytes=getattr(exc, "missing_bytes", None),
                   damaged=isinstance(exc, DamagedStreamError))
    with img._lock:
        img._infos[i] = fi


def _recover(img: DicomImage, i: int, dest: np.ndarray, cands: list[Backend],
             want_rgb: bool, exc: TruncatedError) -> int:
    """Decode what is left of truncated frame ``i``; the number of good rows.

    Uncompressed data: the bytes present, padded, and every complete row
    kept; RLE likewise, segment by segment. Other compressed data: the cut
    stream handed to the backends; a JPEG decoder fills what it lost with
    one flat value, so the flat rows at the bottom (rounded to whole MCU
    rows) are counted as missing. Other codecs do not say what they lost
    (``missing_rows`` None).
    """
    spec = img.spec
    rows = spec.rows
    have, _missing = img._truncation(i) or (0, None)
    data = img._frame_bytes(i)
    native = not img.transfer_syntax.encapsulated
    good: int | None = rows
    if native:
        need = img._native_frame_span(i)
        data = bytes(data) + bytes(max(0, need - len(data)))
        good = _complete_rows(img, i, have)
    elif img.transfer_syntax.family == "rle" and data:
        data, good = _rle_padded(img, data)
    fi: FrameInfo | None = None
    if data and good != 0:
        try:
            img._decode_into(i, dest, cands, want_rgb, None, data=data, damaged_ok=True)
        except DecodeError as again:
            fi = FrameInfo(i, "", {}, list(again.tried),
                           error=f"{exc.message}; what is there does not decode "
                                 f"({again.message})")
    else:
        fi = FrameInfo(i, "", {}, [], error=exc.message)
    if fi is not None:  # nothing decoded: the whole frame is missing
        dest[...] = 0
        good = 0
    else:
        if not native and img.transfer_syntax.family != "rle":
            good = _flat_bottom(img, dest, data)
        fi = img._infos[i]
        fi.error = exc.message
    fi.action = "recovered"
    fi.missing_bytes = exc.missing_bytes
    fi.missing_rows = None if good is None else (good, rows)
    with img._lock:
        img._infos[i] = fi
    return rows if good is None else good


def _decode_damaged(img: DicomImage, i: int, dest: np.ndarray, cands: list[Backend],
                    want_rgb: bool, alone: int | None, exc: DamagedStreamError) -> int:
    """Decode damaged frame ``i`` anyway: the decoder's pixels, reported as
    recovered (which rows are wrong nobody can tell); the number of good rows."""
    rows = img.spec.rows
    try:
        img._decode_into(i, dest, cands, want_rgb, alone, damaged_ok=True)
    except DecodeError as again:
        fi = FrameInfo(i, "", {}, list(again.tried), missing_rows=(0, rows),
                       error=f"{exc.message}; the decoders refused it too "
                             f"({again.message})")
        dest[...] = 0
    else:
        fi = img._infos[i]
        fi.error = exc.message
    fi.action = "recovered"
    fi.damaged = True
    with img._lock:
        img._infos[i] = fi
    return rows if fi.missing_rows is None else 0


def _complete_rows(img: DicomImage, i: int, have: int) -> int:
    """Rows of native frame ``i`` whose every byte is among the ``have`` present."""
    spec = img.spec
    spp = spec.samples_per_pixel
    if spec.bits_allocated == 1:
        # Packed frames may start mid-byte.
        skip = (i * spec.rows * spec.columns * spp) % 8
        return max(0, min(spec.rows, (have * 8 - skip) // (spec.columns * spp)))
    sample = spec.bits_allocated // 8
    if spp > 1 and spec.planar_configuration:
        plane = spec.rows * spec.columns * sample
        # The last plane is the one cut: rows complete in every plane.
        return max(0, min(spec.rows, (have - (spp - 1) * plane)
                          // (spec.columns * sample)))
    return min(spec.rows, have // (spec.columns * spp * sample))


def _rle_padded(img: DicomImage, data: bytes) -> tuple[bytes, int]:
    """A cut RLE frame made whole: each segment decoded as far as it goes,
    padded with 0 and written back as literal runs; and the rows complete in
    every segment (PS3.5 Annex G: one segment per byte plane and sample)."""
    from ..backends.native import unpackbits_segment  # only a recovery needs it

    spec = img.spec
    size, cols = spec.rows * spec.columns, spec.columns
    nseg = int.from_bytes(data[:4], "little") if len(data) >= 64 else 0
    if not 1 <= nseg <= 15:
        return b"", 0  # not even the header: nothing to decode
    offsets = [int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "little")
               for k in range(nseg)] + [len(data)]
    good, segments = spec.rows, []
    for k in range(nseg):
        start, stop = offsets[k], max(offsets[k], min(offsets[k + 1], len(data)))
        plane = unpackbits_segment(data[start:stop], size, partial=True)
        good = min(good, len(plane) // cols)
        plane = plane + bytes(size - len(plane))
        segments.append(b"".join(bytes([len(plane[j:j + 128]) - 1]) + plane[j:j + 128]
                                 for j in range(0, size, 128)))
    head = [nseg]
    pos = 64
    for seg in segments:
        head.append(pos)
        pos += len(seg)
    header = b"".join(v.to_bytes(4, "little") for v in head).ljust(64, b"\0")
    return header + b"".join(segments), good


def _flat_bottom(img: DicomImage, dest: np.ndarray, data: bytes) -> int | None:
    """Rows a JPEG decoder produced from a cut stream (None: cannot tell).

    libjpeg-turbo (and the others) fill what the stream lacks with one flat
    value; the rows from the MCU row where that fill starts are missing.
    """
    if img.transfer_syntax.family != "jpeg":
        return None
    rows = img.spec.rows
    flat = dest.reshape(rows, -1)
    value = flat[-1, 0]
    same = np.all(flat == value, axis=1)
    if not same[-1]:
        return None
    first = rows
    while first > 0 and same[first - 1]:
        first -= 1
    mcu = 8
    try:
        info = img._parse(data, 0)
        mcu = 8 * max((v for _, v in getattr(info, "sampling", ()) or ((1, 1),)),
                      default=1)
    except Exception:  # noqa: BLE001 - the header decoded already; keep 8
        pass
    # The MCU row holding the last decoded row may be partly filled too.
    return max(0, ((first - 1) // mcu) * mcu) if first else 0


def finish(img: DicomImage, idx: Sequence[int], result: np.ndarray,
           on_error: str) -> np.ndarray:
    """Warn once about the frames of this read that failed or are in doubt;
    drop skipped ones."""
    infos = img._infos
    warn_doubts(img, idx)
    if on_error == "raise":
        return result
    failed = [(k, i, infos[i]) for k, i in enumerate(idx)
              if i in infos and infos[i].action]
    if not failed:
        return result
    if not img._quiet_failures:
        warn_failed(img._where(), len(idx), [(i, fi) for _, i, fi in failed])
    if on_error == "skip":
        gone = {k for k, _, _ in failed}
        keep = [k for k in range(len(idx)) if k not in gone]
        return result[keep]
    return result


def warn_doubts(img: DicomImage, idx: Sequence[int]) -> None:
    """One DicomioWarning per reason for the frames of a read whose pixels a
    backend returned after another library refused the stream
    (:attr:`FrameInfo.doubt`)."""
    infos = img._infos
    by_reason: dict[str, list[int]] = {}
    for i in dict.fromkeys(idx):
        fi = infos.get(i)
        if fi is not None and fi.doubt and not fi.action:
            by_reason.setdefault(fi.doubt, []).append(i)
    for reason, frames in by_reason.items():
        named = listed(map(str, frames))
        which = (f"frame {named}" if len(frames) == 1 else
                 f"frames {named} ({len(frames)} of {len(idx)} read)")
        warnings.warn(f"{img._where()}: {which}: {reason}", DicomioWarning, stacklevel=4)


def warn_failed(where: str, n: int, failed: Sequence[tuple[int, FrameInfo]], *,
                unit: str = "frame", attr: str = "failed_frames",
                stacklevel: int = 4) -> None:
    """One DicomioWarning summing up the failed frames (slices) of a read."""
    warnings.warn(f"{where}: {failed_summary(n, failed, unit=unit)}"
                  f" (see {attr} for the reasons)", DicomioWarning,
                  stacklevel=stacklevel)


def warn_failed_among(where: str, idx: Sequence[int], failed: Mapping[int, FrameInfo],
                      *, stacklevel: int = 4) -> None:
    """:func:`warn_failed` for the frames of a read of ``idx`` that are in
    ``failed`` (an image's ``failed_frames``); nothing when none is."""
    mine = [(i, failed[i]) for i in dict.fromkeys(idx) if i in failed]
    if mine:
        warn_failed(where, len(idx), mine, stacklevel=stacklevel + 1)


def failed_summary(n: int, failed: Sequence[tuple[int, FrameInfo]], *,
                   unit: str = "frame") -> str:
    """``"2 of 3 frames failed; 2 were filled with 0: 1, 2"``: the warning's words."""
    parts = []
    for action, damaged, say in (
            ("skipped", None, "were left out"),
            ("filled", None, "were filled with 0"),
            ("recovered", False, "are incomplete (the file is truncated) and were "
                                 "recovered, the missing rows set to 0"),
            ("recovered", True, "have a damaged codestream and were recovered as "
                                "the decoder returned them (the pixels may be wrong)")):
        these = [(i, fi) for i, fi in failed if fi.action == action
                 and damaged in (None, fi.damaged)]
        if not these:
            continue
        named = listed(describe(i, fi) if action == "recovered" else str(i)
                        for i, fi in these)
        parts.append(f"{len(these)} {say}: {named}")
    verb = f"{unit} failed" if n == 1 else f"{unit}s failed"
    return f"{len(failed)} of {n} {verb}; " + "; ".join(parts)


def listed(names: Iterable[str]) -> str:
    """``"1, 2, 3"``: the first :data:`_LISTED` names, then ``", ..."``."""
    names = list(names)
    more = ", ..." if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


def describe(i: int, fi: FrameInfo) -> str:
    """``"5 (rows 12-19 missing)"``: a failed frame in a few words."""
    rows = fi.missing_rows
    if rows is None and fi.damaged:
        return str(i)  # the decoder's pixels: which are wrong, nobody knows
    if rows is None:
        return f"{i} (rows unknown)"
    if rows[0] >= rows[1]:
        return f"{i} (no row missing)"
    return f"{i} (rows {rows[0]}-{rows[1] - 1} missing)"


def failed_dict(failed: dict[int, FrameInfo]) -> dict[str, Any]:
    """JSON-friendly ``{"index": {...}}`` of failed frames (adapters' metadata)."""
    return {str(i): {"action": fi.action, "error": fi.error,
                     "missing_rows": list(fi.missing_rows) if fi.missing_rows else None,
                     "missing_bytes": fi.missing_bytes}
            for i, fi in sorted(failed.items())}


def truncated_frames(img: DicomImage) -> dict[int, int | None]:
    """The frames a cut file ends inside, from the layout alone (no decoding).

    ``{frame: bytes missing, or None when unknown}``; empty for a whole file.
    """
    n = img.n_frames
    if img.transfer_syntax.encapsulated:
        cut_frames = getattr(img, "_cut_frames", None)
        if cut_frames is None:
            return {}
        found = sorted(set(cut_frames) | set(range(len(img._groups), n)))
    else:
        cut = getattr(img, "_cut", None)
        if cut is None:
            return {}
        span = img._native_frame_span(0)
        found = list(range(max(0, min(n, cut // max(1, span) - 1)), n))
    out: dict[int, int | None] = {}
    for i in found:
        t = img._truncation(i)
        if t is not None:
            out[i] = t[1]
    return out
