"""Memory limits, hostile frame counts and decompression bombs."""

from __future__ import annotations

import struct
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage
from tests.robustness._hostile import (
    GREY8,
    GREY16,
    Encapsulated,
    _huge_claim_encapsulated,
    edit,
    make,
)


# ------------------------------------------------------ limits, bombs
def test_memory_limit_is_checked_before_allocating(monkeypatch):
    data = _huge_claim_encapsulated()
    img = DicomImage(data)
    assert img.shape == (10000, 65535, 65535, 3)
    allocations = []
    real_empty = np.empty
    monkeypatch.setattr(
        np, "empty", lambda *a, **k: allocations.append(a) or real_empty(*a, **k)
    )
    with pytest.raises(dicomio.MemoryLimitError, match="over the"):
        img.read()  # 120 TiB: over any machine's default limit
    limited = DicomImage(data, memory_limit=4 << 30)
    for index in (0, slice(0, 2), [5, 7]):  # 12 GiB a frame
        with pytest.raises(dicomio.MemoryLimitError, match="over the 4096.0 MiB"):
            limited.read(index)
    assert not allocations
    # The same file under a user's limit: refused, whatever the machine.
    small = make(GREY16, "ExplicitVRLittleEndian")
    with pytest.raises(dicomio.MemoryLimitError, match="0.0 MiB limit"):
        DicomImage(small, memory_limit=1000).read()
    monkeypatch.setenv("DICOMIO_MEMORY_LIMIT", "1KB")
    with pytest.raises(dicomio.MemoryLimitError):
        DicomImage(small).read()


def test_hostile_frame_count_costs_nothing():
    # Found while fuzzing: 1 x 1 pixels, Number of Frames 2**31 - 1 and no
    # pixel data made read() build a 2-billion-entry index list and hang.
    data = edit(
        make(GREY8[:1], "ExplicitVRLittleEndian"),
        lambda ds: (
            setattr(ds, "NumberOfFrames", 2**31 - 1),
            setattr(ds, "PixelData", b""),
        ),
    )
    started = time.monotonic()
    with pytest.warns(dicomio.DicomioWarning, match="holds no complete frame"):
        img = DicomImage(data)
    assert img.n_frames == 1
    with pytest.raises(dicomio.DecodeError, match="no complete frame"):
        img.read()
    assert time.monotonic() - started < 5


def _deflate_bomb(size: int) -> bytes:
    """A valid deflated data set whose trailing padding inflates to ``size``."""
    from dicomio.dataset.deflated import _scan_meta

    data = make(GREY8[:1], "DeflatedExplicitVRLittleEndian")
    meta_end = _scan_meta(data[:4096])[0]
    body = zlib.decompress(data[meta_end:], -15)
    body += struct.pack("<HH2sHI", 0xFFFC, 0xFFFC, b"OB", 0, size)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [packer.compress(body)]
    zeros = bytes(1 << 20)
    chunks += [packer.compress(zeros) for _ in range(size >> 20)]
    chunks.append(packer.flush())
    return data[:meta_end] + b"".join(chunks)


def test_deflate_bomb_dataset_is_bounded():
    bomb = _deflate_bomb(256 << 20)  # 256 KiB on disk, 256 MiB inflated
    assert len(bomb) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(dicomio.InvalidDicomError, match="deflate bomb"):
            DicomImage(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"inflation peaked at {peak / 2**20:.0f} MiB"


def test_deflated_dataset_over_the_memory_limit():
    data = make(np.zeros((4, 64, 64), np.uint16), "DeflatedExplicitVRLittleEndian")
    with pytest.raises(dicomio.MemoryLimitError, match="header claims"):
        DicomImage(data, memory_limit=10_000)
    assert DicomImage(data, memory_limit=1 << 20).read().shape == (4, 64, 64)


def test_truncated_deflated_dataset_keeps_what_it_has():
    data = make(GREY16, "DeflatedExplicitVRLittleEndian")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = DicomImage(data[: len(data) - 200])
    assert any("ends before its deflate stream" in str(w.message) for w in caught)
    assert img.transfer_syntax.keyword == "DeflatedExplicitVRLittleEndian"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            arr = img.read()
        except dicomio.DecodeError as exc:
            assert exc.frame is not None
        else:
            np.testing.assert_array_equal(arr, GREY16[: arr.shape[0]])


def test_deflated_image_frame_bomb_is_bounded():
    # One 20 x 24 frame whose deflate stream would inflate to 64 MiB.
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = packer.compress(GREY8[0].tobytes() + bytes(64 << 20)) + packer.flush()
    good = Encapsulated.parse(make(GREY8[:1], "DeflatedImageFrameCompression"))
    good.fragments = [bomb + b"\x00" * (len(bomb) % 2)]
    good.bot = b""
    for backend in ("imagecodecs", "native"):
        tracemalloc.start()
        try:
            arr = DicomImage(good.build(), backend=backend).read()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(arr, GREY8[0])
        assert peak < 8 << 20, (backend, peak)
