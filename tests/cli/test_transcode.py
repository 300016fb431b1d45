"""``dicomio transcode`` on an archive folder: the summary and per-file lines."""

from __future__ import annotations

import pydicom

from dicomio.cli import main
from tests.encode._archive import make_archive


def test_folder_copies_non_images_and_says_so(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    make_archive(src)
    rc = main(["transcode", str(src), str(out), "--to", "HTJ2KLossless", "--jobs", "2"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "2 written, 2 copied unchanged (no pixel data), 0 failed" in captured.out
    assert (f"copied {src / 'DICOMDIR'}: no pixel data (DICOMDIR): copied "
            "unchanged; 2 record values updated") in captured.err
    assert "no pixel data (Basic Text SR Storage): copied unchanged" in captured.err
    assert "FAILED" not in captured.err
    records = pydicom.dcmread(out / "DICOMDIR").DirectoryRecordSequence
    syntaxes = {r.get("ReferencedTransferSyntaxUIDInFile") for r in records
                if r.DirectoryRecordType == "IMAGE"}
    assert syntaxes == {"1.2.840.10008.1.2.4.201"}
