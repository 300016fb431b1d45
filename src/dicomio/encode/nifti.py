"""NIfTI export of a series: the volume, a JSON sidecar, and .bval/.bvec for DWI.

Writes what neuroimaging tools expect from a DICOM to NIfTI converter, laid
out as dcm2niix lays it out, so files from either tool compare voxel for voxel:

* the array is ``(x, y, z[, t])``: columns, rows bottom-up (the DICOM rows
  reversed), slices in :class:`dicomio.series.Geometry` order, volumes;
* qform and sform hold the same RAS affine (code 1, scanner), from the
  series geometry (:func:`dicomio.series.fourd.nifti_affine`); a sheared
  (tilted) stack keeps its shear in the sform, the qform holds the nearest
  rigid one, as NIfTI requires;
* stored values are kept; one RescaleSlope/Intercept shared by every slice
  goes to ``scl_slope``/``scl_inter``, per-slice ones are applied (float32);
* units mm and seconds; the 4th zoom is RepetitionTime (s) for a time series;
* ``NAME.json``: main acquisition parameters under BIDS names (times in s);
* ``NAME.bval`` / ``NAME.bvec``: b-values and gradients in the voxel frame
  (FSL convention, as dcm2niix writes them), for diffusion series.

nibabel does the writing (``pip install "dicomio[mr]"``); it is imported
when a file is written, never at ``import dicomio``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomioError
from ..series import fourd as _fourd

__all__ = ["write_nifti", "nifti_image", "sidecar", "nifti_stem"]

_TEXT = ("Modality", "Manufacturer", "ManufacturersModelName", "InstitutionName",
         "SeriesDescription", "ProtocolName", "SequenceName", "ScanningSequence",
         "SequenceVariant", "ScanOptions", "BodyPartExamined", "PatientPosition",
         "InPlanePhaseEncodingDirection", "MRAcquisitionType", "SoftwareVersions",
         "StationName")
_NUMBERS = ("MagneticFieldStrength", "SliceThickness", "SpacingBetweenSlices",
            "FlipAngle", "SAR", "PixelBandwidth", "EchoTrainLength",
            "PercentPhaseFieldOfView", "ImagingFrequency")
_SECONDS = ("EchoTime", "RepetitionTime", "InversionTime")


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:
        raise DicomioError('writing NIfTI needs nibabel: pip install "dicomio[mr]"'
                           ) from exc
    return nibabel


def nifti_stem(path: str | os.PathLike[str]) -> Path:
    """``out.nii.gz`` -> ``out`` (the name the sidecar files share)."""
    p = Path(path)
    name = p.name
    for ext in (".nii.gz", ".nii"):
        if name.lower().endswith(ext):
            return p.with_name(name[:-len(ext)])
    return p.with_name(p.stem)


def _number(value: Any) -> float | int | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(f):
        return None
    return int(f) if f.is_integer() else f


def sidecar(series: Any) -> dict[str, Any]:
    """The JSON sidecar of ``series``: main acquisition parameters, BIDS names."""
    from .. import __version__

    ds = series.headers[0]
    out: dict[str, Any] = {}
    for key in _TEXT:
        value = ds.get(key)
        if value not in (None, ""):
            out[key] = str(value).strip()
    for key in _NUMBERS:
        value = _number(ds.get(key))
        if value is not None:
            out[key] = value
    for key in _SECONDS:
        value = _number(ds.get(key))
        if value is not None:
            out[key] = round(float(value) / 1000.0, 6)
    image_type = ds.get("ImageType")
    if image_type:
        out["ImageType"] = [str(v) for v in
                            ([image_type] if isinstance(image_type, str) else image_type)]
    for key in ("SeriesNumber", "AcquisitionNumber", "EchoNumbers"):
        value = _number(ds.get(key))
        if value is not None:
            out["EchoNumber" if key == "EchoNumbers" else key] = value
    layout = series.layout
    if layout is not None and layout.mosaic is not None and layout.mosaic.slice_times:
        out["SliceTiming"] = [round(t / 1000.0, 6) for t in layout.mosaic.slice_times]
    if layout is not None and layout.n_volumes > 1:
        out["VolumeAxis"] = list(layout.axis)
        echo = [v.get("EchoTime", v.get("EffectiveEchoTime")) for v in layout.values]
        if all(isinstance(e, (int, float)) for e in echo):
            out["EchoTimes"] = [round(float(e) / 1000.0, 6) for e in echo]
    out["ConversionSoftware"] = "dicomio"
    out["ConversionSoftwareVersion"] = __version__
    return out


def _data(series: Any, rescale: bool, on_error: str = "raise"
          ) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The array to store and the (slope, intercept) for the header, if any."""
    params = {p for p in series.rescale_params if p is not None}
    if not rescale or not params or params == {(1.0, 0.0)}:
        return series.read(on_error=on_error), None
    if len(params) == 1:
        return series.read(on_error=on_error), next(iter(params))
    return series.read(rescale=True, on_error=on_error).astype(
        np.float32, copy=False), None


