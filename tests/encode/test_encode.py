"""Tests of dicomio.encode (the bundled samples: test_samples.py).

Every round trip is checked with a decoder independent of dicomio's own:
pydicom's pixel decoders (each available plugin where it matters) and, for the
syntaxes pydicom 3.0 cannot decode, zlib / numpy / pylibjpeg-openjpeg /
imagecodecs (``reference_decode`` in tools/make_samples.py). Lossless means
bit-exact; lossy means PSNR >= 30 dB against the source array.
"""

from __future__ import annotations

import io
import os
import zlib

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames, parse_basic_offsets

from dicomio import encode
from dicomio.errors import EncodeError
from dicomio.samples import _phantom
from dicomio.tsyntax import TRANSFER_SYNTAXES, lookup
from tests.encode._make_samples import (  # noqa: E402
    MIN_PSNR,
    psnr,
    reference_decode,
)


def _read(ds: pydicom.Dataset) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(encode.dataset_bytes(ds)))


def roundtrip(arr, keyword, **kwargs):
    """make_dataset -> bytes -> dcmread -> independent decode."""
    read = _read(encode.make_dataset(arr, keyword, **kwargs))
    return read, reference_decode(read)


def _frames(ds) -> list[bytes]:
    return list(generate_frames(ds.PixelData,
                                number_of_frames=int(ds.get("NumberOfFrames", 1))))


def _plugins(ds, keyword):
    """Decode with every available pydicom plugin: {plugin: array}."""
    from pydicom.pixels import get_decoder

    decoder = get_decoder(lookup(keyword).uid)
    out = {}
    for plugin in decoder.available_plugins:
        out[plugin] = decoder.as_array(ds, decoding_plugin=plugin)[0]
    return out


def _markers(cs: bytes, stop: bytes) -> dict[int, bytes]:
    """Marker segments of a JPEG / J2K header up to ``stop``: {marker: body}."""
    out = {}
    i = 2
    while i + 4 <= len(cs) and cs[i:i + 2] != stop:
        marker = int.from_bytes(cs[i:i + 2], "big")
        length = int.from_bytes(cs[i + 2:i + 4], "big")
        out.setdefault(marker, cs[i + 4:i + 2 + length])
        i += 2 + length
    return out


# -- test images -------------------------------------------------------------

GREY8 = _phantom.grey(40, 56, bits=8)
GREY12 = _phantom.grey(40, 56, bits=12)
GREY16 = _phantom.grey(40, 56, bits=16)
CT = _phantom.ct(48, 48)  # signed, uses the full int16 sign range (-2000..)
SIGNED12 = np.clip(CT.astype(np.int32) - 1200, -2048, 2047).astype(np.int16)
RGB = _phantom.rgb(32, 48)
RGB_SOFT = _phantom.rgb(64, 96, soft=True)  # chroma-subsampling friendly
MULTI = np.stack([_phantom.grey(32, 40, bits=12, frame=i) for i in range(3)])
MASK = np.stack([_phantom.mask(32, 40, frame=i) for i in range(3)])

