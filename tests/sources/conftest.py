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
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

USER, PASSWORD = "dicomio", "s3cret-pw"
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                     "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plugin() -> str | None:
    for p in PLUGIN_CANDIDATES:
        if os.path.exists(p):
            return p
    try:
        out = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = [ln for ln in out.splitlines() if re.search(r"libOrthancDicomWeb\.so", ln)]
    return found[0] if found else None


@dataclass
class OrthancServer:
    """A running Orthanc: its URLs, credentials and REST helpers."""

    root: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log: Path
    uploaded: dict[str, Any] = field(default_factory=dict)

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

    def upload(self, data: bytes) -> dict[str, Any]:
        import requests

        r = requests.post(f"{self.root}/instances", data=data, auth=(USER, PASSWORD),
                          headers={"Content-Type": "application/dicom"}, timeout=30)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out


def _start_orthanc(tmp: Path) -> OrthancServer:
    exe = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    plugin = _plugin()
    if not os.path.exists(exe) or plugin is None:
        pytest.fail("Orthanc and orthanc-dicomweb are needed: run tools/system-deps.sh")
    port = free_port()
    storage = tmp / "storage"
    storage.mkdir()
    config = {
        "Name": "dicomio-tests",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "DicomServerEnabled": False,
        "HttpCompressionEnabled": False,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/",
                     "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }
    cfg = tmp / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = tmp / "orthanc.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, str(cfg)], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=tmp)
    server = OrthancServer(f"http://127.0.0.1:{port}", proc, log)
    import requests

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"Orthanc exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            r = requests.get(f"{server.root}/system", auth=(USER, PASSWORD), timeout=2)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Orthanc did not answer within 60 s: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return server


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc + DICOMweb on loopback, authentication on."""
    server = _start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        _stop(server.process)


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
