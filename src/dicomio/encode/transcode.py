"""Re-encode one DICOM file in another Transfer Syntax, header kept.

:func:`transcode` decodes every frame (stored values, colour as stored where
the target can label it), encodes them with ``codecs.py``, keeps every element
outside the pixel description, regenerates the File Meta Information and,
for a lossless target, decodes the result back and compares it bit for bit
with the source before the output is moved into place (``atomic.py``).
"""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import UID, generate_uid

from ..errors import DicomioError
from ..image import DicomImage
from ..tsyntax import TransferSyntax
from .atomic import atomic_write
from .codecs import _encode_all, _native_bytes
from .dataset import _METHODS, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from .files import dataset_bytes
from .plan import (
    DECODE_ONLY,
    ENCODABLE,
    _check_range,
    _fail,
    _lookup,
    _lossy_level,
    _Plan,
    _plan,
    default_photometric,
)
from .repair import Repair, check_write_on_error, found, mark_repaired

__all__ = ["transcode", "transcode_file"]

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData",
                   "ExtendedOffsetTable", "ExtendedOffsetTableLengths")
# Codecs that take RGB input and apply the colour transform themselves.
_RGB_INPUT = ("YBR_FULL_422", "YBR_RCT", "YBR_ICT")
_BOT_LIMIT = 0xFFFFFFFF


def transcode(
    src: Any,
    dst: str | os.PathLike[str],
    transfer_syntax: str | TransferSyntax = "HTJ2KLossless",
    *,
    level: float | int | None = None,
    lossless: bool | None = None,
    verify: bool = True,
    backend: str | None = None,
    threads: int | None = None,
    jobs: int | None = None,
    on_error: str = "raise",
    **encoder_options: Any,
) -> Dataset | list[dict[str, Any]]:
    """Write ``src`` re-encoded with ``transfer_syntax`` to ``dst``.

    Every element outside the pixel description is kept; Samples per Pixel,
    Photometric Interpretation, Planar Configuration, Bits Allocated / Stored,
    High Bit, Pixel Representation and Number of Frames describe the
    codestream written, Bits Stored stays the file's own wherever the codec
    can code that precision, and the File Meta Information is regenerated.
    Multi-frame data is one fragment per frame with a Basic Offset Table, or
    with an Extended Offset Table when the offsets do not fit 32 bits.

    A lossless target keeps the SOP Instance UID and is decoded back and
    compared bit for bit with the source frames before ``dst`` appears. A
    lossy one gets a new SOP Instance UID, Lossy Image Compression ``01``
    and one more value in Lossy Image Compression Method / Ratio and in
    Derivation Description. The source is only read; ``dst`` appears
    atomically or not at all.

    A folder is transcoded file by file into the same layout under ``dst``
    (:func:`dicomio.encode.folder.transcode_folder`): DICOM objects without
    pixel data (DICOMDIR, SR, presentation states, ...) are copied unchanged,
    DICOMDIR records are updated to the files they now name, and a file that
    fails is reported and the others go on.

    Parameters
    ----------
    src : path, bytes, file object or pydicom.Dataset
        The DICOM file to transcode, or a folder.
    dst : path
        Where to write; must not be the source file. For a folder: the output
        folder.
    transfer_syntax : str
        UID or keyword, one of :data:`dicomio.encode.ENCODABLE`.
    level, lossless, **encoder_options
        As for :func:`dicomio.encode.encode_frame` (``level`` meaning per codec
        family in :mod:`dicomio.encode`).
    verify : bool
        Decode a lossless output back and compare (default True).
    backend, threads
        As for :class:`dicomio.DicomImage` (decoding the source); ``threads``
        also bounds the threads that encode the frames (default: one per
        core; a lone JPEG 2000 frame uses OpenJPEG's own threads).
    jobs : int, optional
        For a folder: files transcoded at once (default: one per core).
    on_error : {"raise", "recover", "fill"}
        A frame that fails to decode: raise and write nothing (default), or
        write it as 0 (``"fill"``) or keep what a truncated frame holds
        (``"recover"``), in a copy marked as repaired (new SOP Instance UID,
        Derivation Description, Source Image Sequence), with one
        :class:`~dicomio.DicomioWarning` (:mod:`dicomio.encode.repair`).
        ``"skip"`` is refused (``ValueError``): every frame is written.

    Returns
    -------
    pydicom.Dataset or list of dict
        The dataset written (pixel data included). For a folder, one report
        per DICOM file: ``{"source", "dest", "ok", "action", "error",
        "note", "failed_frames"}`` with ``action`` ``"transcoded"``,
        ``"copied"`` or ``"failed"``; ``failed_frames`` lists the repaired
        frames (``{"3": {"action", "error", "missing_rows",
        "missing_bytes"}}``, empty when every frame decoded) and ``note``
        sums them up.

    Raises
    ------
    dicomio.errors.EncodeError
        When the data cannot be written with this Transfer Syntax (signed data
        to JPEG XL, 16-bit data to JPEG baseline, ...), naming the file and why.
    dicomio.errors.DicomioError
        When the source cannot be decoded, or the lossless check fails.
    """
    ts = _lookup(transfer_syntax)
    check_write_on_error(on_error, "transcode")
    dst = os.fspath(dst)
    if isinstance(src, (str, os.PathLike)) and os.path.isdir(src):
        from .folder import transcode_folder

        return transcode_folder(src, dst, ts.keyword, jobs=jobs, level=level,
                                lossless=lossless, verify=verify, backend=backend,
                                threads=threads, on_error=on_error,
                                **encoder_options)
    ds, repair = transcode_file(src, dst, ts, level=level, lossless=lossless,
                                verify=verify, backend=backend, threads=threads,
                                on_error=on_error, **encoder_options)
    if repair is not None:
        repair.warn(dst)
    return ds


