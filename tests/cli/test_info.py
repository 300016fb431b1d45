"""``dicomio info`` on files, folders and DICOMDIRs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from dicomio import samples
from tests.cli._run import DICOMDIR_TESTS, plain, run
from tests.conftest import corpus_file


def test_info_file_json() -> None:
    path = samples.path("JPEGBaseline8Bit")
    proc = run("info", "--json", path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["transfer_syntax"]["keyword"] == "JPEGBaseline8Bit"
    assert info["shape"] == [64, 96, 3]
    assert info["dtype"] == "uint8"
    assert info["frames"] == 1
    assert info["decoder"] == "imagecodecs"
    rep = info["photometric"]
    assert {"declared", "codestream", "output", "mismatch", "notes"} <= set(rep)
    assert (rep["declared"], rep["output"]) == ("YBR_FULL_422", "RGB")


def test_info_file_text_on_a_corpus_file() -> None:
    proc = run("info", corpus_file("US1_J2KR.dcm"))
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    assert "keyword: JPEG2000Lossless" in proc.stdout
    assert "declared: YBR_RCT" in proc.stdout
    assert "output: RGB" in proc.stdout


def test_info_folder_lists_series(tmp_path: Path) -> None:
    for keyword in ("JPEG2000Lossless", "JPEGLSLossless", "RLELossless"):
        shutil.copy(samples.path(keyword), tmp_path)
    (tmp_path / "README").write_text("not DICOM")
    proc = run("info", "--json", tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert len(info["series"]) == 3
    assert info["skipped"] == {"not DICOM": 1}
    shapes = sorted(s["shape"] for s in info["series"])
    assert [2, 64, 64] in shapes
    titles = {s["title"] for s in info["series"]}
    assert "RGB test pattern, 2 frames, RLE (OT #7)" in titles


def test_info_folder_prints_a_table_of_the_series(tmp_path: Path) -> None:
    for keyword in ("JPEG2000Lossless", "RLELossless"):
        shutil.copy(samples.path(keyword), tmp_path)
    proc = run("info", tmp_path)
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{tmp_path}: 2 series in 2 files"
    assert lines[1].split()[:4] == ["#", "series", "slices", "shape"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:]}
    assert set(rows) == {"1", "2"}
    rle = next(line for line in lines[2:] if "RLELossless" in line)
    assert "(OT #7)" in rle and "2x64x64x3" in rle
    # No empty sections: nothing was skipped, so no "skipped" line.
    assert len(lines) == 4 and "skipped" not in proc.stdout
    assert proc.stderr == ""


def test_info_file_prints_no_empty_sections() -> None:
    proc = run("info", samples.path("RLELossless"))
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(":")
        assert value.strip() not in ("[]", "{}", "None"), line
    assert "warnings" not in proc.stdout and "notes:" not in proc.stdout


def test_info_dicomdir_corpus() -> None:
    # pydicom's DICOMDIR test tree: several patients, CT, MR and CR series.
    proc = run("info", DICOMDIR_TESTS / "DICOMDIR")
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    rows = [line for line in proc.stdout.splitlines() if line.split()[0].isdigit()]
    assert len(rows) >= 5
    assert any("Routine Brain (CT #2)" in row for row in rows)
    assert "Traceback" not in proc.stderr
    # Series warnings (a gap in a stack) are one plain line each, naming the
    # folder of the series, not Python's "file.py:123: SeriesWarning:" form.
    gap = [line for line in proc.stderr.splitlines() if "Gap between slices" in line]
    assert gap and gap[0].startswith(
        f"dicomio: warning: {DICOMDIR_TESTS / '77654033' / 'CT2'}: series 2 ")
    for line in proc.stderr.splitlines():
        assert line.startswith("dicomio: warning: "), line
    assert not re.search(r"\.py:\d+: \w*Warning", proc.stderr), proc.stderr


def test_info_on_files_opened_tolerantly(tmp_path: Path) -> None:
    # No preamble before 'DICM'; a data set without File Meta whose first
    # element is not in group 0008 (tests/_defects.py).
    from tests import _defects as D

    ds = D.dataset()
    for tag in [t for t in ds.keys() if t.group == 0x0008]:
        del ds[tag]
    cases = {
        "dicm-first.dcm": (D.dicm_at_zero(), "no preamble: the file starts with 'DICM'"),
        "no-meta": (D.data_set_bytes(ds, "ImplicitVRLittleEndian"),
                    "no File Meta (so no Transfer Syntax UID): assumed Implicit VR "
                    "Little Endian from the first elements"),
    }
    for name, (data, warning) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        proc = run("info", "--json", path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["shape"] == [3, 20, 24]
        assert f"dicomio: warning: {path}: {warning}" in proc.stderr
