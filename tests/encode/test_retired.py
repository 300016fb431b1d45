"""dicomio.encode.retired: the retired JPEG syntaxes, written by re-coding.

Each file is built here (libjpeg-turbo's jpegtran re-codes baseline JPEG;
the hierarchical ones get a DHP segment), its stream is checked to be the
process the syntax names, and it is decoded by every backend that claims
the syntax and compared with a decoder of a different library: lossless
bit-exact against the source array, lossy within 1 of another decoder.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from dicomio import DicomImage, encode
from dicomio.backends import registry
from dicomio.encode.retired import (
    HIERARCHICAL_BASE,
    JPEGTRAN_ARGS,
    jpegtran,
    make_retired_dataset,
    one_frame_hierarchical,
)
from dicomio.errors import EncodeError, UnsupportedTransferSyntaxError
from dicomio.pixels import codestream as cs
from dicomio.samples import _phantom
from dicomio.tsyntax import lookup

GREY8 = _phantom.grey(40, 56, bits=8)
RGB = _phantom.rgb(64, 96, soft=True)  # chroma-subsampling friendly
GREY12 = _phantom.grey(40, 56, bits=12)

#: The process number each written syntax must carry (8-bit data).
PROCESS = {
    "JPEGExtended35": 3,
    "JPEGSpectralSelectionNonHierarchical68": 6,
    "JPEGSpectralSelectionNonHierarchical79": 7,
    "JPEGFullProgressionNonHierarchical1012": 10,
    "JPEGFullProgressionNonHierarchical1113": 11,
    "JPEGExtendedHierarchical1618": 16,
    "JPEGExtendedHierarchical1719": 17,
    "JPEGSpectralSelectionHierarchical2022": 20,
    "JPEGSpectralSelectionHierarchical2123": 21,
    "JPEGFullProgressionHierarchical2426": 24,
    "JPEGFullProgressionHierarchical2527": 25,
    "JPEGLosslessHierarchical28": 28,
}
LOSSY = [k for k in PROCESS if k != "JPEGLosslessHierarchical28"]


def _frames(ds: pydicom.Dataset) -> list[bytes]:
    n = int(ds.get("NumberOfFrames", 1))
    return [bytes(f) for f in generate_frames(ds.PixelData, number_of_frames=n)]


def _read(ds: pydicom.Dataset, backend: str) -> np.ndarray:
    return DicomImage(encode.dataset_bytes(ds)).read(backend=backend)


def test_every_writable_syntax_is_listed():
    assert set(PROCESS) == set(JPEGTRAN_ARGS) | set(HIERARCHICAL_BASE)


@pytest.mark.parametrize("keyword", sorted(PROCESS))
def test_written_stream_is_the_syntax_process(keyword):
    arr = GREY12 if keyword == "JPEGLosslessHierarchical28" else GREY8
    ds = make_retired_dataset(arr, keyword, bits_stored=12 if arr is GREY12 else None)
    ts = lookup(keyword)
    assert ds.file_meta.TransferSyntaxUID == ts.uid
    for frame in _frames(ds):
        info = cs.parse_jpeg(frame)
        proc = cs.jpeg_process(frame, info)
        expected = PROCESS[keyword] + (2 if arr is GREY12 and proc.mode != "lossless"
                                       else 0)
        assert proc.number == expected, str(proc)
        assert cs.process_mismatch(frame, info, ts) is None
        assert info.hierarchical == (keyword in HIERARCHICAL_BASE)
    assert ("LossyImageCompression" in ds) == ts.lossy
    # pydicom reads the file back with the retired UID.
    back = pydicom.dcmread(__import__("io").BytesIO(encode.dataset_bytes(ds)))
    assert back.file_meta.TransferSyntaxUID == ts.uid


@pytest.mark.parametrize("keyword", LOSSY)
@pytest.mark.parametrize("arr", [GREY8, RGB], ids=["grey", "rgb"])
def test_lossy_backends_agree(keyword, arr):
    ds = make_retired_dataset(arr, keyword, level=95)
    ts = lookup(keyword)
    names = [n for n in registry.names() if ts.uid in registry.get(n).syntaxes]
    assert names, keyword
    reads = {n: _read(ds, n) for n in names}
    # A different library decodes the same stream: libjpeg-turbo for the
    # non-hierarchical processes, Thomas Richter's libjpeg for all.
    ref = reads["pylibjpeg"]
    for name, got in reads.items():
        diff = np.abs(got.astype(int) - ref.astype(int))
        if arr.ndim == 2:
            assert diff.max() <= 1, (name, diff.max())
        else:
            # Colour: the decoders upsample 4:2:2 chroma differently (the same
            # spread as on baseline JPEG, JPEGBaseline8Bit); the samples agree.
            assert diff.mean() < 1.5, (name, diff.mean())
    # And the pixels are the image: PSNR >= 30 dB.
    mse = np.mean((ref.astype(float) - arr.astype(float)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) >= 30


@pytest.mark.parametrize("arr,bits", [(GREY8, 8), (GREY12, 12), (RGB, 8)],
                         ids=["grey8", "grey12", "rgb"])
def test_hierarchical_lossless_is_bit_exact(arr, bits):
    kwargs = {"photometric": "RGB"} if arr.ndim == 3 else {"bits_stored": bits}
    ds = make_retired_dataset(arr, "JPEGLosslessHierarchical28", predictor=6, **kwargs)
    (frame,) = _frames(ds)
    # Two frames: SOF3 (the image without its two low bits), then a
    # differential SOF7 frame adding them, which the decoder must apply.
    assert frame.index(b"\xff\xde") < frame.index(b"\xff\xc3") < frame.index(
        b"\xff\xc7")
    got = _read(ds, "pylibjpeg")
    np.testing.assert_array_equal(got, arr)
    assert DicomImage(encode.dataset_bytes(ds)).read().dtype == arr.dtype
    # The first frame alone is not the image: the differential frame counts.
    coarse = make_retired_dataset(arr & ~np.array(3, arr.dtype),
                                  "JPEGLosslessHierarchical28",
                                  recode=one_frame_hierarchical, **kwargs)
    first = _read(coarse, "pylibjpeg")
    assert not np.array_equal(first, arr)
    np.testing.assert_array_equal(first, arr & ~np.array(3, arr.dtype))


def test_hierarchical_above_12_bits_names_the_limit():
    # libjpeg refuses hierarchical frames that are not 8 or 12 bits.
    ds = make_retired_dataset(_phantom.ct(32, 32), "JPEGLosslessHierarchical28")
    with pytest.raises(UnsupportedTransferSyntaxError) as info:
        DicomImage(encode.dataset_bytes(ds)).read()
    assert ("no installed backend decodes JPEG Process 28 (hierarchical lossless, "
            "Huffman)") in str(info.value)
    assert "pylibjpeg cannot decode 16-bit 1-sample data" in str(info.value)


def test_multiframe_and_offset_tables():
    stack = np.stack([_phantom.grey(32, 48, bits=8, frame=i) for i in range(3)])
    for eot in (False, True):
        ds = make_retired_dataset(stack, "JPEGFullProgressionNonHierarchical1012",
                                  extended_offset_table=eot, level=95)
        assert ("ExtendedOffsetTable" in ds) == eot
        with DicomImage(encode.dataset_bytes(ds)) as img:
            assert img.read().shape == stack.shape
            assert [img.frame_info(i).backend for i in range(3)] == ["imagecodecs"] * 3


@pytest.mark.parametrize("keyword", ["JPEGLosslessNonHierarchical15",
                                     "JPEGLosslessHierarchical29", "JPEGBaseline8Bit"])
def test_unwritable_syntaxes_are_refused(keyword):
    with pytest.raises(EncodeError, match="cannot write it") as info:
        make_retired_dataset(GREY8, keyword)
    if keyword in encode.DECODE_ONLY:
        assert encode.DECODE_ONLY[keyword] in str(info.value)


def test_a_recoding_to_another_process_is_refused():
    # jpegtran's full progression is not spectral selection: the wrapper
    # reads the scans and refuses to label it .53.
    with pytest.raises(EncodeError, match="Process 10 .*not Process 6 & 8"):
        make_retired_dataset(GREY8, "JPEGSpectralSelectionNonHierarchical68",
                             recode=jpegtran("JPEGFullProgressionNonHierarchical1012"))
    with pytest.raises(EncodeError, match="re-coding failed"):
        make_retired_dataset(GREY8, "JPEGExtended35", recode=lambda b: 1 / 0)
    with pytest.raises(EncodeError, match="not JPEG"):
        make_retired_dataset(GREY8, "JPEGExtended35", recode=lambda b: b"nope")


def test_one_frame_hierarchical_layout():
    base = encode.encode_frame(GREY8, "JPEGBaseline8Bit")
    stream = one_frame_hierarchical(base)
    # DHP carries the frame's size with Tq 0, the frame becomes SOF1.
    dhp = stream.index(b"\xff\xde")
    assert stream.index(b"\xff\xc1") > dhp and b"\xff\xc0" not in stream[:dhp + 20]
    info = cs.parse_jpeg(stream)
    assert info.hierarchical and info.sof == 0xC1
    assert (info.rows, info.columns) == GREY8.shape
    assert stream[dhp + 4 + 6 + 2] == 0  # Tq of the one component
    with pytest.raises(ValueError):
        one_frame_hierarchical(b"\xff\xd8\xff\xda\x00\x02")


def test_twelve_bit_needs_a_recoder():
    with pytest.raises(EncodeError, match="8-bit JPEG only"):
        make_retired_dataset(GREY12, "JPEGExtended35", bits_stored=12)
    # A recoder that keeps the extended (SOF1) stream is refused: Process 4
    # is not the arithmetic Process 5.
    with pytest.raises(EncodeError, match="Process 4 .*not Process 3 & 5"):
        make_retired_dataset(GREY12, "JPEGExtended35", bits_stored=12,
                             recode=lambda b: b)
