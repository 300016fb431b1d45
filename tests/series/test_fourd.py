"""4-D slice series: volumes over time, echo and diffusion weighting joined as (t, z, y, x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio import series as S
from dicomio.encode import mr
from dicomio.errors import FrameIndexError
from dicomio.series import fourd
from tests.series._mr import AXIAL, ORIGIN, SPACING, only, stacked


@pytest.mark.parametrize("axis", ["TemporalPositionIdentifier", "AcquisitionNumber"])
def test_time_series_of_slices_is_4d(tmp_path: Path, axis: str) -> None:
    vols = mr.phantom(4, 3, 6, 5)
    mr.write_slice_series(tmp_path, vols, axis=axis, flip=True)
    s = only(S.scan(tmp_path))
    assert s.shape == (4, 3, 6, 5) and s.n_volumes == 4 and len(s.slices) == 12
    vols, affine = stacked(vols, flip=True)
    np.testing.assert_array_equal(s.read(), vols)
    np.testing.assert_array_equal(s.geometry.affine, affine)
    assert s.layout.axis == (axis,)
    assert [v[axis] for v in s.layout.values] == [1, 2, 3, 4]
    np.testing.assert_array_equal(s.read(3), vols[3])
    np.testing.assert_array_equal(s.read([1, 0]), vols[[1, 0]])
    with pytest.raises(FrameIndexError, match="volume index 4"):
        s.read(4)
    assert any("joined along" in n for n in s.notes)
    assert s.diffusion is None


def test_multi_echo_is_4d_in_echo_order(tmp_path: Path) -> None:
    vols = mr.phantom(3, 4, 5, 5)
    mr.write_slice_series(tmp_path, vols, axis="EchoNumbers",
                          echo_times=[9.5, 19.0, 28.5])
    s = only(S.scan(tmp_path))
    np.testing.assert_array_equal(s.read(), vols)
    assert "EchoNumbers" in s.layout.axis
    assert [v["EchoTime"] for v in s.layout.values] == [9.5, 19.0, 28.5]


def test_dwi_slices_give_bvals_and_bvecs(tmp_path: Path) -> None:
    vols = mr.phantom(4, 3, 4, 4)
    bvals = [0, 1000, 1000, 1000]
    bvecs = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.6, 0.8), (0.0, 0.8, -0.6)]
    mr.write_slice_series(tmp_path, vols, axis="AcquisitionNumber", bvals=bvals,
                          bvecs=bvecs)
    s = only(S.scan(tmp_path))
    np.testing.assert_array_equal(s.read(), vols)
    dwi = s.diffusion
    assert dwi is not None and dwi["bvals"] == bvals
    np.testing.assert_array_equal(dwi["bvecs_patient"], bvecs)
    # Axial, rows reversed in the NIfTI layout, negative determinant: the
    # voxel frame negates y and keeps x (FSL convention, as dcm2niix).
    np.testing.assert_allclose(dwi["bvecs_voxel"],
                               [(g[0], -g[1], g[2]) for g in bvecs], atol=1e-12)


def test_ct_dynamic_stays_split_unless_asked(tmp_path: Path) -> None:
    from dicomio.encode import make_dataset, save_dataset

    vols = mr.phantom(2, 3, 4, 4)
    for t in range(2):
        for k in range(3):
            ds = make_dataset(vols[t, k], modality="CT", series_instance_uid="1.2.3",
                              uid_seed=f"ct{t}{k}", pixel_spacing=(1, 1),
                              image_position=(0, 0, 2 * k),
                              image_orientation=(1, 0, 0, 0, 1, 0),
                              TemporalPositionIdentifier=t + 1, instance_number=t * 3 + k)
            save_dataset(ds, tmp_path / f"ct{t}{k}.dcm")
    assert [s.shape for s in S.scan(tmp_path)] == [(3, 4, 4), (3, 4, 4)]
    s = only(S.scan(tmp_path, four_d=True))
    np.testing.assert_array_equal(s.read(), vols)


def test_four_d_false_keeps_mr_parts(tmp_path: Path) -> None:
    vols = mr.phantom(2, 3, 4, 4)
    mr.write_slice_series(tmp_path, vols)
    parts = S.scan(tmp_path, four_d=False).series
    assert [p.split for p in parts] == [{"TemporalPositionIdentifier": 1},
                                        {"TemporalPositionIdentifier": 2}]


def test_volumes_with_different_positions_are_not_joined(tmp_path: Path) -> None:
    vols = mr.phantom(1, 3, 4, 4)
    first = mr.write_slice_series(tmp_path / "a", vols, seed="a")[0]
    uid = pydicom.dcmread(first).SeriesInstanceUID
    # Slices 1 and 2 of "a" are slices 0 and 1 of "b": positions repeat,
    # the parts split, but they do not hold the same positions.
    mr.write_slice_series(tmp_path / "b", vols, seed="b",
                          origin=(ORIGIN[0], ORIGIN[1], ORIGIN[2] + 4.0))
    for p in (tmp_path / "b").iterdir():
        ds = pydicom.dcmread(p)
        ds.TemporalPositionIdentifier = 2
        ds.SeriesInstanceUID = uid
        ds.save_as(p)
    result = S.scan(tmp_path)
    assert [s.shape for s in result] == [(3, 4, 4), (3, 4, 4)]


def test_rescaled_4d_read_and_tasks(tmp_path: Path) -> None:
    vols = mr.phantom(2, 3, 4, 4)
    paths = mr.write_slice_series(tmp_path, vols)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.RescaleSlope, ds.RescaleIntercept = 2, -5
        ds.save_as(p)
    s = only(S.scan(tmp_path))
    out = s.read(rescale=True)
    np.testing.assert_array_equal(out, vols.astype(np.float64) * 2 - 5)
    tasks = s.slice_tasks(rescale=True)
    assert len(tasks) == 2
    np.testing.assert_array_equal(tasks[1](), out[1])


def test_nifti_affine_reverses_rows_and_goes_to_ras() -> None:
    a = mr.affine(ORIGIN, *AXIAL, SPACING)

    class G:
        affine = a

    ras = fourd.nifti_affine(G, n_rows=6)
    ijk = np.array([2.0, 1.0, 3.0, 1.0])  # column 2, NIfTI row 1, slice 3
    lps = a @ np.array([3.0, 6 - 1 - 1.0, 2.0, 1.0])
    np.testing.assert_allclose(ras @ ijk, [-lps[0], -lps[1], lps[2], 1.0])


def test_imageio_reads_4d_series_with_volume_spacing(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    vols = mr.phantom(3, 4, 4, 6)
    mr.write_slice_series(tmp_path, vols)
    np.testing.assert_array_equal(iio.imread(tmp_path, plugin="dicomio"), vols)
    props = iio.improps(tmp_path, plugin="dicomio")
    assert props.shape == (3, 4, 4, 6) and props.n_images == 3
    assert props.spacing == (1.0, 4.0, 3.0, 2.5)
    one = iio.improps(tmp_path, plugin="dicomio", index=1)
    assert one.shape == (4, 4, 6) and one.spacing == (4.0, 3.0, 2.5)
    np.testing.assert_array_equal(iio.imread(tmp_path, plugin="dicomio", index=1),
                                  vols[1])
