"""Fuzz dicomio with mutated real DICOM files of every Transfer Syntax.

Every case takes a real file (pydicom's test files, the pydicom-data
package, dicomio's bundled samples, and files made with ``dicomio.encode``),
applies one to three mutations, and asserts the robustness property of
``docs/robustness.md``: ``dicomio.DicomImage(src).read()`` either returns an
array of the header's shape and dtype, or raises a ``dicomio.DicomioError``
whose message names the file, the frame (for frame errors), the Transfer
Syntax and the backends tried. Never another exception type, a crash, a hang
or an unbounded allocation; nothing written next to the input. Mutations that
lose no information (an offset table dropped, fragments split with a correct
table, trailing padding, a wrong Number of Frames, an odd-length fragment)
must decode to the unmutated pixels and say what was recovered in a
``DicomioWarning``.

Mutations: bit flips and byte overwrites in the pixel data and in the first
bytes of a codestream (its header), truncation, trailing bytes, fragment
surgery (drop, duplicate, swap, split or merge fragments, corrupt an item
length, drop or break the Basic Offset Table, odd lengths, a missing sequence
delimiter, empty items) and header edits (Rows, Columns, Bits Allocated, Bits
Stored, Samples per Pixel, Number of Frames, Photometric Interpretation,
Pixel Representation, Planar Configuration, Transfer Syntax UID set to odd
values).

Each case runs in a worker process (``dicomio.backends._guard.Worker``) that handles
many cases in turn, under a watchdog; a worker that crashes or hangs is
replaced and the input is saved. The worker runs with
``DICOMIO_MEMORY_LIMIT`` at 256 MiB and an address-space limit of 4 GiB, so
an unbounded allocation shows up as an error instead of swapping.

Case ``k`` of seed ``s`` is the same on every machine with the same corpus:
``--seed s --case k`` replays it. Findings are saved in ``--findings``
(default ``fuzz-findings/``) as ``<kind>-<hash>.dcm`` with a ``.json``
describing the case; turn each into a named regression test in
``tests/test_hostile.py``, and re-check saved findings with ``--replay``.

Examples
--------
The long run (documented in docs/robustness.md)::

    python tools/fuzz.py --seconds 600 --seed 1

The fixed-seed slice that CI runs through tests/test_fuzz.py::

    python tools/fuzz.py --cases 200 --seed 20240607

Replay one case, or saved findings::

    python tools/fuzz.py --seed 1 --case 4711 -v
    python tools/fuzz.py --replay fuzz-findings/
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

#: Memory limit and address-space limit of the worker processes.
WORKER_MEMORY_LIMIT = 256 << 20
WORKER_ADDRESS_SPACE = 4 << 30
_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_DELIM = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
# Families whose fragments announce a new frame with a start marker.
_MARKED = ("jpeg", "jpegls", "jpeg2k", "htj2k", "jpegxl")


# ====================================================================== corpus
@dataclass
class Layout:
    """Where a file keeps its pixels, enough to mutate them precisely.

    Attributes
    ----------
    uid, family : str
        Transfer Syntax UID and dicomio codec family.
    frames : int
        Number of Frames from the header (1 when absent).
    value : int
        Offset of the Pixel Data value (for a deflated data set: of the
        deflate stream).
    end : int
        Offset just past the Pixel Data element (the sequence delimiter for
        encapsulated data).
    bot : bytes or None
        The Basic Offset Table payload (encapsulated only).
    fragments : list of bytes
        Fragment payloads (encapsulated only).
    eot : bool
        The file has an Extended Offset Table (it takes precedence).
    """

    uid: str
    family: str
    frames: int
    value: int
    end: int
    bot: bytes | None = None
    fragments: list[bytes] = field(default_factory=list)
    eot: bool = False  # an Extended Offset Table is present

    @property
    def encapsulated(self) -> bool:
        return self.bot is not None

    @property
    def deflated(self) -> bool:
        return self.uid == "1.2.840.10008.1.2.1.99"

    def groups(self) -> list[list[int]] | None:
        """Fragment indices of each frame, when the file makes them certain."""
        n, nf = self.frames, len(self.fragments)
        if self.eot:
            return None
        if n == 1:
            return [list(range(nf))]
        if self.bot and len(self.bot) == 4 * n:
            offs = list(struct.unpack(f"<{n}I", self.bot))
            starts, pos = {}, 0
            for i, frag in enumerate(self.fragments):
                starts[pos] = i
                pos += 8 + len(frag)
            idx = [starts.get(o) for o in offs]
            if None not in idx and idx == sorted(idx) and idx[0] == 0:
                bounds = [int(i) for i in idx if i is not None] + [nf]
                return [list(range(bounds[k], bounds[k + 1])) for k in range(n)]
        if nf == n:
            return [[i] for i in range(nf)]
        return None


def layout(data: bytes) -> Layout | None:
    """Parse ``data`` far enough to find its pixels; None if pydicom cannot."""
    from dicomio.dataset.deflated import _scan_meta
    from dicomio.tsyntax import lookup

    fh = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
            uid = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
            family = lookup(uid).family
            frames = max(1, int(ds.get("NumberOfFrames", 1) or 1))
            eot = "ExtendedOffsetTable" in ds
    except Exception:
        return None
    if uid == "1.2.840.10008.1.2.1.99":
        meta = _scan_meta(data[:65536])
        if meta is None:
            return None
        return Layout(uid, family, frames, meta[0], len(data))
    tell = fh.tell()
    head = data[tell : tell + 12]
    if len(head) < 8 or head[:2] not in (b"\xe0\x7f", b"\x7f\xe0"):
        return None
    little = head[:2] == b"\xe0\x7f"
    explicit = head[4:6].isalpha()
    if explicit and head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"UN"):
        length = int.from_bytes(head[8:12], "little" if little else "big")
        value = tell + 12
    elif explicit:
        length = int.from_bytes(head[6:8], "little" if little else "big")
        value = tell + 8
    else:
        length = int.from_bytes(head[4:8], "little" if little else "big")
        value = tell + 8
    if length != 0xFFFFFFFF:
        return Layout(uid, family, frames, value, min(len(data), value + length))
    items: list[bytes] = []
    pos = value
    while pos + 8 <= len(data):
        tag = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if tag != _ITEM:
            if data[pos : pos + 8] == _SEQ_DELIM:
                pos += 8
            break
        items.append(data[pos + 8 : pos + 8 + size])
        pos += 8 + size
    if not items:
        return None
    return Layout(uid, family, frames, value, pos, items[0], items[1:], eot)


@dataclass
class Base:
    """One unmutated corpus file."""

    name: str
    data: bytes
    layout: Layout


def _corpus_paths() -> list[Path]:
    folders = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # the pydicom-data package

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    try:
        from dicomio import samples

        folders.append(samples.SAMPLE_DIR)
    except Exception:
        pass
    paths: list[Path] = []
    for folder in folders:
        paths += sorted(folder.glob("*.dcm"))
    return paths


def _generated() -> Iterator[tuple[str, bytes]]:
    """Small multi-frame files in every syntax dicomio.encode writes."""
    try:
        from dicomio import encode
    except ImportError:
        return
    rng = np.random.default_rng(7)
    ramp = (np.arange(20 * 24).reshape(20, 24) * 7) % 4096
    grey16 = np.stack([ramp, ramp[::-1], ramp[:, ::-1]]).astype(np.uint16)
    grey8 = (grey16 >> 4).astype(np.uint8)
    rgb = rng.integers(0, 256, (2, 16, 18, 3), dtype=np.uint8)
    rgb = np.sort(rgb, axis=2)  # smooth enough for lossy codecs
    from dicomio.tsyntax import lookup

    for keyword in encode.ENCODABLE:
        ts = lookup(keyword)
        variants: list[tuple[str, np.ndarray, dict[str, Any]]] = [
            ("g8", grey8, {}),
            ("g16", grey16 if "Baseline" not in keyword else grey8, {}),
            ("rgb", rgb, {}),
        ]
        if ts.encapsulated:
            variants += [
                ("g8-2frag", grey8, {"fragments_per_frame": 2}),
                ("g8-nobot", grey8, {"basic_offset_table": False}),
                ("rgb-eot", rgb, {"extended_offset_table": True}),
            ]
        for label, arr, kw in variants:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = encode.make_dataset(
                        arr, keyword, uid_seed=f"fuzz{label}", **kw
                    )
                    yield f"gen:{keyword}:{label}", encode.dataset_bytes(ds)
            except Exception:
                continue


def load_corpus(
    max_size: int = 1 << 20, generated: bool = True, extra: list[Path] | None = None
) -> list[Base]:
    """Every usable base file, sorted by name (the order cases index into)."""
    out: dict[str, Base] = {}
    for path in _corpus_paths() + list(extra or []):
        if path.stat().st_size > max_size:
            continue
        data = path.read_bytes()
        lay = layout(data)
        if lay is not None:
            key = f"{path.parent.name}/{path.name}"
            out[key] = Base(key, data, lay)
    if generated:
        for name, data in _generated():
            lay = layout(data)
            if lay is not None and len(data) <= max_size:
                out[name] = Base(name, data, lay)
    return [out[k] for k in sorted(out)]


# =================================================================== mutations
@dataclass
class Case:
    """A mutated file and what the oracle may expect of it.

    ``expect`` is ``"equal"`` (same pixels as the base), ``"prefix"`` (the
    base's first frames) or ``None`` (anything the property allows).
    ``warn`` is a regular expression a DicomioWarning must match.
    """

    index: int
    base: str
    data: bytes
    mutations: list[str]
    expect: str | None = "equal"
    warn: str | None = None
    frames: int | None = None  # frames the prefix oracle expects
    options: dict[str, Any] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # mutator names


class Skip(Exception):
    """This mutation does not apply to this file."""


def _item(payload: bytes) -> bytes:
    return _ITEM + len(payload).to_bytes(4, "little") + payload


def _pad(payload: bytes) -> bytes:
    return payload + b"\x00" if len(payload) % 2 else payload


def _rebuild(
    data: bytes,
    lay: Layout,
    bot: bytes | None,
    frags: list[bytes],
    delimiter: bool = True,
) -> bytes:
    body = b"".join(_item(f) for f in ([bot or b""] + frags))
    return (
        data[: lay.value] + body + (_SEQ_DELIM if delimiter else b"") + data[lay.end :]
    )


def _bot_for(groups: list[list[int]], frags: list[bytes]) -> bytes:
    pos, starts = 0, []
    for frag in frags:
        starts.append(pos)
        pos += 8 + len(frag)
    return b"".join(starts[g[0]].to_bytes(4, "little") for g in groups)


Mutator = Callable[[random.Random, bytes, Layout, Case], bytes]
_MUTATORS: dict[str, tuple[int, Mutator]] = {}


def mutator(name: str, weight: int) -> Callable[[Mutator], Mutator]:
    def register(fn: Mutator) -> Mutator:
        _MUTATORS[name] = (weight, fn)
        return fn

    return register


def _region(rng: random.Random, lay: Layout, data: bytes) -> tuple[int, int]:
    """A byte range to damage: a codestream's first bytes, or any pixel byte."""
    if lay.encapsulated and lay.fragments and rng.random() < 0.6:
        k = rng.randrange(len(lay.fragments))
        start = lay.value + 8 + len(lay.bot or b"")
        for frag in lay.fragments[:k]:
            start += 8 + len(frag)
        start += 8
        lo, hi = start, start + min(len(lay.fragments[k]), 160)
    else:
        lo, hi = lay.value, min(lay.end, len(data))
    hi = min(hi, len(data))
    if hi <= lo:
        raise Skip
    return lo, hi


@mutator("flip", 4)
def _flip(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    lo, hi = _region(rng, lay, data)
    buf = bytearray(data)
    count = rng.choice((1, 1, 2, 4, 8))
    for _ in range(count):
        pos = rng.randrange(lo, hi)
        buf[pos] ^= 1 << rng.randrange(8)
    case.mutations.append(f"flip {count} bit(s) in {lo}..{hi}")
    case.expect = None
    return bytes(buf)


@mutator("bytes", 3)
def _bytes(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    lo, hi = _region(rng, lay, data)
    buf = bytearray(data)
    pos = rng.randrange(lo, hi)
    value = rng.choice(
        (
            b"\x00",
            b"\xff",
            b"\x7f",
            b"\x80",
            b"\xff\xff",
            b"\x00\x00",
            b"\xff\xff\xff\xff",
            bytes([rng.randrange(256)]),
        )
    )
    buf[pos : pos + len(value)] = value
    case.mutations.append(f"set {value.hex()} at {pos}")
    case.expect = None
    return bytes(buf[: len(data)])


@mutator("header-bytes", 2)
def _header_bytes(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    # The data set before Pixel Data (after the File Meta): pydicom's parser
    # and dicomio's reading of the Image Pixel attributes.
    start = 132 if data[128:132] == b"DICM" else 0
    if lay.deflated or lay.value - 12 <= start:
        raise Skip
    buf = bytearray(data)
    count = rng.choice((1, 2, 4))
    for _ in range(count):
        pos = rng.randrange(start, lay.value - 12)
        buf[pos] = rng.choice((0x00, 0xFF, buf[pos] ^ (1 << rng.randrange(8))))
    case.mutations.append(f"damage {count} header byte(s) before {lay.value}")
    case.expect = None
    return bytes(buf)


@mutator("truncate", 3)
def _truncate(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    if rng.random() < 0.75 and min(lay.end, len(data)) > lay.value:
        cut = rng.randrange(lay.value, min(lay.end, len(data)))
    else:
        cut = rng.randrange(0, len(data))
    case.mutations.append(f"truncate at {cut} of {len(data)}")
    case.expect = None
    return data[:cut]


@mutator("append", 1)
def _append(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    size = rng.choice((16, 64, 1000, 4096))
    if rng.random() < 0.5:
        tail = b"\x00" * size
    else:
        tail = bytes([rng.randrange(1, 0xF0)]) + rng.randbytes(size - 1)
    case.mutations.append(f"append {size} {'zero' if not tail[0] else 'random'} bytes")
    if lay.end >= len(data):
        case.warn = case.warn or "after Pixel Data|after the deflated"
    return data + tail


def _needs_fragments(lay: Layout) -> None:
    if not lay.encapsulated or not lay.fragments:
        raise Skip


@mutator("bot-drop", 2)
def _bot_drop(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    if not lay.bot:
        raise Skip
    groups = lay.groups()
    case.mutations.append("drop the Basic Offset Table")
    nf = len(lay.fragments)
    if groups is None or (
        lay.frames > 1 and nf != lay.frames and lay.family not in _MARKED
    ):
        case.expect = None
    elif lay.frames > 1 and nf != lay.frames:
        case.warn = case.warn or "start markers"
    return _rebuild(data, lay, b"", lay.fragments)


@mutator("bot-break", 2)
def _bot_break(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    how = rng.choice(("shift", "random", "short", "reverse", "odd"))
    n = max(2, min(lay.frames, len(lay.fragments) + 2, 1024))
    if how == "shift":
        bot = b"".join((o + 2).to_bytes(4, "little") for o in range(0, 8 * n, 8))
    elif how == "random":
        bot = rng.randbytes(4 * n)
    elif how == "short":
        bot = b"\x00\x00\x00\x00" + b"\xff\xff\xff\x7f"
    elif how == "reverse":
        bot = b"".join((8 * (n - k)).to_bytes(4, "little") for k in range(n))
    else:
        bot = rng.randbytes(4 * n + 2)
    case.mutations.append(f"break the Basic Offset Table ({how})")
    groups = lay.groups()
    nf = len(lay.fragments)
    if groups is None or (
        lay.frames > 1 and nf != lay.frames and lay.family not in _MARKED
    ):
        case.expect = None
    else:
        case.warn = case.warn or "[Oo]ffset [Tt]able"
    return _rebuild(data, lay, bot, lay.fragments)


@mutator("split", 2)
def _split(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    groups = lay.groups()
    k = rng.randrange(len(lay.fragments))
    frag = lay.fragments[k]
    if len(frag) < 4:
        raise Skip
    at = rng.randrange(1, len(frag) // 2) * 2
    frags = lay.fragments[:k] + [frag[:at], frag[at:]] + lay.fragments[k + 1 :]
    fix = groups is not None and bool(lay.bot) and rng.random() < 0.7
    case.mutations.append(
        f"split fragment {k} at {at}" + (" (offset table fixed)" if fix else "")
    )
    bot = lay.bot
    if fix and groups is not None:
        new_groups = [[i + (i > k) for i in g] for g in groups]
        for g in new_groups:
            if k in g:
                g.insert(g.index(k) + 1, k + 1)
        bot = _bot_for(new_groups, frags)
    elif lay.frames > 1:
        case.expect = None
    return _rebuild(data, lay, bot, frags)


@mutator("merge", 1)
def _merge(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    if len(lay.fragments) < 2:
        raise Skip
    k = rng.randrange(len(lay.fragments) - 1)
    frags = (
        lay.fragments[:k]
        + [lay.fragments[k] + lay.fragments[k + 1]]
        + lay.fragments[k + 2 :]
    )
    case.mutations.append(f"merge fragments {k} and {k + 1}")
    case.expect = None
    return _rebuild(data, lay, lay.bot, frags)


@mutator("shuffle", 2)
def _shuffle(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    frags = list(lay.fragments)
    how = rng.choice(("drop", "dup", "swap", "empty"))
    k = rng.randrange(len(frags))
    if how == "drop":
        del frags[k]
    elif how == "dup":
        frags.insert(k, frags[k])
    elif how == "swap" and len(frags) > 1:
        j = rng.randrange(len(frags))
        frags[k], frags[j] = frags[j], frags[k]
    else:
        frags.insert(k, b"")
    case.mutations.append(f"{how} fragment {k}")
    case.expect = None
    return _rebuild(data, lay, lay.bot, frags)


@mutator("item-length", 2)
def _item_length(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    k = rng.randrange(len(lay.fragments) + 1)  # item 0 is the offset table
    pos = lay.value
    for frag in ([lay.bot or b""] + lay.fragments)[:k]:
        pos += 8 + len(frag)
    old = int.from_bytes(data[pos + 4 : pos + 8], "little")
    new = rng.choice(
        (
            0,
            1,
            old + 1,
            max(0, old - 1),
            old + 2,
            old * 2,
            0x7FFFFFFF,
            0xFFFFFFFE,
            0xFFFFFFFF,
            rng.randrange(1 << 32),
        )
    )
    case.mutations.append(f"item {k} length {old} -> {new}")
    case.expect = None
    return data[: pos + 4] + (new & 0xFFFFFFFF).to_bytes(4, "little") + data[pos + 8 :]


@mutator("odd", 2)
def _odd(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    k = rng.randrange(len(lay.fragments))
    frag = lay.fragments[k]
    frags = list(lay.fragments)
    # Only a byte after an EOI / EOC marker is certainly padding.
    if frag.endswith(b"\xff\xd9\x00") and rng.random() < 0.5:
        frags[k] = frag[:-1]
        case.mutations.append(f"fragment {k}: drop its pad byte (odd length)")
    else:
        frags[k] = frag + b"\x00"
        case.mutations.append(f"fragment {k}: add a byte (odd length)")
    groups = lay.groups()
    bot = lay.bot
    if groups is not None and lay.bot:
        bot = _bot_for(groups, frags)
    # A byte added to a fragment that does not end its frame lands inside
    # the codestream: only a frame's last fragment may take padding.
    last = groups is not None and any(g and g[-1] == k for g in groups)
    if lay.family in _MARKED + ("deflate",) and last and not lay.eot:
        if len(frags[k]) % 2:
            case.warn = case.warn or "odd-length"
    else:
        case.expect = None
    return _rebuild(data, lay, bot, frags)


@mutator("no-delimiter", 1)
def _no_delimiter(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    _needs_fragments(lay)
    case.mutations.append("drop the sequence delimiter and all after it")
    case.warn = case.warn or "sequence delimiter"
    return _rebuild(data[: lay.end], lay, lay.bot, lay.fragments, delimiter=False)


_ODD_VALUES: dict[str, list[Any]] = {
    "Rows": [0, 1, 2, 3, 255, 4096, 65535, "+1", "-1", "*2", "/2"],
    "Columns": [0, 1, 2, 3, 255, 4096, 65535, "+1", "-1", "*2", "/2"],
    "BitsAllocated": [0, 1, 7, 8, 12, 16, 24, 32, 40, 64, 128, 65535],
    "BitsStored": [0, 1, 2, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 64, 65535],
    "SamplesPerPixel": [0, 1, 2, 3, 4, 5, 255, 65535],
    "NumberOfFrames": [
        "0",
        "-5",
        "1",
        "+1",
        "-1",
        "*2",
        "2147483647",
        "100000000",
        "abc",
        "",
        None,
    ],
    "PhotometricInterpretation": [
        "MONOCHROME1",
        "MONOCHROME2",
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_420",
        "YBR_ICT",
        "YBR_RCT",
        "PALETTE COLOR",
        "CMYK",
        "HSV",
        "FOO",
        "",
        None,
    ],
    "PixelRepresentation": [0, 1, 2, 255, 65535, None],
    "PlanarConfiguration": [0, 1, 2, 65535, None],
}


def _same_pixels(lay: Layout, data: bytes, out: bytes) -> bool:
    """True when re-encoding kept the Pixel Data bytes (a truncated file
    may lose them, and then no recovery can be expected)."""
    new = layout(out)
    if new is None:
        return False
    if lay.encapsulated:
        return (new.bot, new.fragments) == (lay.bot, lay.fragments)
    return out[new.value : new.end] == data[lay.value : lay.end]


_PLACEHOLDER = "98765"


def _rewrite(data: bytes, edit: Callable[[Any], None]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        edit(ds)
        try:
            from dicomio.encode import dataset_bytes

            return dataset_bytes(ds)
        except Exception:
            buf = io.BytesIO()
            pydicom.dcmwrite(buf, ds, enforce_file_format=False)
            return buf.getvalue()


def _numeric(value: Any, old: int) -> int:
    if value == "+1":
        return old + 1
    if value == "-1":
        return max(0, old - 1)
    if value == "*2":
        return old * 2
    if value == "/2":
        return old // 2
    return int(value)


@mutator("header", 5)
def _header(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    keyword = rng.choice(sorted(_ODD_VALUES))
    value = rng.choice(_ODD_VALUES[keyword])
    shown: Any = value

    def edit(ds: Any) -> None:
        nonlocal shown
        if value is None:
            if keyword in ds:
                del ds[keyword]
            return
        if keyword == "NumberOfFrames":
            old = int(ds.get("NumberOfFrames", 1) or 1)
            new = str(_numeric(value, old)) if value in ("+1", "-1", "*2") else value
            # pydicom refuses to set an invalid IS: write a placeholder of
            # the same length, replaced in the bytes below.
            ds.NumberOfFrames = new if new.lstrip("-").isdigit() else _PLACEHOLDER
            shown = new
        elif keyword == "PhotometricInterpretation":
            ds.PhotometricInterpretation = value
        else:
            old = int(ds.get(keyword, 1) or 1)
            new = _numeric(value, old) & 0xFFFF
            setattr(ds, keyword, new)
            shown = new

    try:
        out = _rewrite(data, edit)
    except Exception as exc:
        raise Skip from exc
    if keyword == "NumberOfFrames" and _PLACEHOLDER.encode() in out:
        out = out.replace(
            _PLACEHOLDER.encode() + b" ",
            str(shown).encode().ljust(len(_PLACEHOLDER) + 1),
            1,
        )
    case.mutations.append(f"{keyword} = {shown!r}")
    case.expect = None
    if (
        keyword == "NumberOfFrames"
        and len(case.mutations) == 1
        and not lay.deflated
        and lay.groups() is not None
        and _same_pixels(lay, data, out)
    ):
        try:
            new_n = int(str(shown))
        except ValueError:
            new_n = 0
        if new_n > lay.frames:
            case.expect, case.warn = "equal", "Number of Frames"
        elif new_n == 1 and lay.family == "jpegxl" and len(lay.fragments) > 1:
            pass  # JPEG XL's 2-byte signature cannot tell frames apart
        elif 1 <= new_n < lay.frames:
            case.expect, case.frames, case.warn = (
                "prefix",
                new_n,
                ("Number of Frames|beyond|fragments for 1 frame"),
            )
    return out


@mutator("syntax", 1)
def _syntax(rng: random.Random, data: bytes, lay: Layout, case: Case) -> bytes:
    from dicomio.tsyntax import TRANSFER_SYNTAXES

    uid = rng.choice(sorted(TRANSFER_SYNTAXES) + ["1.2.3.4", ""])
    # Relabel only: the data set bytes stay as they are.
    from dicomio.dataset.deflated import _scan_meta

    meta = _scan_meta(data[:65536])
    if meta is None or 0x10 not in meta[1]:
        raise Skip
    end, elems = meta
    pos, hdr, length = elems[0x10]
    value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
    elem = data[pos : pos + 6] + len(value).to_bytes(2, "little") if hdr == 8 else None
    if elem is None:
        raise Skip
    out = bytearray(data[:pos] + elem + value + data[pos + hdr + length :])
    glen = elems.get(0)
    if glen is not None and glen[2] == 4:
        at = glen[0] + glen[1]
        old = int.from_bytes(out[at : at + 4], "little")
        out[at : at + 4] = ((old + len(value) - length) & 0xFFFFFFFF).to_bytes(
            4, "little"
        )
    case.mutations.append(f"TransferSyntaxUID = {uid!r}")
    case.expect = None
    return bytes(out)


def make_case(seed: int, index: int, corpus: list[Base]) -> Case:
    """Case ``index`` of ``seed``: deterministic for a given corpus."""
    rng = random.Random(f"{seed}:{index}")
    # Every Transfer Syntax gets the same share, whatever the corpus holds.
    by_syntax: dict[str, list[Base]] = {}
    for base in corpus:
        by_syntax.setdefault(base.layout.uid, []).append(base)
    uid = rng.choice(sorted(by_syntax))
    base = rng.choice(by_syntax[uid])
    names, weights = zip(*((n, w) for n, (w, _) in sorted(_MUTATORS.items())))
    case = Case(index, base.name, base.data, [])
    case.options = {
        "source": rng.choice(("path", "bytes")),
        "color": rng.choice(("rgb", "rgb", "native")),
        "threads": rng.choice((None, 1)),
        "backend_pick": rng.random() if rng.random() < 0.3 else None,
    }
    count = rng.choice((1, 1, 1, 2, 3))
    data = base.data
    attempts = 0
    while len(case.mutations) < count and attempts < 20:
        attempts += 1
        lay = layout(data) if case.mutations else base.layout
        if lay is None:
            break
        name = rng.choices(names, weights)[0]
        try:
            data = _MUTATORS[name][1](rng, data, lay, case)
        except Skip:
            continue
        case.kinds.append(name)
    if len(case.mutations) > 1:
        # Combined recoveries are checked only through the property.
        case.expect, case.warn = None, None
    case.data = data
    return case


# ====================================================================== worker
_BASELINES: dict[tuple[Any, ...], Any] = {}


def _snapshot(folder: str) -> dict[str, tuple[int, int, str]]:
    out = {}
    for entry in os.scandir(folder):
        st = entry.stat()
        with open(entry.path, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        out[entry.name] = (st.st_size, st.st_mtime_ns, digest)
    return out


def _message_problems(exc: Any, frame_level: bool) -> list[str]:
    problems = []
    text = str(exc)
    if not exc.path or exc.path not in text:
        problems.append("the message does not name the file")
    if frame_level:
        if exc.frame is None:
            problems.append("a decode error without the frame")
        if exc.transfer_syntax is None:
            problems.append("a decode error without the Transfer Syntax")
    if not exc.message.strip():
        problems.append("an empty message")
    return problems


def _open_read(
    src: Any, opts: dict[str, Any], backend: Any
) -> tuple[Any, Any, list[str]]:
    import dicomio

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = dicomio.DicomImage(
            src,
            color=opts["color"],
            threads=opts["threads"],
            backend=backend,
            isolate=opts.get("isolate"),
        )
        try:
            arr = img.read()
        finally:
            img.close()
    texts = [f"{w.category.__name__}: {w.message}" for w in caught]
    return img, arr, texts


def _pick_backend(base: bytes, pick: float | None) -> Any:
    if pick is None:
        return None
    import dicomio
    from dicomio import registry

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = dicomio.DicomImage(base)
        names = [b.name for b in registry.candidates(img.spec)]
    except Exception:
        return None
    return names[int(pick * len(names)) % len(names)] if names else None


def check_case(request: dict[str, Any]) -> dict[str, Any]:
    """Worker side: run one case and report the property's violations."""
    try:
        return _check(request)
    except BaseException as exc:  # a harness bug must not look like a crash
        return {
            "outcome": "harness-error",
            "violations": [
                ("harness", "".join(traceback.format_exception(exc))[-2000:])
            ],
            "warnings": [],
        }


_TMP = {"dir": ""}


def _check(req: dict[str, Any]) -> dict[str, Any]:
    import dicomio

    opts = req["options"]
    if opts.get("selftest") == "abort":  # proves the harness survives a crash
        os.abort()
    if opts.get("selftest") == "hang":
        time.sleep(3600)
    violations: list[tuple[str, str]] = []
    backend = _pick_backend(req["base"], opts.get("backend_pick"))
    src: Any = req["data"]
    folder = None
    if opts.get("source") == "path":
        if not _TMP["dir"]:
            _TMP["dir"] = tempfile.mkdtemp(prefix="dicomio-fuzz-")
        folder = os.path.join(_TMP["dir"], "in")
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        src = os.path.join(folder, "case.dcm")
        with open(src, "wb") as fh:
            fh.write(req["data"])
        before = _snapshot(folder)
    result: dict[str, Any] = {"outcome": "ok", "violations": violations, "warnings": []}
    started = time.monotonic()
    try:
        img, arr, texts = _open_read(src, opts, backend)
        result["warnings"] = texts
    except dicomio.DicomioError as exc:
        result["outcome"] = f"error:{type(exc).__name__}"
        result["error"] = str(exc)[:2000]
        frame_level = isinstance(exc, dicomio.DecodeError)
        for problem in _message_problems(exc, frame_level):
            violations.append(("message", f"{problem}: {exc}"[:2000]))
        if isinstance(exc, dicomio.MemoryLimitError) and "out of memory" in str(exc):
            violations.append(("oom", str(exc)[:2000]))
        if req.get("expect") and _baseline(req, opts, backend) is not None:
            violations.append(
                ("tolerance", f"a recoverable file raised {exc!r}"[:2000])
            )
    except Exception as exc:
        result["outcome"] = f"exception:{type(exc).__name__}"
        violations.append(
            ("exception", "".join(traceback.format_exception(exc))[-3000:])
        )
    else:
        _check_output(req, img, arr, texts, backend, opts, violations)
    result["seconds"] = time.monotonic() - started
    if folder is not None:
        after = _snapshot(folder)
        if after != before:
            violations.append(("wrote", f"the input folder changed: {sorted(after)}"))
    if violations and result["outcome"] == "ok":
        result["outcome"] = "violation"
    return result


def _baseline(req: dict[str, Any], opts: dict[str, Any], backend: Any) -> Any:
    """The unmutated file's pixels with the same options (None if it fails)."""
    key = (hashlib.sha1(req["base"]).hexdigest(), opts["color"], backend)
    if key not in _BASELINES:
        try:
            _BASELINES[key] = _open_read(req["base"], opts, backend)[1]
        except Exception:
            _BASELINES[key] = None
    return _BASELINES[key]


def _check_output(
    req: dict[str, Any],
    img: Any,
    arr: Any,
    texts: list[str],
    backend: Any,
    opts: dict[str, Any],
    violations: list[tuple[str, str]],
) -> None:
    import dicomio

    if arr.shape != img.shape or arr.dtype != img.dtype:
        violations.append(
            (
                "shape",
                f"read() gave {arr.shape} {arr.dtype}, the "
                f"header says {img.shape} {img.dtype}",
            )
        )
        return
    ds = img.dataset
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        if img.frame_shape[:2] != (rows, cols):
            violations.append(
                (
                    "shape",
                    f"frame shape {img.frame_shape} but Rows {rows} Columns {cols}",
                )
            )
    except (AttributeError, TypeError, ValueError):
        pass
    if img.n_frames > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = dicomio.DicomImage(
                req["data"], color=opts["color"], backend=backend
            )
            for i in (0, img.n_frames - 1):
                one = again.read(i)
                if not np.array_equal(one, arr[i]):
                    violations.append(
                        (
                            "frames",
                            f"read({i}) differs from "
                            f"read()[{i}] (decoder {img.decoder})",
                        )
                    )
    if req.get("warn") and not any(
        t.startswith("DicomioWarning") and re.search(req["warn"], t) for t in texts
    ):
        violations.append(
            (
                "silent",
                f"recovered without a DicomioWarning matching "
                f"{req['warn']!r}; warnings: {texts}",
            )
        )
    if req.get("expect"):
        ref = _baseline(req, opts, backend)
        if ref is None:
            return
        if req["expect"] == "prefix":
            n = req["frames"]
            ref = ref[:n] if n > 1 else ref[0]
        if ref.shape != arr.shape or not np.array_equal(ref, arr):
            violations.append(
                (
                    "tolerance",
                    f"recovered pixels differ from the "
                    f"original ({arr.shape} vs {ref.shape}, decoder "
                    f"{img.decoder})",
                )
            )


def _worker_main() -> None:
    try:
        import resource

        resource.setrlimit(
            resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE)
        )
    except (ImportError, ValueError, OSError):
        pass
    os.environ["DICOMIO_MEMORY_LIMIT"] = str(WORKER_MEMORY_LIMIT)
    warnings.simplefilter("ignore")
    from dicomio.backends._guard import serve

    serve(check_case)


# ====================================================================== driver
@dataclass
class Finding:
    """A violation, a crash or a hang, with what reproduces it."""

    kind: str
    case: int
    base: str
    mutations: list[str]
    detail: str
    saved: str | None = None


@dataclass
class Report:
    """What a run did and found."""

    seed: int
    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    syntaxes: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.cases} cases in {self.seconds:.1f} s, "
            f"{len(self.findings)} finding(s); slowest case "
            f"{self.slowest[1]} ({self.slowest[0]:.2f} s)"
        ]
        lines.append(
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common())
        )
        lines.append(
            "mutations: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.mutations.items()))
        )
        lines.append(f"syntaxes covered: {len(self.syntaxes)}")
        for f in self.findings:
            lines.append(
                f"  [{f.kind}] case {f.case} {f.base}: "
                f"{'; '.join(f.mutations)}\n      {f.detail[:600]}"
                + (f"\n      saved {f.saved}" if f.saved else "")
            )
        return "\n".join(lines)


def _worker(stderr: Any) -> Any:
    from dicomio.backends._guard import Worker

    return Worker(
        [sys.executable, str(Path(__file__).resolve()), "--worker"], stderr=stderr
    )


def _save(
    folder: Path | None, kind: str, case: Case, seed: int, detail: str
) -> str | None:
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(case.data).hexdigest()[:12]
    stem = folder / f"{kind}-{digest}"
    stem.with_suffix(".dcm").write_bytes(case.data)
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "kind": kind,
                "seed": seed,
                "case": case.index,
                "base": case.base,
                "mutations": case.mutations,
                "expect": case.expect,
                "warn": case.warn,
                "frames": case.frames,
                "options": case.options,
                "detail": detail,
            },
            indent=1,
        )
    )
    return str(stem.with_suffix(".dcm"))


def _request(case: Case, base: bytes, isolate: bool | None) -> dict[str, Any]:
    opts = dict(case.options, isolate=isolate)
    return {
        "data": case.data,
        "base": base,
        "expect": case.expect,
        "warn": case.warn,
        "frames": case.frames,
        "options": opts,
    }


def _triage(worker: Any, case: Case, base: bytes, timeout: float) -> str:
    """Re-run a crashing case with isolate=True: the error names the backend."""
    from dicomio.backends._guard import WorkerDied

    try:
        reply = worker.call(_request(case, base, True), timeout=timeout)
    except WorkerDied as died:  # pragma: no cover - the guard itself failed
        return f"; isolated re-run: {died.describe()}"
    found = re.findall(
        r"backend '[^']+' (?:crashed|timed out)[^;\]]*", reply.get("error", "")
    )
    return f"; isolated re-run: {'; '.join(found) or reply['outcome']}"


def run(
    seed: int = 0,
    cases: int | None = None,
    seconds: float | None = None,
    *,
    jobs: int | None = None,
    findings: str | os.PathLike[str] | None = None,
    max_size: int = 1 << 20,
    timeout: float = 60.0,
    only: int | None = None,
    isolate: bool | None = None,
    verbose: bool = False,
    selftest: bool = False,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Run fuzz cases in worker processes and return what they found.

    Parameters
    ----------
    seed : int
        Selects the cases; case ``k`` of a seed is always the same.
    cases, seconds : optional
        Stop after this many cases or this long (the first reached; cases
        200 when neither is given).
    jobs : int, optional
        Worker processes (default: CPU count, at most 8).
    findings : path, optional
        Save every finding's input and description there.
    max_size : int
        Skip corpus files larger than this many bytes.
    timeout : float
        Seconds one case may take before it counts as a hang.
    only : int, optional
        Run case ``only`` alone.
    isolate : bool or None
        The ``isolate=`` passed to dicomio inside the workers: None (the
        library's default: only crash-prone backends such as GDCM in worker
        processes), True (every backend) or False (none: hunts for codec
        crashes the default would survive).
    verbose : bool
        Print every case, and let codec chatter through.
    selftest : bool
        Make cases 0 and 1 abort and hang their worker: the run must record
        both (as a crash and a hang) and carry on.
    """
    log = log or (lambda s: None)
    corpus = load_corpus(max_size)
    bases = {b.name: b.data for b in corpus}
    report = Report(seed)
    if cases is None and seconds is None:
        cases = 200
    jobs = max(1, jobs or min(8, os.cpu_count() or 1))
    folder = Path(findings) if findings else None
    start = time.monotonic()
    counter = iter(range(only, only + 1) if only is not None else range(1 << 62))
    lock = threading.Lock()
    stderr = None if verbose else subprocess.DEVNULL

    def next_index() -> int | None:
        with lock:
            if cases is not None and report.cases >= cases:
                return None
            if seconds is not None and time.monotonic() - start > seconds:
                return None
            k = next(counter, None)
            if k is not None:
                report.cases += 1
            return k

    def record(kind: str, case: Case, detail: str) -> None:
        saved = _save(folder, kind, case, seed, detail)
        with lock:
            report.findings.append(
                Finding(kind, case.index, case.base, case.mutations, detail, saved)
            )
        log(
            f"FINDING [{kind}] case {case.index} {case.base}: "
            f"{'; '.join(case.mutations)}: {detail[:300]}"
        )

    def loop() -> None:
        from dicomio.backends._guard import WorkerDied

        worker = _worker(stderr)
        try:
            while (k := next_index()) is not None:
                try:
                    case = make_case(seed, k, corpus)
                    if selftest and k in (0, 1):
                        case.options["selftest"] = ("abort", "hang")[k]
                        case.mutations.append(f"selftest: {('abort', 'hang')[k]}")
                except Exception as exc:  # a harness bug: report, carry on
                    record(
                        "harness",
                        Case(k, "?", b"", ["make_case"]),
                        "".join(traceback.format_exception(exc))[-1500:],
                    )
                    continue
                with lock:
                    report.syntaxes[layout(bases[case.base]).uid] += 1  # type: ignore[union-attr]
                    for m in case.kinds:
                        report.mutations[m] += 1
                try:
                    reply = worker.call(
                        _request(case, bases[case.base], isolate), timeout=timeout
                    )
                except WorkerDied as died:
                    kind = "hang" if died.timed_out else "crash"
                    with lock:
                        report.outcomes[kind] += 1
                    worker = _worker(stderr)
                    detail = died.describe()
                    if kind == "crash":
                        detail += _triage(worker, case, bases[case.base], timeout)
                        if not worker.alive():
                            worker = _worker(stderr)
                    record(kind, case, detail)
                    continue
                with lock:
                    report.outcomes[reply["outcome"]] += 1
                    if reply.get("seconds", 0) > report.slowest[0]:
                        report.slowest = (reply["seconds"], k)
                if verbose:
                    log(
                        f"case {k} {case.base}: {'; '.join(case.mutations)} -> "
                        f"{reply['outcome']} {reply.get('error', '')[:200]}"
                    )
                for kind, detail in reply["violations"]:
                    record(kind, case, detail)
        finally:
            worker.close()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.monotonic() - start
    return report


def replay(
    paths: list[Path],
    timeout: float = 60.0,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> int:
    """Re-check saved findings; return how many still fail."""
    from dicomio.backends._guard import WorkerDied

    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.dcm")) if p.is_dir() else [p]
    failing = 0
    worker = _worker(None if verbose else subprocess.DEVNULL)
    for path in files:
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        case = Case(
            meta.get("case", -1),
            meta.get("base", ""),
            path.read_bytes(),
            meta.get("mutations", []),
            meta.get("expect"),
            meta.get("warn"),
            meta.get("frames"),
            meta.get("options")
            or {
                "source": "path",
                "color": "rgb",
                "threads": None,
                "backend_pick": None,
            },
        )
        base = path.read_bytes()
        if case.expect:
            corpus = {b.name: b.data for b in load_corpus(1 << 40)}
            base = corpus.get(case.base, base)
        try:
            reply = worker.call(_request(case, base, False), timeout=timeout)
            problems = reply["violations"]
        except WorkerDied as died:
            problems = [("crash", died.describe())]
            worker = _worker(None if verbose else subprocess.DEVNULL)
        failing += bool(problems)
        log(f"{path.name}: {'FAIL ' + str(problems)[:500] if problems else 'ok'}")
    worker.close()
    return failing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The long run: python tools/fuzz.py --seconds 600 --seed N "
        "(see docs/robustness.md).",
    )
    parser.add_argument("--seed", type=int, default=0, help="case seed (default 0)")
    parser.add_argument("--cases", type=int, help="stop after this many cases")
    parser.add_argument(
        "--seconds", type=float, help="stop after this long (the long run: 600)"
    )
    parser.add_argument("--case", type=int, help="run only this case of the seed")
    parser.add_argument(
        "--jobs", type=int, help="worker processes (default: CPUs, at most 8)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds before a case counts as a hang (60: CharLS alone can "
        "spend seconds on a truncated JPEG-LS frame)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=1 << 20,
        help="skip corpus files larger than this (bytes, 1 MiB)",
    )
    parser.add_argument(
        "--findings",
        default="fuzz-findings",
        help="folder for inputs that broke the property (default fuzz-findings/)",
    )
    parser.add_argument(
        "--isolate",
        dest="isolate",
        action="store_const",
        const=True,
        default=None,
        help="decode with isolate=True (every backend in a worker process)",
    )
    parser.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_const",
        const=False,
        help="decode with isolate=False (no backend isolated: finds codec crashes "
        "that the default survives)",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        help="re-check saved findings (files or folders)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every case and let codec messages through",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main()
        return 0
    if args.replay:
        return 1 if replay(args.replay, args.timeout, args.verbose) else 0
    report = run(
        args.seed,
        args.cases,
        args.seconds,
        jobs=args.jobs,
        findings=args.findings,
        max_size=args.max_size,
        timeout=args.timeout,
        only=args.case,
        isolate=args.isolate,
        verbose=args.verbose,
        log=print,
    )
    print(report.summary())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
