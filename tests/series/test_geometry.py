"""Geometry: spacing, gaps, irregular steps, shear, affine (dicomio.series.geometry)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid
from pydicom.valuerep import DSfloat

from dicomio import series as S
from tests._builders import (
    assert_affine_reproduces,
    true_order,
    write_ct,
    write_stack,
)


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


def test_single_slice_geometry_from_header(tmp_path: Path) -> None:
    write_ct(tmp_path / "one", index=0, position=(1, 2, 3), series_uid=generate_uid(),
             SpacingBetweenSlices=DSfloat(4.0))
    s = S.scan(tmp_path / "one").series[0]
    assert s.geometry.spacing == pytest.approx((4.0, 0.5, 0.7))
    assert s.geometry.z_source == "SpacingBetweenSlices"
    assert s.geometry.origin == (1.0, 2.0, 3.0)
    np.testing.assert_allclose(s.geometry.affine[:3, 0], [0, 0, 4.0])
