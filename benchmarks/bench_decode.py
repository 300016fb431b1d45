"""Decode speed: dicomio against pydicom, the raw codec, SimpleITK and imageio.

One process run, the same files for everybody, warm page cache, the pixels of
every contender checked against the ground truth before it is timed, the
median of ``--repeats`` runs reported. Every contender goes from a path to a
NumPy array (opening the file included), except the raw imagecodecs loops,
which decode frame bytes already in memory (the codec's own limit).

    python benchmarks/bench_decode.py            # 200 x 512x512 frames, 5 repeats
    python benchmarks/bench_decode.py --quick    # small smoke run

Ratios are contender time / dicomio time (higher means dicomio is faster).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402


# ----------------------------------------------------------- raw frames
def raw_frames(path: Path) -> tuple[list[bytes], Any]:
    """Each frame's compressed bytes, read once with pydicom (not timed)."""
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=n)), ds


def codec_call(codec: str, ds: Any) -> Callable[[bytes, np.ndarray], Any]:
    """The bare imagecodecs call dicomio makes for one frame, into ``out``."""
    import imagecodecs as ic

    if codec == "jpeg_color":
        return lambda b, o: ic.jpeg8_decode(b, colorspace="YCBCR", outcolorspace="RGB", out=o)
    if codec == "jpegls":
        return lambda b, o: ic.jpegls_decode(b, out=o)
    if codec == "j2k":
        return lambda b, o: ic.jpeg2k_decode(b, numthreads=1, out=o)
    if codec == "htj2k":
        return lambda b, o: ic.htj2k_decode(b, out=o)
    if codec == "jpegxl":
        return lambda b, o: ic.jpegxl_decode(b, out=o)
    if codec == "rle":
        dt = "<u2" if ds.BitsAllocated == 16 else "u1"
        return lambda b, o: ic.dicomrle_decode(b, dt, out=o.reshape(-1).view(np.uint8))
    raise KeyError(codec)


def loop(frames: list[bytes], call: Callable[[bytes, np.ndarray], Any],
         shape: tuple[int, ...], dtype: Any) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        out = np.empty((len(frames), *shape), dtype)
        for k, b in enumerate(frames):
            call(b, out[k])
        return out

    return run


def pool(frames: list[bytes], call: Callable[[bytes, np.ndarray], Any],
         shape: tuple[int, ...], dtype: Any, threads: int) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        out = np.empty((len(frames), *shape), dtype)
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(lambda k: call(frames[k], out[k]), range(len(frames))))
        return out

    return run


