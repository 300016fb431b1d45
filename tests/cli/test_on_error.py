"""``--on-error`` on the commands that decode: decompress and convert."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

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

