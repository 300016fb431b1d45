"""Siemens MOSAIC images: one 2-D image holding every slice of a volume as tiles.

A mosaic file stores the ``n`` slices of one volume as a ``g x g`` grid of
tiles (``g = ceil(sqrt(n))``), row by row, slice 0 top left; unused tiles at
the end are blank. Its ImagePositionPatient is the corner of the whole mosaic,
not of slice 0, and ImageOrientationPatient gives the in-plane directions only.

* The tile count comes from the CSA image header's NumberOfImagesInMosaic,
  else Siemens' private (0019,xx0A) of "SIEMENS MR HEADER", else from the
  AcquisitionMatrix: tiles of the acquired matrix size fill the grid (every
  tile of the grid is then taken as a slice).
* The origin is moved from the mosaic corner to voxel (0, 0) of slice 0:
  ``IPP + col * dy * (R - r) / 2 + row * dx * (C - c)/2`` for an ``R x C``
  mosaic of ``r x c`` tiles (the correction nibabel and dcm2niix apply).
* The slice direction is the CSA SliceNormalVector (its sign says which way
  slices are stacked), else ``row x col`` from ImageOrientationPatient; the
  slice spacing is SpacingBetweenSlices, else SliceThickness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ..dataset import elements as _values
from . import csa as _csa

__all__ = ["MosaicLayout", "is_mosaic_type", "mosaic_layout", "demosaic",
           "slice0_origin"]


@dataclass(frozen=True)
class MosaicLayout:
    """How the slices of a volume sit in a mosaic image.

    Attributes
    ----------
    n_tiles : int
        Slices in the volume.
    grid : int
        Tiles per mosaic row and per mosaic column.
    tile_rows, tile_cols : int
        Size of one slice.
    source : str
        Where ``n_tiles`` came from: ``"CSA NumberOfImagesInMosaic"``,
        ``"(0019,xx0A) NumberOfImagesInMosaic"`` or ``"AcquisitionMatrix"``.
    normal : tuple of float or None
        The CSA SliceNormalVector, unit length; None when the file has none.
    slice_times : tuple of float or None
        CSA MosaicRefAcqTimes (ms from the start of the volume), per slice.
    """

    n_tiles: int
    grid: int
    tile_rows: int
    tile_cols: int
    source: str
    normal: tuple[float, float, float] | None = None
    slice_times: tuple[float, ...] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, cols)`` of one volume."""
        return (self.n_tiles, self.tile_rows, self.tile_cols)


def is_mosaic_type(ds: Dataset) -> bool:
    """Whether ImageType names a MOSAIC (cheap; nothing private is parsed)."""
    value = ds.get("ImageType")
    if value is None:
        return False
    items = [value] if isinstance(value, str) else list(value)
    return any(str(v).strip().upper() == "MOSAIC" for v in items)


def _private_count(ds: Dataset) -> int | None:
    try:
        block = ds.private_block(0x0019, "SIEMENS MR HEADER")
        elem = ds.get(block.get_tag(0x0A))
    except (KeyError, ValueError):
        return None
    if elem is None:
        return None
    value = elem.value
    try:
        if isinstance(value, bytes):  # implicit VR or UN: US, little endian
            return int.from_bytes(value[:2], "little") if len(value) >= 2 else None
        return int(value)
    except (TypeError, ValueError):
        return None


def _tile_from_matrix(ds: Dataset, rows: int, cols: int) -> tuple[int, int] | None:
    """Tile size from AcquisitionMatrix (frequency rows\\cols\\phase rows\\cols)."""
    matrix = ds.get("AcquisitionMatrix")
    if matrix is None or len(matrix) != 4:
        return None
    freq = int(matrix[0]) or int(matrix[1])
    phase = int(matrix[2]) or int(matrix[3])
    if not freq or not phase:
        return None
    # Which of the two runs along rows depends on the phase direction; take
    # the assignment that tiles the mosaic into a square grid.
    for tr, tc in ((phase, freq), (freq, phase)):
        if rows % tr == 0 and cols % tc == 0 and rows // tr == cols // tc > 1:
            return tr, tc
    return None


