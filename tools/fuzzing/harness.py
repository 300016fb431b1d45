"""The driver: run cases in guarded worker processes, save findings, replay them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .corpus import layout, load_corpus
from .mutators import Case, make_case

#: The script the worker processes run (``fuzz.py --worker``).
FUZZ_SCRIPT = Path(__file__).resolve().parents[1] / "fuzz.py"


@dataclass
class Finding:
    """A violation, a crash or a hang, with what reproduces it."""

    kind: str
    case: int
    base: str
    mutations: list[str]
    detail: str
    saved: str | None = None


@dataclass
class Report:
    """What a run did and found."""

    seed: int
    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    syntaxes: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.cases} cases in {self.seconds:.1f} s, "
            f"{len(self.findings)} finding(s); slowest case "
            f"{self.slowest[1]} ({self.slowest[0]:.2f} s)"
        ]
        lines.append(
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common())
        )
        lines.append(
            "mutations: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.mutations.items()))
        )
        lines.append(f"syntaxes covered: {len(self.syntaxes)}")
        for f in self.findings:
            lines.append(
                f"  [{f.kind}] case {f.case} {f.base}: "
                f"{'; '.join(f.mutations)}\n      {f.detail[:600]}"
                + (f"\n      saved {f.saved}" if f.saved else "")
            )
        return "\n".join(lines)


def _worker(stderr: Any) -> Any:
    from dicomio.backends._guard import Worker

    return Worker([sys.executable, str(FUZZ_SCRIPT), "--worker"], stderr=stderr)


def _save(
    folder: Path | None, kind: str, case: Case, seed: int, detail: str
) -> str | None:
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(case.data).hexdigest()[:12]
    stem = folder / f"{kind}-{digest}"
    stem.with_suffix(".dcm").write_bytes(case.data)
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "kind": kind,
                "seed": seed,
                "case": case.index,
                "base": case.base,
                "mutations": case.mutations,
                "expect": case.expect,
                "warn": case.warn,
                "frames": case.frames,
                "options": case.options,
                "detail": detail,
            },
            indent=1,
        )
    )
    return str(stem.with_suffix(".dcm"))


def _request(case: Case, base: bytes, isolate: bool | None) -> dict[str, Any]:
    opts = dict(case.options, isolate=isolate)
    return {
        "data": case.data,
        "base": base,
        "expect": case.expect,
        "warn": case.warn,
        "frames": case.frames,
        "options": opts,
    }


def _triage(worker: Any, case: Case, base: bytes, timeout: float) -> str:
    """Re-run a crashing case with isolate=True: the error names the backend."""
    from dicomio.backends._guard import WorkerDied

    try:
        reply = worker.call(_request(case, base, True), timeout=timeout)
    except WorkerDied as died:  # pragma: no cover - the guard itself failed
        return f"; isolated re-run: {died.describe()}"
    found = re.findall(
        r"backend '[^']+' (?:crashed|timed out)[^;\]]*", reply.get("error", "")
    )
    return f"; isolated re-run: {'; '.join(found) or reply['outcome']}"


def run(
    seed: int = 0,
    cases: int | None = None,
    seconds: float | None = None,
    *,
    jobs: int | None = None,
    findings: str | os.PathLike[str] | None = None,
    max_size: int = 1 << 20,
    timeout: float = 60.0,
    only: int | None = None,
    isolate: bool | None = None,
    verbose: bool = False,
    selftest: bool = False,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Run fuzz cases in worker processes and return what they found.

    Parameters
    ----------
    seed : int
        Selects the cases; case ``k`` of a seed is always the same.
    cases, seconds : optional
        Stop after this many cases or this long (the first reached; cases
        200 when neither is given).
    jobs : int, optional
        Worker processes (default: CPU count, at most 8).
    findings : path, optional
        Save every finding's input and description there.
    max_size : int
        Skip corpus files larger than this many bytes.
    timeout : float
        Seconds one case may take before it counts as a hang.
    only : int, optional
        Run case ``only`` alone.
    isolate : bool or None
        The ``isolate=`` passed to dicomio inside the workers: None (the
        library's default: only crash-prone backends such as GDCM in worker
        processes), True (every backend) or False (none: hunts for codec
        crashes the default would survive).
    verbose : bool
        Print every case, and let codec chatter through.
    selftest : bool
        Make cases 0 and 1 abort and hang their worker: the run must record
        both (as a crash and a hang) and carry on.
    """
    if cases is None and seconds is None:
        cases = 200
    jobs = max(1, jobs or min(8, os.cpu_count() or 1))
    folder = Path(findings) if findings else None
    options = dict(
        max_size=max_size,
        timeout=timeout,
        isolate=isolate,
        verbose=verbose,
        selftest=selftest,
    )
    state = _Run(seed, cases, seconds, folder, only, options, log or (lambda s: None))
    threads = [threading.Thread(target=state.loop, daemon=True) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state.report.seconds = time.monotonic() - state.start
    return state.report


class _Run:
    """The state the worker threads of one :func:`run` share."""

    def __init__(
        self,
        seed: int,
        cases: int | None,
        seconds: float | None,
        folder: Path | None,
        only: int | None,
        options: dict[str, Any],
        log: Callable[[str], None],
    ) -> None:
        self.seed, self.cases, self.seconds, self.folder = seed, cases, seconds, folder
        self.corpus = load_corpus(options["max_size"])
        self.bases = {b.name: b.data for b in self.corpus}
        self.report = Report(seed)
        self.timeout = options["timeout"]
        self.isolate = options["isolate"]
        self.verbose = options["verbose"]
        self.selftest = options["selftest"]
        self.log = log
        self.start = time.monotonic()
        self.counter = iter(
            range(only, only + 1) if only is not None else range(1 << 62)
        )
        self.lock = threading.Lock()
        self.stderr = None if self.verbose else subprocess.DEVNULL

    def next_index(self) -> int | None:
        with self.lock:
            if self.cases is not None and self.report.cases >= self.cases:
                return None
            if (
                self.seconds is not None
                and time.monotonic() - self.start > self.seconds
            ):
                return None
            k = next(self.counter, None)
            if k is not None:
                self.report.cases += 1
            return k

    def record(self, kind: str, case: Case, detail: str) -> None:
        saved = _save(self.folder, kind, case, self.seed, detail)
        with self.lock:
            self.report.findings.append(
                Finding(kind, case.index, case.base, case.mutations, detail, saved)
            )
        self.log(
            f"FINDING [{kind}] case {case.index} {case.base}: "
            f"{'; '.join(case.mutations)}: {detail[:300]}"
        )

    def loop(self) -> None:
        from dicomio.backends._guard import WorkerDied

        worker = _worker(self.stderr)
        try:
            while (k := self.next_index()) is not None:
                try:
                    case = make_case(self.seed, k, self.corpus)
                    if self.selftest and k in (0, 1):
                        case.options["selftest"] = ("abort", "hang")[k]
                        case.mutations.append(f"selftest: {('abort', 'hang')[k]}")
                except Exception as exc:  # a harness bug: report, carry on
                    self.record(
                        "harness",
                        Case(k, "?", b"", ["make_case"]),
                        "".join(traceback.format_exception(exc))[-1500:],
                    )
                    continue
                with self.lock:
                    self.report.syntaxes[layout(self.bases[case.base]).uid] += 1  # type: ignore[union-attr]
                    for m in case.kinds:
                        self.report.mutations[m] += 1
                try:
                    reply = worker.call(
                        _request(case, self.bases[case.base], self.isolate),
                        timeout=self.timeout,
                    )
                except WorkerDied as died:
                    kind = "hang" if died.timed_out else "crash"
                    with self.lock:
                        self.report.outcomes[kind] += 1
                    worker = _worker(self.stderr)
                    detail = died.describe()
                    if kind == "crash":
                        detail += _triage(
                            worker, case, self.bases[case.base], self.timeout
                        )
                        if not worker.alive():
                            worker = _worker(self.stderr)
                    self.record(kind, case, detail)
                    continue
                with self.lock:
                    self.report.outcomes[reply["outcome"]] += 1
                    if reply.get("seconds", 0) > self.report.slowest[0]:
                        self.report.slowest = (reply["seconds"], k)
                if self.verbose:
                    self.log(
                        f"case {k} {case.base}: {'; '.join(case.mutations)} -> "
                        f"{reply['outcome']} {reply.get('error', '')[:200]}"
                    )
                for kind, detail in reply["violations"]:
                    self.record(kind, case, detail)
        finally:
            worker.close()


def replay(
    paths: list[Path],
    timeout: float = 60.0,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> int:
    """Re-check saved findings; return how many still fail."""
    from dicomio.backends._guard import WorkerDied

    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.dcm")) if p.is_dir() else [p]
    failing = 0
    worker = _worker(None if verbose else subprocess.DEVNULL)
    for path in files:
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        case = Case(
            meta.get("case", -1),
            meta.get("base", ""),
            path.read_bytes(),
            meta.get("mutations", []),
            meta.get("expect"),
            meta.get("warn"),
            meta.get("frames"),
            meta.get("options")
            or {
                "source": "path",
                "color": "rgb",
                "threads": None,
                "backend_pick": None,
            },
        )
        base = path.read_bytes()
        if case.expect:
            corpus = {b.name: b.data for b in load_corpus(1 << 40)}
            base = corpus.get(case.base, base)
        try:
            reply = worker.call(_request(case, base, False), timeout=timeout)
            problems = reply["violations"]
        except WorkerDied as died:
            problems = [("crash", died.describe())]
            worker = _worker(None if verbose else subprocess.DEVNULL)
        failing += bool(problems)
        log(f"{path.name}: {'FAIL ' + str(problems)[:500] if problems else 'ok'}")
    worker.close()
    return failing
