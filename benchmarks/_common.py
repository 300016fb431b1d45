"""Shared helpers for the dicomio benchmarks.

Data: every file is generated here (no downloads) into ``benchmarks/_data/``
(git-ignored) and reused by later runs. The one exception is pydicom-data's
``color3d_jpeg_baseline.dcm`` (120 frames of 480x640 colour JPEG baseline),
used when the ``pydicom-data`` package is installed.

Timing: :func:`measure` runs a contender once (warm-up: page cache, lazy
imports, and the result used for verification), then ``repeats`` more times,
and reports the median wall-clock time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = DATA / "results"

# Multi-frame test files: name -> (Transfer Syntax keyword, extra make_dataset kwargs)
CODECS: dict[str, tuple[str, dict[str, Any]]] = {
    "jpeg_color": ("JPEGBaseline8Bit", {}),  # pydicom-data file, see color_jpeg_path()
    "jpegls": ("JPEGLSLossless", {}),
    "j2k": ("JPEG2000Lossless", {}),
    "rle": ("RLELossless", {}),
    "htj2k": ("HTJ2KLossless", {}),
    "jpegxl": ("JPEGXLLossless", {}),
    "uncompressed": ("ExplicitVRLittleEndian", {}),
    # Bits Stored 16: nothing to mask, so memmap() (zero-copy) applies.
    "uncompressed16": ("ExplicitVRLittleEndian", {"bits_stored": 16}),
}
LABELS = {
    "jpeg_color": "colour JPEG baseline",
    "jpegls": "JPEG-LS lossless",
    "j2k": "JPEG 2000 lossless",
    "rle": "RLE lossless",
    "htj2k": "HTJ2K lossless",
    "jpegxl": "JPEG XL lossless",
    "uncompressed": "uncompressed (12 bits stored)",
    "uncompressed16": "uncompressed (16 bits stored)",
}

# Targets from issue 6: ratio (contender time / dicomio time) must reach these.
TARGET_VS_PYDICOM = {"jpeg_color": 10.0, "jpegls": 3.0, "j2k": 1.7, "rle": 1.4}
TARGET_VS_LOOP = 1.7  # vs a single-threaded loop of the raw imagecodecs call
TARGET_UNCOMPRESSED = 2.0  # dicomio time / memcpy time must be <= this
TARGET_MEMORY = 1.15  # peak RSS beyond opening / decoded size
TARGET_ADAPTER = 1.05  # adapter time / core time

QUICK = {"frames": 24, "rows": 256, "cols": 256, "series": 60, "repeats": 2}
FULL = {"frames": 200, "rows": 512, "cols": 512, "series": 500, "repeats": 5}


# --------------------------------------------------------------------- CLI
def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="small sizes, 2 repeats (smoke test, figures not meaningful)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--frames", type=int, default=None, help="frames per multi-frame file")
    p.add_argument("--size", type=int, default=None, help="rows = columns")
    p.add_argument("--codecs", default=None,
                   help="comma-separated subset of " + ",".join(CODECS))
    p.add_argument("--threads", type=int, default=None,
                   help="dicomio decoding threads (default: all cores)")
    p.add_argument("--json", default=None, help="also write the results here")
    return p


def settings(args: argparse.Namespace) -> dict[str, Any]:
    base = dict(QUICK if args.quick else FULL)
    if args.repeats:
        base["repeats"] = args.repeats
    if args.frames:
        base["frames"] = args.frames
    if args.size:
        base["rows"] = base["cols"] = args.size
    base["quick"] = bool(args.quick)
    return base


def chosen_codecs(args: argparse.Namespace) -> list[str]:
    if not args.codecs:
        return list(CODECS)
    names = [c.strip() for c in args.codecs.split(",") if c.strip()]
    bad = [c for c in names if c not in CODECS]
    if bad:
        raise SystemExit(f"unknown codec(s) {bad}; choose from {list(CODECS)}")
    return names


# --------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    """CPU, cores, memory and library versions, for the record."""
    info: dict[str, Any] = {"python": platform.python_version(),
                            "platform": platform.platform(),
                            "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu"] = platform.processor()
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    versions = {}
    for mod in ("dicomio", "numpy", "pydicom", "imagecodecs", "SimpleITK", "imageio",
                "gdcm", "pylibjpeg", "PIL", "jpeg_ls"):
        try:
            m = __import__(mod)
            v = getattr(m, "__version__", None) or getattr(m, "Version", None)
            if mod == "gdcm":
                v = m.Version.GetVersion()
            versions[mod] = str(v)
        except Exception:
            versions[mod] = "-"
    info["versions"] = versions
    return info


def print_machine() -> dict[str, Any]:
    m = machine()
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v != "-")
    print(f"# machine: {m.get('cpu', '?')}, {m['cores']} cores, "
          f"{m.get('memory_gb', '?')} GB RAM, Python {m['python']}")
    print(f"# versions: {vers}")
    return m


# ------------------------------------------------------------------ data
def phantom(n: int, rows: int, cols: int, seed: int = 0, z0: int = 0,
            n_total: int | None = None) -> np.ndarray:
    """A CT-like stack: uint16, 12 bits stored (HU + 1024), body, lungs, bone, noise.

    Frame ``k`` of a stack of ``n_total`` is the same whichever slab generates
    it (``z0`` offsets the slab), so series files can be made one at a time.
    """
    n_total = n_total or n
    rng = np.random.default_rng(seed + z0)
    yy, xx = np.mgrid[-1:1:rows * 1j, -1:1:cols * 1j].astype(np.float32)
    out = np.empty((n, rows, cols), np.uint16)
    for k in range(n):
        t = (z0 + k) / max(1, n_total - 1)  # 0 .. 1 along z
        s = 0.75 + 0.2 * np.sin(np.pi * t)  # body size varies along z
        hu = np.full((rows, cols), -1000.0, np.float32)  # air
        body = (xx / (0.9 * s)) ** 2 + (yy / (0.7 * s)) ** 2 < 1
        hu[body] = 40.0  # soft tissue
        for cx in (-0.35, 0.35):
            lung = ((xx - cx * s) / (0.25 * s)) ** 2 + ((yy + 0.05) / (0.45 * s)) ** 2 < 1
            hu[lung] = -820.0
        spine = (xx / 0.08) ** 2 + ((yy - 0.45 * s) / 0.08) ** 2 < 1
        hu[spine] = 700.0 + 300.0 * t
        cortex = np.abs(np.hypot(xx / (0.9 * s), yy / (0.7 * s)) - 0.97) < 0.01
        hu[cortex] = 1200.0
        vessel = ((xx - 0.1) / 0.04) ** 2 + ((yy + 0.1 - 0.2 * t) / 0.04) ** 2 < 1
        hu[vessel] = 250.0
        noise = rng.normal(0.0, 12.0, (rows, cols)).astype(np.float32)
        hu += np.where(hu > -900, noise, noise * 0.3)
        out[k] = np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.uint16)
    return out


def color_jpeg_path() -> Path | None:
    """pydicom-data's 120-frame 480x640 colour JPEG baseline, if installed."""
    try:
        from pydicom.data import get_testdata_file

        p = get_testdata_file("color3d_jpeg_baseline.dcm")
        return Path(p) if p else None
    except Exception:
        return None


