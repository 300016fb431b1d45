"""The ``dicomio`` command: doctor, info, decompress, convert, view.

Run ``dicomio --help`` or ``python -m dicomio --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "doctor_rows"]


# ---------------------------------------------------------------- helpers
class _Progress:
    """A one-line progress counter on a terminal; silent otherwise."""

    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0

    def __call__(self, done: int | None = None, total: int | None = None) -> None:
        self.done = self.done + 1 if done is None else done
        if total is not None:
            self.total = total
        if self.tty:
            self.stream.write(f"\r{self.label}: {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


# ---------------------------------------------------------------- doctor
def doctor_rows(verify: bool = True) -> list[dict[str, Any]]:
    """The live support table: every Transfer Syntax x every backend.

    Each cell is one of ``"ok"`` (decoded the bundled sample correctly),
    ``"wrong"`` (decoded, pixels wrong), ``"fail"`` (raised), ``"missing"``
    (capable but not installed; ``install`` says what to run),
    ``"untested"`` (no sample for it) or absent (not capable).
    """
    from . import registry, samples
    from .image import DicomImage
    from .tsyntax import TRANSFER_SYNTAXES

    avail = samples.all_paths()
    rows = []
    for ts in TRANSFER_SYNTAXES.values():
        row: dict[str, Any] = {"uid": ts.uid, "keyword": ts.keyword,
                               "family": ts.family, "lossy": ts.lossy,
                               "sample": ts.keyword in avail, "backends": {}}
        spec = None
        img = None
        if ts.keyword in avail:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = DicomImage(avail[ts.keyword])
            spec = img.spec
        for name in registry.names():
            be = registry.get(name)
            if ts.uid not in be.syntaxes:
                continue
            cell: dict[str, Any] = {}
            if spec is not None and not be.supports(spec):
                continue
            if not be.available():
                cell = {"status": "missing", "install": be.install}
            elif img is None or not verify:
                cell = {"status": "untested" if img is None else "available"}
            else:
                cell = _verify(img, ts.keyword, name, samples)
            cell["version"] = be.version()
            row["backends"][name] = cell
        rows.append(row)
    return rows


def _verify(img: Any, keyword: str, name: str, samples: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        arr = img.read(backend=name)
    except Exception as exc:  # reported in the table, not raised
        return {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    ms = (time.perf_counter() - t0) * 1000
    expected = samples.expected(keyword)
    if expected is not None:
        ok = arr.shape == expected.shape and np.array_equal(arr, expected)
        return {"status": "ok" if ok else "wrong", "exact": ok, "ms": round(ms, 2)}
    source = samples.source(keyword)
    if arr.shape != source.shape:
        return {"status": "wrong", "error": f"shape {arr.shape} != {source.shape}"}
    peak = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
    if img.spec.bits_stored < arr.dtype.itemsize * 8:
        peak = float((1 << img.spec.bits_stored) - 1)
    psnr = _psnr(arr, source, peak)
    ok = psnr >= 30.0
    return {"status": "ok" if ok else "wrong", "psnr_db": round(psnr, 1),
            "ms": round(ms, 2)}


def _print_doctor(rows: list[dict[str, Any]], out: Any) -> None:
    from . import registry

    names = registry.names()
    width = max(len(r["keyword"]) for r in rows) + 2
    head = "Transfer Syntax".ljust(width) + "".join(n[:11].ljust(12) for n in names)
    out.write(head + "\n" + "-" * len(head) + "\n")
    symbols = {"ok": "ok", "wrong": "WRONG", "fail": "FAIL", "missing": "missing",
               "untested": "untested", "available": "yes"}
    missing: dict[str, str] = {}
    for r in rows:
        line = r["keyword"].ljust(width)
        for n in names:
            cell = r["backends"].get(n)
            text = "-" if cell is None else symbols[cell["status"]]
            if cell and cell["status"] == "missing":
                missing[n] = cell["install"]
            line += text.ljust(12)
        out.write(line + "\n")
    out.write("\nok: decoded the bundled sample correctly (lossless: bit-exact; lossy: "
              "PSNR >= 30 dB); -: not capable\n")
    for n, hint in missing.items():
        out.write(f"missing {n}: {hint}\n")


def _cmd_doctor(args: argparse.Namespace) -> int:
    rows = doctor_rows(verify=not args.no_verify)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_doctor(rows, sys.stdout)
    bad = [r["keyword"] for r in rows if r["family"] != "video" and not any(
        c["status"] in ("ok", "available") for c in r["backends"].values())]
    wrong = [f"{r['keyword']}/{n}" for r in rows for n, c in r["backends"].items()
             if c["status"] in ("wrong", "fail")]
    if wrong:
        sys.stderr.write(f"doctor: backends failing their sample: {', '.join(wrong)}\n")
    if bad:
        sys.stderr.write(f"doctor: no working backend for: {', '.join(bad)}\n")
    return 1 if (bad or wrong) else 0


# ---------------------------------------------------------------- info
def _file_info(path: str) -> dict[str, Any]:
    from .image import DicomImage

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = DicomImage(path)
    ds = img.dataset
    return {
        "path": path,
        "transfer_syntax": {"uid": img.transfer_syntax.uid,
                            "keyword": img.transfer_syntax.keyword},
        "sop_class": str(ds.get("SOPClassUID", "")),
        "modality": str(ds.get("Modality", "")),
        "frames": img.n_frames,
        "shape": list(img.shape),
        "dtype": str(img.dtype),
        "bits": {"allocated": img.spec.bits_allocated, "stored": img.spec.bits_stored,
                 "signed": bool(img.spec.pixel_representation)},
        "pixel_spacing": img.pixel_spacing,
        "rescale": img.rescale_params,
        "photometric": img.photometric,
        "decoder": img.planned_decoder,
        "warnings": [str(w.message) for w in caught],
    }


def _cmd_info(args: argparse.Namespace) -> int:
    path = args.path
    if os.path.isdir(path) or os.path.basename(path).upper() == "DICOMDIR":
        from . import series

        prog = _Progress(0, "scanning")
        result = series.scan(path, progress=prog)
        prog.close()
        info: dict[str, Any] = {
            "path": path,
            "series": [_series_info(s) for s in result.series],
            "skipped": {k: len(v) for k, v in result.skipped.items()},
        }
    else:
        info = _file_info(path)
    if args.json:
        json.dump(info, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print_info(info, sys.stdout)
    return 0


def _series_info(s: Any) -> dict[str, Any]:
    g = s.geometry
    return {
        "uid": s.uid,
        "description": s.description,
        "modality": s.modality,
        "slices": s.n_slices,
        "shape": list(s.shape),
        "transfer_syntaxes": sorted(s.transfer_syntaxes),
        "spacing_mm": [float(x) for x in g.spacing] if g is not None else None,
        "warnings": list(s.warnings),
    }


def _print_info(info: dict[str, Any], out: Any, indent: str = "") -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            out.write(f"{indent}{key}:\n")
            _print_info(value, out, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.write(f"{indent}{key}:\n")
            for i, item in enumerate(value):
                out.write(f"{indent}  [{i}]\n")
                _print_info(item, out, indent + "    ")
        else:
            out.write(f"{indent}{key}: {value}\n")


# ---------------------------------------------------------------- decompress
def _walk(src: Path) -> Iterable[Path]:
    for root, _dirs, files in os.walk(src):
        for f in sorted(files):
            yield Path(root) / f


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _cmd_decompress(args: argparse.Namespace) -> int:
    from .decompress import decompress

    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        jobs = [(p, dst / p.relative_to(src)) for p in _walk(src) if _is_dicom(p)]
    else:
        jobs = [(src, dst / src.name if dst.is_dir() else dst)]
    if getattr(args, "dask_scheduler", None):
        from .dask import decompress_many

        report = decompress_many([str(a) for a, _ in jobs], [str(b) for _, b in jobs],
                                 scheduler=args.dask_scheduler)
        failures = [r for r in report if not r["ok"]]
        for r in failures:
            sys.stderr.write(f"FAILED {r['source']}: {r['error']}\n")
        sys.stdout.write(f"{len(report) - len(failures)} written, {len(failures)} failed\n")
        return 1 if failures else 0
    prog = _Progress(len(jobs), "decompressing")
    failures = 0

    def one(job: tuple[Path, Path]) -> str | None:
        a, b = job
        b.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                decompress(a, b, threads=1 if args.jobs > 1 else None)
        except Exception as exc:
            return f"{a}: {exc}"
        return None

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for err in pool.map(one, jobs):
            prog()
            if err:
                failures += 1
                sys.stderr.write(f"FAILED {err}\n")
    prog.close()
    sys.stdout.write(f"{len(jobs) - failures} written, {failures} failed\n")
    return 1 if failures else 0


# ---------------------------------------------------------------- convert
def _cmd_convert(args: argparse.Namespace) -> int:
    src, dst = args.input, args.output
    if os.path.isdir(src):
        from .series import read_volume

        arr = read_volume(src, rescale=args.rescale)
    else:
        from .image import imread

        arr = imread(src, rescale=args.rescale)
    if dst.endswith(".npy"):
        np.save(dst, arr)
    else:
        import imageio.v3 as iio

        if dst.lower().endswith((".png", ".jpg", ".jpeg")) and arr.ndim == 3 and arr.shape[-1] not in (3, 4):
            # One image per frame for formats without pages.
            stem, ext = os.path.splitext(dst)
            for i, frame in enumerate(arr):
                iio.imwrite(f"{stem}_{i:04d}{ext}", frame)
            sys.stdout.write(f"wrote {len(arr)} files {stem}_####{ext}\n")
            return 0
        iio.imwrite(dst, arr)
    sys.stdout.write(f"wrote {dst} {arr.shape} {arr.dtype}\n")
    return 0


# ---------------------------------------------------------------- view
def _cmd_view(args: argparse.Namespace) -> int:
    from ._napari.launch import view

    view(args.paths)
    return 0


# ---------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="dicomio", description=(
        "Decode every DICOM transfer syntax; inspect, decompress, convert, view."))
    p.add_argument("--version", action="version", version=f"dicomio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="live table: transfer syntax x backend, "
                       "verified on the bundled samples")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--no-verify", action="store_true",
                   help="only check which backends import; decode nothing")
    d.set_defaults(func=_cmd_doctor)

    i = sub.add_parser("info", help="transfer syntax, geometry, frames, colour "
                       "report; for a folder, the series found")
    i.add_argument("path")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_info)

    c = sub.add_parser("decompress", help="write uncompressed copies (files or folders)")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="files decoded at once (default: all cores)")
    c.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the files as tasks on a dask.distributed scheduler")
    c.set_defaults(func=_cmd_decompress)

    v = sub.add_parser("convert", help="export a file or folder to .png/.tif/.npy")
    v.add_argument("input")
    v.add_argument("output")
    v.add_argument("--rescale", action="store_true", help="apply the modality LUT")
    v.set_defaults(func=_cmd_convert)

    w = sub.add_parser("view", help="open in napari with the dicomio reader")
    w.add_argument("paths", nargs="+")
    w.set_defaults(func=_cmd_view)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dicomio`` console script."""
    args = _parser().parse_args(argv)
    from .errors import DicomioError

    try:
        return int(args.func(args) or 0)
    except DicomioError as exc:
        sys.stderr.write(f"dicomio: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
