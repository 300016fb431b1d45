"""PALETTE COLOR: the Red, Green and Blue Palette Color LUTs as one RGB table.

PS3.3 C.7.6.3.1.5-6: each descriptor is (entries, first mapped value, bits
per entry), 0 entries meaning 65,536; values below the first map to entry 0
and values past the last to the last entry. The tables are either plain
(Palette Color Lookup Table Data) or segmented (C.7.9.2: discrete, linear
and indirect segments). 16-bit entries are scaled to 0..255 for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .modality import _little_endian

__all__ = ["Palette", "expand_segmented", "palette"]

_CHANNELS = ("Red", "Green", "Blue")


def expand_segmented(words: np.ndarray, _limit: int | None = None,
                     _last: int | None = None) -> list[int]:
    """Expand segmented LUT data (PS3.3 C.7.9.2) to the table's entries.

    ``words`` are the data's entries (8- or 16-bit). A trailing odd word is
    padding. An indirect segment's offset is read as an entry index into
    ``words``, least significant word first, as the files in the wild write it.
    """
    vals = [int(v) for v in words]
    out: list[int] = []
    pos = 0
    done = 0
    while pos + 1 < len(vals) and (_limit is None or done < _limit):
        op, n = vals[pos], vals[pos + 1]
        pos += 2
        if op == 0:  # discrete: n entries follow
            out.extend(vals[pos:pos + n])
            pos += n
        elif op == 1:  # linear: from the previous entry to y1 in n steps
            prev = out[-1] if out else _last
            if prev is None:
                raise ValueError("segmented palette: a linear segment comes first")
            y1 = vals[pos]
            pos += 1
            steps = np.arange(1, n + 1, dtype=np.float64)
            out.extend(np.rint(prev + (y1 - prev) * steps / n).astype(int).tolist())
        elif op == 2:  # indirect: copy n segments from an earlier offset
            if not out:
                raise ValueError("segmented palette: an indirect segment comes first")
            offset = vals[pos] | (vals[pos + 1] << 16)
            pos += 2
            if offset >= pos - 4:
                raise ValueError("segmented palette: an indirect segment points forward")
            out.extend(expand_segmented(np.asarray(vals[offset:]), n, out[-1]))
        else:
            raise ValueError(f"segmented palette: unknown segment type {op}")
        done += 1
    return out


@dataclass(frozen=True)
class Palette:
    """The RGB table of a PALETTE COLOR image."""

    table: np.ndarray = field(compare=False)  # (entries, 3), uint8 for display
    first: int
    bits: int
    segmented: bool

    def describe(self) -> dict[str, Any]:
        return {"entries": len(self.table), "first": self.first, "bits": self.bits,
                "segmented": self.segmented}

    def domain_table(self, dtype: np.dtype[Any]) -> np.ndarray:
        """An RGB table indexed by the unsigned view of every ``dtype`` value."""
        size = 1 << (8 * dtype.itemsize)
        domain = np.arange(size, dtype=np.int64)
        if dtype.kind == "i":
            domain = np.where(domain >= size // 2, domain - size, domain)
        pos = np.clip(domain - self.first, 0, len(self.table) - 1)
        return np.ascontiguousarray(self.table[pos])


def _channel(ds: Any, colour: str, n: int, bits: int) -> tuple[np.ndarray, bool]:
    plain = ds.get(f"{colour}PaletteColorLookupTableData")
    little = _little_endian(ds)
    if plain is not None:
        raw = bytes(plain)
        if len(raw) >= 2 * n:
            vals = np.frombuffer(raw[:2 * n], "<u2" if little else ">u2")
        else:
            vals = np.frombuffer(raw[:n], np.uint8)
        return vals.astype(np.int64), False
    seg = ds.get(f"Segmented{colour}PaletteColorLookupTableData")
    if seg is None:
        raise ValueError(f"no {colour} Palette Color Lookup Table Data")
    raw = bytes(seg)
    if bits == 8:
        words = np.frombuffer(raw, np.uint8)
    else:
        words = np.frombuffer(raw[:len(raw) // 2 * 2], "<u2" if little else ">u2")
    return np.asarray(expand_segmented(words)[:n], dtype=np.int64), True


def palette(ds: Any) -> Palette:
    """The display palette of ``ds`` (entries scaled to uint8).

    Raises
    ------
    ValueError
        The descriptors or tables are missing or inconsistent.
    """
    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None:
        raise ValueError("PALETTE COLOR without (0028,1101) Red Palette Color "
                         "Lookup Table Descriptor")
    n, first, bits = (int(v) for v in desc)
    n = n or 65536
    if first >= 32768 and int(ds.get("PixelRepresentation", 0) or 0):
        first -= 65536
    chans = []
    segmented = False
    for colour in _CHANNELS:
        vals, seg = _channel(ds, colour, n, bits)
        segmented |= seg
        chans.append(vals)
    length = min(len(c) for c in chans)
    if length == 0:
        raise ValueError("empty Palette Color Lookup Table Data")
    table = np.stack([c[:length] for c in chans], axis=1)
    if bits > 8:
        # 16-bit entries: 0..65535 to 0..255, rounded (v * 255 / 65535).
        table = (table * 255 + 32767) // 65535
    table = np.clip(table, 0, 255).astype(np.uint8)
    return Palette(table, first, bits, segmented)