def transcode_file(src: Any, dst: str | os.PathLike[str],
                   transfer_syntax: str | TransferSyntax, *, level: Any = None,
                   lossless: bool | None = None, verify: bool = True,
                   backend: str | None = None, threads: int | None = None,
                   on_error: str = "raise", **encoder_options: Any
                   ) -> tuple[Dataset, Repair | None]:
    """:func:`transcode` of one file, without its warning: the dataset
    written and the frames repaired (None when every frame decoded)."""
    ts = _lookup(transfer_syntax)
    check_write_on_error(on_error, "transcode")
    dst = os.fspath(dst)
    name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else None
    if name is not None and os.path.exists(dst) and os.path.samefile(name, dst):
        raise DicomioError("transcode will not overwrite its source; choose "
                           "another output path", path=name)
    try:
        ds, stack, color, lossy, repair = _transcoded(
            src, ts, level, lossless, backend, threads, dict(encoder_options),
            on_error)
        data = dataset_bytes(ds)
        if verify:
            _verify(data, stack, color, ts, lossy)
    except DicomioError as exc:
        if exc.path is None and name is not None:
            exc.path = name
            exc.args = (exc._format(),)  # the message names the file
        raise
    atomic_write(dst, lambda fh: fh.write(data), suffix=".tmp")
    return ds, repair


def _read_all(img: DicomImage, on_error: str) -> tuple[np.ndarray, Repair | None]:
    """Every frame of ``img``, as ``on_error`` says; the repair it needed."""
    img._quiet_failures = True  # one warning per file, from transcode
    stack = img.read(..., on_error=on_error)
    return stack, found(img, on_error)


