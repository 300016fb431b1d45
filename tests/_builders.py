"""Synthetic series for the tests: CT-like slices, stacks, enhanced multi-frame files.

Shared by tests/series and the other tests that need a folder of slices.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from dicomio import series as S

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


DICOMDIR = TEST_FILES / "dicomdirtests" / "DICOMDIR"


ROWS = COLS = 16


AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


STUDY = generate_uid()


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