def mosaic_layout(ds: Dataset, csa: Any = None) -> MosaicLayout | None:
    """The layout of a mosaic file, or None when ``ds`` is not one.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The header.
    csa : dict, optional
        The parsed CSA image header (:func:`dicomio.series.csa.image_header`),
        read here when not given.
    """
    try:  # plain values: the raw-element fast path, not pydicom's get
        rows, cols = int(_values.get(ds, "Rows", 0) or 0), \
            int(_values.get(ds, "Columns", 0) or 0)
        samples = int(_values.get(ds, "SamplesPerPixel", 1) or 1)
        frames = int(_values.get(ds, "NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return None
    if not rows or not cols or samples != 1 or frames != 1:
        return None
    if csa is None:
        csa = _csa.image_header(ds)
    count = _csa.scalar(csa, "NumberOfImagesInMosaic")
    source = "CSA NumberOfImagesInMosaic"
    if not count:
        count, source = _private_count(ds), "(0019,xx0A) NumberOfImagesInMosaic"
    if not count and not is_mosaic_type(ds):
        return None
    normal = _csa.vector(csa, "SliceNormalVector", 3)
    if normal is not None:
        length = math.sqrt(sum(v * v for v in normal))
        normal = tuple(v / length for v in normal) if length > 0 else None
    times = csa.get("MosaicRefAcqTimes") if csa else None
    if count:
        count = int(count)
        if count < 1:
            return None
        grid = math.ceil(math.sqrt(count))
        if rows % grid or cols % grid:
            return None
        tile = (rows // grid, cols // grid)
    else:
        found = _tile_from_matrix(ds, rows, cols)
        if found is None:
            return None
        tile, grid, source = found, rows // found[0], "AcquisitionMatrix"
        count = grid * grid
    slice_times = None
    if times and len(times) >= count:
        try:
            slice_times = tuple(float(t) for t in times[:count])
        except (TypeError, ValueError):
            slice_times = None
    return MosaicLayout(
        n_tiles=count, grid=grid, tile_rows=tile[0], tile_cols=tile[1],
        source=source,
        normal=None if normal is None else (normal[0], normal[1], normal[2]),
        slice_times=slice_times)


def demosaic(mosaic: np.ndarray, layout: MosaicLayout) -> np.ndarray:
    """``(..., R, C)`` mosaics to ``(..., n, r, c)`` volumes (a copy), slice 0 first."""
    g, tr, tc = layout.grid, layout.tile_rows, layout.tile_cols
    lead = mosaic.shape[:-2]
    if mosaic.shape[-2:] != (g * tr, g * tc):
        raise ValueError(f"a mosaic of {mosaic.shape[-2:]} does not hold {g} x {g} "
                         f"tiles of {tr} x {tc}")
    tiles = mosaic.reshape(*lead, g, tr, g, tc)
    tiles = np.moveaxis(tiles, -3, -2)  # (..., grid row, grid col, r, c)
    out: np.ndarray = tiles.reshape(*lead, g * g, tr, tc)[..., :layout.n_tiles, :, :]
    return np.ascontiguousarray(out)


def slice0_origin(ipp: Any, iop: Any, pixel_spacing: Any, rows: int, cols: int,
                  layout: MosaicLayout) -> np.ndarray:
    """Patient position of voxel (0, 0) of slice 0, from the mosaic's corner."""
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:6], dtype=float)
    dy, dx = (float(v) for v in pixel_spacing)
    shift = (col * dy * (rows - layout.tile_rows) / 2
             + row * dx * (cols - layout.tile_cols) / 2)
    out: np.ndarray = np.asarray(ipp, dtype=float) + shift
    return out
