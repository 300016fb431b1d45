"""Complete DICOM datasets around encoded frames: :func:`make_dataset`.

Secondary Capture SOP Classes, UIDs (fresh or derived from a seed), the
Image Pixel, Multi-frame, VOI LUT and Modality LUT attributes, encapsulation
with offset tables, and the File Meta Information.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import UID, generate_uid

from ..tsyntax import TransferSyntax
from .codecs import _encode_all, _native_bytes
from .plan import _MONO, ENCODER_OPTIONS, _check_range, _fail, _lookup, _Plan, _plan

__all__ = ["make_dataset", "uid_from"]

# Secondary Capture SOP Classes (PS3.4 B.5).
_SC = "1.2.840.10008.5.1.4.1.1.7"
_SC_MF_BIT = "1.2.840.10008.5.1.4.1.1.7.1"
_SC_MF_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"
_SC_MF_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
_SC_MF_COLOR = "1.2.840.10008.5.1.4.1.1.7.4"

#: Implementation Class UID written in the File Meta Information.
#: (``uid_from("implementation")``, a name-based UUID UID).
IMPLEMENTATION_CLASS_UID = "2.25.279804929913142677400103935210234737883"
IMPLEMENTATION_VERSION_NAME = "DICOMIO"

_METHODS = {
    "jpeg": "ISO_10918_1",
    "jpegls": "ISO_14495_1",
    "jpeg2k": "ISO_15444_1",
    "htj2k": "ISO_15444_15",
    "jpegxl": "ISO_18181_1",
}


def _split_frames(
    ts: TransferSyntax,
    arr: np.ndarray,
    multiframe: bool | None,
    photometric: str | None,
) -> tuple[np.ndarray, bool]:
    """Return ``(n, rows, cols[, s])`` frames and whether the file is multi-frame."""
    colour_pi = photometric is not None and str(photometric).upper() not in _MONO
    if multiframe is None:
        if arr.ndim == 2:
            multiframe = False
        elif arr.ndim == 4:
            multiframe = True
        elif arr.ndim == 3:
            if photometric is not None:
                multiframe = not colour_pi
            else:
                multiframe = arr.shape[2] != 3
        else:
            raise _fail(ts, f"cannot interpret an array of shape {arr.shape}")
    if multiframe:
        if arr.ndim not in (3, 4):
            raise _fail(ts, f"multi-frame data must be (n, rows, cols[, samples]), "
                            f"got {arr.shape}")
        stack = arr
    else:
        if arr.ndim not in (2, 3):
            raise _fail(ts, f"a single frame must be (rows, cols[, samples]), "
                            f"got {arr.shape}")
        stack = arr[np.newaxis]
    if stack.ndim == 4 and stack.shape[3] == 1:
        stack = stack[..., 0]
    if stack.shape[0] < 1:
        raise _fail(ts, "no frames to encode")
    return stack, bool(multiframe)


def _coerce_sign(
    ts: TransferSyntax, arr: np.ndarray, signed: bool | None
) -> np.ndarray:
    if signed is None or arr.dtype == np.bool_:
        return arr
    kind = "i" if signed else "u"
    if arr.dtype.kind == kind:
        return arr
    target = np.dtype(f"{kind}{arr.dtype.itemsize}")
    info = np.iinfo(target)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        raise _fail(ts, f"signed={signed}: values {arr.min()}..{arr.max()} do not fit "
                        f"{target}")
    return arr.astype(target)


def _sop_class(plan: _Plan, multiframe: bool) -> str:
    if not multiframe:
        return _SC
    if plan.samples == 3:
        return _SC_MF_COLOR
    return {1: _SC_MF_BIT, 8: _SC_MF_BYTE, 16: _SC_MF_WORD}.get(
        plan.bits_allocated, _SC)


def _ds_values(values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return [values]
    return list(values)


def _num(value: float) -> float | int:
    f = float(value)
    return int(f) if f.is_integer() else f


def uid_from(*names: str) -> str:
    """Return a deterministic ``2.25.`` UID (name-based UUID) for ``names``.

    ``pydicom.uid.generate_uid(prefix=None, ...)`` ignores its entropy
    sources and returns a random UUID, hence this helper.
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'dicomio:' + '/'.join(names)).int}"


def _uid(seed: str | None, role: str) -> str:
    if seed is None:
        return generate_uid()
    return uid_from(seed, role)


