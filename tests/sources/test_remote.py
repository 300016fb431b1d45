"""URL kinds, credentials and options (no network)."""
from __future__ import annotations

import subprocess
import sys

import dicomio
from dicomio.sources import remote


def test_url_kinds() -> None:
    assert remote.is_url("https://h/x.dcm") and remote.is_url("s3://b/k")
    assert not remote.is_url("/data/x.dcm") and not remote.is_url("C:\\x.dcm")
    assert not remote.is_url("file:///data/x.dcm") and not remote.is_url(b"http://h")
    p = remote.parse_dicomweb("https://u:p@h:8042/dicom-web/studies/1.2/series/3.4/")
    assert p is not None and (p.base, p.study, p.series, p.instance, p.level) == (
        "https://h:8042/dicom-web", "1.2", "3.4", None, "series")
    assert remote.parse_dicomweb("https://h/x.dcm") is None
    assert remote.parse_dicomweb("s3://b/studies/1.2") is None


def test_credentials_never_shown() -> None:
    url = "https://alice:p%40ss@h/dicom-web/studies/1"
    assert remote.redact(url) == "https://alice:***@h/dicom-web/studies/1"
    clean, auth = remote.split_credentials(url)
    assert clean == "https://h/dicom-web/studies/1" and auth == ("alice", "p@ss")
    assert remote.options_for(url).auth == ("alice", "p@ss")


def test_configured_prefix_wins_longest() -> None:
    remote.configure("https://pacs.test/dicom-web", token="t1", timeout=5)
    remote.configure("https://pacs.test/dicom-web/studies/9", token="t2")
    try:
        assert remote.options_for("https://pacs.test/dicom-web/studies/1").token == "t1"
        assert remote.options_for("https://pacs.test/dicom-web/studies/9/series/1"
                                  ).token == "t2"
        assert remote.options_for("https://other.test/x").token is None
        assert remote.options_for("https://pacs.test/dicom-web/studies/1",
                                  timeout=1).timeout == 1
    finally:
        remote.configure("https://pacs.test/dicom-web")
        remote.configure("https://pacs.test/dicom-web/studies/9")
    assert dicomio.configure_web is remote.configure


def test_import_dicomio_loads_no_http_client() -> None:
    code = ("import sys, dicomio, dicomio.series; "
            "bad = [m for m in ('fsspec', 'dicomio.sources.http',"
            " 'dicomio.sources.dicomweb') if m in sys.modules]; print(bad)")
    # (requests itself may be loaded by pydicom.data, which imageio pulls in.)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_credential_precedence_and_remember() -> None:
    base = "https://remember.test/dicom-web"
    try:
        remote.remember("https://bob:pw1@remember.test/dicom-web/studies/1")
        # Later URLs without credentials find them; URL credentials win.
        assert remote.options_for(f"{base}/studies/2").auth == ("bob", "pw1")
        assert remote.options_for(
            "https://eve:pw2@remember.test/dicom-web/studies/2").auth == ("eve", "pw2")
        assert remote.options_for(f"{base}/studies/2", auth=("x", "y")).auth == ("x", "y")
        # A configured server is not overwritten by remember().
        remote.configure(base, token="tok")
        remote.remember("https://bob:pw3@remember.test/dicom-web/studies/1")
        opts = remote.options_for(f"{base}/studies/9")
        assert opts.token == "tok" and opts.auth is None
    finally:
        remote.configure(base)
    assert remote.options_for(f"{base}/studies/2").auth is None
