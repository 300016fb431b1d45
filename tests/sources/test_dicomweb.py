"""DICOMweb against a real Orthanc: every read equals the local read, bit for bit,
and frame reads fetch only their frames (requests and bytes counted)."""
from __future__ import annotations

import http.server
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio.errors import DicomioError, RemoteError
from dicomio.sources import dicomweb
from dicomio.sources.remote import WebOptions

from .conftest import PASSWORD, USER, OrthancServer, WebFile, free_port

# Syntaxes Orthanc 1.10's DCMTK does not know: it answers 500 for their
# frames, and dicomio reads the whole instance instead (with a warning).
NO_FRAMES = {"multiframe-HTJ2KLossless", "MR_small_bigendian.dcm"}


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    """No syntax or frame remembered from another test."""
    with dicomweb._clients_lock:
        dicomweb._clients.clear()


def _open(url: str, name: str, **kwargs: Any) -> dicomio.DicomImage:
    if name in NO_FRAMES:
        with pytest.warns(dicomio.DicomioWarning, match="whole instance"):
            return dicomio.DicomImage(url, **kwargs)
    return dicomio.DicomImage(url, **kwargs)


def _within(seconds: float, fn: Callable[[], Any]) -> BaseException | None:
    """Run fn in a thread; fail if it is still running after ``seconds``
    (the issue's "never a hang" promise), else return what it raised."""
    box: dict[str, BaseException | None] = {"exc": None}

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s"
    return box["exc"]


@pytest.fixture(params=sorted(__import__("tests.sources.conftest",
                                         fromlist=["x"]).PYDICOM_FILES)
                + ["multiframe-JPEGLSLossless", "multiframe-HTJ2KLossless",
                   "multiframe-ExplicitVRLittleEndian",
                   "multiframe-rgb-JPEGBaseline8Bit"])
def web_file(request: pytest.FixtureRequest, web_files: dict[str, WebFile]) -> WebFile:
    return web_files[request.param]


def test_instance_equals_local_read(orthanc: OrthancServer, web_file: WebFile) -> None:
    url = orthanc.url(web_file.study, web_file.series, web_file.instance)
    local = dicomio.DicomImage(web_file.data)
    with _open(url, web_file.name) as img:
        assert img.transfer_syntax == local.transfer_syntax
        assert img.shape == local.shape and img.dtype == local.dtype
        remote = img.read()
        assert img.photometric == local.photometric  # after decoding
    expected = local.read()
    assert remote.dtype == expected.dtype
    np.testing.assert_array_equal(remote, expected)
    assert PASSWORD not in str(img.path) and img.path.startswith("http://127.0.0.1")


def test_one_frame_fetches_only_that_frame(orthanc: OrthancServer,
                                           web_files: dict[str, WebFile],
                                           requests_log: list[Any]) -> None:
    f = web_files["multiframe-JPEGLSLossless"]
    url = orthanc.url(f.study, f.series, f.instance)
    img = dicomio.DicomImage(url)
    opened = list(requests_log)
    # Metadata, and (at the same time) frame 1 to learn the stored syntax
    # (the metadata of Orthanc has no (0002,0010)).
    assert sorted(u.rsplit("/", 1)[-1] for _, u, _, _ in opened) == ["1", "metadata"]
    requests_log.clear()
    local = dicomio.DicomImage(f.data)
    np.testing.assert_array_equal(img.read(17), local.read(17))
    assert len(requests_log) == 1
    method, got_url, status, nbytes = requests_log[0]
    assert got_url.endswith(f"/instances/{f.instance}/frames/18") and status == 200
    frame = local._frame_bytes(17)
    # The frame's own bytes plus the multipart framing, nothing else.
    assert len(frame) <= nbytes < len(frame) + 512
    assert nbytes * 10 < len(f.data)
    # No request ever asked for the whole instance.
    assert all("/frames/" in u or u.endswith("/metadata") for _, u, _, _ in opened)


