"""Many threads decoding at once give the serial results."""

from __future__ import annotations

import random
import threading
import warnings

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, registry
from tests.conftest import corpus_file
from tests.robustness._hostile import _no_bot_split_frames


# --------------------------------------------------------- concurrency
def _stress_files() -> list[tuple[str, bytes]]:
    files = [
        (f"sample:{k}", p.read_bytes()) for k, p in dicomio.samples.all_paths().items()
    ]
    for name in (
        "SC_rgb_rle_2frame.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "JPEGLSNearLossless_16.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ):
        try:
            files.append((name, corpus_file(name).read_bytes()))
        except pytest.skip.Exception:
            continue
    files.append(("no-bot-frames", _no_bot_split_frames()))
    return files


def test_many_threads_give_the_serial_results():
    files = _stress_files()
    backends = [None, "pylibjpeg", "gdcm", "native"]
    jobs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, data in files:
            img = DicomImage(data)
            capable = {b.name for b in registry.candidates(img.spec)}
            for be in backends:
                if be is None or be in capable:
                    try:
                        ref = DicomImage(data, backend=be, threads=1).read(...)
                    except dicomio.DicomioError:
                        continue
                    jobs.append((name, data, be, ref))
        shared = {
            (name, be): DicomImage(data, backend=be) for name, data, be, _ in jobs
        }
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        order = list(jobs) * 3
        random.Random(seed).shuffle(order)
        barrier.wait()
        for name, data, be, ref in order:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    own = DicomImage(data, backend=be, threads=2).read(...)
                    same = shared[(name, be)].read(...)
                    one = shared[(name, be)].read(len(ref) - 1)
                for got, expected in ((own, ref), (same, ref), (one, ref[-1])):
                    if got.shape != expected.shape or not np.array_equal(got, expected):
                        failures.append(f"{name} with {be}")
            except Exception as exc:  # noqa: BLE001 - collected, then reported
                failures.append(f"{name} with {be}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:10]
    assert len(jobs) >= 30
