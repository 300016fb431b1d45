"""Series assembly: folders, DICOMDIRs and file lists become volumes in space.

:func:`scan` reads headers only (never pixel data), in parallel threads, and
groups the image objects it finds into :class:`Series`: one per
SeriesInstanceUID, split further where the images cannot form one regular
array (different orientation, matrix, pixel spacing or samples per pixel; the
same positions repeated per temporal position, echo, stack or acquisition).
Slices are sorted along the slice normal, never by file name or
InstanceNumber, and every :class:`Series` carries a :class:`Geometry` with
the origin, spacing, direction cosines and a 4x4 affine in patient space.

>>> import dicomio.series as ds
>>> result = ds.scan("/data/exam")                     # doctest: +SKIP
>>> for s in result.series:                            # doctest: +SKIP
...     print(s.number, s.description, s.shape, s.geometry.spacing)
>>> vol = result.series[0].read(rescale=True)          # doctest: +SKIP
>>> vol = ds.read_volume("/data/exam/CT_SERIES")       # doctest: +SKIP

Conventions
-----------
* Array axes are ``(k, j, i)``: slice, row, column (plus samples for colour).
* ``Geometry.spacing`` is ``(dz, dy, dx)`` in mm: ``dz`` along the slice
  normal, ``dy`` between rows (``PixelSpacing[0]``), ``dx`` between columns
  (``PixelSpacing[1]``).
* ``Geometry.affine @ [k, j, i, 1]`` gives the patient position ``(x, y, z)``
  in mm, in DICOM's LPS patient frame, of the centre of voxel ``(k, j, i)``.
* ``Geometry.direction`` holds the direction cosines as columns in ITK
  order: row cosine (direction of increasing ``i``), column cosine (increasing
  ``j``), slice normal (increasing ``k``).

Tolerances (module constants, stated here so users can reason about them):
orientations are equal when every direction cosine differs by at most
:data:`ORIENTATION_TOLERANCE`; two slices share a position when their
projections on the normal differ by at most :data:`POSITION_TOLERANCE` mm;
spacing is *irregular* when some slice lies farther than
``max(SPACING_ATOL, SPACING_RTOL * dz)`` from where the affine puts it; a step
of at least :data:`GAP_FACTOR` times the median step is a *gap* (missing
slices).

Dynamic series (the same positions repeated per temporal position, echo,
stack or acquisition) become one :class:`Series` per repetition, each a proper
3D volume that shares its ``uid`` with its siblings and names what sets it
apart in :attr:`Series.split`; :func:`stack_series` stacks siblings into 4D.
"""

from __future__ import annotations

from . import geometry as _geometry
from .geometry import Geometry
from .lazy import read_slice
from .reader import Series
from .scanning import ScanResult, SeriesWarning, scan
from .volume import read_series, read_volume, stack_series

__all__ = [
    "scan",
    "read_series",
    "read_volume",
    "read_slice",
    "stack_series",
    "ScanResult",
    "Series",
    "Geometry",
    "SeriesWarning",
    "ORIENTATION_TOLERANCE",
    "POSITION_TOLERANCE",
    "SPACING_RTOL",
    "SPACING_ATOL",
    "GAP_FACTOR",
]

# The tolerances live in .geometry (grouping and geometry use them); they are
# named here again so the API reference shows them with their meaning.
#: Largest difference of any direction cosine for two orientations to be equal
#: (about 0.06 degrees): scanners write IOP with 5-6 decimals, so rounding
#: noise stays far below it while a real change of plane is far above it.
ORIENTATION_TOLERANCE = _geometry.ORIENTATION_TOLERANCE
#: Two slices closer than this along the normal (mm) share a position.
POSITION_TOLERANCE = _geometry.POSITION_TOLERANCE
#: Relative tolerance on slice positions, as a fraction of the slice spacing.
SPACING_RTOL = _geometry.SPACING_RTOL
#: Absolute tolerance on slice positions (mm).
SPACING_ATOL = _geometry.SPACING_ATOL
#: A step at least this many times the median step is reported as a gap.
GAP_FACTOR = _geometry.GAP_FACTOR
