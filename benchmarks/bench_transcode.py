"""Transcode throughput against pydicom, and decode time of the results.

For a 12-bit CT-like multi-frame file stored uncompressed and as JPEG 2000
lossless: the time of ``dicomio.transcode`` to HTJ2KLossless, JPEGLSLossless
and JPEG2000Lossless against pydicom's ``Dataset.compress`` (then
``save_as``) on the same file, in MB/s of decoded pixels. pydicom 3 has no
HTJ2K encoder, so its JPEG 2000 lossless compress is the contender a user
would otherwise run. Then the decode time (``DicomImage.read``) of each
transcoded file against the originals: how much faster HTJ2K reads than
JPEG 2000.

    python benchmarks/bench_transcode.py
    python benchmarks/bench_transcode.py --quick
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402

SOURCES = ("uncompressed", "j2k")
TARGETS = {"HTJ2KLossless": None, "JPEGLSLossless": "JPEGLSLossless",
           "JPEG2000Lossless": "JPEG2000Lossless"}


def _pydicom_compress(src: Path, dst: Path, ts: str) -> None:
    import pydicom
    import pydicom.uid

    ds = pydicom.dcmread(src)
    ds.compress(getattr(pydicom.uid, ts), ds.pixel_array)
    ds.save_as(dst, enforce_file_format=True)


def _decoded(path: Path) -> np.ndarray:
    with dicomio.DicomImage(path) as img:
        return img.read()


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    cfg = C.settings(args)
    machine = C.header("bench_transcode", cfg)
    load = C.LoadMonitor()
    n, rows, cols = cfg["frames"], cfg["rows"], cfg["cols"]
    ref = C.reference("uncompressed", n, rows, cols)
    assert ref is not None
    mb = ref.nbytes / 1e6
    C.DATA.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix="bench-transcode-", dir=C.DATA))
    speed_rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    written: dict[str, Path] = {}
    for source in SOURCES:
        src = C.multiframe_path(source, n, rows, cols)
        assert src is not None
        C.warm(src)
        for target, theirs in TARGETS.items():
            mine = out_dir / f"{source}-{target}.dicomio.dcm"
            items = [C.Contender("dicomio", lambda s=src, d=mine, t=target:
                                 dicomio.transcode(s, d, t))]
            their_ts = theirs or "JPEG2000Lossless"
            other = out_dir / f"{source}-{their_ts}.pydicom.dcm"
            items.append(C.Contender(
                f"pydicom {their_ts}",
                lambda s=src, d=other, t=their_ts: _pydicom_compress(s, d, t)))
            print(f"\n### {C.LABELS[source]} -> {target}", flush=True)
            t = C.measure_all(items, cfg["repeats"])
            np.testing.assert_array_equal(_decoded(mine), ref)
            written.setdefault(target, mine)
            ours, theirs_t = t[0].median, t[1].median
            speed_rows.append([
                C.LABELS[source], target, f"{mb / ours:.1f}" if ours else "-",
                f"pydicom -> {their_ts}", f"{mb / theirs_t:.1f}" if theirs_t else "-",
                f"{theirs_t / ours:.2f}x" if ours and theirs_t else "-"])
            results.append({"source": source, "target": target, "dicomio": ours,
                            "pydicom": theirs_t, "pydicom_target": their_ts,
                            "megabytes": mb})
    print()
    print(C.table(["source", "target", "dicomio MB/s", "contender",
                   "contender MB/s", "speed-up"], speed_rows))
    decode_rows: list[list[str]] = []
    files = {f"original {C.LABELS[s]}": C.multiframe_path(s, n, rows, cols)
             for s in SOURCES}
    files.update({f"transcoded {k}": v for k, v in written.items()})
    timings = {}
    for label, path in files.items():
        assert path is not None
        C.warm(path)
        t = C.measure(label, lambda q=path: _decoded(q), cfg["repeats"],
                      verify=C.check_equal(ref))
        timings[label] = t.median
    j2k = timings.get(f"original {C.LABELS['j2k']}")
    for label, seconds in timings.items():
        size = files[label].stat().st_size / 2**20  # type: ignore[union-attr]
        decode_rows.append([label, f"{size:.1f} MiB", C.fmt_time(seconds),
                            f"{j2k / seconds:.2f}x" if j2k and seconds else "-"])
    print()
    print(C.table(["file", "size", "decode (DicomImage.read)", "vs JPEG 2000"],
                  decode_rows))
    shutil.rmtree(out_dir, ignore_errors=True)
    C.finish("transcode", args.json, cfg, machine, load, results=results,
             decode={k: v for k, v in timings.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
