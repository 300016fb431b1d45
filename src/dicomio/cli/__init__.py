"""The ``dicomio`` command: doctor, info, decompress, convert, view.

Run ``dicomio --help`` or ``python -m dicomio --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "doctor_rows"]


# ---------------------------------------------------------------- helpers
def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _unicode_ok(stream: Any) -> bool:
    return "utf" in (getattr(stream, "encoding", None) or "").lower()


def _use_color(stream: Any) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return _isatty(stream) and not os.environ.get("NO_COLOR")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Progress:
    """A progress bar on a terminal (stderr); silent in pipes, logs and CI.

    Call it with no argument after each item, or as ``progress(done, total)``
    (the :func:`dicomio.series.scan` callback). Redraws at most every
    ``interval`` seconds so a fast loop is not slowed by the terminal.
    """

    def __init__(self, total: int, label: str, stream: Any = None,
                 interval: float = 0.1) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = _isatty(self.stream)
        self.fill, self.empty = ("━", "╌") if _unicode_ok(self.stream) else ("#", "-")
        self.interval = interval
        self.done = 0
        self._start = time.monotonic()
        self._last = -1.0
        self._drawn = False

    def __call__(self, done: int | None = None, total: int | None = None) -> None:
        self.done = self.done + 1 if done is None else done
        if total is not None:
            self.total = total
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        elapsed = now - self._start
        if self.total <= 0:
            line = f"{self.label}: {self.done}"
        else:
            frac = min(1.0, self.done / self.total)
            if self.done >= self.total or self.done == 0:
                when = _duration(elapsed)
            else:
                when = "eta " + _duration(elapsed / self.done * (self.total - self.done))
            tail = f" {self.done}/{self.total} {frac:4.0%} {when}"
            width = max(10, min(40, columns - len(self.label) - len(tail) - 4))
            filled = int(frac * width)
            bar = self.fill * filled + self.empty * (width - filled)
            line = f"{self.label} {bar}{tail}"
        # \x1b[K clears what a longer previous line left behind.
        self.stream.write("\r" + line[: columns - 1] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def write(self, line: str) -> None:
        """Print a line to the same stream without garbling the bar."""
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(line + "\n")
        if self.tty and self._drawn:
            self._draw(time.monotonic())
        else:
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


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
    from .. import samples
    from ..backends import registry
    from ..image import DicomImage
    from ..tsyntax import TRANSFER_SYNTAXES

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


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C libraries writing to file descriptor 2 (python-gdcm prints
    "Unsupported JPEG data precision 12" and then decodes 12-bit JPEG fine)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _verify(img: Any, keyword: str, name: str, samples: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        with _quiet_stderr():
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


#: What a doctor cell prints, and its colour on a terminal (ANSI SGR code).
_DOCTOR_CELLS = {
    "ok": ("ok", "32"),
    "wrong": ("WRONG", "1;31"),
    "fail": ("FAIL", "1;31"),
    "missing": ("missing", "33"),
    "untested": ("untested", "2"),
    "available": ("yes", "32"),
}


def _print_doctor(rows: list[dict[str, Any]], out: Any) -> None:
    from ..backends import registry

    names = registry.names()
    color = _use_color(out)

    def paint(text: str, width: int, code: str) -> str:
        # Pad first so escape codes never upset the column widths.
        padded = text.ljust(width)
        return f"\x1b[{code}m{padded}\x1b[0m" if color and code else padded

    decoded = [r for r in rows if r["family"] != "video"]
    video = [r for r in rows if r["family"] == "video"]
    key_w = max(len("Transfer Syntax"), *(len(r["keyword"]) for r in decoded)) + 2
    col_w = {n: max(len(n), 8) + 2 for n in names}
    head = "Transfer Syntax".ljust(key_w) + "".join(n.ljust(col_w[n]) for n in names)
    out.write(paint(head.rstrip(), 0, "1") + "\n")
    out.write(("─" if _unicode_ok(out) else "-") * len(head.rstrip()) + "\n")
    missing: dict[str, str] = {}
    family = None
    for r in decoded:
        if family is not None and r["family"] != family:
            out.write("\n")  # one block per codec family
        family = r["family"]
        line = r["keyword"].ljust(key_w)
        for n in names:
            cell = r["backends"].get(n)
            if cell is None:
                line += paint("-", col_w[n], "2")
                continue
            text, code = _DOCTOR_CELLS.get(cell["status"], (cell["status"], ""))
            if cell["status"] == "missing":
                missing[n] = cell["install"]
            line += paint(text, col_w[n], code)
        out.write(line.rstrip() + "\n")
    if video:
        out.write(f"\n{len(video)} video syntaxes (MPEG-2, H.264, HEVC: "
                  f"{video[0]['keyword']} ... {video[-1]['keyword']}) are recognised; "
                  "no backend decodes them yet.\n")
    out.write("\nok: decoded the bundled sample correctly (lossless: bit-exact, "
              "lossy: PSNR >= 30 dB)\n-: this backend cannot decode this syntax\n")
    versions = []
    for n in names:
        be = registry.get(n)
        if be.available():
            versions.append(f"{n} {be.version()}".strip())
    out.write("\ninstalled: " + "; ".join(versions) + "\n")
    for n, hint in missing.items():
        out.write(paint(f"missing {n}:", 0, "33") + f" {hint}\n")


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
    from ..image import DicomImage

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
        from .. import series

        prog = _Progress(0, "scanning")
        # Each series lists its own warnings below; on stderr they are one
        # line each, not Python's file:line: Warning form.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = series.scan(path, progress=prog)
        prog.close()
        for w in caught:
            sys.stderr.write(f"dicomio: warning: {w.message}\n")
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
    from ..encode.decompress import decompress

    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        jobs = [(p, dst / p.relative_to(src)) for p in _walk(src) if _is_dicom(p)]
    else:
        jobs = [(src, dst / src.name if dst.is_dir() else dst)]
    if getattr(args, "dask_scheduler", None):
        from ..dask import decompress_many

        report = decompress_many([str(a) for a, _ in jobs], [str(b) for _, b in jobs],
                                 scheduler=args.dask_scheduler)
        failed = [r for r in report if not r["ok"]]
        for r in failed:
            sys.stderr.write(f"FAILED {r['source']}: {r['error']}\n")
        sys.stdout.write(f"{len(report) - len(failed)} written, {len(failed)} failed\n")
        return 1 if failed else 0
    if not src.is_dir():
        # One file: its error is the command's error (exit status 2).
        a, b = jobs[0]
        if a.is_file():
            b.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            decompress(a, b)
        for w in caught:
            sys.stderr.write(f"dicomio: warning: {w.message}\n")
        sys.stdout.write(f"wrote {b}\n")
        return 0
    from ..errors import InvalidDicomError

    prog = _Progress(len(jobs), "decompressing")
    written = skipped = failures = 0
    threads = 1 if args.jobs > 1 else None

    def one(job: tuple[Path, Path]) -> tuple[str, str]:
        a, b = job
        b.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                decompress(a, b, threads=threads)
        except InvalidDicomError as exc:
            # DICOMDIRs, reports, presentation states: nothing to decompress.
            if not _has_pixel_data(a):
                return "skipped", str(a)
            return "failed", f"{a}: {exc}"
        except Exception as exc:
            return "failed", f"{a}: {exc}"
        return "written", str(b)

    from concurrent.futures import ThreadPoolExecutor

    skipped_dirs: set[Path] = set()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for (_src, out), (status, text) in zip(jobs, pool.map(one, jobs)):
            prog()
            if status == "written":
                written += 1
            elif status == "skipped":
                skipped += 1
                skipped_dirs.add(out.parent)
            else:
                failures += 1
                prog.write(f"FAILED {text}")
    prog.close()
    # Only now that no worker can be about to write into them.
    for folder in sorted(skipped_dirs, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_dirs(folder, dst)
    sys.stdout.write(f"{written} written, {skipped} skipped (no pixel data), "
                     f"{failures} failed\n")
    return 1 if failures else 0


def _has_pixel_data(path: Path) -> bool:
    import pydicom

    tags = [0x7FE00010, 0x7FE00008, 0x7FE00009]  # Pixel Data, float, double
    try:
        ds = pydicom.dcmread(path, specific_tags=tags, force=True)
    except Exception:
        return True  # unreadable: report it as a failure, not a skip
    return any(t in ds for t in tags)


def _remove_empty_dirs(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    top = top.resolve()
    folder = folder.resolve()
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop here
            return
        folder = folder.parent


# ---------------------------------------------------------------- convert
#: Output formats of ``convert``: suffix -> sample dtypes the format stores.
_CONVERT_FORMATS: dict[str, tuple[str, ...] | None] = {
    ".npy": None,  # anything
    ".tif": None,
    ".tiff": None,
    ".png": ("uint8", "uint16"),
    ".jpg": ("uint8",),
    ".jpeg": ("uint8",),
}


def _cmd_convert(args: argparse.Namespace) -> int:
    src, dst = args.input, args.output
    stem, ext = os.path.splitext(dst)
    if ext.lower() not in _CONVERT_FORMATS:
        sys.stderr.write(f"dicomio: cannot write {ext or 'a file without suffix'}; "
                         f"convert writes {', '.join(_CONVERT_FORMATS)}\n")
        return 2
    allowed = _CONVERT_FORMATS[ext.lower()]
    if ext.lower() != ".npy" and importlib.util.find_spec("imageio") is None:
        sys.stderr.write(f"dicomio: writing {ext} needs imageio: "
                         'pip install "dicomio[imageio]" (or write .npy)\n')
        return 2
    if os.path.isdir(src):
        from ..series import read_volume

        arr = read_volume(src, rescale=args.rescale)
        stacked = True
    else:
        from ..image import DicomImage

        with DicomImage(src) as img:
            arr = img.read(rescale=args.rescale)
            stacked = img.n_frames > 1
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if allowed is not None and arr.dtype.name not in allowed:
        # Checked before writing anything: no half-written set of files.
        sys.stderr.write(
            f"dicomio: {ext} stores {' or '.join(allowed)} samples and this image "
            f"is {arr.dtype}; write .tif or .npy to keep the values\n")
        return 2
    if ext.lower() == ".npy":
        np.save(dst, arr)
    else:
        import imageio.v3 as iio

        if stacked and allowed is not None:
            # PNG and JPEG hold one image: one file per frame or slice.
            for i, frame in enumerate(arr):
                iio.imwrite(f"{stem}_{i:04d}{ext}", frame)
            sys.stdout.write(f"wrote {len(arr)} files {stem}_####{ext} "
                             f"{arr.shape[1:]} {arr.dtype}\n")
            return 0
        iio.imwrite(dst, arr)
    sys.stdout.write(f"wrote {dst} {arr.shape} {arr.dtype}\n")
    return 0


# ---------------------------------------------------------------- view
def _cmd_view(args: argparse.Namespace) -> int:
    from .._napari.launch import view

    view(args.paths, patient_space=args.patient_space)
    return 0


# ---------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="dicomio", description=(
        "Decode every DICOM transfer syntax; inspect, decompress, convert, view."))
    p.add_argument("--version", action="version", version=f"dicomio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "doctor", help="live table: transfer syntax x backend, verified on the "
        "bundled samples",
        description="Decode the bundled sample of every Transfer Syntax with every "
        "installed backend and print which ones work, which are missing and what to "
        "install. Exit status 1 when a backend returns wrong pixels or a syntax has "
        "no working backend.")
    d.add_argument("--json", action="store_true",
                   help="machine-readable output, with versions, timings and errors")
    d.add_argument("--no-verify", action="store_true",
                   help="only check which backends import; decode nothing")
    d.set_defaults(func=_cmd_doctor)

    i = sub.add_parser(
        "info", help="transfer syntax, geometry, frames, colour report; for a "
        "folder, the series found",
        description="Describe a DICOM file from its header (nothing is decoded): "
        "Transfer Syntax, frames, shape and dtype, spacing, rescale, the colour "
        "report and the backend that would decode it. For a folder or DICOMDIR, "
        "list the series found.")
    i.add_argument("path", help="a DICOM file, a folder or a DICOMDIR")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=_cmd_info)

    c = sub.add_parser(
        "decompress", help="write uncompressed copies (files or folders)",
        description="Write Explicit VR Little Endian copies whose Photometric "
        "Interpretation and Planar Configuration match the pixels written. The input "
        "is only read. A folder is walked recursively and its layout kept; files "
        "without the DICM prefix are skipped.")
    c.add_argument("input", help="a DICOM file or a folder")
    c.add_argument("output", help="for a file: the file to write, or an existing "
                   "folder to write into; for a folder: the output folder")
    c.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="files decoded at once (default: all cores)")
    c.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the files as tasks on a dask.distributed scheduler")
    c.set_defaults(func=_cmd_decompress)

    v = sub.add_parser(
        "convert", help="export a file or folder to .png/.tif/.npy",
        description="Decode a file (all frames) or a folder holding one volume and "
        "write it with NumPy (.npy) or imageio (.tif, .png, .jpg). PNG and JPEG hold "
        "one image, so frames and slices become NAME_0000.png, NAME_0001.png, ...")
    v.add_argument("input", help="a DICOM file, or a folder with one series")
    v.add_argument("output", help="OUT.npy, OUT.tif, OUT.png or OUT.jpg")
    v.add_argument("--rescale", action="store_true",
                   help="apply the modality LUT (Hounsfield units for CT)")
    v.set_defaults(func=_cmd_convert)

    w = sub.add_parser("view", help="open in napari with the dicomio reader")
    w.add_argument("paths", nargs="+")
    w.add_argument("--patient-space", action="store_true",
                   help="show the volumes together in patient space (3D), so "
                        "differently oriented series overlap")
    w.set_defaults(func=_cmd_view)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dicomio`` console script."""
    args = _parser().parse_args(argv)
    from ..errors import DicomioError

    try:
        return int(args.func(args) or 0)
    except DicomioError as exc:
        sys.stderr.write(f"dicomio: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # unreadable input, unwritable output, full disk
        sys.stderr.write(f"dicomio: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("dicomio: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
