"""``dicomio transcode IN OUT --to SYNTAX``: re-encode a file or a whole folder.

The input is only read. A folder is walked recursively and its layout kept;
a file that fails is reported (exit status 1) while the others are written.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._inputs import check_input, file_jobs
from ._output import Reporter

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, common: argparse.ArgumentParser, func: Any) -> None:
    """Register the ``transcode`` subcommand."""
    t = sub.add_parser(
        "transcode", parents=[common],
        help="re-encode files or folders in another transfer syntax",
        description="Re-encode DICOM files in another Transfer Syntax, keeping every "
        "header element outside the pixel description. A lossless target is decoded "
        "back and compared bit for bit before the output appears; a lossy one gets a "
        "new SOP Instance UID and its lossy history. A folder is walked recursively, "
        "its layout kept; a bad file is reported and the others go on.")
    t.add_argument("input", help="a DICOM file or a folder")
    t.add_argument("output", help="for a file: the file to write, or an existing "
                   "folder to write into; for a folder: the output folder")
    t.add_argument("--to", required=True, metavar="SYNTAX",
                   help="Transfer Syntax keyword or UID, e.g. HTJ2KLossless, "
                   "JPEGLSLossless, RLELossless, JPEG2000, ExplicitVRLittleEndian")
    t.add_argument("--level", type=float, default=None,
                   help="codec level (quality, NEAR, PSNR, step; see the docs)")
    t.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="files transcoded at once (default: all cores)")
    t.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the files as tasks on a dask.distributed scheduler")
    t.set_defaults(func=func)


def _level(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def run(args: argparse.Namespace) -> int:
    """``dicomio transcode``."""
    from ..tsyntax import lookup

    ts = lookup(args.to).keyword  # an unknown syntax: exit status 2
    level = _level(args.level)
    src, dst = Path(args.input), Path(args.output)
    check_input(src)
    reporter = Reporter(quiet=args.quiet)
    jobs = file_jobs(src, dst)
    if args.dask_scheduler:
        return _on_dask(jobs, args.dask_scheduler, ts, level)
    if not src.is_dir():
        return _one_file(*jobs[0], ts, level, reporter)
    return _folder(jobs, ts, level, args.jobs, reporter)


def _one_file(src: Path, dst: Path, ts: str, level: Any, reporter: Reporter) -> int:
    from ..encode.transcode import transcode

    dst.parent.mkdir(parents=True, exist_ok=True)
    with reporter.warnings_of(src):
        transcode(src, dst, ts, level=level)
    sys.stdout.write(f"wrote {dst}\n")
    return 0


def _on_dask(jobs: list[tuple[Path, Path]], scheduler: str, ts: str, level: Any) -> int:
    from ..dask import transcode_many

    report = transcode_many([str(a) for a, _ in jobs], [str(b) for _, b in jobs], ts,
                            scheduler=scheduler, level=level)
    failed = [r for r in report if not r["ok"]]
    for r in failed:
        sys.stderr.write(f"FAILED {r['source']}: {r['error']}\n")
    sys.stdout.write(f"{len(report) - len(failed)} written, {len(failed)} failed\n")
    return 1 if failed else 0


def _folder(jobs: list[tuple[Path, Path]], ts: str, level: Any, n_jobs: int,
            reporter: Reporter) -> int:
    from ..encode.transcode import transcode

    threads = 1 if n_jobs > 1 else None

    def one(job: tuple[Path, Path]) -> str | None:
        a, b = job
        try:
            b.parent.mkdir(parents=True, exist_ok=True)
            with reporter.about(a):
                transcode(a, b, ts, level=level, threads=threads)
        except Exception as exc:  # reported per file; the others go on
            return f"{a}: {exc}"
        return None

    failures = 0
    with reporter.progress(len(jobs), f"transcoding to {ts}") as bar, \
            reporter.warnings_of(), \
            ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        for error in pool.map(one, jobs):
            bar.update(1)
            if error is not None:
                failures += 1
                reporter.line(f"FAILED {error}")
    sys.stdout.write(f"{len(jobs) - failures} written, {failures} failed\n")
    return 1 if failures else 0
