"""Synthetic phantoms and the recipe of every bundled sample file.

Everything here is integer arithmetic on numpy arrays (no random generator, no
floating-point transcendental functions), so the arrays are bit-identical on
every platform and numpy version. ``tools/make_samples.py`` encodes them into
``src/dicomio/samples/*.dcm``; :func:`dicomio.samples.expected` regenerates them
as ground truth. This module must not import :mod:`dicomio.encode`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["grey", "ct", "rgb", "mask", "SAMPLES", "spec", "source"]


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:rows, 0:cols]
    return y.astype(np.int64), x.astype(np.int64)


def _noise(rows: int, cols: int, frame: int, amplitude: int) -> np.ndarray:
    """Deterministic integer pseudo-noise in ``[-amplitude, amplitude]``."""
    y, x = _grid(rows, cols)
    h = (x * 7919 + y * 104729 + frame * 1299709 + 12345) % 65521
    h = (h * 40503 + 2531011) % 65521
    return h % (2 * amplitude + 1) - amplitude


def _inside_ellipse(y: np.ndarray, x: np.ndarray, cy: int, cx: int, ry: int,
                    rx: int) -> np.ndarray:
    """True inside the axis-aligned ellipse (integer test, no rounding)."""
    return (x - cx) ** 2 * ry * ry + (y - cy) ** 2 * rx * rx <= rx * rx * ry * ry


def grey(rows: int, cols: int, bits: int = 12, frame: int = 0,
         noise: int = 2) -> np.ndarray:
    """A grey phantom: diagonal ramp, a shaded dome, discs and a ring.

    Parameters
    ----------
    rows, cols : int
        Frame size.
    bits : int
        Values use ``0 .. 2**bits - 1``; dtype uint8 for <= 8 bits, else uint16.
    frame : int
        Frame index; the small discs move and the noise changes with it.
    noise : int
        Noise amplitude in thousandths of full scale.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` unsigned integers.
    """
    y, x = _grid(rows, cols)
    span = max(rows + cols - 2, 1)
    v = 80 + 280 * (x + y) // span  # permille of full scale
    cy, cx, r = rows // 2, cols // 2, max(min(rows, cols) * 3 // 10, 2)
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    dome = d2 <= r * r
    v = np.where(dome, v + 380 - 300 * d2 // (r * r), v)
    ring = (d2 >= (r + 2) ** 2) & (d2 <= (r + 4) ** 2)
    v = np.where(ring, 930, v)
    sr = max(min(rows, cols) // 12, 1)
    for k, (fy, fx, dv) in enumerate(((1, 1, 420), (1, 3, -60), (3, 1, 250))):
        sy = rows * fy // 4 + (frame * 3 * (k + 1)) % max(rows // 8, 1)
        sx = cols * fx // 4
        small = (y - sy) ** 2 + (x - sx) ** 2 <= sr * sr
        v = np.where(small, v + dv, v)
    v = v + _noise(rows, cols, frame, noise)
    v = np.clip(v, 0, 1000)
    maxval = (1 << bits) - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return (v * maxval // 1000).astype(dtype)


#: Stored value outside the reconstruction circle of :func:`ct`.
CT_PADDING = -2000
#: ``HU = stored * CT_SLOPE + CT_INTERCEPT`` for :func:`ct`.
CT_SLOPE, CT_INTERCEPT = 1, -1024


def ct(rows: int, cols: int, frame: int = 0) -> np.ndarray:
    """A CT-like slice as signed 16-bit stored values.

    Air, a body ellipse of soft tissue with a fat layer, two lungs, a vertebra
    with cortical bone, a contrast-filled vessel and mild noise, in Hounsfield
    units; stored as ``HU - CT_INTERCEPT``. Outside the circular field of view
    the stored value is :data:`CT_PADDING` (-2000), as on real scanners, so
    the data really needs Pixel Representation 1.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` int16.
    """
    y, x = _grid(rows, cols)
    cy, cx = rows // 2, cols // 2
    hu = np.full((rows, cols), -1000, dtype=np.int64)
    body_ry, body_rx = rows * 34 // 100, cols * 42 // 100
    hu[_inside_ellipse(y, x, cy, cx, body_ry, body_rx)] = -100  # fat
    hu[_inside_ellipse(y, x, cy, cx, body_ry - 3, body_rx - 3)] = 40  # soft tissue
    lung_ry, lung_rx = rows * 20 // 100, cols * 14 // 100
    for side in (-1, 1):
        lx = cx + side * cols * 19 // 100
        hu[_inside_ellipse(y, x, cy - rows // 30, lx, lung_ry, lung_rx)] = -850
    vy, vr = cy + rows * 22 // 100, max(min(rows, cols) // 14, 2)
    vd2 = (y - vy) ** 2 + (x - cx) ** 2
    hu[vd2 <= vr * vr] = 1200  # cortical bone
    hu[vd2 <= max(vr - 2, 1) ** 2] = 300  # marrow
    ar = max(min(rows, cols) // 20, 1)
    hu[(y - (cy - rows // 12)) ** 2 + (x - cx + cols // 20) ** 2 <= ar * ar] = 250
    hu = hu + _noise(rows, cols, frame, 12) * (hu > -900)
    hu = hu - 4 * frame
    stored = hu - CT_INTERCEPT
    fov = (y - cy) ** 2 + (x - cx) ** 2 <= (min(rows, cols) * 48 // 100) ** 2
    stored = np.where(fov, stored, CT_PADDING)
    return stored.astype(np.int16)


def rgb(rows: int, cols: int, frame: int = 0, soft: bool = False) -> np.ndarray:
    """An RGB test pattern: 75 % colour bars over R, G and B ramps, a disc.

    With ``soft`` the colours are desaturated to 60 % around mid-grey
    (51..204): chroma-subsampled JPEG then stays above 30 dB PSNR, which
    saturated colour bars do not (about 26 dB at 4:2:2).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` uint8.
    """
    y, x = _grid(rows, cols)
    bars = np.array(
        [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0],
         [191, 0, 191], [191, 0, 0], [0, 0, 191], [16, 16, 16]], dtype=np.int64)
    out = bars[(x * 8) // cols]
    ramp = (x * 255) // max(cols - 1, 1)
    third = rows // 2 + (rows - rows // 2) // 3
    lower = y >= rows // 2
    for c, (lo, hi) in enumerate(((rows // 2, third),
                                  (third, third + (rows - third) // 2),
                                  (third + (rows - third) // 2, rows))):
        band = (y >= lo) & (y < hi)
        for k in range(3):
            out[..., k] = np.where(band, ramp if k == c else 24, out[..., k])
    r = max(min(rows, cols) // 7, 2)
    dy, dx = rows * 3 // 4, cols * 3 // 4 - (frame * 4) % max(cols // 4, 1)
    disc = (y - dy) ** 2 + (x - dx) ** 2 <= r * r
    for k, v in enumerate((250, 240, 40)):
        out[..., k] = np.where(disc & lower, v, out[..., k])
    if soft:
        out = 128 + (out - 128) * 6 // 10
    return out.astype(np.uint8)


def mask(rows: int, cols: int, frame: int = 0) -> np.ndarray:
    """A segmentation-like mask: an ellipse growing with the frame and a hole.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` bool.
    """
    y, x = _grid(rows, cols)
    cy, cx = rows // 2, cols // 2
    ry, rx = rows // 5 + 2 * frame, cols // 4 + 3 * frame
    outer = _inside_ellipse(y, x, cy, cx, ry, rx)
    hole = (y - cy) ** 2 + (x - cx - rx // 3) ** 2 <= (min(ry, rx) // 3) ** 2
    return outer & ~hole


_GEOMETRY: dict[str, Any] = {
    "pixel_spacing": (0.5, 0.5),
    "image_orientation": (1, 0, 0, 0, 1, 0),
}
_CT_ATTRS: dict[str, Any] = {
    "rescale": (CT_SLOPE, CT_INTERCEPT, "HU"),
    "window": (40, 400),
    "modality": "CT",
    "PixelPaddingValue": CT_PADDING,
    "SliceThickness": 2,
}

#: One recipe per bundled sample: the Transfer Syntax keyword (also the file
#: name), the phantom (``kind``), its size and frames (``frames`` None: a
#: single-frame object), the bit depth for grey phantoms and the
#: :func:`dicomio.encode.make_dataset` keyword arguments.
SAMPLES: tuple[dict[str, Any], ...] = (
    dict(keyword="ImplicitVRLittleEndian", kind="grey", rows=64, cols=64, bits=12,
         description="grey 12-bit, implicit VR", dataset={}),
    dict(keyword="ExplicitVRLittleEndian", kind="ct", rows=64, cols=64,
         description="CT-like signed 16-bit", dataset=dict(_CT_ATTRS)),
    dict(keyword="ExplicitVRBigEndian", kind="grey", rows=64, cols=64, bits=12,
         description="grey 12-bit, big endian", dataset={"bits_stored": 12}),
    dict(keyword="DeflatedExplicitVRLittleEndian", kind="ct", rows=96, cols=96,
         description="CT-like signed 16-bit, deflated dataset",
         dataset=dict(_CT_ATTRS)),
    dict(keyword="EncapsulatedUncompressedExplicitVRLittleEndian", kind="grey",
         rows=64, cols=64, bits=8, frames=2,
         description="grey 8-bit, 2 frames, encapsulated uncompressed",
         dataset={}),
    dict(keyword="DeflatedImageFrameCompression", kind="mask", rows=64, cols=64,
         frames=3, description="1-bit mask, 3 frames, deflated frames",
         dataset={"modality": "SEG"}),
    dict(keyword="RLELossless", kind="rgb", rows=64, cols=64, frames=2,
         description="RGB test pattern, 2 frames, RLE", dataset={}),
    dict(keyword="JPEGBaseline8Bit", kind="rgb_soft", rows=64, cols=96,
         description="RGB test pattern, JPEG baseline YBR_FULL_422",
         dataset={"level": 90}),
    dict(keyword="JPEGExtended12Bit", kind="grey", rows=64, cols=64, bits=12,
         description="grey 12-bit, JPEG extended (SOF1)", dataset={"level": 95}),
    dict(keyword="JPEGLossless", kind="rgb", rows=48, cols=64,
         description="RGB, lossless JPEG predictor 6",
         dataset={"predictor": 6}),
    dict(keyword="JPEGLosslessSV1", kind="grey", rows=64, cols=64, bits=12,
         frames=2, description="grey 12-bit, 2 frames, lossless JPEG SV1",
         dataset={"bits_stored": 12}),
    dict(keyword="JPEGLSLossless", kind="ct", rows=64, cols=64,
         description="CT-like signed 16-bit, JPEG-LS lossless",
         dataset=dict(_CT_ATTRS)),
    dict(keyword="JPEGLSNearLossless", kind="grey", rows=64, cols=64, bits=8,
         description="grey 8-bit, JPEG-LS NEAR=2", dataset={"level": 2}),
    dict(keyword="JPEG2000Lossless", kind="ct", rows=64, cols=64, frames=2,
         description="CT-like signed 16-bit, 2 frames, extended offset table",
         dataset=dict(_CT_ATTRS, extended_offset_table=True)),
    dict(keyword="JPEG2000", kind="rgb", rows=64, cols=64,
         description="RGB, lossy JPEG 2000 YBR_ICT", dataset={"level": 45}),
    dict(keyword="JPEG2000MCLossless", kind="rgb", rows=48, cols=64,
         description="RGB, JPEG 2000 (Part 2 syntax) lossless YBR_RCT",
         dataset={}),
    dict(keyword="JPEG2000MC", kind="grey", rows=64, cols=64, bits=12,
         description="grey 12-bit, JPEG 2000 (Part 2 syntax) lossy",
         dataset={"bits_stored": 12, "level": 55}),
    dict(keyword="HTJ2KLossless", kind="grey", rows=64, cols=64, bits=16,
         description="grey 16-bit, HTJ2K lossless", dataset={}),
    dict(keyword="HTJ2KLosslessRPCL", kind="ct", rows=96, cols=96,
         description="CT-like signed 16-bit, HTJ2K RPCL with TLM",
         dataset=dict(_CT_ATTRS)),
    dict(keyword="HTJ2K", kind="rgb", rows=64, cols=64,
         description="RGB, lossy HTJ2K YBR_ICT", dataset={"level": 0.02}),
    dict(keyword="JPEGXLLossless", kind="rgb", rows=64, cols=64, frames=2,
         description="RGB, 2 frames, JPEG XL lossless", dataset={}),
    dict(keyword="JPEGXLJPEGRecompression", kind="rgb_soft", rows=64, cols=96,
         description="RGB, JPEG XL recompressed JPEG (YBR_FULL_422)",
         dataset={"level": 90}),
    dict(keyword="JPEGXL", kind="grey", rows=64, cols=64, bits=8,
         description="grey 8-bit, lossy JPEG XL", dataset={"level": 90}),
) + tuple(
    # Video: 6 frames of 64 x 48, two closed GOPs of 3 (I, B, P / I, B, P),
    # encoded by PyAV (tools/make_samples.py). Profiles and levels are
    # requested from the encoder; what a tiny clip cannot show is in
    # docs/video.md (BD compatibility needs BD frame sizes; x264 writes no
    # MVC, so the 3D / stereo samples are their base view, High profile).
    dict(keyword=kw, kind="rgb_soft10" if kw == "HEVCM10P51" else "rgb_soft",
         rows=48, cols=64, frames=6, description=f"RGB, 6 frames, {what}",
         dataset={}, video={"gop": 3, "bframes": 1, "container": container})
    for kw, what, container in (
        ("MPEG2MPML", "MPEG-2 MP@ML, program stream", "mpeg"),
        ("MPEG2MPHL", "MPEG-2 MP@HL, program stream", "mpeg"),
        ("MPEG4HP41", "H.264 High 4.1, MPEG-TS", "mpegts"),
        ("MPEG4HP41BD", "H.264 High 4.1 bluray-compat, MPEG-TS", "mpegts"),
        ("MPEG4HP422D", "H.264 High 4.2, MPEG-TS", "mpegts"),
        ("MPEG4HP423D", "H.264 High 4.2 base view, MPEG-TS", "mpegts"),
        ("MPEG4HP42STEREO", "H.264 High 4.2 base view, MPEG-TS", "mpegts"),
        ("HEVCMP51", "HEVC Main 5.1, MPEG-TS", "mpegts"),
        ("HEVCM10P51", "HEVC Main 10 5.1 (10-bit), MPEG-TS", "mpegts"),
    )
) + tuple(
    # Retired JPEG processes: baseline (or lossless) JPEG re-coded by
    # dicomio.encode.retired (libjpeg-turbo's jpegtran; the hierarchical ones
    # are one frame after a DHP segment). Appended last, so the samples
    # above keep their series numbers and positions.
    dict(keyword=kw, kind=kind, rows=64, cols=96 if kind == "rgb_soft" else 64,
         bits=bits, frames=frames, description=what, retired=True,
         dataset={"level": 90} if bits == 8 else {"bits_stored": 12})
    for kw, kind, bits, frames, what in (
        ("JPEGExtended35", "grey", 8, None,
         "grey 8-bit, arithmetic sequential (Process 3)"),
        ("JPEGSpectralSelectionNonHierarchical68", "rgb_soft", 8, None,
         "RGB, spectral selection, Huffman (Process 6)"),
        ("JPEGSpectralSelectionNonHierarchical79", "grey", 8, None,
         "grey 8-bit, spectral selection, arithmetic (Process 7)"),
        ("JPEGFullProgressionNonHierarchical1012", "grey", 8, 2,
         "grey 8-bit, 2 frames, full progression, Huffman (Process 10)"),
        ("JPEGFullProgressionNonHierarchical1113", "rgb_soft", 8, None,
         "RGB, full progression, arithmetic (Process 11)"),
        ("JPEGExtendedHierarchical1618", "grey", 8, None,
         "grey 8-bit, hierarchical sequential, Huffman (Process 16)"),
        ("JPEGExtendedHierarchical1719", "grey", 8, None,
         "grey 8-bit, hierarchical sequential, arithmetic (Process 17)"),
        ("JPEGSpectralSelectionHierarchical2022", "grey", 8, None,
         "grey 8-bit, hierarchical spectral sel., Huffman (Process 20)"),
        ("JPEGSpectralSelectionHierarchical2123", "grey", 8, None,
         "grey 8-bit, hierarchical spectral sel., arithmetic (Process 21)"),
        ("JPEGFullProgressionHierarchical2426", "rgb_soft", 8, None,
         "RGB, hierarchical full progression, Huffman (Process 24)"),
        ("JPEGFullProgressionHierarchical2527", "grey", 8, None,
         "grey 8-bit, hierarchical progressive, arithmetic (Process 25)"),
        ("JPEGLosslessHierarchical28", "grey", 12, None,
         "grey 12-bit, hierarchical lossless, differential (Process 28)"),
    )
) + tuple(
    # Lossless arithmetic coding: no installed encoder writes it; the test
    # suite's own T.81 writer (tests/_jpegwriter, called by
    # tools/make_samples.py) codes the differences with the QM-coder; .66
    # doubles the width, then the height, in two differential frames.
    dict(keyword=kw, kind="grey", rows=64, cols=64, bits=12, frames=None,
         description=what, retired=True, writer="tests/_jpegwriter",
         dataset={"bits_stored": 12})
    for kw, what in (
        ("JPEGLosslessNonHierarchical15",
         "grey 12-bit, lossless, arithmetic (Process 15)"),
        ("JPEGLosslessHierarchical29",
         "grey 12-bit, hierarchical lossless, arithmetic (Process 29)"),
    )
)

_BY_KEYWORD = {s["keyword"]: s for s in SAMPLES}


def spec(keyword: str) -> dict[str, Any]:
    """Return a copy of the recipe for ``keyword`` (KeyError if none).

    Its ``dataset`` entry holds every :func:`dicomio.encode.make_dataset`
    keyword argument: the recipe's own plus Pixel Spacing, Image Orientation
    and, for single-frame samples, an Image Position centring the image.
    """
    s = _BY_KEYWORD[keyword]
    out = dict(s)
    out["dataset"] = dict(_GEOMETRY)
    if s.get("frames") is None:
        index = [t["keyword"] for t in SAMPLES].index(keyword)
        out["dataset"]["image_position"] = (
            -s["cols"] * 0.25, -s["rows"] * 0.25, 5.0 * index)
    out["dataset"].update(s["dataset"])
    return out


def _frame(s: dict[str, Any], index: int) -> np.ndarray:
    rows, cols, kind = s["rows"], s["cols"], s["kind"]
    if kind == "grey":
        return grey(rows, cols, bits=s["bits"], frame=index)
    if kind == "ct":
        return ct(rows, cols, frame=index)
    if kind in ("rgb", "rgb_soft"):
        return rgb(rows, cols, frame=index, soft=kind == "rgb_soft")
    if kind == "rgb_soft10":  # 10-bit values in uint16 (HEVC Main 10)
        return rgb(rows, cols, frame=index, soft=True).astype(np.uint16) * 4
    if kind == "mask":
        return mask(rows, cols, frame=index)
    raise ValueError(f"unknown phantom kind {kind!r}")  # pragma: no cover


def source(keyword: str) -> np.ndarray:
    """Return the array encoded into the sample ``keyword``.

    ``(rows, cols[, 3])`` for single-frame samples, ``(n, rows, cols[, 3])``
    for multi-frame ones; bool for 1-bit masks.
    """
    s = _BY_KEYWORD[keyword]
    n = s.get("frames")
    if n is None:
        return _frame(s, 0)
    return np.stack([_frame(s, i) for i in range(n)])
