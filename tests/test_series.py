"""Series assembly: discovery, grouping, sorting, geometry and decoding.

Most cases build small synthetic series with pydicom: 16x16 CT-like slices
whose pixels encode the true slice index (``index * 1000 + pixel number``), so
the order of a decoded volume can be checked against the geometry.
"""

from __future__ import annotations

import math
import pickle
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from dicomio import series as S
from dicomio.errors import FrameIndexError, SeriesError
from dicomio.series import scanning

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR = TEST_FILES / "dicomdirtests" / "DICOMDIR"
ROWS = COLS = 16
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
STUDY = generate_uid()


# ---------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------
def pixels(index: int, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """Slice ``index``: every value says which slice it is and which pixel."""
    return (index * 1000 + np.arange(rows * cols).reshape(rows, cols)).astype(np.uint16)


def ds_values(values: Sequence[float]) -> list[DSfloat]:
    # auto_format keeps DS within 16 characters (and pydicom quiet).
    return [DSfloat(float(v), auto_format=True) for v in values]


def ct_dataset(
    *,
    index: int,
    position: Sequence[float] | None,
    series_uid: str,
    orientation: Sequence[float] | None = AXIAL,
    pixel_spacing: Sequence[float] = (0.5, 0.7),
    instance: int | None = None,
    thickness: float | None = None,
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    rows: int = ROWS,
    cols: int = COLS,
    number: int = 1,
    description: str = "synthetic",
    **attrs: Any,
) -> Dataset:
    """A CT-like single-frame dataset, uncompressed Explicit VR Little Endian."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = ds_values(position)
    if orientation is not None:
        ds.ImageOrientationPatient = ds_values(orientation)
    ds.PixelSpacing = ds_values(pixel_spacing)
    if thickness is not None:
        ds.SliceThickness = DSfloat(thickness, auto_format=True)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope = DSfloat(rescale[0], auto_format=True)
        ds.RescaleIntercept = DSfloat(rescale[1], auto_format=True)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = pixels(index, rows, cols).tobytes()
    return ds


def write_ct(path: Path, **kwargs: Any) -> Path:
    ct_dataset(**kwargs).save_as(path, enforce_file_format=True)
    return path


def unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    return a / np.linalg.norm(a)


def write_stack(
    folder: Path,
    n: int,
    *,
    origin: Sequence[float] = (-4.0, 7.0, 10.0),
    step: float = 2.5,
    orientation: Sequence[float] = AXIAL,
    series_uid: str | None = None,
    seed: int = 0,
    instances: Sequence[int] | None = None,
    prefix: str = "",
    **kwargs: Any,
) -> tuple[str, list[np.ndarray], dict[str, int]]:
    """``n`` slices along the normal, written in shuffled order, no extensions.

    Returns the series UID, the true positions and ``{path: true index}``.
    """
    uid = series_uid or generate_uid()
    normal = np.cross(orientation[:3], orientation[3:])
    positions = [np.asarray(origin) + k * step * normal for k in range(n)]
    order = list(range(n))
    random.Random(seed).shuffle(order)
    truth: dict[str, int] = {}
    for rank, k in enumerate(order):
        # File names and InstanceNumbers deliberately disagree with space.
        path = folder / f"{prefix}{random.Random(seed * 1000 + rank).getrandbits(40):x}"
        inst = instances[k] if instances is not None else order.index(k) + 1
        write_ct(path, index=k, position=positions[k], series_uid=uid,
                 orientation=orientation, instance=inst, **kwargs)
        truth[str(path)] = k
    return uid, positions, truth


def assert_affine_reproduces(series: S.Series, positions: Sequence[np.ndarray],
                             orientation: Sequence[float] = AXIAL,
                             pixel_spacing: Sequence[float] = (0.5, 0.7)) -> None:
    """affine @ [k, j, i, 1] hits every slice's corners in patient space."""
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    dy, dx = pixel_spacing
    aff = series.geometry.affine
    for k, ipp in enumerate(positions):
        for j, i in ((0, 0), (0, COLS - 1), (ROWS - 1, 0), (ROWS - 1, COLS - 1)):
            expected = np.asarray(ipp) + i * dx * row + j * dy * col
            got = aff @ np.array([k, j, i, 1.0])
            np.testing.assert_allclose(got[:3], expected, atol=1e-4)
            np.testing.assert_allclose(series.geometry.index_to_patient((k, j, i)),
                                       expected, atol=1e-4)
        np.testing.assert_allclose(series.geometry.patient_to_index(ipp), [k, 0, 0],
                                   atol=1e-6)


def true_order(series: S.Series, truth: dict[str, int]) -> list[int]:
    return [truth[p] for p, _ in series.slices]


# ---------------------------------------------------------------------------
# Discovery, sorting, geometry (headers only)
# ---------------------------------------------------------------------------
def test_shuffled_files_without_extensions(tmp_path: Path) -> None:
    uid, positions, truth = write_stack(tmp_path, 9, thickness=2.5)
    result = S.scan(tmp_path)
    assert len(result.series) == 1 and result.n_skipped == 0
    s = result.series[0]
    assert s.uid == uid and s.key == uid and s.kind == "volume"
    assert true_order(s, truth) == list(range(9))
    # InstanceNumbers follow file-writing order, not space: not used to sort.
    assert s.instance_numbers != sorted(s.instance_numbers)
    g = s.geometry
    assert g.spacing == pytest.approx((2.5, 0.5, 0.7))
    assert g.origin == pytest.approx(tuple(positions[0]))
    assert g.z_source == "ImagePositionPatient"
    assert not g.irregular
    np.testing.assert_allclose(g.direction, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(s.slice_locations, 10.0 + 2.5 * np.arange(9))
    assert_affine_reproduces(s, positions)
    assert s.warnings == [] and s.notes == []
    assert s.n_slices == len(s) == 9
    assert s.transfer_syntaxes == {ExplicitVRLittleEndian}
    assert [h.SOPInstanceUID for h in s.headers] == [
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
        for p, _ in s.slices]


def test_two_interleaved_series(tmp_path: Path) -> None:
    uid_a, pos_a, truth_a = write_stack(tmp_path, 5, step=3.0, seed=1, number=2,
                                        description="A", prefix="x")
    uid_b, pos_b, truth_b = write_stack(tmp_path, 4, step=3.0, seed=2, number=3,
                                        origin=(-4.0, 7.0, 11.5), description="B",
                                        prefix="y")
    result = S.scan(tmp_path, threads=4)
    assert [s.uid for s in result] == [uid_a, uid_b]  # by SeriesNumber
    a, b = result.series
    assert (a.description, a.number, b.description, b.number) == ("A", 2, "B", 3)
    assert true_order(a, truth_a) == list(range(5))
    assert true_order(b, truth_b) == list(range(4))
    assert a.geometry.spacing[0] == pytest.approx(3.0)
    assert b.geometry.origin[2] == pytest.approx(11.5)
    assert set(result.groups()) == {uid_a, uid_b}


def test_oblique_rotated_30_degrees_about_x(tmp_path: Path) -> None:
    c, s30 = math.cos(math.radians(30)), math.sin(math.radians(30))
    orientation = (1.0, 0.0, 0.0, 0.0, c, s30)
    _, positions, truth = write_stack(tmp_path, 6, orientation=orientation,
                                      step=1.5, origin=(3.0, -2.0, 40.0))
    s = S.scan(tmp_path).series[0]
    assert true_order(s, truth) == list(range(6))
    g = s.geometry
    normal = np.cross(orientation[:3], orientation[3:])
    np.testing.assert_allclose(normal, [0.0, -s30, c], atol=1e-12)
    np.testing.assert_allclose(g.direction[:, 0], orientation[:3], atol=1e-6)
    np.testing.assert_allclose(g.direction[:, 1], orientation[3:], atol=1e-6)
    np.testing.assert_allclose(g.normal, normal, atol=1e-6)
    assert g.spacing == pytest.approx((1.5, 0.5, 0.7), abs=1e-5)
    assert not g.irregular and s.warnings == []
    assert_affine_reproduces(s, positions, orientation)


def test_descending_positions_are_sorted_along_the_normal(tmp_path: Path) -> None:
    # Writing slices towards -normal must still give ascending projections.
    _, positions, truth = write_stack(tmp_path, 5, step=-2.0)
    s = S.scan(tmp_path).series[0]
    assert true_order(s, truth) == [4, 3, 2, 1, 0]
    assert s.geometry.origin == pytest.approx(tuple(positions[-1]))
    assert s.geometry.spacing[0] == pytest.approx(2.0)
    assert_affine_reproduces(s, positions[::-1])


def test_missing_slice_is_reported_as_a_gap(tmp_path: Path) -> None:
    _, positions, truth = write_stack(tmp_path, 8, step=2.0)
    gone = next(p for p, k in truth.items() if k == 4)
    Path(gone).unlink()
    with pytest.warns(S.SeriesWarning, match=r"Gap between slices 3 and 4.*about 1 "):
        s = S.scan(tmp_path).series[0]
    assert [truth[p] for p, _ in s.slices] == [0, 1, 2, 3, 5, 6, 7]
    assert s.geometry.spacing[0] == pytest.approx(2.0)
    assert s.geometry.irregular
    assert len(s.warnings) == 1 and "4 mm" in s.warnings[0]
    # The exact positions are still there for whoever needs them.
    np.testing.assert_allclose(s.geometry.positions[4], positions[5])


def test_duplicate_positions_warn_and_tie_break_by_instance_number(
        tmp_path: Path) -> None:
    uid, positions, truth = write_stack(tmp_path, 5, step=2.0)
    # A second image at slice 2's position, with a lower InstanceNumber.
    dup = write_ct(tmp_path / "dup", index=7, position=positions[2],
                   series_uid=uid, instance=0)
    truth[str(dup)] = 7
    with pytest.warns(S.SeriesWarning, match="shared by more than one image"):
        s = S.scan(tmp_path).series[0]
    assert true_order(s, truth) == [0, 1, 7, 2, 3, 4]
    assert s.geometry.irregular
    assert "ordered by InstanceNumber, then file name" in s.warnings[0]


def test_irregular_spacing_without_gap(tmp_path: Path) -> None:
    uid = generate_uid()
    zs = [0.0, 2.0, 4.0, 6.6, 8.6, 10.6]
    for k, z in enumerate(zs):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, z), series_uid=uid,
                 instance=k + 1)
    with pytest.warns(S.SeriesWarning, match="irregular") as record:
        s = S.scan(tmp_path).series[0]
    assert not any("Gap" in str(w.message) for w in record)
    assert s.geometry.irregular
    assert s.geometry.spacing[0] == pytest.approx(2.0)
    assert "tolerance 0.02 mm" in s.warnings[0]


