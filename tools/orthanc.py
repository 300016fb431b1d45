"""Start and stop a throw-away Orthanc with its DICOMweb plugin on loopback.

Used by the URL tests (tests/sources/conftest.py) and benchmarks/bench_web.py.
Needs Debian's ``orthanc`` and ``orthanc-dicomweb`` (tools/system-deps.sh).
The packaged service does not start in containers (policy-rc.d), so this
runs ``Orthanc CONFIG.json`` itself: a free loopback port, storage in the
given folder, HTTP Basic authentication on, the DICOM port off.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "dicomio", "s3cret-pw"
PLUGINS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
           "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plugin_path() -> str | None:
    for p in PLUGINS:
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
class Orthanc:
    root: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    def _auth(self) -> dict[str, str]:
        token = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def upload(self, data: bytes) -> dict[str, str]:
        """POST /instances (Orthanc's REST API); returns Orthanc's answer."""
        req = urllib.request.Request(f"{self.root}/instances", data=data, method="POST",
                                     headers={"Content-Type": "application/dicom",
                                              **self._auth()})
        with urllib.request.urlopen(req, timeout=60) as resp:
            out: dict[str, str] = json.loads(resp.read())
        return out

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start(folder: Path, timeout: float = 60.0) -> Orthanc:
    """Start Orthanc with storage in ``folder``; wait (bounded) until it answers."""
    exe = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    plugin = plugin_path()
    if not os.path.exists(exe) or plugin is None:
        raise RuntimeError("Orthanc and orthanc-dicomweb are needed: run "
                           "tools/system-deps.sh")
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "dicomio", "StorageDirectory": str(storage),
        "IndexDirectory": str(storage), "HttpPort": port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD}, "DicomServerEnabled": False,
        "HttpCompressionEnabled": False, "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/",
                     "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = folder / "orthanc.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, str(cfg)], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=folder)
    server = Orthanc(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited ({proc.returncode}): "
                               f"{log.read_text()[-2000:]}")
        try:
            req = urllib.request.Request(f"{server.root}/system", headers=server._auth())
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"Orthanc did not answer within {timeout:.0f} s: "
                               f"{log.read_text()[-2000:]}")
        time.sleep(0.1)