# (name, array, make_dataset kwargs); "colour" cases need a colour PI.
CASES = {
    "grey8": (GREY8, {}),
    "grey12": (GREY12, {"bits_stored": 12}),
    "grey16": (GREY16, {}),
    "ct_signed16": (CT, {}),
    "signed12": (SIGNED12, {"bits_stored": 12}),
    "rgb": (RGB, {}),
    "multiframe": (MULTI, {"bits_stored": 12}),
}
# Combinations a codec cannot hold: they must raise EncodeError.
UNSUPPORTED = {
    ("JPEGXLLossless", "ct_signed16"),
    ("JPEGXLLossless", "signed12"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("keyword", encode.LOSSLESS_ENCODABLE)
def test_lossless_roundtrip(keyword, case):
    arr, kwargs = CASES[case]
    if (keyword, case) in UNSUPPORTED:
        with pytest.raises(EncodeError, match=keyword):
            encode.make_dataset(arr, keyword, **kwargs)
        return
    read, decoded = roundtrip(arr, keyword, **kwargs)
    assert str(read.file_meta.TransferSyntaxUID) == lookup(keyword).uid
    assert decoded.shape == arr.shape
    np.testing.assert_array_equal(decoded, arr)
    assert read.PixelRepresentation == int(arr.dtype.kind == "i")
    assert "LossyImageCompression" not in read


@pytest.mark.parametrize("keyword", [
    "RLELossless", "JPEGLossless", "JPEGLosslessSV1", "JPEGLSLossless",
    "JPEG2000Lossless", "HTJ2KLossless", "HTJ2KLosslessRPCL",
])
@pytest.mark.parametrize("case", ["signed12", "ct_signed16", "rgb", "multiframe"])
def test_lossless_every_pydicom_plugin(keyword, case):
    arr, kwargs = CASES[case]
    read = _read(encode.make_dataset(arr, keyword, **kwargs))
    decoded = _plugins(read, keyword)
    assert decoded, "no pydicom plugin available"
    for plugin, out in decoded.items():
        np.testing.assert_array_equal(out, arr, err_msg=plugin)


def test_mask_one_bit():
    for keyword in ("ExplicitVRLittleEndian", "DeflatedImageFrameCompression",
                    "EncapsulatedUncompressedExplicitVRLittleEndian",
                    "DeflatedExplicitVRLittleEndian"):
        read, decoded = roundtrip(MASK, keyword)
        assert read.BitsAllocated == 1 and read.BitsStored == 1
        assert read.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.1"
        np.testing.assert_array_equal(decoded, MASK.astype(np.uint8))
    with pytest.raises(EncodeError, match="1-bit"):
        encode.make_dataset(MASK, "RLELossless")


# -- lossy ---------------------------------------------------------------------

LOSSY_CASES = {
    "JPEGBaseline8Bit": [(GREY8, {}), (RGB_SOFT, {}),
                         (RGB_SOFT, {"photometric": "YBR_FULL"}),
                         (RGB, {"photometric": "RGB"})],
    "JPEGExtended12Bit": [(GREY12, {}), (GREY8, {})],
    "JPEGLSNearLossless": [(GREY8, {}), (GREY12, {"bits_stored": 12}),
                           (np.clip(SIGNED12, -2040, 2040), {"bits_stored": 12}),
                           (RGB, {"level": 3})],
    "JPEG2000": [(GREY12, {"bits_stored": 12}), (RGB, {}), (CT, {})],
    "JPEG2000MC": [(RGB, {}), (GREY8, {})],
    "HTJ2K": [(GREY12, {"bits_stored": 12}), (RGB, {}), (GREY8, {}), (CT, {})],
    "JPEGXLJPEGRecompression": [(GREY8, {}), (RGB_SOFT, {})],
    "JPEGXL": [(GREY8, {}), (RGB_SOFT, {}), (GREY12, {"bits_stored": 12})],
}


@pytest.mark.parametrize("keyword", encode.LOSSY_ENCODABLE)
def test_lossy_psnr(keyword):
    assert keyword in LOSSY_CASES
    for arr, kwargs in LOSSY_CASES[keyword]:
        read, decoded = roundtrip(arr, keyword, **kwargs)
        assert decoded.shape == arr.shape
        value = psnr(arr, decoded, int(read.BitsStored))
        assert value >= MIN_PSNR, (keyword, arr.dtype, kwargs, value)
        assert read.LossyImageCompression == "01"
        assert float(read.LossyImageCompressionRatio) > 1
        assert read.LossyImageCompressionMethod


def test_near_lossless_signed_wrap_refused():
    with pytest.raises(EncodeError, match="wrap"):
        encode.encode_frame(SIGNED12, "JPEGLSNearLossless", bits_stored=12, level=2)
    encode.encode_frame(SIGNED12, "JPEGLSNearLossless", bits_stored=12, lossless=True)


def test_near_lossless_error_bound():
    for near in (1, 3):
        read, decoded = roundtrip(GREY12, "JPEGLSNearLossless", level=near,
                                  bits_stored=12)
        err = np.abs(decoded.astype(int) - GREY12.astype(int)).max()
        assert 0 < err <= near


@pytest.mark.parametrize("keyword", ["JPEG2000", "JPEG2000MC", "HTJ2K",
                                     "JPEGLSNearLossless", "JPEGXL"])
def test_lossy_syntax_lossless_option(keyword):
    read, decoded = roundtrip(GREY8, keyword, lossless=True)
    np.testing.assert_array_equal(decoded, GREY8)
    assert "LossyImageCompression" not in read


def test_jpeg_xl_recompression_keeps_the_jpeg():
    import imagecodecs

    big = _phantom.rgb(192, 256, soft=True)
    jpeg = encode.encode_frame(big, "JPEGBaseline8Bit", level=85)
    jxl = encode.encode_frame(big, "JPEGXLJPEGRecompression", level=85)
    assert imagecodecs.jpegxl_decode_jpeg(jxl) == jpeg
    assert len(jxl) < len(jpeg)


# -- signed and 12-bit specifics ----------------------------------------------------


def test_signed_rejected_where_impossible():
    for keyword in ("JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGXL",
                    "JPEGXLLossless", "JPEGXLJPEGRecompression"):
        with pytest.raises(EncodeError) as info:
            encode.encode_frame(SIGNED12, keyword, bits_stored=12)
        assert keyword in str(info.value)
        assert lookup(keyword).uid in str(info.value)


def test_jpegls_signed_is_masked_twos_complement():
    import imagecodecs

    cs = encode.encode_frame(SIGNED12, "JPEGLSLossless", bits_stored=12)
    assert cs[:4] == b"\xff\xd8\xff\xf7"  # no SPIFF header
    assert cs[4 + 2] == 12  # SOF55 precision P
    raw = imagecodecs.jpegls_decode(cs)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, SIGNED12.view(np.uint16) & 0x0FFF)


def test_jpeg_lossless_signed_and_precision():
    import imagecodecs

    cs = encode.encode_frame(SIGNED12, "JPEGLossless", bits_stored=12, predictor=6)
    sof = _markers(cs, b"\xff\xda")
    assert sof[0xFFC3][0] == 12
    raw = imagecodecs.ljpeg_decode(cs)  # an independent lossless JPEG decoder
    np.testing.assert_array_equal(raw, SIGNED12.view(np.uint16) & 0x0FFF)
    with pytest.raises(EncodeError, match="predictor 1"):
        encode.encode_frame(GREY8, "JPEGLosslessSV1", predictor=2)


def test_jpeg2000_signed_precision_in_siz():
    cs = encode.encode_frame(SIGNED12, "JPEG2000Lossless", bits_stored=12)
    siz = _markers(cs, b"\xff\x90")[0xFF51]
    assert siz[36] == 0x80 | 11  # signed, 12 bits
    assert 0xFF64 not in _markers(cs, b"\xff\x90")  # encoder banner removed
    cs = encode.encode_frame(GREY12, "JPEG2000Lossless", bits_stored=12)
    assert _markers(cs, b"\xff\x90")[0xFF51][36] == 11


def test_htj2k_lossless_precision_is_bits_stored():
    # Issue 18: 12-bit stays 12-bit in lossless HTJ2K (SIZ rewritten).
    ds = encode.make_dataset(SIGNED12, "HTJ2KLossless", bits_stored=12)
    assert ds.BitsStored == 12 and ds.HighBit == 11
    cs = _frames(_read(ds))[0]
    assert _markers(cs, b"\xff\x90")[0xFF51][36] == 0x80 | 11
    ds = encode.make_dataset(GREY12, "HTJ2KLossless", bits_stored=12)
    assert _markers(_frames(_read(ds))[0], b"\xff\x90")[0xFF51][36] == 11


def test_htj2k_lossy_precision_is_bits_stored():
    # Issue 18: lossy HTJ2K keeps Bits Stored too (samples scaled so the
    # step sizes match the 12-bit SIZ precision).
    ds = encode.make_dataset(SIGNED12, "HTJ2K", bits_stored=12)
    assert ds.BitsStored == 12 and ds.HighBit == 11
    read = _read(ds)
    cs = _frames(read)[0]
    assert _markers(cs, b"\xff\x90")[0xFF51][36] == 0x80 | 11
    decoded = reference_decode(read)  # pylibjpeg-openjpeg
    assert psnr(SIGNED12, decoded, 12) >= MIN_PSNR
    ds = encode.make_dataset(GREY12, "HTJ2K", bits_stored=12)
    assert _markers(_frames(_read(ds))[0], b"\xff\x90")[0xFF51][36] == 11


@pytest.mark.parametrize("level", [0, 1, 10, -0.5])
def test_htj2k_level_outside_zero_one_is_refused(level):
    # The HTJ2K level is a step relative to the Bits Stored range: a
    # PSNR-like 10 used to code every pixel as one constant.
    with pytest.raises(EncodeError, match="between 0 and 1"):
        encode.make_dataset(GREY12, "HTJ2K", bits_stored=12, level=level)


def test_lossy_jpeg_bits_stored_is_the_jpeg_precision():
    # JPEG codes 8 or 12 bits: Bits Stored 10 is written as 12, 6 as 8.
    ten = (GREY12 >> 2).astype(np.uint16)
    ds = encode.make_dataset(ten, "JPEGExtended12Bit", bits_stored=10)
    assert (ds.BitsStored, ds.HighBit) == (12, 11)
    assert _markers(_frames(_read(ds))[0], b"\xff\xda")[0xFFC1][0] == 12
    six = (GREY8 >> 2).astype(np.uint8)
    for keyword in ("JPEGBaseline8Bit", "JPEGExtended12Bit"):
        ds = encode.make_dataset(six, keyword, bits_stored=6)
        assert (ds.BitsStored, ds.HighBit) == (8, 7)
        markers = _markers(_frames(_read(ds))[0], b"\xff\xda")
        assert (markers.get(0xFFC0) or markers[0xFFC1])[0] == 8


def test_jpeg_12bit_extended():
    cs = encode.encode_frame(GREY12, "JPEGExtended12Bit")
    markers = _markers(cs, b"\xff\xda")
    assert 0xFFC1 in markers and markers[0xFFC1][0] == 12
    ds = encode.make_dataset(GREY12, "JPEGExtended12Bit")
    assert ds.BitsStored == 12 and ds.HighBit == 11
    with pytest.raises(EncodeError, match="values"):
        encode.make_dataset(GREY16, "JPEGExtended12Bit")
    with pytest.raises(EncodeError):
        encode.make_dataset(GREY12, "JPEGBaseline8Bit")


def test_jpegls_12bit_precision():
    cs = encode.encode_frame(GREY12, "JPEGLSLossless", bits_stored=12)
    assert _markers(cs, b"\xff\xda")[0xFFF7][0] == 12
    cs = encode.encode_frame(GREY16, "JPEGLSLossless")
    assert _markers(cs, b"\xff\xda")[0xFFF7][0] == 16


def test_values_must_fit_bits_stored():
    with pytest.raises(EncodeError, match="Bits Stored 10"):
        encode.make_dataset(GREY12, "ExplicitVRLittleEndian", bits_stored=10)
    with pytest.raises(EncodeError, match="Bits Stored"):
        encode.encode_frame(CT, "JPEGLSLossless", bits_stored=12)


# -- codestream structure ---------------------------------------------------------


def test_jpeg_baseline_colour_signalling():
    cs = encode.encode_frame(RGB_SOFT, "JPEGBaseline8Bit")
    m = _markers(cs, b"\xff\xda")
    assert m[0xFFE0][:5] == b"JFIF\x00"
    sof = m[0xFFC0]
    assert sof[5] == 3 and sof[7] == 0x21 and sof[10] == 0x11  # 4:2:2
    m = _markers(encode.encode_frame(RGB, "JPEGBaseline8Bit", photometric="RGB"),
                 b"\xff\xda")
    assert m[0xFFEE][:5] == b"Adobe" and m[0xFFEE][11] == 0  # no transform
    assert bytes(m[0xFFC0][i] for i in (6, 9, 12)) == b"RGB"
    m = _markers(encode.encode_frame(RGB, "JPEGBaseline8Bit",
                                     photometric="YBR_FULL"), b"\xff\xda")
    assert m[0xFFC0][7] == 0x11
    ds = encode.make_dataset(RGB_SOFT, "JPEGBaseline8Bit")
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.PlanarConfiguration == 0


def test_jpeg2000_colour_transform_and_photometric():
    for keyword, pi, mct in (("JPEG2000Lossless", "YBR_RCT", 1),
                             ("JPEG2000", "YBR_ICT", 1),
                             ("JPEG2000MCLossless", "YBR_RCT", 1),
                             ("HTJ2KLossless", "YBR_RCT", 1),
                             ("HTJ2K", "YBR_ICT", 1)):
        ds = encode.make_dataset(RGB, keyword)
        assert ds.PhotometricInterpretation == pi
        cod = _markers(_frames(_read(ds))[0], b"\xff\x90")[0xFF52]
        assert cod[4] == mct, keyword
    ds = encode.make_dataset(RGB, "JPEG2000Lossless", photometric="RGB")
    read = _read(ds)
    assert _markers(_frames(read)[0], b"\xff\x90")[0xFF52][4] == 0
    np.testing.assert_array_equal(reference_decode(read), RGB)
    with pytest.raises(EncodeError, match="YBR_ICT"):
        encode.make_dataset(RGB, "JPEG2000Lossless", photometric="YBR_ICT")


def test_htj2k_rpcl_requirements():
    big = _phantom.grey(300, 140, bits=12, noise=0)
    cs = encode.encode_frame(big, "HTJ2KLosslessRPCL")
    m = _markers(cs, b"\xff\x90")
    cod = m[0xFF52]
    assert cod[1] == 2  # progression order RPCL
    levels = cod[5]
    assert max(300, 140) / 2 ** levels <= 64
    assert 0xFF55 in m  # TLM
    assert m[0xFF50][:2] == b"\x00\x02"  # CAP: Part 15 (HT) capabilities
    default = _markers(encode.encode_frame(big, "HTJ2KLossless"), b"\xff\x90")
    assert 0xFF55 not in default


def test_rle_structure_and_rules():
    data = np.zeros((4, 300), np.uint8)
    data[0, :129] = 7  # run longer than 128 leaving 1: split as 127 + 2
    data[1] = np.arange(300) % 256  # literal runs longer than 128
    data[2, 5:8] = 9  # a three-byte repeat inside literals must replicate
    data[2, 8:] = np.arange(292) % 3
    data[3, ::2] = 1
    frame = encode.encode_frame(data, "RLELossless")
    header = np.frombuffer(frame[:64], "<u4")
    assert header[0] == 1 and header[1] == 64
    seg = frame[64:]
    assert len(seg) % 2 == 0
    # Walk the segment: runs never cross rows, -128 never used.
    out, i, row_len = [], 0, []
    while len(out) < data.size:
        n = seg[i]
        assert n != 128
        if n < 128:
            chunk = list(seg[i + 1:i + 2 + n])
            i += 2 + n
        else:
            chunk = [seg[i + 1]] * (257 - n)
            i += 2
        row_len.append(len(chunk))
        out.extend(chunk)
        assert len(out) % 300 == 0 or len(out) // 300 == (len(out) - len(chunk)) // 300
    np.testing.assert_array_equal(np.array(out, np.uint8).reshape(data.shape), data)
    assert bytes([254, 9]) in seg  # replicate run of three 9s
    # 16-bit colour: 6 segments, MSB of each sample first.
    rgb16 = (RGB.astype(np.uint16) << 8) | 3
    frame = encode.rle_encode_frame(rgb16)
    header = np.frombuffer(frame[:64], "<u4")
    assert header[0] == 6 and all(o % 2 == 0 for o in header[1:7])


def test_rle_random_against_both_decoders():
    rng = np.random.default_rng(1)
    arr = rng.integers(-30000, 30000, (33, 47), dtype=np.int16)
    arr[5:9] = 1234  # long runs
    read = _read(encode.make_dataset(arr, "RLELossless"))
    for plugin, out in _plugins(read, "RLELossless").items():
        np.testing.assert_array_equal(out, arr, err_msg=plugin)


def test_deflated_image_frame_is_raw_deflate():
    arr = GREY12
    read = _read(encode.make_dataset(arr, "DeflatedImageFrameCompression"))
    (frame,) = _frames(read)
    assert len(frame) % 2 == 0
    raw = zlib.decompress(frame, wbits=-15)
    assert raw == arr.astype("<u2").tobytes()
    with pytest.raises(zlib.error):
        zlib.decompress(frame)  # not zlib-wrapped
    with pytest.raises(EncodeError, match="one fragment"):
        encode.make_dataset(MULTI, "DeflatedImageFrameCompression",
                            fragments_per_frame=2)


def test_encapsulated_uncompressed_fragments():
    odd = _phantom.grey(3, 5, bits=8)  # 15 bytes: padded to 16
    read = _read(encode.make_dataset(np.stack([odd, odd + 1]),
                                     "EncapsulatedUncompressedExplicitVRLittleEndian"))
    frames = _frames(read)
    assert [len(f) for f in frames] == [16, 16]
    assert frames[1][:15] == (odd + 1).tobytes()


def test_big_endian_bytes():
    ds = encode.make_dataset(GREY12, "ExplicitVRBigEndian", bits_stored=12)
    assert ds.PixelData[:2] == GREY12.astype(">u2").tobytes()[:2]
    data = encode.dataset_bytes(ds)
    assert GREY12.astype(">u2").tobytes() in data
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(data)).pixel_array,
                                  GREY12)


