"""Where a series' voxels are in the patient: :class:`Geometry` and its computation.

The tolerances are module constants so users can reason about them (see the
package docstring of :mod:`dicomio.series`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .records import _normal, _Rec

#: Largest difference of any direction cosine for two orientations to be equal
#: (about 0.06 degrees): scanners write IOP with 5-6 decimals, so rounding
#: noise stays far below it while a real change of plane is far above it.
ORIENTATION_TOLERANCE = 1e-3
#: Two slices closer than this along the normal (mm) share a position.
POSITION_TOLERANCE = 0.01
#: Relative tolerance on slice positions, as a fraction of the slice spacing.
SPACING_RTOL = 0.01
#: Absolute tolerance on slice positions (mm).
SPACING_ATOL = 0.01
#: A step at least this many times the median step is reported as a gap.
GAP_FACTOR = 1.5
#: Relative tolerance for PixelSpacing to be equal between images.
_PIXEL_SPACING_RTOL = 1e-3


@dataclass(frozen=True, eq=False)
class Geometry:
    """Where a series' voxels are in the patient (DICOM LPS frame, mm).

    Attributes
    ----------
    origin : tuple of float
        Patient position ``(x, y, z)`` of the centre of voxel ``(0, 0, 0)``:
        the ImagePositionPatient of the first slice.
    spacing : tuple of float
        ``(dz, dy, dx)`` in mm. ``dz`` is the median step between sorted slice
        positions along the normal (see :attr:`z_source` for where it came
        from otherwise); ``dy`` is PixelSpacing[0] (between rows), ``dx`` is
        PixelSpacing[1] (between columns).
    direction : numpy.ndarray
        3x3; columns are the row cosine (increasing ``i``), the column cosine
        (increasing ``j``) and the slice normal (increasing ``k``), as in
        ITK/SimpleITK. Identity when the images carry no orientation.
    affine : numpy.ndarray
        4x4; ``affine @ [k, j, i, 1]`` is ``[x, y, z, 1]`` for array index
        ``(k, j, i)``. Column 0 is the median step between slices (the normal
        times ``dz``, unless the stack is sheared), column 1 the column
        cosine times ``dy``, column 2 the row cosine times ``dx``, column 3
        the origin.
    irregular : bool
        True when some slice lies farther than ``max(SPACING_ATOL,
        SPACING_RTOL * dz)`` (0.01 mm or 1 %) from where :attr:`affine` puts
        it: gaps, duplicates, uneven steps. :attr:`positions` stays exact.
    positions : numpy.ndarray or None
        ``(n, 3)`` ImagePositionPatient of every slice, in array order.
    z_source : str
        Where ``dz`` comes from: ``"ImagePositionPatient"``,
        ``"SpacingBetweenSlices"``, ``"SliceThickness"``, ``"frame index"``
        (axis 0 is frame order, not space: ``dz`` is 1 and affine column 0
        the unit normal) or ``"default"`` (1 mm, nothing known).
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: np.ndarray
    affine: np.ndarray
    irregular: bool = False
    positions: np.ndarray | None = None
    z_source: str = "ImagePositionPatient"

    @property
    def normal(self) -> np.ndarray:
        """The slice normal (third column of :attr:`direction`)."""
        return np.array(self.direction[:, 2])

    def index_to_patient(self, index: Sequence[float]) -> np.ndarray:
        """Patient ``(x, y, z)`` in mm of array index ``(k, j, i)``."""
        k, j, i = index
        point: np.ndarray = self.affine @ np.array([k, j, i, 1.0])
        return point[:3]

    def patient_to_index(self, point: Sequence[float]) -> np.ndarray:
        """Fractional array index ``(k, j, i)`` of patient point ``(x, y, z)``."""
        x, y, z = point
        index: np.ndarray = np.linalg.solve(self.affine, np.array([x, y, z, 1.0]))
        return index[:3]

    def __repr__(self) -> str:
        sp = ", ".join(f"{v:.4g}" for v in self.spacing)
        org = ", ".join(f"{v:.4g}" for v in self.origin)
        flag = ", irregular" if self.irregular else ""
        return f"Geometry(origin=({org}), spacing=({sp}){flag})"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _geometry(recs: list[_Rec], kind: str) -> tuple[Geometry, list[str], list[str]]:
    """The geometry of ordered records, with warnings and notes about it."""
    warns: list[str] = []
    notes: list[str] = []
    first = recs[0]
    if first.pixel_spacing is not None:
        dy, dx = first.pixel_spacing
        if first.spacing_from_imager:
            notes.append("PixelSpacing is missing: ImagerPixelSpacing (at the "
                         "detector, not in the patient) gives the in-plane spacing.")
    else:
        dy = dx = 1.0
        notes.append("PixelSpacing is missing: in-plane spacing set to 1 mm.")
    if first.iop is not None:
        row = np.asarray(first.iop[:3], dtype=float)
        col = np.asarray(first.iop[3:6], dtype=float)
        normal = _normal(first.iop)
    else:
        row, col, normal = np.eye(3)
    direction = np.column_stack([row, col, normal])
    positions = None
    if all(r.ipp is not None for r in recs):
        positions = np.array([r.ipp for r in recs], dtype=float)
    origin = positions[0] if positions is not None else np.zeros(3)
    if first.kind == "classic":
        # A classic multi-frame file has one position for all its frames:
        # repeating it per frame would claim a geometry the file lacks.
        positions = None

    # Spacing from the header, for everything but a positioned stack.
    if first.spacing_between is not None and first.spacing_between > 0:
        dz, z_source = first.spacing_between, "SpacingBetweenSlices"
    elif first.thickness is not None and first.thickness > 0:
        dz, z_source = first.thickness, "SliceThickness"
    else:
        dz, z_source = 1.0, "default"
    if kind == "frames":
        dz, z_source = 1.0, "frame index"
    step = normal * dz
    irregular = False

    if kind == "volume" and positions is not None and len(recs) > 1:
        found = _step_from_positions(first, positions, origin, normal, warns, notes)
        if found is not None:
            dz, step, irregular = found
            z_source = "ImagePositionPatient"
    elif kind == "volume" and len(recs) == 1 and z_source == "default":
        notes.append("Single slice without SliceThickness or SpacingBetweenSlices: "
                     "slice spacing set to 1 mm.")

    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col * dy
    affine[:3, 2] = row * dx
    affine[:3, 3] = origin
    geom = Geometry(
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        spacing=(float(dz), float(dy), float(dx)),
        direction=_readonly(direction),
        affine=_readonly(affine),
        irregular=irregular,
        positions=_readonly(positions) if positions is not None else None,
        z_source=z_source,
    )
    return geom, warns, notes


