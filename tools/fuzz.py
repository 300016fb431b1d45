"""Fuzz dicomio with mutated real DICOM files of every Transfer Syntax.

Every case takes a real file (pydicom's test files, the pydicom-data
package, dicomio's bundled samples, and files made with ``dicomio.encode``),
applies one to three mutations, and asserts the robustness property of
``docs/robustness.md``: ``dicomio.DicomImage(src).read()`` either returns an
array of the header's shape and dtype, or raises a ``dicomio.DicomioError``
whose message names the file, the frame (for frame errors), the Transfer
Syntax and the backends tried. Never another exception type, a crash, a hang
or an unbounded allocation; nothing written next to the input. Mutations that
lose no information (an offset table dropped, fragments split with a correct
table, trailing padding, a wrong Number of Frames, an odd-length fragment)
must decode to the unmutated pixels and say what was recovered in a
``DicomioWarning``.

Mutations: bit flips and byte overwrites in the pixel data and in the first
bytes of a codestream (its header), truncation, trailing bytes, fragment
surgery (drop, duplicate, swap, split or merge fragments, corrupt an item
length, drop or break the Basic Offset Table, odd lengths, a missing sequence
delimiter, empty items) and header edits (Rows, Columns, Bits Allocated, Bits
Stored, Samples per Pixel, Number of Frames, Photometric Interpretation,
Pixel Representation, Planar Configuration, Transfer Syntax UID set to odd
values).

Each case runs in a worker process (``dicomio.backends._guard.Worker``) that handles
many cases in turn, under a watchdog; a worker that crashes or hangs is
replaced and the input is saved. The worker runs with
``DICOMIO_MEMORY_LIMIT`` at 256 MiB and an address-space limit of 4 GiB, so
an unbounded allocation shows up as an error instead of swapping.

Case ``k`` of seed ``s`` is the same on every machine with the same corpus:
``--seed s --case k`` replays it. Findings are saved in ``--findings``
(default ``fuzz-findings/``) as ``<kind>-<hash>.dcm`` with a ``.json``
describing the case; turn each into a named regression test in
``tests/robustness/``, and re-check saved findings with ``--replay``.

Examples
--------
The long run (documented in docs/robustness.md)::

    python tools/fuzz.py --seconds 600 --seed 1

The fixed-seed slice that CI runs through tests/robustness/test_fuzz.py::

    python tools/fuzz.py --cases 200 --seed 20240607

Replay one case, or saved findings::

    python tools/fuzz.py --seed 1 --case 4711 -v
    python tools/fuzz.py --replay fuzz-findings/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The harness is the package tools/fuzzing next to this script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing.check import (  # noqa: E402
    WORKER_ADDRESS_SPACE,
    WORKER_MEMORY_LIMIT,
    _worker_main,
    check_case,
)
from fuzzing.corpus import Base, Layout, _generated, layout, load_corpus  # noqa: E402
from fuzzing.harness import Finding, Report, replay, run  # noqa: E402
from fuzzing.mutators import Case, Skip, make_case, mutator  # noqa: E402

__all__ = [
    "WORKER_ADDRESS_SPACE",
    "WORKER_MEMORY_LIMIT",
    "Base",
    "Case",
    "Finding",
    "Layout",
    "Report",
    "Skip",
    "_generated",
    "check_case",
    "layout",
    "load_corpus",
    "main",
    "make_case",
    "mutator",
    "replay",
    "run",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The long run: python tools/fuzz.py --seconds 600 --seed N "
        "(see docs/robustness.md).",
    )
    parser.add_argument("--seed", type=int, default=0, help="case seed (default 0)")
    parser.add_argument("--cases", type=int, help="stop after this many cases")
    parser.add_argument(
        "--seconds", type=float, help="stop after this long (the long run: 600)"
    )
    parser.add_argument("--case", type=int, help="run only this case of the seed")
    parser.add_argument(
        "--jobs", type=int, help="worker processes (default: CPUs, at most 8)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds before a case counts as a hang (60: CharLS alone can "
        "spend seconds on a truncated JPEG-LS frame)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=1 << 20,
        help="skip corpus files larger than this (bytes, 1 MiB)",
    )
    parser.add_argument(
        "--findings",
        default="fuzz-findings",
        help="folder for inputs that broke the property (default fuzz-findings/)",
    )
    parser.add_argument(
        "--isolate",
        dest="isolate",
        action="store_const",
        const=True,
        default=None,
        help="decode with isolate=True (every backend in a worker process)",
    )
    parser.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_const",
        const=False,
        help="decode with isolate=False (no backend isolated: finds codec crashes "
        "that the default survives)",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        help="re-check saved findings (files or folders)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every case and let codec messages through",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main()
        return 0
    if args.replay:
        return 1 if replay(args.replay, args.timeout, args.verbose) else 0
    report = run(
        args.seed,
        args.cases,
        args.seconds,
        jobs=args.jobs,
        findings=args.findings,
        max_size=args.max_size,
        timeout=args.timeout,
        only=args.case,
        isolate=args.isolate,
        verbose=args.verbose,
        log=print,
    )
    print(report.summary())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
