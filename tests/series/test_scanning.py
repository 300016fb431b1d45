"""Discovery: folders, DICOMDIRs, file lists; what is skipped and why (dicomio.series.scanning)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomio import series as S
from dicomio.series import scanning
from tests._builders import (
    DICOMDIR,
    TEST_FILES,
    ct_dataset,
    write_ct,
    write_stack,
)


def test_non_dicom_and_non_image_objects_are_skipped(tmp_path: Path) -> None:
    _, _, truth = write_stack(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (tmp_path / "stub").write_bytes(bytes(128) + b"DICM" + b"\xff" * 40)
    (tmp_path / "empty").write_bytes(b"")
    # A real header whose Rows element is turned into a broken sequence.
    good = Path(next(iter(truth))).read_bytes()
    rows = b"\x28\x00\x10\x00US\x02\x00"
    assert good.count(rows) == 1
    corrupt = good.replace(rows, b"\x28\x00\x10\x00SQ\x00\x00\xff\xff\xff\xff\x00\x00")
    (tmp_path / "corrupt").write_bytes(corrupt)
    shutil.copy(TEST_FILES / "rtstruct.dcm", tmp_path / "rts")  # no preamble
    shutil.copy(TEST_FILES / "test-SR.dcm", tmp_path / "sr")
    shutil.copy(TEST_FILES / "rtplan.dcm", tmp_path / "plan")
    shutil.copy(TEST_FILES / "waveform_ecg.dcm", tmp_path / "ecg")
    sub = tmp_path / "copy"
    sub.mkdir()
    shutil.copy(next(iter(truth)), sub / "same-instance")
    calls: list[tuple[int, int]] = []
    result = S.scan(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert len(result.series) == 1 and result.series[0].n_slices == 3
    assert result.skipped_counts == {
        "not DICOM": 3,
        "no image pixel module (Rows/Columns missing)": 1,
        "unreadable DICOM header": 1,
        "non-image object: RT Structure Set Storage": 1,
        "non-image object: Comprehensive SR Storage": 1,
        "non-image object: RT Plan Storage": 1,
        "non-image object: 12-lead ECG Waveform Storage": 1,
        "duplicate SOP Instance UID": 1,
    }
    assert result.n_skipped == 10
    assert result.skipped["duplicate SOP Instance UID"] == [str(sub / "same-instance")]
    assert sorted(result.skipped["not DICOM"]) == [
        str(tmp_path / n) for n in ("empty", "notes.txt", "picture.png")]
    assert list(result.errors) == [str(tmp_path / "corrupt")]
    assert result.n_files == 13
    assert calls[0] == (0, 13) and calls[-1] == (13, 13) and len(calls) == 14
    assert "skipped 1: non-image object: RT Plan Storage" in result.summary()


@pytest.mark.parametrize(("suffix", "skipped"), [
    ("1.2.840.10008.5.1.4.1.1.481.3", True),  # RT Structure Set
    ("1.2.840.10008.5.1.4.1.1.481.5", True),  # RT Plan
    ("1.2.840.10008.5.1.4.1.1.481.2", False),  # RT Dose: an image
    ("1.2.840.10008.5.1.4.1.1.481.1", False),  # RT Image
    ("1.2.840.10008.5.1.4.1.1.88.22", True),  # Enhanced SR
    ("1.2.840.10008.5.1.4.1.1.11.1", True),  # Grayscale presentation state
    ("1.2.840.10008.5.1.4.1.1.9.1.1", True),  # ECG waveform
    ("1.2.840.10008.5.1.4.1.1.66.4", False),  # Segmentation: has pixels
    ("1.2.840.10008.5.1.4.1.1.66", True),  # Raw data
    ("1.2.840.10008.5.1.4.1.1.2", False),  # CT
    ("1.2.840.10008.5.1.4.1.1.2.1", False),  # Enhanced CT
    ("1.2.840.10008.1.3.10", True),  # DICOMDIR
])
def test_non_image_sop_classes(suffix: str, skipped: bool) -> None:
    assert (scanning._non_image_reason(suffix) is not None) is skipped


def test_file_without_preamble_is_accepted(tmp_path: Path) -> None:
    ds = ct_dataset(index=0, position=(0, 0, 0), series_uid=generate_uid())
    # Raw dataset: no preamble, no "DICM", no file meta (ACR-NEMA style).
    del ds.file_meta
    ds.save_as(tmp_path / "raw", implicit_vr=True, little_endian=True,
               enforce_file_format=False)
    assert (tmp_path / "raw").read_bytes()[:2] == b"\x08\x00"
    s = S.scan(tmp_path).series[0]
    assert s.transfer_syntaxes == {"1.2.840.10008.1.2"}


def test_header_warnings_are_collected_not_raised(tmp_path: Path) -> None:
    uid, _, _ = write_stack(tmp_path, 2)
    odd = write_ct(tmp_path / "odd", index=5, position=(-4, 7, 15), series_uid=uid,
                   instance=12)
    # Patch InstanceNumber to an invalid IS: pydicom warns, then cannot
    # convert it.
    element = b"\x20\x00\x13\x00IS\x02\x00"
    data = odd.read_bytes()
    assert data.count(element + b"12") == 1
    odd.write_bytes(data.replace(element + b"12", element + b"1A"))
    # pytest turns warnings into errors here, yet the file is not lost.
    result = S.scan(tmp_path)
    s = result.series[0]
    assert s.n_slices == 3 and result.n_skipped == 0
    assert s.instance_numbers[-1] is None
    assert any("1A" in message for message in result.header_warnings)


def test_sources_list_non_recursive_and_missing(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    uid, _, truth = write_stack(top, 3)
    nested = top / "nested"
    nested.mkdir()
    write_ct(nested / "deep", index=9, position=(0, 0, 99), series_uid=generate_uid())
    assert len(S.scan(top)) == 2
    assert len(S.scan(top, recursive=False)) == 1
    files = sorted(truth)
    result = S.scan([files[0], Path(files[1]), nested, tmp_path / "nope"], threads=1)
    assert sorted(s.n_slices for s in result) == [1, 2]
    assert result.skipped == {"not found": [str(tmp_path / "nope")]}
    with pytest.raises(FileNotFoundError):
        S.scan(tmp_path / "nope")


def test_dicomdir() -> None:
    with pytest.warns(S.SeriesWarning, match="Gap between slices 0 and 1"):
        result = S.scan(DICOMDIR)
    assert result.n_files == 31 and result.n_skipped == 0
    by_desc = {s.description: s for s in result if s.n_parts == 1}
    smart = by_desc["SmartScore - Gated 0.5 sec"]
    # Five slices 2.5 mm apart, highest InstanceNumber lowest along +z.
    assert smart.instance_numbers == [10, 9, 8, 7, 6]
    assert smart.geometry.spacing == pytest.approx((2.5, 0.488281, 0.488281))
    assert smart.geometry.origin == pytest.approx((-72.199997, -143.0, -1.2375))
    assert not smart.geometry.irregular
    # Several AcquisitionNumbers at distinct positions: still one volume.
    brain = by_desc["Routine Brain"]
    assert brain.n_slices == 4 and brain.geometry.irregular
    assert brain.geometry.spacing[0] == pytest.approx(1.25)
    # The scout has two orientations, the pilot three: split per plane.
    scout = [s for s in result if s.description == "Scout"]
    assert [s.n_slices for s in scout] == [1, 1]
    assert all("ImageOrientationPatient" in s.split for s in scout)
    vol = smart.read()
    assert vol.shape == (5, 16, 16)
    for k, (path, _) in enumerate(smart.slices):
        np.testing.assert_array_equal(vol[k], pydicom.dcmread(path).pixel_array)
    # The folder walk finds the same images.
    walked = S.scan(DICOMDIR.parent / "98892001")
    assert {s.key for s in walked} <= {s.key for s in result}


def test_dicomdir_variants_agree() -> None:
    with pytest.warns(S.SeriesWarning):
        base = S.scan(DICOMDIR)
    with pytest.warns(S.SeriesWarning):
        reordered = S.scan(DICOMDIR.parent / "DICOMDIR-reordered")
    assert [s.slices for s in base] == [s.slices for s in reordered]


def test_scan_threads_give_the_same_result(tmp_path: Path) -> None:
    write_stack(tmp_path, 40)
    results = [S.scan(tmp_path, threads=t) for t in (None, 1, 4)]
    assert len({tuple(r.series[0].slices) for r in results}) == 1


def test_files_opened_tolerantly_scan_and_read(tmp_path: Path) -> None:
    # One series of four slices, three of them with a defect GDCM tolerates:
    # no File Meta, a UN sequence in a Big Endian file, compressed Pixel Data
    # under a native Transfer Syntax (tests/_defects.py).
    from tests import _defects as D

    uid = generate_uid()
    slices = D.FRAMES16[:1].repeat(4, axis=0) + np.arange(4, dtype=np.uint16)[:, None, None]

    def opts(k: int) -> dict:
        return dict(series_instance_uid=uid, image_position=(0.0, 0.0, 2.0 * k),
                    image_orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.5, 0.5))

    (tmp_path / "a").write_bytes(D.file_bytes(slices[0], **opts(0)))
    (tmp_path / "b").write_bytes(D.no_file_meta("ImplicitVRLittleEndian",
                                                frames=slices[1], **opts(1)))
    (tmp_path / "c").write_bytes(D.big_endian_with_sequence(
        D.items_le(D.ITEM_IMPLICIT), frames=slices[2], **opts(2)))
    (tmp_path / "d").write_bytes(D.relabel(
        D.file_bytes(slices[3], "JPEGLSLossless", **opts(3)), "1.2.840.10008.1.2.1"))
    result = S.scan(tmp_path)
    assert result.n_skipped == 0 and len(result.series) == 1
    assert result.file_warnings == {str(tmp_path / "c"): [
        "(0009,1010) is a UN element of undefined length whose items are Implicit "
        "VR Little Endian inside Explicit VR Big Endian data; read as such"]}
    with pytest.warns(Warning) as caught:
        volume = result.series[0].read()
    np.testing.assert_array_equal(volume, slices)
    said = {str(w.message) for w in caught}
    assert f"{tmp_path / 'b'}: no File Meta (so no Transfer Syntax UID): assumed " \
        "Implicit VR Little Endian from the first elements" in said
    assert f"{tmp_path / 'd'}: Pixel Data is an encapsulated JPEGLSLossless stream " \
        "although the Transfer Syntax says ExplicitVRLittleEndian" in said
    assert any(str(tmp_path / "c") in text for text in said)