def _atomic_write(path: Path, frames: np.ndarray, ts: str, **kw: Any) -> None:
    from dicomio import encode

    path.parent.mkdir(parents=True, exist_ok=True)
    encode.write(path, frames, ts, **kw)


def multiframe_path(codec: str, frames: int, rows: int, cols: int) -> Path | None:
    """The multi-frame test file for ``codec`` (generated on first use).

    Each file sits alone in its own folder: imageio's legacy DICOM plugin
    scans the whole folder of the file it is given.
    """
    if codec == "jpeg_color":
        return color_jpeg_path()
    ts, extra = CODECS[codec]
    path = DATA / "multiframe" / f"{codec}_{frames}x{rows}x{cols}" / "image.dcm"
    if not path.exists():
        t0 = time.perf_counter()
        print(f"# generating {path.relative_to(HERE)} ...", flush=True)
        arr = phantom(frames, rows, cols)
        kw = {"bits_stored": 12, **extra}
        _atomic_write(path, arr, ts, multiframe=True, pixel_spacing=(0.7, 0.7),
                      modality="OT", **kw)
        print(f"#   done in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return path


def reference(codec: str, frames: int, rows: int, cols: int) -> np.ndarray | None:
    """Ground truth for the lossless files (None for colour JPEG)."""
    if codec == "jpeg_color":
        return None
    return phantom(frames, rows, cols)


def series_folder(n: int, rows: int, cols: int, ts: str = "JPEGLSLossless") -> Path:
    """A ``n``-file CT-like axial series (one slice per file), shuffled names.

    Signed CT layout: stored value HU+1024 (unsigned, 12 bits stored),
    Rescale Intercept -1024, 1.25 mm slices along z.
    """
    tag = {"JPEGLSLossless": "jpegls", "ExplicitVRLittleEndian": "uncompressed",
           "JPEG2000Lossless": "j2k", "RLELossless": "rle"}.get(ts, ts)
    folder = DATA / "series" / f"{tag}_{n}x{rows}x{cols}"
    # The marker sits beside the folder: imageio's legacy reader judges a
    # folder by its first file name in sorted order.
    done = folder.parent / f"{folder.name}.complete"
    if done.exists():
        return folder
    from dicomio import encode

    t0 = time.perf_counter()
    print(f"# generating {folder.relative_to(HERE)} ({n} files) ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(42).permutation(n)
    study = encode.uid_from("dicomio-bench", "study", str(n), str(rows))
    series = encode.uid_from("dicomio-bench", "series", tag, str(n), str(rows))
    for k in range(n):
        arr = phantom(1, rows, cols, z0=k, n_total=n)[0]
        name = folder / f"IM{order[k]:05d}.dcm"
        encode.write(name, arr, ts, bits_stored=12, modality="CT",
                     pixel_spacing=(0.7, 0.7), image_position=(-179.2, -179.2, -k * 1.25),
                     image_orientation=(1, 0, 0, 0, 1, 0), rescale=(1, -1024, "HU"),
                     study_instance_uid=study, series_instance_uid=series,
                     sop_instance_uid=encode.uid_from("dicomio-bench", series, str(k)),
                     instance_number=k + 1, SliceThickness=1.25)
    done.write_text("ok\n")
    print(f"#   done in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder


def series_reference(n: int, rows: int, cols: int) -> np.ndarray:
    """The series volume in HU, ordered by ascending z (slice 0 at z=-(n-1)*1.25)."""
    vol = np.stack([phantom(1, rows, cols, z0=k, n_total=n)[0] for k in range(n)])
    return (vol.astype(np.int16) - 1024)[::-1]


def warm(path: Path | str) -> None:
    """Read a file (or every file of a folder) once so it sits in page cache."""
    p = Path(path)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    for f in files:
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


# ---------------------------------------------------------------- timing
@dataclass
class Timing:
    name: str
    median: float | None = None
    times: list[float] = field(default_factory=list)
    error: str | None = None
    check: str = ""  # verification outcome
    note: str = ""
    others: list[float] = field(default_factory=list)  # cores used by others, per call
    discarded: int = 0  # calls repeated because other processes were busy

    @property
    def ok(self) -> bool:
        return self.median is not None


def measure(name: str, fn: Callable[[], Any], repeats: int,
            verify: Callable[[Any], str] | None = None,
            cleanup: Callable[[], Any] | None = None,
            note: str = "") -> Timing:
    """Warm-up call (verified), then ``repeats`` timed calls; median time."""
    return measure_all([Contender(name, fn, verify, cleanup, note)], repeats)[0]


@dataclass
class Contender:
    name: str
    fn: Callable[[], Any]
    verify: Callable[[Any], str] | None = None
    cleanup: Callable[[], Any] | None = None
    note: str = ""


def _spin(seconds: float = 0.05) -> None:
    """Keep a core busy briefly (the clock ramps up after a quiet wait)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:90]


def _once(c: Contender) -> tuple[float, float]:
    """One timed call: (seconds, cores other processes used meanwhile)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load = LoadMonitor()
        t0 = time.perf_counter()
        res = c.fn()
        dt = time.perf_counter() - t0
        others = load.others()
    del res
    if c.cleanup:
        c.cleanup()
    gc.collect()
    return dt, others


#: A timed call during which other processes used more than this many cores
#: is thrown away and repeated (at most :data:`RETRIES` times).
NOISY_CORES = 0.25
RETRIES = 4


def measure_all(items: Sequence[Contender], repeats: int,
                log: Callable[[str], Any] | None = print) -> list[Timing]:
    """Verify every contender once, then time them round-robin.

    Each contender is called once first (warm-up: page cache, lazy imports;
    its result is checked by ``verify``, which raises AssertionError on wrong
    pixels: such a contender is reported, not timed). Then ``repeats`` rounds
    call every contender in turn, so a passing load spike on a shared machine
    hits all of them alike; a round starts when the other processes are quiet
    (:func:`wait_quiet`) and a call during which they used more than
    :data:`NOISY_CORES` cores is repeated. The median of the rounds is
    reported.
    """
    timings = [Timing(c.name, note=c.note) for c in items]
    live: list[int] = []
    for k, c in enumerate(items):
        t = timings[k]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                first = c.fn()
                if c.verify is not None:
                    t.check = c.verify(first)
                del first
            if c.cleanup:
                c.cleanup()
            gc.collect()
            live.append(k)
        except AssertionError as exc:
            t.error = f"WRONG PIXELS: {exc}"
        except Exception as exc:  # noqa: BLE001 - a contender that cannot read is reported
            t.error = _describe(exc)
        if log and t.error:
            log(f"#   {c.name:36s} {'-':>10s}  {t.error}")
    for rnd in range(max(1, repeats)):
        wait_quiet()
        _spin()
        # A new order each round (seeded): no contender always goes first
        # or always follows the same neighbour (whose freed memory, threads
        # or caches it would inherit).
        order = list(live)
        random.Random(rnd).shuffle(order)
        for k in order:
            try:
                for attempt in range(RETRIES + 1):
                    dt, others = _once(items[k])
                    if others <= NOISY_CORES or attempt == RETRIES:
                        break
                    timings[k].discarded += 1
                    wait_quiet()
                timings[k].times.append(dt)
                timings[k].others.append(round(others, 2))
            except Exception as exc:  # noqa: BLE001
                timings[k].error = _describe(exc)
                timings[k].times = []
                live.remove(k)
    for k in live:
        t = timings[k]
        t.median = statistics.median(t.times)
        if log:
            log(f"#   {t.name:36s} {fmt_time(t.median):>10s}  {t.check}")
    return timings


class LoadMonitor:
    """CPU used by *other* processes while a benchmark runs (in cores)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.sys0, self.own0 = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float]:
        try:
            import psutil
        except ImportError:
            return 0.0, 0.0
        ct = psutil.cpu_times()
        busy = ct.user + ct.system + getattr(ct, "nice", 0.0) + getattr(ct, "irq", 0.0) \
            + getattr(ct, "softirq", 0.0)
        me = psutil.Process().cpu_times()
        own = me.user + me.system + me.children_user + me.children_system
        return busy, own

    def others(self) -> float:
        sys1, own1 = self._sample()
        dt = time.perf_counter() - self.t0
        return max(0.0, ((sys1 - self.sys0) - (own1 - self.own0)) / dt) if dt else 0.0

    def report(self) -> str:
        o = self.others()
        msg = f"# other processes used {o:.2f} cores on average during this run"
        if o > 0.2:
            msg += " (shared machine: figures are noisy)"
        return msg


QUIET_CORES = 0.3  # other processes' CPU use below which a round may start
QUIET_MAX_WAIT = float(os.environ.get("DICOMIO_BENCH_MAX_WAIT", "90"))


def wait_quiet(max_wait: float | None = None) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs alone.

    This machine may be shared: a timing round starts only when the other
    processes used less than :data:`QUIET_CORES` cores over the last half
    second, or after ``max_wait`` seconds anyway. Returns the seconds waited.
    """
    limit = QUIET_MAX_WAIT if max_wait is None else max_wait
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if busy_others(0.5) < QUIET_CORES:
            break
    return time.perf_counter() - t0


def busy_others(seconds: float = 1.0) -> float:
    """CPU (in cores) used by other processes over ``seconds`` (load warning)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    me = os.getpid()
    procs = [p for p in psutil.process_iter() if p.pid != me]
    for p in procs:
        try:
            p.cpu_percent(None)
        except Exception:
            pass
    time.sleep(seconds)
    total = 0.0
    for p in procs:
        try:
            total += p.cpu_percent(None)
        except Exception:
            pass
    return total / 100.0


def check_equal(ref: np.ndarray | None, tol: float = 0.0,
                offset: int = 0) -> Callable[[Any], str]:
    """A verifier: identical to ``ref`` (or max abs difference <= tol)."""

    def verify(arr: Any) -> str:
        a = np.asarray(arr)
        if ref is None:
            return "not checked"
        r = ref
        if a.shape != r.shape:
            squeezed = np.squeeze(a)
            if squeezed.shape == np.squeeze(r).shape:
                a, r = squeezed, np.squeeze(r)
            else:
                raise AssertionError(f"shape {a.shape} != {r.shape}")
        if offset:
            a = a.astype(np.int32) - offset
        if tol == 0:
            if not np.array_equal(a, r):
                d = np.abs(a.astype(np.int64) - r.astype(np.int64))
                raise AssertionError(f"differs: max |d| {d.max()}, {np.count_nonzero(d)} px")
            return "identical"
        d = np.abs(a.astype(np.float64) - r.astype(np.float64))
        if d.max() > tol:
            raise AssertionError(f"max |d| {d.max():.0f} > {tol}")
        return f"max|d| {d.max():.0f}, mean {d.mean():.3f}"

    return verify


# ---------------------------------------------------------------- tables
def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 0.001:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    return f"{s:.2f} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal too)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


def ratio_table(timings: Sequence[Any], base_name: str, ratio_header: str) -> str:
    """Contender, median, median / ``base_name``'s median and check, as a table."""
    base = next((t.median for t in timings if t.name == base_name), None)
    rows = []
    for t in timings:
        ratio = t.median / base if (t.ok and base) else None
        rows.append([t.name, fmt_time(t.median),
                     f"{ratio:.2f}x" if ratio else (t.error or "-"),
                     t.check if t.ok else ""])
    return table(["contender", "median", ratio_header, "check"], rows)


def verdict(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


def save_json(path: str | None, payload: dict[str, Any], default_name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = Path(path) if path else RESULTS / default_name
    target.write_text(json.dumps(payload, indent=1, default=str))
    print(f"# results written to {target}")


def finish(name: str, path: str | None, cfg: dict[str, Any], machine: dict[str, Any],
           load: LoadMonitor, **results: Any) -> None:
    """End a script: print how busy the others were, save the JSON.

    The file is ``_data/results/<name>.json`` (``<name>_quick.json`` for
    ``--quick``) unless ``--json PATH`` was given; it holds ``machine``,
    ``settings`` and ``results``' entries.
    """
    print(load.report())
    machine["busy_cores_during_run"] = round(load.others(), 2)
    save_json(path, {"machine": machine, "settings": cfg, **results},
              f"{name}_quick.json" if cfg["quick"] else f"{name}.json")


def header(title: str, cfg: dict[str, Any]) -> dict[str, Any]:
    print(f"## {title}")
    print(f"# command: python {' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}")
    m = print_machine()
    print(f"# settings: {cfg}")
    busy = busy_others()
    m["busy_cores_at_start"] = round(busy, 2)
    if busy > 0.2:
        print(f"# WARNING: other processes use {busy:.1f} cores right now: figures are noisy")
    return m
