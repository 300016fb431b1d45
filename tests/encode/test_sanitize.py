"""Writers never fail on a dataset pydicom can read (issue 15, item 1).

Each defect is built with the project's encoder and a few raw bytes; every
writing path (decompress, save_dataset, dataset_bytes) must produce a
standard file pydicom reads back, and say what it changed.
"""

from __future__ import annotations

import io
import struct

import imageio.v3 as iio
import numpy as np
import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import dicomio
from dicomio import DicomioWarning
from dicomio.encode import dataset_bytes, make_dataset, save_dataset
from dicomio.encode.sanitize import writable

ARR = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4000)
PIXEL_TAG = b"\xe0\x7f\x10\x00"


def _stray_item(ts: str) -> bytes:
    """An odd-length item (FFFE,E000) between the header and Pixel Data."""
    data = dataset_bytes(make_dataset(ARR, ts))
    i = data.index(PIXEL_TAG)
    return data[:i] + b"\xfe\xff\x00\xe0" + struct.pack("<I", 5) + b"wxyzq" + data[i:]


def _curve_data() -> bytes:
    """Implicit VR: (5000,3000) Curve Data reads back as 'OB or OW'."""
    ds = make_dataset(ARR, "ImplicitVRLittleEndian")
    ds.add_new(0x50003000, "OW", bytes(range(256)) * 2)
    return dataset_bytes(ds)


def _no_meta() -> bytes:
    """A bare Implicit VR data set: no preamble, no 'DICM', no File Meta."""
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = True
    write_dataset(buf, make_dataset(ARR, "ImplicitVRLittleEndian"))
    return buf.getvalue()


def _decompress(tmp_path, data: bytes):
    src = tmp_path / "in.dcm"
    src.write_bytes(data)
    out = tmp_path / "out.dcm"
    dicomio.decompress(src, out)
    ds = pydicom.dcmread(out)  # no force: preamble, DICM and File Meta present
    np.testing.assert_array_equal(ds.pixel_array, ARR)
    return ds


@pytest.mark.parametrize("ts", ["JPEGLSLossless", "ExplicitVRLittleEndian"])
def test_stray_item_is_dropped_with_a_warning(tmp_path, ts):
    with pytest.warns(DicomioWarning, match=r"\(FFFE,E000\) dropped: an item"):
        ds = _decompress(tmp_path, _stray_item(ts))
    assert 0xFFFEE000 not in ds


def test_unknown_vr_none_item_in_implicit_vr(tmp_path):
    data = dataset_bytes(make_dataset(ARR, "ImplicitVRLittleEndian"))
    i = data.index(PIXEL_TAG)
    data = data[:i] + b"\xfe\xff\x00\xe0" + struct.pack("<I", 4) + b"wxyz" + data[i:]
    with pytest.warns(DicomioWarning, match=r"\(FFFE,E000\) dropped"):
        _decompress(tmp_path, data)
    header = dicomio.DicomImage(io.BytesIO(data)).header_dict()
    assert header["_unreadable"] == ["FFFE,E000"]
    assert "NONE" in header["FFFE,E000"]
    assert header["Rows"] == 64
    meta = iio.immeta(data, plugin="dicomio")
    assert meta["_unreadable"] == ["FFFE,E000"]
    assert meta["Columns"] == 64


def test_ambiguous_curve_data_is_resolved(tmp_path):
    data = _curve_data()
    assert pydicom.dcmread(io.BytesIO(data))[0x50003000].VR == "OB or OW"
    ds = _decompress(tmp_path, data)
    assert ds[0x50003000].VR == "OW"
    assert ds[0x50003000].value == bytes(range(256)) * 2
    assert iio.immeta(data, plugin="dicomio")["Rows"] == 64


def test_no_preamble_no_file_meta_input_gets_both(tmp_path):
    with pytest.warns(DicomioWarning, match="no Transfer Syntax UID"):
        ds = _decompress(tmp_path, _no_meta())
    assert ds.preamble == b"\x00" * 128
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_save_dataset_of_a_read_dataset_with_odd_elements(tmp_path):
    src = pydicom.dcmread(io.BytesIO(_stray_item("ExplicitVRLittleEndian")))
    before = [int(t) for t in src.keys()]
    out = tmp_path / "copy.dcm"
    with pytest.warns(DicomioWarning, match=r"\(FFFE,E000\)"):
        save_dataset(src, out)
    assert [int(t) for t in src.keys()] == before  # the input is untouched
    np.testing.assert_array_equal(pydicom.dcmread(out).pixel_array, ARR)


def test_unwritable_value_is_written_as_un():
    ds = pydicom.dcmread(io.BytesIO(_stray_item("ExplicitVRLittleEndian")))
    del ds[0xFFFEE000]
    with pytest.warns(UserWarning, match="cannot be assigned"):  # pydicom's
        ds.add_new(0x00091001, "US", "not a number")
    ds.add_new(0x00090010, "LO", "ACME")
    fixed, notes = writable(ds)
    assert notes == ["(0009,1001) dropped: VR 'US' cannot be written"]
    assert 0x00091001 not in fixed and 0x00091001 in ds
    no_meta = pydicom.Dataset()
    no_meta.Rows = 1
    fixed, notes = writable(no_meta)
    assert fixed.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert any("no SOP Instance UID" in n for n in notes)


def test_raw_element_that_cannot_convert_becomes_un():
    data = dataset_bytes(make_dataset(ARR, "ExplicitVRLittleEndian"))
    i = data.index(PIXEL_TAG)
    # (0009,1002) with a VR pydicom does not know: its bytes are kept as UN.
    odd = b"\x09\x00\x02\x10" + b"ZZ" + struct.pack("<H", 4) + b"abcd"
    private = b"\x09\x00\x10\x00LO" + struct.pack("<H", 4) + b"ACME"
    ds = pydicom.dcmread(io.BytesIO(data[:i] + private + odd + data[i:]))
    fixed, notes = writable(ds)
    assert notes and "(0009,1002) written as UN" in notes[0]
    assert fixed[0x00091002].VR == "UN" and fixed[0x00091002].value == b"abcd"
