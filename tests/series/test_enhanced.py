"""Enhanced MR multi-frame: frames grouped by functional groups and dimension indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio import series as S
from dicomio.encode import mr
from tests.series._mr import only, stacked


@pytest.mark.parametrize("axis", ["echo", "time"])
def test_enhanced_multi_volume_file_is_4d(tmp_path: Path, axis: str) -> None:
    vols = mr.phantom(3, 4, 6, 5)
    rng = np.random.default_rng(7)
    order = [int(i) for i in rng.permutation(12)]
    path = mr.write_enhanced(tmp_path / "e.dcm", vols, axis=axis, frame_order=order,
                             flip=True)
    s = only(S.scan(path))
    assert s.shape == (3, 4, 6, 5)
    vols, affine = stacked(vols, flip=True)
    np.testing.assert_array_equal(s.read(), vols)
    np.testing.assert_array_equal(s.geometry.affine, affine)
    key = "EffectiveEchoTime" if axis == "echo" else "TemporalPositionIndex"
    assert key in s.layout.axis
    if axis == "echo":
        assert [v[key] for v in s.layout.values] == [10.0, 20.0, 30.0]


def test_per_frame_rescale_applies_per_frame(tmp_path: Path) -> None:
    vols = mr.phantom(2, 3, 4, 4)
    rescale = [(0.5, 10.0), (2.0, -100.0)]
    path = mr.write_enhanced(tmp_path / "e.dcm", vols, axis="time", rescale=rescale)
    s = only(S.scan(path))
    out = s.read(rescale=True)
    expected = np.stack([vols[v] * rescale[v][0] + rescale[v][1] for v in range(2)])
    np.testing.assert_array_equal(out, expected.astype(out.dtype))
    np.testing.assert_array_equal(s.read(), vols)


def test_dimension_index_values_group_frames(tmp_path: Path) -> None:
    # Frame Content's DimensionIndexValues alone (no echo or time values
    # differ) still says which frames make a volume.
    import pydicom

    vols = mr.phantom(2, 3, 4, 4)
    path = mr.write_enhanced(tmp_path / "e.dcm", vols, axis="echo",
                             echo_times=[15.0, 15.0])
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.MREchoSequence
    ds.save_as(path)
    s = only(S.scan(path))
    assert s.layout.axis == ("DimensionIndexValues",)
    np.testing.assert_array_equal(s.read(), vols)


def test_enhanced_parts_without_four_d(tmp_path: Path) -> None:
    vols = mr.phantom(2, 3, 4, 4)
    path = mr.write_enhanced(tmp_path / "e.dcm", vols)
    parts = S.scan(path, four_d=False).series
    assert [p.shape for p in parts] == [(3, 4, 4), (3, 4, 4)]
    for p, vol in zip(parts, vols):
        np.testing.assert_array_equal(p.read(), vol)
