"""How dicomio's decode cost grows with frame count and frame size.

For JPEG-LS lossless, HTJ2K lossless and uncompressed CT-like data: the time
of ``DicomImage(path).read()`` for 25..200 frames of 512x512, and for 50
frames of 128x128 .. 1024x1024, with the time per megapixel and the speed-up
over a single-threaded loop of the raw codec on the same frames.

    python benchmarks/bench_scaling.py
    python benchmarks/bench_scaling.py --quick
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from bench_decode import codec_call, loop, raw_frames  # noqa: E402

import dicomio  # noqa: E402

CODECS = ("jpegls", "htj2k", "uncompressed")


def grid(quick: bool) -> list[tuple[int, int]]:
    if quick:
        return [(8, 128), (16, 128), (16, 256)]
    counts = [(n, 512) for n in (25, 50, 100, 200)]
    sizes = [(50, s) for s in (128, 256, 1024)]
    return counts + sizes


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    machine = C.header("bench_scaling", cfg)
    load = C.LoadMonitor()
    codecs = C.chosen_codecs(args) if args.codecs else list(CODECS)
    rows: list[list[str]] = []
    out: list[dict[str, Any]] = []
    for codec in codecs:
        for frames, size in grid(cfg["quick"]):
            path = C.multiframe_path(codec, frames, size, size)
            assert path is not None
            C.warm(path)
            ref = C.reference(codec, frames, size, size)

            def core(p: Any = path) -> np.ndarray:
                with dicomio.DicomImage(p, threads=args.threads) as img:
                    return img.read()

            items = [C.Contender("dicomio", core, C.check_equal(ref))]
            if not codec.startswith("uncompressed"):
                fr, ds = raw_frames(path)
                items.append(C.Contender("loop", loop(fr, codec_call(codec, ds),
                                                      ref.shape[1:], ref.dtype),
                                         C.check_equal(ref)))
            print(f"\n### {C.LABELS[codec]}: {frames} x {size}x{size}", flush=True)
            t = C.measure_all(items, cfg["repeats"])
            mpix = frames * size * size / 1e6
            base = t[0].median
            speedup = (t[1].median / base) if len(t) > 1 and t[1].ok and base else None
            rows.append([C.LABELS[codec], str(frames), f"{size}x{size}",
                         f"{ref.nbytes / 2**20:.0f} MiB", C.fmt_time(base),
                         f"{base / mpix * 1000:.2f} ms" if base else "-",
                         f"{ref.nbytes / base / 2**20:.0f} MiB/s" if base else "-",
                         f"{speedup:.2f}x" if speedup else "-"])
            out.append({"codec": codec, "frames": frames, "size": size,
                        "dicomio": base, "loop": t[1].median if len(t) > 1 else None})
    print()
    print(C.table(["codec", "frames", "frame size", "decoded", "dicomio",
                   "per megapixel", "throughput", "vs 1-thread codec loop"], rows))
    C.finish("scaling", args.json, cfg, machine, load, results=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