def _check_on_error(on_error: str) -> str:
    from .repair import check_write_on_error

    return check_write_on_error(on_error, "NIfTI export", "every slice",
                                "a missing slice would shift every slice after it "
                                "in the affine")


def nifti_image(series: Any, *, rescale: bool = True, on_error: str = "raise") -> Any:
    """A ``nibabel.Nifti1Image`` of ``series`` (decodes every slice).

    ``on_error`` is :meth:`Series.read <dicomio.series.Series.read>`'s
    (``"skip"`` refused); slices written repaired are in
    ``series.failed_slices`` and counted in the header's ``descrip``.
    """
    nib = _nibabel()
    arr, scaling = _data(series, rescale, _check_on_error(on_error))
    if arr.ndim not in (3, 4) or (series.layout is None and arr.ndim == 4):
        raise DicomioError(f"{series.label}: NIfTI export needs grey volumes, this "
                           f"series reads as {arr.shape}")
    # (t, z, y, x) -> (x, y, z, t), rows bottom-up. The C-ordered array with
    # its rows reversed, transposed, is Fortran-ordered (x fastest), which is
    # NIfTI's order on disk: nibabel writes it without another copy.
    data = np.ascontiguousarray(arr[..., ::-1, :]).T
    n_rows = arr.shape[-2]
    affine = _fourd.nifti_affine(series.geometry, n_rows)
    img = nib.Nifti1Image(data, affine)
    hdr = img.header
    hdr.set_qform(affine, code=1)
    hdr.set_sform(affine, code=1)
    hdr.set_xyzt_units("mm", "sec")
    if arr.ndim == 4:
        tr = _number(series.headers[0].get("RepetitionTime"))
        zooms = list(hdr.get_zooms()[:3]) + [float(tr) / 1000.0 if tr else 1.0]
        hdr.set_zooms(zooms)
    if scaling is not None:
        hdr.set_slope_inter(*scaling)
    failed = getattr(series, "failed_slices", None)
    if failed:
        hdr["descrip"] = (f"dicomio on_error={on_error}: {len(failed)} of "
                          f"{len(series.slices)} slices repaired")[:79]
    return img


def write_nifti(series: Any, path: str | os.PathLike[str], *, rescale: bool = True,
                json_sidecar: bool = True, on_error: str = "raise") -> list[Path]:
    """Write ``series`` as NIfTI (``.nii`` or ``.nii.gz``) with its sidecar files.

    Parameters
    ----------
    series : dicomio.series.Series
        A 3-D or 4-D grey series (scan with ``four_d=True`` to join volumes).
    path : path
        ``NAME.nii`` or ``NAME.nii.gz``; ``NAME.json``, and for diffusion
        series ``NAME.bval`` and ``NAME.bvec``, are written beside it.
    rescale : bool
        Keep the modality LUT: one shared slope/intercept goes to the header,
        differing ones are applied to float32 voxels. False stores raw values.
    json_sidecar : bool
        Write ``NAME.json``.
    on_error : {"raise", "recover", "fill"}
        A slice that fails to decode: raise and write nothing (default), or
        write it as 0 (``"fill"``) or keep what a truncated one holds
        (``"recover"``), with the series' :class:`~dicomio.DicomioWarning`;
        the sidecar then lists the slices under ``DicomioFailedSlices`` and
        the header's ``descrip`` counts them. ``"skip"`` is refused
        (``ValueError``): the affine assumes every slice.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    nib = _nibabel()
    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise DicomioError(f"{path}: a NIfTI file name ends with .nii or .nii.gz")
    img = nifti_image(series, rescale=rescale, on_error=on_error)
    stem = nifti_stem(path)
    nib.save(img, str(path))
    written = [path]
    if json_sidecar:
        meta = sidecar(series)
        if getattr(series, "failed_slices", None):
            from ..image.tolerance import failed_dict

            meta["DicomioOnError"] = on_error
            meta["DicomioFailedSlices"] = failed_dict(series.failed_slices)
        stem.with_name(stem.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
        written.append(stem.with_name(stem.name + ".json"))
    dwi = series.diffusion
    if dwi is not None:
        bval = stem.with_name(stem.name + ".bval")
        bval.write_text(" ".join(_fmt(b) for b in dwi["bvals"]) + "\n")
        bvec = stem.with_name(stem.name + ".bvec")
        rows = np.asarray(dwi["bvecs_voxel"], dtype=float).T
        bvec.write_text("".join(" ".join(_fmt(v) for v in row) + "\n" for row in rows))
        written += [bval, bvec]
    return written


def _fmt(value: float) -> str:
    v = float(value)
    if v.is_integer():
        return str(int(v))
    return f"{v:.6g}"
