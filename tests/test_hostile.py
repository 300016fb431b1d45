"""Hostile and broken input: named regression cases, one per breakage class.

Every file here is made by the test itself (a few kilobytes at most). Each
case states what dicomio must do with it: decode it exactly and say what it
recovered (a DicomioWarning, also in ``img.warnings``), or refuse it with a
DicomioError that names the file, the frame, the Transfer Syntax, the
backends tried and the problem. The folder holding the input is checked
byte for byte before and after: nothing is ever written next to it.

Cases found by ``tools/fuzz.py`` are added here under a descriptive name.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import dicomio
from dicomio import DicomImage, encode, registry
from dicomio.backends import _guard
from dicomio.backends._base import Backend, Decoded, FrameContext
from dicomio.tsyntax import TRANSFER_SYNTAXES
from tests.conftest import corpus_file

ITEM = b"\xfe\xff\x00\xe0"
SEQ_DELIM = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
RNG = np.random.default_rng(20240607)
GREY8 = (np.add.outer(np.arange(3 * 20), np.arange(24)) % 251).astype(np.uint8)
GREY8 = GREY8.reshape(3, 20, 24)
GREY16 = (GREY8.astype(np.uint16) * 13 + 7).astype(np.uint16)
RGB8 = np.sort(RNG.integers(0, 256, (2, 16, 18, 3), dtype=np.uint8), axis=2)


# --------------------------------------------------------------- helpers
def make(frames: np.ndarray, syntax: str, **kwargs: Any) -> bytes:
    """A complete DICOM file holding ``frames``, as bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode.dataset_bytes(encode.make_dataset(frames, syntax, **kwargs))


def edit(data: bytes, change: Callable[[Any], None]) -> bytes:
    """Re-encode ``data`` after ``change(dataset)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), force=True)
        change(ds)
        return encode.dataset_bytes(ds)


def item(payload: bytes) -> bytes:
    return ITEM + len(payload).to_bytes(4, "little") + payload


@dataclass
class Encapsulated:
    """An encapsulated file taken apart: prefix, table, fragments, suffix."""

    head: bytes
    bot: bytes
    fragments: list[bytes]
    tail: bytes

    @classmethod
    def parse(cls, data: bytes) -> Encapsulated:
        start = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
        assert start > 0, "no encapsulated Pixel Data"
        pos = start + 12
        items = []
        while data[pos : pos + 4] == ITEM:
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            items.append(data[pos + 8 : pos + 8 + size])
            pos += 8 + size
        assert data[pos : pos + 8] == SEQ_DELIM
        return cls(data[: start + 12], items[0], items[1:], data[pos + 8 :])

    def build(self, delimiter: bool = True) -> bytes:
        body = item(self.bot) + b"".join(item(f) for f in self.fragments)
        return self.head + body + (SEQ_DELIM if delimiter else b"") + self.tail

    @staticmethod
    def table(groups: list[list[bytes]]) -> bytes:
        pos, out = 0, b""
        for group in groups:
            out += pos.to_bytes(4, "little")
            pos += sum(8 + len(f) for f in group)
        return out


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Names, sizes, mtimes and hashes of everything in ``folder``."""
    return {
        p.name: (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.iterdir())
    }


def check_error(
    exc: dicomio.DicomioError, path: Path, *, frame: bool, syntax: bool = True
) -> None:
    """The error names the file, the frame, the syntax and the backends tried."""
    text = str(exc)
    assert str(path) in text
    if syntax:
        assert exc.transfer_syntax and exc.transfer_syntax in text
    if frame:
        assert exc.frame is not None and f"frame {exc.frame}" in text
        assert exc.tried, "a frame error must list the backends tried"
        for name, why in exc.tried:
            assert name in text and why


# ---------------------------------------------------------- named cases
def _no_bot_split_frames() -> bytes:
    # Three JPEG frames of two fragments each and an empty offset table.
    enc = Encapsulated.parse(make(GREY8, "JPEGLSLossless"))
    frags = [p for f in enc.fragments for p in (f[:10], f[10:])]
    return Encapsulated(enc.head, b"", frags, enc.tail).build()


