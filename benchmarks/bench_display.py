"""The display image: dicomio's read(display=True) against pydicom's apply chain.

One CT-like multi-frame file (200 x 512 x 512 by default, 12 bits stored,
Rescale Intercept -1024, Window 40/400), uncompressed so the figures are the
display pipeline's and not a codec's. Two comparisons, each on the same data:

* file -> display uint8: ``DicomImage(path).read(display=True)`` against
  ``dcmread`` + ``pixel_array`` + ``apply_modality_lut`` + ``apply_voi_lut`` +
  scaling to uint8 (what a pydicom user writes);
* decoded array -> display uint8 (the transform alone): dicomio's
  :class:`~dicomio.values.display.DisplayPlan` frame by frame against the
  same pydicom chain over the whole array.

Peak memory is measured with ``tracemalloc`` (NumPy reports its buffers to
it), in a separate untimed call: the peak of traced memory during the call
beyond the uint8 output, as a ratio to the output's size. Target (issue 16):
dicomio <= 1.2x.

    python benchmarks/bench_display.py            # 200 x 512x512
    python benchmarks/bench_display.py --quick
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402

TARGET_DISPLAY_MEMORY = 1.2  # peak traced memory beyond the output / output size
WINDOW = (40.0, 400.0)


def ct_path(frames: int, rows: int, cols: int) -> Path:
    path = C.DATA / "display" / f"ct_{frames}x{rows}x{cols}" / "image.dcm"
    if not path.exists():
        print(f"# generating {path.relative_to(C.HERE)} ...", flush=True)
        C._atomic_write(path, C.phantom(frames, rows, cols), "ExplicitVRLittleEndian",
                        multiframe=True, bits_stored=12, rescale=(1, -1024),
                        window=WINDOW, modality="CT", pixel_spacing=(0.7, 0.7))
    return path


def pydicom_chain(ds: Any, raw: np.ndarray) -> np.ndarray:
    """Modality LUT, VOI LUT and the 0..255 scaling, as a pydicom user writes it."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    hu = apply_modality_lut(raw, ds)
    shown = apply_voi_lut(hu, ds)
    lo = -1024.0  # apply_windowing's output range: the stored range, rescaled
    hi = 4095.0 - 1024.0
    return np.clip(np.rint((shown - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def pydicom_file(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    return pydicom_chain(ds, ds.pixel_array)


def dicomio_transform(img: Any, raw: np.ndarray) -> np.ndarray:
    from dicomio.values.display import DisplayPlan

    plan = DisplayPlan(img.dataset, img.spec)
    out = np.empty(raw.shape, np.uint8)
    for k in range(len(raw)):
        plan.apply(k, raw[k], out[k])
    return out


def traced_ratio(fn: Callable[[], np.ndarray]) -> tuple[float, int]:
    """(peak traced memory beyond the output / output size, output bytes)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return (peak - out.nbytes) / out.nbytes, out.nbytes


def main() -> int:
    args = C.parser(__doc__.splitlines()[0]).parse_args()
    cfg = C.settings(args)
    m = C.header("Display image: read(display=True) vs pydicom's apply chain", cfg)
    load = C.LoadMonitor()
    n, rows, cols = cfg["frames"], cfg["rows"], cfg["cols"]
    path = ct_path(n, rows, cols)
    C.warm(path)
    img = dicomio.DicomImage(str(path), threads=args.threads)
    raw = img.read()
    reference = pydicom_file(path)

    def check(out: np.ndarray) -> str:
        diff = int(np.abs(out.astype(np.int16) - reference).max())
        assert out.dtype == np.uint8 and out.shape == reference.shape
        assert diff <= 1, f"differs from pydicom's chain by {diff}"
        return f"max |diff| vs pydicom {diff}"

    print(f"\n# file -> display uint8 ({n} x {rows}x{cols}, window {WINDOW})")
    whole = C.measure_all([
        C.Contender("dicomio read(display=True)",
                    lambda: dicomio.DicomImage(str(path), threads=args.threads)
                    .read(display=True), check),
        C.Contender("dicomio read(display=True) threads=1",
                    lambda: dicomio.DicomImage(str(path), threads=1)
                    .read(display=True), check),
        C.Contender("pydicom dcmread+pixel_array+apply_*", lambda: pydicom_file(path),
                    check),
    ], cfg["repeats"])
    print("\n# decoded array -> display uint8 (the transform alone, same array)")
    ds = img.dataset
    alone = C.measure_all([
        C.Contender("dicomio DisplayPlan (uint8 LUT)", lambda: dicomio_transform(img, raw),
                    check),
        C.Contender("pydicom apply_modality_lut+apply_voi_lut",
                    lambda: pydicom_chain(ds, raw), check),
    ], cfg["repeats"])

    print("\n# ratios (pydicom time / dicomio time: higher is better for dicomio)")
    results: dict[str, Any] = {}
    for label, rows_ in (("file", whole), ("transform", alone)):
        t = {r.name: r.median for r in rows_ if r.median}
        ours = next((v for k, v in t.items() if k.startswith("dicomio")), None)
        theirs = next((v for k, v in t.items() if k.startswith("pydicom")), None)
        ratio = theirs / ours if ours and theirs else None
        results[label] = {"seconds": t, "speedup_vs_pydicom": ratio}
        print(f"#   {label:10s} dicomio {C.fmt_time(ours) if ours else '-':>9s}  "
              f"pydicom {C.fmt_time(theirs) if theirs else '-':>9s}  "
              f"speed-up {ratio:.1f}x" if ratio else f"#   {label}: -")

    print("\n# peak memory beyond the uint8 output (tracemalloc), / output size"
          f"  (target dicomio <= {TARGET_DISPLAY_MEMORY}x)")
    mem = {}
    for name, fn in (
            ("dicomio read(display=True)",
             lambda: dicomio.DicomImage(str(path), threads=args.threads)
             .read(display=True)),
            ("pydicom dcmread+pixel_array+apply_*", lambda: pydicom_file(path)),
            ("dicomio DisplayPlan on a decoded array", lambda: dicomio_transform(img, raw)),
            ("pydicom apply_* on a decoded array", lambda: pydicom_chain(ds, raw))):
        ratio, nbytes = traced_ratio(fn)
        mem[name] = ratio
        ok = "" if not name.startswith("dicomio") else (
            "  ok" if ratio <= TARGET_DISPLAY_MEMORY else "  OVER TARGET")
        print(f"#   {name:42s} {ratio:7.2f}x of {nbytes / 2**20:.0f} MiB{ok}")
    results["memory_beyond_output_ratio"] = mem
    C.finish("display", args.json, cfg, m, load, **results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