def test_deflated_dataset_reads_back():
    ds = encode.make_dataset(CT, "DeflatedExplicitVRLittleEndian")
    data = encode.dataset_bytes(ds)
    assert CT.astype("<i2").tobytes() not in data  # really deflated
    read = pydicom.dcmread(io.BytesIO(data))
    assert read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    np.testing.assert_array_equal(read.pixel_array, CT)


def test_planar_configuration_native():
    read, decoded = roundtrip(RGB, "ExplicitVRLittleEndian", planar_configuration=1)
    assert read.PlanarConfiguration == 1
    assert read.PixelData == np.moveaxis(RGB, -1, 0).tobytes()
    np.testing.assert_array_equal(decoded, RGB)
    with pytest.raises(EncodeError, match="Planar Configuration"):
        encode.make_dataset(RGB, "JPEGLSLossless", planar_configuration=1)


# -- offset tables and fragments ------------------------------------------------


@pytest.mark.parametrize("keyword", ["JPEG2000Lossless", "RLELossless",
                                     "JPEGLSLossless", "HTJ2KLossless"])
def test_offset_tables(keyword):
    n = MULTI.shape[0]
    encoded = encode.encode_frames(MULTI, keyword, bits_stored=12)
    assert len(encoded) == n
    # Basic Offset Table.
    ds = encode.make_dataset(MULTI, keyword, bits_stored=12)
    assert ds.NumberOfFrames == n
    offsets = parse_basic_offsets(ds.PixelData)
    assert len(offsets) == n and offsets[0] == 0
    read = _read(ds)
    np.testing.assert_array_equal(read.pixel_array, MULTI)
    # No offset table at all.
    ds = encode.make_dataset(MULTI, keyword, bits_stored=12, basic_offset_table=False)
    assert parse_basic_offsets(ds.PixelData) == []
    np.testing.assert_array_equal(_read(ds).pixel_array, MULTI)
    # Extended Offset Table (and an empty Basic Offset Table).
    ds = encode.make_dataset(MULTI, keyword, bits_stored=12, extended_offset_table=True)
    eot = np.frombuffer(ds.ExtendedOffsetTable, "<u8")
    lengths = np.frombuffer(ds.ExtendedOffsetTableLengths, "<u8")
    assert len(eot) == n and eot[0] == 0
    assert parse_basic_offsets(ds.PixelData) == []
    assert list(lengths) == [len(e) + len(e) % 2 for e in encoded]
    read = _read(ds)
    assert read["ExtendedOffsetTable"].VR == "OV"
    np.testing.assert_array_equal(read.pixel_array, MULTI)
    # Several fragments per frame.
    ds = encode.make_dataset(MULTI, keyword, bits_stored=12, fragments_per_frame=3)
    np.testing.assert_array_equal(_read(ds).pixel_array, MULTI)


