"""dicomio.transcode: any file to any syntax, header kept, read by other decoders."""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames, parse_basic_offsets
from pydicom.pixels import pixel_array

import dicomio
from dicomio import encode
from dicomio.cli import main
from dicomio.dask import transcode_many
from dicomio.errors import DicomioError, EncodeError
from dicomio.image.state import DicomioWarning
from dicomio.pixels.codestream.j2k import parse_j2k
from dicomio.pixels.codestream.jpeg import parse_jpeg
from tests.conftest import corpus_file

CT = "CT_small.dcm"  # signed 16-bit, implicit VR
MR12 = "emri_small_jpeg_2k_lossless.dcm"  # 10 frames, unsigned, Bits Stored 12
RGB = "SC_rgb_rle.dcm"
YBR = "SC_ybr_full_uncompressed.dcm"

# Target -> the decoder that is not dicomio's own (pydicom plugin or raw codec).
LOSSLESS_READERS = {
    "ExplicitVRLittleEndian": "pydicom",
    "ImplicitVRLittleEndian": "pydicom",
    "ExplicitVRBigEndian": "pydicom",
    "DeflatedExplicitVRLittleEndian": "pydicom",
    "EncapsulatedUncompressedExplicitVRLittleEndian": "raw",
    "DeflatedImageFrameCompression": "inflate",
    "RLELossless": "pydicom",
    "JPEGLossless": "gdcm",
    "JPEGLosslessSV1": "gdcm",
    "JPEGLSLossless": "pyjpegls",
    "JPEG2000Lossless": "pylibjpeg",
    "JPEG2000MCLossless": "openjpeg",
    "HTJ2KLossless": "pylibjpeg",
    "HTJ2KLosslessRPCL": "pylibjpeg",
    "JPEGXLLossless": "jpegxl",
}


def _source(name: str) -> np.ndarray:
    with dicomio.DicomImage(corpus_file(name), color="native") as img:
        return img.read(...)


