"""Make any dataset pydicom could read writable: :func:`writable`.

Real files hold elements pydicom reads but refuses to write: item tags
(FFFE,E000) outside a sequence, Value Representations it does not know
(``'NONE'``), and ambiguous VRs (``'OB or OW'``) left unresolved by an
Implicit VR reading. :func:`writable` returns a copy of the dataset in which
each such element is resolved, written as UN, or dropped, with one note per
element, and File Meta Information complete enough for a standard file
(preamble, ``DICM``, File Meta). The input dataset is never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, generate_uid

from ..tsyntax import EXPLICIT_VR_LITTLE_ENDIAN

__all__ = ["writable"]

_PIXEL_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}
#: Secondary Capture Image Storage, the class of an image whose own is unknown.
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _writes(elem: DataElement) -> bool:
    """Whether pydicom can encode ``elem`` as Explicit VR Little Endian."""
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = False
    try:
        write_data_element(buf, elem)
    except Exception:
        return False
    return True


def _raw_bytes(raw: Any) -> bytes | None:
    value = getattr(raw, "value", None)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


def _as_un(tag: int, raw: Any, reason: str, where: str,
           notes: list[str]) -> DataElement | None:
    """``raw``'s bytes as an UN element, or ``None`` (dropped) with a note."""
    data = _raw_bytes(raw)
    if data is not None:
        notes.append(f"{where}{_tag_text(tag)} written as UN: {reason}")
        return DataElement(BaseTag(tag), "UN", data)
    notes.append(f"{where}{_tag_text(tag)} dropped: {reason}")
    return None


def _resolve_vr(elem: DataElement, ds: Dataset) -> DataElement:
    """A copy of ``elem`` with its ambiguous VR settled (PS3.5 Annex A.1)."""
    fixed = copy.copy(elem)
    try:
        settled = correct_ambiguous_vr_element(fixed, ds, True)
    except Exception:
        settled = fixed
    if isinstance(settled, DataElement):
        fixed = settled
    if " or " not in fixed.VR:
        return fixed
    # What pydicom's rules do not settle (e.g. retired Curve Data, 50xx):
    # bulk data as OW when even-length else OB; numbers by their sign.
    choices = fixed.VR.split(" or ")
    value = fixed.value
    if isinstance(value, (bytes, bytearray)):
        fixed.VR = "OW" if "OW" in choices and len(value) % 2 == 0 else "OB"
    elif "US" in choices:
        values = value if isinstance(value, (list, tuple)) else [value]
        signed = any(isinstance(v, int) and v < 0 for v in values)
        fixed.VR = "SS" if signed and "SS" in choices else "US"
    else:
        fixed.VR = choices[0]
    return fixed


def _clean(ds: Dataset, notes: list[str], where: str) -> Dataset:
    """A shallow copy of ``ds`` with every element writable (recursive)."""
    out = Dataset()
    # pydicom writes a private Transfer Syntax in the encoding it was read in.
    implicit, little = ds.original_encoding
    out.set_original_encoding(implicit, little, getattr(ds, "_read_charset", None))
    for tag in list(ds.keys()):
        itag = int(tag)
        raw = ds.get_item(tag)
        if itag >> 16 == 0xFFFE:
            notes.append(f"{where}{_tag_text(itag)} dropped: an item or delimiter "
                         "tag outside a sequence")
            continue
        try:
            elem = ds[tag]
        except Exception as exc:
            fixed = _as_un(itag, raw, f"unreadable ({exc})", where, notes)
            if fixed is not None:
                out[itag] = fixed
            continue
        if elem.VR == "SQ":
            seq = copy.copy(elem)
            items = []
            for i, item in enumerate(elem.value or []):
                items.append(_clean(item, notes, f"{where}{_tag_text(itag)}[{i}]"))
            seq.value = Sequence(items)
            out[itag] = seq
            continue
        if elem.VR and " or " in elem.VR:
            elem = _resolve_vr(elem, ds)
        if itag not in _PIXEL_TAGS and not _writes(elem):
            reason = f"VR {elem.VR!r} cannot be written"
            fixed = _as_un(itag, raw if isinstance(raw, RawDataElement) else elem,
                           reason, where, notes)
            if fixed is not None and _writes(fixed):
                out[itag] = fixed
            elif fixed is not None:
                notes[-1] = f"{where}{_tag_text(itag)} dropped: {reason}"
            continue
        out[itag] = elem
    return out


def _file_meta(src: Dataset, ds: Dataset, transfer_syntax: str,
               notes: list[str]) -> FileMetaDataset:
    old = getattr(src, "file_meta", None)
    meta = FileMetaDataset(old) if old is not None else FileMetaDataset()
    meta.TransferSyntaxUID = UID(transfer_syntax)
    if "MediaStorageSOPClassUID" not in meta:
        if "SOPClassUID" in ds:
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
        else:
            meta.MediaStorageSOPClassUID = UID(_SECONDARY_CAPTURE)
            notes.append("no SOP Class UID: File Meta says Secondary Capture Image "
                         f"Storage ({_SECONDARY_CAPTURE})")
    if "MediaStorageSOPInstanceUID" not in meta:
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        else:
            uid = generate_uid()
            meta.MediaStorageSOPInstanceUID = uid
            ds.SOPInstanceUID = uid
            notes.append(f"no SOP Instance UID: a new one was generated ({uid})")
    if "FileMetaInformationVersion" not in meta:
        meta.FileMetaInformationVersion = b"\x00\x01"
    if "ImplementationClassUID" not in meta:
        from .dataset import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

        meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def writable(ds: Dataset, transfer_syntax: str | None = None) -> tuple[Dataset, list[str]]:
    """Return ``(copy, notes)``: ``ds`` made writable as a standard DICOM file.

    Parameters
    ----------
    ds : pydicom.Dataset
        Any dataset pydicom read (``force=True`` included) or built.
    transfer_syntax : str, optional
        The Transfer Syntax UID to record; defaults to the one in
        ``ds.file_meta``, else Explicit VR Little Endian.

    Returns
    -------
    (pydicom.Dataset, list of str)
        The copy (elements shared with ``ds`` unless changed) and one note per
        element written as UN or dropped, or File Meta value supplied.
    """
    notes: list[str] = []
    out = _clean(ds, notes, "")
    if transfer_syntax is None:
        meta = getattr(ds, "file_meta", None)
        transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or
                              EXPLICIT_VR_LITTLE_ENDIAN)
    out.file_meta = _file_meta(ds, out, transfer_syntax, notes)
    return out, notes
