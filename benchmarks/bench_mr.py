"""A 200-volume fMRI series of Siemens mosaics to NIfTI: dicomio against dcm2niix.

The series is generated once (dicomio.encode.mr: 200 MOSAIC files, each a
64 x 64 x 36 volume as a 6 x 6 grid of tiles, 384 x 384 uncompressed, with a
CSA header) into ``benchmarks/_data/mr/``. Contenders write ``.nii`` (no
gzip, so the figures are about reading and assembling, not zlib), from the
same files, each into its own empty folder:

* ``dicomio convert`` (the console script, a new process like dcm2niix);
* ``dicomio scan + write_nifti`` (in this process: no start-up, no imports);
* ``dicomio scan + read (t, z, y, x)`` (no file written);
* ``dcm2niix`` (the PyPI wheel, ``-z n``).

Every output is loaded with nibabel and checked voxel for voxel against the
generated volumes (in the NIfTI layout) and its affine against dcm2niix's.

    python benchmarks/bench_mr.py            # 200 volumes
    python benchmarks/bench_mr.py --quick    # 20 volumes
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

from dicomio import series as dseries  # noqa: E402
from dicomio.encode import mr  # noqa: E402

SHAPE = (36, 64, 64)  # slices, rows, columns of one volume


def fmri_folder(n: int) -> Path:
    folder = C.DATA / "mr" / f"fmri_mosaic_{n}x{'x'.join(map(str, SHAPE))}"
    done = folder.parent / f"{folder.name}.complete"
    if done.exists():
        return folder
    t0 = time.perf_counter()
    print(f"# generating {folder.relative_to(C.HERE)} ({n} mosaics) ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    for v in range(n):
        vol = volumes(v, v + 1)
        mr.write_mosaic_series(folder, vol, seed=f"bench-{n}-{v}")
        (folder / "mosaic_0001.dcm").rename(folder / f"MR{v + 1:05d}.dcm")
    # One series: the writer derives the series UID from the seed.
    _same_series(folder, n)
    done.write_text("ok\n")
    print(f"#   done in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder


def _same_series(folder: Path, n: int) -> None:
    import pydicom

    from dicomio.encode import uid_from

    uid = uid_from("bench-mr", str(n))
    for v, path in enumerate(sorted(folder.glob("MR*.dcm"))):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = uid
        ds.StudyInstanceUID = uid_from("bench-mr-study", str(n))
        ds.AcquisitionNumber = v + 1
        ds.InstanceNumber = v + 1
        ds.save_as(path)


def volumes(start: int, stop: int) -> np.ndarray:
    """Volumes ``start:stop``: a slowly changing phantom, 12 bits."""
    z, y, x = SHAPE
    zz, yy, xx = np.mgrid[0:z, 0:y, 0:x]
    base = (zz * 37 + yy * 11 + xx * 5) % 3000
    return np.stack([((base + 3 * t) % 4096).astype(np.uint16)
                     for t in range(start, stop)])


def nifti_truth(n: int) -> np.ndarray:
    vols = volumes(0, n)[..., ::-1, :]
    return np.ascontiguousarray(np.transpose(vols, (3, 2, 1, 0)))


def _dcm2niix() -> str | None:
    try:
        import dcm2niix
    except ImportError:
        return None
    return str(dcm2niix.bin)


def _fresh(out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def contenders(folder: Path, n: int, work: Path) -> list[C.Contender]:
    import nibabel as nib

    truth = nifti_truth(n)
    ref_affine: dict[str, np.ndarray] = {}

    def check(path_of: Any) -> Any:
        def verify(_: Any) -> str:
            path = path_of()
            img = nib.load(path)
            data = np.asarray(img.dataobj)
            if data.shape != truth.shape or not np.array_equal(data, truth):
                raise AssertionError(f"{path.name}: voxels differ ({data.shape})")
            if "dcm2niix" in ref_affine:
                d = float(np.abs(img.affine - ref_affine["dcm2niix"]).max())
                return f"voxels identical, affine within {d:.1e} of dcm2niix"
            ref_affine["dcm2niix"] = img.affine
            return "voxels identical"
        return verify

    def cli() -> None:
        out = _fresh(work / "cli")
        subprocess.run([sys.executable, "-m", "dicomio", "convert", str(folder),
                        str(out / "bold.nii")], check=True, capture_output=True)

    def api() -> None:
        from dicomio.encode.nifti import write_nifti

        out = _fresh(work / "api")
        write_nifti(dseries.scan(folder).series[0], out / "bold.nii")

    items = []
    exe = _dcm2niix()
    if exe is not None:
        def run_dcm2niix() -> None:
            out = _fresh(work / "dcm2niix")
            subprocess.run([exe, "-z", "n", "-f", "bold", "-o", str(out), str(folder)],
                           check=True, capture_output=True)

        items.append(C.Contender("dcm2niix -z n", run_dcm2niix,
                                 check(lambda: work / "dcm2niix" / "bold.nii")))
    items += [
        C.Contender("dicomio convert (new process)", cli,
                    check(lambda: work / "cli" / "bold.nii")),
        C.Contender("dicomio scan + write_nifti", api,
                    check(lambda: work / "api" / "bold.nii")),
        C.Contender("dicomio scan + read (t, z, y, x)",
                    lambda: dseries.scan(folder).series[0].read(),
                    lambda a: "identical" if np.array_equal(a, volumes(0, n))
                    else "DIFFERS"),
    ]
    return items


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--volumes", type=int, default=None, help="number of mosaics")
    args = p.parse_args(argv)
    cfg = C.settings(args)
    cfg["volumes"] = args.volumes or (20 if args.quick else 200)
    n = cfg["volumes"]
    machine = C.header("bench_mr", cfg)
    load = C.LoadMonitor()
    folder = fmri_folder(n)
    C.warm(folder)
    size = sum(f.stat().st_size for f in folder.glob("*.dcm"))
    print(f"\n### {n} mosaics of {SHAPE}: {size / 2**20:.0f} MiB on disk", flush=True)
    work = C.DATA / "mr" / "out"
    timings = C.measure_all(contenders(folder, n, work), cfg["repeats"])
    print()
    print(C.ratio_table(timings, "dcm2niix -z n", "time / dcm2niix"))
    C.finish("mr", args.json, cfg, machine, load, results={
        t.name: {"median": t.median, "times": t.times, "error": t.error,
                 "check": t.check, "others": t.others} for t in timings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