def _transcoded(src: Any, ts: TransferSyntax, level: Any, lossless: bool | None,
                backend: str | None, threads: int | None,
                options: dict[str, Any], on_error: str = "raise"
                ) -> tuple[Dataset, np.ndarray, str, bool, Repair | None]:
    """Decode ``src`` and build the dataset for ``ts``; also the frames, the
    colour and the frames repaired."""
    if ts.keyword not in ENCODABLE:
        why = DECODE_ONLY.get(ts.keyword, "video is decoded, not written")
        raise _fail(ts, f"dicomio cannot encode this Transfer Syntax: {why}")
    lossy, _ = _lossy_level(ts, level, lossless, dict(options))
    with DicomImage(src, color="native", backend=backend, threads=threads) as img:
        spec = img.spec
        if spec.float_pixels:
            raise _fail(ts, "float pixel data has no compressed Transfer Syntax")
        photometric = spec.photometric if spec.samples_per_pixel == 1 else \
            str(img.photometric["output"])
        color = "native"
        if spec.samples_per_pixel == 3:
            photometric, color = _target_colour(ts, photometric, lossy)
        if color == "native":
            stack, repair = _read_all(img, on_error)
        else:
            with DicomImage(src, color="rgb", backend=backend, threads=threads) as rgb:
                stack, repair = _read_all(rgb, on_error)
        if photometric == "PALETTE COLOR" and lossy:
            raise _fail(ts, "PALETTE COLOR pixels are indices into a table; "
                            "lossy coding would change the colours")
        bits_stored = spec.bits_stored if spec.bits_allocated > 1 else None
        plan = _plan(ts, stack.shape[1:], stack.dtype, photometric=photometric,
                     level=level, bits_stored=bits_stored, lossless=lossless,
                     **options)
        _check_range(plan, stack)
        if bits_stored is not None and plan.bits_stored != bits_stored:
            _note_bits(ts, bits_stored, plan.bits_stored)
        # img.dataset also holds the elements stored after Pixel Data.
        ds = copy.deepcopy(_without_pixels(img.dataset))
        source_ts = img.transfer_syntax
        keyword = getattr(getattr(img, "_loc", None), "keyword", "PixelData")
    value, vr, encoded_size, eot = _pixels(plan, stack, threads)
    _describe_pixels(ds, plan, stack.shape[0])
    if source_ts.lossy and source_ts.family in _METHODS and \
            ds.get("LossyImageCompression", "") != "01":
        # A lossy history survives any later coding (PS3.3 C.7.6.1.1.5).
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = _METHODS[source_ts.family]
    if repair is not None:
        mark_repaired(ds, repair)
    if plan.lossy:
        _mark_lossy(ds, plan, stack.shape[0] * plan.frame_nbytes / max(encoded_size, 1))
    if eot is not None:
        ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = eot
    setattr(ds, keyword, value)
    ds[keyword].VR = vr
    if ts.encapsulated:
        ds[keyword].is_undefined_length = True
    ds.file_meta = _file_meta(ds, ts, getattr(ds, "file_meta", None))
    return ds, stack, color, plan.lossy, repair


def _note_bits(ts: TransferSyntax, old: int, new: int) -> None:
    """Say that Bits Stored changes (lossy JPEG codes 8 or 12 bits only)."""
    from ..image.state import DicomioWarning

    warnings.warn(f"Bits Stored {old} is written as {new}: {ts.keyword} codes "
                  f"{new}-bit samples and the header must match the codestream "
                  "(PS3.5 8.2.1); the pixel values are unchanged",
                  DicomioWarning, stacklevel=4)


def _target_colour(ts: TransferSyntax, photometric: str, lossy: bool) -> tuple[str, str]:
    """The Photometric Interpretation to write and the colour to decode to."""
    default = default_photometric(ts, 3, lossy=lossy)
    if photometric == "RGB":
        return default, "native"
    if default in _RGB_INPUT and lossy:
        # The codec converts RGB itself (lossy JPEG / JPEG 2000 / HTJ2K).
        return default, "rgb"
    if photometric in ts.photometric:
        return photometric, "native"  # e.g. YBR_FULL samples kept as they are
    return default, "rgb"


def _without_pixels(ds: Dataset) -> Dataset:
    """A shallow copy of ``ds`` without Pixel Data (not deep-copied for nothing)."""
    out = Dataset()
    for elem in ds:
        if elem.keyword not in _PIXEL_KEYWORDS:
            out.add(elem)
    if getattr(ds, "file_meta", None) is not None:
        out.file_meta = ds.file_meta
    return out


