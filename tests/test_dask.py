"""dicomio.dask: lazy arrays, bulk jobs, and a real dask.distributed cluster."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio import encode
from dicomio.errors import DecodeError, DicomioError, SeriesError
from dicomio.image import DicomImage
from dicomio.series import scan
from tests.conftest import corpus_file

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import dicomio.dask as ddask  # noqa: E402

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


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("series")
    _write_series(folder, encode.uid_from("dicomio-dask-series"), N_SLICES, 9)
    return folder


@pytest.fixture(scope="module")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-frame JPEG-LS file with a modality LUT."""
    path = tmp_path_factory.mktemp("mf") / "multiframe.dcm"
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 1 << 12, (20, 32, 24), dtype=np.uint16)
    encode.write(path, frames, "JPEGLSLossless", bits_stored=12, rescale=(2, -100))
    return path


@pytest.fixture(scope="module")
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


# ---------------------------------------------------------------------------
# to_dask: structure, laziness, pickling
# ---------------------------------------------------------------------------
def test_file_shape_and_dtype_without_decoding(multiframe: Path,
                                               count_decodes: list[int]) -> None:
    img = DicomImage(multiframe)
    arr = dicomio.to_dask(multiframe)
    assert arr.shape == img.shape == (20, 32, 24)
    assert arr.dtype == img.dtype
    assert arr.chunks == ((1,) * 20, (32,), (24,))
    assert dicomio.to_dask(multiframe, rescale=True).dtype == img.rescaled_dtype
    assert count_decodes == []
    # Computing one frame decodes that frame only.
    frame = arr[5].compute(scheduler="threads")
    assert count_decodes == [5]
    assert np.array_equal(frame, dicomio.imread(multiframe, 5))


