"""Siemens MOSAIC series: CSA header, tile count, demosaic, origin and slice direction.

Every case writes mosaics from known volumes (dicomio.encode.mr, the
project's encoder plus a CSA2 header built byte by byte) and checks the
voxels and the affine against what they were made from.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio import series as S
from dicomio.encode import mr
from dicomio.errors import FrameIndexError
from dicomio.series import csa, mosaic

OBLIQUE_ROW = (math.cos(0.3), math.sin(0.3), 0.0)
OBLIQUE_COL = (-math.sin(0.3) * math.cos(0.2), math.cos(0.3) * math.cos(0.2),
               math.sin(0.2))


def only(result: S.ScanResult) -> S.Series:
    assert len(result.series) == 1, result.summary()
    return result.series[0]


def test_csa2_header_reads_back_through_nibabel(tmp_path: Path) -> None:
    path = mr.write_mosaic_series(tmp_path, mr.phantom(1, 5, 4, 6),
                                  bvals=[700], bvecs=[(0.0, 0.6, 0.8)])[0]
    ds = pydicom.dcmread(path)
    assert csa.has_csa(ds) and csa.available()
    info = csa.image_header(ds)
    assert csa.scalar(info, "NumberOfImagesInMosaic") == 5
    assert csa.vector(info, "SliceNormalVector", 3) == (0.0, 0.0, 1.0)
    assert csa.scalar(info, "B_value") == 700
    assert csa.vector(info, "DiffusionGradientDirection", 3) == (0.0, 0.6, 0.8)
    assert csa.vector(info, "SliceNormalVector", 2) is None
    assert csa.scalar(info, "Missing") is None and csa.scalar(None, "B_value") is None
    assert csa.series_header(ds) is None


def test_demosaic_is_the_inverse_of_tiling() -> None:
    vol = mr.phantom(1, 7, 3, 5)[0]
    tiles = mr.tile(vol)
    assert tiles.shape == (9, 15)
    layout = mosaic.MosaicLayout(7, 3, 3, 5, "test")
    np.testing.assert_array_equal(mosaic.demosaic(tiles, layout), vol)
    np.testing.assert_array_equal(mosaic.demosaic(np.stack([tiles, tiles]), layout),
                                  np.stack([vol, vol]))
    with pytest.raises(ValueError, match="does not hold"):
        mosaic.demosaic(tiles[:8], layout)


@pytest.mark.parametrize("flip", [False, True])
def test_mosaic_series_reads_as_4d_with_exact_geometry(tmp_path: Path,
                                                        flip: bool) -> None:
    vols = mr.phantom(3, 5, 8, 10)
    mr.write_mosaic_series(tmp_path, vols, flip=flip)
    s = only(S.scan(tmp_path))
    assert s.shape == (3, 5, 8, 10) and s.n_volumes == 3 and len(s.slices) == 3
    np.testing.assert_array_equal(s.read(), vols)
    expected = mr.affine((-40.0, -50.0, 10.0), (1, 0, 0), (0, 1, 0), (4.0, 3.0, 2.5),
                         flip=flip)
    np.testing.assert_array_equal(s.geometry.affine, expected)
    assert s.geometry.spacing == (4.0, 3.0, 2.5)
    assert s.geometry.origin == (-40.0, -50.0, 10.0)
    assert s.geometry.positions is not None and len(s.geometry.positions) == 5
    np.testing.assert_array_equal(s.read(2), vols[2])
    np.testing.assert_array_equal(s.read([2, 0]), vols[[2, 0]])
    np.testing.assert_array_equal(s.read(slice(1, None)), vols[1:])
    assert s.layout is not None and s.layout.axis == ("AcquisitionNumber",)
    assert any("MOSAIC" in n for n in s.notes)


def test_oblique_mosaic_origin_moves_to_slice_zero(tmp_path: Path) -> None:
    vols = mr.phantom(2, 6, 6, 4)
    origin = (12.5, -30.25, 44.0)
    mr.write_mosaic_series(tmp_path, vols, origin=origin, row=OBLIQUE_ROW,
                           col=OBLIQUE_COL, spacing=(3.3, 2.0, 1.5), flip=True)
    s = only(S.scan(tmp_path))
    np.testing.assert_array_equal(s.read(), vols)
    expected = mr.affine(origin, OBLIQUE_ROW, OBLIQUE_COL, (3.3, 2.0, 1.5), flip=True)
    np.testing.assert_allclose(s.geometry.affine, expected, rtol=0, atol=1e-5)
    # The mosaic's own IPP is the corner of the 3x3 grid, not slice 0.
    corner = np.asarray(pydicom.dcmread(s.slices[0][0]).ImagePositionPatient, float)
    assert np.linalg.norm(corner - np.asarray(origin)) > 5


def test_tile_count_from_the_private_siemens_element(tmp_path: Path) -> None:
    vols = mr.phantom(2, 5, 4, 6)
    mr.write_mosaic_series(tmp_path, vols, count_from="private")
    s = only(S.scan(tmp_path))
    assert s.layout.mosaic.source == "(0019,xx0A) NumberOfImagesInMosaic"
    np.testing.assert_array_equal(s.read(), vols)


def test_tile_count_from_acquisition_matrix(tmp_path: Path) -> None:
    # 5 slices in a 3x3 grid: without a count every tile is a slice.
    vols = mr.phantom(2, 5, 4, 6)
    mr.write_mosaic_series(tmp_path, vols, count_from="matrix")
    s = only(S.scan(tmp_path))
    assert s.layout.mosaic.source == "AcquisitionMatrix"
    out = s.read()
    assert out.shape == (2, 9, 4, 6)
    np.testing.assert_array_equal(out[:, :5], vols)
    assert not out[:, 5:].any()


def test_slice_direction_falls_back_to_the_orientation(tmp_path: Path) -> None:
    vols = mr.phantom(1, 4, 4, 4)
    mr.write_mosaic_series(tmp_path, np.concatenate([vols, vols + 1]),
                           slice_normal=False, row=OBLIQUE_ROW, col=OBLIQUE_COL)
    s = only(S.scan(tmp_path))
    expected = mr.affine((-40.0, -50.0, 10.0), OBLIQUE_ROW, OBLIQUE_COL,
                         (4.0, 3.0, 2.5))
    np.testing.assert_allclose(s.geometry.affine, expected, rtol=0, atol=1e-5)
    assert any("No CSA SliceNormalVector" in n for n in s.notes)


def test_single_mosaic_is_a_3d_volume(tmp_path: Path) -> None:
    vols = mr.phantom(1, 5, 4, 6)
    path = mr.write_mosaic_series(tmp_path, vols)[0]
    s = only(S.scan(path))
    assert s.shape == (5, 4, 6) and s.n_volumes == 1
    np.testing.assert_array_equal(s.read(), vols[0])
    np.testing.assert_array_equal(s.read(3), vols[0, 3])
    np.testing.assert_array_equal(s.read([4, 1]), vols[0, [4, 1]])
    tasks = s.slice_tasks()
    assert len(tasks) == 5
    np.testing.assert_array_equal(tasks[2](), vols[0, 2])
    with pytest.raises(FrameIndexError, match="out of range"):
        s.read(5)


def test_four_d_false_keeps_one_volume_per_mosaic(tmp_path: Path) -> None:
    vols = mr.phantom(3, 4, 4, 4)
    mr.write_mosaic_series(tmp_path, vols)
    result = S.scan(tmp_path, four_d=False)
    assert [s.shape for s in result] == [(4, 4, 4)] * 3
    assert [s.split for s in result] == [{"AcquisitionNumber": a} for a in (1, 2, 3)]
    for s, vol in zip(result, vols):
        np.testing.assert_array_equal(s.read(), vol)


def test_compressed_mosaic(tmp_path: Path) -> None:
    vols = mr.phantom(2, 4, 8, 8)
    mr.write_mosaic_series(tmp_path, vols, transfer_syntax="JPEG2000Lossless")
    s = only(S.scan(tmp_path))
    np.testing.assert_array_equal(s.read(), vols)
    assert s.decoder is not None


def test_volume_tasks_match_read(tmp_path: Path) -> None:
    import pickle

    vols = mr.phantom(3, 4, 4, 6)
    mr.write_mosaic_series(tmp_path, vols)
    s = only(S.scan(tmp_path))
    tasks = s.slice_tasks()
    assert len(tasks) == 3
    for k, task in enumerate(tasks):
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(task))(), vols[k])


def test_not_a_mosaic_without_count_or_matrix(tmp_path: Path) -> None:
    ds = pydicom.dcmread(mr.write_mosaic_series(tmp_path, mr.phantom(1, 4, 4, 4),
                                                count_from="matrix")[0])
    del ds.AcquisitionMatrix
    assert mosaic.mosaic_layout(ds) is None
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    assert not mosaic.is_mosaic_type(ds)


def test_to_dask_gives_one_chunk_per_volume(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    from dicomio.dask import to_dask

    vols = mr.phantom(3, 4, 4, 6)
    mr.write_mosaic_series(tmp_path, vols)
    arr = to_dask(tmp_path)
    assert arr.shape == (3, 4, 4, 6) and arr.chunks[0] == (1, 1, 1)
    np.testing.assert_array_equal(arr.compute(), vols)
    np.testing.assert_array_equal(to_dask(only(S.scan(tmp_path)))[1].compute(), vols[1])


def test_broken_csa_header_falls_back_to_the_public_header(tmp_path: Path) -> None:
    vols = mr.phantom(2, 4, 4, 6)
    paths = mr.write_mosaic_series(tmp_path, vols)
    for p in paths:
        ds = pydicom.dcmread(p)
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER")
        ds[block.get_tag(0x10)].value = b"SV10\x04\x03\x02\x01" + b"\xff" * 20
        ds.save_as(p)
    assert csa.image_header(pydicom.dcmread(paths[0])) is None
    s = only(S.scan(tmp_path))
    # 4 slices fill the 2x2 grid: the AcquisitionMatrix gives the same volume.
    assert s.layout.mosaic.source == "AcquisitionMatrix"
    np.testing.assert_array_equal(s.read(), vols)
    assert any("No CSA SliceNormalVector" in n for n in s.notes)
