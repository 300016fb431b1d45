"""The linear modality LUT (Rescale Slope / Intercept), one implementation.

Files, series, dask chunks and napari layers all rescale through
:func:`apply_rescale`, so they agree to the bit, and :func:`rescaled_dtype`
decides the output dtype the same way everywhere: an integer type when the
slope is 1 and the intercept whole (CT in HU stays int16), else float32
(float64 for wide data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["apply_rescale", "read_rescaled", "rescaled_dtype"]


def rescaled_dtype(raw: np.dtype[Any],
                   slices: Sequence[tuple[int, bool, Sequence[float] | None]]
                   ) -> np.dtype[Any]:
    """The dtype of rescaled output, for one file or a whole series.

    Parameters
    ----------
    raw : dtype
        The dtype of the decoded, not yet rescaled samples.
    slices : sequence of (bits_stored, signed, (slope, intercept) or None)
        One entry per slice (one for a single file).

    Returns
    -------
    numpy.dtype
        ``raw`` when nothing is rescaled; the narrowest of int16, int32 and
        int64 holding every slice's stored range plus its intercept when every
        slope is 1 and every intercept whole; otherwise float32, or float64
        for float64 or wider-than-16-bit integer data (float32 would round it).
    """
    params = [(1.0, 0.0) if p is None else (float(p[0]), float(p[1]))
              for _, _, p in slices]
    if all(p == (1.0, 0.0) for p in params):
        return np.dtype(raw)
    if raw.kind in "iu" and all(s == 1.0 and i.is_integer() for s, i in params):
        lo, hi = 0, 0
        for (bits, signed, _), (_, icpt) in zip(slices, params, strict=True):
            bits = min(int(bits), raw.itemsize * 8)
            a = -(1 << (bits - 1)) if signed else 0
            b = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
            lo, hi = min(lo, a + int(icpt)), max(hi, b + int(icpt))
        for name in ("int16", "int32", "int64"):
            info = np.iinfo(name)
            if info.min <= lo and hi <= info.max:
                return np.dtype(name)
    if raw == np.float64 or (raw.kind in "iu" and raw.itemsize > 2):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def apply_rescale(raw: np.ndarray, params: Sequence[float] | None,
                  dtype: np.dtype[Any], out: np.ndarray | None = None) -> np.ndarray:
    """``raw * slope + intercept`` cast to ``dtype`` (into ``out`` if given).

    Integer results are computed in the output type with wrap-around
    arithmetic, exact because :func:`rescaled_dtype` makes the result fit
    (a stored 65535 with intercept -32768 gives 32767 in int16); float results
    in float32 (float64 when ``dtype`` is float64).
    """
    dtype = np.dtype(dtype)
    if out is None:
        out = np.empty(raw.shape, dtype)
    if params is None:
        np.copyto(out, raw, casting="unsafe")
        return out
    slope, intercept = float(params[0]), float(params[1])
    if dtype.kind in "iu" and slope == 1.0 and intercept.is_integer():
        # Two's-complement addition in the output type is exact whenever the
        # result fits it, which rescaled_dtype guarantees (the intercept fits
        # too): intermediate wrap-around cancels, and no int64 pass is needed.
        np.add(raw, int(intercept), out=out, dtype=dtype, casting="unsafe")
        return out
    calc = np.float64 if dtype == np.float64 else np.float32
    if out.dtype == calc:
        np.multiply(raw, calc(slope), out=out, dtype=calc, casting="unsafe")
        out += calc(intercept)
    else:
        tmp = raw.astype(calc)
        tmp *= calc(slope)
        tmp += calc(intercept)
        np.copyto(out, tmp, casting="unsafe")
    return out


def read_rescaled(img: Any, frames: Sequence[int], targets: Sequence[int],
                  params: Sequence[Sequence[float] | None], out: np.ndarray,
                  on_error: str = "raise") -> None:
    """Decode ``frames`` of the open image ``img`` into ``out[targets]``, rescaled.

    ``params[k]`` is the ``(slope, intercept)`` of ``frames[k]``, or None.
    When ``out``'s items have the decoded size (the same dtype, or int16 HU
    over uint16 samples) and the targets are consecutive, the frames decode
    straight into ``out`` and are rescaled there in place: no batch array and
    no copy. Otherwise they decode into one batch array and are rescaled
    from it. ``on_error`` goes to ``img.read`` (not ``"skip"``: every
    target is filled); the caller zeroes failed frames after the rescale.
    """
    raw = np.dtype(img.dtype)
    dtype = out.dtype
    a, b = targets[0], targets[-1] + 1
    direct = dtype == raw or (dtype.kind in "iu" and raw.kind in "iu"
                              and dtype.itemsize == raw.itemsize)
    if direct and list(targets) == list(range(a, b)):
        dest = out[a:b] if dtype == raw else out[a:b].view(raw)
        if len(frames) == 1:
            img.read(frames[0], out=dest[0], on_error=on_error)
        else:
            img.read(list(frames), out=dest, on_error=on_error)
        for pos, p in zip(targets, params, strict=True):
            if p is not None:
                # Same-size integers: reading the samples as the output type
                # is the cast apply_rescale would make (the same bits).
                apply_rescale(out[pos], p, dtype, out=out[pos])
        return
    batch = img.read(list(frames), on_error=on_error)
    for pos, p, arr in zip(targets, params, batch, strict=True):
        if p is None and dtype == arr.dtype:
            out[pos] = arr
        else:
            apply_rescale(arr, p, dtype, out=out[pos])