def _other_decoder(path: Path, reader: str) -> np.ndarray:
    ds = pydicom.dcmread(path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if reader in ("pydicom", "gdcm", "pyjpegls", "pylibjpeg"):
        plugin = "" if reader == "pydicom" else reader
        arr = pixel_array(ds, decoding_plugin=plugin, raw=True)
        return arr.reshape((n, *arr.shape[-3 + (ds.SamplesPerPixel == 1):]))
    frames = list(generate_frames(ds.PixelData, number_of_frames=n))
    shape = (int(ds.Rows), int(ds.Columns)) + (
        (3,) if ds.SamplesPerPixel == 3 else ())
    dtype = np.dtype(f"{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}")
    if reader == "openjpeg":  # pylibjpeg-openjpeg on the codestreams
        import openjpeg

        return np.stack([openjpeg.decode(f) for f in frames]).astype(dtype)
    if reader == "jpegxl":
        import imagecodecs

        return np.stack([imagecodecs.jpegxl_decode(f) for f in frames]).astype(dtype)
    if reader == "inflate":
        frames = [zlib.decompress(f, -15) for f in frames]
    size = int(np.prod(shape)) * dtype.itemsize
    return np.stack([np.frombuffer(f[:size], dtype.newbyteorder("<")).reshape(shape)
                     for f in frames])


@pytest.mark.parametrize("ts", sorted(LOSSLESS_READERS))
@pytest.mark.parametrize("name", [MR12, RGB])
def test_lossless_read_back_by_another_decoder(tmp_path, name, ts):
    src = corpus_file(name)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out.dcm"
    dicomio.transcode(src, out, ts)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # input untouched
    expected = _source(name)
    got = _other_decoder(out, LOSSLESS_READERS[ts])
    if name == RGB and ts.startswith(("JPEG2000", "HTJ2K")):
        assert pydicom.dcmread(out).PhotometricInterpretation == "YBR_RCT"
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    # and by dicomio, bit for bit
    np.testing.assert_array_equal(dicomio.DicomImage(out, color="native").read(...),
                                  expected)


@pytest.mark.parametrize("ts,reader", [
    ("JPEGBaseline8Bit", "pydicom"), ("JPEGExtended12Bit", "gdcm"),
    ("JPEGLSNearLossless", "pyjpegls"), ("JPEG2000", "pylibjpeg"),
    ("JPEG2000MC", "openjpeg"), ("HTJ2K", "pylibjpeg"), ("JPEGXL", "jpegxl"),
])
def test_lossy_targets_read_by_another_decoder(tmp_path, ts, reader):
    src = corpus_file(RGB)
    out = tmp_path / "out.dcm"
    dicomio.transcode(src, out, ts)
    ds = pydicom.dcmread(out)
    got = _other_decoder(out, reader)
    assert got.shape[-3:] == (ds.Rows, ds.Columns, 3)
    assert ds.LossyImageCompression == "01"


def test_header_kept_and_file_meta_regenerated(tmp_path):
    src = corpus_file(CT)
    out = tmp_path / "ct.dcm"
    dicomio.transcode(src, out, "JPEGLSLossless")
    a, b = pydicom.dcmread(src), pydicom.dcmread(out)
    pixel_description = {"PixelData", "BitsAllocated", "BitsStored", "HighBit",
                         "PixelRepresentation", "PhotometricInterpretation",
                         "SamplesPerPixel", "DataSetTrailingPadding"}
    for elem in a:
        if elem.keyword not in pixel_description:
            assert elem.tag in b, elem
            assert b[elem.tag].value == elem.value, elem
    assert b.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert b.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert b.file_meta.ImplementationClassUID == encode.IMPLEMENTATION_CLASS_UID
    assert b.SOPInstanceUID == a.SOPInstanceUID  # lossless keeps the UID
    assert (b.BitsStored, b.PixelRepresentation) == (16, 1)


def test_elements_after_pixel_data_kept(tmp_path):
    src = tmp_path / "src.dcm"
    ds = encode.make_dataset(np.arange(64, dtype=np.uint8).reshape(8, 8))
    ds.add_new(0x7FE10010, "LO", "DICOMIO TEST")
    ds.add_new(0x7FE11001, "LO", "after pixel data")
    encode.save_dataset(ds, src)
    out = tmp_path / "out.dcm"
    dicomio.transcode(src, out, "RLELossless")
    assert pydicom.dcmread(out)[0x7FE11001].value == "after pixel data"


def test_lossy_gets_new_uid_and_history(tmp_path):
    src = corpus_file(MR12)
    first, second = tmp_path / "a.dcm", tmp_path / "b.dcm"
    dicomio.transcode(src, first, "JPEG2000", level=60)
    dicomio.transcode(first, second, "JPEGLSNearLossless", level=1)
    a, b, c = (pydicom.dcmread(p) for p in (src, first, second))
    assert len({a.SOPInstanceUID, b.SOPInstanceUID, c.SOPInstanceUID}) == 3
    assert c.file_meta.MediaStorageSOPInstanceUID == c.SOPInstanceUID
    assert c.LossyImageCompression == "01"
    assert list(c.LossyImageCompressionMethod) == ["ISO_15444_1", "ISO_14495_1"]
    assert len(c.LossyImageCompressionRatio) == 2
    assert "JPEG2000" in c.DerivationDescription
    assert "JPEGLSNearLossless" in c.DerivationDescription


@pytest.mark.parametrize("ts", ["HTJ2KLossless", "HTJ2KLosslessRPCL", "JPEGLSLossless",
                                "JPEG2000Lossless", "RLELossless"])
def test_12_bit_stays_12_bit(tmp_path, ts):
    out = tmp_path / "mr.dcm"
    dicomio.transcode(corpus_file(MR12), out, ts)
    ds = pydicom.dcmread(out)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    if ts.startswith(("HTJ2K", "JPEG2000")):
        cs = next(generate_frames(ds.PixelData, number_of_frames=10))
        siz = cs.index(b"\xff\x51")
        assert cs[siz + 40] == 11  # Ssiz: unsigned, 12 bits


def test_multiframe_one_fragment_per_frame_with_bot(tmp_path):
    out = tmp_path / "mf.dcm"
    dicomio.transcode(corpus_file(MR12), out, "HTJ2KLossless")
    ds = pydicom.dcmread(out)
    assert ds.NumberOfFrames == 10
    offsets = parse_basic_offsets(io.BytesIO(ds.PixelData))
    frames = list(generate_frames(ds.PixelData, number_of_frames=10))
    assert len(offsets) == 10 and offsets[0] == 0
    assert offsets[1:] == list(np.cumsum([len(f) + 8 for f in frames])[:-1])
    assert "ExtendedOffsetTable" not in ds


@pytest.mark.parametrize("ts", ["JPEG2000Lossless", "JPEG2000", "HTJ2KLossless",
                                "JPEGLSLossless"])
def test_frames_coded_in_threads_give_the_same_file(tmp_path, ts):
    # Frames are encoded in parallel threads (threads=None) and a lone frame
    # with OpenJPEG's own threads: the Pixel Data is byte for byte what one
    # thread writes.
    one, many = tmp_path / "one.dcm", tmp_path / "many.dcm"
    dicomio.transcode(corpus_file(MR12), one, ts, threads=1)
    dicomio.transcode(corpus_file(MR12), many, ts, threads=2)
    assert pydicom.dcmread(one).PixelData == pydicom.dcmread(many).PixelData
    # A lone frame: OpenJPEG's own threads, same codestream.
    from dicomio.encode.codecs import _encode_all
    from dicomio.encode.plan import _lookup, _plan

    frames = _source(MR12)[:1]
    plan = _plan(_lookup(ts), frames[0].shape, frames.dtype, bits_stored=12,
                 photometric=None, level=None)
    assert _encode_all(plan, frames, 2) == _encode_all(plan, frames, 1)


def test_extended_offset_table_when_offsets_exceed_32_bits(monkeypatch, tmp_path):
    from dicomio.encode import transcode as module

    monkeypatch.setattr(module, "_BOT_LIMIT", 100)  # as if frames were > 4 GiB
    out = tmp_path / "eot.dcm"
    dicomio.transcode(corpus_file(MR12), out, "RLELossless")
    ds = pydicom.dcmread(out)
    assert len(ds.ExtendedOffsetTable) == 8 * 10
    assert ds.PixelData[4:8] == b"\x00\x00\x00\x00"  # empty Basic Offset Table
    np.testing.assert_array_equal(dicomio.DicomImage(out).read(...), _source(MR12))


@pytest.mark.parametrize("name,ts,why", [
    (CT, "JPEGXLLossless", "signed"),
    (CT, "JPEGBaseline8Bit", "unsigned 8-bit"),
    (MR12, "JPEGBaseline8Bit", "unsigned 8-bit"),
    (CT, "JPEGExtended12Bit", "signed"),
    ("OBXXXX1A.dcm", "JPEG2000", "PALETTE COLOR"),
])
def test_impossible_combinations_say_why(tmp_path, name, ts, why):
    out = tmp_path / "x.dcm"
    with pytest.raises(EncodeError, match=why) as info:
        dicomio.transcode(corpus_file(name), out, ts)
    assert name in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_source(tmp_path):
    src = tmp_path / "ct.dcm"
    src.write_bytes(corpus_file(CT).read_bytes())
    with pytest.raises(DicomioError, match="overwrite its source"):
        dicomio.transcode(src, src, "RLELossless")


def test_lossless_check_refuses_a_wrong_codestream(monkeypatch, tmp_path):
    from dicomio.encode import transcode as module

    real = module._encode_all

    def corrupt(plan, stack, threads=None):
        return real(plan, stack.copy() + 1, threads)

    monkeypatch.setattr(module, "_encode_all", corrupt)
    out = tmp_path / "x.dcm"
    with pytest.raises(EncodeError, match="does not decode to the source"):
        dicomio.transcode(corpus_file(MR12), out, "RLELossless")
    assert not out.exists()


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "ct.dcm").write_bytes(corpus_file(CT).read_bytes())
    (src / "sub" / "rgb.dcm").write_bytes(corpus_file(RGB).read_bytes())
    data = corpus_file(MR12).read_bytes()
    (src / "sub" / "bad.dcm").write_bytes(data[: len(data) // 2])
    return src


def test_cli_folder_keeps_layout_and_goes_on(tmp_path, capsys):
    src = _folder(tmp_path)
    rc = main(["transcode", str(src), str(tmp_path / "out"), "--to",
               "JPEGLSLossless", "--jobs", "2"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "2 written, 0 copied unchanged (no pixel data), 1 failed" in captured.out
    assert "bad.dcm" in captured.err
    assert (tmp_path / "out" / "ct.dcm").exists()
    assert (tmp_path / "out" / "sub" / "rgb.dcm").exists()
    assert not (tmp_path / "out" / "sub" / "bad.dcm").exists()


def test_cli_one_file_with_level(tmp_path, capsys):
    out = tmp_path / "o.dcm"
    assert main(["transcode", str(corpus_file(RGB)), str(out), "--to", "JPEG2000",
                 "--level", "45"]) == 0
    assert pydicom.dcmread(out).LossyImageCompression == "01"
    assert main(["transcode", str(corpus_file(CT)), str(out), "--to", "JPEGXL"]) == 2
    assert "signed" in capsys.readouterr().err


def test_transcode_many_reports_per_file(tmp_path):
    src = _folder(tmp_path)
    files = sorted(p for p in src.rglob("*.dcm"))
    dests = [tmp_path / "out" / p.relative_to(src) for p in files]
    report = transcode_many(files, dests, "HTJ2KLossless", scheduler="sync")
    assert [r["ok"] for r in report] == [True, False, True]  # ct, sub/bad, sub/rgb
    assert "bad.dcm" in report[1]["error"]
    np.testing.assert_array_equal(dicomio.DicomImage(dests[0]).read(...),
                                  _source(CT))


def _gdcm(path: Path) -> np.ndarray:
    """GDCM's own reader (pydicom's gdcm plugin refuses 12-bit JPEG)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    image = reader.GetImage()
    raw = image.GetBuffer().encode("utf-8", "surrogateescape")  # SWIG gives a str
    fmt = image.GetPixelFormat()
    dtype = np.dtype(f"{'i' if fmt.GetPixelRepresentation() else 'u'}"
                     f"{fmt.GetBitsAllocated() // 8}")
    dims = [image.GetDimension(i) for i in range(image.GetNumberOfDimensions())]
    return np.frombuffer(raw, dtype).reshape(tuple(reversed(dims)))


def _twelve_bit(tmp_path: Path, signed: bool, frames: int = 3) -> tuple[Path, np.ndarray]:
    """A smooth multi-frame 12-bit image (values over the whole 12-bit range)."""
    y, x = np.mgrid[0:64, 0:72]
    base = (np.sin(x / 7.0) + np.cos(y / 11.0) + 2) / 4 * 4095
    stack = np.stack([np.roll(base, 5 * k, axis=1) for k in range(frames)])
    arr = (np.rint(stack) - 2048).astype(np.int16) if signed else \
        np.rint(stack).astype(np.uint16)
    src = tmp_path / f"twelve-{int(signed)}.dcm"
    encode.write(src, arr, "ExplicitVRLittleEndian", bits_stored=12)
    return src, arr


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("ts", ["HTJ2K", "JPEG2000"])
def test_lossy_j2k_keeps_bits_stored(tmp_path, ts, signed):
    src, arr = _twelve_bit(tmp_path, signed)
    out = tmp_path / "lossy.dcm"
    dicomio.transcode(src, out, ts)
    ds = pydicom.dcmread(out)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    assert ds.PixelRepresentation == int(signed)
    for cs in generate_frames(ds.PixelData, number_of_frames=len(arr)):
        info = parse_j2k(cs)  # the codestream agrees with the header
        assert (info.precision, info.signed) == (12, signed)
    lo, hi = (-2048, 2047) if signed else (0, 4095)
    for got in (pixel_array(ds, decoding_plugin="pylibjpeg", raw=True), _gdcm(out),
                dicomio.DicomImage(out).read(...)):
        got = got.reshape(arr.shape).astype(np.int64)
        assert lo <= got.min() and got.max() <= hi
        # Default levels (HTJ2K: step 1 % of the 12-bit range; JPEG 2000:
        # 50 dB) measured against the 12-bit range: the codestream's own.
        rmse = np.sqrt(np.mean((got - arr) ** 2.0))
        assert 20 * np.log10(4095 / rmse) > 45
        assert np.abs(got - arr).max() <= 128


def _ten_bit_with_garbage(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """10-bit data whose unused high bits hold garbage (an overlay, say)."""
    y, x = np.mgrid[0:48, 0:64]
    img = np.rint((np.sin(x / 6.0) * np.cos(y / 9.0) + 1) / 2 * 1023).astype(np.uint16)
    ds = encode.make_dataset(img, "ExplicitVRLittleEndian", bits_stored=10)
    garbage = np.where((x + y) % 3 == 0, 0xF400, 0).astype(np.uint16)
    ds.PixelData = (img | garbage).tobytes()
    src = tmp_path / "ten.dcm"
    encode.save_dataset(ds, src)
    return src, img


def test_jpeg_extended_codes_10_bit_data_as_12_bit(tmp_path, capsys):
    src, img = _ten_bit_with_garbage(tmp_path)
    out = tmp_path / "ext.dcm"
    with pytest.warns(DicomioWarning, match="Bits Stored 10 is written as 12"):
        dicomio.transcode(src, out, "JPEGExtended12Bit", level=95)
    ds = pydicom.dcmread(out)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == \
        (16, 12, 11, 0)
    cs = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert parse_jpeg(cs).precision == 12
    for got in (pixel_array(ds, decoding_plugin="pylibjpeg"), _gdcm(out),
                dicomio.DicomImage(out).read()):
        got = got.reshape(img.shape).astype(np.int64)
        # The garbage above bit 9 was masked off before coding: the values
        # are the 10-bit ones, within the lossy error.
        assert np.abs(got - img).max() <= 8
        assert got.max() < 1024 + 8
    # The command line says so too.
    assert main(["transcode", str(src), str(tmp_path / "cli.dcm"), "--to",
                 "JPEGExtended12Bit"]) == 0
    assert "Bits Stored 10 is written as 12" in capsys.readouterr().err


def test_jpeg_baseline_codes_7_bit_data_as_8_bit(tmp_path):
    src = tmp_path / "seven.dcm"
    img = (np.arange(32 * 40, dtype=np.uint8).reshape(32, 40) % 128)
    encode.write(src, img, "ExplicitVRLittleEndian", bits_stored=7)
    out = tmp_path / "base.dcm"
    with pytest.warns(DicomioWarning, match="Bits Stored 7 is written as 8"):
        dicomio.transcode(src, out, "JPEGBaseline8Bit", level=95)
    ds = pydicom.dcmread(out)
    assert (ds.BitsStored, ds.HighBit) == (8, 7)
    got = pixel_array(ds, decoding_plugin="pylibjpeg").astype(np.int64)
    assert np.abs(got - img).max() <= 8
