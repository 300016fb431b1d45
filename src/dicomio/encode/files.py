"""Write datasets as DICOM files, atomically, in every Transfer Syntax.

pydicom 3.0 cannot write Deflated Image Frame Compression or JPEG XL; their
data sets are Explicit VR Little Endian (PS3.5 A.4), written here directly.
"""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO, DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID

from ..tsyntax import TransferSyntax
from .atomic import atomic_write
from .dataset import make_dataset
from .sanitize import writable

__all__ = ["write", "dataset_bytes", "save_dataset", "write_dataset_to"]


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
    Elements pydicom cannot write are resolved, written as UN or dropped,
    each with a :class:`~dicomio.DicomioWarning` (see :func:`write_dataset_to`).
    """
    buf = DicomBytesIO()
    write_dataset_to(buf, ds)
    return buf.getvalue()


def write_dataset_to(fh: Any, ds: Dataset) -> None:
    """Write ``ds`` as a standard DICOM file to ``fh`` (a binary file object).

    The one writing path of dicomio: the preamble, ``DICM`` and File Meta are
    always written, ambiguous VRs are resolved (PS3.5 Annex A.1), and
    elements pydicom cannot encode (an item tag outside a sequence, an unknown
    VR) are written as UN or dropped, with one
    :class:`~dicomio.DicomioWarning` naming each (``dicomio.encode.sanitize.writable``).
    ``ds`` itself is not modified.
    """
    from ..image.state import DicomioWarning

    ds, notes = writable(ds)
    for note in notes:
        warnings.warn(f"writing DICOM: {note}", DicomioWarning, stacklevel=3)
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if ts.is_transfer_syntax or ts.is_private:
        pydicom.dcmwrite(fh, ds, enforce_file_format=True)
        return
    out = _explicit_le(fh)
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, ds.file_meta, enforce_standard=True)
    if "PixelData" in ds:
        ds["PixelData"] = copy.copy(ds["PixelData"])
        ds["PixelData"].is_undefined_length = True
    write_dataset(out, ds)


def _explicit_le(fh: Any) -> Any:
    # pydicom's writer reads the encoding from the file object.
    target = fh if isinstance(fh, DicomBytesIO) else DicomFileLike(fh)
    target.is_implicit_VR = False
    target.is_little_endian = True
    return target


def save_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Save a dataset (from :func:`make_dataset`) atomically as a DICOM file.

    Also handles the Transfer Syntaxes pydicom cannot write itself (see
    :func:`dataset_bytes`) and odd elements (see :func:`write_dataset_to`).
    """
    atomic_write(path, lambda fh: write_dataset_to(fh, ds), suffix=".tmp")