def test_whole_read_batches_frames(orthanc: OrthancServer, web_files: dict[str, WebFile],
                                   requests_log: list[Any]) -> None:
    f = web_files["multiframe-JPEGLSLossless"]
    opts = WebOptions(auth=(USER, PASSWORD), frames_per_request=5, concurrency=3)
    url = orthanc.url(f.study, f.series, f.instance, credentials=False)
    img = dicomio.DicomImage(url, auth=(USER, PASSWORD))
    requests_log.clear()
    client, _ = dicomweb.client_for(url, opts)
    frames = dicomweb.InstanceFrames(client, url.split("?")[0], img.n_frames)
    frames.prefetch(range(img.n_frames))
    assert len(requests_log) == 5  # 24 frames, 5 per request
    local = dicomio.DicomImage(f.data)
    for i in range(img.n_frames):
        assert frames.frame(i) == local._frame_bytes(i)
    requests_log.clear()
    np.testing.assert_array_equal(img.read(), local.read())
    # Frame 1 was fetched at open; the 23 others in one request (50 at most).
    assert len(requests_log) == 1 and requests_log[0][1].endswith(
        "/frames/" + ",".join(str(k) for k in range(2, 25)))


def test_whole_read_of_a_large_instance_is_one_request(
        orthanc: OrthancServer, web_files: dict[str, WebFile],
        requests_log: list[Any]) -> None:
    f = web_files["multiframe-JPEGLSLossless"]
    url = orthanc.url(f.study, f.series, f.instance, credentials=False)
    dicomio.configure_web(url, auth=(USER, PASSWORD), frames_per_request=10)
    try:
        img = dicomio.DicomImage(url)
        local = dicomio.DicomImage(f.data)
        requests_log.clear()
        np.testing.assert_array_equal(img.read(range(3, 20)), local.read(range(3, 20)))
        assert len(requests_log) == 2  # 17 frames, 10 per request
        requests_log.clear()
        np.testing.assert_array_equal(img.read(), local.read())
        ((_, got, _, nbytes),) = requests_log
        assert got.endswith(f"/instances/{f.instance}") and nbytes >= len(f.data)
        requests_log.clear()
        np.testing.assert_array_equal(img.read(7), local.read(7))
        assert requests_log == []  # held since
    finally:
        dicomio.configure_web(url)


def test_series_and_study_urls(orthanc: OrthancServer,
                               web_volume: tuple[str, Any, np.ndarray],
                               requests_log: list[Any]) -> None:
    study, folder, vol = web_volume
    found = dicomio.read_series(orthanc.url(study))
    # Sorting and geometry from one metadata request, no pixels.
    assert len(requests_log) == 1 and requests_log[0][1].endswith("/metadata")
    local = dicomio.read_series(str(folder))
    assert [s.shape for s in found] == [s.shape for s in local] == [vol.shape] * 2
    for remote, here in zip(found, local):
        np.testing.assert_allclose(remote.geometry.affine, here.geometry.affine)
        assert remote.geometry.spacing == here.geometry.spacing
        got = remote.read(rescale=True)
        np.testing.assert_array_equal(got, here.read(rescale=True))
        np.testing.assert_array_equal(remote.read(), vol)
    # A series URL gives that series alone.
    uid = str(found[1].headers[0].SeriesInstanceUID)
    one = dicomio.read_series(orthanc.url(study, uid))
    assert len(one) == 1 and one[0].headers[0].SeriesInstanceUID == uid
    np.testing.assert_array_equal(one[0].read(), vol)


def test_series_metadata_only(orthanc: OrthancServer,
                              web_volume: tuple[str, Any, np.ndarray],
                              requests_log: list[Any]) -> None:
    study, _, vol = web_volume
    result = dicomio.series.scan(orthanc.url(study))
    assert result.n_files == 2 * len(vol)
    assert [u.rsplit("/", 1)[-1] for _, u, _, _ in requests_log] == ["metadata"]
    s = result.series[0]
    requests_log.clear()
    np.testing.assert_array_equal(s.read(3), vol[3])
    assert len(requests_log) <= 2  # at most the frame (and no other slice)
    assert all("/frames/1" in u for _, u, _, _ in requests_log)


