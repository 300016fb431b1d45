"""The displayed image: what a viewer shows, as uint8.

Grey images go stored value -> Modality LUT (:mod:`.modality`) -> VOI
(:mod:`.voi`; with none in the file, a linear map of the min..max of the
modality values read) -> Presentation LUT Shape INVERSE or MONOCHROME1
inversion -> 0..255. PALETTE COLOR goes through the palette (:mod:`.palette`)
to RGB; colour images are RGB scaled to 8 bits, with the ICC profile applied
(:mod:`.icc`). Enhanced multi-frame files apply their per-frame Pixel Value
Transformation and Frame VOI LUT items frame by frame.

The whole grey chain is folded into one uint8 lookup table per distinct
(modality, VOI) pair, indexed by the stored value (256 or 65,536 entries), so
a frame is one ``numpy.take``: no float64 temporaries over the image. Frames
decode a few at a time into a small scratch buffer; the memory beyond the
output is that buffer (a few frames) and one index array of a frame.
Float and wider-than-16-bit data are computed frame by frame instead.

:class:`DisplayPlan` says what will be applied and :meth:`DisplayPlan.record`
what was: the ``"display"`` entry next to ``"photometric"`` in every adapter's
metadata.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .icc import IccTransform, icc_transform
from .modality import ModalityLUT, modality_lut
from .palette import Palette, palette
from .photometric import family
from .voi import Preset, apply_voi, choose

__all__ = ["DisplayPlan", "read_display", "value_range"]

_SCRATCH_BYTES = 8 << 20  # decode at most this much raw data at a time


def _per_frame(ds: Any) -> bool:
    return bool(ds.get("PerFrameFunctionalGroupsSequence"))


class DisplayPlan:
    """What the display pipeline applies to the frames of one image.

    Parameters
    ----------
    ds : pydicom.Dataset
        The header.
    spec : PixelSpec
        The decoded pixels' description (``dtype``, ``frame_shape``, ...).
    window : (center, width[, function]), optional
        A window of the caller's, instead of the file's.
    voi : int, optional
        The index of the file's VOI preset (:func:`dicomio.values.voi.presets`).
    """

    def __init__(self, ds: Any, spec: Any, *, window: Any = None,
                 voi: int | None = None) -> None:
        self.ds, self.spec = ds, spec
        self.window, self.voi = window, voi
        self.dtype = np.dtype(spec.dtype)
        fam = family(spec.photometric)
        rows, cols = spec.rows, spec.columns
        self._icc: IccTransform | None = None
        self._palette: Palette | None = None
        self._tables: dict[Any, np.ndarray] = {}
        self._range: tuple[float, float] | None = None
        self._used: dict[int, tuple[ModalityLUT, Preset | None]] = {}
        self.inversion: str | None = None
        if spec.samples_per_pixel > 1:
            self.kind = "color"
            self.frame_shape: tuple[int, ...] = (rows, cols, 3)
            self._icc = icc_transform(ds)
        elif fam == "PALETTE":
            self.kind = "palette"
            self.frame_shape = (rows, cols, 3)
            self._palette = palette(ds)
        else:
            self.kind = "grey"
            self.frame_shape = (rows, cols)
            shape = str(ds.get("PresentationLUTShape") or "").strip().upper()
            if str(spec.photometric).strip().upper() == "MONOCHROME1":
                self.inversion = "MONOCHROME1"
            elif shape == "INVERSE":
                self.inversion = "INVERSE"
            if window is None and voi is not None:
                choose(ds, 0, None, voi)  # an out-of-range voi= fails before decoding
        self._varies = _per_frame(ds)

    # ---------------------------------------------------------------- grey
    def transforms(self, frame: int) -> tuple[ModalityLUT, Preset | None]:
        """The (modality, VOI) pair of ``frame``."""
        key = frame if self._varies else 0
        got = self._used.get(key)
        if got is None:
            got = (modality_lut(self.ds, key),
                   choose(self.ds, key, self.window, self.voi))
            self._used[key] = got
        return got

    @property
    def needs_range(self) -> bool:
        """True when some frame has no VOI: min..max of the values read is used."""
        return self.kind == "grey" and self._range is None and any(
            self.transforms(f)[1] is None for f in self._frames_probe())

    def _frames_probe(self) -> Sequence[int]:
        return range(self.spec.number_of_frames) if self._varies else [0]

    def modality_range(self, raw_lo: float, raw_hi: float,
                       frame: int = 0) -> tuple[float, float]:
        """The min..max modality values of stored values ``raw_lo..raw_hi``."""
        mod = self.transforms(frame)[0]
        if self.dtype.kind in "iu" and raw_hi - raw_lo <= 1 << 16:
            vals = mod.apply(np.arange(int(raw_lo), int(raw_hi) + 1))
        else:
            vals = mod.apply(np.array([raw_lo, raw_hi], dtype=np.float64))
        return float(vals.min()), float(vals.max())

    def set_range(self, lo: float, hi: float) -> None:
        """Map modality values ``lo..hi`` to 0..255 where a frame has no VOI."""
        self._range = (float(lo), float(hi))
        self._tables.clear()

    def _display_values(self, x: np.ndarray, frame: int) -> np.ndarray:
        mod, preset = self.transforms(frame)
        m = mod.apply(x)
        if preset is not None:
            y = apply_voi(m, preset)
        else:
            lo, hi = self._range if self._range is not None else (m.min(), m.max())
            y = (m - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(m)
        out = np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)
        if self.inversion:  # after rounding: exactly the mirror of MONOCHROME2
            np.subtract(255, out, out=out)
        return out

    def _lookup(self, raw: np.ndarray | None = None) -> bool:
        dtype = self.dtype if raw is None else raw.dtype
        return dtype == self.dtype and dtype.kind in "iu" and dtype.itemsize <= 2

    def _table(self, frame: int) -> np.ndarray:
        mod, preset = self.transforms(frame)
        key = (mod, preset)
        table = self._tables.get(key)
        if table is None:
            size = 1 << (8 * self.dtype.itemsize)
            domain = np.arange(size, dtype=np.int64)
            if self.dtype.kind == "i":
                domain = np.where(domain >= size // 2, domain - size, domain)
            table = self._tables[key] = self._display_values(domain, frame)
        return table

    # ---------------------------------------------------------------- apply
    def apply(self, frame: int, raw: np.ndarray, out: np.ndarray) -> None:
        """Write the display image of decoded ``frame`` (``raw``) into ``out``."""
        if self.kind == "color":
            self._colour(raw, out)
            if self._icc is not None:
                self._icc.apply(out)
            return
        if self.kind == "palette":
            assert self._palette is not None
            table = self._tables.get("palette")
            if table is None:
                table = self._tables["palette"] = self._palette.domain_table(self.dtype)
            np.take(table, raw.view(f"u{self.dtype.itemsize}"), axis=0, out=out,
                    mode="clip")
            return
        self.transforms(frame)
        self._used.setdefault(-1 - frame, self.transforms(frame))
        if self._lookup(raw):
            np.take(self._table(frame), raw.view(f"u{self.dtype.itemsize}"), out=out,
                    mode="clip")
        else:
            out[...] = self._display_values(raw, frame)

    def _colour(self, raw: np.ndarray, out: np.ndarray) -> None:
        bits = min(int(self.spec.bits_stored), raw.dtype.itemsize * 8)
        if raw.dtype == np.uint8 and bits == 8:
            out[...] = raw[..., :3]
        elif self._lookup(raw):
            table = self._tables.get("colour")
            if table is None:
                size = 1 << (8 * self.dtype.itemsize)
                dom = np.arange(size, dtype=np.int64) & ((1 << bits) - 1)
                table = ((dom * 255 + ((1 << bits) - 1) // 2) // ((1 << bits) - 1))
                table = self._tables["colour"] = table.astype(np.uint8)
            np.take(table, raw[..., :3].view(f"u{self.dtype.itemsize}"), out=out,
                    mode="clip")
        else:
            top = float((1 << bits) - 1) if raw.dtype.kind in "iu" else 1.0
            out[...] = np.rint(np.clip(raw[..., :3] / top, 0, 1) * 255)

    # --------------------------------------------------------------- record
    def record(self) -> dict[str, Any]:
        """What was applied: pipeline, modality, voi, inversion, palette, icc."""
        rec: dict[str, Any] = {"pipeline": self.kind, "dtype": "uint8",
                               "output": "MONOCHROME2" if self.kind == "grey" else "RGB",
                               "modality": None, "voi": None, "inversion": None,
                               "palette": None, "icc": None}
        if self.kind == "color":
            rec["icc"] = dict(self._icc.record) if self._icc is not None else None
            return rec
        if self.kind == "palette":
            assert self._palette is not None
            rec["palette"] = self._palette.describe()
            return rec
        rec["inversion"] = self.inversion
        frames = sorted(-1 - k for k in self._used if k < 0) or [0]
        mods = [self.transforms(f)[0].describe() for f in frames]
        vois = [self._voi_record(self.transforms(f)[1]) for f in frames]
        same = all(m == mods[0] for m in mods) and all(v == vois[0] for v in vois)
        rec["modality"], rec["voi"] = mods[0], vois[0]
        if not same:
            rec["per_frame"] = [{"frame": f, "modality": m, "voi": v}
                                for f, m, v in zip(frames, mods, vois, strict=True)]
        return rec

    def _voi_record(self, preset: Preset | None) -> dict[str, Any]:
        if preset is not None:
            d = preset.describe()
            d["source"] = "argument" if self.window is not None else "file"
            return d
        lo, hi = self._range if self._range is not None else (None, None)
        return {"kind": "minmax", "low": lo, "high": hi, "source": "values read"}


class _Chunks:
    """Frames of ``img`` decoded a few at a time into one scratch buffer."""

    def __init__(self, img: Any, idx: Sequence[int], threads: int | None,
                 backend: Any, on_error: str = "raise") -> None:
        self.img, self.idx = img, idx
        nthreads = max(1, threads or os.cpu_count() or 1)
        frame_bytes = max(1, int(np.prod(img.frame_shape)) * img.dtype.itemsize)
        self.size = max(1, min(len(idx), 2 * nthreads, _SCRATCH_BYTES // frame_bytes))
        self.buf = np.empty((self.size, *img.frame_shape), img.dtype)
        self.opts = {"color": "rgb", "backend": backend, "threads": threads,
                     "on_error": on_error}

    def __iter__(self) -> Any:
        for start in range(0, len(self.idx), self.size):
            part = list(self.idx[start:start + self.size])
            dest = self.buf[:len(part)]
            self.img.read(part, out=dest, **self.opts)
            yield start, dest

    def raw_range(self) -> tuple[Any, Any]:
        lo: Any = None
        hi: Any = None
        for _, dest in self:
            a, b = dest.min(), dest.max()
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        return lo, hi


def value_range(img: Any, idx: Sequence[int], *, threads: int | None = None,
                backend: Any = None, on_error: str = "raise"
                ) -> tuple[float, float] | None:
    """The min..max modality values of frames ``idx`` of a grey image, or None
    (colour, palette or no frames). Decodes the frames (a few at a time),
    ``on_error`` as :meth:`DicomImage.read` (not ``"skip"``)."""
    plan = DisplayPlan(img.dataset, img.spec)
    if plan.kind != "grey" or not len(idx):
        return None
    lo, hi = _Chunks(img, idx, threads, backend, on_error).raw_range()
    return plan.modality_range(lo, hi, idx[0])


def read_display(img: Any, idx: Sequence[int], *, window: Any = None,
                 voi: int | None = None, out: np.ndarray | None = None,
                 threads: int | None = None, backend: Any = None,
                 check_nbytes: Any = None, value_range: tuple[float, float] | None = None,
                 on_error: str = "raise") -> tuple[np.ndarray, dict[str, Any]]:
    """Decode frames ``idx`` of the open image ``img`` as display images.

    Returns the ``(len(idx), rows, columns[, 3])`` uint8 array and the
    record of what was applied. Frames decode ``img.read`` a few at a time
    into one scratch buffer and are mapped from there into the output.
    ``check_nbytes(n)`` may refuse an output of ``n`` bytes. ``value_range``
    is the min..max of modality values to use where a frame has no VOI
    (default: that of the frames read; a series passes its own).
    """
    plan = DisplayPlan(img.dataset, img.spec, window=window, voi=voi)
    if value_range is not None:
        plan.set_range(*value_range)
    shape = (len(idx), *plan.frame_shape)
    if check_nbytes is not None:
        check_nbytes(int(np.prod(shape, dtype=object)))
    if out is not None:
        if out.size != int(np.prod(shape)) or out.dtype != np.uint8:
            raise ValueError(f"out= must have {shape} uint8 items")
        result = out.reshape(shape)
    else:
        result = np.empty(shape, np.uint8)
    if not len(idx):
        return result, plan.record()
    chunks = _Chunks(img, idx, threads, backend, on_error)  # on_error: not "skip"
    if plan.needs_range:
        if len(idx) <= chunks.size:  # one decode: the range from the buffer
            (_, dest), = list(chunks)
            plan.set_range(*plan.modality_range(dest.min(), dest.max(), idx[0]))
            for k, i in enumerate(idx):
                plan.apply(i, dest[k], result[k])
            return result, plan.record()
        plan.set_range(*plan.modality_range(*chunks.raw_range(), idx[0]))
    for start, dest in chunks:
        for k in range(len(dest)):
            plan.apply(idx[start + k], dest[k], result[start + k])
    return result, plan.record()
