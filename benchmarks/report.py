"""Render the latest results (``_data/results/*.json``) as Markdown tables.

    python benchmarks/report.py > /tmp/figures.md

``README.md``'s figures are this script's output for the recorded run.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def _load(name: str) -> dict[str, Any] | None:
    path = C.RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _t(v: dict[str, Any] | None) -> float | None:
    return None if not v else v.get("median")


def _x(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def decode(d: dict[str, Any]) -> str:
    rows = []
    for c in d["codecs"]:
        if "results" not in c:
            continue
        res, roles = c["results"], c["roles"]
        base = _t(res[roles["dicomio"]])
        codec = c["codec"]
        shape = "x".join(str(s) for s in c["shape"])
        pyd = _t(res.get(roles.get("pydicom", ""), {}))
        loop = _t(res.get(roles.get("loop", ""), {}))
        pool = _t(res.get(roles.get("pool", ""), {}))
        memcpy = _t(res.get(roles.get("memcpy", ""), {}))
        plugins = {k.removeprefix("pydicom plugin "): _t(v) for k, v in res.items()
                   if k.startswith("pydicom plugin ")}
        fastest = min((v, k) for k, v in plugins.items() if v) if any(plugins.values()) \
            else (None, "")
        sitk = _t(res.get("SimpleITK ReadImage"))
        legacy = _t(res.get("imageio legacy DICOM"))
        tgt = C.TARGET_VS_PYDICOM.get(codec)
        if codec.startswith("uncompressed"):
            vs_ref = f"{base / memcpy:.2f}x of memcpy ({C.fmt_time(memcpy)})" \
                if base and memcpy else "-"
            ref_ok = C.verdict(base / memcpy if base and memcpy else None,
                               C.TARGET_UNCOMPRESSED, False)
        else:
            vs_ref = f"{_x(loop, base)} ({C.fmt_time(loop)})"
            ref_ok = C.verdict(loop / base if loop and base else None, C.TARGET_VS_LOOP)
        rows.append([
            C.LABELS[codec], shape, C.fmt_time(base),
            (f"{_x(pyd, base)} ({C.fmt_time(pyd)})" if pyd else "cannot read"),
            (f">= {tgt}x " + C.verdict(pyd / base if pyd and base else None, tgt))
            if tgt else "reported",
            (f"{_x(fastest[0], base)} ({fastest[1]})" if fastest[0] else "-"),
            vs_ref, ref_ok,
            (f"{pool / base:.2f}x" if pool and base else "-"),
            _x(sitk, base) if sitk else "cannot read",
            _x(legacy, base) if legacy else "cannot read",
        ])
    return C.table(["file", "shape", "dicomio", "vs pydicom default", "target",
                    "vs fastest pydicom plugin", "vs 1-thread codec loop / memcpy",
                    "target (>= 1.7x / <= 2x)", "codec 2-thread pool / dicomio",
                    "vs SimpleITK", "vs imageio legacy"], rows)


def memory(d: dict[str, Any]) -> str:
    by: dict[str, dict[str, Any]] = {}
    for r in d["results"]:
        by.setdefault(r["codec"], {})[r["contender"]] = r
    rows = []
    for codec, rs in by.items():
        def ratio(name: str, rs: dict[str, Any] = rs) -> str:
            r = rs.get(name)
            if not r:
                return "-"
            return f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "cannot read"
        di = rs.get("dicomio", {})
        rows.append([C.LABELS[codec], f"{di.get('nbytes', 0) / 2**20:.0f} MiB",
                     ratio("dicomio"),
                     C.verdict(di.get("ratio"), C.TARGET_MEMORY, False),
                     ratio("dicomio threads=1"), ratio("pydicom default"),
                     ratio("imagecodecs loop"), ratio("SimpleITK"),
                     ratio("dicomio memmap")])
    return C.table(["file", "decoded", "dicomio", "target <= 1.15x", "dicomio 1 thread",
                    "pydicom default", "raw codec loop", "SimpleITK", "memmap()"], rows)


def series(d: dict[str, Any]) -> str:
    rows = []
    for s in d["series"]:
        res = s["results"]
        base = _t(res.get("dicomio read_volume"))
        for name, v in res.items():
            m = _t(v)
            rows.append([f"{s['n']} files, {s['ts']}", name, C.fmt_time(m),
                         _x(m, base) if m else (v.get("error") or "-")[:60]])
    return C.table(["series", "contender", "median", "time / dicomio read_volume"], rows)


def adapters(d: dict[str, Any]) -> str:
    rows = []
    for label, res in d["results"].items():
        core = _t(res.get("core (DicomImage.read / read_volume)"))
        hu = _t(res.get("core read_volume(rescale=True)")) or core
        for name, v in res.items():
            m = _t(v)
            if name.startswith("core"):
                continue
            ref = hu if name.startswith("napari reader, data") else core
            ratio = m / ref if m and ref and "lazy" not in name else None
            rows.append([label, name, C.fmt_time(m),
                         f"{ratio:.3f}x" if ratio else "(lazy)" if "lazy" in name else "-",
                         C.verdict(ratio, C.TARGET_ADAPTER, False) if ratio else ""])
    return C.table(["file", "adapter", "median", "adapter / core", "target <= 1.05x"], rows)


def scaling(d: dict[str, Any]) -> str:
    rows = []
    for r in d["results"]:
        mpix = r["frames"] * r["size"] ** 2 / 1e6
        t = r["dicomio"]
        rows.append([C.LABELS[r["codec"]], r["frames"], f"{r['size']}x{r['size']}",
                     C.fmt_time(t), f"{t / mpix * 1000:.2f} ms" if t else "-",
                     f"{r['loop'] / t:.2f}x" if r.get("loop") and t else "-"])
    return C.table(["file", "frames", "frame size", "dicomio", "per megapixel",
                    "vs 1-thread codec loop"], rows)


def main() -> int:
    for title, name, fn in (("Decode", "decode.json", decode),
                            ("Memory", "memory.json", memory),
                            ("Series", "series.json", series),
                            ("Adapters", "adapters.json", adapters),
                            ("Scaling", "scaling.json", scaling)):
        d = _load(name)
        if d is None:
            continue
        m = d["machine"]
        print(f"### {title}\n")
        print(f"From `_data/results/{name}`; other processes used "
              f"{m.get('busy_cores_during_run')} cores on average during the run.\n")
        print(fn(d))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