def make_dataset(
    frames: np.ndarray, transfer_syntax: str | TransferSyntax = "ExplicitVRLittleEndian",
    *, photometric: str | None = None, multiframe: bool | None = None,
    bits_stored: int | None = None, planar_configuration: int = 0,
    signed: bool | None = None, sop_class_uid: str | None = None,
    pixel_spacing: Sequence[float] | None = None, image_position: Sequence[float] | None = None,
    image_orientation: Sequence[float] | None = None,
    rescale: Sequence[Any] | None = None, window: Sequence[Any] | None = None,
    extended_offset_table: bool = False, basic_offset_table: bool = True,
    fragments_per_frame: int = 1, level: float | int | None = None,
    lossless: bool | None = None, encoder_options: Mapping[str, Any] | None = None,
    patient_name: str = "Dicomio^Synthetic", patient_id: str = "DICOMIO",
    study_instance_uid: str | None = None, series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None, uid_seed: str | None = None,
    study_date: str | datetime.date | None = None, study_time: str | None = None,
    study_description: str | None = None, modality: str = "OT",
    series_number: int = 1, series_description: str | None = None,
    instance_number: int = 1, **attrs: Any,
) -> Dataset:
    """Build a complete DICOM dataset holding ``frames``.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(rows, cols)`` grey or ``(rows, cols, 3)`` colour for one frame,
        ``(n, rows, cols[, 3])`` for multi-frame; dtype bool (1 bit, packed),
        (u)int8, (u)int16 or (u)int32. Signed dtypes give Pixel Representation 1.
    transfer_syntax : str
        UID or keyword (:data:`ENCODABLE`).
    photometric : str, optional
        Default ``MONOCHROME2``, or :func:`default_photometric` for colour.
    multiframe : bool, optional
        Force (or forbid) a multi-frame object (with Number of Frames). By
        default a 2D array is one frame, a 4D one multi-frame, and a 3D one a
        colour frame when its last axis is 3 (or ``photometric`` is colour).
    bits_stored : int, optional
        Default Bits Allocated; values must fit. Codecs that cannot write this
        precision change it: 12 for JPEG extended 16-bit data, the container
        precision (8/16/32) for lossy HTJ2K.
    planar_configuration : int
        1 (colour-by-plane) for uncompressed, deflated and RLE data only.
    signed : bool, optional
        Cast to a signed (or unsigned) dtype of the same size first.
    sop_class_uid : str, optional
        Default: Secondary Capture, or the matching Multi-frame Secondary
        Capture class (single bit, grayscale byte or word, true colour).
    pixel_spacing, image_position, image_orientation : sequence of float
        Pixel Spacing (row, column; mm) and Image Position / Orientation (Patient).
    rescale, window : sequence
        ``(slope, intercept[, type])`` and ``(center, width)``.
    extended_offset_table, basic_offset_table, fragments_per_frame
        Encapsulation: an Extended Offset Table (one fragment per frame), a
        Basic Offset Table, and the fragments each frame is split into.
    level, lossless, encoder_options
        Codec settings for :func:`encode_frame`; the names in
        :data:`ENCODER_OPTIONS` are also accepted as keyword arguments.
    patient_name, patient_id, study_date, study_time, study_description, \
modality, series_number, series_description, instance_number
        Patient, study, series and instance attributes (date and time default
        to now, and also give Content Date and Time).
    study_instance_uid, series_instance_uid, sop_instance_uid, uid_seed : str
        UIDs: fresh ones by default, or derived from ``uid_seed`` (``2.25.``
        UIDs) for deterministic output.
    **attrs
        Any other DICOM keyword, set last, so it overrides the defaults.

    Returns
    -------
    pydicom.dataset.Dataset
        With File Meta and Pixel Data; lossy coding adds Lossy Image
        Compression, its Ratio and Method. :class:`~dicomio.errors.EncodeError`
        when this Transfer Syntax cannot hold the data or a keyword is unknown.
    """
    ts = _lookup(transfer_syntax)
    stack, multiframe = _split_frames(ts, _as_array(frames), multiframe, photometric)
    stack = _coerce_sign(ts, stack, signed)
    options = _encoder_options(ts, attrs, encoder_options, bits_stored, lossless,
                               planar_configuration)
    plan = _plan(ts, stack.shape[1:], stack.dtype, photometric=photometric,
                 level=level, **options)
    _check_range(plan, stack)
    pixels = _pixel_data(plan, stack, fragments_per_frame, extended_offset_table,
                         basic_offset_table)
    ds = Dataset()
    ds.SOPClassUID = sop_class_uid or _sop_class(plan, multiframe)
    ds.SOPInstanceUID = sop_instance_uid or _uid(uid_seed, "sop")
    _set_study(ds, study_date, study_time, modality, study_description,
               series_description, patient_name, patient_id)
    _set_identity(ds, uid_seed, study_instance_uid, series_instance_uid,
                  series_number, instance_number, image_position, image_orientation)
    _set_image_pixel(ds, plan, multiframe, stack.shape[0], pixels.encoded_size,
                     pixel_spacing)
    _set_values(ds, window, rescale)
    for key, value in attrs.items():
        setattr(ds, key, value)
    _set_pixel_data(ds, plan, pixels, attrs)
    ds.file_meta = _file_meta(ds, ts)
    return ds




