"""Time to error: how long a corrupt frame takes to fail, against a good decode.

One 12-bit CT-like frame (2048 x 2048; 512 x 512 with ``--quick``) encoded by
dicomio as JPEG 2000, HTJ2K, JPEG-LS and JPEG lossless, then damaged the ways
real files are: the codestream cut at 60 %, its end marker (EOC / EOI)
missing, a quarter of the coded data zeroed, 4 KiB of it zeroed (a lost
network buffer), one 512-byte sector of it zeroed, a marker corrupted. Each tool
opens the damaged file from a path and is timed until it raises (or returns
pixels: the table says which), next to its own time for the intact file.
Tools: dicomio (``DicomImage.read``), pydicom (``dcmread().pixel_array`` with
its default plugin chain), GDCM used directly (``gdcm.ImageReader`` and
``GetBuffer``) and SimpleITK (``ReadImage``) when installed. pydicom (whose
default plugin chain starts with GDCM), GDCM and SimpleITK are timed in a
child process per file, as GDCM can abort the process on corrupt data: a
tool that dies there is reported as crashed.

    python benchmarks/bench_errors.py
    python benchmarks/bench_errors.py --quick
    python benchmarks/bench_errors.py --codecs j2k,jpegls

The target (issue 15): dicomio fails a corrupt frame in at most about twice
the time of one good decode of the same size (``error / good <= 2``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402

SYNTAXES = {"j2k": "JPEG2000Lossless", "htj2k": "HTJ2KLossless",
            "jpegls": "JPEGLSLossless", "jpeg": "JPEGLosslessSV1"}
NAMES = {"j2k": "JPEG 2000", "htj2k": "HTJ2K", "jpegls": "JPEG-LS",
         "jpeg": "JPEG lossless"}
TARGET = 2.0  # dicomio's time to error / its time for the intact frame
SIZES = {"quick": 512, "full": 2048}


# ----------------------------------------------------------- damage
def _end_marker(frame: bytes) -> int:
    """Offset of the end marker (EOC / EOI) of a codestream without padding."""
    assert frame[-2:] == b"\xff\xd9", "codestream does not end with FF D9"
    return len(frame) - 2


def _cut(frame: bytes) -> bytes:
    return frame[: len(frame) * 6 // 10]


def _no_end(frame: bytes) -> bytes:
    return frame[: _end_marker(frame)]


def _zeroed(frame: bytes) -> bytes:
    a, n = len(frame) // 3, len(frame) // 4
    return frame[:a] + bytes(n) + frame[a + n :]


def _zeroed_4k(frame: bytes) -> bytes:
    at = len(frame) // 2 - 2048
    return frame[:at] + bytes(4096) + frame[at + 4096 :]


def _zeroed_sector(frame: bytes) -> bytes:
    # One 512-byte block at a multiple of 512 in the middle of the frame.
    # HTJ2K can legally hold that many zero bytes (raw MagSgn bits), so
    # dicomio cannot judge it there: the table shows what happens then.
    at = len(frame) // 2 // 512 * 512
    return frame[:at] + bytes(512) + frame[at + 512 :]


def _bad_marker(frame: bytes) -> bytes:
    # J2K: the tile-part's SOD marker turned into FF 94 (after the main
    # header); JPEG / JPEG-LS: a reserved marker FF 02 in the coded data.
    if frame[:2] == b"\xff\x4f":
        at = frame.index(b"\xff\x93", frame.index(b"\xff\x90"))
        return frame[: at + 1] + b"\x94" + frame[at + 2 :]
    at = len(frame) // 2
    return frame[:at] + b"\xff\x02" + frame[at + 2 :]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "cut at 60 %": _cut,
    "no end marker": _no_end,
    "coded data zeroed": _zeroed,
    "4 KiB zeroed": _zeroed_4k,
    "512 B sector zeroed": _zeroed_sector,
    "corrupt marker": _bad_marker,
}


def make_files(codec: str, size: int) -> dict[str, Path]:
    """The intact file and one file per damage (generated on first use)."""
    from dicomio import encode

    folder = C.DATA / "errors" / f"{codec}_{size}"
    paths = {"intact": folder / "intact.dcm"}
    paths.update({k: folder / f"{k.replace(' ', '_').replace('%', 'pc')}.dcm"
                  for k in DAMAGE})
    if all(p.exists() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    arr = C.phantom(1, size, size)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = encode.make_dataset(arr, SYNTAXES[codec], bits_stored=12, modality="CT")
        encode.save_dataset(ds, paths["intact"])
        from pydicom.encaps import encapsulate, generate_frames

        frame = next(generate_frames(ds.PixelData, number_of_frames=1)).rstrip(b"\x00")
        for name, damage in DAMAGE.items():
            ds.PixelData = encapsulate([damage(frame)])
            encode.save_dataset(ds, paths[name])
    return paths


# ------------------------------------------------------------ tools
def _dicomio(path: str) -> np.ndarray:
    with dicomio.DicomImage(path) as img:
        return img.read()


def _pydicom(path: str) -> np.ndarray:
    import pydicom

    return np.asarray(pydicom.dcmread(path).pixel_array)


def _gdcm(path: str) -> np.ndarray:
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(path)
    if not reader.Read():
        raise RuntimeError("gdcm.ImageReader could not read the file")
    image = reader.GetImage()
    buf = image.GetBuffer()
    if buf is None:
        raise RuntimeError("GDCM could not decode the frame")
    raw = buf.encode("utf-8", "surrogateescape")
    return np.frombuffer(raw, np.uint16)


def _sitk(path: str) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(path))


TOOLS: dict[str, Callable[[str], np.ndarray]] = {
    "dicomio": _dicomio, "pydicom": _pydicom, "GDCM": _gdcm, "SimpleITK": _sitk,
}
#: Tools that may abort the process on corrupt data (pydicom runs GDCM in
#: process first when it is installed): timed in a child process.
PROBED = ("pydicom", "GDCM", "SimpleITK")


def installed(tool: str) -> bool:
    mod = {"GDCM": "gdcm", "SimpleITK": "SimpleITK"}.get(tool)
    if mod is None:
        return True
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


def outcome(tool: str, path: Path, ref: np.ndarray) -> Callable[[], str]:
    """A timed call: read ``path`` with ``tool``; say how it ended."""
    fn = TOOLS[tool]

    def run() -> str:
        try:
            arr = fn(str(path))
        except Exception as exc:  # noqa: BLE001 - the error is the result here
            return f"error ({type(exc).__name__})"
        a = np.asarray(arr).astype(np.int64).reshape(-1)
        if a.size == ref.size and np.array_equal(a, ref.reshape(-1)):
            return "decoded, exact"
        return "decoded, wrong pixels"

    return run


def in_child(tool: str, path: Path, repeats: int) -> dict[str, Any]:
    """Time ``tool`` on ``path`` in a child process (warm-up, then repeats).

    GDCM can abort the whole process on corrupt data, sometimes only after
    several calls, so these tools never run in the benchmark's own process.
    Returns ``{"median", "check"}``; ``check`` says how the child ended when
    it died.
    """
    code = (f"import sys, json, time, statistics\nsys.path.insert(0, {str(C.HERE)!r})\n"
            "import bench_errors as b\n"
            f"ref = b.C.phantom(1, {SIZE_OF[path.parent]}, {SIZE_OF[path.parent]})[0]\n"
            f"run = b.outcome({tool!r}, b.Path({str(path)!r}), ref)\n"
            "check = run()\ntimes = []\n"
            f"for _ in range({max(1, repeats)}):\n"
            "    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)\n"
            "print(json.dumps({'median': statistics.median(times), 'check': check}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=1200)
    if proc.returncode == 0:
        return dict(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    if proc.returncode < 0:
        import signal

        return {"median": None,
                "check": f"crashed ({signal.Signals(-proc.returncode).name})"}
    return {"median": None, "check": f"exit status {proc.returncode}"}


SIZE_OF: dict[Path, int] = {}


# -------------------------------------------------------------- run
def run_codec(codec: str, size: int, repeats: int) -> dict[str, Any]:
    paths = make_files(codec, size)
    SIZE_OF[paths["intact"].parent] = size
    ref = C.phantom(1, size, size)[0]
    tools = [t for t in TOOLS if installed(t)]
    print(f"\n### {NAMES[codec]} ({SYNTAXES[codec]}), one {size} x {size} frame, "
          f"{paths['intact'].stat().st_size / 2**20:.1f} MiB file", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for case, path in paths.items():
        C.warm(path)
        items = []
        print(f"# {case}", flush=True)
        for tool in tools:
            if tool in PROBED:
                got = in_child(tool, path, repeats)
                results.setdefault(case, {})[tool] = got
                print(f"#   {tool:36s} {C.fmt_time(got['median']):>10s}  {got['check']}"
                      " (child process)")
                continue
            run = outcome(tool, path, ref)
            items.append(C.Contender(tool, run, lambda r: str(r)))
        for t in C.measure_all(items, repeats):
            results.setdefault(case, {})[t.name] = {
                "median": t.median, "check": t.check or t.error, "times": t.times}
    return {"codec": codec, "size": size, "results": results, "tools": tools}


def report(all_results: list[dict[str, Any]]) -> None:
    for r in all_results:
        res, tools = r["results"], r["tools"]
        good = {t: res["intact"].get(t, {}).get("median") for t in tools}
        rows = []
        for case in ["intact", *DAMAGE]:
            row = [case]
            for tool in tools:
                cell = res[case].get(tool, {})
                m, check = cell.get("median"), cell.get("check") or "-"
                ratio = f"{m / good[tool]:.2f}x" if (m and good[tool]) else "-"
                row.append(f"{C.fmt_time(m)} ({ratio}) {check}" if m else check)
            d = res[case].get("dicomio", {}).get("median")
            rel = d / good["dicomio"] if (d and good["dicomio"]) else None
            ended = str(res[case].get("dicomio", {}).get("check", ""))
            # The target is for errors; a frame some backend decodes (right or
            # wrong) is a decode, timed as such.
            row.append("" if case == "intact" else
                       "n/a (decoded)" if ended.startswith("decoded") else
                       C.verdict(rel, TARGET, False))
            rows.append(row)
        print(f"\n### {NAMES[r['codec']]} {r['size']} x {r['size']}: time (vs the tool's "
              "own intact decode) and how it ended\n")
        print(C.table(["file", *tools, f"dicomio <= {TARGET:.0f}x"], rows))


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    size = args.size or SIZES["quick" if args.quick else "full"]
    cfg["rows"] = cfg["cols"] = size
    codecs = [c.strip() for c in (args.codecs or ",".join(SYNTAXES)).split(",")]
    bad = [c for c in codecs if c not in SYNTAXES]
    if bad:
        raise SystemExit(f"unknown codec(s) {bad}; choose from {list(SYNTAXES)}")
    machine = C.header("bench_errors", cfg)
    load = C.LoadMonitor()
    out = [run_codec(c, size, cfg["repeats"]) for c in codecs]
    report(out)
    C.finish("errors", args.json, cfg, machine, load, codecs=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
