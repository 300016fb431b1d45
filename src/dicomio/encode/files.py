"""Write datasets as DICOM files, atomically, in every Transfer Syntax.

pydicom 3.0 cannot write Deflated Image Frame Compression or JPEG XL; their
data sets are Explicit VR Little Endian (PS3.5 A.4), written here directly.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID

from ..tsyntax import TransferSyntax
from .atomic import atomic_write
from .dataset import make_dataset

__all__ = ["write", "dataset_bytes", "save_dataset"]


def write(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    transfer_syntax: str | TransferSyntax = "ExplicitVRLittleEndian",
    **make_dataset_kwargs: Any,
) -> None:
    """Write ``frames`` as a DICOM file, atomically.

    The dataset from :func:`make_dataset` is written to a temporary file in
    the destination directory, which then replaces ``path`` (``os.replace``),
    so readers never see a partial file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    frames : numpy.ndarray
        See :func:`make_dataset`.
    transfer_syntax : str
        UID or keyword.
    **make_dataset_kwargs
        Passed to :func:`make_dataset`.
    """
    ds = make_dataset(frames, transfer_syntax, **make_dataset_kwargs)
    save_dataset(ds, path)


def dataset_bytes(ds: Dataset) -> bytes:
    """Return ``ds`` encoded as a DICOM file (preamble, File Meta, data set).

    Unlike :meth:`pydicom.dataset.Dataset.save_as`, this also writes Transfer
    Syntaxes pydicom 3.0 does not know (Deflated Image Frame Compression,
    JPEG XL): their data sets are Explicit VR Little Endian (PS3.5 A.4).
    """
    buf = DicomBytesIO()
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if ts.is_transfer_syntax or ts.is_private:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        return buf.getvalue()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, ds.file_meta, enforce_standard=True)
    buf.is_implicit_VR = False
    buf.is_little_endian = True
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = True
    write_dataset(buf, ds)
    return buf.getvalue()


def save_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Save a dataset (from :func:`make_dataset`) atomically as a DICOM file.

    Also handles the Transfer Syntaxes pydicom cannot write itself (see
    :func:`dataset_bytes`).
    """
    data = dataset_bytes(ds)
    atomic_write(path, lambda fh: fh.write(data), suffix=".tmp")
