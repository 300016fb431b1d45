"""The corpus: real DICOM files of every Transfer Syntax, and where their pixels are."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_DELIM = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


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
