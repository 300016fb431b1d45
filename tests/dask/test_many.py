"""decompress_many, decode_many, output_complete: one task per file, on local
schedulers and a real cluster (dicomio.dask.many)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio import encode
from dicomio.errors import DicomioError
from dicomio.image import DicomImage
from dicomio.series import scan
from tests.dask.conftest import (
    N_SLICES,
    _cluster_test,
    _corrupt_j2k,
    _leftovers,
)

da = pytest.importorskip("dask.array")
import dask  # noqa: E402
import dicomio.dask as ddask  # noqa: E402


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

    real = dec.decompress_file  # what each task calls
    failures = {"left": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError("transient network file system error")
        return real(*args, **kwargs)

    monkeypatch.setattr(dec, "decompress_file", flaky)
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


def test_transcode_many_copies_non_images(tmp_path: Path) -> None:
    import pydicom

    from tests.encode._archive import make_archive

    src = tmp_path / "in"
    make_archive(src)
    files = [p for p in sorted(src.rglob("*")) if p.is_file()]
    dests = [tmp_path / "out" / p.relative_to(src) for p in files]
    report = ddask.transcode_many(files, dests, "HTJ2KLossless", scheduler="sync")
    actions = {Path(r["source"]).name: (r["action"], r["skipped"]) for r in report}
    assert actions == {"DICOMDIR": ("copied", True), "SR000000": ("copied", True),
                       "IM000000": ("transcoded", False),
                       "IM000001": ("transcoded", False)}
    assert all(r["ok"] and r["error"] is None for r in report)
    assert "2 record values updated" in report[0]["note"]
    sr = next(i for i, p in enumerate(files) if p.name == "SR000000")
    assert dests[sr].read_bytes() == files[sr].read_bytes()
    records = pydicom.dcmread(dests[0]).DirectoryRecordSequence
    assert {r.get("ReferencedTransferSyntaxUIDInFile") for r in records
            if r.DirectoryRecordType == "IMAGE"} == {"1.2.840.10008.1.2.4.201"}