def _bot_garbage() -> bytes:
    enc = Encapsulated.parse(make(GREY16, "JPEG2000Lossless"))
    enc.bot = struct.pack("<3I", 0, 7, 0xFFFFFF00)
    return enc.build()


def _bot_not_multiple_of_4() -> bytes:
    enc = Encapsulated.parse(make(GREY16, "HTJ2KLossless"))
    enc.bot = enc.bot + b"\x00\x00"
    return enc.build()


def _split_oddly_with_table() -> bytes:
    # Every J2K frame cut in three fragments mid-codestream; a correct table.
    enc = Encapsulated.parse(make(GREY16, "JPEG2000Lossless"))
    groups = [[f[:34], f[34:102], f[102:]] for f in enc.fragments]
    return Encapsulated(
        enc.head, Encapsulated.table(groups), [p for g in groups for p in g], enc.tail
    ).build()


def _odd_length_fragment() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "JPEGBaseline8Bit"))
    enc.fragments = [
        f[:-1] if f.endswith(b"\xff\xd9\x00") else f + b"\x00" for f in enc.fragments
    ]
    enc.bot = Encapsulated.table([[f] for f in enc.fragments])
    return enc.build()


def _no_sequence_delimiter() -> bytes:
    return Encapsulated.parse(make(GREY8, "RLELossless")).build(delimiter=False)


def _frames_too_many(syntax: str) -> Callable[[], bytes]:
    return lambda: edit(
        make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 7)
    )


def _frames_too_few(syntax: str) -> Callable[[], bytes]:
    return lambda: edit(
        make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 2)
    )


def _frames_invalid(syntax: str) -> Callable[[], bytes]:
    def build() -> bytes:
        data = edit(
            make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 98765)
        )
        return data.replace(b"98765 ", b"abc   ", 1)  # pydicom refuses to write it

    return build


def _frames_one_for_three(syntax: str) -> Callable[[], bytes]:
    def build() -> bytes:
        data = make(GREY8, syntax, basic_offset_table=False)
        return edit(data, lambda ds: setattr(ds, "NumberOfFrames", 1))

    return build


def _frames_two_for_one_split() -> bytes:
    # Found by tools/fuzz.py: one JPEG frame in two fragments, Number of
    # Frames 2: the second fragment was decoded as a frame of its own.
    enc = Encapsulated.parse(make(GREY8[:1], "JPEGLSLossless"))
    frag = enc.fragments[0]
    enc.fragments, enc.bot = [frag[:20], frag[20:]], b""
    return edit(enc.build(), lambda ds: setattr(ds, "NumberOfFrames", 2))


def _trailing(
    tail: bytes, syntax: str = "ExplicitVRLittleEndian"
) -> Callable[[], bytes]:
    return lambda: make(GREY8, syntax) + tail


def _truncated_native() -> bytes:
    data = make(GREY16, "ExplicitVRLittleEndian")
    return data[: len(data) - GREY16[0].nbytes - 100]


def _deflated_trailing() -> bytes:
    return make(GREY16, "DeflatedExplicitVRLittleEndian") + b"\x01" * 40


def _bits_stored_above_allocated() -> bytes:
    return edit(make(GREY8, "RLELossless"), lambda ds: setattr(ds, "BitsStored", 12))


def _stream_precision_below_bits_stored() -> bytes:
    # An 8-bit J2K stream in a header saying 12 of 16 bits: values fit.
    return edit(
        make(GREY8, "JPEG2000Lossless"),
        lambda ds: (
            setattr(ds, "BitsAllocated", 16),
            setattr(ds, "BitsStored", 12),
            setattr(ds, "HighBit", 11),
        ),
    )


