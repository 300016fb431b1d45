"""Mutations of a corpus file, and :func:`make_case`, which picks and applies them."""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydicom

from .corpus import _ITEM, _SEQ_DELIM, Base, Layout, layout

# Families whose fragments announce a new frame with a start marker.
_MARKED = ("jpeg", "jpegls", "jpeg2k", "htj2k", "jpegxl")


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
