"""4-D series: volumes over time, echo or diffusion weighting, and mosaic volumes.

A :class:`dicomio.series.Series` with a :class:`Layout` reads as
``(t, z, y, x)`` (or ``(z, y, x)`` for a single mosaic) while its
:attr:`~dicomio.series.Series.geometry` describes the 3-D grid of one volume.
Two ways lead here:

* Siemens MOSAIC files: each file is one volume (:mod:`.mosaic`); the files of
  a series, ordered by AcquisitionNumber then InstanceNumber, are the volumes.
* Slice series and enhanced multi-frame files whose positions repeat per
  temporal position, echo, b-value or acquisition: :func:`join` puts the
  3-D parts the grouping split them into back together, when they hold the
  same slice positions, in acquisition order.

Diffusion (:func:`diffusion`): b-values and gradient directions come from the
public DiffusionBValue / DiffusionGradientOrientation (also inside an
enhanced file's MR Diffusion functional group) or from the Siemens CSA header
(B_value, DiffusionGradientDirection); they are reported in the patient frame
(LPS, as stored) and in the voxel frame of the NIfTI file dicomio writes,
which is the frame and sign convention of dcm2niix's ``.bvec`` (FSL: the
first axis negated when the NIfTI affine has a positive determinant).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import csa as _csa
from .mosaic import MosaicLayout, demosaic

__all__ = ["Layout", "FOUR_D_KEYS", "join", "diffusion", "nifti_affine",
           "read_volumes"]

#: Split keys that name a 4th dimension (time, echo, diffusion, repetition);
#: parts split by anything else (orientation, matrix) stay separate series.
FOUR_D_KEYS = frozenset({
    "TemporalPositionIdentifier", "TemporalPositionIndex", "EchoNumbers",
    "EchoTime", "EffectiveEchoTime", "DiffusionBValue",
    "DiffusionGradientOrientation", "TriggerTime", "InversionTime",
    "AcquisitionNumber", "DimensionIndexValues", "repetition", "StackID",
})


@dataclass(frozen=True)
class Layout:
    """How the records of a series make volumes.

    Attributes
    ----------
    n_volumes : int
        Volumes (axis 0 of a 4-D read).
    n_slices : int
        Slices per volume.
    axis : tuple of str
        The attributes that tell the volumes apart, e.g.
        ``("EchoNumbers",)``; ``("AcquisitionNumber",)`` for mosaics.
    values : tuple of dict
        Per volume, the value of every ``axis`` attribute.
    mosaic : MosaicLayout or None
        Set when every record is a mosaic image holding a whole volume.
    """

    n_volumes: int
    n_slices: int
    axis: tuple[str, ...]
    values: tuple[dict[str, Any], ...]
    mosaic: MosaicLayout | None = None

    @property
    def four_d(self) -> bool:
        """Whether a full read has a volume axis (``(t, z, y, x)``)."""
        return self.n_volumes > 1 or self.mosaic is None

    @property
    def records_per_volume(self) -> int:
        """Records (files or frames) that make one volume."""
        return 1 if self.mosaic is not None else self.n_slices

    def volume_shape(self, frame_shape: Sequence[int]) -> tuple[int, ...]:
        """``(z, y, x[, samples])`` of one volume from a record's decoded shape."""
        if self.mosaic is not None:
            return self.mosaic.shape
        return (self.n_slices, *frame_shape)

    def shape(self, frame_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of a full read."""
        vol = self.volume_shape(frame_shape)
        return (self.n_volumes, *vol) if self.four_d else vol


# ---------------------------------------------------------------------------
# Joining parts into 4-D
# ---------------------------------------------------------------------------
#: 4-D keys whose values order the volumes; volumes split by any other key
#: (diffusion b-value or direction, repetition) follow acquisition order.
_ORDERED_KEYS = FOUR_D_KEYS - {"DiffusionBValue", "DiffusionGradientOrientation",
                               "repetition", "StackID"}


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
        return (1, value)
    return (2, str(value))


def _order_key(recs: Sequence[Any]) -> tuple[Any, ...]:
    """Acquisition order of a volume: its earliest AcquisitionNumber, then slice."""
    acq = [r.keys.get("AcquisitionNumber") for r in recs]
    numbers = [a for a in acq if isinstance(a, (int, float))]
    first = min(numbers) if numbers else math.inf
    return (first, min(r.sort_tail for r in recs))


def _same_positions(a: Any, b: Any) -> bool:
    pa, pb = a.geometry.positions, b.geometry.positions
    if pa is None or pb is None or pa.shape != pb.shape:
        return False
    return bool(np.abs(pa - pb).max() <= 0.1)


#: Per-volume values worth reporting when a whole volume shares them.
_REPORTED = ("EchoTime", "EffectiveEchoTime", "TriggerTime", "InversionTime",
             "DiffusionBValue", "TemporalPositionIdentifier", "EchoNumbers")


def _volume_values(recs: Sequence[Any], axis: Sequence[str], split: dict[str, Any]
                   ) -> dict[str, Any]:
    out = {k: split.get(k) for k in axis}
    for key in _REPORTED:
        found = {r.keys.get(key) for r in recs}
        if len(found) == 1 and None not in found and key not in out:
            out[key] = found.pop()
    return out


def join(series: list[Any], make: Callable[..., Any]) -> list[Any]:
    """Join sibling 3-D parts split along a 4-D key into 4-D series.

    ``series`` are the parts built for one SeriesInstanceUID; ``make(recs,
    kind, split, warnings, notes, layout)`` builds a Series. Parts that do not
    fit (other orientation, other slice count or positions) stay as they are.
    """
    groups: dict[str, list[Any]] = {}
    for s in series:
        dims = set(s.split) & FOUR_D_KEYS
        if not dims or s.kind != "volume":
            continue
        rest = {k: v for k, v in s.split.items() if k not in FOUR_D_KEYS}
        groups.setdefault(repr(sorted(rest.items(), key=str)), []).append(s)
    out: list[Any] = [s for s in series
                      if not any(s in g for g in groups.values())]
    for members in groups.values():
        first = members[0]
        fits = len(members) > 1 and all(
            len(m) == len(first) and m._header_shape() == first._header_shape()
            and _same_positions(m, first) for m in members)
        if not fits:
            out.extend(members)
            continue
        axis = tuple(sorted({k for m in members for k in m.split
                             if k in FOUR_D_KEYS}))
        if set(axis) <= _ORDERED_KEYS:
            # A dimension with an order of its own (time, echo, index).
            members = sorted(members, key=lambda m: tuple(
                _sortable(m.split.get(k)) for k in axis))
        else:
            # Diffusion weightings, repetitions: in acquisition order.
            members = sorted(members, key=lambda m: _order_key(m._recs))
        values = tuple(_volume_values(m._recs, axis, m.split) for m in members)
        split = {k: v for k, v in first.split.items() if k not in FOUR_D_KEYS}
        recs = [r for m in members for r in m._recs]
        warns = list(dict.fromkeys(w for m in members for w in m.warnings))
        notes = [f"{len(members)} volumes of {len(first)} slices joined along "
                 f"{', '.join(axis)} into one 4-D series (t, z, y, x)."]
        layout = Layout(len(members), len(first), axis, values)
        out.append(make(recs, "volume", split, warns, notes, layout))
    return out


def mosaic_series(recs: list[Any], make: Callable[..., Any], joined: bool
                  ) -> list[Any]:
    """Series of mosaic records (one volume each), ordered by acquisition."""
    recs = sorted(recs, key=lambda r: _order_key([r]))
    clusters: dict[Any, list[Any]] = {}
    for r in recs:
        key = (r.rows, r.columns, r.mosaic.shape,
               tuple(round(v, 3) for v in r.iop or ()))
        clusters.setdefault(key, []).append(r)
    built = []
    for members in clusters.values():
        groups = [members] if joined else [[r] for r in members]
        for group in groups:
            acq = [r.keys.get("AcquisitionNumber", r.instance) for r in group]
            layout = Layout(len(group), group[0].mosaic.n_tiles,
                            ("AcquisitionNumber",),
                            tuple({"AcquisitionNumber": a} for a in acq),
                            mosaic=group[0].mosaic)
            split = {} if joined else {"AcquisitionNumber": acq[0]}
            layout0 = group[0].mosaic
            notes = [f"Siemens MOSAIC: {layout0.n_tiles} slices of "
                     f"{layout0.tile_rows} x {layout0.tile_cols} per image (tile "
                     f"count from {layout0.source})."]
            if joined and len(group) > 1:
                notes.append(f"{len(group)} mosaic volumes ordered by "
                             "AcquisitionNumber, then InstanceNumber.")
            built.append(make(group, "volume", split, [], notes, layout))
    return built


def mosaic_geometry(rec: Any, layout: MosaicLayout, geometry_cls: Any
                    ) -> tuple[Any, list[str], list[str]]:
    """The 3-D geometry of a mosaic volume, slice 0 at the origin."""
    notes: list[str] = []
    dy, dx = rec.pixel_spacing if rec.pixel_spacing is not None else (1.0, 1.0)
    if rec.iop is None or rec.ipp is None:
        row, col = np.eye(3)[0], np.eye(3)[1]
        origin = np.zeros(3)
        notes.append("The mosaic has no ImagePositionPatient/ImageOrientationPatient:"
                     " identity geometry.")
    else:
        row, col = np.asarray(rec.iop[:3], float), np.asarray(rec.iop[3:], float)
        from .mosaic import slice0_origin

        origin = slice0_origin(rec.ipp, rec.iop, (dy, dx), rec.rows, rec.columns,
                               layout)
    cross = np.cross(row, col)
    cross = cross / (np.linalg.norm(cross) or 1.0)
    if layout.normal is not None:
        normal = np.asarray(layout.normal, float)
        if abs(abs(float(normal @ cross)) - 1.0) > 1e-3:
            notes.append("The CSA SliceNormalVector is not perpendicular to the "
                         "image plane: it is used as the slice direction anyway.")
    else:
        normal = cross
        notes.append("No CSA SliceNormalVector: slices are stacked along row x "
                     "column of ImageOrientationPatient.")
    if rec.spacing_between:
        dz, source = rec.spacing_between, "SpacingBetweenSlices"
    elif rec.thickness:
        dz, source = rec.thickness, "SliceThickness"
    else:
        dz, source = 1.0, "default"
    positions = origin + np.arange(layout.n_tiles)[:, None] * (normal * dz)
    affine = np.eye(4)
    affine[:3, 0] = normal * dz
    affine[:3, 1] = col * dy
    affine[:3, 2] = row * dx
    affine[:3, 3] = origin
    for a in (positions, affine):
        a.flags.writeable = False
    direction = np.column_stack([row, col, normal])
    direction.flags.writeable = False
    geom = geometry_cls(
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        spacing=(float(dz), float(dy), float(dx)), direction=direction,
        affine=affine, irregular=False, positions=positions, z_source=source)
    return geom, [], notes


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def _volume_picks(layout: Layout, index: Any) -> tuple[list[int], bool]:
    from ..errors import FrameIndexError

    n = layout.n_volumes
    if index is None or index is Ellipsis:
        return list(range(n)), False
    if isinstance(index, slice):
        return list(range(n))[index], False
    many = not isinstance(index, (int, np.integer))
    picks = []
    for i in (index if many else [index]):
        i = int(i)
        if not -n <= i < n:
            raise FrameIndexError(f"volume index {i} out of range for {n} volumes")
        picks.append(i % n)
    return picks, not many


def read_volumes(series: Any, index: Any, read_recs: Callable[..., np.ndarray],
                 **options: Any) -> np.ndarray:
    """``Series.read`` for a series with a layout.

    ``index`` selects volumes (axis 0 of ``(t, z, y, x)``); for a single
    mosaic volume, which reads as ``(z, y, x)``, it selects slices.
    ``read_recs(picks, **options)`` decodes records into ``(n, *frame)``.
    """
    layout: Layout = series.layout
    if not layout.four_d:
        vol = demosaic(read_recs([0], **options), layout.mosaic)[0]  # type: ignore
        if index is None or index is Ellipsis:
            return vol
        if isinstance(index, (int, np.integer)):
            from ..errors import FrameIndexError

            if not -len(vol) <= int(index) < len(vol):
                raise FrameIndexError(f"slice index {index} out of range for "
                                      f"{len(vol)} slices")
            return np.ascontiguousarray(vol[int(index)])
        return np.ascontiguousarray(vol[index if isinstance(index, slice)
                                        else list(index)])
    picks, scalar = _volume_picks(layout, index)
    per = layout.records_per_volume
    recs = [v * per + k for v in picks for k in range(per)]
    flat = read_recs(recs, **options)
    if layout.mosaic is not None:
        out = demosaic(flat, layout.mosaic)
    else:
        out = flat.reshape(len(picks), per, *flat.shape[1:])
    return out[0] if scalar else out


def volume_task(items: Sequence[tuple[str, int, tuple[float, float] | None]],
                mosaic: MosaicLayout | None, tile: int | None, dtype: str,
                color: str, backend: Any, on_error: str = "raise") -> np.ndarray:
    """Decode one volume (or one mosaic tile) from ``(path, frame, rescale)`` items.

    Picklable, for dask: what :meth:`Series.slice_tasks` hands out for a
    series with a layout. ``on_error`` (``"raise"``, ``"recover"`` or
    ``"fill"``) is :meth:`DicomImage.read`'s: each file read warns about its
    own failed frames, whose missing rows are 0 after the rescale.
    """
    from ..image import DicomImage
    from . import lazy

    def open_image(path: str) -> Any:
        return DicomImage(path, backend=backend, color=color)

    with open_image(items[0][0]) as img:
        frame_shape = tuple(img.frame_shape)
    stack = lazy.decode_items(items, frame_shape, dtype, open_image, close=True,
                              on_error=on_error)
    if mosaic is not None:
        stack = demosaic(stack, mosaic)[0]
        if tile is not None:
            return np.ascontiguousarray(stack[tile])
    return stack


def tasks(series: Any, rescale: bool, color: str, backend: Any, dtype: np.dtype[Any],
          on_error: str = "raise") -> list[functools.partial[np.ndarray]]:
    """One task per item of axis 0 of :meth:`Series.read` (volumes, or tiles)."""
    layout: Layout = series.layout
    items = volume_items(series, rescale)
    if not layout.four_d:
        return [functools.partial(volume_task, items[:1], layout.mosaic, k,
                                  dtype.str, color, backend, on_error=on_error)
                for k in range(layout.n_slices)]
    per = layout.records_per_volume
    return [functools.partial(volume_task, items[v * per:(v + 1) * per],
                              layout.mosaic, None, dtype.str, color, backend,
                              on_error=on_error)
            for v in range(layout.n_volumes)]


def volume_items(series: Any, rescale: bool
                 ) -> list[tuple[str, int, tuple[float, float] | None]]:
    """``(path, frame, rescale)`` per record, in volume order (rescale None: none)."""
    items = []
    for r in series._recs:
        p = r.rescale if rescale and r.rescale not in (None, (1.0, 0.0)) else None
        items.append((r.path, r.frame, p))
    return items


# ---------------------------------------------------------------------------
# Diffusion and NIfTI frames
# ---------------------------------------------------------------------------
def nifti_affine(geometry: Any, n_rows: int) -> np.ndarray:
    """The NIfTI (RAS) affine of the layout dicomio and dcm2niix write.

    The NIfTI array is ``(x, y, z[, t])`` = ``(column, row, slice)`` with the
    rows reversed (bottom row first), so ``affine @ [i, j, k, 1]`` is the RAS
    position of column ``i``, row ``n_rows - 1 - j``, slice ``k``.
    """
    a = np.asarray(geometry.affine, dtype=float)
    m = np.eye(4)
    m[:3, 0] = a[:3, 2]
    m[:3, 1] = -a[:3, 1]
    m[:3, 2] = a[:3, 0]
    m[:3, 3] = a[:3, 3] + (n_rows - 1) * a[:3, 1]
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    out: np.ndarray = lps_to_ras @ m
    return out


def _volume_diffusion(rec: Any) -> tuple[float | None, tuple[float, ...] | None]:
    b = rec.keys.get("DiffusionBValue")
    g = rec.keys.get("DiffusionGradientOrientation")
    if b is None:
        info = _csa.image_header(rec.header) if _csa.has_csa(rec.header) else None
        value = _csa.scalar(info, "B_value")
        if value is not None:
            b = float(value)
            g = _csa.vector(info, "DiffusionGradientDirection", 3)
    bval = float(b) if isinstance(b, (int, float)) else None
    vec = tuple(float(v) for v in g) if isinstance(g, tuple) and len(g) == 3 else None
    return bval, vec


def diffusion(series: Any) -> dict[str, Any] | None:
    """b-values and gradients per volume, or None when the series has none.

    Returns ``{"bvals": [...], "bvecs_patient": [[x, y, z], ...] (LPS),
    "bvecs_voxel": [[i, j, k], ...]}``; a volume without a gradient (b = 0)
    has ``[0, 0, 0]``.
    """
    layout: Layout | None = series.layout
    if layout is None:
        return None
    per = layout.records_per_volume
    found = [_volume_diffusion(series._recs[v * per]) for v in range(layout.n_volumes)]
    if all(b is None for b, _ in found):
        return None
    bvals = [b or 0.0 for b, _ in found]
    patient = np.array([g if g is not None and b else (0.0, 0.0, 0.0)
                        for b, g in found], dtype=float)
    geom = series.geometry
    n_rows = series._recs[0].rows if layout.mosaic is None else layout.mosaic.tile_rows
    ras = nifti_affine(geom, n_rows)
    # Voxel axes of the NIfTI array, as unit vectors in LPS.
    axes = np.diag([-1.0, -1.0, 1.0]) @ ras[:3, :3]
    axes = axes / np.linalg.norm(axes, axis=0)
    voxel = patient @ axes
    if np.linalg.det(ras[:3, :3]) > 0:
        voxel[:, 0] = -voxel[:, 0]
    if float(np.cross(geom.direction[:, 0], geom.direction[:, 1]) @ geom.normal) < 0:
        # Slices stacked against row x column (a mosaic whose CSA normal is
        # reversed): dcm2niix writes the opposite vector, which is the same
        # diffusion direction; follow it so .bvec files compare equal.
        voxel = -voxel
    voxel[np.abs(voxel) < 1e-12] = 0.0
    return {"bvals": bvals, "bvecs_patient": patient.tolist(),
            "bvecs_voxel": voxel.tolist()}
