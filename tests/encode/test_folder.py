"""dicomio.transcode on a folder: images re-encoded, other objects copied,
DICOMDIR records updated, the layout kept, failures reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet
from pydicom.pixels import pixel_array

import dicomio
from dicomio.encode.folder import transcode_member, update_dicomdir
from dicomio.tsyntax import lookup
from tests.cli._run import tree_hashes
from tests.encode._archive import make_archive


def _records(dicomdir: Path) -> list[tuple[str, tuple[str, ...] | None]]:
    """The record tree of a DICOMDIR: type and referenced file, in order."""
    ds = pydicom.dcmread(dicomdir)
    out = []
    for rec in ds.DirectoryRecordSequence:
        ref = rec.get("ReferencedFileID")
        out.append((rec.DirectoryRecordType,
                    None if ref is None else tuple([ref] if isinstance(ref, str)
                                                   else ref)))
    return out


def _check_dicomdir(dicomdir: Path) -> list[pydicom.Dataset]:
    """Every record that names a file names its syntax and SOP Instance UID."""
    fs = FileSet(dicomdir)
    try:
        loaded = []
        for instance in fs:
            ds = instance.load()
            assert instance.ReferencedTransferSyntaxUIDInFile == \
                ds.file_meta.TransferSyntaxUID
            assert instance.ReferencedSOPInstanceUIDInFile == ds.SOPInstanceUID
            loaded.append(ds)
        return loaded
    finally:
        fs._stage["t"].cleanup()


@pytest.mark.parametrize("ts,lossy", [("HTJ2KLossless", False), ("HTJ2K", True)])
def test_folder_is_a_complete_archive(tmp_path, ts, lossy):
    src, out = tmp_path / "in", tmp_path / "out"
    images = make_archive(src)
    before = tree_hashes(src)
    reports = dicomio.transcode(src, out, ts, jobs=2)
    assert tree_hashes(src) == before  # the input is only read
    assert sorted(tree_hashes(out)) == sorted(before)  # same files, same layout
    actions = {Path(r["source"]).name: (r["action"], r["note"]) for r in reports}
    assert actions["IM000000"] == actions["IM000001"] == ("transcoded", None)
    assert actions["SR000000"] == ("copied", "no pixel data (Basic Text SR Storage): "
                                             "copied unchanged")
    assert actions["DICOMDIR"][0] == "copied"
    assert actions["DICOMDIR"][1].startswith("no pixel data (DICOMDIR): copied unchanged")
    assert all(r["ok"] and r["error"] is None for r in reports)
    sr = "PT000000/ST000000/SE000001/SR000000"
    assert (out / sr).read_bytes() == (src / sr).read_bytes()
    # The DICOMDIR keeps its record tree and paths, and now names the syntax
    # (and, when lossy, the new SOP Instance UID) of each file it points at.
    assert _records(out / "DICOMDIR") == _records(src / "DICOMDIR")
    written = [ds for ds in _check_dicomdir(out / "DICOMDIR") if "PixelData" in ds]
    assert len(written) == 2
    for ds in written:
        assert ds.file_meta.TransferSyntaxUID == lookup(ts).uid
        assert ds.BitsStored == 12
        uid, ref = images[ds.InstanceNumber]
        assert (ds.SOPInstanceUID == uid) is not lossy  # lossy: a new instance
        got = pixel_array(ds, decoding_plugin="pylibjpeg").astype(np.int64)
        assert np.abs(got - ref).max() <= (64 if lossy else 0)


def test_truncated_image_fails_and_is_not_copied(tmp_path):
    src = tmp_path / "in"
    make_archive(src)
    image = src / "PT000000/ST000000/SE000000/IM000001"
    data = image.read_bytes()
    image.write_bytes(data[:data.index(b"\xe0\x7f\x10\x00")])  # cut before Pixel Data
    reports = dicomio.transcode(src, tmp_path / "out", "RLELossless", jobs=1)
    bad = next(r for r in reports if r["source"] == str(image))
    assert (bad["ok"], bad["action"]) == (False, "failed")
    assert "no Pixel Data" in bad["error"]
    assert not Path(bad["dest"]).exists()
    # The DICOMDIR still describes the files that were written.
    dicomdir = next(r for r in reports if r["source"].endswith("DICOMDIR"))
    assert dicomdir["ok"] and "records could not be updated" not in dicomdir["note"]
    with pytest.warns(UserWarning, match="does not exist"):
        fs = FileSet(tmp_path / "out" / "DICOMDIR")
    try:
        for instance in fs:
            assert instance.ReferencedTransferSyntaxUIDInFile == \
                instance.load().file_meta.TransferSyntaxUID
    finally:
        fs._stage["t"].cleanup()


def test_member_copy_refuses_its_source(tmp_path):
    src = tmp_path / "in"
    make_archive(src)
    sr = src / "PT000000/ST000000/SE000001/SR000000"
    report = transcode_member(sr, sr, "RLELossless")
    assert report["action"] == "failed"
    assert "overwrite" in report["error"]


def test_update_dicomdir_changes_nothing_when_current(tmp_path):
    make_archive(tmp_path)
    before = (tmp_path / "DICOMDIR").read_bytes()
    assert update_dicomdir(tmp_path / "DICOMDIR") == 0
    assert (tmp_path / "DICOMDIR").read_bytes() == before