@dataclass
class Tolerated:
    """A broken file dicomio reads exactly, saying what it recovered."""

    name: str
    build: Callable[[], bytes]
    expected: np.ndarray
    warning: str | None  # regular expression; None: must be silent
    backend: str | None = None


TOLERATED = [
    Tolerated(
        "no-offset-table-frames-by-markers",
        _no_bot_split_frames,
        GREY8,
        "start markers",
    ),
    Tolerated(
        "no-offset-table-one-fragment-per-frame",
        lambda: make(GREY16, "JPEG2000Lossless", basic_offset_table=False),
        GREY16,
        None,
    ),
    Tolerated("offset-table-wrong", _bot_garbage, GREY16, "does not match"),
    Tolerated(
        "offset-table-not-multiple-of-4",
        _bot_not_multiple_of_4,
        GREY16,
        "not a multiple of 4",
    ),
    Tolerated("fragments-split-oddly", _split_oddly_with_table, GREY16, None),
    Tolerated("odd-length-fragment", _odd_length_fragment, None, "odd-length"),
    Tolerated(
        "no-sequence-delimiter", _no_sequence_delimiter, GREY8, "sequence delimiter"
    ),
    Tolerated(
        "trailing-zero-padding",
        _trailing(b"\x00" * 64),
        GREY8,
        r"64 bytes after Pixel Data ignored \(zero padding\)",
    ),
    Tolerated(
        "trailing-garbage-encapsulated",
        _trailing(b"\x01garbage" * 5, "JPEGLSLossless"),
        GREY8,
        "not a data element",
    ),
    Tolerated(
        "trailing-padding-element-is-fine",
        _trailing(b"\xfc\xff\xfc\xffOB\x00\x00" + struct.pack("<I", 8) + b"\x00" * 8),
        GREY8,
        None,
    ),
    Tolerated(
        "duplicate-sequence-delimiter-is-fine",
        _trailing(SEQ_DELIM, "RLELossless"),
        GREY8,
        None,
    ),
    Tolerated(
        "deflated-dataset-trailing-bytes",
        _deflated_trailing,
        GREY16,
        "after the deflated data set",
    ),
    Tolerated(
        "number-of-frames-too-large-native",
        _frames_too_many("ExplicitVRLittleEndian"),
        GREY8,
        "Number of Frames says 7 but Pixel Data holds 3",
    ),
    Tolerated(
        "number-of-frames-too-large-encapsulated",
        _frames_too_many("JPEG2000Lossless"),
        GREY8,
        "Number of Frames says 7 but the data holds only 3",
    ),
    Tolerated(
        "number-of-frames-too-small-native",
        _frames_too_few("ExplicitVRLittleEndian"),
        GREY8[:2],
        "beyond 2 frame",
    ),
    Tolerated(
        "number-of-frames-too-small-encapsulated",
        _frames_too_few("RLELossless"),
        GREY8[:2],
        "extra frames are ignored",
    ),
    Tolerated(
        "number-of-frames-invalid-native",
        _frames_invalid("ExplicitVRLittleEndian"),
        GREY8,
        "'abc' is invalid; counting frames",
    ),
    Tolerated(
        "number-of-frames-invalid-encapsulated",
        _frames_invalid("JPEGLSLossless"),
        GREY8,
        "'abc' is invalid; counting",
    ),
    Tolerated(
        "number-of-frames-one-for-three-codestreams",
        _frames_one_for_three("JPEG2000Lossless"),
        GREY8[0],
        "Number of Frames says 1 but the data holds 3",
    ),
    Tolerated(
        "number-of-frames-two-for-one-split-codestream",
        _frames_two_for_one_split,
        GREY8[0],
        "Number of Frames says 2 but the data holds only 1",
    ),
    Tolerated(
        "rle-frames-declared-as-one",
        _frames_one_for_three("RLELossless"),
        GREY8[0],
        "3 fragments for 1 frame",
    ),
    Tolerated("truncated-native-frames", _truncated_native, GREY16[:1], "truncated"),
    Tolerated(
        "bits-stored-above-bits-allocated",
        _bits_stored_above_allocated,
        GREY8,
        r"Bits Stored 12 is outside 1\.\.Bits Allocated 8",
    ),
    Tolerated(
        "stream-precision-below-bits-stored",
        _stream_precision_below_bits_stored,
        GREY8.astype(np.uint16),
        None,
    ),
]


