"""A 500-file CT-like series: header scan + sorted volume, against SimpleITK,
imageio's legacy folder reader and a plain pydicom loop.

The series is generated once (512x512, 12 bits stored, Rescale Intercept
-1024, 1.25 mm slices, shuffled file names) as JPEG-LS lossless and as an
uncompressed twin (imageio's legacy reader cannot decode compressed files in a
folder). Every contender returns the volume in Hounsfield units sorted along
the slice normal, checked identical to the ground truth before timing.

    python benchmarks/bench_series.py            # 500 files
    python benchmarks/bench_series.py --quick    # 60 files of 256x256
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

from dicomio import series as dseries  # noqa: E402


def verify_volume(ref: np.ndarray):  # type: ignore[no-untyped-def]
    def check(arr: Any) -> str:
        a = np.asarray(arr)
        if a.shape != ref.shape:
            raise AssertionError(f"shape {a.shape} != {ref.shape}")
        if np.array_equal(a, ref):
            return "identical (z ascending)"
        if np.array_equal(a, ref[::-1]):
            return "identical (z descending)"
        d = np.abs(a.astype(np.int64) - ref.astype(np.int64))
        raise AssertionError(f"differs: max |d| {d.max()}, {np.count_nonzero(d)} px")

    return check


def contenders(folder: Path, ref: np.ndarray, threads: int | None) -> list[C.Contender]:
    check = verify_volume(ref)
    items = [
        C.Contender("dicomio scan (headers only)",
                    lambda: dseries.scan(folder, threads=threads),
                    lambda r: f"{len(r.series)} series, {len(r.series[0].slices)} slices"),
        C.Contender("dicomio scan + first slice",
                    lambda: dseries.scan(folder, threads=threads).series[0].read(0, rescale=True),
                    lambda a: f"slice {a.shape} {a.dtype}"),
        C.Contender("dicomio read_volume",
                    lambda: dseries.read_volume(folder, rescale=True, threads=threads), check),
    ]
    try:
        import SimpleITK as sitk

        def itk() -> np.ndarray:
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
            return sitk.GetArrayFromImage(reader.Execute())

        items.append(C.Contender("SimpleITK ImageSeriesReader", itk, check))
    except ImportError:
        pass
    try:
        import imageio.v2 as iio2

        def legacy() -> np.ndarray:
            chatter = io.StringIO()  # its progress bar writes to stdout
            try:
                with contextlib.redirect_stdout(chatter):
                    return iio2.volread(str(folder), format="DICOM")
            except IndexError:
                if "only read files with uncompressed" in chatter.getvalue():
                    raise RuntimeError("reads no compressed file in a folder "
                                       "(found 0 series)") from None
                raise

        def rm_raw() -> None:
            for f in folder.glob("*.raw"):
                f.unlink()

        items.append(C.Contender("imageio legacy volread(folder)", legacy, check, rm_raw))
    except ImportError:
        pass

    import pydicom

    def pydicom_loop() -> np.ndarray:
        dss = [pydicom.dcmread(f) for f in sorted(folder.glob("*.dcm"))]
        dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        vol = np.empty((len(dss), int(dss[0].Rows), int(dss[0].Columns)), np.int16)
        for k, d in enumerate(dss):
            vol[k] = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        return vol

    items.append(C.Contender("pydicom loop (dcmread, sort, stack)", pydicom_loop, check))
    return items


def run(ts: str, cfg: dict[str, Any], threads: int | None) -> dict[str, Any]:
    n, rows, cols = cfg["series"], cfg["rows"], cfg["cols"]
    folder = C.series_folder(n, rows, cols, ts)
    C.warm(folder)
    ref = C.series_reference(n, rows, cols)
    size = sum(f.stat().st_size for f in folder.glob("*.dcm"))
    print(f"\n### {n}-file series, {ts}: {folder.name}, {size / 2**20:.0f} MiB on disk, "
          f"{ref.nbytes / 2**20:.0f} MiB decoded", flush=True)
    timings = C.measure_all(contenders(folder, ref, threads), cfg["repeats"])
    base = next(t for t in timings if t.name == "dicomio read_volume").median
    rows_out = []
    for t in timings:
        ratio = t.median / base if (t.ok and base) else None
        verdict = ""
        if t.name.startswith(("SimpleITK", "imageio", "pydicom")):
            verdict = C.verdict(ratio, 1.0)  # dicomio must simply be faster
        elif t.name == "dicomio scan + first slice":
            verdict = C.verdict(t.median, 1.0, higher_is_better=False) + " (< 1 s)"
        rows_out.append([t.name, C.fmt_time(t.median),
                         f"{ratio:.2f}x" if ratio else (t.error or "-"), verdict,
                         t.check if t.ok else ""])
    print()
    print(C.table(["contender", "median", "vs dicomio read_volume", "PASS/MISS", "check"],
                  rows_out))
    return {"ts": ts, "n": n, "folder": str(folder), "disk_bytes": size,
            "results": {t.name: {"median": t.median, "times": t.times, "error": t.error,
                                 "check": t.check, "others": t.others,
                                 "discarded": t.discarded} for t in timings}}


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=None, help="number of files")
    p.add_argument("--no-uncompressed", action="store_true",
                   help="skip the uncompressed twin series")
    args = p.parse_args(argv)
    cfg = C.settings(args)
    if args.series:
        cfg["series"] = args.series
    machine = C.header("bench_series", cfg)
    load = C.LoadMonitor()
    out = [run("JPEGLSLossless", cfg, args.threads)]
    if not args.no_uncompressed:
        out.append(run("ExplicitVRLittleEndian", cfg, args.threads))
    C.finish("series", args.json, cfg, machine, load, series=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
