"""Synthetic MR series from known volumes: Siemens mosaics, 4-D slice series, enhanced MR.

The files are made with dicomio's own encoder (:func:`dicomio.encode.make_dataset`)
plus pydicom for the private and functional-group elements, so tests and
benchmarks can check a reader voxel for voxel and affine for affine against
the arrays and geometry they were built from. Nothing here is read from
disk or downloaded.

Geometry arguments are shared by every writer: ``origin`` is the patient
position (LPS, mm) of voxel ``(0, 0)`` of slice 0, ``row`` and ``col`` the
direction cosines of increasing column and row index, ``spacing`` is
``(dz, dy, dx)`` and ``flip`` stacks slices along ``-(row x col)`` instead of
``+(row x col)``. :func:`affine` gives the matching ``(k, j, i)`` affine of
:class:`dicomio.series.Geometry`.

>>> from dicomio.encode import mr                               # doctest: +SKIP
>>> vols = mr.phantom(t=3, z=5, y=8, x=10)                        # doctest: +SKIP
>>> paths = mr.write_mosaic_series("out", vols, bvals=[0, 1000, 1000])  # +SKIP
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["csa2", "phantom", "normal", "affine", "tile", "write_mosaic_series",
           "write_slice_series", "write_enhanced", "MR_IMAGE", "ENHANCED_MR_IMAGE"]

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4.1"

_CSA_VR = {"NumberOfImagesInMosaic": "US", "SliceNormalVector": "FD",
           "B_value": "IS", "DiffusionGradientDirection": "FD",
           "MosaicRefAcqTimes": "FD", "AcquisitionMatrixText": "SH",
           "ImaCoilString": "LO"}


def csa2(tags: Mapping[str, Any]) -> bytes:
    """A Siemens CSA2 ("SV10") header holding ``tags`` (name -> value or values).

    The layout is the one nibabel's ``csareader`` and dcm2niix read: the
    ``SV10`` magic, 4 unused bytes, tag count and a check word (77); per tag
    a 64-byte name, VM, a 4-byte VR, the SyngoDT code, item count and 77; per
    item four int32 (length, length, 77, length) and the value as text with a
    terminating NUL, padded to 4 bytes.
    """
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<2I", len(tags), 77)
    for name, value in tags.items():
        values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
        vr = _CSA_VR.get(name, "LO")
        out += struct.pack("<64si4s3i", name.encode("ascii"), len(values),
                           vr.encode("ascii"), 0, len(values), 77)
        for v in values:
            text = (repr(float(v)) if vr == "FD" else str(v)).encode("ascii") + b"\x00"
            out += struct.pack("<4i", len(text), len(text), 77, len(text))
            out += text + b"\x00" * (-len(text) % 4)
    return bytes(out)


def phantom(t: int, z: int, y: int, x: int, *, bits: int = 12) -> np.ndarray:
    """``(t, z, y, x)`` uint16 volumes whose voxels are all different (mod 2**bits)."""
    n = np.arange(t * z * y * x, dtype=np.int64).reshape(t, z, y, x)
    return ((n * 7 + 13) % (1 << bits)).astype(np.uint16)


def normal(row: Sequence[float], col: Sequence[float], flip: bool = False
           ) -> np.ndarray:
    """The stacking direction: ``row x col`` (negated with ``flip``)."""
    n = np.cross(np.asarray(row, float), np.asarray(col, float))
    n = n / np.linalg.norm(n)
    return -n if flip else n


def affine(origin: Sequence[float], row: Sequence[float], col: Sequence[float],
           spacing: Sequence[float], flip: bool = False) -> np.ndarray:
    """The ``(k, j, i) -> (x, y, z)`` affine (LPS) of the generated volumes."""
    dz, dy, dx = spacing
    a = np.eye(4)
    a[:3, 0] = normal(row, col, flip) * dz
    a[:3, 1] = np.asarray(col, float) * dy
    a[:3, 2] = np.asarray(row, float) * dx
    a[:3, 3] = origin
    return a


def tile(volume: np.ndarray) -> np.ndarray:
    """``(z, y, x)`` slices laid out as a mosaic, slice 0 top left, blanks at the end."""
    z, y, x = volume.shape
    g = math.ceil(math.sqrt(z))
    padded = np.zeros((g * g, y, x), volume.dtype)
    padded[:z] = volume
    return np.ascontiguousarray(
        padded.reshape(g, g, y, x).transpose(0, 2, 1, 3).reshape(g * y, g * x))


def _common(seed: str, series_number: int, description: str, **extra: Any
            ) -> dict[str, Any]:
    from . import uid_from

    return dict(
        modality="MR", series_number=series_number, series_description=description,
        study_instance_uid=uid_from(seed, "study"),
        series_instance_uid=uid_from(seed, "series"),
        study_date="20260101", study_time="120000", PatientPosition="HFS",
        Manufacturer="SIEMENS", MagneticFieldStrength=3,
        ProtocolName=description, EchoTime=30, RepetitionTime=2000,
        FlipAngle=78, **extra)


def _mr_image(pixels: np.ndarray, transfer_syntax: str, spacing: tuple[float, float],
              position: Any, row: Sequence[float], col: Sequence[float],
              **attrs: Any) -> Any:
    """A single-frame MR Image dataset at ``position`` in the plane ``row`` x ``col``."""
    from . import make_dataset

    return make_dataset(pixels, transfer_syntax, sop_class_uid=MR_IMAGE,
                        pixel_spacing=spacing, image_position=[float(a) for a in position],
                        image_orientation=[*map(float, row), *map(float, col)], **attrs)


def _save(ds: Any, path: Path) -> Path:
    from . import save_dataset

    save_dataset(ds, path)
    return path


def write_mosaic_series(
    folder: str | os.PathLike[str],
    volumes: np.ndarray,
    *,
    origin: Sequence[float] = (-40.0, -50.0, 10.0),
    row: Sequence[float] = (1.0, 0.0, 0.0),
    col: Sequence[float] = (0.0, 1.0, 0.0),
    spacing: Sequence[float] = (4.0, 3.0, 2.5),
    flip: bool = False,
    count_from: str = "csa",
    slice_normal: bool = True,
    bvals: Sequence[float] | None = None,
    bvecs: Sequence[Sequence[float]] | None = None,
    transfer_syntax: str = "ExplicitVRLittleEndian",
    seed: str = "dicomio-mosaic",
    description: str = "ep2d_bold",
) -> list[Path]:
    """One Siemens MOSAIC file per volume of ``volumes`` (``(t, z, y, x)``).

    ``count_from`` says where the tile count is written: ``"csa"`` (CSA
    NumberOfImagesInMosaic), ``"private"`` ((0019,xx0A) only) or
    ``"matrix"`` (neither: readers must use AcquisitionMatrix).
    ``slice_normal=False`` leaves SliceNormalVector out of the CSA header.
    ``bvals`` / ``bvecs`` (patient frame, LPS) go in the CSA header as
    B_value and DiffusionGradientDirection (none for b = 0, as Siemens does).
    """

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vols = np.asarray(volumes)
    vols = vols[None] if vols.ndim == 3 else vols
    t, z, y, x = vols.shape
    dz, dy, dx = spacing
    g = math.ceil(math.sqrt(z))
    rows, cols = g * y, g * x
    n = normal(row, col, flip)
    r, c = np.asarray(row, float), np.asarray(col, float)
    corner = np.asarray(origin, float) - c * dy * (rows - y) / 2 - r * dx * (cols - x) / 2
    # Interleaved acquisition order (even slices first), as a slice timing.
    order = list(range(0, z, 2)) + list(range(1, z, 2))
    times = [0.0] * z
    for k, s in enumerate(order):
        times[s] = round(k * 2000.0 / z, 4)
    paths = []
    for v in range(t):
        tags: dict[str, Any] = {"AcquisitionMatrixText": f"{y}p*{x}"}
        if count_from == "csa":
            tags["NumberOfImagesInMosaic"] = z
        if slice_normal:
            tags["SliceNormalVector"] = [float(a) for a in n]
        tags["MosaicRefAcqTimes"] = times
        if bvals is not None:
            tags["B_value"] = int(bvals[v])
            if bvecs is not None and bvals[v] > 0:
                tags["DiffusionGradientDirection"] = [float(a) for a in bvecs[v]]
        ds = _mr_image(
            tile(vols[v]), transfer_syntax, (dy, dx), corner, row, col,
            instance_number=v + 1, uid_seed=f"{seed}-{v}",
            ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"],
            AcquisitionNumber=v + 1, SliceThickness=dz, SpacingBetweenSlices=dz,
            AcquisitionMatrix=[x, 0, 0, y], InPlanePhaseEncodingDirection="COL",
            **_common(seed, 1, description))
        if count_from in ("csa", "private"):
            block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
            if count_from == "private":
                block.add_new(0x0A, "US", z)
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(0x08, "CS", "IMAGE NUM 4")
        block.add_new(0x10, "OB", csa2(tags))
        paths.append(_save(ds, folder / f"mosaic_{v + 1:04d}.dcm"))
    return paths


def write_slice_series(
    folder: str | os.PathLike[str],
    volumes: np.ndarray,
    *,
    axis: str = "TemporalPositionIdentifier",
    origin: Sequence[float] = (-40.0, -50.0, 10.0),
    row: Sequence[float] = (1.0, 0.0, 0.0),
    col: Sequence[float] = (0.0, 1.0, 0.0),
    spacing: Sequence[float] = (4.0, 3.0, 2.5),
    flip: bool = False,
    echo_times: Sequence[float] | None = None,
    bvals: Sequence[float] | None = None,
    bvecs: Sequence[Sequence[float]] | None = None,
    transfer_syntax: str = "ExplicitVRLittleEndian",
    seed: str = "dicomio-slices",
    description: str = "slices",
) -> list[Path]:
    """One single-frame MR file per slice per volume of ``(t, z, y, x)``.

    ``axis`` names the attribute numbering the volumes (1-based):
    ``TemporalPositionIdentifier``, ``AcquisitionNumber`` or ``EchoNumbers``
    (``echo_times`` then gives EchoTime per volume). ``bvals`` / ``bvecs``
    (LPS) become DiffusionBValue / DiffusionGradientOrientation.
    InstanceNumbers run in acquisition order; file names are shuffled
    against it so readers cannot rely on them.
    """

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vols = np.asarray(volumes)
    t, z, y, x = vols.shape
    dz, dy, dx = spacing
    n = normal(row, col, flip)
    paths = []
    for v in range(t):
        for k in range(z):
            attrs: dict[str, Any] = {axis: v + 1}
            if axis != "AcquisitionNumber":
                attrs["AcquisitionNumber"] = 1
            if echo_times is not None:
                attrs["EchoTime"] = echo_times[v]
            if bvals is not None:
                attrs["DiffusionBValue"] = float(bvals[v])
                if bvecs is not None:
                    attrs["DiffusionGradientOrientation"] = [
                        float(a) for a in bvecs[v]]
            pos = np.asarray(origin, float) + k * dz * n
            common = _common(seed, 2, description)
            if "EchoTime" in attrs:
                common.pop("EchoTime")
            ds = _mr_image(
                vols[v, k], transfer_syntax, (dy, dx), pos, row, col,
                instance_number=v * z + k + 1, uid_seed=f"{seed}-{v}-{k}",
                ImageType=["ORIGINAL", "PRIMARY", "M", "ND"],
                SliceThickness=dz, **attrs, **common)
            name = f"im_{(k * 7919 + v * 104729) % 1000003:07d}_{v}_{k}.dcm"
            paths.append(_save(ds, folder / name))
    return paths


def _seq_item(**values: Any) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    for key, value in values.items():
        setattr(item, key, value)
    return item


def write_enhanced(
    path: str | os.PathLike[str],
    volumes: np.ndarray,
    *,
    axis: str = "echo",
    origin: Sequence[float] = (-40.0, -50.0, 10.0),
    row: Sequence[float] = (1.0, 0.0, 0.0),
    col: Sequence[float] = (0.0, 1.0, 0.0),
    spacing: Sequence[float] = (4.0, 3.0, 2.5),
    flip: bool = False,
    echo_times: Sequence[float] | None = None,
    rescale: Sequence[tuple[float, float]] | None = None,
    frame_order: Sequence[int] | None = None,
    transfer_syntax: str = "ExplicitVRLittleEndian",
    seed: str = "dicomio-enhanced",
) -> Path:
    """One Enhanced MR Image file holding ``(t, z, y, x)`` as t * z frames.

    ``axis`` is ``"echo"`` (MREchoSequence EffectiveEchoTime, dimension
    EffectiveEchoTime) or ``"time"`` (TemporalPositionIndex). Every frame
    carries Plane Position, Frame Content (StackID, InStackPositionNumber,
    DimensionIndexValues) and, with ``rescale`` (one ``(slope, intercept)``
    per volume), its own Pixel Value Transformation. ``frame_order`` permutes
    the frames (stored frame ``f`` holds volume-major frame ``frame_order[f]``).
    """
    from pydicom.sequence import Sequence as Seq

    from . import make_dataset

    vols = np.asarray(volumes)
    t, z, y, x = vols.shape
    dz, dy, dx = spacing
    n = normal(row, col, flip)
    order = list(frame_order) if frame_order is not None else list(range(t * z))
    frames = np.stack([vols[f // z, f % z] for f in order])
    if echo_times is not None:
        echoes = list(echo_times)
    else:  # one echo time per volume for echoes, one for all over time
        echoes = [10.0 * (v + 1) if axis == "echo" else 30.0 for v in range(t)]
    ds = make_dataset(frames, transfer_syntax, multiframe=True,
                      sop_class_uid=ENHANCED_MR_IMAGE, uid_seed=seed,
                      ImageType=["ORIGINAL", "PRIMARY", "M", "NONE"],
                      **_common(seed, 3, f"enhanced {axis}"))
    for key in ("FrameIncrementPointer", "FrameLabelVector", "EchoTime"):
        if key in ds:
            delattr(ds, key)
    ds.ContentQualification = "PRODUCT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    dim_kw = "EffectiveEchoTime" if axis == "echo" else "TemporalPositionIndex"
    group_kw = "MREchoSequence" if axis == "echo" else "FrameContentSequence"
    from pydicom.datadict import tag_for_keyword

    # The volume dimension before the in-stack position: frames sorted by
    # their index values come volume after volume.
    ds.DimensionIndexSequence = Seq([
        _seq_item(DimensionIndexPointer=tag_for_keyword("StackID"),
                  FunctionalGroupPointer=tag_for_keyword("FrameContentSequence")),
        _seq_item(DimensionIndexPointer=tag_for_keyword(dim_kw),
                  FunctionalGroupPointer=tag_for_keyword(group_kw)),
        _seq_item(DimensionIndexPointer=tag_for_keyword("InStackPositionNumber"),
                  FunctionalGroupPointer=tag_for_keyword("FrameContentSequence")),
    ])
    shared = _seq_item(
        PixelMeasuresSequence=Seq([_seq_item(PixelSpacing=[dy, dx],
                                             SliceThickness=dz,
                                             SpacingBetweenSlices=dz)]),
        PlaneOrientationSequence=Seq([_seq_item(
            ImageOrientationPatient=[*map(float, row), *map(float, col)])]),
    )
    ds.SharedFunctionalGroupsSequence = Seq([shared])
    per_frame = []
    for f in order:
        v, k = divmod(f, z)
        pos = np.asarray(origin, float) + k * dz * n
        content = _seq_item(StackID="1", InStackPositionNumber=k + 1,
                            DimensionIndexValues=[1, v + 1, k + 1])
        if axis == "time":
            content.TemporalPositionIndex = v + 1
        item = _seq_item(
            FrameContentSequence=Seq([content]),
            PlanePositionSequence=Seq([_seq_item(
                ImagePositionPatient=[float(a) for a in pos])]),
            MREchoSequence=Seq([_seq_item(EffectiveEchoTime=echoes[v])]),
        )
        if rescale is not None:
            slope, intercept = rescale[v]
            item.PixelValueTransformationSequence = Seq([_seq_item(
                RescaleSlope=slope, RescaleIntercept=intercept, RescaleType="US")])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Seq(per_frame)
    return _save(ds, Path(path))
