"""Shared helpers of the codestream parser tests: real files, segment finders."""

from __future__ import annotations

import struct
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.filereader import read_file_meta_info

from dicomio.backends._base import PixelSpec
from dicomio.tsyntax import TRANSFER_SYNTAXES, lookup

imagecodecs = pytest.importorskip("imagecodecs")

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
try:
    import data_store

    DATA_STORE: Path | None = Path(data_store.__file__).parent / "data"
except ImportError:  # pydicom-data is a test extra; its cases skip without it
    DATA_STORE = None


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _path(name: str) -> Path:
    """Find a test file in pydicom's files first, then in pydicom-data."""
    candidate = PYDICOM_FILES / name
    if candidate.exists():
        return candidate
    if DATA_STORE is not None and (DATA_STORE / name).exists():
        return DATA_STORE / name
    pytest.skip(f"{name} is not installed")


@cache
def _load(name: str) -> tuple[Any, tuple[bytes, ...]]:
    """Return ``(dataset, frames)`` for an encapsulated test file."""
    with warnings.catch_warnings():
        # Some test files are deliberately odd; pydicom warns about them.
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(_path(name))
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        frames = tuple(generate_frames(ds.PixelData, number_of_frames=nframes))
    return ds, frames


def _frame(name: str, index: int = 0) -> bytes:
    return _load(name)[1][index]


def _spec(ds: Any) -> PixelSpec:
    return PixelSpec(
        transfer_syntax=lookup(ds.file_meta.TransferSyntaxUID),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        samples_per_pixel=int(ds.SamplesPerPixel),
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.BitsStored),
        pixel_representation=int(ds.PixelRepresentation),
        photometric=str(ds.PhotometricInterpretation),
        number_of_frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def _encapsulated_files() -> list[str]:
    """Every installed test file whose Pixel Data is encapsulated."""
    names = []
    folders = [PYDICOM_FILES] + ([DATA_STORE] if DATA_STORE else [])
    for folder in folders:
        for path in sorted(folder.glob("*.dcm")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    uid = read_file_meta_info(path).TransferSyntaxUID
            except Exception:  # files without meta or broken on purpose
                continue
            ts = TRANSFER_SYNTAXES.get(str(uid))
            if ts is None or not ts.encapsulated or ts.family == "native":
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Deferred reading: only whether Pixel Data exists matters.
                ds = pydicom.dcmread(path, defer_size=1024)
            if "PixelData" in ds:
                names.append(path.name)
    return sorted(set(names))


ENCAPSULATED = _encapsulated_files()
# Deliberately damaged files whose codestream disagrees with the header.
KNOWN_BAD = {
    # pydicom's test overwrote Rsiz/Xsiz with a sequence delimiter tag.
    "JPEG2000-embedded-sequence-delimiter.dcm": ["3722445056 columns"],
}


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, offset, total_size)`` of a JPEG's segments up to SOS."""
    out = []
    pos = 2
    while True:
        code = data[pos + 1]
        length = struct.unpack_from(">H", data, pos + 2)[0]
        out.append((code, pos, length + 2))
        if code == 0xDA:
            return out
        pos += length + 2


def _j2k_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, offset, total_size)`` of a J2K main header's segments."""
    out = []
    pos = 2
    while True:
        code = data[pos + 1]
        if code == 0x90:
            return out
        length = struct.unpack_from(">H", data, pos + 2)[0]
        out.append((code, pos, length + 2))
        pos += length + 2


def _segment(segments: list[tuple[int, int, int]], code: int) -> tuple[int, int]:
    for c, pos, size in segments:
        if c == code:
            return pos, size
    raise AssertionError(f"no marker {code:02X}")


def _box(btype: bytes, payload: bytes, mode: str = "plain") -> bytes:
    """An ISOBMFF box; ``mode`` "xl" uses the 64-bit length, "zero" length 0."""
    if mode == "xl":
        return struct.pack(">I4sQ", 1, btype, 16 + len(payload)) + payload
    if mode == "zero":
        return struct.pack(">I4s", 0, btype) + payload
    return struct.pack(">I4s", 8 + len(payload), btype) + payload


def _pack_bits(fields: list[tuple[int, int]]) -> bytes:
    """Pack ``(value, nbits)`` least-significant-bit first, as JPEG XL does."""
    value = pos = 0
    for v, nbits in fields:
        value |= v << pos
        pos += nbits
    return value.to_bytes((pos + 7) // 8 + 4, "little")


def _rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def _gray16() -> np.ndarray:
    return _rng().integers(-1000, 1000, (33, 47), dtype=np.int16)


def _rgb8() -> np.ndarray:
    return _rng().integers(0, 255, (20, 30, 3), dtype=np.uint8)
