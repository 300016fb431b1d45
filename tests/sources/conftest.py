"""A real Orthanc with its DICOMweb plugin, and a Range-capable file server.

Orthanc and orthanc-dicomweb are Debian packages (tools/system-deps.sh). The
session fixture starts ``Orthanc CONFIG.json`` on a free loopback port with
temporary storage and HTTP Basic authentication on, waits for it with a
bounded poll, and stops it at the end. Test data goes in through Orthanc's
REST API (``POST /instances``).
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def _load_tool() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "orthanc.py"
    spec = importlib.util.spec_from_file_location("dicomio_tools_orthanc", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


_orthanc = _load_tool()
USER, PASSWORD = _orthanc.USER, _orthanc.PASSWORD
free_port = _orthanc.free_port


@dataclass
class OrthancServer:
    """A running Orthanc (tools/orthanc.py): URLs with or without credentials."""

    server: Any

    @property
    def root(self) -> str:
        return str(self.server.root)

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    def url(self, *uids: str, credentials: bool = True) -> str:
        """A DICOMweb URL for (study[, series[, instance]])."""
        levels = ("studies", "series", "instances")
        path = "".join(f"/{lv}/{u}" for lv, u in zip(levels, uids))
        base = self.dicomweb
        if credentials:
            base = base.replace("http://", f"http://{USER}:{PASSWORD}@")
        return base + path

    def upload(self, data: bytes) -> Any:
        return self.server.upload(data)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc + DICOMweb on loopback, authentication on."""
    try:
        server = _orthanc.start(tmp_path_factory.mktemp("orthanc"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield OrthancServer(server)
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# A tiny HTTP server with Range support, counting what it sends
# ---------------------------------------------------------------------------
class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    stats: dict[str, Any]

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        with open(path, "rb") as fh:
            if m and not self.stats.get("no_ranges"):
                start = int(m[1])
                stop = min(size - 1, int(m[2])) if m[2] else size - 1
                fh.seek(start)
                body = fh.read(stop - start + 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
            else:
                body = fh.read()
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
        self.stats["requests"] += 1
        self.stats["bytes"] += len(body)
        self.stats["ranges"].append(rng)
        self.wfile.write(body)


@dataclass
class RangeServer:
    root: str
    folder: Path
    stats: dict[str, Any]

    def reset(self) -> None:
        self.stats.update(requests=0, bytes=0, ranges=[])


@pytest.fixture
def range_server(tmp_path: Path) -> Iterator[RangeServer]:
    """Serves ``tmp_path/www`` over loopback HTTP with byte ranges."""
    folder = tmp_path / "www"
    folder.mkdir()
    stats: dict[str, Any] = {}
    handler = type("H", (_RangeHandler,), {"stats": stats})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server = RangeServer(f"http://127.0.0.1:{httpd.server_address[1]}", folder, stats)
    server.reset()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------------------
# Test data uploaded once per session
# ---------------------------------------------------------------------------
PYDICOM_FILES = ("CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm",
                 "emri_small_jpeg_2k_lossless.dcm", "JPEG2000.dcm",
                 "SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm",
                 "JPEG-lossy.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                 "MR_small_bigendian.dcm", "emri_small_RLE.dcm", "liver.dcm")


@dataclass
class WebFile:
    name: str
    data: bytes
    study: str
    series: str
    instance: str


def _with_new_uids(path: str, name: str) -> bytes:
    """pydicom's test files share UIDs; Orthanc keeps one per UID."""
    import pydicom
    from pydicom.filebase import DicomBytesIO

    from dicomio.encode import uid_from

    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID = uid_from("web-study", name)
    ds.SeriesInstanceUID = uid_from("web-series", name)
    ds.SOPInstanceUID = uid_from("web-sop", name)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _generated() -> dict[str, bytes]:
    import numpy as np

    from dicomio import encode

    rng = np.random.default_rng(20)
    out = {}
    grey = rng.integers(0, 4096, (24, 96, 80), dtype=np.uint16)
    for ts in ("JPEGLSLossless", "HTJ2KLossless", "ExplicitVRLittleEndian"):
        ds = encode.make_dataset(grey, ts, multiframe=True, uid_seed=f"web-{ts}",
                                 bits_stored=12)
        out[f"multiframe-{ts}"] = encode.dataset_bytes(ds)
    rgb = rng.integers(0, 256, (3, 64, 48, 3), dtype=np.uint8)
    ds = encode.make_dataset(rgb, "JPEGBaseline8Bit", multiframe=True,
                             uid_seed="web-rgb-jpeg")
    out["multiframe-rgb-JPEGBaseline8Bit"] = encode.dataset_bytes(ds)
    return out


def volume_files() -> tuple[str, dict[str, bytes], Any]:
    """A study of two series of single-frame slices, in shuffled order."""
    import numpy as np

    from dicomio import encode

    rng = np.random.default_rng(21)
    vol = rng.integers(-1000, 2000, (10, 40, 36)).astype(np.int16)
    study = encode.uid_from("web-volume-study")
    files = {}
    for ts, number in (("JPEGLSLossless", 1), ("ExplicitVRLittleEndian", 2)):
        for k in rng.permutation(len(vol)):
            ds = encode.make_dataset(
                vol[k], ts, study_instance_uid=study,
                series_instance_uid=encode.uid_from("web-volume", ts),
                series_number=number, instance_number=int(rng.integers(1, 500)),
                image_position=[-20.0, 10.0, 3.0 * k - 7],
                image_orientation=[1, 0, 0, 0, 1, 0], pixel_spacing=[0.7, 0.8],
                rescale=(1.0, -1024.0), modality="CT", uid_seed=f"web-vol-{ts}-{k}")
            files[f"vol-{number}-{k:02d}.dcm"] = encode.dataset_bytes(ds)
    return study, files, vol


@pytest.fixture(scope="session")
def web_files(orthanc: OrthancServer) -> dict[str, WebFile]:
    """Every test file, uploaded to Orthanc: name -> WebFile."""
    import pydicom
    import pydicom.data

    out: dict[str, WebFile] = {}
    datas = {n: _with_new_uids(pydicom.data.get_testdata_file(n), n)
             for n in PYDICOM_FILES}
    datas.update(_generated())
    for name, data in datas.items():
        orthanc.upload(data)
        ds = pydicom.dcmread(__import__("io").BytesIO(data), stop_before_pixels=True)
        out[name] = WebFile(name, data, str(ds.StudyInstanceUID),
                            str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    return out


@pytest.fixture(scope="session")
def web_volume(orthanc: OrthancServer, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[str, Path, Any]:
    """(study UID, local folder with the same files, the volume) uploaded."""
    study, files, vol = volume_files()
    folder = tmp_path_factory.mktemp("web-volume")
    for name, data in files.items():
        (folder / name).write_bytes(data)
        orthanc.upload(data)
    return study, folder, vol


@pytest.fixture
def requests_log() -> Iterator[list[tuple[str, str, int, int]]]:
    """Every request dicomio makes: (method, url, status, body bytes)."""
    from dicomio.sources import http as web_http

    log: list[tuple[str, str, int, int]] = []

    def hook(method: str, url: str, status: int, nbytes: int) -> None:
        log.append((method, url, status, nbytes))

    web_http.REQUEST_HOOKS.append(hook)
    try:
        yield log
    finally:
        web_http.REQUEST_HOOKS.remove(hook)
