"""Grouping, splitting and ordering slices along the normal (dicomio.series.grouping)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from dicomio import series as S
from tests._builders import (
    assert_affine_reproduces,
    true_order,
    write_ct,
    write_stack,
)


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


def test_descending_positions_are_sorted_along_the_normal(tmp_path: Path) -> None:
    # Writing slices towards -normal must still give ascending projections.
    _, positions, truth = write_stack(tmp_path, 5, step=-2.0)
    s = S.scan(tmp_path).series[0]
    assert true_order(s, truth) == [4, 3, 2, 1, 0]
    assert s.geometry.origin == pytest.approx(tuple(positions[-1]))
    assert s.geometry.spacing[0] == pytest.approx(2.0)
    assert_affine_reproduces(s, positions[::-1])


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
