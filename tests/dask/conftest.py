"""Shared data and the loopback cluster for the dask tests (one per package run,
as they were per module before the split)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomio import encode
from dicomio.image import DicomImage
from tests.conftest import corpus_file

da = pytest.importorskip("dask.array")

SERIES_SYNTAXES = ("JPEG2000Lossless", "JPEGLSLossless", "RLELossless")


N_SLICES = 12


def _write_series(folder: Path, uid: str, n: int, seed: int, shape=(48, 40)) -> None:
    """``n`` 12-bit CT slices, compressed with a mix of lossless syntaxes.

    File names do not follow slice positions, so the order must come from
    ImagePositionPatient.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        frame = rng.integers(0, 4096, shape, dtype=np.uint16)
        encode.write(folder / f"im{(k * 5) % n:03d}", frame, SERIES_SYNTAXES[k % 3],
                     bits_stored=12, series_instance_uid=uid, instance_number=k + 1,
                     image_position=(0.0, 0.0, 2.5 * k),
                     image_orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.8, 0.8),
                     rescale=(1, -1024), modality="CT")


@pytest.fixture(scope="package")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("series")
    _write_series(folder, encode.uid_from("dicomio-dask-series"), N_SLICES, 9)
    return folder


@pytest.fixture(scope="package")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-frame JPEG-LS file with a modality LUT."""
    path = tmp_path_factory.mktemp("mf") / "multiframe.dcm"
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 1 << 12, (20, 32, 24), dtype=np.uint16)
    encode.write(path, frames, "JPEGLSLossless", bits_stored=12, rescale=(2, -100))
    return path


@pytest.fixture(scope="package")
def rgb_file() -> Path:
    return corpus_file("SC_rgb_rle_2frame.dcm")


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Frames decoded in this process (threaded and sync schedulers)."""
    calls: list[int] = []
    original = DicomImage._decode_into

    def counting(self: DicomImage, i: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(i)
        return original(self, i, *args, **kwargs)

    monkeypatch.setattr(DicomImage, "_decode_into", counting)
    return calls


def _corrupt_j2k(path: Path) -> None:
    """Wreck every JPEG 2000 codestream header in place; the DICOM header survives."""
    data = bytearray(path.read_bytes())
    at = data.find(b"\xff\x4f\xff\x51")
    assert at > 0
    while at > 0:
        data[at + 4:at + 16] = b"\x00" * 12
        at = data.find(b"\xff\x4f\xff\x51", at + 4)
    path.write_bytes(bytes(data))


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".dicomio-*"))


def _cluster_test(func: Any) -> Any:
    """Mark a test that runs on the LocalCluster."""
    marks = [
        pytest.mark.distributed,
        # distributed warns about workers lost on purpose here (and on
        # shutdown); those are expected, not failures of the code under test.
        pytest.mark.filterwarnings("ignore::UserWarning:distributed"),
        pytest.mark.filterwarnings("ignore::RuntimeWarning:distributed"),
    ]
    for mark in marks:
        func = mark(func)
    return func


@pytest.fixture(scope="package")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    # No dashboard; the scheduler's small HTTP server (health checks) gets a
    # free loopback port instead of its default 8787, which may be taken.
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  worker_dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    try:
        yield cl
    finally:
        cl.close(timeout=30)


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    import distributed

    c = distributed.Client(cluster, set_as_default=False)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close()
