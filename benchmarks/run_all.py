"""Run every benchmark in turn (each in its own process) and keep the output.

    python benchmarks/run_all.py            # full sizes (what README.md records)
    python benchmarks/run_all.py --quick    # smoke run, a minute or two

Script names (``bench_series.py ...``) run only those; other arguments go to
every script. The combined output is also written to
``benchmarks/_data/results/run_all[_quick][_<scripts>].txt``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_decode.py", "bench_memory.py", "bench_series.py", "bench_adapters.py",
           "bench_scaling.py", "bench_import.py", "bench_transcode.py", "bench_display.py",
           "bench_video.py", "bench_web.py", "bench_mr.py", "bench_errors.py")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    only = [a for a in args if a.startswith("bench_")]
    extra = [a for a in args if not a.startswith("bench_")]
    quick = "--quick" in extra
    out_dir = HERE / "_data" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "run_all" + ("_quick" if quick else "") + ("_" + "_".join(
        s.removeprefix("bench_").removesuffix(".py") for s in only) if only else "")
    log_path = out_dir / f"{name}.txt"
    status = 0
    with open(log_path, "w") as log:
        for script in SCRIPTS:
            if only and script not in only:
                continue
            cmd = [sys.executable, str(HERE / script), *extra]
            banner = f"\n{'=' * 78}\n$ python benchmarks/{script} {' '.join(extra)}\n"
            print(banner, flush=True)
            log.write(banner)
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            assert proc.stdout is not None
            for line in proc.stdout:
                # gdcmconv (run by imageio's legacy plugin) chatters on stdout.
                if line.startswith("gdcmconv:") or "Autoconverting with" in line:
                    continue
                sys.stdout.write(line)
                log.write(line)
            rc = proc.wait()
            tail = f"# {script}: exit {rc}, {time.perf_counter() - t0:.0f} s\n"
            print(tail, flush=True)
            log.write(tail)
            status = status or rc
    print(f"# combined output: {log_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
