"""``dicomio transcode IN OUT --to SYNTAX``: re-encode a file or a whole folder.

The input is only read. A folder is walked recursively and its layout kept;
DICOM objects without pixel data (DICOMDIR, SR, ...) are copied unchanged and
DICOMDIRs updated to the files written; a file that fails is reported (exit
status 1) while the others are written.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._inputs import check_input, file_jobs
from ._output import Reporter, repaired_note

__all__ = ["add_parser", "add_writer_options", "run"]


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
    add_writer_options(t, "transcoded")
    t.set_defaults(func=func)


def add_writer_options(p: argparse.ArgumentParser, done: str) -> None:
    """``--jobs``, ``--dask-scheduler`` and ``--on-error``: the options of the
    commands that write a copy of each file (``decompress``, ``transcode``);
    ``done``: what happens to a file ("decoded", "transcoded")."""
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help=f"files {done} at once (default: all cores)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the files as tasks on a dask.distributed scheduler")
    p.add_argument("--on-error", choices=("raise", "recover", "fill"), default="raise",
                   help="a frame that fails (e.g. a truncated file): fail the file "
                   "and write nothing (raise, the default), write it as 0 (fill), "
                   "or keep what a truncated frame holds and write the rest as 0 "
                   "(recover); such a file is written as a repaired copy (new SOP "
                   "Instance UID, Derivation Description) and a warning names the "
                   "frames")


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
    on_error = getattr(args, "on_error", "raise")
    if args.dask_scheduler:
        return _on_dask(jobs, args.dask_scheduler, ts, level, reporter, on_error)
    if not src.is_dir():
        return _one_file(*jobs[0], ts, level, reporter, on_error)
    return _folder(jobs, ts, level, args.jobs, reporter, on_error)


def _one_file(src: Path, dst: Path, ts: str, level: Any, reporter: Reporter,
              on_error: str = "raise") -> int:
    from ..encode.transcode import transcode

    dst.parent.mkdir(parents=True, exist_ok=True)
    with reporter.warnings_of(src):
        transcode(src, dst, ts, level=level, on_error=on_error)
    sys.stdout.write(f"wrote {dst}\n")
    return 0


def _summary(reports: list[dict[str, Any]], reporter: Reporter) -> int:
    """Print what the folder run did; the exit status."""
    for r in reports:
        if r["action"] == "copied":
            reporter.line(f"copied {r['source']}: {r['note']}")
    counts = {a: sum(r["action"] == a for r in reports)
              for a in ("transcoded", "copied", "failed")}
    repaired = sum(bool(r.get("failed_frames")) for r in reports)
    sys.stdout.write(f"{counts['transcoded']} written{repaired_note(repaired)}, "
                     f"{counts['copied']} "
                     f"copied unchanged (no pixel data), {counts['failed']} failed\n")
    return 1 if counts["failed"] else 0


def _on_dask(jobs: list[tuple[Path, Path]], scheduler: str, ts: str, level: Any,
             reporter: Reporter, on_error: str = "raise") -> int:
    from ..dask import transcode_many

    # transcode_many warns here, once per repaired file, naming it.
    with reporter.warnings_of():
        report = transcode_many([str(a) for a, _ in jobs], [str(b) for _, b in jobs],
                                ts, scheduler=scheduler, level=level,
                                on_error=on_error)
    for r in report:
        if r["action"] == "failed":
            reporter.line(f"FAILED {r['source']}: {r['error']}")
    return _summary(report, reporter)


def _folder(jobs: list[tuple[Path, Path]], ts: str, level: Any, n_jobs: int,
            reporter: Reporter, on_error: str = "raise") -> int:
    from ..encode.folder import finish_dicomdirs, transcode_member

    threads = 1 if n_jobs > 1 else None

    def one(job: tuple[Path, Path]) -> dict[str, Any]:
        with reporter.about(job[0]):
            return transcode_member(job[0], job[1], ts, level=level, threads=threads,
                                    on_error=on_error)

    reports = []
    with reporter.progress(len(jobs), f"transcoding to {ts}") as bar, \
            reporter.warnings_of(), \
            ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        for r in pool.map(one, jobs):
            bar.update(1)
            reports.append(r)
            if r["action"] == "failed":
                reporter.line(f"FAILED {r['source']}: {r['error']}")
        # DICOMDIRs last: their records describe the files written above.
        finish_dicomdirs(reports)
    return _summary(reports, reporter)