# ------------------------------------------------------------ contenders
def contenders(codec: str, path: Path, threads: int | None
               ) -> tuple[list[tuple[str, Callable[[], Any], dict[str, Any]]], dict[str, Any]]:
    """(name, function, options) for every contender that applies to ``codec``."""
    out: list[tuple[str, Callable[[], Any], dict[str, Any]]] = []
    extra: dict[str, Any] = {}

    def dicomio_read(n: int | None) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with dicomio.DicomImage(path, threads=n) as img:
                return img.read()
        return run

    out.append(("dicomio", dicomio_read(threads), {"role": "dicomio"}))
    out.append(("dicomio threads=1", dicomio_read(1), {}))

    with dicomio.DicomImage(path) as img:
        shape, dtype, nframes = img.frame_shape, img.dtype, img.n_frames
    extra.update(shape=(nframes, *shape), dtype=str(dtype),
                 nbytes=int(nframes * np.prod(shape) * np.dtype(dtype).itemsize))

    if codec.startswith("uncompressed"):
        with dicomio.DicomImage(path) as img:
            offset, nbytes = img._loc.offset, extra["nbytes"]

        def memcpy() -> np.ndarray:
            buf = np.empty((nframes, *shape), dtype)
            with open(path, "rb", buffering=0) as fh:
                fh.seek(offset)
                view = memoryview(buf).cast("B")
                got = 0
                while got < nbytes:
                    n = fh.readinto(view[got:])
                    if not n:
                        break
                    got += n
            return buf

        def mmap() -> np.ndarray:
            with dicomio.DicomImage(path) as img:
                return img.memmap()

        out.append(("memcpy from page cache", memcpy, {"role": "memcpy"}))
        with dicomio.DicomImage(path) as img:
            exact = img.spec.bits_stored == img.spec.bits_allocated
        if exact:  # memmap() needs no masking: Bits Stored == Bits Allocated
            out.append(("dicomio memmap() (zero-copy)", mmap, {"role": "memmap"}))
        else:
            extra["memmap_note"] = ("memmap() needs Bits Stored == Bits Allocated "
                                    "(12 < 16 here: the high bits must be masked)")
    else:
        frames, ds = raw_frames(path)
        call = codec_call(codec, ds)
        ncores = os.cpu_count() or 1
        out.append(("imagecodecs loop, 1 thread", loop(frames, call, shape, dtype),
                    {"role": "loop"}))
        out.append((f"imagecodecs pool, {ncores} threads",
                    pool(frames, call, shape, dtype, ncores), {"role": "pool"}))
        extra["compressed_mb"] = sum(len(f) for f in frames) / 2**20

    # pydicom: its default, then each plugin it has for this syntax
    import pydicom

    out.append(("pydicom pixel_array (default)",
                lambda: pydicom.dcmread(path).pixel_array, {"role": "pydicom"}))
    if not codec.startswith("uncompressed"):
        try:
            from pydicom.pixels import get_decoder
            from pydicom.pixels import pixel_array as px

            uid = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
            for plugin in get_decoder(uid).available_plugins:
                out.append((f"pydicom plugin {plugin}",
                            (lambda p=plugin: px(str(path), decoding_plugin=p)), {}))
        except Exception as exc:  # no decoder at all (JPEG XL)
            extra["pydicom_note"] = f"{type(exc).__name__}: {exc}"

    try:
        import SimpleITK as sitk

        out.append(("SimpleITK ReadImage",
                    lambda: sitk.GetArrayFromImage(sitk.ReadImage(str(path))), {}))
    except ImportError:
        pass

    try:
        import imageio.v2 as iio2
        import imageio.v3 as iio3

        raw = Path(str(path) + ".raw")

        def legacy() -> np.ndarray:
            return iio2.volread(str(path), format="DICOM")

        def rm_raw() -> None:
            if raw.exists():
                raw.unlink()

        out.append(("imageio legacy DICOM", legacy, {"cleanup": rm_raw,
                    "note": "runs gdcmconv for compressed files"}))
        out.append(("imageio plugin pydicom",
                    lambda: iio3.imread(path, plugin="pydicom"), {}))
    except ImportError:
        pass
    return out, extra


