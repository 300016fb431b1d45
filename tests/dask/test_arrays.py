"""to_dask: lazy arrays over files, series and folders (dicomio.dask.arrays)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio import encode
from dicomio.errors import DecodeError, DicomioError, SeriesError
from dicomio.image import DicomImage
from dicomio.series import scan
from tests.conftest import corpus_file
from tests.dask.conftest import (
    N_SLICES,
    _cluster_test,
    _corrupt_j2k,
    _write_series,
)

da = pytest.importorskip("dask.array")
import dask  # noqa: E402


def test_file_shape_and_dtype_without_decoding(multiframe: Path,
                                               count_decodes: list[int]) -> None:
    img = DicomImage(multiframe)
    arr = dicomio.to_dask(multiframe)
    assert arr.shape == img.shape == (20, 32, 24)
    assert arr.dtype == img.dtype
    assert arr.chunks == ((1,) * 20, (32,), (24,))
    assert dicomio.to_dask(multiframe, rescale=True).dtype == img.rescaled_dtype
    assert count_decodes == []
    # Computing one frame decodes that frame only.
    frame = arr[5].compute(scheduler="threads")
    assert count_decodes == [5]
    assert np.array_equal(frame, dicomio.imread(multiframe, 5))


def test_corrupt_pixel_data_builds_then_fails_on_compute(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.dcm"
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    encode.write(path, frames, "JPEG2000Lossless")
    _corrupt_j2k(path)
    arr = dicomio.to_dask(path)  # only the header is read
    assert arr.shape == (4, 16, 16) and arr.dtype == np.uint16
    with pytest.raises(DicomioError) as info:
        arr[2].compute(scheduler="sync")
    assert isinstance(info.value, DecodeError)
    assert info.value.frame == 2 and info.value.path == str(path)


def test_graph_pickles_small(tmp_path: Path) -> None:
    path = tmp_path / "many.dcm"
    frames = np.random.default_rng(1).integers(0, 255, (500, 16, 16), dtype=np.uint8)
    encode.write(path, frames, "RLELossless")
    arr = dicomio.to_dask(path)
    assert arr.numblocks[0] == 500
    size = len(pickle.dumps(arr.dask))
    assert size < 64_000, size
    # The graph stays the same size whatever the pixels weigh: no data in it.
    assert size < frames.nbytes / 2
    clone = pickle.loads(pickle.dumps(arr))
    assert np.array_equal(clone[::50].compute(scheduler="sync"), frames[::50])


def test_series_graph_pickles_small(series_dir: Path) -> None:
    arr = dicomio.to_dask(series_dir, rescale=True)
    per_slice = len(pickle.dumps(arr.dask)) / N_SLICES
    assert per_slice < 400, per_slice


def test_single_frame_file_is_one_2d_chunk() -> None:
    path = corpus_file("CT_small.dcm")
    arr = dicomio.to_dask(path, rescale=True)
    assert arr.ndim == 2 and arr.numblocks == (1, 1)
    assert np.array_equal(arr.compute(scheduler="sync"),
                          dicomio.imread(path, rescale=True))


def test_frames_per_chunk(multiframe: Path, rgb_file: Path) -> None:
    arr = dicomio.to_dask(multiframe, frames_per_chunk=7, rescale=True)
    assert arr.chunks[0] == (7, 7, 6)
    assert np.array_equal(arr.compute(scheduler="threads"),
                          dicomio.imread(multiframe, rescale=True))
    rgb = dicomio.to_dask(rgb_file, frames_per_chunk=5)
    assert rgb.chunks == ((2,), (100,), (100,), (3,))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            dicomio.to_dask(multiframe, frames_per_chunk=bad)


def test_native_colour(tmp_path: Path) -> None:
    path = corpus_file("SC_rgb_jpeg_dcmtk.dcm")
    native = dicomio.to_dask(path, color="native").compute(scheduler="sync")
    assert np.array_equal(native, dicomio.imread(path, color="native"))
    assert not np.array_equal(native, dicomio.imread(path))
    with pytest.raises(ValueError):
        dicomio.to_dask(path, color="bgr")


def test_series_sources_agree(series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    files = sorted(series_dir.iterdir())
    from_series = dicomio.to_dask(series, frames_per_chunk=5)
    from_folder = dicomio.to_dask(series_dir, frames_per_chunk=5)
    from_list = dicomio.to_dask(files, frames_per_chunk=5)
    assert from_series.name == from_folder.name == from_list.name
    assert from_series.chunks[0] == (5, 5, 2)
    assert from_series.shape == series.shape and from_series.dtype == series.dtype
    assert np.array_equal(from_folder.compute(scheduler="threads"), series.read())
    hu = dicomio.to_dask(series, rescale=True)
    assert hu.dtype == series.rescaled_dtype()
    assert np.array_equal(hu.compute(scheduler="threads"), series.read(rescale=True))


def test_folder_with_several_series(series_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    shutil.copytree(series_dir, folder / "a")
    _write_series(folder / "b", encode.uid_from("dicomio-dask-other"), 3, 4)
    with pytest.raises(SeriesError) as info:
        dicomio.to_dask(folder)
    text = str(info.value)
    assert "2 series" in text and "[0]" in text and "[1]" in text
    picked = [dicomio.to_dask(folder, series=i) for i in (0, 1)]
    assert sorted(a.shape[0] for a in picked) == [3, N_SLICES]
    with pytest.raises(SeriesError):
        dicomio.to_dask(folder, series=5)
    with pytest.raises(ValueError):
        dicomio.to_dask(folder / "a" / "im000", series=0)


@pytest.mark.filterwarnings("ignore::dicomio.series.SeriesWarning")
def test_dicomdir_source() -> None:
    import pydicom

    dicomdir = Path(pydicom.__file__).parent / "data/test_files/dicomdirtests/DICOMDIR"
    if not dicomdir.exists():
        pytest.skip("pydicom's DICOMDIR test files are not installed")
    with pytest.raises(SeriesError, match=r"holds \d+ series; pass series="):
        dicomio.to_dask(dicomdir)
    first = scan(dicomdir).series[0]
    arr = dicomio.to_dask(dicomdir, series=first.key)
    assert np.array_equal(arr.compute(scheduler="sync"), first.read())


def test_in_memory_sources_are_refused(multiframe: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask(multiframe.read_bytes())
    with open(multiframe, "rb") as fh, pytest.raises(TypeError, match="path"):
        dicomio.to_dask(fh)
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask(DicomImage(multiframe).dataset)
    with pytest.raises(TypeError, match="path"):
        dicomio.to_dask([])


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_local_schedulers_equal_eager(scheduler: str, multiframe: Path,
                                      rgb_file: Path, series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    arrays = (
        dicomio.to_dask(multiframe, frames_per_chunk=3),
        dicomio.to_dask(multiframe, rescale=True),
        dicomio.to_dask(rgb_file),
        dicomio.to_dask(series),
        dicomio.to_dask(series, rescale=True, frames_per_chunk=4),
    )
    expected = (
        dicomio.imread(multiframe),
        dicomio.imread(multiframe, rescale=True),
        dicomio.imread(rgb_file),
        series.read(),
        series.read(rescale=True),
    )
    kwargs: dict[str, Any] = {"num_workers": 2} if scheduler != "sync" else {}
    results = dask.compute(*arrays, scheduler=scheduler, **kwargs)
    for got, want in zip(results, expected):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_large_multiframe_threads() -> None:
    path = corpus_file("color3d_jpeg_baseline.dcm")
    arr = dicomio.to_dask(path, frames_per_chunk=10)
    assert arr.shape == (120, 480, 640, 3) and arr.numblocks[0] == 12
    assert np.array_equal(arr.compute(scheduler="threads"), dicomio.imread(path))


@_cluster_test
@pytest.mark.parametrize("frames_per_chunk", [1, 4])
def test_cluster_equals_eager(client: Any, frames_per_chunk: int, multiframe: Path,
                              rgb_file: Path, series_dir: Path) -> None:
    (series,) = scan(series_dir).series
    arrays = [
        dicomio.to_dask(series_dir, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(series, rescale=True, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(multiframe, frames_per_chunk=frames_per_chunk),
        dicomio.to_dask(rgb_file, frames_per_chunk=frames_per_chunk),
    ]
    expected = [series.read(), series.read(rescale=True), dicomio.imread(multiframe),
                dicomio.imread(rgb_file)]
    results = client.gather(client.compute(arrays))
    for got, want in zip(results, expected):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # A reduction runs on the workers; only the small answer comes back.
    total = client.compute(arrays[1].sum(dtype=np.int64)).result()
    assert total == expected[1].sum(dtype=np.int64)
