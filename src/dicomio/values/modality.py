"""The Modality LUT of the display pipeline: Rescale or Modality LUT Sequence.

PS3.3 C.11.1: stored values become modality values (HU for CT) either
linearly (Rescale Slope / Intercept) or through a table (Modality LUT
Sequence). Enhanced multi-frame files keep Rescale in the Pixel Value
Transformation Sequence of their functional groups, possibly per frame.

:class:`ModalityLUT` applies to small arrays (the domain of a lookup table,
at most 65,536 values): the display pipeline evaluates it once per distinct
transform, never over the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ModalityLUT", "frame_item", "lut_values", "modality_lut"]


def frame_item(ds: Any, frame: int, keyword: str) -> Any:
    """The functional group item ``keyword`` for ``frame``, or None.

    The Per-Frame Functional Groups Sequence wins over the Shared one
    (PS3.3 C.7.6.16). Unreadable or absent items give None.
    """
    for seq, pos in (("PerFrameFunctionalGroupsSequence", frame),
                     ("SharedFunctionalGroupsSequence", 0)):
        try:
            groups = ds.get(seq)
            if not groups or pos >= len(groups):
                continue
            items = groups[pos].get(keyword)
            if items:
                return items[0]
        except Exception:  # unreadable groups: the top level still applies
            continue
    return None


def _little_endian(ds: Any) -> bool:
    meta = getattr(ds, "file_meta", None)
    enc = getattr(meta, "_tsyntax_encoding", (None, None)) if meta is not None else None
    if enc and enc[1] is not None:
        return bool(enc[1])
    orig = getattr(ds, "original_encoding", (None, None))
    return orig[1] is not False


def lut_values(item: Any, ds: Any, nominal_bits: int | None = None) -> np.ndarray:
    """The entries of a LUT Data element (US list or OW bytes) as int64.

    Parameters
    ----------
    item : Dataset
        An item holding ``LUTDescriptor`` and ``LUTData``.
    ds : Dataset
        The top-level data set (for the byte order of OW data).
    nominal_bits : int, optional
        Bits per entry; 8-bit entries packed two per 16-bit word are
        unpacked.
    """
    desc = [int(v) for v in item.LUTDescriptor]
    n = desc[0] or 65536
    raw = item["LUTData"].value
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if len(raw) >= 2 * n:
            vals = np.frombuffer(raw[:2 * n], "<u2" if _little_endian(ds) else ">u2")
        else:  # 8-bit entries packed in bytes
            vals = np.frombuffer(raw[:n], np.uint8)
    else:
        vals = np.asarray([raw] if isinstance(raw, (int, float)) else list(raw))
        if (nominal_bits or desc[2]) == 8 and len(vals) * 2 == n:
            vals = vals.astype("<u2").view(np.uint8)
    return np.asarray(vals[:n], dtype=np.int64)


@dataclass(frozen=True)
class ModalityLUT:
    """One modality transform: identity, rescale or a lookup table.

    Attributes
    ----------
    kind : {"none", "rescale", "lut"}
    slope, intercept : float
        The rescale (1 and 0 otherwise).
    table : numpy.ndarray or None
        The Modality LUT entries (int64), for ``kind == "lut"``.
    first : int
        The first stored value the table maps.
    bits : int
        Bits per table entry (the output range is 0 .. 2**bits - 1).
    """

    kind: str = "none"
    slope: float = 1.0
    intercept: float = 0.0
    table: np.ndarray | None = field(default=None, compare=False)
    first: int = 0
    bits: int = 0
    key: tuple[Any, ...] = ()

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Modality values of the stored values ``x`` (float64)."""
        if self.kind == "lut":
            assert self.table is not None
            pos = np.clip(x.astype(np.int64) - self.first, 0, len(self.table) - 1)
            return self.table[pos].astype(np.float64)
        out = x.astype(np.float64)
        if self.kind == "rescale":
            out *= self.slope
            out += self.intercept
        return out

    def output_range(self, bits_stored: int, signed: bool) -> tuple[float, float]:
        """The range of modality values the stored range can give."""
        if self.kind == "lut":
            return 0.0, float((1 << self.bits) - 1)
        lo = -(1 << (bits_stored - 1)) if signed else 0
        hi = (1 << (bits_stored - 1)) - 1 if signed else (1 << bits_stored) - 1
        a, b = lo * self.slope + self.intercept, hi * self.slope + self.intercept
        return (min(a, b), max(a, b))

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly record of this transform."""
        if self.kind == "rescale":
            return {"kind": "rescale", "slope": self.slope, "intercept": self.intercept}
        if self.kind == "lut":
            assert self.table is not None
            return {"kind": "lut", "entries": len(self.table), "first": self.first,
                    "bits": self.bits}
        return {"kind": "none"}


def _rescale_from(src: Any) -> ModalityLUT | None:
    if src is None or ("RescaleSlope" not in src and "RescaleIntercept" not in src):
        return None
    try:
        slope = float(src.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(src.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return None
    if slope == 1.0 and intercept == 0.0:
        return ModalityLUT()
    return ModalityLUT("rescale", slope, intercept, key=("rescale", slope, intercept))


def modality_lut(ds: Any, frame: int = 0) -> ModalityLUT:
    """The modality transform of ``frame`` of ``ds``.

    The Modality LUT Sequence wins over Rescale Slope / Intercept (PS3.3
    C.11.1 allows only one); enhanced files use their Pixel Value
    Transformation functional group, per frame when present.
    """
    seq = ds.get("ModalityLUTSequence")
    if seq:
        item = seq[0]
        desc = [int(v) for v in item.LUTDescriptor]
        bits = desc[2] if desc[2] in range(8, 17) else 16
        table = lut_values(item, ds, bits)
        first = desc[1]
        if first >= 32768 and int(ds.get("PixelRepresentation", 0) or 0):
            first -= 65536  # US descriptor read for signed data
        return ModalityLUT("lut", table=table, first=first, bits=bits,
                           key=("lut", id(item)))
    top = _rescale_from(ds)
    if top is not None:
        return top
    item = frame_item(ds, frame, "PixelValueTransformationSequence")
    return _rescale_from(item) or ModalityLUT()