# -- datasets and files -----------------------------------------------------------


def test_dataset_attributes():
    ds = encode.make_dataset(
        CT, "JPEG2000Lossless", pixel_spacing=(0.7, 0.8),
        image_position=(-10, -20.5, 3), image_orientation=(1, 0, 0, 0, 1, 0),
        rescale=(1, -1024, "HU"), window=(40, 400), modality="CT",
        series_description="test", uid_seed="seed", study_date="20200101",
        study_time="101010", PixelPaddingValue=-2000, InstanceNumber=7,
    )
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert "NumberOfFrames" not in ds
    read = _read(ds)
    assert (read.Rows, read.Columns, read.SamplesPerPixel) == (48, 48, 1)
    assert (read.BitsAllocated, read.BitsStored, read.HighBit) == (16, 16, 15)
    assert read.PixelRepresentation == 1
    assert read.PhotometricInterpretation == "MONOCHROME2"
    assert [float(v) for v in read.PixelSpacing] == [0.7, 0.8]
    assert [float(v) for v in read.ImagePositionPatient] == [-10, -20.5, 3]
    assert float(read.RescaleIntercept) == -1024 and read.RescaleType == "HU"
    assert float(read.WindowCenter) == 40 and float(read.WindowWidth) == 400
    assert read.PixelPaddingValue == -2000 and read["PixelPaddingValue"].VR == "SS"
    assert read.InstanceNumber == 7 and read.Modality == "CT"
    again = encode.make_dataset(CT, "JPEG2000Lossless", uid_seed="seed")
    assert again.SOPInstanceUID == ds.SOPInstanceUID
    assert encode.make_dataset(CT).SOPInstanceUID != ds.SOPInstanceUID