@pytest.mark.parametrize("case", TOLERATED, ids=lambda c: c.name)
def test_tolerated_and_reported(case, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / f"{case.name}.dcm"
    path.write_bytes(case.build())
    before = snapshot(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = DicomImage(path, backend=case.backend)
        arr = img.read()
    ours = [str(w.message) for w in caught if w.category is dicomio.DicomioWarning]
    # pydicom's own validation warnings (an invalid IS) pass through as they are.
    others = [
        str(w.message)
        for w in caught
        if w.category is not dicomio.DicomioWarning
        and not str(w.message).startswith("Invalid value for VR")
    ]
    assert not others, others
    if case.warning is None:
        assert not ours and not img.warnings
    else:
        assert any(re.search(case.warning, m) for m in ours), ours
        assert all(str(path) in m for m in ours)  # each warning names the file
        assert any(re.search(case.warning, m) for m in img.warnings)
    expected = case.expected
    if expected is None:  # a lossy syntax: the untouched file is the reference
        enc = make(GREY8, "JPEGBaseline8Bit")
        expected = DicomImage(enc).read()
    expected = expected[0] if expected.shape[0] == 1 and arr.ndim == 2 else expected
    assert arr.shape == img.shape == expected.shape
    assert arr.dtype == img.dtype
    np.testing.assert_array_equal(arr, expected)
    img.close()
    assert snapshot(folder) == before


# ------------------------------------------------------------ refused
def _cut(syntax: str, fraction: float) -> Callable[[], bytes]:
    def build() -> bytes:
        enc = Encapsulated.parse(make(GREY16[:1], syntax))
        frag = enc.fragments[0]
        enc.fragments[0] = frag[: int(len(frag) * fraction) & ~1]
        enc.bot = b""
        return enc.build()

    return build


def _header_says(**attrs: Any) -> Callable[[], bytes]:
    def build() -> bytes:
        return edit(
            make(GREY16, "JPEG2000Lossless"),
            lambda ds: [setattr(ds, k, v) for k, v in attrs.items()],
        )

    return build


def _undefined_item() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "RLELossless"))
    data = enc.build()
    pos = len(enc.head) + 8 + len(enc.bot)
    return data[: pos + 4] + b"\xff\xff\xff\xff" + data[pos + 8 :]


def _bad_rle_header() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "RLELossless"))
    enc.fragments[1] = struct.pack("<I", 99) + enc.fragments[1][4:]
    return enc.build()


def _unknown_vr_in_image_attribute() -> bytes:
    # Found by tools/fuzz.py: a damaged VR made pydicom raise
    # NotImplementedError from inside dicomio.
    data = make(GREY8, "ExplicitVRLittleEndian")
    at = data.index(b"\x28\x00\x02\x00US")
    return data[: at + 4] + b"\x55\xff" + data[at + 6 :]


def _huge_claim_encapsulated() -> bytes:
    # 10000 frames of 65535 x 65535 x 3: fragments back the count, the
    # header's size (240 TiB) is far over any limit.
    frag = item(b"\xff\x4f\xff\x51" + b"\x00" * 4)
    head = Encapsulated.parse(make(RGB8[:1], "JPEG2000Lossless"))
    data = head.head + item(b"") + frag * 10000 + SEQ_DELIM
    return edit(
        data,
        lambda ds: (
            setattr(ds, "Rows", 65535),
            setattr(ds, "Columns", 65535),
            setattr(ds, "NumberOfFrames", 10000),
        ),
    )


