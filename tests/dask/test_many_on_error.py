"""``on_error`` in the bulk jobs (decompress_many, transcode_many, decode_many)
and their command-line doors, on the loopback LocalCluster and locally."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import dicomio
import dicomio.dask as ddask
from dicomio import DicomImage, DicomioWarning
from tests.dask.conftest import _cluster_test, _leftovers
from tests.robustness._hostile import (
    BAD,
    GREY16,
    jpeg_with_bad_frames,
    truncated_native,
)


@pytest.fixture
def damaged(tmp_path: Path) -> list[Path]:
    """A whole file, a file cut inside frame 1, a JPEG with 23 bad frames."""
    folder = tmp_path / "in"
    folder.mkdir()
    whole, cut, bad = folder / "whole.dcm", folder / "cut.dcm", folder / "bad.dcm"
    whole.write_bytes(jpeg_with_bad_frames(n=5))
    cut.write_bytes(truncated_native())
    bad.write_bytes(jpeg_with_bad_frames(bad=BAD))
    return [whole, cut, bad]


def _repairs(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught
            if issubclass(w.category, DicomioWarning) and "frames failed" in str(w.message)]


def _check_strict(report: list[dict[str, Any]], sources: list[Path]) -> None:
    assert [r["ok"] for r in report] == [True, False, False]
    for r, frame in zip(report[1:], (1, 3)):
        assert r["source"] in r["error"] and f"frame {frame}" in r["error"]
        assert "backends tried" in r["error"] and r["failed_frames"] == {}
        assert not Path(r["dest"]).exists()


def _check_repaired(report: list[dict[str, Any]], caught: list[Any],
                    mode: str) -> None:
    assert all(r["ok"] for r in report)
    assert report[0]["failed_frames"] == {} and report[0]["note"] is None
    assert set(report[1]["failed_frames"]) == {"1", "2"}
    assert sorted(report[2]["failed_frames"], key=int) == [str(k) for k in BAD]
    assert "23 of 140 frames failed; 23 were filled with 0" in report[2]["note"]
    texts = _repairs(caught)
    # One warning per repaired file, raised in this process.
    assert sorted(t.split(": ")[0] for t in texts) == sorted(
        r["source"] for r in report[1:])
    cut = DicomImage(report[1]["dest"]).read()
    np.testing.assert_array_equal(cut[0], GREY16[0])
    kept = 17 if mode == "recover" else 0  # fill: the cut frame is 0 whole
    np.testing.assert_array_equal(cut[1, :kept], GREY16[1, :kept])
    assert not cut[1, kept:].any() and not cut[2].any()
    bad = DicomImage(report[2]["dest"]).read()
    assert bad.shape == (140, 16, 16) and not bad[list(BAD)].any()
    good = [k for k in range(140) if k not in BAD]
    np.testing.assert_array_equal(bad[good], DicomImage(report[2]["source"]).read(good))
    for r in report[1:]:
        ds = pydicom.dcmread(r["dest"])
        assert "Repaired by dicomio" in ds.DerivationDescription
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == \
            pydicom.dcmread(r["source"], force=True).SOPInstanceUID


def test_skip_is_refused_before_any_task(damaged: list[Path], tmp_path: Path) -> None:
    dests = [tmp_path / "o" / p.name for p in damaged]
    for run in (ddask.decompress_many, ddask.transcode_many):
        with pytest.raises(ValueError, match="not 'skip'"):
            run(damaged, dests, on_error="skip", scheduler="sync")
    assert not (tmp_path / "o").exists()


def test_decode_many_on_error(damaged: list[Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        strict = ddask.decode_many(damaged, scheduler="threads")
    assert [r["ok"] for r in strict] == [True, False, False]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = ddask.decode_many(damaged, scheduler="threads", on_error="skip")
    assert [r["array"].shape[0] for r in skipped] == [5, 1, 117]
    assert sorted(skipped[2]["failed_frames"], key=int) == [str(k) for k in BAD]
    assert len(_repairs(caught)) == 2


@_cluster_test
def test_cluster_decompress_many_on_error(client: Any, damaged: list[Path],
                                          tmp_path: Path) -> None:
    dests = [tmp_path / "strict" / p.name for p in damaged]
    strict = ddask.decompress_many(damaged, dests, scheduler=client)
    _check_strict(strict, damaged)
    dests = [tmp_path / "fill" / p.name for p in damaged]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = ddask.decompress_many(damaged, dests, scheduler=client,
                                       on_error="recover")
    _check_repaired(report, caught, "recover")
    assert report[1]["failed_frames"]["1"]["missing_rows"] == [17, 20]
    assert report[2]["failed_frames"]["3"]["action"] == "filled"
    assert not _leftovers(tmp_path)
    # A re-run keeps the repaired copies (they reference their source).
    again = ddask.decompress_many(damaged, dests, scheduler=client, on_error="recover")
    assert all(r["ok"] and r["skipped"] for r in again)


@_cluster_test
def test_cluster_transcode_many_on_error(client: Any, damaged: list[Path],
                                         tmp_path: Path) -> None:
    for syntax in ("JPEGLSLossless", "HTJ2KLossless", "RLELossless"):
        dests = [tmp_path / syntax / "strict" / p.name for p in damaged]
        strict = ddask.transcode_many(damaged, dests, syntax, scheduler=client)
        _check_strict(strict, damaged)
        assert [r["action"] for r in strict] == ["transcoded", "failed", "failed"]
        dests = [tmp_path / syntax / "fill" / p.name for p in damaged]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = ddask.transcode_many(damaged, dests, syntax, scheduler=client,
                                          on_error="fill")
        _check_repaired(report, caught, "fill")
        assert report[1]["failed_frames"]["1"]["action"] == "filled"
        assert [r["action"] for r in report] == ["transcoded"] * 3
    assert not _leftovers(tmp_path)


@_cluster_test
def test_cluster_cli_on_error(cluster: Any, client: Any, damaged: list[Path],
                              tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from dicomio import cli

    folder = damaged[0].parent
    address = cluster.scheduler_address
    rc = cli.main(["transcode", str(folder), str(tmp_path / "t"), "--to",
                   "JPEGLSLossless", "--dask-scheduler", address])
    captured = capsys.readouterr()
    assert rc == 1 and "FAILED" in captured.err and "frame 3" in captured.err
    assert "1 written, 0 copied unchanged (no pixel data), 2 failed" in captured.out
    rc = cli.main(["transcode", str(folder), str(tmp_path / "t2"), "--to",
                   "JPEGLSLossless", "--dask-scheduler", address, "--on-error", "fill"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "3 written (2 repaired: see the warnings)" in captured.out
    assert f"dicomio: warning: {damaged[2]}: 23 of 140 frames failed" in captured.err
    assert f"dicomio: warning: {damaged[1]}: 2 of 3 frames failed" in captured.err
    rc = cli.main(["decompress", str(folder), str(tmp_path / "d"),
                   "--dask-scheduler", address, "--on-error", "recover"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "3 written (2 repaired: see the warnings), 0 failed" in captured.out
    assert "1 (rows 17-19 missing)" in captured.err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dicomio.imread(tmp_path / "d" / "cut.dcm").shape == (3, 20, 24)
