"""Write an uncompressed copy of a DICOM file whose header matches its pixels."""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from ..errors import DicomioError
from ..image import DicomImage
from .files import save_dataset
from .repair import Repair, check_write_on_error, found, mark_repaired

__all__ = ["decompress", "decompress_file", "write_atomic"]

_LOSSY_METHOD = {
    "jpeg": "ISO_10918_1",
    "jpegls": "ISO_14495_1",
    "jpeg2k": "ISO_15444_1",
    "htj2k": "ISO_15444_15",
    "jpegxl": "ISO_18181_1",
}


def decompress(src: Any, dst: str | os.PathLike[str], *, color: str = "rgb",
               backend: str | None = None, threads: int | None = None,
               on_error: str = "raise") -> Dataset:
    """Write ``src`` as Explicit VR Little Endian to ``dst``.

    The written Photometric Interpretation, Planar Configuration, Bits
    Allocated and Number of Frames describe exactly the pixels written: colour
    data decoded to RGB is labelled RGB, colour-by-pixel. The source file is
    never modified and ``dst`` appears atomically (written to a temporary file
    in the same folder, then renamed), so a crash leaves no half-written file.

    Parameters
    ----------
    src : path, bytes, file object or pydicom.Dataset
        The DICOM file to decompress.
    dst : path
        Where to write. Must not be the source file.
    color : {"rgb", "native"}
        ``"native"`` keeps YCbCr samples (then labelled YBR_FULL).
    backend, threads
        As for :class:`dicomio.DicomImage`.
    on_error : {"raise", "recover", "fill"}
        A frame that fails: raise and write nothing (default), or write it
        as 0 (``"fill"``), or keep what a truncated frame holds
        (``"recover"``). Such a copy is marked as repaired (new SOP Instance
        UID, Derivation Description, Source Image Sequence; see
        :mod:`dicomio.encode.repair`) and one :class:`~dicomio.DicomioWarning`
        names the frames. ``"skip"`` is refused (``ValueError``): the copy
        keeps every frame its header describes.

    Returns
    -------
    pydicom.Dataset
        The dataset that was written (pixel data included).
    """
    ds, repair = decompress_file(src, dst, color=color, backend=backend,
                                 threads=threads, on_error=on_error)
    if repair is not None:
        repair.warn(os.fspath(dst))
    return ds


def decompress_file(src: Any, dst: str | os.PathLike[str], *, color: str = "rgb",
                    backend: str | None = None, threads: int | None = None,
                    on_error: str = "raise") -> tuple[Dataset, Repair | None]:
    """:func:`decompress` without its warning: the dataset written and the
    frames repaired (None when every frame decoded)."""
    dst = os.fspath(dst)
    check_write_on_error(on_error, "decompress")
    if isinstance(src, (str, os.PathLike)) and os.path.exists(dst):
        if os.path.samefile(os.fspath(src), dst):
            raise DicomioError("decompress will not overwrite its source; "
                               "choose another output path", path=os.fspath(src))
    with DicomImage(src, color=color, backend=backend, threads=threads) as img:
        img._quiet_failures = True  # one warning per file, from decompress
        frames = img.read(..., on_error=on_error)
        repair = found(img, on_error)
        ds = _uncompressed_dataset(img, frames, repair)
    write_atomic(ds, dst)
    return ds, repair


def _uncompressed_dataset(img: DicomImage, frames: np.ndarray,
                          repair: Repair | None = None) -> Dataset:
    spec = img.spec
    ds = copy.deepcopy(img.dataset)
    for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData",
               "ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if kw in ds:
            del ds[kw]
    meta = FileMetaDataset(ds.file_meta) if getattr(ds, "file_meta", None) else FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if repair is not None:
        mark_repaired(ds, repair)
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "MediaStorageSOPClassUID" not in meta and "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "MediaStorageSOPInstanceUID" not in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = meta

    report = img.photometric
    output = report["output"]
    if spec.samples_per_pixel > 1:
        ds.PhotometricInterpretation = output
        ds.PlanarConfiguration = 0
    elif output != spec.photometric:
        ds.PhotometricInterpretation = output
    if spec.number_of_frames > 1 or "NumberOfFrames" in ds:
        ds.NumberOfFrames = frames.shape[0]
    ts = img.transfer_syntax
    if ts.lossy and ts.family in _LOSSY_METHOD:
        # A lossy history must survive decompression (PS3.3 C.7.6.1.1.5).
        if ds.get("LossyImageCompression", "") != "01":
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = _LOSSY_METHOD[ts.family]

    if spec.bits_allocated == 1:
        data = np.packbits(frames.reshape(-1), bitorder="little").tobytes()
        vr = "OB"
    else:
        data = np.ascontiguousarray(frames, frames.dtype.newbyteorder("<")).tobytes()
        vr = "OB" if spec.bits_allocated <= 8 else "OW"
    if len(data) % 2:
        data += b"\x00"
    keyword = img._loc.keyword if hasattr(img, "_loc") else "PixelData"
    if keyword == "PixelData":
        ds.PixelData = data
        ds["PixelData"].VR = vr
    else:
        setattr(ds, keyword, data)
    return ds


def write_atomic(ds: Dataset, dst: str) -> None:
    """Save ``ds`` to ``dst`` through a temporary file and an atomic rename."""
    save_dataset(ds, dst)
