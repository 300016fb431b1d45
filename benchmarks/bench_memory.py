"""Peak memory: RSS beyond what opening the file costs, as a ratio to the result.

Each (file, contender) pair runs in a fresh subprocess that imports every
library, decodes a tiny file of the same Transfer Syntax once (so codec code
pages and thread pools are already resident), opens the target the way the
contender does (dicomio: header and fragment table; pydicom: ``dcmread``,
which loads the whole compressed Pixel Data; raw codec loop: every frame's
bytes in memory; SimpleITK: nothing), takes the current RSS, resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), decodes, and reads the
peak (``VmHWM``; ``ru_maxrss`` where that reset is unavailable).

    python benchmarks/bench_memory.py            # 200 x 512x512 frames
    python benchmarks/bench_memory.py --quick

Ratio = (peak RSS - RSS after opening) / decoded array size. Target (issue 6):
dicomio <= 1.15x for every codec; pydicom's figure is printed beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CONTENDERS = ("dicomio", "dicomio threads=1", "pydicom default", "imagecodecs loop",
              "SimpleITK", "dicomio memmap")


# ----------------------------------------------------------------- child
def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak(reset_ok: bool) -> int:
    if reset_ok:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warmup_file(codec: str) -> Path:
    """A 2-frame 64x64 file of the same Transfer Syntax (loads codec code)."""
    from dicomio import encode

    path = C.DATA / "warmup" / f"{codec}.dcm"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ts, extra = C.CODECS[codec]
        if codec == "jpeg_color":
            rgb = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
            encode.write(path, rgb, ts, photometric="YBR_FULL_422", multiframe=True)
        else:
            kw = {"bits_stored": 12, **extra}
            encode.write(path, C.phantom(2, 64, 64), ts, multiframe=True, **kw)
    return path


def _opener(contender: str, path: Path) -> tuple[Any, Any]:
    """(state after opening, decode function) for one contender."""
    if contender.startswith("dicomio"):
        import dicomio

        img = dicomio.DicomImage(path, threads=1 if "threads=1" in contender else None)
        if contender == "dicomio memmap":
            return img, lambda s: np.asarray(s.memmap())
        return img, lambda s: s.read()
    if contender == "pydicom default":
        import pydicom

        return pydicom.dcmread(path), lambda ds: ds.pixel_array
    if contender == "imagecodecs loop":
        from bench_decode import codec_call, raw_frames

        frames, ds = raw_frames(path)
        codec = _child_codec
        import dicomio

        with dicomio.DicomImage(path) as img:
            shape, dtype = img.frame_shape, img.dtype
        call = codec_call(codec, ds)

        def run(st: Any) -> np.ndarray:
            out = np.empty((len(frames), *shape), dtype)
            for k, b in enumerate(frames):
                call(b, out[k])
            return out

        return frames, run
    if contender == "SimpleITK":
        import SimpleITK as sitk

        return None, lambda _: sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    raise KeyError(contender)


_child_codec = ""


def child(codec: str, contender: str, path: str) -> dict[str, Any]:
    global _child_codec
    _child_codec = codec
    import gc
    import warnings

    warnings.simplefilter("ignore")
    import imagecodecs  # noqa: F401
    import pydicom  # noqa: F401

    import dicomio  # noqa: F401

    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        pass
    # Warm-up on a tiny file of the same syntax with the same contender.
    if not (contender == "dicomio memmap"):
        state, fn = _opener(contender, _warmup_file(codec))
        fn(state)
        del state, fn
    gc.collect()
    state, fn = _opener(contender, Path(path))
    gc.collect()
    rss0 = _rss()
    reset = _reset_peak()
    arr = fn(state)
    peak = _peak(reset)
    rss1 = _rss()
    nbytes = int(np.asarray(arr).nbytes)
    return {"codec": codec, "contender": contender, "rss_open": rss0, "peak": peak,
            "rss_after": rss1, "nbytes": nbytes, "shape": list(np.shape(arr)),
            "beyond": peak - rss0, "ratio": (peak - rss0) / nbytes if nbytes else None,
            "peak_reset": reset}


# ---------------------------------------------------------------- parent
def run_one(codec: str, contender: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", codec, contender, str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"codec": codec, "contender": contender, "error": err[:100]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], argv[3])))
        return 0
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    machine = C.header("bench_memory", cfg)
    load = C.LoadMonitor()
    results = []
    rows = []
    for codec in C.chosen_codecs(args):
        path = C.multiframe_path(codec, cfg["frames"], cfg["rows"], cfg["cols"])
        if path is None:
            continue
        C.warm(path)
        _warmup_file(codec)
        for contender in CONTENDERS:
            if contender == "imagecodecs loop" and codec.startswith("uncompressed"):
                continue
            if contender == "dicomio memmap" and codec != "uncompressed16":
                continue
            r = run_one(codec, contender, path)
            results.append(r)
            ratio = r.get("ratio")
            target = verdict = ""
            if contender == "dicomio":
                target, verdict = f"<= {C.TARGET_MEMORY}x", C.verdict(ratio, C.TARGET_MEMORY, False)
            line = [C.LABELS[codec], contender,
                    f"{r['nbytes'] / 2**20:.0f} MiB" if "nbytes" in r else "-",
                    f"{r['rss_open'] / 2**20:.0f} MiB" if "rss_open" in r else "-",
                    f"{r['beyond'] / 2**20:.0f} MiB" if "beyond" in r else "-",
                    f"{ratio:.2f}x" if ratio is not None else r.get("error", "-"),
                    target, verdict]
            rows.append(line)
            print("#   " + " | ".join(line), flush=True)
    print()
    print(C.table(["codec", "contender", "decoded", "RSS after open", "peak beyond open",
                   "ratio", "target", "PASS/MISS"], rows))
    C.finish("memory", args.json, cfg, machine, load, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
