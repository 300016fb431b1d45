"""``dicomio decompress`` on files and folders; the input is never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom

import dicomio
from dicomio import samples
from tests.cli._run import DICOMDIR_TESTS, plain, run, sha256, tree_hashes


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