def _pixels(plan: _Plan, stack: np.ndarray, threads: int | None = None
            ) -> tuple[bytes, str, int, tuple[bytes, bytes] | None]:
    """Pixel Data value, VR, encoded size and the Extended Offset Table if needed."""
    ts = plan.ts
    if not ts.encapsulated:
        if plan.bits_allocated == 1:
            data = np.packbits(np.ascontiguousarray(stack, dtype=bool).ravel(),
                               bitorder="little").tobytes()
        else:
            data = b"".join(_native_bytes(plan, f, big_endian=ts.is_big_endian)
                            for f in stack)
        size = len(data)
        if size % 2:
            data += b"\x00"
        return data, "OB" if plan.bits_allocated <= 8 else "OW", size, None
    frames = _encode_all(plan, stack, threads)
    size = sum(len(f) for f in frames)
    frames = [f + b"\x00" if len(f) % 2 else f for f in frames]
    # Each fragment adds an 8-byte item header; the last offset must fit.
    if sum(len(f) + 8 for f in frames[:-1]) > _BOT_LIMIT:
        value, offsets, lengths = encapsulate_extended(frames)
        return value, "OB", size, (offsets, lengths)
    return encapsulate(frames, has_bot=True), "OB", size, None


def _describe_pixels(ds: Dataset, plan: _Plan, nframes: int) -> None:
    """The Image Pixel attributes of the codestream written."""
    ds.SamplesPerPixel = plan.samples
    ds.PhotometricInterpretation = plan.photometric
    if plan.samples > 1:
        ds.PlanarConfiguration = plan.options.get("planar_configuration", 0)
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.BitsAllocated = plan.bits_allocated
    ds.BitsStored = plan.bits_stored
    ds.HighBit = plan.bits_stored - 1
    ds.PixelRepresentation = int(plan.signed)
    if nframes > 1 or "NumberOfFrames" in ds:
        ds.NumberOfFrames = nframes


def _mark_lossy(ds: Dataset, plan: _Plan, ratio: float) -> None:
    """New SOP Instance UID and the lossy history (PS3.3 C.7.6.1.1.5)."""
    kw = plan.ts.keyword
    method = _METHODS["jpeg" if kw == "JPEGXLJPEGRecompression" else plan.ts.family]
    ds.SOPInstanceUID = generate_uid()
    ds.LossyImageCompression = "01"
    methods = _values(ds.get("LossyImageCompressionMethod"))
    ratios = _values(ds.get("LossyImageCompressionRatio"))
    ds.LossyImageCompressionMethod = [*methods, method] if methods else method
    ds.LossyImageCompressionRatio = [*ratios, round(ratio, 2)] if ratios else \
        round(ratio, 2)
    note = f"Lossy compression with {kw}, ratio {ratio:.2f}:1"
    old = str(ds.get("DerivationDescription", "") or "").strip()
    ds.DerivationDescription = (f"{old}; {note}" if old else note)[:1024]


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _file_meta(ds: Dataset, ts: TransferSyntax, old: FileMetaDataset | None
               ) -> FileMetaDataset:
    """Fresh File Meta Information for ``ds`` written with ``ts``."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    sop_class = ds.get("SOPClassUID") or (old.get("MediaStorageSOPClassUID")
                                          if old is not None else None)
    if not sop_class or "SOPInstanceUID" not in ds:
        raise _fail(ts, "the data set has no SOP Class / Instance UID to put in "
                        "the File Meta Information")
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ts.uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if old is not None and "SourceApplicationEntityTitle" in old:
        meta.SourceApplicationEntityTitle = old.SourceApplicationEntityTitle
    return meta


def _verify(data: bytes, stack: np.ndarray, color: str, ts: TransferSyntax,
            lossy: bool) -> None:
    """Decode the output back: same shape always, same bits when lossless."""
    with DicomImage(data, color=color) as img:
        back = img.read(...)
    if back.shape != stack.shape:
        raise _fail(ts, f"the output decodes to shape {back.shape}, not "
                        f"{stack.shape}; nothing was written")
    if lossy:
        return
    if back.dtype != stack.dtype or not np.array_equal(back, stack):
        bad = int(np.count_nonzero(np.any(
            (back.astype(np.int64) != stack.astype(np.int64)).reshape(
                stack.shape[0], -1), axis=1)))
        raise _fail(ts, f"the lossless output does not decode to the source "
                        f"pixels ({bad} of {stack.shape[0]} frames differ); "
                        "nothing was written")

