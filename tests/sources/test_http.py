"""DICOM files at plain URLs: byte ranges from a loopback server, fsspec URLs."""
from __future__ import annotations

import numpy as np
import pytest

import dicomio
from dicomio import encode
from dicomio.errors import RemoteError
from dicomio.sources.http import RangeReader

from .conftest import RangeServer


def _multiframe(ts: str = "JPEGLSLossless", n: int = 12) -> bytes:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 4096, (n, 128, 120), dtype=np.uint16)
    return encode.dataset_bytes(encode.make_dataset(
        arr, ts, multiframe=True, uid_seed=f"http-{ts}",
        bits_stored=16 if ts.startswith("HTJ2K") else 12))


@pytest.mark.parametrize("ts", ["JPEGLSLossless", "ExplicitVRLittleEndian",
                                "RLELossless", "ExplicitVRBigEndian"])
def test_header_then_only_frame_bytes(range_server: RangeServer, ts: str) -> None:
    data = _multiframe(ts)
    (range_server.folder / "mf.dcm").write_bytes(data)
    local = dicomio.DicomImage(data)
    img = dicomio.DicomImage(f"{range_server.root}/mf.dcm")
    opened = range_server.stats["bytes"]
    # The header block (64 KiB) and the fragment item headers at most.
    assert opened <= (1 << 16) + 8 * (local.n_frames + 2) + 16
    assert opened < len(data) // 3
    range_server.reset()
    np.testing.assert_array_equal(img.read(5), local.read(5))
    frame = local._frame_bytes(5)
    assert range_server.stats["bytes"] == len(frame)
    assert range_server.stats["requests"] == 1
    np.testing.assert_array_equal(img.read(), local.read())
    assert img.photometric == local.photometric
    assert img.path == f"{range_server.root}/mf.dcm"


def test_pydicom_files_over_http(range_server: RangeServer) -> None:
    import pydicom.data

    for name in ("CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "emri_small_jpeg_2k_lossless.dcm",
                 "SC_rgb_rle_2frame.dcm", "image_dfl.dcm"):
        path = pydicom.data.get_testdata_file(name)
        data = open(path, "rb").read()
        (range_server.folder / name).write_bytes(data)
        img = dicomio.DicomImage(f"{range_server.root}/{name}")
        np.testing.assert_array_equal(img.read(), dicomio.DicomImage(path).read())


def test_server_without_ranges(range_server: RangeServer) -> None:
    data = _multiframe()
    (range_server.folder / "mf.dcm").write_bytes(data)
    range_server.stats["no_ranges"] = True
    img = dicomio.DicomImage(f"{range_server.root}/mf.dcm")
    np.testing.assert_array_equal(img.read(), dicomio.DicomImage(data).read())
    assert range_server.stats["requests"] == 1  # the whole file, once


def test_missing_file_names_the_url(range_server: RangeServer) -> None:
    url = f"http://user:hunter2@{range_server.root[7:]}/none.dcm"
    with pytest.raises(RemoteError, match="404") as info:
        dicomio.DicomImage(url)
    assert "hunter2" not in str(info.value) and "user:***@" in str(info.value)


def test_reader_ranges(range_server: RangeServer) -> None:
    data = bytes(range(256)) * 1000
    (range_server.folder / "blob").write_bytes(data)
    r = RangeReader(f"{range_server.root}/blob")
    assert r.size == len(data)
    assert r.read(70_000, 10) == data[70_000:70_010]
    buf = bytearray(100)
    assert r.readinto(255_950, buf) == 50 and bytes(buf[:50]) == data[-50:]
    fh = r.filelike()
    fh.seek(1000)
    assert fh.read(5) == data[1000:1005]


def test_fsspec_url() -> None:
    fsspec = pytest.importorskip("fsspec")
    data = _multiframe("HTJ2KLossless", 4)
    fs = fsspec.filesystem("memory")
    with fs.open("/dicomio-test/mf.dcm", "wb") as fh:
        fh.write(data)
    try:
        img = dicomio.DicomImage("memory://dicomio-test/mf.dcm")
        np.testing.assert_array_equal(img.read(2), dicomio.DicomImage(data).read(2))
    finally:
        fs.rm("/dicomio-test/mf.dcm")


def test_unknown_scheme_says_what_to_install() -> None:
    with pytest.raises(dicomio.DicomioError, match="fsspec|cannot open"):
        dicomio.DicomImage("nosuchscheme://bucket/key.dcm")


