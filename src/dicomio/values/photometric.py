"""What colour space is every array in: declared, codestream, output.

PS3.5 says the Photometric Interpretation (PI) describes the *encoded stream*.
Decoders disagree about what they hand back, and files are sometimes
mislabelled, so dicomio keeps three facts per frame:

``declared``
    The PI in the file.
``codestream``
    What the compressed stream itself signals (JFIF, Adobe APP14 transform,
    component IDs and subsampling for JPEG; the MCT flag for JPEG 2000), in PI
    vocabulary. Where the stream carries no signal (RLE, JPEG-LS, lossless
    JPEG, uncompressed) the samples are stored as the header says and the
    declared family stands.
``output``
    What the returned array holds.

``mismatch`` is True when the declared PI disagrees with the codestream (the
file is mislabelled) or the output differs from the declared PI (the array is
not what the file says, e.g. YCbCr converted to RGB). ``notes`` says which, in
plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["decide", "make_report", "merge_reports", "ybr_to_rgb", "family"]

_YBR = {"YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420",
        "YBR_ICT", "YBR_RCT"}


def family(pi: str | None) -> str:
    """Collapse a PI to its family: MONOCHROME, PALETTE, RGB, YBR or other."""
    pi = (pi or "").strip().upper()
    if pi.startswith("MONOCHROME"):
        return "MONOCHROME"
    if pi == "PALETTE COLOR":
        return "PALETTE"
    if pi == "RGB":
        return "RGB"
    if pi in _YBR:
        return "YBR"
    return pi or "UNKNOWN"


def decide(spec: Any, info: Any) -> tuple[str, str, list[str], bool]:
    """Decide what the stream's samples are.

    Parameters
    ----------
    spec : PixelSpec
        The header's description (``spec.photometric`` is the declared PI).
    info : codestream info or None
        The parsed header of the frame's codestream.

    Returns
    -------
    stream_color : str
        For the backend: ``"MONOCHROME"``, ``"PALETTE"``, ``"RGB"``,
        ``"YBR_FULL"``, ``"YBR_RCT"`` or ``"YBR_ICT"``.
    codestream : str
        The report's ``codestream`` value, in PI vocabulary.
    notes : list of str
        Plain sentences about what was found.
    mislabelled : bool
        True when the stream's own signal contradicts the declared PI.
    """
    declared = (spec.photometric or "").strip().upper()
    fam = family(declared)
    ts = spec.transfer_syntax
    notes: list[str] = []
    if spec.samples_per_pixel == 1:
        if fam == "PALETTE":
            return "PALETTE", declared, notes, False
        cs = declared if fam == "MONOCHROME" else "MONOCHROME2"
        mis = fam not in ("MONOCHROME", "PALETTE")
        if mis:
            notes.append(f"declared {declared or 'nothing'} for single-sample data; "
                         "treated as MONOCHROME2")
        return "MONOCHROME", cs, notes, mis

    # The declared family stands where the stream cannot say otherwise.
    header_color = "RGB" if fam == "RGB" else "YBR_FULL"
    if fam not in ("RGB", "YBR"):
        notes.append(f"declared {declared or 'nothing'} for "
                     f"{spec.samples_per_pixel}-sample data; treated as RGB")
        header_color = "RGB"

    kind = getattr(info, "kind", None)
    if ts.family == "jpeg" and kind == "jpeg":
        return _decide_jpeg(declared, header_color, info, notes)
    if ts.family in ("jpeg2k", "htj2k") and kind in ("jpeg2k", "htj2k"):
        return _decide_j2k(declared, header_color, info, notes)
    if ts.family == "jpegls" and kind == "jpegls":
        transform = getattr(info, "jpegls_color_transform", None)
        if transform:
            notes.append(f"JPEG-LS stream uses colour transform {transform} "
                         "(HP APP8); the codec inverts it")
        return header_color, _label(header_color, declared), notes, False
    # RLE, uncompressed, deflate, JPEG XL: samples as stored.
    return header_color, _label(header_color, declared), notes, False


def _label(color: str, declared: str) -> str:
    if color == "YBR_FULL" and family(declared) == "YBR":
        return declared
    return color


def _decide_jpeg(declared: str, header_color: str, info: Any,
                 notes: list[str]) -> tuple[str, str, list[str], bool]:
    signal: str | None = None
    why = ""
    if info.adobe and info.adobe_transform is not None:
        signal = "RGB" if info.adobe_transform == 0 else "YBR_FULL"
        why = f"Adobe APP14 transform={info.adobe_transform}"
    elif info.jfif:
        signal, why = "YBR_FULL", "JFIF APP0 marker"
    elif info.rgb_component_ids:
        signal, why = "RGB", "component IDs 'R','G','B'"
    if info.lossless and signal == "YBR_FULL" and not info.adobe:
        # Lossless JPEG applies no colour transform; a JFIF marker there is
        # boilerplate from the encoder, not a statement about the samples.
        signal = None
    if signal is None:
        label = _label(header_color, declared)
        if not info.lossless:
            notes.append("JPEG stream carries no colour marker (no JFIF, Adobe "
                         "APP14 or R,G,B component IDs); the declared "
                         f"{declared} is trusted, not the codec's guess")
        return header_color, label, notes, False
    sub = "_422" if (signal == "YBR_FULL" and info.subsampled) else ""
    label = signal + sub if signal == "YBR_FULL" else signal
    mis = family(signal) != family(header_color) or family(declared) not in ("RGB", "YBR")
    if mis:
        notes.append(f"declared {declared} but the JPEG stream signals {label} "
                     f"({why}); decoded as {label}")
    elif signal == "YBR_FULL" and declared == "YBR_FULL" and info.subsampled:
        notes.append("declared YBR_FULL but the stream's chroma is subsampled "
                     "(YBR_FULL_422 would be exact)")
    return signal, label, notes, mis


def _decide_j2k(declared: str, header_color: str, info: Any,
                notes: list[str]) -> tuple[str, str, list[str], bool]:
    if info.components >= 3 and info.mct == 1:
        label = "YBR_RCT" if info.reversible else "YBR_ICT"
        mis = declared not in ("YBR_RCT", "YBR_ICT")
        if mis:
            notes.append(f"declared {declared} but the JPEG 2000 stream applies the "
                         f"multiple-component transform ({label}); the codec "
                         "inverts it, so the samples are RGB")
        elif declared != label:
            notes.append(f"declared {declared} but the stream's wavelet is "
                         f"{'reversible' if info.reversible else 'irreversible'} "
                         f"({label})")
        return label, label, notes, mis
    if declared in ("YBR_RCT", "YBR_ICT"):
        notes.append(f"declared {declared} but the JPEG 2000 stream has no "
                     "multiple-component transform (MCT=0); the samples are "
                     "taken as RGB")
        return "RGB", "RGB", notes, True
    return header_color, _label(header_color, declared), notes, False


def make_report(declared: str, codestream: str, output: str,
                notes: list[str], mislabelled: bool) -> dict[str, Any]:
    """Build the colour report dict carried by metadata.

    Keys: ``declared``, ``codestream``, ``output``, ``mismatch``, ``notes``,
    plus ``mislabelled`` (declared vs codestream) and ``converted``
    (output vs declared) that say which half of ``mismatch`` fired.
    """
    declared = (declared or "").strip().upper()
    converted = _differs(declared, output)
    notes = list(notes)
    if converted:
        notes.append(f"the array holds {output}, not the declared {declared}")
    return {
        "declared": declared,
        "codestream": codestream,
        "output": output,
        "mismatch": bool(mislabelled or converted),
        "mislabelled": bool(mislabelled),
        "converted": bool(converted),
        "notes": notes,
    }


def _differs(declared: str, output: str) -> bool:
    if declared == output:
        return False
    fd, fo = family(declared), family(output)
    if fd == "MONOCHROME" and fo == "MONOCHROME":
        return False
    return True


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Aggregate per-frame reports into one (values joined where frames differ)."""
    if not reports:
        return None
    first = reports[0]
    out: dict[str, Any] = {}
    for key in ("declared", "codestream", "output"):
        vals = list(dict.fromkeys(r[key] for r in reports))
        out[key] = vals[0] if len(vals) == 1 else " / ".join(vals)
    for key in ("mismatch", "mislabelled", "converted"):
        out[key] = any(r.get(key, False) for r in reports)
    notes: list[str] = []
    for r in reports:
        for n in r["notes"]:
            if n not in notes:
                notes.append(n)
    out["notes"] = notes
    if len(reports) > 1 and any(r != first for r in reports[1:]):
        out["notes"].append("frames differ in colour handling")
    return out