def test_sop_classes_and_frames():
    mf = "1.2.840.10008.5.1.4.1.1.7."
    assert encode.make_dataset(MULTI).SOPClassUID == mf + "3"
    assert encode.make_dataset(MULTI.astype(np.uint8)).SOPClassUID == mf + "2"
    colour = encode.make_dataset(np.stack([RGB, RGB]))
    assert colour.SOPClassUID == mf + "4" and colour.NumberOfFrames == 2
    one = encode.make_dataset(MULTI[:1], multiframe=True)
    assert one.NumberOfFrames == 1 and one.SOPClassUID == mf + "3"
    assert encode.make_dataset(RGB).SamplesPerPixel == 3  # (r, c, 3) is colour
    grey3 = encode.make_dataset(RGB, photometric="MONOCHROME2")
    assert grey3.NumberOfFrames == 32 and grey3.Columns == 3


def test_errors_name_the_syntax():
    with pytest.raises(EncodeError) as info:
        encode.make_dataset(GREY8, "MPEG2MPML")
    assert "MPEG2MPML" in str(info.value)
    with pytest.raises(EncodeError, match="unknown DICOM keyword"):
        encode.make_dataset(GREY8, NotAKeyword=1)
    with pytest.raises(EncodeError, match="dtype"):
        encode.encode_frame(GREY8.astype(np.float32), "RLELossless")
    with pytest.raises(EncodeError, match="JPEG-LS Lossless needs NEAR=0"):
        encode.encode_frame(GREY8, "JPEGLSLossless", level=2)
    with pytest.raises(EncodeError, match="not allowed"):
        encode.make_dataset(RGB, "RLELossless", photometric="YBR_FULL_422")
    with pytest.raises(EncodeError, match="lossless only"):
        encode.encode_frame(GREY8, "RLELossless", lossless=False)


