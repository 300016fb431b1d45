"""What the MR tests expect of a reader: the generated volumes sorted along the
slice normal, with their affine (shared by test_fourd and test_enhanced)."""

from __future__ import annotations

import numpy as np

from dicomio import series as S
from dicomio.encode import mr

AXIAL = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
ORIGIN = (-40.0, -50.0, 10.0)
SPACING = (4.0, 3.0, 2.5)


def stacked(vols: np.ndarray, flip: bool, spacing: tuple[float, float, float] = (
        4.0, 3.0, 2.5)) -> tuple[np.ndarray, np.ndarray]:
    """What a reader returns: slices sorted along row x column, and that affine."""
    if not flip:
        return vols, mr.affine(ORIGIN, *AXIAL, spacing)
    last = np.asarray(ORIGIN) + (vols.shape[1] - 1) * spacing[0] * mr.normal(
        *AXIAL, flip=True)
    return vols[:, ::-1], mr.affine(last, *AXIAL, spacing)


def only(result: S.ScanResult) -> S.Series:
    assert len(result.series) == 1, result.summary()
    return result.series[0]