def test_credentials_forms(orthanc: OrthancServer, web_files: dict[str, WebFile]) -> None:
    f = web_files["CT_small.dcm"]
    plain = orthanc.url(f.study, f.series, f.instance, credentials=False)
    expected = dicomio.DicomImage(f.data).read()
    np.testing.assert_array_equal(dicomio.DicomImage(plain, auth=(USER, PASSWORD)).read(),
                                  expected)
    dicomio.configure_web(orthanc.dicomweb, auth=(USER, PASSWORD))
    try:
        np.testing.assert_array_equal(dicomio.DicomImage(plain).read(), expected)
    finally:
        dicomio.configure_web(orthanc.dicomweb)


@pytest.mark.parametrize("case", ["wrong password", "unknown UID", "unknown instance"])
def test_errors_name_the_url(orthanc: OrthancServer, web_files: dict[str, WebFile],
                             case: str) -> None:
    f = web_files["CT_small.dcm"]
    if case == "wrong password":
        url = orthanc.url(f.study, f.series, f.instance).replace(PASSWORD, "nope-pw")
    elif case == "unknown UID":
        url = orthanc.url("1.2.3.4.5")
    else:
        url = orthanc.url(f.study, f.series, "1.2.3.999")
    reader = dicomio.read_series if case == "unknown UID" else dicomio.DicomImage
    exc = _within(10, lambda: reader(url))
    assert isinstance(exc, DicomioError), exc
    text = str(exc)
    assert "127.0.0.1" in text and "nope-pw" not in text and PASSWORD not in text
    if case == "wrong password":
        assert "401" in text


def test_server_down() -> None:
    url = (f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/dicom-web/studies/1.2"
           "/series/3/instances/4")
    exc = _within(10, lambda: dicomio.DicomImage(url))
    assert isinstance(exc, RemoteError), exc
    assert "cannot reach the server" in str(exc) and PASSWORD not in str(exc)


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Claims more bytes than it sends, or a multipart body without its end."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/metadata"):
            body = b'[{"00080018": {"vr": "UI", "Value": ["1.2'
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body) + 500))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        body = b"--XX\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01"
        self.send_response(200)
        self.send_header("Content-Type", 'multipart/related; type="application/'
                         'octet-stream"; boundary=XX')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def truncating() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Truncating)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://u:{PASSWORD}@127.0.0.1:{httpd.server_address[1]}/dicom-web"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(10)


def test_truncated_responses(truncating: str) -> None:
    exc = _within(10, lambda: dicomio.DicomImage(f"{truncating}/studies/1/series/2"
                                                 "/instances/3"))
    assert isinstance(exc, RemoteError) and "truncated" in str(exc)
    assert PASSWORD not in str(exc) and "127.0.0.1" in str(exc)
    client, _ = dicomweb.client_for(f"{truncating}/studies/1")
    exc = _within(10, lambda: client.frames(f"{client.base}/studies/1/series/2/"
                                            "instances/3", [1]))
    assert isinstance(exc, RemoteError) and "truncated" in str(exc)


def test_multipart_parsing() -> None:
    body = (b"preamble\r\n--b1\r\nContent-Type: image/jpeg; transfer-syntax="
            b"1.2.840.10008.1.2.4.70\r\n\r\n\xff\xd8\r\n--b1\r\nContent-Type: "
            b"image/jphc\r\n\r\nxyz\r\n--b1--\r\n")
    parts = dicomweb.split_multipart(body, 'multipart/related; type="image/jpeg"; '
                                     'boundary="b1"', "http://h/x")
    assert [c for _, c in parts] == [b"\xff\xd8", b"xyz"]
    assert [dicomweb.part_syntax(h) for h, _ in parts] == [
        "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.201"]
    with pytest.raises(dicomweb.FramesUnavailable):
        dicomweb.split_multipart(b"x", "application/dicom", "http://h/x")


def test_metadata_has_no_pixels(orthanc: OrthancServer, web_files: dict[str, WebFile],
                                requests_log: list[Any]) -> None:
    f = web_files["liver.dcm"]
    client, parsed = dicomweb.client_for(orthanc.url(f.study, f.series))
    (ds,) = client.metadata(parsed.url)
    assert ds.SOPInstanceUID == f.instance and "PixelData" not in ds or \
        ds.get("PixelData") is None
    assert requests_log[-1][3] < len(f.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.Rows > 0
