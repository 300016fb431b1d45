"""Hierarchical JPEG with real differential frames (T.81 Annex J).

tests/_jpegwriter writes DHP, a reduced first frame, EXP and differential
frames (SOF7 lossless, SOF5/SOF6 DCT) whose prediction is the upsampled
frame before them. Only pylibjpeg-libjpeg decodes the hierarchical mode;
every backend that claims a syntax is run.

Measured: one-direction expansions (EXP doubling the width or the height)
decode bit-exact; a 2 x 2 expansion in one step does not quite follow
J.1.1.2 in libjpeg 2.5 (the centre samples), which dicomio reports.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dicomio import DicomImage, DicomioWarning, registry
from dicomio.pixels import codestream as cs
from dicomio.samples import _phantom
from dicomio.tsyntax import lookup
from tests._jpegwriter import (
    FULL,
    SPECTRAL,
    hierarchical_dct,
    hierarchical_lossless,
    upsample,
)
from tests._jpegwriter.streams import _shrink

from .test_retired12 import wrap

LOSSLESS = "JPEGLosslessHierarchical28"
DCT = {  # keyword -> (scan script of both frames (None: sequential), arithmetic)
    "JPEGExtendedHierarchical1618": (None, False),
    "JPEGExtendedHierarchical1719": (None, True),
    "JPEGSpectralSelectionHierarchical2022": (SPECTRAL, False),
    "JPEGSpectralSelectionHierarchical2123": (SPECTRAL, True),
    "JPEGFullProgressionHierarchical2426": (FULL, False),
    "JPEGFullProgressionHierarchical2527": (FULL, True),
}
NUMBER = {"JPEGExtendedHierarchical1618": 16, "JPEGExtendedHierarchical1719": 17,
          "JPEGSpectralSelectionHierarchical2022": 20,
          "JPEGSpectralSelectionHierarchical2123": 21,
          "JPEGFullProgressionHierarchical2426": 24,
          "JPEGFullProgressionHierarchical2527": 25}
SEPARATE = (((0, 1), (1, 0)), ((1, 0), (0, 1)), ((0, 1),),
            ((1, 0), (1, 0), (0, 1), (0, 1)))


def _claimers(keyword: str) -> list[str]:
    uid = lookup(keyword).uid
    names = [n for n in registry.names() if uid in registry.get(n).syntaxes]
    assert names == ["pylibjpeg"], names  # the only hierarchical decoder
    return names


def _read(data: bytes, backend: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a right stream decodes quietly
        with DicomImage(data) as img:
            out = img.read(backend=backend)
            assert img.frame_info(0).backend == backend
    return out


@pytest.mark.parametrize("shape", [(44, 60), (45, 61)], ids=["even", "odd"])
@pytest.mark.parametrize("bits", [8, 12])
@pytest.mark.parametrize("expansions", SEPARATE, ids=["h,v", "v,h", "h", "v,v,h,h"])
def test_lossless_differential_frames_are_bit_exact(shape, bits, expansions):
    image = _phantom.grey(*shape, bits=bits)
    stream = hierarchical_lossless(image, bits, predictor=7, expansions=expansions)
    info = cs.parse_jpeg(stream)
    # DHP carries the full size; the first SOF3 frame is smaller.
    assert (info.rows, info.columns, info.precision) == (*shape, bits)
    assert info.hierarchical and info.lossless and info.sof == 0xC3
    fy = 1 << sum(e[0] for e in expansions)
    fx = 1 << sum(e[1] for e in expansions)
    sof = stream.index(b"\xff\xc3")
    first_size = (int.from_bytes(stream[sof + 5:sof + 7], "big"),
                  int.from_bytes(stream[sof + 7:sof + 9], "big"))
    assert first_size == (-(-shape[0] // fy), -(-shape[1] // fx))
    assert stream.count(b"\xff\xc7") == len(expansions)
    assert cs.jpeg_process(stream, info).number == 28
    assert cs.upsampling_note(stream, info) is None
    data = wrap(stream, image, LOSSLESS, bits)
    for backend in _claimers(LOSSLESS):
        got = _read(data, backend)
        np.testing.assert_array_equal(got, image)
        assert got.dtype == image.dtype
    # The first frame alone is far from the image: the differential frames
    # are what makes it exact.
    low = _shrink(image, fy, fx)
    coarse = low.repeat(fy, 0).repeat(fx, 1)[: shape[0], : shape[1]]
    assert np.abs(coarse - image.astype(int)).max() > 4


def test_lossless_2x2_expansion_is_reported():
    # One EXP doubling both directions: T.81 J.1.1.2 truncates after the
    # horizontal pass and again after the vertical one; libjpeg 2.5 keeps the
    # fraction, so the centre samples are floor((a + b + c + d) / 4).
    image = _phantom.grey(45, 61, bits=12)
    stream = hierarchical_lossless(image, 12, expansions=((1, 1),))
    info = cs.parse_jpeg(stream)
    assert "2 x 2 in one step" in cs.upsampling_note(stream, info)
    with pytest.warns(DicomioWarning, match="lossless exactness is not assured"):
        got = DicomImage(wrap(stream, image, LOSSLESS, 12)).read()
    low = _shrink(image, 2, 2)
    t81 = upsample(low, image.shape)
    pad = np.pad(low, ((0, 1), (0, 1)), mode="edge")
    centre = (pad[:-1, :-1] + pad[1:, :-1] + pad[:-1, 1:] + pad[1:, 1:]) >> 2
    libjpeg = t81.copy()
    libjpeg[1::2, 1::2] = centre[: image.shape[0] // 2, : image.shape[1] // 2]
    diff = got.astype(int) - image
    # Off by exactly the filter difference, and only at centre samples.
    np.testing.assert_array_equal(diff, libjpeg - t81)
    assert 0 < np.count_nonzero(diff) == np.count_nonzero(diff[1::2, 1::2])
    assert set(np.unique(diff)) <= {0, 1}


@pytest.mark.parametrize("bits", [8, 12])
@pytest.mark.parametrize("keyword", sorted(DCT))
def test_dct_differential_frame(keyword, bits):
    # Away from 0 and full scale, so no decoder clamps an intermediate frame.
    image = (_phantom.grey(45, 61, bits=bits).astype(np.int64) * 3 // 4
             + (1 << (bits - 3))).astype(np.uint8 if bits == 8 else np.uint16)
    script, arithmetic = DCT[keyword]
    stream, first, final = hierarchical_dct(image, bits, script=script,
                                            arithmetic=arithmetic)
    info = cs.parse_jpeg(stream)
    assert (info.rows, info.columns, info.precision) == (45, 61, bits)
    proc = cs.jpeg_process(stream, info)
    assert proc.hierarchical and proc.number == NUMBER[keyword] + (bits > 8) * 2
    assert cs.process_mismatch(stream, info, lookup(keyword)) is None
    # One differential frame: SOF5 / SOF6, SOF13 / SOF14 when arithmetic.
    sof = (0xC6 if script else 0xC5) + (8 if arithmetic else 0)
    assert stream.count(bytes([0xFF, sof])) == 1
    data = wrap(stream, image, keyword, bits)
    for backend in _claimers(keyword):
        got = _read(data, backend).astype(int)
        # The ideal decoder within IDCT rounding (two frames, each +-1) ...
        assert np.abs(got - final).max() <= 3
        # ... and the differential frame counts: much closer than the
        # upsampled first frame alone.
        assert np.abs(got - image).max() * 4 < np.abs(first - image).max()


@pytest.mark.parametrize("bits", [8, 12])
def test_dct_progressive_differential_equals_sequential(bits):
    # The same coefficients in both frames, written sequential (SOF1 + SOF5)
    # and progressive (SOF2 + SOF6), Huffman or arithmetic: identical pixels.
    image = (_phantom.grey(40, 56, bits=bits).astype(np.int64) * 3 // 4
             + (1 << (bits - 3))).astype(np.uint8 if bits == 8 else np.uint16)
    reads = {kw: _read(wrap(hierarchical_dct(image, bits, script=s, arithmetic=a)[0],
                            image, kw, bits), "pylibjpeg")
             for kw, (s, a) in DCT.items()}
    first, *rest = reads.values()
    for got in rest:
        np.testing.assert_array_equal(got, first)


def test_process_counts_the_differential_frames():
    # A sequential first frame (SOF1) then a progressive differential frame
    # (SOF6) is a progressive hierarchical stream: .59 does not allow it.
    image = _phantom.grey(32, 48, bits=8)
    seq = hierarchical_dct(image, 8)[0]
    prog = hierarchical_dct(image, 8, script=FULL)[0]
    i, j = seq.index(b"\xff\xc5"), prog.index(b"\xff\xc6")
    mixed = seq[:i] + prog[j:]
    info = cs.parse_jpeg(mixed)
    assert info.sof == 0xC1
    assert str(cs.jpeg_process(mixed, info)) == (
        "Process 24 (hierarchical full progression, Huffman, 8-bit)")
    note = cs.process_mismatch(mixed, info, lookup("JPEGExtendedHierarchical1618"))
    assert note and "full progression is not part of it" in note
    # Under a full-progression syntax it fits.
    assert cs.process_mismatch(
        mixed, info, lookup("JPEGFullProgressionHierarchical2426")) is None
