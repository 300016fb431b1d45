"""pydicom's apply_* chain, normalised to the 0..255 display range: the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi,
    apply_windowing,
)


def _window_range(ds: Any) -> tuple[float, float]:
    """The y range pydicom's apply_windowing maps a window onto."""
    if ds.get("ModalityLUTSequence"):
        bits = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        lo, hi = 0.0, float(2**bits - 1)
    elif int(ds.PixelRepresentation) == 0:
        lo, hi = 0.0, float(2**int(ds.BitsStored) - 1)
    else:
        lo, hi = -float(2 ** (int(ds.BitsStored) - 1)), float(2 ** (int(ds.BitsStored) - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        s, i = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = lo * s + i, hi * s + i
    return lo, hi


def flatten(ds: Any, frame: int = 0) -> Any:
    """A copy of ``ds`` with ``frame``'s functional group rescale and window at the
    top level, where pydicom's apply_* look (they ignore functional groups)."""
    flat = ds.copy()
    for seq, pos in (("SharedFunctionalGroupsSequence", 0),
                     ("PerFrameFunctionalGroupsSequence", frame)):
        groups = ds.get(seq)
        if not groups:
            continue
        for kw in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            for item in groups[pos].get(kw) or []:
                for elem in item:
                    flat[elem.tag] = elem
    return flat


def grey_reference(ds: Any, raw: np.ndarray, index: int = 0,
                   invert: bool | None = None) -> np.ndarray:
    """Modality -> VOI (preset ``index``) -> 0..255 -> inversion, as float64."""
    m = apply_modality_lut(raw, ds)
    n_luts = len(ds.get("VOILUTSequence") or [])
    if n_luts and index < n_luts:
        y = apply_voi(m, ds, index).astype(np.float64)
        bits = int(ds.VOILUTSequence[index].LUTDescriptor[2])
        y *= 255.0 / (2**bits - 1)
    elif "WindowCenter" in ds:
        lo, hi = _window_range(ds)
        m = m.astype(np.float64)
        y = (apply_windowing(m, ds, index - n_luts) - lo) * (255.0 / (hi - lo))
    else:
        m = m.astype(np.float64)
        lo, hi = m.min(), m.max()
        y = (m - lo) * (255.0 / (hi - lo))
    if invert is None:
        invert = (ds.PhotometricInterpretation == "MONOCHROME1"
                  or ds.get("PresentationLUTShape") == "INVERSE")
    return 255.0 - y if invert else y


def palette_reference(ds: Any, raw: np.ndarray) -> np.ndarray:
    """apply_color_lut scaled to 0..255 by the descriptor's bits.

    pydicom 3.0.2 reads plain OW palette data in the machine's byte order
    whatever the file's (OBXXXX1A_expb.dcm gives other colours than its
    little endian twin), so big endian tables are swapped for it first.
    """
    if ds.original_encoding[1] is False:
        ds = ds.copy()
        for c in ("Red", "Green", "Blue"):
            kw = f"{c}PaletteColorLookupTableData"
            if kw in ds:
                data = np.frombuffer(bytes(ds[kw].value), ">u2").astype("<u2")
                ds[kw].value = data.tobytes()
    rgb = apply_color_lut(raw, ds)[..., :3].astype(np.float64)
    if int(ds.RedPaletteColorLookupTableDescriptor[2]) > 8:
        rgb *= 255.0 / 65535.0
    return rgb


def assert_close(ours: np.ndarray, ref: np.ndarray, tol: int = 1) -> None:
    """``ours`` (uint8) within ``tol`` of the float reference everywhere."""
    assert ours.dtype == np.uint8
    assert ours.shape == ref.shape
    diff = np.abs(ours.astype(np.float64) - ref)
    assert diff.max() <= tol, f"max difference {diff.max()} at {np.argmax(diff)}"