def test_tiny_jitter_stays_regular(tmp_path: Path) -> None:
    # 0.004 mm jitter is below max(0.01 mm, 1 %): regular, no warning.
    uid = generate_uid()
    for k, z in enumerate([0.0, 1.004, 1.998, 3.0, 4.003]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, z), series_uid=uid)
    s = S.scan(tmp_path).series[0]
    assert not s.geometry.irregular and s.warnings == []


def test_gantry_tilt_is_sheared_and_the_affine_keeps_it(tmp_path: Path) -> None:
    uid = generate_uid()
    positions = [np.array([0.0, 0.5 * k, 3.0 * k]) for k in range(4)]
    for k, p in enumerate(positions):
        write_ct(tmp_path / f"f{k}", index=k, position=p, series_uid=uid)
    with pytest.warns(S.SeriesWarning, match="sheared"):
        s = S.scan(tmp_path).series[0]
    assert s.geometry.spacing[0] == pytest.approx(3.0)
    assert not s.geometry.irregular
    assert_affine_reproduces(s, positions)


def test_slice_thickness_disagreement_is_a_note(tmp_path: Path) -> None:
    write_stack(tmp_path, 4, step=1.25, thickness=2.5)
    s = S.scan(tmp_path).series[0]
    assert s.warnings == []
    assert any("SliceThickness (2.5 mm)" in n and "overlap" in n for n in s.notes)


