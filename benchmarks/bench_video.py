"""Video decode: dicomio vs the ffmpeg command line and PyAV used directly.

A generated H.264 High clip (1920 x 1080, 120 frames, GOPs of 24 with
B-frames, MPEG-TS in encapsulated Pixel Data) is decoded to RGB uint8 by:

* dicomio: ``DicomImage(path).read()`` (opening and demuxing included);
* PyAV directly, the way a user writes it: ``np.stack([f.to_ndarray(
  format="rgb24") for f in container.decode(video=0)])`` on the same stream
  (as a ``.ts`` file);
* the ``ffmpeg`` command line writing rawvideo rgb24 to a pipe, read into one
  NumPy array (Debian's ``ffmpeg``; skipped when not on PATH).

Pixels are compared before timing: PyAV must give identical pixels; the
ffmpeg command line runs its own scaler, so it is compared by PSNR (it came
out identical here). Then peak memory beyond opening,
as a ratio to the decoded array, each in a fresh subprocess.

    python benchmarks/bench_video.py
    python benchmarks/bench_video.py --quick     # 640 x 360, 24 frames
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CONTENDERS = ("dicomio", "dicomio threads=1", "PyAV direct", "ffmpeg CLI")


def _clip(frames: int, rows: int, cols: int) -> np.ndarray:
    """Moving colour gradients with a little texture (uint8 RGB)."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    rng = np.random.default_rng(0)
    tex = rng.normal(0, 6, (rows, cols)).astype(np.float32)
    out = np.empty((frames, rows, cols, 3), np.uint8)
    for t in range(frames):
        out[t, ..., 0] = np.clip(128 + 80 * np.sin(x / 97 + t / 9) + tex, 0, 255)
        out[t, ..., 1] = np.clip(128 + 80 * np.cos(y / 61 + t / 13) + tex, 0, 255)
        out[t, ..., 2] = np.clip(110 + 60 * np.sin((x + y) / 151 - t / 7), 0, 255)
    return out


def clip_paths(frames: int, rows: int, cols: int) -> tuple[Path, Path]:
    """(DICOM file, the same stream as a .ts file), generated on first use."""
    folder = C.DATA / "video" / f"h264_{frames}x{rows}x{cols}"
    dcm, ts = folder / "image.dcm", folder / "stream.ts"
    if dcm.exists() and ts.exists():
        return dcm, ts
    from dicomio.backends.video import encode_stream
    from dicomio.encode import video

    t0 = time.perf_counter()
    print(f"# generating {dcm.relative_to(C.HERE)} ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    stream = encode_stream(_clip(frames, rows, cols), "MPEG4HP41", gop=24, bframes=3,
                           quality=20)
    ts.write_bytes(stream)
    ds = video.wrap_stream(stream, "MPEG4HP41", rows=rows, columns=cols, frames=frames,
                           uid_seed="dicomio-bench/video")
    video.save_video(ds, dcm)
    print(f"#   done in {time.perf_counter() - t0:.1f} s "
          f"({len(stream) / 2**20:.1f} MiB stream)", flush=True)
    return dcm, ts


