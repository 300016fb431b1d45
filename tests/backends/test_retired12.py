"""12-bit retired JPEG: arithmetic coding (.52), spectral selection (.53,
.54) and full progression (.55, .56).

No installed encoder writes them (libjpeg-turbo 2.1's jpegtran is 8-bit
only; imagecodecs writes no progressive scans), so tests/_jpegwriter
writes one set of quantised DCT coefficients six ways: sequential (SOF1,
under JPEGExtended12Bit), spectral selection and full progression with
successive approximation (SOF2), each also arithmetic-coded (SOF9, SOF10).
A decoder that reads them right returns the SAME pixels for each: that is
the ground truth, exact equality. The pixels are also checked against the ideal decoder (float
IDCT of the same coefficients) and the source image (within the
quantisation error bound). 8-bit streams of the same writer cover Pillow.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pydicom.encaps import encapsulate

from dicomio import DicomImage, encode, registry
from dicomio.encode.retired import make_retired_dataset
from dicomio.errors import UnsupportedTransferSyntaxError
from dicomio.pixels import codestream as cs
from dicomio.samples import _phantom
from dicomio.tsyntax import lookup
from tests._jpegwriter import (
    FULL,
    SPECTRAL,
    dct_stream,
    encode_dct,
    error_bound,
    reconstruct,
)
from tests._jpegwriter.entropy import build_table

SEQUENTIAL = "JPEGExtended12Bit"
WRITTEN = {  # keyword -> (scan script (None: one sequential scan), arithmetic)
    SEQUENTIAL: (None, False),
    "JPEGExtended35": (None, True),
    "JPEGSpectralSelectionNonHierarchical68": (SPECTRAL, False),
    "JPEGSpectralSelectionNonHierarchical79": (SPECTRAL, True),
    "JPEGFullProgressionNonHierarchical1012": (FULL, False),
    "JPEGFullProgressionNonHierarchical1113": (FULL, True),
}
#: Process number of each stream, 8-bit / 12-bit (PS3.6 numbering).
PROCESS = {SEQUENTIAL: (2, 4), "JPEGExtended35": (3, 5),
           "JPEGSpectralSelectionNonHierarchical68": (6, 8),
           "JPEGSpectralSelectionNonHierarchical79": (7, 9),
           "JPEGFullProgressionNonHierarchical1012": (10, 12),
           "JPEGFullProgressionNonHierarchical1113": (11, 13)}
#: What each backend does with the streams at 12 bits (measured here).
DECODES_12 = {"imagecodecs": True, "pylibjpeg": True, "gdcm": True, "pillow": False}


def _image(bits: int) -> np.ndarray:
    return _phantom.grey(44, 60, bits=bits)  # not a multiple of 8: edge blocks


def wrap(stream: bytes, source: np.ndarray, keyword: str, bits: int) -> bytes:
    """A DICOM file holding ``stream`` under ``keyword`` (Bits Stored ``bits``)."""
    if lookup(keyword).retired:
        # make_retired_dataset checks that the stream is the syntax's process.
        ds = make_retired_dataset(source, keyword, recode=lambda _old: stream,
                                  bits_stored=bits)
    else:
        ds = encode.make_dataset(source, keyword, bits_stored=bits)
        ds.PixelData = encapsulate([stream + b"\x00" * (len(stream) % 2)])
    return encode.dataset_bytes(ds)


def _claimers(keyword: str) -> list[str]:
    uid = lookup(keyword).uid
    return [n for n in registry.names() if uid in registry.get(n).syntaxes]


@pytest.fixture(scope="module", params=[8, 12])
def written(request):
    bits = request.param
    image = _image(bits)
    coef = encode_dct(image, bits)
    files = {kw: wrap(dct_stream(coef, *how), image, kw, bits)
             for kw, how in WRITTEN.items()}
    ideal = reconstruct(coef.coef, coef.q, 1 << (bits - 1), coef.shape,
                        (1 << bits) - 1)
    return bits, image, coef, files, ideal


def test_streams_are_the_processes(written):
    bits, _, coef, _, _ = written
    for kw, how in WRITTEN.items():
        stream = dct_stream(coef, *how)
        info = cs.parse_jpeg(stream)
        assert (info.precision, info.rows, info.columns) == (bits, 44, 60)
        proc = cs.jpeg_process(stream, info)
        assert proc.number == PROCESS[kw][bits == 12], str(proc)
        assert cs.process_mismatch(stream, info, lookup(kw)) is None


@pytest.mark.parametrize("keyword", [k for k in WRITTEN if k != SEQUENTIAL])
@pytest.mark.parametrize("backend", sorted(DECODES_12))
def test_progressive_equals_sequential(written, keyword, backend):
    bits, image, coef, files, ideal = written
    if backend not in _claimers(keyword):
        # GDCM's IJG 6b refuses arithmetic coding: not claimed, so refused
        # before it runs.
        assert backend == "gdcm" and WRITTEN[keyword][1]
        with pytest.raises(UnsupportedTransferSyntaxError, match="backend gdcm "
                           "cannot decode"):
            DicomImage(files[keyword]).read(backend=backend)
        return
    if bits == 12 and not DECODES_12[backend]:
        with pytest.raises(UnsupportedTransferSyntaxError) as info:
            DicomImage(files[keyword]).read(backend=backend)
        assert f"backend {backend} cannot decode 12-bit 1-sample data" in str(
            info.value)
        assert lookup(keyword).uid in str(info.value)
        return
    seq = DicomImage(files[SEQUENTIAL]).read(backend=backend)
    with DicomImage(files[keyword]) as img:
        got = img.read(backend=backend)
        assert img.frame_info(0).backend == backend
    # The same coefficients, decoded by the same library: identical pixels.
    np.testing.assert_array_equal(got, seq)
    assert got.dtype == image.dtype
    # Within the IDCT rounding of the ideal decoder, and the image within
    # the quantisation error of the coefficients.
    assert np.abs(got.astype(int) - ideal).max() <= 2
    assert np.all(np.abs(got.astype(int) - image) <= error_bound(coef.q, image.shape) + 2)


def test_backends_agree_and_default_order(written):
    bits, _, _, files, _ = written
    for kw in WRITTEN:
        reads = {n: DicomImage(files[kw]).read(backend=n) for n in _claimers(kw)
                 if bits == 8 or DECODES_12[n]}
        assert len(reads) >= 2, (kw, list(reads))
        ref = reads["pylibjpeg"].astype(int)
        for name, got in reads.items():
            assert np.abs(got.astype(int) - ref).max() <= 2, (kw, name)
        np.testing.assert_array_equal(DicomImage(files[kw]).read(), reads["imagecodecs"])


def test_pillow_refuses_12_bit_and_the_default_falls_back():
    image = _image(12)
    data = wrap(dct_stream(encode_dct(image, 12), FULL), image,
                "JPEGFullProgressionNonHierarchical1012", 12)
    # Pillow is asked only when forced; in the default order it is skipped
    # (its supports() is False for 12-bit JPEG) and the next backend decodes.
    with DicomImage(data) as img:
        img.read(backend=["pillow", "pylibjpeg"])
        assert img.frame_info(0).backend == "pylibjpeg"


def test_huffman_tables_are_valid():
    # Skewed counts force code lengths past 16 before the Annex K.3 limit.
    counts = Counter({s: 1 << min(s, 40) for s in range(60)})
    table = build_table(counts)
    lengths = [size for _, size in table.codes.values()]
    assert max(lengths) <= 16 and sum(table.bits) == len(counts)
    assert sum(2.0 ** -n for n in lengths) < 1  # room left: no all-ones code
    codes = {(c, n) for c, n in table.codes.values()}
    for c, n in codes:  # prefix-free
        assert not any(m > n and (d >> (m - n)) == c for d, m in codes)
        assert c != (1 << n) - 1
