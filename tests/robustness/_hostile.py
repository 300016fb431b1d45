"""Shared helpers of the hostile-input tests (tests/robustness/test_*.py).

Every file those tests use is made by the test itself (a few kilobytes at
most). Each case states what dicomio must do with it: decode it exactly and
say what it recovered (a DicomioWarning, also in ``img.warnings``), or refuse
it with a DicomioError that names the file, the frame, the Transfer Syntax,
the backends tried and the problem. The folder holding the input is checked
byte for byte before and after: nothing is ever written next to it.

Cases found by ``tools/fuzz.py`` are added to these tests under a
descriptive name.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

import dicomio
from dicomio import encode

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


# ----------------------------------------- files more than one theme uses
def _no_bot_split_frames() -> bytes:
    # Three JPEG frames of two fragments each and an empty offset table.
    enc = Encapsulated.parse(make(GREY8, "JPEGLSLossless"))
    frags = [p for f in enc.fragments for p in (f[:10], f[10:])]
    return Encapsulated(enc.head, b"", frags, enc.tail).build()


def _cut(syntax: str, fraction: float) -> Callable[[], bytes]:
    def build() -> bytes:
        enc = Encapsulated.parse(make(GREY16[:1], syntax))
        frag = enc.fragments[0]
        enc.fragments[0] = frag[: int(len(frag) * fraction) & ~1]
        enc.bot = b""
        return enc.build()

    return build


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


# ------------------------- truncated files and bad frames (on_error)
# Smooth images with some texture: JPEG keeps them close, and no row is flat.
TEXTURED = ((np.add.outer(np.arange(64), np.arange(48))[None]
             * np.arange(1, 4)[:, None, None]) % 200
            + np.random.default_rng(15).integers(0, 30, (3, 64, 48))).astype(np.uint8)


def truncated_native() -> bytes:
    """GREY16 (3 frames of 20 x 24): frame 2 gone, frame 1 short by 100 bytes."""
    data = make(GREY16, "ExplicitVRLittleEndian")
    return data[: len(data) - GREY16[0].nbytes - 100]


def cut_in_last_frame(syntax: str, frames: np.ndarray = TEXTURED) -> tuple[bytes, int]:
    """The file ends halfway through the last frame's fragment (no delimiter)."""
    data = make(frames, syntax)
    enc = Encapsulated.parse(data)
    last = enc.fragments[-1]
    end = len(data) - len(enc.tail) - 8 - len(last) + len(last) // 2
    return data[:end], len(last) - len(last) // 2


def jpeg_with_bad_frames(n: int = 140, bad: tuple[int, ...] = ()) -> bytes:
    """``n`` JPEG frames of 16 x 16; frames ``bad`` encoded at 24 x 16."""
    good = make(np.stack([np.full((16, 16), 10 + k, np.uint8) for k in range(n)]),
                "JPEGBaseline8Bit")
    other = Encapsulated.parse(make(np.full((len(bad) or 1, 24, 16), 200, np.uint8),
                                    "JPEGBaseline8Bit"))
    enc = Encapsulated.parse(good)
    for j, k in enumerate(bad):
        enc.fragments[k] = other.fragments[j]
    enc.bot = Encapsulated.table([[f] for f in enc.fragments])
    return enc.build()


BAD = tuple(range(3, 140, 6))[:23]
