"""The ``dicomio`` command line: parser, exit statuses, errors at every door."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest

import dicomio
from tests.cli._run import run


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dicomio {dicomio.__version__}"


def test_help_lists_every_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("doctor", "info", "decompress", "convert", "view"):
        assert command in proc.stdout


def test_no_command_is_a_usage_error() -> None:
    proc = run()
    assert proc.returncode == 2
    assert "usage: dicomio" in proc.stderr


@pytest.mark.parametrize("command", [
    ["info"], ["info", "--json"], ["convert", "{out}.npy"],
    ["decompress", "{out}.dcm"],
])
def test_non_dicom_file_exits_2_with_a_clear_message(
        tmp_path: Path, command: list[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a DICOM file\n")
    args = [command[0], str(notes)]
    args += [c.format(out=tmp_path / "out") for c in command[1:]]
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"dicomio: {notes}: ")
    assert "not a DICOM file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("out*"))


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run("info", tmp_path / "nowhere.dcm")
    assert proc.returncode == 2
    assert "nowhere.dcm" in proc.stderr and "Traceback" not in proc.stderr


def _bad_inputs(root: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of unusable input, and the reason the command must give."""
    text = root / "notes.dcm"
    text.write_text("not a DICOM file\n")
    empty = root / "empty.dcm"
    empty.touch()
    no_dicom = root / "no_dicom"
    no_dicom.mkdir()
    (no_dicom / "readme.txt").write_text("nothing here")
    (no_dicom / "sub").mkdir()
    (no_dicom / "sub" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    nothing = root / "empty_folder"
    nothing.mkdir()
    return {
        "text": (text, "not a DICOM file"),
        "empty": (empty, "empty file (0 bytes)"),
        "folder": (no_dicom, "no DICOM file in this folder (2 files looked at)"),
        "empty folder": (nothing, "no DICOM file in this folder (no files looked at)"),
        "missing": (root / "nowhere", "no such file or folder"),
    }


@pytest.mark.parametrize("command", ["info", "convert", "decompress", "view"])
def test_every_door_refuses_bad_input_in_one_line(tmp_path: Path, command: str) -> None:
    bad = _bad_inputs(tmp_path)
    out = tmp_path / "out"
    calls = {kind: [command, str(path)] + {"convert": [f"{out}.npy"],
                                           "decompress": [str(out)]}.get(command, [])
             for kind, (path, _) in bad.items()}
    # One fresh interpreter runs main() on every kind of bad input, and says
    # whether napari or Qt was imported (view must check before it starts).
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from dicomio.cli import main
        results = {{}}
        for kind, argv in {calls!r}.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = main(argv)
            results[kind] = [rc, err.getvalue()]
        results["imported"] = ["napari" in sys.modules, "qtpy" in sys.modules]
        print(json.dumps(results))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results.pop("imported") == [False, False]
    for kind, (path, reason) in bad.items():
        rc, err = results[kind]
        assert rc == 2, (kind, err)
        assert err.startswith(f"dicomio: {path}: {reason}"), (kind, err)
        assert err.count("\n") == 1 and err.endswith("\n"), (kind, err)
    assert not list(tmp_path.glob("out*"))


def test_view_refuses_a_folder_the_reader_would_refuse(tmp_path: Path) -> None:
    # DICOM, but no image in it (a DICOMDIR-less folder of structured reports
    # is the same): napari's reader would refuse it, so view says so first.

    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "SR"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(tmp_path / "report.dcm", enforce_file_format=True)
    proc = run("view", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"dicomio: {tmp_path}: no DICOM image found")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
