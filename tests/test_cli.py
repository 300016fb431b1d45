"""The ``dicomio`` command, run as a user runs it: in a subprocess.

Bundled samples and pydicom's test files are the inputs. ``view`` (napari)
is tested with the napari reader.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomio
from dicomio import cli, samples
from dicomio.tsyntax import TRANSFER_SYNTAXES
from tests.conftest import PYDICOM_FILES, corpus_file

DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"


def run(*args: str | os.PathLike[str], cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("NO_COLOR", "PYTHONWARNINGS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "dicomio", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def plain(proc: subprocess.CompletedProcess[str]) -> None:
    """Output to a pipe carries no colour and no progress bar."""
    assert "\x1b[" not in proc.stdout + proc.stderr
    assert "\r" not in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def doctor_json() -> list[dict]:
    proc = run("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ------------------------------------------------------------------ general
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
    assert proc.stderr.startswith("dicomio: ")
    assert "not a DICOM file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("out*"))


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run("info", tmp_path / "nowhere.dcm")
    assert proc.returncode == 2
    assert "nowhere.dcm" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ doctor
def test_doctor_table(doctor_json: list[dict]) -> None:
    proc = run("doctor")
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    out = proc.stdout
    assert out.startswith("Transfer Syntax")
    for ts in TRANSFER_SYNTAXES.values():
        if ts.family != "video":
            assert ts.keyword in out, ts.keyword
    assert "WRONG" not in out and "FAIL" not in out
    assert "video syntaxes" in out
    assert "installed: imagecodecs" in out
    # Codec libraries' own stderr chatter (python-gdcm on 12-bit JPEG) is
    # kept out of the table.
    assert "Unsupported JPEG data precision" not in proc.stderr


def test_doctor_json(doctor_json: list[dict]) -> None:
    assert {r["uid"] for r in doctor_json} == set(TRANSFER_SYNTAXES)
    bundled = set(samples.all_paths())
    for row in doctor_json:
        if row["keyword"] not in bundled:
            assert row["family"] == "video"
            continue
        assert row["sample"] is True
        cells = row["backends"]
        assert cells, row["keyword"]
        # Every syntax decodes with the core install alone.
        core = cells.get("imagecodecs") or cells.get("native")
        assert core is not None and core["status"] == "ok", (row["keyword"], core)
        for name, cell in cells.items():
            assert cell["status"] in {"ok", "missing"}, (row["keyword"], name, cell)
            if cell["status"] == "missing":
                assert cell["install"]
            else:
                assert cell["ms"] >= 0
                assert cell["exact"] if "exact" in cell else cell["psnr_db"] >= 30


def test_doctor_no_verify_decodes_nothing() -> None:
    proc = run("doctor", "--no-verify", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    statuses = {c["status"] for r in rows for c in r["backends"].values()}
    assert statuses <= {"available", "missing", "untested"}
    assert "available" in statuses


# ------------------------------------------------------------------ info
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


def test_info_dicomdir_corpus() -> None:
    # pydicom's DICOMDIR test tree: several patients, CT, MR and CR series.
    proc = run("info", DICOMDIR_TESTS / "DICOMDIR")
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    assert proc.stdout.count("uid: ") >= 5
    assert "Traceback" not in proc.stderr
    # Series warnings (a gap in a stack) are one plain line each, not
    # Python's "file.py:123: SeriesWarning: ..." form.
    assert "dicomio: warning: " in proc.stderr
    assert not re.search(r"\.py:\d+: \w*Warning", proc.stderr), proc.stderr


# ------------------------------------------------------------------ decompress
def test_decompress_file(tmp_path: Path) -> None:
    src = tmp_path / "in" / "jpeg.dcm"
    src.parent.mkdir()
    shutil.copy(samples.path("JPEGBaseline8Bit"), src)
    before = sha256(src)
    dst = tmp_path / "out" / "plain.dcm"
    proc = run("decompress", src, dst)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {dst}"
    assert sha256(src) == before
    ds = pydicom.dcmread(dst)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.PlanarConfiguration == 0
    np.testing.assert_array_equal(dicomio.imread(dst), dicomio.imread(src))


def test_decompress_into_an_existing_folder(tmp_path: Path) -> None:
    proc = run("decompress", samples.path("RLELossless"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "RLELossless.dcm").is_file()


def test_decompress_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = tmp_path / "x.dcm"
    shutil.copy(samples.path("JPEG2000Lossless"), src)
    before = sha256(src)
    proc = run("decompress", src, src)
    assert proc.returncode == 2
    assert "overwrite" in proc.stderr
    assert sha256(src) == before


def test_decompress_folder_with_jobs(tmp_path: Path) -> None:
    src = tmp_path / "archive"
    (src / "nested" / "deeper").mkdir(parents=True)
    bundled = samples.all_paths()
    for keyword, path in bundled.items():
        shutil.copy(path, src / f"{keyword}.dcm")
    for keyword in ("JPEGBaseline8Bit", "HTJ2K", "JPEGXLLossless"):
        shutil.copy(bundled[keyword], src / "nested" / "deeper" / keyword)
    (src / "nested" / "notes.txt").write_text("skip me")
    before = tree_hashes(src)

    dst = tmp_path / "plain"
    proc = run("decompress", src, dst, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    n = len(bundled) + 3
    assert proc.stdout.strip() == f"{n} written, 0 skipped (no pixel data), 0 failed"
    assert tree_hashes(src) == before, "the input folder was modified"

    written = sorted(p for p in dst.rglob("*") if p.is_file())
    assert len(written) == n
    assert not (dst / "nested" / "notes.txt").exists()
    for out in written:
        original = src / out.relative_to(dst)
        img = dicomio.DicomImage(out)
        assert not img.transfer_syntax.encapsulated, out
        assert img.photometric["mismatch"] is False, (out, img.photometric)
        np.testing.assert_array_equal(img.read(), dicomio.imread(original))


def test_decompress_folder_skips_non_images_and_reports_failures(
        tmp_path: Path) -> None:
    src = tmp_path / "media"
    shutil.copytree(DICOMDIR_TESTS / "77654033", src / "77654033")
    shutil.copy(DICOMDIR_TESTS / "DICOMDIR", src / "DICOMDIR")
    # A file that starts like DICOM and then stops: a real failure.
    good = samples.path("JPEG2000Lossless").read_bytes()
    (src / "truncated.dcm").write_bytes(good[: len(good) // 2])
    before = tree_hashes(src)

    proc = run("decompress", src, tmp_path / "out", "--jobs", "2")
    assert proc.returncode == 1
    assert f"FAILED {src / 'truncated.dcm'}" in proc.stderr
    images = len([p for p in (src / "77654033").rglob("*") if p.is_file()])
    assert proc.stdout.strip() == (
        f"{images} written, 1 skipped (no pixel data), 1 failed")
    assert not (tmp_path / "out" / "DICOMDIR").exists()
    assert tree_hashes(src) == before


# ------------------------------------------------------------------ convert
def test_convert_to_npy(tmp_path: Path) -> None:
    out = tmp_path / "ct.npy"
    proc = run("convert", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out), samples.expected("JPEG2000Lossless"))


def test_convert_rescale_to_npy(tmp_path: Path) -> None:
    out = tmp_path / "hu.npy"
    proc = run("convert", "--rescale", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    expected = samples.expected("JPEG2000Lossless").astype(np.int32) - 1024
    np.testing.assert_array_equal(np.load(out), expected)


def test_convert_to_png(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    out = tmp_path / "rgb.png"
    proc = run("convert", samples.path("JPEGBaseline8Bit"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(iio.imread(out),
                                  dicomio.imread(samples.path("JPEGBaseline8Bit")))


def test_convert_multiframe_to_png_writes_one_file_per_frame(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    proc = run("convert", samples.path("RLELossless"), tmp_path / "f.png")
    assert proc.returncode == 0, proc.stderr
    frames = sorted(tmp_path.glob("f_*.png"))
    assert [p.name for p in frames] == ["f_0000.png", "f_0001.png"]
    expected = samples.expected("RLELossless")
    for i, p in enumerate(frames):
        np.testing.assert_array_equal(iio.imread(p), expected[i])


def test_convert_signed_to_png_is_refused_before_writing(tmp_path: Path) -> None:
    proc = run("convert", samples.path("JPEGLSLossless"), tmp_path / "ct.png")
    assert proc.returncode == 2
    assert "int16" in proc.stderr and ".tif" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_convert_to_tif(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    out = tmp_path / "ct.tif"
    proc = run("convert", samples.path("JPEG2000Lossless"), out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(iio.imread(out, index=None),
                                  samples.expected("JPEG2000Lossless"))


def test_convert_folder_volume(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(samples.path("JPEG2000Lossless"), folder)
    out = tmp_path / "vol.npy"
    proc = run("convert", folder, out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out), samples.expected("JPEG2000Lossless"))


def test_convert_unknown_format(tmp_path: Path) -> None:
    proc = run("convert", samples.path("JPEGBaseline8Bit"), tmp_path / "x.bmp")
    assert proc.returncode == 2
    assert ".npy" in proc.stderr and ".png" in proc.stderr


# ------------------------------------------------------------------ terminal
class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERM", raising=False)
    term = _Terminal()
    bar = cli._Progress(4, "decompressing", stream=term, interval=0)
    for _ in range(4):
        bar()
    bar.write("FAILED x: reason")
    bar.close()
    text = term.getvalue()
    assert "\r" in text and "4/4" in text and "100%" in text
    assert "FAILED x: reason\n" in text
    assert text.endswith("\n")

    pipe = io.StringIO()
    quiet = cli._Progress(4, "decompressing", stream=pipe)
    for _ in range(4):
        quiet()
    quiet.write("FAILED x: reason")
    quiet.close()
    assert pipe.getvalue() == "FAILED x: reason\n"


def test_doctor_colours_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                           doctor_json: list[dict]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    term = _Terminal()
    cli._print_doctor(doctor_json, term)
    assert "\x1b[32mok" in term.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    term = _Terminal()
    cli._print_doctor(doctor_json, term)
    assert "\x1b[" not in term.getvalue()