def test_missing_positions_fall_back_to_instance_number(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, inst in enumerate([3, 1, 2]):
        write_ct(tmp_path / f"f{k}", index=k, position=None, orientation=None,
                 series_uid=uid, instance=inst, thickness=5.0)
    with pytest.warns(S.SeriesWarning, match="ordered by InstanceNumber"):
        s = S.scan(tmp_path).series[0]
    assert s.kind == "images"
    assert s.instance_numbers == [1, 2, 3]
    assert [Path(p).name for p, _ in s.slices] == ["f1", "f2", "f0"]
    assert s.geometry.spacing == pytest.approx((5.0, 0.5, 0.7))
    assert s.geometry.z_source == "SliceThickness"
    assert s.geometry.positions is None


def test_some_positions_missing(tmp_path: Path) -> None:
    uid, positions, _ = write_stack(tmp_path, 3)
    write_ct(tmp_path / "nopos", index=9, position=None, series_uid=uid, instance=99)
    with pytest.warns(S.SeriesWarning, match="1 of 4 images lack"):
        s = S.scan(tmp_path).series[0]
    assert s.kind == "images" and Path(s.slices[-1][0]).name == "nopos"


def test_single_slice_geometry_from_header(tmp_path: Path) -> None:
    write_ct(tmp_path / "one", index=0, position=(1, 2, 3), series_uid=generate_uid(),
             SpacingBetweenSlices=DSfloat(4.0))
    s = S.scan(tmp_path / "one").series[0]
    assert s.geometry.spacing == pytest.approx((4.0, 0.5, 0.7))
    assert s.geometry.z_source == "SpacingBetweenSlices"
    assert s.geometry.origin == (1.0, 2.0, 3.0)
    np.testing.assert_allclose(s.geometry.affine[:3, 0], [0, 0, 4.0])


def test_geometry_differences_split_one_uid(tmp_path: Path) -> None:
    uid = generate_uid()
    for k in range(3):
        write_ct(tmp_path / f"a{k}", index=k, position=(0, 0, k), series_uid=uid)
    for k in range(2):
        write_ct(tmp_path / f"b{k}", index=k, position=(0, 0, k), series_uid=uid,
                 rows=8, cols=12)
    sag = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    write_ct(tmp_path / "sag", index=0, position=(0, 0, 0), series_uid=uid,
             orientation=sag)
    result = S.scan(tmp_path)
    parts = result.groups()[uid]
    assert [p.n_slices for p in parts] == [3, 2, 1]
    assert [p.part for p in parts] == [1, 2, 3] and parts[0].n_parts == 3
    assert [p.key for p in parts] == [f"{uid}#1", f"{uid}#2", f"{uid}#3"]
    assert parts[1].split["Rows"] == 8 and parts[1].split["Columns"] == 12
    assert parts[2].split["ImageOrientationPatient"] == sag
    assert all("split into several volumes" in p.notes[0] for p in parts)
    assert parts[1].shape == (2, 8, 12)


def test_orientation_within_tolerance_is_one_volume(tmp_path: Path) -> None:
    uid = generate_uid()
    for k in range(3):
        iop = (1.0, 0.0, 2e-4 * k, 0.0, 1.0, 0.0)  # rounding-level noise
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, 2.0 * k),
                 series_uid=uid, orientation=iop)
    assert len(S.scan(tmp_path).series) == 1