def test_corrupt_pixel_data_builds_then_fails_on_compute(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.dcm"
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    encode.write(path, frames, "JPEG2000Lossless")
    _corrupt_j2k(path)
    arr = dicomio.to_dask(path)  # only the header is read
    assert arr.shape == (4, 16, 16) and arr.dtype == np.uint16
    with pytest.raises(DicomioError) as info:
        arr[2].compute(scheduler="sync")
    assert isinstance(info.value, DecodeError)
    assert info.value.frame == 2 and info.value.path == str(path)


def test_graph_pickles_small(tmp_path: Path) -> None:
    path = tmp_path / "many.dcm"
    frames = np.random.default_rng(1).integers(0, 255, (500, 16, 16), dtype=np.uint8)
    encode.write(path, frames, "RLELossless")
    arr = dicomio.to_dask(path)
    assert arr.numblocks[0] == 500
    size = len(pickle.dumps(arr.dask))
    assert size < 64_000, size
    # The graph stays the same size whatever the pixels weigh: no data in it.
    assert size < frames.nbytes / 2
    clone = pickle.loads(pickle.dumps(arr))
    assert np.array_equal(clone[::50].compute(scheduler="sync"), frames[::50])


def test_series_graph_pickles_small(series_dir: Path) -> None:
    arr = dicomio.to_dask(series_dir, rescale=True)
    per_slice = len(pickle.dumps(arr.dask)) / N_SLICES
    assert per_slice < 400, per_slice


def test_single_frame_file_is_one_2d_chunk() -> None:
    path = corpus_file("CT_small.dcm")
    arr = dicomio.to_dask(path, rescale=True)
    assert arr.ndim == 2 and arr.numblocks == (1, 1)
    assert np.array_equal(arr.compute(scheduler="sync"),
                          dicomio.imread(path, rescale=True))


def test_frames_per_chunk(multiframe: Path, rgb_file: Path) -> None:
    arr = dicomio.to_dask(multiframe, frames_per_chunk=7, rescale=True)
    assert arr.chunks[0] == (7, 7, 6)
    assert np.array_equal(arr.compute(scheduler="threads"),
                          dicomio.imread(multiframe, rescale=True))
    rgb = dicomio.to_dask(rgb_file, frames_per_chunk=5)
    assert rgb.chunks == ((2,), (100,), (100,), (3,))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            dicomio.to_dask(multiframe, frames_per_chunk=bad)


def test_native_colour(tmp_path: Path) -> None:
    path = corpus_file("SC_rgb_jpeg_dcmtk.dcm")
    native = dicomio.to_dask(path, color="native").compute(scheduler="sync")
    assert np.array_equal(native, dicomio.imread(path, color="native"))
    assert not np.array_equal(native, dicomio.imread(path))
    with pytest.raises(ValueError):
        dicomio.to_dask(path, color="bgr")


def test_series_sources_agree(series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    files = sorted(series_dir.iterdir())
    from_series = dicomio.to_dask(series, frames_per_chunk=5)
    from_folder = dicomio.to_dask(series_dir, frames_per_chunk=5)
    from_list = dicomio.to_dask(files, frames_per_chunk=5)
    assert from_series.name == from_folder.name == from_list.name
    assert from_series.chunks[0] == (5, 5, 2)
    assert from_series.shape == series.shape and from_series.dtype == series.dtype
    assert np.array_equal(from_folder.compute(scheduler="threads"), series.read())
    hu = dicomio.to_dask(series, rescale=True)
    assert hu.dtype == series.rescaled_dtype()
    assert np.array_equal(hu.compute(scheduler="threads"), series.read(rescale=True))


def test_folder_with_several_series(series_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    shutil.copytree(series_dir, folder / "a")
    _write_series(folder / "b", encode.uid_from("dicomio-dask-other"), 3, 4)
    with pytest.raises(SeriesError) as info:
        dicomio.to_dask(folder)
    text = str(info.value)
    assert "2 series" in text and "[0]" in text and "[1]" in text
    picked = [dicomio.to_dask(folder, series=i) for i in (0, 1)]
    assert sorted(a.shape[0] for a in picked) == [3, N_SLICES]
    with pytest.raises(SeriesError):
        dicomio.to_dask(folder, series=5)
    with pytest.raises(ValueError):
        dicomio.to_dask(folder / "a" / "im000", series=0)


@pytest.mark.filterwarnings("ignore::dicomio.series.SeriesWarning")
def test_dicomdir_source() -> None:
    import pydicom

    dicomdir = Path(pydicom.__file__).parent / "data/test_files/dicomdirtests/DICOMDIR"
    if not dicomdir.exists():
        pytest.skip("pydicom's DICOMDIR test files are not installed")
    with pytest.raises(SeriesError, match=r"holds \d+ series; pass series="):
        dicomio.to_dask(dicomdir)
    first = scan(dicomdir).series[0]
    arr = dicomio.to_dask(dicomdir, series=first.key)
    assert np.array_equal(arr.compute(scheduler="sync"), first.read())


def test_in_memory_sources_are_refused(multiframe: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask(multiframe.read_bytes())
    with open(multiframe, "rb") as fh, pytest.raises(TypeError, match="path"):
        dicomio.to_dask(fh)
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask(DicomImage(multiframe).dataset)
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask([])


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_local_schedulers_equal_eager(scheduler: str, multiframe: Path,
                                      rgb_file: Path, series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    arrays = (
        dicomio.to_dask(multiframe, frames_per_chunk=3),
        dicomio.to_dask(multiframe, rescale=True),
        dicomio.to_dask(rgb_file),
        dicomio.to_dask(series),
        dicomio.to_dask(series, rescale=True, frames_per_chunk=4),
    )
    expected = (
        dicomio.imread(multiframe),
        dicomio.imread(multiframe, rescale=True),
        dicomio.imread(rgb_file),
        series.read(),
        series.read(rescale=True),
    )
    kwargs: dict[str, Any] = {"num_workers": 2} if scheduler != "sync" else {}
    results = dask.compute(*arrays, scheduler=scheduler, **kwargs)
    for got, want in zip(results, expected):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_large_multiframe_threads() -> None:
    path = corpus_file("color3d_jpeg_baseline.dcm")
    arr = dicomio.to_dask(path, frames_per_chunk=10)
    assert arr.shape == (120, 480, 640, 3) and arr.numblocks[0] == 12
    assert np.array_equal(arr.compute(scheduler="threads"), dicomio.imread(path))


# ---------------------------------------------------------------------------
# Bulk jobs on local schedulers
# ---------------------------------------------------------------------------
@pytest.fixture
def mixed_inputs(series_dir: Path, rgb_file: Path, tmp_path: Path) -> list[Path]:
    """Good files plus a corrupt one and a non-DICOM one."""
    bad = tmp_path / "in" / "corrupt.dcm"
    bad.parent.mkdir()
    encode.write(bad, np.ones((2, 8, 8), np.uint16), "JPEG2000Lossless")
    _corrupt_j2k(bad)
    text = tmp_path / "in" / "notes.dcm"
    text.write_text("not a DICOM file\n")
    good = sorted(series_dir.iterdir())[:4] + [rgb_file]
    return [*good, bad, text]


def test_decompress_many_reports_and_resumes(mixed_inputs: list[Path],
                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    dests = [out / "sub" / f"{i}_{p.name}" for i, p in enumerate(mixed_inputs)]
    report = ddask.decompress_many(mixed_inputs, dests, scheduler="threads")
    assert [r["source"] for r in report] == [str(p) for p in mixed_inputs]
    assert [r["ok"] for r in report] == [True] * 5 + [False, False]
    assert not any(r["skipped"] for r in report)
    corrupt, text = report[5], report[6]
    assert "corrupt.dcm" in corrupt["error"] and "frame 0" in corrupt["error"]
    assert "notes.dcm" in text["error"] and "not a DICOM file" in text["error"]
    assert not dests[5].exists() and not dests[6].exists()
    for src, dst in zip(mixed_inputs[:5], dests[:5]):
        written = DicomImage(dst)
        assert written.transfer_syntax.keyword == "ExplicitVRLittleEndian"
        assert np.array_equal(written.read(), dicomio.imread(src))
        assert ddask.output_complete(src, dst)
    assert _leftovers(out) == []

    # A re-run keeps complete outputs and redoes missing or broken ones.
    dests[0].unlink()
    data = dests[1].read_bytes()
    dests[1].write_bytes(data[: len(data) - 100])  # truncated by someone else
    stage = out / "sub" / f".dicomio-{dests[2].name}.part"  # a killed attempt
    stage.mkdir()
    (stage / ".dicomio-abc123.part").write_bytes(b"half a file")
    again = ddask.decompress_many(mixed_inputs[:5], dests[:5], scheduler="sync")
    assert [r["ok"] for r in again] == [True] * 5
    assert [r["skipped"] for r in again] == [False, False, True, True, True]
    assert np.array_equal(DicomImage(dests[1]).read(),
                          dicomio.imread(mixed_inputs[1]))
    assert _leftovers(out) == []
    forced = ddask.decompress_many(mixed_inputs[:2], dests[:2], overwrite=True,
                                   scheduler="sync")
    assert [r["skipped"] for r in forced] == [False, False]


def test_decompress_many_processes(series_dir: Path, tmp_path: Path) -> None:
    srcs = sorted(series_dir.iterdir())[:3]
    dests = [tmp_path / p.name for p in srcs]
    report = ddask.decompress_many(srcs, dests, scheduler="processes")
    assert all(r["ok"] for r in report)
    for src, dst in zip(srcs, dests):
        assert np.array_equal(dicomio.imread(dst), dicomio.imread(src))


def test_decompress_many_validates_arguments(multiframe: Path,
                                             tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="destinations"):
        ddask.decompress_many([multiframe], [])
    with pytest.raises(ValueError, match="both be written"):
        ddask.decompress_many([multiframe, multiframe],
                              [tmp_path / "x.dcm", tmp_path / "." / "x.dcm"])
    assert ddask.decompress_many([], []) == []
    report = ddask.decompress_many([multiframe], [multiframe], scheduler="sync")
    assert not report[0]["ok"] and "overwrite its source" in report[0]["error"]


def test_decompress_many_retries_unexpected_errors(
        multiframe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    # The module, not the dicomio.decompress function of the same name.
    dec = importlib.import_module("dicomio.encode.decompress")

    real = dec.decompress
    failures = {"left": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError("transient network file system error")
        return real(*args, **kwargs)

    monkeypatch.setattr(dec, "decompress", flaky)
    failures["left"] = 1
    ok = ddask.decompress_many([multiframe], [tmp_path / "a.dcm"], scheduler="sync")
    assert ok[0]["ok"] and failures["left"] == 0
    failures["left"] = 2
    bad = ddask.decompress_many([multiframe], [tmp_path / "b.dcm"], scheduler="sync",
                                retries=1)
    assert not bad[0]["ok"] and bad[0]["error"].startswith("OSError: transient")
    assert _leftovers(tmp_path) == []


def test_unreachable_scheduler_is_one_clear_error(multiframe: Path,
                                                  tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(DicomioError, match="cannot connect to the dask scheduler"):
        ddask.decompress_many([multiframe], [tmp_path / "x.dcm"],
                              scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="needs a running"):
        ddask.decode_many([multiframe], scheduler="distributed")


def test_decode_many(mixed_inputs: list[Path]) -> None:
    report = ddask.decode_many(mixed_inputs, scheduler="threads", rescale=True)
    assert [r["ok"] for r in report] == [True] * 5 + [False, False]
    for src, r in zip(mixed_inputs[:5], report):
        assert np.array_equal(r["array"], dicomio.imread(src, rescale=True))
    assert report[5]["array"] is None and "corrupt.dcm" in report[5]["error"]


# ---------------------------------------------------------------------------
# A real dask.distributed cluster on loopback
# ---------------------------------------------------------------------------
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


@pytest.fixture(scope="module")
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


@_cluster_test
@pytest.mark.parametrize("frames_per_chunk", [1, 4])
def test_cluster_equals_eager(client: Any, frames_per_chunk: int, multiframe: Path,
                              rgb_file: Path, series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    arrays = [
        dicomio.to_dask(series_dir, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(series, rescale=True, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(multiframe, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(rgb_file, frames_per_chunk=frames_per_chunk),
    ]
    expected = [series.read(), series.read(rescale=True), dicomio.imread(multiframe),
                dicomio.imread(rgb_file)]
    results = client.gather(client.compute(arrays))
    for got, want in zip(results, expected):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # A reduction runs on the workers; only the small answer comes back.
    total = client.compute(arrays[1].sum(dtype=np.int64)).result()
    assert total == expected[1].sum(dtype=np.int64)


@_cluster_test
def test_cluster_decompress_many_and_cli(cluster: Any, client: Any,
                                         mixed_inputs: list[Path],
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from dicomio import cli

    out = tmp_path / "out"
    dests = [out / p.name for p in mixed_inputs]
    report = ddask.decompress_many(mixed_inputs, dests, scheduler=client)
    assert [r["ok"] for r in report] == [True] * 5 + [False, False]
    assert "corrupt.dcm" in report[5]["error"]
    for src, dst in zip(mixed_inputs[:5], dests[:5]):
        assert np.array_equal(dicomio.imread(dst), dicomio.imread(src))
    # The command line, pointed at the scheduler's address.
    folder = mixed_inputs[0].parent
    rc = cli.main(["decompress", str(folder), str(tmp_path / "cli"),
                   "--dask-scheduler", cluster.scheduler_address])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"{N_SLICES} written" in captured.out and "0 failed" in captured.out
    for src in folder.iterdir():
        assert np.array_equal(dicomio.imread(tmp_path / "cli" / src.name),
                              dicomio.imread(src))
    rc = cli.main(["decompress", str(tmp_path / "in"), str(tmp_path / "cli2"),
                   "--dask-scheduler", cluster.scheduler_address])
    captured = capsys.readouterr()
    assert rc == 1 and "FAILED" in captured.err and "corrupt.dcm" in captured.err


# -- fault injection: functions run inside the worker processes ----------------
def _slow_reads(delay: float) -> None:
    """Make every DicomImage.read in this worker sleep first."""
    original = getattr(DicomImage.read, "_dicomio_original", DicomImage.read)

    def read(self: DicomImage, *args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return original(self, *args, **kwargs)

    read._dicomio_original = original  # type: ignore[attr-defined]
    DicomImage.read = read  # type: ignore[method-assign]


def _slow_writes(delay: float, marker_dir: str) -> None:
    """After each file write: leave a marker naming this process, then sleep.

    The temporary file is then complete on disk but not yet renamed, the
    worst moment for the process to die.
    """
    import pydicom

    original = getattr(pydicom.dcmwrite, "_dicomio_original", pydicom.dcmwrite)

    def dcmwrite(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        Path(marker_dir, str(os.getpid())).touch()
        time.sleep(delay)
        return result

    dcmwrite._dicomio_original = original  # type: ignore[attr-defined]
    pydicom.dcmwrite = dcmwrite


def _undo_patches() -> None:
    import pydicom

    read = getattr(DicomImage.read, "_dicomio_original", None)
    if read is not None:
        DicomImage.read = read  # type: ignore[method-assign]
    write = getattr(pydicom.dcmwrite, "_dicomio_original", None)
    if write is not None:
        pydicom.dcmwrite = write


def _wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the cluster")


@_cluster_test
def test_worker_killed_mid_compute(client: Any, series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    expected = series.read(rescale=True)
    pids = client.run(os.getpid)
    client.run(_slow_reads, 0.3)
    try:
        arr = dicomio.to_dask(series, rescale=True)
        future = client.compute(arr)
        victim = _wait_for(lambda: next(
            (w for w, keys in client.processing().items() if keys), None))
        assert not future.done()
        os.kill(pids[victim], signal.SIGKILL)
        result = future.result(timeout=120)
    finally:
        client.run(_undo_patches)
    assert np.array_equal(result, expected)
    # The nanny replaced the dead worker.
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()


@_cluster_test
def test_worker_killed_mid_write(client: Any, series_dir: Path, tmp_path: Path) -> None:
    srcs = sorted(series_dir.iterdir())[:6]
    out = tmp_path / "out"
    dests = [out / p.name for p in srcs]
    markers = tmp_path / "markers"
    markers.mkdir()
    client.run(_slow_writes, 1.0, str(markers))
    try:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(ddask.decompress_many, srcs, dests,
                                  scheduler=client)
            pid = int(_wait_for(lambda: next(iter(os.listdir(markers)), None)))
            # That worker has a complete temporary file not yet renamed.
            assert any(p.is_file() for p in _leftovers(out))
            os.kill(pid, signal.SIGKILL)
            report = running.result(timeout=120)
    finally:
        client.run(_undo_patches)
    assert [r["ok"] for r in report] == [True] * len(srcs), report
    assert _leftovers(out) == []
    for src, dst in zip(srcs, dests):
        assert np.array_equal(dicomio.imread(dst), dicomio.imread(src))
    again = ddask.decompress_many(srcs, dests, scheduler=client)
    assert all(r["ok"] and r["skipped"] for r in again)
    client.wait_for_workers(2, timeout=60)