@dataclass
class Refused:
    """A file dicomio must refuse with a precise DicomioError."""

    name: str
    build: Callable[[], bytes]
    error: type[dicomio.DicomioError]
    match: str
    frame: bool = False
    syntax: bool = True
    kwargs: dict[str, Any] | None = None


REFUSED = [
    Refused(
        "truncated-header",
        lambda: make(GREY8, "JPEGLSLossless")[:300],
        dicomio.InvalidDicomError,
        "truncated|not a DICOM|no Pixel Data",
        syntax=False,
    ),
    Refused(
        "truncated-before-pixel-data",
        lambda: make(GREY8, "JPEGLSLossless")[:-700],
        dicomio.InvalidDicomError,
        "truncated before it",
    ),
    Refused(
        "truncated-codestream",
        _cut("JPEG2000Lossless", 0.4),
        dicomio.DecodeError,
        "every capable backend failed",
        frame=True,
    ),
    Refused(
        "truncated-jpegls-fails-fast",
        _cut("JPEGLSLossless", 0.5),
        dicomio.DecodeError,
        "does not end with EOI",
        frame=True,
        kwargs={"backend": "imagecodecs"},
    ),
    Refused(
        "rows-contradict-codestream",
        _header_says(Rows=21),
        dicomio.DecodeError,
        "codestream has 20 rows but the header says Rows = 21",
        frame=True,
    ),
    Refused(
        "samples-contradict-codestream",
        _header_says(
            SamplesPerPixel=3, PhotometricInterpretation="RGB", PlanarConfiguration=0
        ),
        dicomio.DecodeError,
        r"1 component\(s\) but the header says Samples",
        frame=True,
    ),
    Refused(
        "bits-allocated-invalid",
        _header_says(BitsAllocated=7),
        dicomio.InvalidDicomError,
        r"\(0028,0100\) Bits Allocated value of 7",
    ),
    Refused(
        "samples-per-pixel-invalid",
        _header_says(SamplesPerPixel=2),
        dicomio.InvalidDicomError,
        r"Samples per Pixel value of 2",
    ),
    Refused(
        "rows-zero", _header_says(Rows=0), dicomio.InvalidDicomError, "must be positive"
    ),
    Refused(
        "fragment-of-undefined-length",
        _undefined_item,
        dicomio.InvalidDicomError,
        "undefined length",
    ),
    Refused(
        "rle-header-segment-count",
        _bad_rle_header,
        dicomio.DecodeError,
        "corrupt codestream header: RLE header declares 99 segments",
        frame=True,
    ),
    Refused(
        "unknown-vr-in-image-attribute",
        _unknown_vr_in_image_attribute,
        dicomio.InvalidDicomError,
        r"unreadable Image Pixel attribute.*\(0028,0002\)",
    ),
    Refused(
        "unknown-transfer-syntax",
        lambda: edit(
            make(GREY8, "ExplicitVRLittleEndian"),
            lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.3.4.5"),
        ),
        dicomio.UnsupportedTransferSyntaxError,
        "unknown Transfer Syntax UID",
        syntax=False,
    ),
    Refused(
        "huge-header-claim",
        _huge_claim_encapsulated,
        dicomio.MemoryLimitError,
        "over the .* MiB limit",
    ),
    Refused(
        "corrupt-deflated-dataset",
        lambda: (lambda d: d[:400] + bytes(b ^ 0x5A for b in d[400:]))(
            make(GREY16, "DeflatedExplicitVRLittleEndian")
        ),
        dicomio.InvalidDicomError,
        "deflated data set is corrupt",
    ),
    Refused(
        "not-dicom",
        lambda: b"\x89PNG\r\n\x1a\n" + bytes(300),
        dicomio.InvalidDicomError,
        "not a DICOM file",
        syntax=False,
    ),
    Refused(
        "empty-file", lambda: b"", dicomio.InvalidDicomError, "DICOM", syntax=False
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_refused_with_a_precise_error(case, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / f"{case.name}.dcm"
    path.write_bytes(case.build())
    before = snapshot(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recoveries before the failure
        with pytest.raises(case.error, match=case.match) as info:
            DicomImage(path, **(case.kwargs or {})).read()
    check_error(info.value, path, frame=case.frame, syntax=case.syntax)
    assert snapshot(folder) == before


def test_bytes_input_errors_name_the_source():
    with pytest.raises(dicomio.InvalidDicomError, match="<in-memory>"):
        DicomImage(b"\x00" * 200)
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(_cut("JPEG2000Lossless", 0.4)()).read()
    assert "<in-memory>" in str(info.value) and info.value.frame == 0


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


# ------------------------------------------------------ codec guarding
class _Misbehaving(Backend):
    """Test backends: crash, hang, print or fail, only inside a guard worker."""

    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)
    action = ""

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        if not _guard.IN_WORKER:
            raise RuntimeError(f"{self.name} only misbehaves in a worker")
        if self.action == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.action == "abort":
            os.abort()
        if self.action == "hang":
            time.sleep(600)
        if self.action == "print":
            os.write(1, b"codec chatter on stdout\n" * 100)
            print("more chatter", flush=True)
            from dicomio.backends import imagecodecs

            return imagecodecs.backend.decode(data, ctx)
        if self.action == "oom":
            raise MemoryError("codec asked for 1 TiB")
        raise ValueError("ordinary decoder failure")


class SegvBackend(_Misbehaving):
    name, action = "test-segv", "segv"


class AbortBackend(_Misbehaving):
    name, action = "test-abort", "abort"


class HangBackend(_Misbehaving):
    name, action = "test-hang", "hang"


class PrintBackend(_Misbehaving):
    name, action = "test-print", "print"


class FailBackend(_Misbehaving):
    name, action = "test-fail", "fail"


class MemoryBackend(Backend):
    name = "test-oom"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        raise MemoryError("codec asked for 1 TiB")


class FloatBackend(Backend):
    name = "test-float"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        return Decoded(np.full(ctx.spec.frame_shape, 0.5, np.float32), "MONOCHROME")


class WrongShapeBackend(Backend):
    name = "test-wrong-shape"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        return Decoded(np.zeros((3, 5), np.uint8), "MONOCHROME")


@pytest.fixture
def test_backends():
    backends = [
        SegvBackend(),
        AbortBackend(),
        HangBackend(),
        PrintBackend(),
        FailBackend(),
        MemoryBackend(),
        WrongShapeBackend(),
        FloatBackend(),
    ]
    for be in backends:
        registry.register(be)
    yield
    for be in backends:
        registry.unregister(be.name)


@pytest.mark.parametrize(
    "backend, sig", [("test-segv", "SIGSEGV"), ("test-abort", "SIGABRT")]
)
def test_isolate_turns_a_crash_into_a_decode_error(
    test_backends, tmp_path, backend, sig
):
    path = tmp_path / "j2k.dcm"
    path.write_bytes(make(GREY16, "JPEG2000Lossless"))
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(path, backend=backend, isolate=True).read(1)
    check_error(info.value, path, frame=True)
    assert f"backend '{backend}' crashed" in str(info.value)
    assert sig in str(info.value)
    # The frame falls back to the next backend, as after any failure.
    arr = DicomImage(path, backend=[backend, "imagecodecs"], isolate=True).read()
    np.testing.assert_array_equal(arr, GREY16)


def test_isolate_timeout_turns_a_hang_into_a_decode_error(test_backends, monkeypatch):
    monkeypatch.setenv("DICOMIO_ISOLATE_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(dicomio.DecodeError, match=r"test-hang' timed out.*2 s"):
        DicomImage(
            make(GREY8[:1], "RLELossless"), backend="test-hang", isolate=True
        ).read()
    assert time.monotonic() - started < 30


def test_isolate_keeps_errors_and_chatter_apart(test_backends):
    data = make(GREY16, "JPEG2000Lossless")
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(data, backend="test-fail", isolate=True).read(0)
    assert info.value.tried == [("test-fail", "ValueError: ordinary decoder failure")]
    arr = DicomImage(data, backend="test-print", isolate=True).read()
    np.testing.assert_array_equal(arr, GREY16)


def test_isolate_from_the_environment(monkeypatch):
    monkeypatch.setenv("DICOMIO_ISOLATE", "1")
    img = DicomImage(make(GREY16, "JPEGLSLossless"))
    assert img.isolate
    np.testing.assert_array_equal(img.read(), GREY16)
    monkeypatch.setenv("DICOMIO_ISOLATE", "0")
    assert not DicomImage(make(GREY16, "JPEGLSLossless")).isolate


def test_isolated_decoding_matches_in_process_for_every_sample():
    from dicomio import samples

    for keyword, path in samples.all_paths().items():
        ref = DicomImage(path).read()
        np.testing.assert_array_equal(
            DicomImage(path, isolate=True).read(), ref, err_msg=keyword
        )


def test_codec_memory_error_becomes_a_memory_limit_error(test_backends):
    with pytest.raises(dicomio.MemoryLimitError, match="out of memory") as info:
        DicomImage(make(GREY8, "RLELossless"), backend="test-oom").read()
    assert info.value.tried == [("test-oom", "MemoryError: codec asked for 1 TiB")]


def test_wrong_shape_or_kind_from_a_backend_is_a_decode_error(test_backends):
    data = make(GREY8, "RLELossless")
    with pytest.raises(dicomio.DecodeError, match=r"decoded shape \(3, 5\)"):
        DicomImage(data, backend="test-wrong-shape").read()
    with pytest.raises(dicomio.DecodeError, match="decoded float32 samples"):
        DicomImage(data, backend="test-float").read()


@pytest.mark.parametrize("isolate", [False, True])
def test_rust_panic_in_a_backend_is_a_decode_error(isolate):
    # Found by tools/fuzz.py: pylibjpeg-rle panics on an RLE run that passes
    # the end of its segment, and pyo3's PanicException is no Exception.
    pytest.importorskip("rle")
    enc = Encapsulated.parse(make(GREY16[:1], "RLELossless"))
    enc.fragments[0] = enc.fragments[0][:64] + b"\x81" + enc.fragments[0][65:]
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(enc.build(), backend="pylibjpeg", isolate=isolate).read()
    assert info.value.tried[0][0] == "pylibjpeg"
    assert "PanicException" in info.value.tried[0][1]


def test_rle_short_segment_is_refused_not_uninitialised():
    # Found by tools/fuzz.py: segment 4 of this frame ends 96 bytes early (the
    # next one starts there). imagecodecs left the rest of it unwritten and
    # the pixels changed from call to call (heap contents).
    enc = Encapsulated.parse(corpus_file("SC_rgb_rle_32bit.dcm").read_bytes())
    frame = bytearray(enc.fragments[0])
    start = struct.unpack_from("<I", frame, 4 * 5)[0]
    struct.pack_into("<I", frame, 4 * 5, start - 96)
    enc.fragments[0] = bytes(frame)
    data = enc.build()
    capable = [b.name for b in registry.candidates(DicomImage(data).spec)]
    for backend in capable:
        with pytest.raises(dicomio.DecodeError, match="RLE|segment") as info:
            DicomImage(data, backend=backend).read()
        assert info.value.tried[0][0] == backend


def _run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )


_GDCM_MISMATCH = """
    import warnings, numpy as np, dicomio
    from dicomio import encode
    warnings.simplefilter("ignore")
    arr = (np.arange(20 * 24).reshape(20, 24) % 251).astype(np.uint8)
    ds = encode.make_dataset(arr, {syntax!r})
    {change}
    data = encode.dataset_bytes(ds)
    try:
        out = dicomio.DicomImage(data, backend="gdcm", isolate={isolate}).read()
        print("EXACT" if np.array_equal(out, arr) else "WRONG")
    except dicomio.DicomioError as exc:
        print("ERROR", exc)
"""
_GDCM_CASES = {
    "jpegls-bits-allocated-16": ("JPEGLSLossless", "ds.BitsAllocated = 16"),
    "jpeg-lossless-bits-allocated-32": ("JPEGLossless", "ds.BitsAllocated = 32"),
    "j2k-photometric-rgb-for-one-sample": (
        "JPEG2000Lossless",
        "ds.PhotometricInterpretation = 'RGB'",
    ),
}


@pytest.mark.parametrize("case", sorted(_GDCM_CASES))
def test_gdcm_abort_is_survived_with_isolate(case):
    pytest.importorskip("gdcm")
    syntax, change = _GDCM_CASES[case]
    proc = _run_python(
        _GDCM_MISMATCH.format(syntax=syntax, change=change, isolate=True)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("EXACT") or (
        "backend 'gdcm' crashed" in out and "SIGABRT" in out
    ), out


@pytest.mark.parametrize("case", sorted(_GDCM_CASES))
def test_gdcm_header_mismatch_without_isolate(case):
    pytest.importorskip("gdcm")
    syntax, change = _GDCM_CASES[case]
    proc = _run_python(
        _GDCM_MISMATCH.format(syntax=syntax, change=change, isolate=False)
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}"
    assert proc.stdout.startswith(("EXACT", "ERROR")), proc.stdout


def test_gdcm_j2k_bits_allocated_above_stream_precision():
    pytest.importorskip("gdcm")
    proc = _run_python(
        _GDCM_MISMATCH.format(
            syntax="JPEG2000Lossless", change="ds.BitsAllocated = 16", isolate=False
        )
    )
    assert proc.stdout.startswith("EXACT"), proc.stdout


_TRUNCATED_JPEGLS = bytes.fromhex(
    "ffd8fff7000b080014001801011100ffda000801010000000007d6efa2eed8bb0f759bf77fff30"
)


def test_truncated_jpegls_does_not_burn_seconds_in_imagecodecs():
    # Found by tools/fuzz.py: this 39-byte stream (truncated, no EOI) keeps
    # CharLS busy for about 3 s before it fails.
    from dicomio.backends import imagecodecs as icb

    spec = DicomImage(make(GREY8[:1], "JPEGLSLossless")).spec
    started = time.monotonic()
    with pytest.raises(ValueError, match="EOI"):
        icb.backend.decode(_TRUNCATED_JPEGLS, FrameContext(spec=spec))
    assert time.monotonic() - started < 0.5


def test_truncated_jpegls_does_not_burn_seconds_in_pyjpegls():
    pyjpegls = pytest.importorskip("dicomio.backends.pyjpegls")
    if not pyjpegls.backend.available():
        pytest.skip("pyjpegls is not installed")
    spec = DicomImage(make(GREY8[:1], "JPEGLSLossless")).spec
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        pyjpegls.backend.decode(_TRUNCATED_JPEGLS, FrameContext(spec=spec))
    assert time.monotonic() - started < 0.5


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


# -------------------------------------------- nothing written next to it
def test_decompress_writes_only_its_destination(tmp_path):
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    src_dir.mkdir()
    dst_dir.mkdir()
    good = src_dir / "good.dcm"
    good.write_bytes(make(GREY16, "JPEG2000Lossless"))
    bad = src_dir / "bad.dcm"
    bad.write_bytes(_cut("JPEG2000Lossless", 0.4)())
    before = snapshot(src_dir)
    dicomio.decompress(good, dst_dir / "good.dcm")
    with pytest.raises(dicomio.DecodeError):
        dicomio.decompress(bad, dst_dir / "bad.dcm")
    assert snapshot(src_dir) == before
    assert sorted(p.name for p in dst_dir.iterdir()) == ["good.dcm"]
    np.testing.assert_array_equal(DicomImage(dst_dir / "good.dcm").read(), GREY16)
