"""Decoding: one frame into its slice of the output, and many frames in threads.

:meth:`FrameDecoding._decode_into` takes one frame's bytes, checks its
codestream header against the DICOM header, and tries the capable backends in
order (a codec that fails with its own threads is tried once more without;
backends on a codec library that already failed on the frame, or a frame whose
codestream every capable library refuses or whose coded data were zeroed, are
not run: :mod:`.failfast`),
writing straight into the caller's slice; uncompressed little-endian frames
skip all that with one read (:meth:`FrameDecoding._native_into`). Every frame
leaves a :class:`~dicomio.image.FrameInfo`. :func:`_run_parallel` spreads
frames over threads.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends import _guard, registry
from ..backends._base import Backend, Decoded, FrameContext
from ..errors import DamagedStreamError, DecodeError, DicomioError, MemoryLimitError
from ..pixels import codestream
from ..values import photometric
from . import failfast
from .frames import FrameLayout
from .state import DicomioWarning, FrameInfo


class FrameDecoding(FrameLayout):
    """Decoding frames (a part of :class:`~dicomio.image.DicomImage`)."""

    def _parse(self, data: bytes, i: int, cands: Sequence[Backend] = ()) -> Any:
        fam = self.transfer_syntax.family
        try:
            return codestream.parse(data, fam)
        except DicomioError as exc:
            raise self._err(DecodeError, f"corrupt codestream header: {exc.message}",
                            frame=i, tried=_not_tried(cands)) from None

    def _candidates(self, backend: Any) -> list[Backend]:
        try:
            return registry.candidates(self.spec, backend)
        except DicomioError as exc:
            raise type(exc)(exc.message, path=self.path or "<in-memory>",
                            transfer_syntax=str(self.transfer_syntax),
                            tried=exc.tried) from None

    def _native_into(self, i: int, dest: np.ndarray, cands: list[Backend],
                     want_rgb: bool) -> FrameInfo | None:
        """Uncompressed little-endian frame: one pread straight into ``dest``.

        What the ``native`` backend would do (read the frame into bytes, wrap
        it, copy it into ``dest``) minus the intermediate bytes and the copy;
        the same fixing, colour and report follow. None when it does not
        apply (then the general path runs, and reports any problem).
        """
        spec, ts, reader = self.spec, self.transfer_syntax, self._reader
        if (ts.encapsulated or ts.is_big_endian or not np.little_endian or reader is None
                or not cands or cands[0].name != "native"
                or spec.bits_allocated not in (8, 16, 32, 64)
                or dest.dtype.itemsize * 8 != spec.bits_allocated
                or not dest.flags.c_contiguous or dest.nbytes != spec.native_frame_nbytes
                or spec.photometric == "YBR_FULL_422"
                or (spec.samples_per_pixel > 1 and spec.planar_configuration)
                or getattr(self, "_native_missing", False)):
            return None
        if reader.readinto(self._loc.offset + i * dest.nbytes, dest) != dest.nbytes:
            return None
        stream, cs_label, notes, mislabelled = photometric.decide(spec, None)
        ctx = FrameContext(spec=spec, info=None, stream_color=stream, want_rgb=want_rgb,
                           out=dest, index=i, options={})
        dec = Decoded(dest, "YBR_FULL" if stream.startswith("YBR") else stream)
        output = self._finish(dec, ctx, dest, None)
        report = photometric.make_report(spec.photometric, cs_label, output, notes,
                                         mislabelled)
        fi = FrameInfo(i, cands[0].name, report, [])
        with self._lock:
            self._infos[i] = fi
        return fi

    def _decode_into(self, i: int, dest: np.ndarray, cands: list[Backend],
                     want_rgb: bool, codec_threads: int | None = None,
                     data: bytes | None = None, damaged_ok: bool = False) -> FrameInfo:
        """Decode frame ``i`` into ``dest``; ``data``: these bytes instead of the
        file's (a truncated frame's remains, :mod:`dicomio.image.tolerance`);
        ``damaged_ok``: decode a stream :func:`failfast.damaged` refuses."""
        spec = self.spec
        if data is None:
            # A frame the file ends inside, or a codestream without its end,
            # fails before any codec sees it (libjpeg-turbo would fill the
            # rest grey and say nothing).
            not_run = [(b.name, "not run: the data is truncated") for b in cands]
            self._check_complete(i, not_run)
            fast = self._native_into(i, dest, cands, want_rgb)
            if fast is not None:
                return fast
            data = self._frame_bytes(i)
            self._check_stream_end(i, data, not_run)
        fam = self.transfer_syntax.family
        info = None
        if self.transfer_syntax.encapsulated:
            info = self._parse(data, i, cands)
            if info is not None:
                problems = codestream.validate(info, spec)
                if problems:
                    raise self._err(DecodeError, "the codestream contradicts the "
                                    "header: " + "; ".join(problems), frame=i,
                                    tried=_not_tried(cands))
                _warn_process(self, data, info)
                # The stream proves that every capable library refuses it.
                why = failfast.doomed(data, info, fam, cands)
                if why:
                    raise self._err(DecodeError, why, frame=i, tried=_not_tried(cands))
                # The stream proves damage the decoders would not report.
                why = None if damaged_ok else failfast.damaged(data, fam)
                if why:
                    raise self._err(DamagedStreamError, why, frame=i,
                                    tried=_not_tried(cands))
        stream, cs_label, notes, mislabelled = photometric.decide(spec, info)
        opts: dict[str, Any] = {}
        if (spec.bits_allocated == 1 and not self.transfer_syntax.encapsulated
                and getattr(self, "_web", None) is None):
            # Native 1-bit frames are packed back to back and may start
            # mid-byte; an encapsulated frame (or a DICOMweb frame) is its own.
            opts["bit_offset"] = (i * spec.rows * spec.columns * spec.samples_per_pixel) % 8
        if codec_threads is None and self.spec.number_of_frames == 1:
            codec_threads = self._threads()
        if codec_threads:
            # One frame decoded alone: the codec's own threads (OpenJPEG).
            opts["codec_threads"] = codec_threads
        tried: list[tuple[str, str]] = []
        # A corrupt stream can fail in OpenJPEG's threaded decoder and pass in
        # its single-threaded one, which tolerates more. A frame decoded alone
        # must come out as it does within the whole image, so a backend that
        # fails with codec threads is tried once more without them.
        # (backend, options, whether a single-threaded retry follows)
        attempts: list[tuple[Backend, dict[str, Any], bool]] = []
        for be in cands:
            if int(opts.get("codec_threads", 1)) > 1 and fam in be.codec_thread_families:
                attempts += [(be, opts, True), (be, dict(opts, codec_threads=1), False)]
            else:
                attempts.append((be, opts, False))
        # Backends on a library that already failed on this frame are not run.
        failures = failfast.LibraryFailures(fam, info)
        threaded_failure: str | None = None  # recorded if the retry works
        for be, be_opts, retry_follows in attempts:
            skip = failures.skip(be)
            if skip:
                if not retry_follows:
                    tried.append((be.name, skip))
                continue
            ctx = FrameContext(spec=spec, info=info, stream_color=stream,
                               want_rgb=want_rgb, out=dest, index=i, options=be_opts)
            output, failure, blamed = self._attempt(be, data, ctx, dest, tried)
            if output is None:
                if retry_follows:
                    threaded_failure = failure
                else:
                    tried.append((be.name, failure))
                    if blamed:
                        failures.record(be, failure)
                    if failures.proof and not damaged_ok:
                        tried += _not_run(attempts, be, "not run: the coded data are "
                                          "corrupt")
                        raise self._err(DamagedStreamError, "the codestream is damaged: "
                                        + failures.proof, frame=i, tried=tried)
                continue
            if be_opts is not opts and threaded_failure is not None:
                tried.append((f"{be.name} ({opts['codec_threads']} codec threads)",
                              threaded_failure))
            report = photometric.make_report(spec.photometric, cs_label, output,
                                             notes, mislabelled)
            # A stream another library refused: the read warns (once).
            fi = FrameInfo(i, be.name, report, tried, doubt=failures.rescued(be))
            with self._lock:
                self._infos[i] = fi
            return fi
        raise self._err(DecodeError, _all_failed(spec), frame=i, tried=tried)

    def _attempt(self, be: Backend, data: bytes, ctx: FrameContext, dest: np.ndarray,
                 tried: list[tuple[str, str]]) -> tuple[str | None, str, bool]:
        """Decode one frame with one backend into ``dest``.

        Returns ``(output colour, "", False)`` on success, else ``(None,
        reason, blamed)``: ``blamed`` is True when the codec library itself
        failed on the data (:func:`failfast.blames_library`), not when the
        core refused what the backend returned.
        """
        decoded = False
        try:
            # A library known to abort on corrupt streams never runs in
            # the caller's process unless isolation was turned off.
            isolate = self.isolate if self.isolate is not None else be.crash_prone
            dec = _guard.decode(be, data, ctx) if isolate else be.decode(data, ctx)
            decoded = True
            return self._finish(dec, ctx, dest, ctx.info), "", False
        except MemoryLimitError:
            raise
        except MemoryError as exc:
            # A codec asked for more than the machine has: stop, and say so.
            tried.append((be.name, f"MemoryError: {exc}".strip()))
            raise self._err(MemoryLimitError, "out of memory while decoding",
                            frame=ctx.index, tried=tried) from None
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - recorded, then next backend
            # BaseException: a Rust panic (pyo3's PanicException, seen in
            # pylibjpeg-rle) is not an Exception.
            failure = f"{type(exc).__name__}: {exc}".strip()
            return None, failure, not decoded and failfast.blames_library(exc)

    def _finish(self, dec: Any, ctx: FrameContext, dest: np.ndarray, info: Any) -> str:
        spec = self.spec
        arr = np.asarray(dec.array)
        if dec.planar:
            arr = np.moveaxis(arr, 0, -1)
        if spec.samples_per_pixel == 1 and arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.shape != spec.frame_shape:
            raise ValueError(f"decoded shape {arr.shape}, but the header says "
                             f"{spec.frame_shape}")
        if arr.dtype.kind not in "iub" and dest.dtype.kind in "iu":
            # An unsafe cast would turn e.g. 0..1 floats into zeros, silently.
            raise ValueError(f"decoded {arr.dtype} samples, but the header says "
                             f"integers ({dest.dtype})")
        if arr is not dest:
            np.copyto(dest, arr, casting="unsafe")
        self._fix_bits(dest, info)
        color = dec.color
        if color == "YBR_FULL" and ctx.want_rgb:
            photometric.ybr_to_rgb(dest, bits=min(spec.bits_stored, dest.dtype.itemsize * 8))
            color = "RGB"
        if spec.samples_per_pixel == 1:
            # One sample per pixel holds what the header says (grey or
            # palette indices), whatever label the backend used.
            fam = photometric.family(spec.photometric)
            color = (spec.photometric if fam == "MONOCHROME" else
                     "PALETTE COLOR" if fam == "PALETTE" else "MONOCHROME2")
        return color

    def _fix_bits(self, dest: np.ndarray, info: Any) -> None:
        """Sign-extend or mask to the stored precision (PS3.5 8.1.1).

        The precision is the larger of Bits Stored and the codestream's own
        (J2K SIZ, JPEG-LS SOF), so a stream that is signed while the header
        says unsigned (or the reverse) comes out as the header says.
        """
        spec = self.spec
        if spec.float_pixels or spec.bits_allocated == 1:
            return
        container = dest.dtype.itemsize * 8
        prec = getattr(info, "precision", None) or 0
        eff = min(container, max(spec.bits_stored, prec if prec <= container else 0))
        if eff >= container:
            return
        if (not spec.pixel_representation and prec
                and max(getattr(info, "precisions", None) or (prec,)) <= eff
                and getattr(info, "kind", None) in ("jpeg", "jpegls", "jpeg2k", "htj2k")
                and not any(getattr(info, "signeds", None) or ())):
            # An unsigned P-bit codestream decodes to 0 .. 2**P - 1 already:
            # the mask would change nothing (saves a pass over the frame).
            return
        shift = container - eff
        if spec.pixel_representation:
            np.left_shift(dest, shift, out=dest)
            np.right_shift(dest, shift, out=dest)
        else:
            np.bitwise_and(dest, dest.dtype.type((1 << eff) - 1), out=dest)

    def _threads(self) -> int:
        return max(1, self.threads or os.cpu_count() or 1)

    def _predict_output(self, stream: str, color: str) -> str:
        if stream == "MONOCHROME":
            fam = photometric.family(self.spec.photometric)
            return self.spec.photometric if fam == "MONOCHROME" else "MONOCHROME2"
        if stream == "PALETTE":
            return "PALETTE COLOR"
        if stream in ("YBR_RCT", "YBR_ICT", "RGB"):
            return "RGB"
        if color == "rgb":
            return "RGB"
        if (self.transfer_syntax.family == "jpegxl" and self.transfer_syntax.lossy):
            return "RGB"
        return "YBR_FULL"


def _run_parallel(work: Any, n: int, nthreads: int) -> None:
    """Call ``work(k)`` for every ``k`` in ``range(n)`` on ``nthreads`` threads.

    The calling thread is one of them, and each thread takes the next index
    when it finishes one: no future per frame and no wake-up of a waiting
    caller per frame (about 10 % faster than ``ThreadPoolExecutor.map`` on
    short frames). Every frame is attempted; then the first failure in frame
    order is re-raised, as ``list(pool.map(...))`` did.
    """
    todo = iter(range(n))
    lock = threading.Lock()
    failed: list[tuple[int, BaseException]] = []

    def worker() -> None:
        while True:
            with lock:
                k = next(todo, None)
            if k is None:
                return
            try:
                work(k)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                with lock:
                    failed.append((k, exc))

    helpers = [threading.Thread(target=worker, name=f"dicomio-decode-{j}", daemon=True)
               for j in range(nthreads - 1)]
    for t in helpers:
        t.start()
    try:
        worker()
    finally:
        for t in helpers:
            t.join()
    if failed:
        raise min(failed, key=lambda f: f[0])[1]


def _not_tried(cands: Sequence[Backend]) -> list[tuple[str, str]]:
    # Crash-prone C decoders never see a stream whose header is already wrong.
    return [(b.name, "not run: the stream was rejected before decoding")
            for b in cands]


def _not_run(attempts: Sequence[tuple[Backend, Any, bool]], after: Backend,
             why: str) -> list[tuple[str, str]]:
    """``(name, why)`` for each backend after ``after`` in ``attempts``."""
    names = list(dict.fromkeys(be.name for be, _, _ in attempts))
    return [(name, why) for name in names[names.index(after.name) + 1:]]


def _all_failed(spec: Any) -> str:
    """The message when no backend decoded a frame, naming a JPEG process."""
    ts = spec.transfer_syntax
    if not getattr(ts, "process", ""):
        return "every capable backend failed"
    retired = "retired " if ts.retired else ""
    return (f"every capable backend failed; the file uses {retired}JPEG "
            f"{ts.process}, which no installed backend decoded")


def _warn_process(img: Any, data: bytes, info: Any) -> None:
    """Warn when a JPEG stream's process is not one its Transfer Syntax names.

    Decoders follow the stream, so the pixels are right; the file is
    mislabelled, as with a wrong colour space (warned once per message).
    Also warns when the only hierarchical decoder may be 1 off on a lossless
    stream (:func:`~dicomio.pixels.codestream.upsampling_note`).
    """
    if isinstance(info, codestream.JpegInfo) and info.kind == "jpeg":
        for note in (codestream.process_mismatch(data, info, img.transfer_syntax),
                     codestream.upsampling_note(data, info)):
            if note:
                warnings.warn(f"{img._where()}: {note}", DicomioWarning,
                              stacklevel=2)
