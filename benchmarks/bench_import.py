"""Import cost: ``import dicomio`` against ``import pydicom, numpy``.

    python benchmarks/bench_import.py            # 15 rounds
    python benchmarks/bench_import.py --quick    # 3 rounds

Each round starts fresh interpreters (no module cached in memory), times
``python -c "import pydicom, numpy"`` and ``python -c "import dicomio"``
alternately (so a load change hits both) and keeps each one's best time: the
cost of the import itself, with the least noise from other processes. The
target is dicomio <= 1.2x pydicom + numpy (what a user pays for dicomio on
top of the libraries it stands on). ``python -X importtime -c "import
dicomio"`` shows where the time goes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

TARGET = 1.2
STATEMENTS = {"pydicom + numpy": "import pydicom, numpy", "dicomio": "import dicomio"}


def _time(statement: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    rounds = args.repeats or (3 if args.quick else 15)
    cfg = {"quick": bool(args.quick), "rounds": rounds}
    machine = C.header("import cost: dicomio vs pydicom + numpy", cfg)
    load = C.LoadMonitor()
    _time("pass")  # interpreter start-up warm (page cache)
    for statement in STATEMENTS.values():
        _time(statement)  # the modules' files and bytecode in the page cache
    best = {name: float("inf") for name in STATEMENTS}
    baseline = float("inf")
    for _ in range(rounds):
        C.wait_quiet(5)
        baseline = min(baseline, _time("pass"))
        for name, statement in STATEMENTS.items():
            best[name] = min(best[name], _time(statement))
    ratio = best["dicomio"] / best["pydicom + numpy"]
    # The interpreter's own start-up is in both; without it the ratio is
    # that of the imports alone (stricter).
    net = (best["dicomio"] - baseline) / (best["pydicom + numpy"] - baseline)
    print(C.table(["import", "best of rounds", "ratio"], [
        ["python -c pass", C.fmt_time(baseline), ""],
        ["import pydicom, numpy", C.fmt_time(best["pydicom + numpy"]), "1.00x"],
        ["import dicomio", C.fmt_time(best["dicomio"]),
         f"{ratio:.2f}x (imports alone {net:.2f}x)"],
    ]))
    print(f"# target dicomio <= {TARGET}x pydicom + numpy: "
          f"{C.verdict(net, TARGET, higher_is_better=False)}")
    C.finish("bench_import", args.json, cfg, machine, load,
             results={"best_s": best, "python_startup_s": baseline,
                      "ratio": ratio, "ratio_imports_only": net})


if __name__ == "__main__":
    main()
