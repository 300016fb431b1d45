"""Adapter overhead: the imageio plugin and the napari reader against the core.

Same files, same process, round-robin repeats (three times ``--repeats``:
a 5 % difference needs more rounds). Each adapter goes from a path
to a NumPy array (napari: the first layer's data, computed when it is lazy),
checked identical to the core's array first. For napari two lazy timings are
reported too: the reader call, and the reader call plus the middle slice
computed (its whole chunk decodes: the slider's latency). Target (issue 6): < 5 % over the
core (ratio <= 1.05). Adapters that are not installed or not registered yet
are reported as skipped.

    python benchmarks/bench_adapters.py
    python benchmarks/bench_adapters.py --quick
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402


def imageio_reader() -> tuple[Callable[[Path], Any] | None, str]:
    """``iio.imread(path, plugin="dicomio")``, or why it is unavailable."""
    try:
        import imageio.config
        import imageio.v3 as iio
    except ImportError as exc:
        return None, f"imageio missing: {exc}"
    if "dicomio" not in imageio.config.known_plugins:
        try:
            from dicomio import imageio_plugin

            imageio_plugin.register()
        except Exception as exc:  # noqa: BLE001 - plugin still being written
            return None, f"plugin 'dicomio' not registered ({type(exc).__name__}: {exc})"[:100]
    if "dicomio" not in imageio.config.known_plugins:
        return None, "plugin 'dicomio' not registered"
    return (lambda p: iio.imread(p, plugin="dicomio")), ""


def napari_reader() -> tuple[Callable[[Path], Any] | None,
                            Callable[[Path], Any] | None, str]:
    """(full read, lazy reader call) through the npe2 reader, or why not.

    The full read materialises the first layer's data (a dask array for
    stacks); the lazy call is what napari waits for before it shows a layer.
    """
    try:
        from dicomio._napari._reader import get_reader
    except Exception as exc:  # noqa: BLE001 - reader still being written / napari absent
        return None, None, f"napari reader unavailable ({type(exc).__name__}: {exc})"[:100]

    def layers(p: Path) -> Any:
        fn = get_reader(str(p))
        if fn is None:
            raise RuntimeError("get_reader declined the path")
        return fn(str(p))

    def read(p: Path) -> np.ndarray:
        data = layers(p)[0][0]
        if isinstance(data, list):  # multiscale: full resolution first
            data = data[0]
        return np.asarray(data)  # computes dask arrays

    def lazy(p: Path) -> str:
        data = layers(p)[0][0]
        return f"{type(data).__module__.split('.')[0]} {getattr(data, 'shape', '?')}"

    return read, lazy, ""


def napari_first_slice() -> Callable[[Path], Any] | None:
    """Reader call plus the middle slice computed: what napari waits for to show it.

    Computing a slice decodes the chunk holding it, so this shows what the
    chunk size costs the slider. Starts with the decode caches empty.
    """
    try:
        from dicomio._napari import _lazy
        from dicomio._napari._reader import read_dicom
    except Exception:  # noqa: BLE001 - reported by napari_reader()
        return None

    def first(p: Path) -> str:
        _lazy.clear_caches()
        data = read_dicom(str(p))[0][0]
        if getattr(data, "ndim", 0) > 2 and hasattr(data, "chunks"):
            np.asarray(data[data.shape[0] // 2])
            return f"chunks of {max(data.chunks[0])} slices"
        return "one image"

    return first


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    machine = C.header("bench_adapters", cfg)
    load = C.LoadMonitor()
    iio_fn, iio_why = imageio_reader()
    nap_fn, nap_lazy, nap_why = napari_reader()
    nap_first = napari_first_slice()
    for why in (iio_why, nap_why):
        if why:
            print(f"# skipped: {why}")
    codecs = C.chosen_codecs(args) if args.codecs else ["jpeg_color", "jpegls", "uncompressed"]
    # (label, path, core read, core read as napari shows it: rescaled)
    targets: list[tuple[str, Path, Callable[[], Any], Callable[[], Any] | None]] = []
    for codec in codecs:
        path = C.multiframe_path(codec, cfg["frames"], cfg["rows"], cfg["cols"])
        if path is None:
            continue

        def core(p: Path = path) -> np.ndarray:
            with dicomio.DicomImage(p) as img:
                return img.read()

        targets.append((C.LABELS[codec], path, core, None))
    folder = C.series_folder(cfg["series"], cfg["rows"], cfg["cols"], "JPEGLSLossless")
    targets.append((f"{cfg['series']}-file JPEG-LS series (folder)", folder,
                    lambda: dicomio.series.read_volume(folder),
                    lambda: dicomio.series.read_volume(folder, rescale=True)))
    rows: list[list[str]] = []
    results: dict[str, Any] = {}
    for label, path, core, core_hu in targets:
        C.warm(path)
        print(f"\n### {label}: {path}", flush=True)
        ref = core()
        check = C.check_equal(ref)
        items = [C.Contender("core (DicomImage.read / read_volume)", core, check)]
        pairs: list[tuple[str, str]] = []  # (adapter, the core it is compared with)
        if iio_fn:
            items.append(C.Contender("imageio plugin='dicomio'",
                                     (lambda f=iio_fn, p=path: f(p)), check))
            pairs.append((items[-1].name, items[0].name))
        if nap_fn and nap_lazy:
            nap_core = items[0].name
            nap_check = check
            if core_hu is not None:  # the napari layer holds Hounsfield units
                ref_hu = core_hu()
                nap_check = C.check_equal(ref_hu)
                items.append(C.Contender("core read_volume(rescale=True)", core_hu,
                                         nap_check))
                nap_core = items[-1].name
                del ref_hu
            items.append(C.Contender("napari reader, data computed",
                                     (lambda f=nap_fn, p=path: f(p)), nap_check))
            pairs.append((items[-1].name, nap_core))
            items.append(C.Contender("napari reader call (lazy layer)",
                                     (lambda f=nap_lazy, p=path: f(p)),
                                     lambda r: str(r)))
            if nap_first is not None:
                items.append(C.Contender("napari middle slice shown (cold)",
                                         (lambda f=nap_first, p=path: f(p)),
                                         lambda r: str(r)))
        del ref
        # A 5 % difference needs more rounds than the decode benchmark takes.
        timings = {t.name: t for t in C.measure_all(items, 3 * cfg["repeats"])}
        results[label] = {t.name: {"median": t.median, "times": t.times,
                                   "error": t.error, "discarded": t.discarded}
                          for t in timings.values()}
        cores = {c for _, c in pairs} | {items[0].name}
        for name in cores:
            t = timings[name]
            rows.append([label, name, C.fmt_time(t.median), "1.000x" if t.ok else
                         (t.error or "-"), "", ""])
        for name, core_name in pairs:
            t, base = timings[name], timings[core_name].median
            ratio = t.median / base if (t.ok and base) else None
            rows.append([label, name, C.fmt_time(t.median),
                         f"{ratio:.3f}x" if ratio else (t.error or "-"),
                         f"<= {C.TARGET_ADAPTER}x", C.verdict(ratio, C.TARGET_ADAPTER, False)])
        for lazy_name in ("napari reader call (lazy layer)",
                          "napari middle slice shown (cold)"):
            lazy_t = timings.get(lazy_name)
            if lazy_t is not None:
                rows.append([label, lazy_t.name, C.fmt_time(lazy_t.median),
                             lazy_t.check if lazy_t.ok else (lazy_t.error or "-"),
                             "reported", ""])
        for name, why in (("imageio plugin='dicomio'", iio_why),
                          ("napari reader", nap_why)):
            if why:
                rows.append([label, name, "-", "skipped", f"<= {C.TARGET_ADAPTER}x", "n/a"])
    print()
    print(C.table(["file", "contender", "median", "vs core", "target", "PASS/MISS"], rows))
    C.finish("adapters", args.json, cfg, machine, load, results=results,
             skipped=[w for w in (iio_why, nap_why) if w])
    return 0


if __name__ == "__main__":
    sys.exit(main())