def _step_from_positions(
    first: _Rec, positions: np.ndarray, origin: np.ndarray, normal: np.ndarray,
    warns: list[str], notes: list[str],
) -> tuple[float, np.ndarray, bool] | None:
    """``(dz, step, irregular)`` from the slice positions, warnings and notes
    appended; None when every slice shares one position."""
    proj = positions @ normal
    steps = np.diff(proj)
    real = steps > POSITION_TOLERANCE
    if not real.any():
        return None
    dz = float(np.median(steps[real]))
    # The median step vector keeps a gantry tilt (shear) in the affine
    # so the affine reproduces every position of a regular stack.
    step = np.median(np.diff(positions, axis=0)[real], axis=0)
    tol = max(SPACING_ATOL, SPACING_RTOL * dz)
    k = np.arange(len(positions))[:, None]
    predicted = origin + k * step
    deviation = np.linalg.norm(positions - predicted, axis=1)
    irregular = bool(deviation.max() > tol) or not real.all()
    gaps = [(i, s) for i, s in enumerate(steps) if s >= GAP_FACTOR * dz]
    for i, s in gaps:
        missing = max(1, round(s / dz) - 1)
        warns.append(
            f"Gap between slices {i} and {i + 1}: the step is {_fmt(s)} mm, "
            f"{s / dz:.1f} times the median {_fmt(dz)} mm (about {missing} "
            f"slice(s) missing).")
    uneven = [s for i, s in enumerate(steps) if real[i]
              and abs(s - dz) > tol and s < GAP_FACTOR * dz]
    if uneven:
        warns.append(
            f"Slice spacing is irregular: steps range from "
            f"{_fmt(float(steps[real].min()))} to "
            f"{_fmt(float(steps[real].max()))} mm around the median "
            f"{_fmt(dz)} mm (tolerance {_fmt(tol)} mm); the affine uses "
            "the median.")
    inplane = step - np.dot(step, normal) * normal
    shift = float(np.linalg.norm(inplane))
    if shift > tol:
        angle = math.degrees(math.atan2(shift, dz))
        warns.append(
            f"The stack is sheared (gantry tilt of about {angle:.2g} "
            f"degrees): each slice is offset {_fmt(shift)} mm in-plane; "
            "the affine includes the shear, spacing and direction alone "
            "do not.")
    elif irregular and not gaps and not uneven and real.all():
        warns.append(
            f"Slice positions deviate from a regular grid by up to "
            f"{_fmt(float(deviation.max()))} mm (tolerance {_fmt(tol)} mm).")
    # Thickness differing from spacing is normal (overlapping CT
    # reconstructions, MR slice gaps): a note, not a warning.
    if first.thickness and abs(first.thickness - dz) > tol:
        how = "overlap" if first.thickness > dz else "leave gaps between them"
        notes.append(
            f"SliceThickness ({_fmt(first.thickness)} mm) differs from the "
            f"spacing of the positions ({_fmt(dz)} mm): slices {how}.")
    if first.spacing_between and abs(first.spacing_between - dz) > tol:
        notes.append(
            f"SpacingBetweenSlices ({_fmt(first.spacing_between)} mm) "
            f"differs from the spacing of the positions ({_fmt(dz)} mm); "
            "the positions are used.")
    return dz, step, irregular