def test_uid_and_keyword_accepted():
    a = encode.encode_frame(GREY8, "1.2.840.10008.1.2.4.80")
    assert a == encode.encode_frame(GREY8, "JPEGLSLossless")
    # The policy: every syntax is encodable, except video (decoded through
    # PyAV, never written by encode_frame) and DECODE_ONLY, the retired JPEG
    # processes no installed Python encoder writes, each with its reason.
    video = {t.keyword for t in TRANSFER_SYNTAXES.values() if t.family == "video"}
    retired = {t.keyword for t in TRANSFER_SYNTAXES.values() if t.retired
               and t.family == "jpeg"}
    assert set(encode.DECODE_ONLY) == retired
    assert all(len(why) > 20 for why in encode.DECODE_ONLY.values())
    assert set(encode.ENCODABLE) == (
        set(_keywords()) - video - set(encode.DECODE_ONLY))
    assert not set(encode.ENCODABLE) & set(encode.DECODE_ONLY)


def _keywords():
    return [t.keyword for t in TRANSFER_SYNTAXES.values()]


@pytest.mark.parametrize("keyword", ["JPEGExtended35",
                                     "JPEGFullProgressionNonHierarchical1012",
                                     "JPEGLosslessHierarchical29"])
def test_decode_only_syntaxes_say_why(keyword):
    with pytest.raises(EncodeError) as info:
        encode.encode_frame(GREY8, keyword)
    assert "cannot encode" in str(info.value)
    assert encode.DECODE_ONLY[keyword] in str(info.value)


def test_write_is_atomic(tmp_path):
    target = tmp_path / "out.dcm"
    target.write_bytes(b"old")
    encode.write(target, MULTI, "JPEGXLLossless", bits_stored=12)
    assert sorted(os.listdir(tmp_path)) == ["out.dcm"]
    read = pydicom.dcmread(target)
    assert read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.110"
    np.testing.assert_array_equal(reference_decode(read), MULTI)
    with pytest.raises(EncodeError):
        encode.write(target, SIGNED12, "JPEGBaseline8Bit")
    assert sorted(os.listdir(tmp_path)) == ["out.dcm"]