# ITU-R BT.601 full range (JPEG/JFIF), as PS3.3 C.7.6.3.1.2 gives for YBR_FULL.
_KR, _KB = 0.299, 0.114


def ybr_to_rgb(arr: np.ndarray, bits: int | None = None) -> None:
    """Convert full-range YCbCr to RGB in place (last axis holds Y, Cb, Cr).

    Works through the pixels in blocks of :data:`_YBR_BLOCK` with four small
    float32 scratch buffers that stay in cache: no frame- or volume-sized
    temporary, and about 1.7x faster than whole-frame float arrays (the same
    float32 operations in the same order, so the same result).
    """
    if arr.size == 0:
        return
    if not arr.flags.c_contiguous:
        tmp = np.ascontiguousarray(arr)
        ybr_to_rgb(tmp, bits)
        arr[...] = tmp
        return
    if bits is None:
        bits = arr.dtype.itemsize * 8
    offset = float(1 << (bits - 1))
    top = float((1 << bits) - 1)
    kg = 1.0 - _KR - _KB
    k_r, k_b = 2.0 * (1.0 - _KR), 2.0 * (1.0 - _KB)
    k_gb, k_gr = 2.0 * _KB * (1.0 - _KB) / kg, 2.0 * _KR * (1.0 - _KR) / kg
    flat = arr.reshape(-1, arr.shape[-1])
    step = min(flat.shape[0], _YBR_BLOCK)
    y, cb, cr, t = (np.empty(step, np.float32) for _ in range(4))
    for start in range(0, flat.shape[0], step):
        px = flat[start:start + step]
        n = px.shape[0]
        yk, cbk, crk, tk = y[:n], cb[:n], cr[:n], t[:n]
        np.copyto(yk, px[:, 0], casting="unsafe")
        np.copyto(cbk, px[:, 1], casting="unsafe")
        cbk -= offset
        np.copyto(crk, px[:, 2], casting="unsafe")
        crk -= offset
        # R = Y + k_r Cr;  B = Y + k_b Cb;  G = (Y - k_gb Cb) - k_gr Cr
        np.multiply(crk, k_r, out=tk)
        np.add(yk, tk, out=tk)
        _store(px[:, 0], tk, top)
        np.multiply(cbk, k_b, out=tk)
        np.add(yk, tk, out=tk)
        _store(px[:, 2], tk, top)
        np.multiply(cbk, k_gb, out=tk)
        np.subtract(yk, tk, out=tk)
        np.multiply(crk, k_gr, out=crk)
        np.subtract(tk, crk, out=tk)
        _store(px[:, 1], tk, top)


#: Pixels per step of :func:`ybr_to_rgb` (4 x 128 KiB of float32 scratch).
_YBR_BLOCK = 1 << 15


def _store(dest: np.ndarray, chan: np.ndarray, top: float) -> None:
    np.rint(chan, out=chan)
    np.clip(chan, 0.0, top, out=chan)
    np.copyto(dest, chan, casting="unsafe")