def _as_array(frames: Any) -> np.ndarray:
    """``frames`` as one array (a list of frames is stacked)."""
    arr = np.asarray(frames)
    if arr.dtype == object:
        arr = np.stack([np.asarray(f) for f in frames])
    return arr

def _set_identity(ds: Dataset, uid_seed: str | None, study_uid: str | None,
                  series_uid: str | None, series_number: int, instance_number: int,
                  position: Sequence[float] | None,
                  orientation: Sequence[float] | None) -> None:
    """Study and series UIDs and numbers, the instance number and the plane."""
    ds.StudyInstanceUID = study_uid or _uid(uid_seed, "study")
    ds.SeriesInstanceUID = series_uid or _uid(uid_seed, "series")
    ds.StudyID = ""
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    if position is not None:
        ds.ImagePositionPatient = [_num(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [_num(v) for v in orientation]
    ds.BurnedInAnnotation = "NO"

def _encoder_options(
    ts: TransferSyntax,
    attrs: dict[str, Any],
    encoder_options: Mapping[str, Any] | None,
    bits_stored: int | None,
    lossless: bool | None,
    planar_configuration: int,
) -> dict[str, Any]:
    """Gather the codec options; move those given as keywords out of ``attrs``."""
    options: dict[str, Any] = dict(encoder_options or {})
    for name in list(attrs):
        if name in ENCODER_OPTIONS:
            options[name] = attrs.pop(name)
    unknown = [k for k in attrs if tag_for_keyword(k) is None]
    if unknown:
        raise _fail(ts, f"unknown DICOM keyword(s) {unknown}; encoder options are "
                        f"{', '.join(ENCODER_OPTIONS)}")
    if bits_stored is not None:
        options["bits_stored"] = bits_stored
    if lossless is not None:
        options["lossless"] = lossless
    options.setdefault("planar_configuration", planar_configuration)
    return options


@dataclass
class _Pixels:
    """The Pixel Data value and what the header says about it."""

    value: bytes
    vr: str
    encoded_size: int  # bytes before even-length padding (for the ratio)
    eot: bytes | None = None
    eot_lengths: bytes | None = None


def _pixel_data(
    plan: _Plan,
    stack: np.ndarray,
    fragments_per_frame: int,
    extended_offset_table: bool,
    basic_offset_table: bool,
) -> _Pixels:
    """Encode every frame: native bytes, or encapsulated fragments."""
    ts = plan.ts
    if not ts.encapsulated:
        if plan.bits_allocated == 1:
            bits = np.ascontiguousarray(stack, dtype=bool).ravel()
            pixel_data = np.packbits(bits, bitorder="little").tobytes()
        else:
            pixel_data = b"".join(
                _native_bytes(plan, f, big_endian=ts.is_big_endian) for f in stack)
        if len(pixel_data) % 2:
            pixel_data += b"\x00"
        vr = "OB" if plan.bits_allocated <= 8 else "OW"
        return _Pixels(pixel_data, vr, len(pixel_data))
    encoded = _encode_all(plan, stack)
    encoded_size = sum(len(e) for e in encoded)
    encoded = [e + b"\x00" if len(e) % 2 else e for e in encoded]
    fragments_per_frame = int(fragments_per_frame)
    if fragments_per_frame < 1:
        raise _fail(ts, "fragments_per_frame must be >= 1")
    if fragments_per_frame != 1 and (
        extended_offset_table or ts.family == "deflate"
        or ts.keyword == "EncapsulatedUncompressedExplicitVRLittleEndian"
    ):
        raise _fail(ts, "this encapsulation needs exactly one fragment per frame")
    if extended_offset_table:
        pixel_data, eot, eot_lengths = encapsulate_extended(encoded)
        return _Pixels(pixel_data, "OB", encoded_size, eot, eot_lengths)
    pixel_data = encapsulate(encoded, fragments_per_frame=fragments_per_frame,
                             has_bot=basic_offset_table)
    return _Pixels(pixel_data, "OB", encoded_size)


def _set_study(
    ds: Dataset,
    study_date: str | datetime.date | None,
    study_time: str | None,
    modality: str,
    study_description: str | None,
    series_description: str | None,
    patient_name: str,
    patient_id: str,
) -> None:
    """Dates and times (default now), patient, study and series attributes."""
    now = datetime.datetime.now()
    if study_date is None:
        study_date = now.strftime("%Y%m%d")
    elif isinstance(study_date, datetime.date):
        study_date = study_date.strftime("%Y%m%d")
    if study_time is None:
        study_time = now.strftime("%H%M%S")
    ds.StudyDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.ContentTime = study_time
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    if study_description is not None:
        ds.StudyDescription = study_description
    if series_description is not None:
        ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""


def _set_image_pixel(
    ds: Dataset,
    plan: _Plan,
    multiframe: bool,
    nframes: int,
    encoded_size: int,
    pixel_spacing: Sequence[float] | None,
) -> None:
    """Lossy compression, Image Pixel and Multi-frame attributes."""
    ts = plan.ts
    if plan.lossy:
        ratio = nframes * plan.frame_nbytes / max(encoded_size, 1)
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = round(ratio, 2)
        ds.LossyImageCompressionMethod = _METHODS[
            "jpeg" if ts.keyword == "JPEGXLJPEGRecompression" else ts.family]
    ds.SamplesPerPixel = plan.samples
    ds.PhotometricInterpretation = plan.photometric
    if plan.samples > 1:
        ds.PlanarConfiguration = plan.options["planar_configuration"]
    if multiframe:
        ds.NumberOfFrames = nframes
        ds.FrameIncrementPointer = 0x00182002  # Frame Label Vector
        ds.FrameLabelVector = [f"frame {i + 1}" for i in range(nframes)]
    ds.Rows = plan.rows
    ds.Columns = plan.cols
    if pixel_spacing is not None:
        ds.PixelSpacing = [_num(v) for v in pixel_spacing]
    ds.BitsAllocated = plan.bits_allocated
    ds.BitsStored = plan.bits_stored
    ds.HighBit = plan.bits_stored - 1
    ds.PixelRepresentation = int(plan.signed)


def _set_values(
    ds: Dataset, window: Sequence[Any] | None, rescale: Sequence[Any] | None
) -> None:
    """VOI LUT window and Modality LUT rescale."""
    if window is not None:
        center, width = window
        ds.WindowCenter = [_num(v) for v in _ds_values(center)]
        ds.WindowWidth = [_num(v) for v in _ds_values(width)]
    if rescale is not None:
        ds.RescaleIntercept = _num(rescale[1])
        ds.RescaleSlope = _num(rescale[0])
        if len(rescale) > 2:
            ds.RescaleType = rescale[2]


def _set_pixel_data(
    ds: Dataset, plan: _Plan, pixels: _Pixels, attrs: dict[str, Any]
) -> None:
    """Pixel Data (and the Extended Offset Table), after the caller's ``attrs``."""
    if pixels.eot is not None:
        ds.ExtendedOffsetTable = pixels.eot
        ds.ExtendedOffsetTableLengths = pixels.eot_lengths
    ds.PixelData = pixels.value
    elem = ds["PixelData"]
    elem.VR = pixels.vr
    if plan.ts.encapsulated:
        elem.is_undefined_length = True
    # Ambiguous VRs (US or SS) follow Pixel Representation.
    for key in attrs:
        if dictionary_VR(key) in ("US or SS", "US or OW", "US or SS or OW"):
            ds[key].VR = "SS" if plan.signed else "US"


def _file_meta(ds: Dataset, ts: TransferSyntax) -> FileMetaDataset:
    """File Meta Information for ``ds`` written with ``ts``."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ts.uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta
