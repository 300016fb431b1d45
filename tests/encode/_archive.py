"""A small archive as a user has one: images, a report and a DICOMDIR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import ExplicitVRLittleEndian

from dicomio import encode

STUDY = {"PatientID": "P1", "PatientName": "Test^Archive", "StudyID": "1",
         "StudyDate": "20260101", "StudyTime": "120000", "AccessionNumber": ""}


def _report() -> Dataset:
    """A Basic Text SR without content items: no pixel data at all."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = encode.uid_from("archive", "sr")
    ds.StudyInstanceUID = encode.uid_from("archive", "study")
    ds.SeriesInstanceUID = encode.uid_from("archive", "sr-series")
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 2, 1
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ContentDate, ds.ContentTime = "20260101", "120000"
    ds.ValueType, ds.ConceptNameCodeSequence = "CONTAINER", []
    for key, value in STUDY.items():
        setattr(ds, key, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def make_archive(folder: Path) -> dict[int, tuple[str, np.ndarray]]:
    """Write two 12-bit images, an SR and their DICOMDIR (pydicom's File-set
    writer) to ``folder``; return each image's SOP Instance UID and pixels by
    Instance Number."""
    fs = FileSet()
    images = {}
    for k in range(2):
        img = (np.arange(40 * 48, dtype=np.uint16).reshape(40, 48) * (k + 3)) % 4096
        uid = encode.uid_from("archive", f"image{k}")
        fs.add(encode.make_dataset(
            img, "JPEGLSLossless", bits_stored=12, uid_seed="archive",
            sop_instance_uid=uid, instance_number=k + 1, modality="CT",
            study_instance_uid=encode.uid_from("archive", "study"), **STUDY))
        images[k + 1] = (uid, img)
    fs.add(_report())
    fs.write(folder)
    fs._stage["t"].cleanup()  # pydicom leaves its staging folder to the GC
    return images
