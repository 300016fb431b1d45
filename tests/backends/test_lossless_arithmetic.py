"""Lossless JPEG with arithmetic coding: .58 (Process 15) and .66 (29).

No installed encoder writes it; tests/_jpegwriter codes the lossless
differences with the QM-coder and the two-dimensional model of T.81
H.1.2.3. pylibjpeg-libjpeg, the only backend claiming the syntaxes, must
return the image bit for bit; libjpeg-turbo refuses the process.
"""

from __future__ import annotations

import numpy as np
import pytest

from dicomio import DicomImage, registry
from dicomio.pixels import codestream as cs
from dicomio.samples import _phantom
from dicomio.tsyntax import lookup
from tests._jpegwriter.streams import hierarchical_lossless, lossless_stream

from .test_retired12 import wrap

PROCESS_15 = "JPEGLosslessNonHierarchical15"
PROCESS_29 = "JPEGLosslessHierarchical29"


def _claimers(keyword: str) -> list[str]:
    uid = lookup(keyword).uid
    return [n for n in registry.names() if uid in registry.get(n).syntaxes]


@pytest.mark.parametrize("predictor", [1, 4, 7])
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_process_15_is_bit_exact(bits, predictor):
    image = _phantom.grey(45, 61, bits=bits)
    stream = lossless_stream(image, bits, predictor, arithmetic=True)
    info = cs.parse_jpeg(stream)
    assert (info.sof, info.predictor, info.precision) == (0xCB, predictor, bits)
    assert str(cs.jpeg_process(stream, info)) == (
        f"Process 15 (lossless, arithmetic, {bits}-bit)")
    data = wrap(stream, image, PROCESS_15, bits)
    assert _claimers(PROCESS_15) == ["pylibjpeg"]
    with DicomImage(data) as img:
        got = img.read()
        assert img.frame_info(0).backend == "pylibjpeg"
    np.testing.assert_array_equal(got, image)
    # The same differences Huffman-coded (.57) give the same pixels.
    huffman = wrap(lossless_stream(image, bits, predictor), image, "JPEGLossless",
                   bits)
    np.testing.assert_array_equal(DicomImage(huffman).read(), got)


@pytest.mark.parametrize("bits", [8, 12])
def test_process_29_is_bit_exact(bits):
    image = _phantom.grey(45, 61, bits=bits)
    stream = hierarchical_lossless(image, bits, predictor=6,
                                   expansions=((0, 1), (1, 0)), arithmetic=True)
    info = cs.parse_jpeg(stream)
    assert info.hierarchical and info.sof == 0xCB
    assert stream.count(b"\xff\xcf") == 2  # two differential SOF15 frames
    assert cs.jpeg_process(stream, info).number == 29
    assert _claimers(PROCESS_29) == ["pylibjpeg"]
    np.testing.assert_array_equal(
        DicomImage(wrap(stream, image, PROCESS_29, bits)).read(), image)


def test_libjpeg_turbo_is_not_asked():
    # imagecodecs (libjpeg-turbo) does not claim .58: forcing it is refused
    # by the registry, before libjpeg-turbo's "Requested feature was omitted".
    image = _phantom.grey(32, 32, bits=8)
    data = wrap(lossless_stream(image, 8, 1, arithmetic=True), image, PROCESS_15, 8)
    from dicomio.errors import UnsupportedTransferSyntaxError

    with pytest.raises(UnsupportedTransferSyntaxError,
                       match="backend imagecodecs cannot decode"):
        DicomImage(data).read(backend="imagecodecs")