def test_dynamic_series_splits_per_temporal_position(tmp_path: Path) -> None:
    uid = generate_uid()
    truth = {}
    for t in (1, 2):
        for k in range(4):
            path = tmp_path / f"t{t}k{k}"
            # Per-slice AcquisitionNumbers must not split volumes by themselves.
            write_ct(path, index=10 * t + k, position=(0, 0, -2.0 * k),
                     series_uid=uid, instance=k + 1 + 4 * (t - 1),
                     TemporalPositionIdentifier=t, AcquisitionNumber=k + 8 * t)
            truth[str(path)] = 10 * t + k
    result = S.scan(tmp_path)
    assert len(result.series) == 2
    first, second = result.series
    assert first.uid == second.uid == uid
    assert first.split == {"TemporalPositionIdentifier": 1}
    assert second.split == {"TemporalPositionIdentifier": 2}
    assert true_order(first, truth) == [13, 12, 11, 10]
    assert true_order(second, truth) == [23, 22, 21, 20]
    assert first.warnings == [] and second.warnings == []
    assert first.geometry.spacing[0] == pytest.approx(2.0)


def test_repeated_positions_without_any_key_split_by_instance_order(
        tmp_path: Path) -> None:
    uid = generate_uid()
    for rep in range(2):
        for k in range(3):
            write_ct(tmp_path / f"r{rep}k{k}", index=10 * rep + k,
                     position=(0, 0, 3.0 * k), series_uid=uid,
                     instance=1 + k + 3 * rep)
    with pytest.warns(S.SeriesWarning, match="no attribute"):
        result = S.scan(tmp_path)
    a, b = result.series
    assert a.split == {"repetition": 1} and b.split == {"repetition": 2}
    assert [Path(p).name for p, _ in a.slices] == ["r0k0", "r0k1", "r0k2"]