def run_codec(codec: str, cfg: dict[str, Any], threads: int | None) -> dict[str, Any]:
    path = C.multiframe_path(codec, cfg["frames"], cfg["rows"], cfg["cols"])
    if path is None:
        return {"codec": codec, "skipped": "pydicom-data not installed"}
    C.warm(path)
    items, extra = contenders(codec, path, threads)
    ref = C.reference(codec, cfg["frames"], cfg["rows"], cfg["cols"])
    lossy = ref is None
    if lossy:
        # Colour JPEG: the reference is libjpeg-turbo's own RGB output (the raw
        # loop); other decoders may differ by their YCbCr->RGB rounding.
        ref = dict((n, f) for n, f, _ in items)["imagecodecs loop, 1 thread"]()
    print(f"\n### {C.LABELS[codec]}: {path.name if codec == 'jpeg_color' else path.parent.name}"
          f", {extra['shape']} {extra['dtype']}, {extra['nbytes'] / 2**20:.0f} MiB decoded"
          + (f", {extra['compressed_mb']:.1f} MiB compressed" if "compressed_mb" in extra else ""),
          flush=True)
    roles: dict[str, str] = {}
    todo: list[C.Contender] = []
    for name, fn, opts in items:
        if opts.get("role"):
            roles[opts["role"]] = name
        tol = 0.0
        if lossy and not name.startswith(("dicomio", "imagecodecs")):
            tol = 12.0  # other YCbCr->RGB conversions round differently
        todo.append(C.Contender(name, fn, C.check_equal(ref, tol=tol),
                                opts.get("cleanup"), opts.get("note", "")))
    results = {t.name: t for t in C.measure_all(todo, cfg["repeats"])}
    base = results[roles["dicomio"]].median
    rows = []
    for name, t in results.items():
        ratio = (t.median / base) if (t.ok and base) else None
        target, verdict = "", ""
        role = next((r for r, n in roles.items() if n == name), None)
        if role == "pydicom" and codec in C.TARGET_VS_PYDICOM:
            target = f">= {C.TARGET_VS_PYDICOM[codec]}x"
            verdict = C.verdict(ratio, C.TARGET_VS_PYDICOM[codec])
        elif role == "pydicom":
            target, verdict = "reported", ""
        elif role == "loop":
            target = f">= {C.TARGET_VS_LOOP}x"
            verdict = C.verdict(ratio, C.TARGET_VS_LOOP)
        elif role == "memcpy":
            rel = base / t.median if t.ok else None
            target = f"dicomio <= {C.TARGET_UNCOMPRESSED}x memcpy"
            verdict = (C.verdict(rel, C.TARGET_UNCOMPRESSED, higher_is_better=False)
                       + (f" ({rel:.2f}x)" if rel else ""))
        elif role == "memmap":
            target, verdict = "zero-copy", "PASS" if t.ok else "MISS"
        rows.append([name, C.fmt_time(t.median),
                     f"{ratio:.2f}x" if ratio else (t.error or "-"), target, verdict,
                     t.check if t.ok else ""])
    print()
    print(C.table(["contender", "median", "vs dicomio", "target", "PASS/MISS", "pixels"], rows))
    return {"codec": codec, "file": str(path), **extra,
            "results": {n: {"median": t.median, "times": t.times, "error": t.error,
                            "check": t.check, "others": t.others,
                            "discarded": t.discarded} for n, t in results.items()},
            "roles": roles}


def _ratio(res: dict[str, Any], roles: dict[str, str], base: float | None,
           role: str) -> float | None:
    name = roles.get(role)
    m = res.get(name, {}).get("median") if name else None
    return m / base if (m and base) else None


def summary(all_results: list[dict[str, Any]]) -> None:
    rows = []
    for r in all_results:
        if "results" not in r:
            continue
        res, roles, codec = r["results"], r["roles"], r["codec"]
        base = res[roles["dicomio"]]["median"]

        pd, lp, pl = (_ratio(res, roles, base, k) for k in ("pydicom", "loop", "pool"))
        tgt = C.TARGET_VS_PYDICOM.get(codec)
        if codec.startswith("uncompressed"):
            mc = res[roles["memcpy"]]["median"]
            rel = base / mc if mc else None
            rows.append([C.LABELS[codec], C.fmt_time(base), f"{pd:.2f}x" if pd else "-",
                         "reported", "", f"{rel:.2f}x of memcpy" if rel else "-",
                         C.verdict(rel, C.TARGET_UNCOMPRESSED, False), "-"])
            continue
        rows.append([C.LABELS[codec], C.fmt_time(base),
                     f"{pd:.2f}x" if pd else "cannot read",
                     f">= {tgt}x" if tgt else "reported",
                     C.verdict(pd, tgt) if tgt else "",
                     f"{lp:.2f}x" if lp else "-", C.verdict(lp, C.TARGET_VS_LOOP),
                     f"{pl:.2f}x" if pl else "-"])
    print("\n### Summary (ratios: contender time / dicomio time)\n")
    print(C.table(["codec", "dicomio", "vs pydicom default", "target", "PASS/MISS",
                   "vs 1-thread codec loop (>= 1.7x) / vs memcpy (<= 2x)", "PASS/MISS",
                   "vs codec thread pool"], rows))


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    machine = C.header("bench_decode", cfg)
    load = C.LoadMonitor()
    out = []
    for codec in C.chosen_codecs(args):
        out.append(run_codec(codec, cfg, args.threads))
    summary(out)
    C.finish("decode", args.json, cfg, machine, load, codecs=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
