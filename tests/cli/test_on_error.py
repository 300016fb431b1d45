"""``--on-error`` on the commands that decode: decompress, transcode and convert."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom

from dicomio import DicomImage
from tests.cli._run import run
from tests.robustness._hostile import (
    BAD,
    GREY16,
    jpeg_with_bad_frames,
    truncated_native,
)


def _cut(tmp_path: Path) -> Path:
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    return path


def test_decompress_refuses_a_truncated_file_by_default(tmp_path):
    src = _cut(tmp_path)
    proc = run("decompress", src, tmp_path / "out.dcm")
    assert proc.returncode == 2
    assert "TruncatedError" in proc.stderr or "truncated" in proc.stderr
    assert "frame 1" in proc.stderr and "100 of its 960 bytes" in proc.stderr
    assert not (tmp_path / "out.dcm").exists()


def test_decompress_recover_writes_what_is_there(tmp_path):
    src, out = _cut(tmp_path), tmp_path / "out.dcm"
    proc = run("decompress", "--on-error", "recover", src, out)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 3 frames failed" in proc.stderr and "1 (rows 17-19 missing)" in proc.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = DicomImage(out).read()  # a whole file now
    np.testing.assert_array_equal(arr[0], GREY16[0])
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17])
    assert not arr[1, 17:].any() and not arr[2].any()


def test_decompress_has_no_skip(tmp_path):
    proc = run("decompress", "--on-error", "skip", _cut(tmp_path), tmp_path / "o.dcm")
    assert proc.returncode == 2 and "invalid choice: 'skip'" in proc.stderr


def test_convert_skip_and_fill(tmp_path):
    src = tmp_path / "bad.dcm"
    src.write_bytes(jpeg_with_bad_frames(bad=BAD))
    proc = run("convert", src, tmp_path / "all.npy")
    assert proc.returncode != 0 and "frame 3" in proc.stderr
    proc = run("convert", "--raw", "--on-error", "skip", src, tmp_path / "kept.npy")
    assert proc.returncode == 0, proc.stderr
    assert "23 were left out: 3, 9" in proc.stderr
    assert np.load(tmp_path / "kept.npy").shape == (117, 16, 16)
    proc = run("convert", "--raw", "--on-error", "fill", src, tmp_path / "filled.npy")
    assert proc.returncode == 0, proc.stderr
    filled = np.load(tmp_path / "filled.npy")
    assert filled.shape == (140, 16, 16) and not filled[list(BAD)].any()



def test_decompress_folder_counts_the_repaired_files(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _cut(src)
    (src / "bad.dcm").write_bytes(jpeg_with_bad_frames(n=8, bad=(2, 5)))
    (src / "good.dcm").write_bytes(jpeg_with_bad_frames(n=2))
    proc = run("decompress", src, tmp_path / "strict")
    assert proc.returncode == 1
    assert "1 written, 0 skipped (no pixel data), 2 failed" in proc.stdout
    assert "FAILED" in proc.stderr and "frame 2" in proc.stderr
    proc = run("decompress", "--on-error", "fill", src, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "3 written (2 repaired: see the warnings), 0 skipped" in proc.stdout
    assert f"dicomio: warning: {src / 'bad.dcm'}: 2 of 8 frames failed; 2 were " \
        "filled with 0: 2, 5; written to" in proc.stderr


def test_transcode_refuses_by_default_and_writes_nothing(tmp_path):
    src, out = _cut(tmp_path), tmp_path / "out.dcm"
    proc = run("transcode", src, out, "--to", "JPEGLSLossless")
    assert proc.returncode == 2
    assert f"dicomio: {src}: frame 1" in proc.stderr
    assert "100 of its 960 bytes" in proc.stderr and "backends tried" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_transcode_recover_writes_a_repaired_copy(tmp_path):
    src, out = _cut(tmp_path), tmp_path / "out.dcm"
    proc = run("transcode", src, out, "--to", "HTJ2KLossless", "--on-error", "recover")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    assert f"dicomio: warning: {src}: 2 of 3 frames failed" in proc.stderr
    assert "1 (rows 17-19 missing)" in proc.stderr and "repaired copy" in proc.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = DicomImage(out).read()
    np.testing.assert_array_equal(arr[0], GREY16[0])
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17])
    assert not arr[1, 17:].any() and not arr[2].any()
    assert "Repaired by dicomio" in pydicom.dcmread(out).DerivationDescription


def test_transcode_folder_fill_and_no_skip(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad.dcm").write_bytes(jpeg_with_bad_frames(bad=BAD))
    (src / "good.dcm").write_bytes(jpeg_with_bad_frames(n=2))
    proc = run("transcode", src, tmp_path / "strict", "--to", "RLELossless")
    assert proc.returncode == 1
    assert "1 written, 0 copied unchanged (no pixel data), 1 failed" in proc.stdout
    assert f"FAILED {src / 'bad.dcm'}" in proc.stderr and "frame 3" in proc.stderr
    proc = run("transcode", src, tmp_path / "out", "--to", "RLELossless",
               "--on-error", "fill", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "2 written (1 repaired: see the warnings)" in proc.stdout
    assert "23 of 140 frames failed; 23 were filled with 0: 3, 9" in proc.stderr
    arr = DicomImage(tmp_path / "out" / "bad.dcm").read()
    assert arr.shape == (140, 16, 16) and not arr[list(BAD)].any()
    proc = run("transcode", src, tmp_path / "skip", "--to", "RLELossless",
               "--on-error", "skip")
    assert proc.returncode == 2 and "invalid choice: 'skip'" in proc.stderr


def test_convert_to_nifti_takes_on_error(tmp_path):
    from dicomio.encode import mr

    paths = mr.write_slice_series(tmp_path / "in", mr.phantom(t=1, z=4, y=10, x=12))
    victim = sorted(paths)[2]
    victim.write_bytes(victim.read_bytes()[:-50])
    proc = run("convert", tmp_path / "in", tmp_path / "strict.nii.gz")
    assert proc.returncode == 2 and "frame 0" in proc.stderr
    assert not (tmp_path / "strict.nii.gz").exists()
    proc = run("convert", "--on-error", "skip", tmp_path / "in", tmp_path / "s.nii.gz")
    assert proc.returncode == 2 and "cannot write NIfTI" in proc.stderr
    proc = run("convert", "--on-error", "fill", tmp_path / "in", tmp_path / "f.nii.gz")
    assert proc.returncode == 0, proc.stderr
    assert "1 of 4 slices failed" in proc.stderr and "dicomio: warning:" in proc.stderr
    assert "DicomioFailedSlices" in (tmp_path / "f.json").read_text()