def _pyav(ts: Path) -> np.ndarray:
    import av

    with av.open(str(ts)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _ffmpeg(ts: Path, shape: tuple[int, ...]) -> np.ndarray:
    exe = shutil.which("ffmpeg")
    assert exe is not None
    proc = subprocess.run([exe, "-v", "error", "-nostdin", "-i", str(ts), "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.uint8).reshape(shape)


def _decoder(contender: str, dcm: Path, ts: Path, shape: tuple[int, ...]) -> Any:
    import dicomio

    if contender.startswith("dicomio"):
        threads = 1 if "threads=1" in contender else None
        return lambda: dicomio.DicomImage(dcm, threads=threads).read()
    if contender == "PyAV direct":
        return lambda: _pyav(ts)
    return lambda: _ffmpeg(ts, shape)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


# ----------------------------------------------------------------- memory
def child(contender: str, dcm: str, ts: str, shape: list[int]) -> dict[str, Any]:
    """Peak RSS beyond opening for one contender (run in a fresh process)."""
    import warnings

    from bench_memory import _peak, _reset_peak, _rss

    warnings.simplefilter("ignore")
    import av  # noqa: F401

    import dicomio

    small = dicomio.samples.path("MPEG4HP41")
    dicomio.DicomImage(small).read()  # codec code resident
    if contender.startswith("dicomio"):
        img = dicomio.DicomImage(dcm, threads=1 if "threads=1" in contender else None)
        fn = img.read
    elif contender == "PyAV direct":
        def fn() -> np.ndarray:
            return _pyav(Path(ts))
    else:
        def fn() -> np.ndarray:
            return _ffmpeg(Path(ts), tuple(shape))
    rss0 = _rss()
    reset = _reset_peak()
    arr = fn()
    peak = _peak(reset)
    return {"contender": contender, "nbytes": int(arr.nbytes), "beyond": peak - rss0,
            "ratio": (peak - rss0) / arr.nbytes, "peak_reset": reset}


def memory(contender: str, dcm: Path, ts: Path, shape: tuple[int, ...]) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", contender, str(dcm),
           str(ts), json.dumps(list(shape))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"contender": contender, "error": err[:100]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], argv[3], json.loads(argv[4]))))
        return 0
    args = C.parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = C.settings(args)
    frames, rows, cols = (24, 360, 640) if cfg["quick"] else (120, 1080, 1920)
    if args.frames:
        frames = args.frames
    cfg.update(video_frames=frames, video_rows=rows, video_cols=cols)
    machine = C.header("bench_video", cfg)
    try:
        import av
    except ImportError:
        print("# PyAV is not installed: pip install 'dicomio[video]'")
        return 0
    machine["versions"]["av"] = av.__version__
    load = C.LoadMonitor()
    dcm, ts = clip_paths(frames, rows, cols)
    C.warm(dcm)
    C.warm(ts)
    shape = (frames, rows, cols, 3)
    ref = _decoder("dicomio", dcm, ts, shape)()
    contenders = []
    checks: dict[str, str] = {}
    for name in CONTENDERS:
        if name == "ffmpeg CLI" and shutil.which("ffmpeg") is None:
            checks[name] = "skipped: no ffmpeg on PATH (Debian package ffmpeg)"
            continue
        fn = _decoder(name, dcm, ts, shape)
        exact = name != "ffmpeg CLI"

        def verify(arr: Any, exact: bool = exact, name: str = name) -> str:
            a = np.asarray(arr)
            assert a.shape == ref.shape, f"shape {a.shape}"
            if np.array_equal(a, ref):
                return "identical"
            assert not exact, "pixels differ"
            value = _psnr(a, ref)
            assert value > 35.0, f"PSNR {value:.1f} dB vs dicomio"
            return f"PSNR {value:.1f} dB vs dicomio (ffmpeg's scaler)"

        contenders.append(C.Contender(name, fn, verify))
    timings = C.measure_all(contenders, cfg["repeats"])
    base = next(t.median for t in timings if t.name == "dicomio")
    out_mib = ref.nbytes / 2**20
    rows_out = []
    results = []
    for t in timings:
        mem = memory(t.name, dcm, ts, shape)
        ratio = f"{t.median / base:.2f}" if t.ok and base else "-"
        fps = f"{frames / t.median:.0f}" if t.ok else "-"
        mem_ratio = f"{mem['ratio']:.2f}x" if "ratio" in mem else mem.get("error", "-")
        rows_out.append([t.name, f"{t.median * 1000:.0f} ms" if t.ok else t.error, fps,
                         ratio, mem_ratio, t.check])
        results.append({"name": t.name, "median_s": t.median, "times": t.times,
                        "check": t.check, "error": t.error, "memory": mem})
    for name, why in checks.items():
        rows_out.append([name, "-", "-", "-", "-", why])
    print()
    print(f"# {frames} frames of {cols} x {rows} H.264 High (MPEG-TS), decoded to "
          f"{out_mib:.0f} MiB of RGB; ratio = contender time / dicomio time")
    print(C.table(["contender", "time", "frames/s", "ratio", "peak beyond open / output",
                   "pixels"], rows_out))
    C.finish("video", args.json, cfg, machine, load, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
