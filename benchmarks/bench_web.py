"""DICOMweb over loopback Orthanc: a 200-slice series and a 200-frame instance,
time to the first frame and the whole volume, against dicomweb-client's frame
retrieval and against downloading the files and reading them locally.

A throw-away Orthanc with its DICOMweb plugin (Debian's ``orthanc`` and
``orthanc-dicomweb``, see tools/system-deps.sh) is started on a free loopback
port; the files are the JPEG-LS lossless ones the other benchmarks generate
(``_common.series_folder`` and ``_common.multiframe_path``). Every contender's
volume is checked identical to the ground truth before it is timed.

Loopback has no latency and no bandwidth limit: the figures show the cost of
requests, parsing and decoding, not of a real network (where fetching fewer
bytes matters more, and dicomio's bounded parallel requests hide latency).

    python benchmarks/bench_web.py            # 200 slices / 200 frames of 512x512
    python benchmarks/bench_web.py --quick    # 40 slices / 24 frames of 256x256
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

import dicomio  # noqa: E402
from dicomio.sources import dicomweb as dweb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _orthanc_tool() -> Any:
    spec = importlib.util.spec_from_file_location("dicomio_tools_orthanc",
                                                  ROOT / "tools" / "orthanc.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _uids(path: Path) -> tuple[str, str, str]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _dwc(server: Any, tool: Any) -> Any:
    """A dicomweb-client DICOMwebClient, or None when it is not installed."""
    try:
        import requests
        from dicomweb_client.api import DICOMwebClient
    except ImportError:
        return None
    s = requests.Session()
    s.auth = (tool.USER, tool.PASSWORD)
    return DICOMwebClient(server.dicomweb, session=s)


def _decode_jpegls(frames: list[bytes], shape: tuple[int, int]) -> np.ndarray:
    import imagecodecs

    out = np.empty((len(frames), *shape), np.uint16)
    for k, f in enumerate(frames):
        out[k] = imagecodecs.jpegls_decode(f)
    return out


def _download(server: Any, tool: Any, urls: list[str], folder: Path) -> None:
    """The files as stored (WADO-RS instance, transfer-syntax=*), to disk."""
    import requests

    s = requests.Session()
    s.auth = (tool.USER, tool.PASSWORD)
    for k, u in enumerate(urls):
        r = s.get(u, headers={"Accept": dweb.INSTANCE_ACCEPT}, timeout=60)
        r.raise_for_status()
        parts = dweb.split_multipart(r.content, r.headers["Content-Type"], u)
        (folder / f"{k:05d}.dcm").write_bytes(parts[0][1])


def multiframe(server: Any, tool: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    n, rows, cols = cfg["frames"], cfg["rows"], cfg["cols"]
    path = C.multiframe_path("jpegls", n, rows, cols)
    assert path is not None
    server.upload(path.read_bytes())
    st, se, sop = _uids(path)
    url = server.dicomweb.replace("http://", f"http://{tool.USER}:{tool.PASSWORD}@") \
        + f"/studies/{st}/series/{se}/instances/{sop}"
    plain = f"{server.dicomweb}/studies/{st}/series/{se}/instances/{sop}"
    ref = C.reference("jpegls", n, rows, cols)
    assert ref is not None
    print(f"\n### {n}-frame JPEG-LS instance, {rows}x{cols}: "
          f"{path.stat().st_size / 2**20:.1f} MiB stored", flush=True)

    def fresh() -> None:
        with dweb._clients_lock:
            dweb._clients.clear()  # nothing remembered between calls

    items = [
        C.Contender("dicomio first frame (open + read(0))",
                    lambda: dicomio.DicomImage(url).read(0), C.check_equal(ref[0]),
                    fresh),
        C.Contender("dicomio whole instance", lambda: dicomio.DicomImage(url).read(),
                    C.check_equal(ref), fresh),
    ]
    client = _dwc(server, tool)
    if client is not None:
        octet = (("application/octet-stream", "*"),)
        items += [
            C.Contender("dicomweb-client frame 1 + imagecodecs",
                        lambda: _decode_jpegls(client.retrieve_instance_frames(
                            st, se, sop, [1], media_types=octet), (rows, cols))[0],
                        C.check_equal(ref[0])),
            C.Contender("dicomweb-client all frames + imagecodecs loop",
                        lambda: _decode_jpegls(client.retrieve_instance_frames(
                            st, se, sop, list(range(1, n + 1)), media_types=octet),
                            (rows, cols)), C.check_equal(ref)),
        ]

    def download() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            _download(server, tool, [plain], Path(tmp))
            return dicomio.DicomImage(str(Path(tmp) / "00000.dcm")).read()

    items.append(C.Contender("download file + dicomio local read", download,
                             C.check_equal(ref)))
    return _report(C.measure_all(items, cfg["repeats"]), "dicomio whole instance")


def series(server: Any, tool: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    n, rows, cols = cfg["series"], cfg["rows"], cfg["cols"]
    folder = C.series_folder(n, rows, cols, "JPEGLSLossless")
    files = sorted(folder.glob("*.dcm"))
    for f in files:
        server.upload(f.read_bytes())
    st, se, _ = _uids(files[0])
    url = server.dicomweb.replace("http://", f"http://{tool.USER}:{tool.PASSWORD}@") \
        + f"/studies/{st}/series/{se}"
    ref = C.series_reference(n, rows, cols)
    size = sum(f.stat().st_size for f in files)
    print(f"\n### {n}-slice JPEG-LS series, {rows}x{cols}: {size / 2**20:.1f} MiB "
          "stored", flush=True)

    def fresh() -> None:
        with dweb._clients_lock:
            dweb._clients.clear()

    def first() -> np.ndarray:
        s = dicomio.read_series(url)[0]
        return s.read(0, rescale=True)

    items = [
        C.Contender("dicomio first slice (metadata + 1 frame)", first,
                    C.check_equal(ref[0]), fresh),
        C.Contender("dicomio whole series (read_series + read)",
                    lambda: dicomio.read_series(url)[0].read(rescale=True),
                    C.check_equal(ref), fresh),
    ]
    client = _dwc(server, tool)
    if client is not None:
        octet = (("application/octet-stream", "*"),)

        def dwc_volume() -> np.ndarray:
            meta = client.retrieve_series_metadata(st, se)
            meta.sort(key=lambda m: float(m["00200032"]["Value"][2]))
            frames = [client.retrieve_instance_frames(
                st, se, m["00080018"]["Value"][0], [1], media_types=octet)[0]
                for m in meta]
            return _decode_jpegls(frames, (rows, cols)).astype(np.int16) - 1024

        items.append(C.Contender("dicomweb-client metadata + frames + imagecodecs",
                                 dwc_volume, C.check_equal(ref)))
    plain = f"{server.dicomweb}/studies/{st}/series/{se}"

    def download() -> np.ndarray:
        meta = dweb.DicomWebClient(server.dicomweb, dicomio.sources.remote.WebOptions(
            auth=(tool.USER, tool.PASSWORD))).metadata(plain)
        urls = [f"{plain}/instances/{m.SOPInstanceUID}" for m in meta]
        with tempfile.TemporaryDirectory() as tmp:
            _download(server, tool, urls, Path(tmp))
            return dicomio.series.read_volume(tmp, rescale=True)

    items.append(C.Contender("download files + dicomio read_volume", download,
                             C.check_equal(ref)))
    return _report(C.measure_all(items, cfg["repeats"]),
                   "dicomio whole series (read_series + read)")


def _report(timings: list[C.Timing], base_name: str) -> dict[str, Any]:
    print()
    print(C.ratio_table(timings, base_name, f"vs {base_name}"))
    return {t.name: {"median": t.median, "times": t.times, "error": t.error,
                     "check": t.check} for t in timings}


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=None, help="number of slices")
    p.add_argument("--only", choices=("multiframe", "series"), default=None,
                   help="run one of the two parts")
    args = p.parse_args(argv)
    cfg = C.settings(args)
    cfg["series"] = args.series or (40 if args.quick else 200)
    if not args.frames:
        cfg["frames"] = 24 if args.quick else 200
    machine = C.header("bench_web", cfg)
    load = C.LoadMonitor()
    import dicomio.sources.remote  # noqa: F401 - for WebOptions above

    tool = _orthanc_tool()
    with tempfile.TemporaryDirectory() as tmp:
        server = tool.start(Path(tmp))
        try:
            out = {}
            if args.only in (None, "multiframe"):
                out["multiframe"] = multiframe(server, tool, cfg)
            if args.only in (None, "series"):
                out["series"] = series(server, tool, cfg)
        finally:
            server.stop()
    C.finish("web", args.json, cfg, machine, load, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
