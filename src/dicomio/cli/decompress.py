"""``dicomio decompress``: uncompressed copies of a file or a whole folder.

The input is only read. A folder is walked recursively and its layout kept;
files without the ``DICM`` prefix are left out, DICOM objects without pixels
(DICOMDIR, reports) are skipped, and a file that fails is reported (exit
status 1) while the others are written.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._inputs import check_input, file_jobs
from ._output import Reporter, repaired_note

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """``dicomio decompress``."""
    src, dst = Path(args.input), Path(args.output)
    check_input(src)
    reporter = Reporter(quiet=args.quiet)
    jobs = file_jobs(src, dst)
    on_error = getattr(args, "on_error", "raise")
    if getattr(args, "dask_scheduler", None):
        return _on_dask(jobs, args.dask_scheduler, reporter, on_error)
    if not src.is_dir():
        return _one_file(*jobs[0], reporter, on_error)
    return _folder(jobs, dst, args.jobs, reporter, on_error)


def _one_file(src: Path, dst: Path, reporter: Reporter, on_error: str = "raise") -> int:
    from ..encode.decompress import decompress

    # Its error is the command's error (exit status 2).
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
    with reporter.warnings_of(src):
        decompress(src, dst, on_error=on_error)
    sys.stdout.write(f"wrote {dst}\n")
    return 0


def _on_dask(jobs: list[tuple[Path, Path]], scheduler: str, reporter: Reporter,
             on_error: str = "raise") -> int:
    from ..dask import decompress_many

    # decompress_many warns here, once per repaired file, naming it.
    with reporter.warnings_of():
        report = decompress_many([str(a) for a, _ in jobs],
                                 [str(b) for _, b in jobs], scheduler=scheduler,
                                 on_error=on_error)
    failed = [r for r in report if not r["ok"]]
    for r in failed:
        sys.stderr.write(f"FAILED {r['source']}: {r['error']}\n")
    repaired = sum(bool(r.get("failed_frames")) for r in report)
    sys.stdout.write(f"{len(report) - len(failed)} written{repaired_note(repaired)}, "
                     f"{len(failed)} failed\n")
    return 1 if failed else 0


def _folder(jobs: list[tuple[Path, Path]], dst: Path, n_jobs: int,
            reporter: Reporter, on_error: str = "raise") -> int:
    from ..encode.decompress import decompress_file
    from ..errors import InvalidDicomError

    threads = 1 if n_jobs > 1 else None

    def one(job: tuple[Path, Path]) -> tuple[str, str]:
        a, b = job
        b.parent.mkdir(parents=True, exist_ok=True)
        try:
            with reporter.about(a):
                _, repair = decompress_file(a, b, threads=threads, on_error=on_error)
                if repair is not None:
                    repair.warn(str(b))
                    return "repaired", str(b)
        except InvalidDicomError as exc:
            # DICOMDIRs, reports, presentation states: nothing to decompress.
            if not _has_pixel_data(a):
                return "skipped", str(a)
            return "failed", f"{a}: {exc}"
        except Exception as exc:
            return "failed", f"{a}: {exc}"
        return "written", str(b)

    written = skipped = failures = repaired = 0
    skipped_dirs: set[Path] = set()
    with reporter.progress(len(jobs), "decompressing") as bar, \
            reporter.warnings_of(), \
            ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        for (_src, out), (status, text) in zip(jobs, pool.map(one, jobs)):
            bar.update(1)
            if status in ("written", "repaired"):
                written += 1
                repaired += status == "repaired"
            elif status == "skipped":
                skipped += 1
                skipped_dirs.add(out.parent)
            else:
                failures += 1
                reporter.line(f"FAILED {text}")
    # Only now that no worker can be about to write into them.
    for folder in sorted(skipped_dirs, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_dirs(folder, dst)
    sys.stdout.write(f"{written} written{repaired_note(repaired)}, {skipped} skipped "
                     f"(no pixel data), {failures} failed\n")
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