def test_unique_positions_with_many_acquisitions_stay_one_volume(
        tmp_path: Path) -> None:
    write_stack(tmp_path, 4, AcquisitionNumber=1)
    uid = S.scan(tmp_path).series[0].uid
    for k, acq in enumerate([5, 6]):
        write_ct(tmp_path / f"extra{k}", index=4 + k, position=(-4, 7, 20 + 2.5 * k),
                 series_uid=uid, AcquisitionNumber=acq)
    result = S.scan(tmp_path)
    assert len(result.series) == 1 and result.series[0].n_slices == 6


def test_single_position_time_series(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, trigger in enumerate([300.0, 0.0, 100.0, 200.0]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, 5), series_uid=uid,
                 instance=k + 1, TriggerTime=DSfloat(trigger))
    s = S.scan(tmp_path).series[0]
    assert s.kind == "frames" and s.n_slices == 4
    assert [Path(p).name for p, _ in s.slices] == ["f1", "f2", "f3", "f0"]
    assert s.geometry.z_source == "frame index"
    assert "TriggerTime" in s.notes[-1]


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


# ---------------------------------------------------------------------------
# Multi-frame files
# ---------------------------------------------------------------------------
def enhanced_ct(path: Path, n: int, *, step: float = 1.5,
                slopes: Sequence[float] | None = None) -> list[np.ndarray]:
    """An Enhanced CT file whose frames are stored top slice first.

    Frame ``f`` lies at slice ``n - 1 - f`` and holds ``pixels(n - 1 - f)``.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = EnhancedCTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.SeriesNumber = 7
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    measures = Dataset()
    measures.PixelSpacing = ds_values((0.5, 0.7))
    measures.SliceThickness = DSfloat(step)
    orientation = Dataset()
    orientation.ImageOrientationPatient = ds_values(AXIAL)
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    positions = [np.array([1.0, 2.0, 30.0 + step * k]) for k in range(n)]
    frames = []
    per_frame = []
    for f in range(n):
        k = n - 1 - f
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = ds_values(positions[k])
        item.PlanePositionSequence = [pos]
        content = Dataset()
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = [content]
        if slopes is not None:
            trans = Dataset()
            trans.RescaleSlope = DSfloat(slopes[k], auto_format=True)
            trans.RescaleIntercept = DSfloat(-10.0)
            trans.RescaleType = "HU"
            item.PixelValueTransformationSequence = [trans]
        per_frame.append(item)
        frames.append(pixels(k))
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return positions


def test_enhanced_multiframe_with_reversed_per_frame_positions(tmp_path: Path) -> None:
    positions = enhanced_ct(tmp_path / "enhanced", 5)
    s = S.scan(tmp_path / "enhanced").series[0]
    assert s.kind == "volume"
    assert s.slices == [(str(tmp_path / "enhanced"), f) for f in (4, 3, 2, 1, 0)]
    assert s.geometry.spacing == pytest.approx((1.5, 0.5, 0.7))
    assert s.geometry.origin == pytest.approx((1.0, 2.0, 30.0))
    assert_affine_reproduces(s, positions)
    assert s.warnings == []
    vol = s.read()
    assert vol.shape == (5, ROWS, COLS) and vol.dtype == np.uint16
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k))
    np.testing.assert_array_equal(s.read(0), pixels(0))
    np.testing.assert_array_equal(s.read([4, 1]), np.stack([pixels(4), pixels(1)]))


def test_enhanced_multiframe_per_frame_rescale(tmp_path: Path) -> None:
    slopes = [1.0, 2.0, 0.5]
    enhanced_ct(tmp_path / "enh", 3, slopes=slopes)
    s = S.scan(tmp_path).series[0]
    assert s.rescale_params == [(m, -10.0) for m in slopes]
    vol = s.read(rescale=True)
    assert vol.dtype == np.float32
    for k, m in enumerate(slopes):
        np.testing.assert_allclose(vol[k], pixels(k) * m - 10.0, rtol=1e-6)


def test_classic_multiframe_keeps_frame_order(tmp_path: Path) -> None:
    ds = ct_dataset(index=0, position=None, orientation=None, series_uid=generate_uid(),
                    rescale=None)
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    ds.NumberOfFrames = 4
    ds.PixelData = np.stack([pixels(3 - f) for f in range(4)]).tobytes()
    ds.save_as(tmp_path / "cine", enforce_file_format=True)
    # A second file of the same series stays a series of its own.
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(tmp_path / "cine2", enforce_file_format=True)
    result = S.scan(tmp_path)
    assert len(result) == 2
    s = result[0]
    assert s.kind == "frames" and s.warnings == []
    assert s.slices == [(str(tmp_path / "cine"), f) for f in range(4)]
    assert s.geometry.z_source == "frame index"
    vol = s.read()
    assert [int(v) // 1000 for v in vol[:, 0, 0]] == [3, 2, 1, 0]


def test_rt_dose_grid_frame_offsets() -> None:
    # 15 dose planes 5 mm apart, positioned by GridFrameOffsetVector.
    s = S.scan(TEST_FILES / "rtdose.dcm").series[0]
    head = s.headers[0]
    assert s.kind == "volume" and s.n_slices == 15
    assert [f for _, f in s.slices] == list(range(15))
    assert s.geometry.spacing == pytest.approx((5.0, 10.0, 10.0))
    z0 = float(head.ImagePositionPatient[2])
    offsets = [float(v) for v in head.GridFrameOffsetVector]
    np.testing.assert_allclose(s.slice_locations, [z0 + o for o in offsets])
    # DoseGridScaling is the rescale to Gy.
    scaling = float(head.DoseGridScaling)
    assert s.rescale_params == [(scaling, 0.0)] * 15
    dose = s.read(rescale=True)
    expected = pydicom.dcmread(TEST_FILES / "rtdose.dcm").pixel_array * scaling
    np.testing.assert_allclose(dose, expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------
def test_read_volume_order_and_values(tmp_path: Path) -> None:
    _, _, truth = write_stack(tmp_path, 6)
    s = S.scan(tmp_path).series[0]
    assert s.shape == (6, ROWS, COLS) and s.dtype == np.uint16
    assert s.decoders == [None] * 6 and s.decoder is None
    assert s.photometric["declared"] == "MONOCHROME2"
    assert s.photometric["output"] is None
    vol = s.read(threads=3)
    for k in range(6):
        np.testing.assert_array_equal(vol[k], pixels(k))
    assert all(d for d in s.decoders) and s.decoder is not None
    assert all(p["output"] == "MONOCHROME2" for p in s.slice_photometric)
    assert s.photometric["output"] == "MONOCHROME2"
    assert not s.photometric["mismatch"]
    np.testing.assert_array_equal(s.slice(-1), pixels(5))
    np.testing.assert_array_equal(s.read(slice(1, 6, 2)),
                                  np.stack([pixels(1), pixels(3), pixels(5)]))
    with pytest.raises(FrameIndexError):
        s.read(6)
    with pytest.raises(IndexError):
        s.read([0, -7])


def test_rescale_integral_keeps_integers(tmp_path: Path) -> None:
    write_stack(tmp_path, 3, rescale=(1.0, -1024.0), BitsStored=12, HighBit=11)
    s = S.scan(tmp_path).series[0]
    # 12-bit unsigned plus -1024 fits int16.
    assert s.rescaled_dtype() == np.int16
    vol = s.read(rescale=True)
    assert vol.dtype == np.int16
    for k in range(3):
        np.testing.assert_array_equal(vol[k], pixels(k).astype(np.int32) % 4096 - 1024)


def test_rescale_differs_between_files(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, (slope, icpt) in enumerate([(1.0, 0.0), (2.0, -5.0), (0.25, 3.5)]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k), series_uid=uid,
                 rescale=(slope, icpt))
    s = S.scan(tmp_path).series[0]
    vol = s.read(rescale=True)
    assert vol.dtype == np.float32
    np.testing.assert_allclose(vol[0], pixels(0))
    np.testing.assert_allclose(vol[1], pixels(1) * 2.0 - 5.0)
    np.testing.assert_allclose(vol[2], pixels(2) * 0.25 + 3.5)
    np.testing.assert_array_equal(s.read(), np.stack([pixels(k) for k in range(3)]))


def test_no_rescale_attributes_keep_raw_dtype(tmp_path: Path) -> None:
    write_stack(tmp_path, 2, rescale=None)
    s = S.scan(tmp_path).series[0]
    assert s.rescale_params == [None, None]
    assert s.read(rescale=True).dtype == np.uint16


def test_mixed_transfer_syntaxes_in_one_series(tmp_path: Path) -> None:
    encode = pytest.importorskip("dicomio.encode")
    uid = generate_uid()
    syntaxes = ["ExplicitVRLittleEndian", "RLELossless", "JPEGLSLossless",
                "JPEG2000Lossless", "JPEGLosslessSV1"]
    order = [3, 0, 4, 1, 2]  # which slice each syntax holds
    for ts, k in zip(syntaxes, order):
        encode.write(tmp_path / ts, pixels(k), ts, modality="CT",
                     series_instance_uid=uid, instance_number=len(syntaxes) - k,
                     image_position=(0.0, 0.0, 4.0 * k),
                     image_orientation=AXIAL, pixel_spacing=(0.5, 0.7))
    s = S.scan(tmp_path).series[0]
    assert len(s.transfer_syntaxes) == 5
    assert [Path(p).name for p, _ in s.slices] == [
        syntaxes[order.index(k)] for k in range(5)]
    vol = s.read()
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k))
    assert None not in s.decoders
    assert s.photometric["output"] == "MONOCHROME2"
    assert s.geometry.spacing == pytest.approx((4.0, 0.5, 0.7))


def test_slice_tasks_are_picklable_and_match_read(tmp_path: Path) -> None:
    write_stack(tmp_path, 3, rescale=(2.0, 1.0))
    s = S.scan(tmp_path).series[0]
    tasks = s.slice_tasks(rescale=True)
    vol = s.read(rescale=True)
    for k, task in enumerate(tasks):
        out = pickle.loads(pickle.dumps(task))()
        assert out.dtype == vol.dtype
        np.testing.assert_array_equal(out, vol[k])
    path, frame = s.slices[1]
    np.testing.assert_array_equal(S.read_slice(path, frame), pixels(1))


def test_stack_series_gives_4d(tmp_path: Path) -> None:
    uid = generate_uid()
    for t in (1, 2, 3):
        for k in range(2):
            write_ct(tmp_path / f"t{t}k{k}", index=10 * t + k, position=(0, 0, k),
                     series_uid=uid, TemporalPositionIdentifier=t)
    result = S.scan(tmp_path)
    arr = S.stack_series(result.groups()[uid])
    assert arr.shape == (3, 2, ROWS, COLS)
    assert arr[2, 1, 0, 0] == 31000


def test_read_volume_and_read_series(tmp_path: Path) -> None:
    uid_a, _, _ = write_stack(tmp_path, 3, number=1, description="A", prefix="a")
    write_stack(tmp_path, 2, number=2, description="B", prefix="b")
    with pytest.raises(SeriesError, match=r"holds 2 volumes[\s\S]*'A'[\s\S]*'B'"):
        S.read_volume(tmp_path)
    assert S.read_volume(tmp_path, series=0).shape == (3, ROWS, COLS)
    assert S.read_volume(tmp_path, series=uid_a).shape == (3, ROWS, COLS)
    with pytest.raises(SeriesError, match="no series 'nope'"):
        S.read_volume(tmp_path, series="nope")
    with pytest.raises(SeriesError, match="out of range"):
        S.read_volume(tmp_path, series=5)
    assert [s.description for s in S.read_series(tmp_path)] == ["A", "B"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme").write_text("nothing here")
    with pytest.raises(SeriesError, match=r"no image series.*1 not DICOM"):
        S.read_volume(empty)


def test_memory_limit(tmp_path: Path) -> None:
    from dicomio.errors import MemoryLimitError

    write_stack(tmp_path, 3)
    s = S.scan(tmp_path).series[0]
    with pytest.raises(MemoryLimitError):
        s.read(memory_limit=1000)


# ---------------------------------------------------------------------------
# pydicom's DICOMDIR test set
# ---------------------------------------------------------------------------
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


def test_colour_series_shape_and_report(tmp_path: Path) -> None:
    encode = pytest.importorskip("dicomio.encode")
    uid = generate_uid()
    rgb = [np.full((ROWS, COLS, 3), (10 * k, 20 * k, 30 * k), np.uint8) for k in range(3)]
    for k, ts in enumerate(["RLELossless", "ExplicitVRLittleEndian", "RLELossless"]):
        encode.write(tmp_path / f"c{2 - k}", rgb[k], ts, series_instance_uid=uid,
                     image_position=(0.0, 0.0, float(k)), image_orientation=AXIAL,
                     pixel_spacing=(1.0, 1.0))
    s = S.scan(tmp_path).series[0]
    assert s.shape == (3, ROWS, COLS, 3) and s.dtype == np.uint8
    vol = s.read()
    np.testing.assert_array_equal(vol, np.stack(rgb))
    assert s.photometric["output"] == "RGB" and not s.photometric["mismatch"]


def test_decode_error_names_the_file(tmp_path: Path) -> None:
    from dicomio.errors import DicomioError

    _, _, truth = write_stack(tmp_path, 3)
    victim = next(p for p, k in truth.items() if k == 1)
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:100]  # truncated pixel data
    ds.save_as(victim, enforce_file_format=True)
    s = S.scan(tmp_path).series[0]
    with pytest.raises(DicomioError, match=Path(victim).name):
        s.read()
    np.testing.assert_array_equal(s.read(0), pixels(0))


def test_backend_list_is_accepted(tmp_path):
    # A list of backends (tried in order) works for series as for one file.
    from dicomio.encode import write

    vols = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    for k in range(3):
        write(tmp_path / f"s{k}", vols[k], "JPEG2000Lossless",
              image_position=[0, 0, float(k)], image_orientation=[1, 0, 0, 0, 1, 0],
              pixel_spacing=[1, 1], series_instance_uid="1.2.3.4", instance_number=k + 1)
    (s,) = S.read_series(tmp_path)
    out = s.read(backend=["pylibjpeg", "imagecodecs"])
    np.testing.assert_array_equal(out, vols)
    assert s.decoders == ["pylibjpeg"] * 3


def test_rescale_cannot_wrap_and_matches_single_files(tmp_path):
    # Unsigned 16-bit data with intercept -32768: the stored value 65535 does
    # not fit int16 before the intercept is added; the result must not wrap.
    from dicomio import DicomImage
    from dicomio.encode import write

    raw = np.array([[0, 1, 65534, 65535]] * 4, dtype=np.uint16)
    for k in range(2):
        write(tmp_path / f"s{k}", raw, "ExplicitVRLittleEndian",
              image_position=[0, 0, float(k)], image_orientation=[1, 0, 0, 0, 1, 0],
              pixel_spacing=[1, 1], series_instance_uid="1.2.3.9",
              instance_number=k + 1, rescale=(1, -32768))
    (s,) = S.read_series(tmp_path)
    vol = s.read(rescale=True)
    assert vol.dtype == np.int16
    assert vol[0, 0].tolist() == [-32768, -32767, 32766, 32767]
    one = DicomImage(tmp_path / "s0")
    assert one.rescaled_dtype == vol.dtype
    np.testing.assert_array_equal(one.read(rescale=True), vol[0])
