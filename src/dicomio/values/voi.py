"""The VOI transform of the display pipeline: windows and VOI LUTs.

PS3.3 C.11.2: modality values become display values through a window
(Window Center / Width with the VOI LUT Function: LINEAR, LINEAR_EXACT or
SIGMOID, C.11.2.1.2) or a table (VOI LUT Sequence). A file may hold several
of each; they are offered as *presets* in this order: the VOI LUT Sequence
items first (pydicom's ``apply_voi_lut`` prefers them too), then the windows.
Enhanced multi-frame files keep their windows in the Frame VOI LUT
functional group, per frame when present.

Every function here maps to the 0..255 display range and works on small
arrays (a lookup table's domain), in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .modality import frame_item, lut_values

__all__ = ["VoiLUT", "Window", "apply_voi", "presets", "choose"]

FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


@dataclass(frozen=True)
class Window:
    """One window: center, width, VOI LUT Function and its explanation."""

    center: float
    width: float
    function: str = "LINEAR"
    explanation: str = ""

    def describe(self) -> dict[str, Any]:
        return {"kind": "window", "center": self.center, "width": self.width,
                "function": self.function, "explanation": self.explanation}

    @property
    def limits(self) -> tuple[float, float]:
        """The modality values where the window reaches 0 and 255 (contrast limits).

        ``c - 0.5 -/+ (w - 1) / 2`` for LINEAR, ``c -/+ w / 2`` otherwise
        (SIGMOID: where it is 12 % and 88 % of the way).
        """
        c, w = self.center, self.width
        if self.function == "LINEAR" and w > 1:
            return (c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2)
        return (c - w / 2, c + w / 2)

    @property
    def label(self) -> str:
        name = f"{self.explanation}: " if self.explanation else ""
        extra = "" if self.function == "LINEAR" else f" {self.function}"
        return f"{name}C {self.center:g} / W {self.width:g}{extra}"


@dataclass(frozen=True)
class VoiLUT:
    """One VOI LUT Sequence item."""

    table: np.ndarray = field(compare=False)
    first: int
    bits: int
    explanation: str = ""
    key: int = 0

    def describe(self) -> dict[str, Any]:
        return {"kind": "lut", "entries": len(self.table), "first": self.first,
                "bits": self.bits, "explanation": self.explanation}

    @property
    def limits(self) -> tuple[float, float]:
        """The first and last modality values the table maps."""
        return (float(self.first), float(self.first + len(self.table) - 1))

    @property
    def label(self) -> str:
        name = f"{self.explanation}: " if self.explanation else ""
        return f"{name}VOI LUT {self.limits[0]:g}..{self.limits[1]:g}"


Preset = Window | VoiLUT


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, int, float)):
        return [value]
    return list(value)


def _windows(src: Any) -> list[Window]:
    if src is None:
        return []
    try:
        centers = [float(v) for v in _listed(src.get("WindowCenter"))]
        widths = [float(v) for v in _listed(src.get("WindowWidth"))]
    except (TypeError, ValueError):
        return []
    if not centers or not widths:
        return []
    func = str(src.get("VOILUTFunction") or "LINEAR").strip().upper()
    if func not in FUNCTIONS:
        func = "LINEAR"  # PS3.3 C.11.2.1.3: LINEAR when absent or unknown
    names = [str(v) for v in _listed(src.get("WindowCenterWidthExplanation"))]
    out = []
    for k, (c, w) in enumerate(zip(centers, widths)):
        if w <= 0 or (func == "LINEAR" and w < 1):
            continue  # an invalid width, not a window to offer
        out.append(Window(c, w, func, names[k] if k < len(names) else ""))
    return out


def _luts(ds: Any) -> list[VoiLUT]:
    out = []
    for item in ds.get("VOILUTSequence") or []:
        if "LUTDescriptor" not in item or "LUTData" not in item:
            continue
        desc = [int(v) for v in item.LUTDescriptor]
        bits = desc[2] if desc[2] in range(8, 17) else 16
        first = desc[1]
        if first >= 32768 and int(ds.get("PixelRepresentation", 0) or 0):
            first -= 65536
        out.append(VoiLUT(lut_values(item, ds, bits), first, bits,
                          str(item.get("LUTExplanation", "") or ""), id(item)))
    return out


def presets(ds: Any, frame: int = 0) -> list[Preset]:
    """The VOI presets of ``frame``: VOI LUTs, then windows.

    The top level wins; an enhanced file's Frame VOI LUT functional group
    (per frame, else shared) is used when the top level has none.
    """
    found: list[Preset] = [*_luts(ds), *_windows(ds)]
    if found:
        return found
    item = frame_item(ds, frame, "FrameVOILUTSequence")
    if item is None:
        return []
    return [*_luts(item), *_windows(item)]


def choose(ds: Any, frame: int = 0, window: Any = None,
           voi: int | None = None) -> Preset | None:
    """The VOI of ``frame``: ``window=(center, width[, function])``, else
    preset ``voi`` (default 0), else None (no VOI in the file)."""
    if window is not None:
        vals = list(window)
        func = str(vals[2]).upper() if len(vals) > 2 else "LINEAR"
        if func not in FUNCTIONS:
            raise ValueError(f"VOI LUT Function must be one of {FUNCTIONS}, not {func!r}")
        c, w = float(vals[0]), float(vals[1])
        if w <= 0 or (func == "LINEAR" and w < 1):
            raise ValueError(f"window width {w} is invalid for {func} "
                             "(PS3.3 C.11.2.1.2: > 0, and >= 1 for LINEAR)")
        return Window(c, w, func, "user")
    found = presets(ds, frame)
    if voi is None:
        return found[0] if found else None
    if not 0 <= voi < len(found):
        raise IndexError(f"voi={voi} but the file has {len(found)} VOI preset(s)")
    return found[voi]


def apply_voi(x: np.ndarray, preset: Preset) -> np.ndarray:
    """Display values 0..255 (float64) of the modality values ``x``."""
    if isinstance(preset, VoiLUT):
        pos = np.clip(np.floor(x).astype(np.int64) - preset.first, 0,
                      len(preset.table) - 1)
        return preset.table[pos] * (255.0 / ((1 << preset.bits) - 1))
    c, w = preset.center, preset.width
    if preset.function == "SIGMOID":
        return 255.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if preset.function == "LINEAR":
        c, w = c - 0.5, w - 1.0
    if w == 0:  # LINEAR with width 1: a threshold
        return np.where(x <= c, 0.0, 255.0)
    y = ((x - c) / w + 0.5) * 255.0
    y[x <= c - w / 2] = 0.0
    y[x > c + w / 2] = 255.0
    return np.clip(y, 0.0, 255.0)
