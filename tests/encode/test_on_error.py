"""``on_error`` on the DICOM writers: transcode, its folder runs, decompress, NIfTI.

Every damaged input is made here with dicomio's own encoder (the helpers of
``tests/robustness/_hostile.py``): a native file cut inside frame 1, a JPEG
file cut inside its last fragment, and a 140-frame JPEG whose 23 frames
contradict the header. The default writes nothing and names the file, frame,
syntax and backends; ``fill`` / ``recover`` write a repaired copy that says
so; ``skip`` is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomio
from dicomio import DicomImage, DicomioWarning, TruncatedError
from dicomio.encode import mr
from dicomio.encode.decompress import decompress
from dicomio.encode.folder import transcode_folder, transcode_member
from tests.robustness._hostile import (
    BAD,
    GREY16,
    TEXTURED,
    check_error,
    cut_in_last_frame,
    jpeg_with_bad_frames,
    snapshot,
    truncated_native,
)

LOSSLESS = ("JPEGLSLossless", "RLELossless", "HTJ2KLossless", "JPEG2000Lossless",
            "JPEGLosslessSV1", "ExplicitVRLittleEndian", "DeflatedImageFrameCompression")


def _cut(folder: Path, name: str = "cut.dcm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(truncated_native())
    return path


def _bad_jpeg(folder: Path, name: str = "bad.dcm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(jpeg_with_bad_frames(bad=BAD))
    return path


def _repairs(caught: list[warnings.WarningMessage]) -> list[str]:
    """The repair warnings among ``caught`` (the file's open warning aside)."""
    return [str(w.message) for w in caught
            if issubclass(w.category, DicomioWarning) and "frames failed" in str(w.message)]


def _quiet(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a repaired copy is a whole file
        return DicomImage(path).read()


def _check_marked(out: Path, src: Path, frames: str) -> pydicom.Dataset:
    """The output is a repaired copy: new UID, the source referenced, the note."""
    got, orig = pydicom.dcmread(out), pydicom.dcmread(src, force=True)
    assert got.SOPInstanceUID != orig.SOPInstanceUID
    assert got.file_meta.MediaStorageSOPInstanceUID == got.SOPInstanceUID
    (item,) = got.SourceImageSequence
    assert item.ReferencedSOPInstanceUID == orig.SOPInstanceUID
    assert item.ReferencedSOPClassUID == orig.SOPClassUID
    assert item.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert "Repaired by dicomio" in got.DerivationDescription
    assert frames in got.DerivationDescription
    assert int(got.NumberOfFrames) == int(orig.NumberOfFrames)
    return got


# ------------------------------------------------------------ the default
@pytest.mark.parametrize("syntax", ["JPEGLSLossless", "HTJ2K"])
def test_transcode_refuses_a_damaged_file_and_writes_nothing(tmp_path, syntax):
    src = _cut(tmp_path / "in")
    before = snapshot(src.parent)
    out = tmp_path / "out" / "o.dcm"
    out.parent.mkdir()
    with pytest.raises(TruncatedError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        dicomio.transcode(src, out, syntax)
    check_error(info.value, src, frame=True)
    assert info.value.frame == 1 and "100 of its 960 bytes" in str(info.value)
    assert list(out.parent.iterdir()) == []  # no output, no temporary file
    assert snapshot(src.parent) == before


def test_a_bad_frame_fails_transcode_by_default(tmp_path):
    src = _bad_jpeg(tmp_path)
    with pytest.raises(dicomio.DecodeError, match="frame 3.*contradicts the header"
                       ) as info:
        dicomio.transcode(src, tmp_path / "o.dcm", "JPEGLSLossless")
    check_error(info.value, src, frame=True)
    assert not (tmp_path / "o.dcm").exists()


def test_skip_is_refused_by_every_writer(tmp_path):
    src = _cut(tmp_path / "in")
    why = "keeps every frame the header describes.*not 'skip'"
    with pytest.raises(ValueError, match=why):
        dicomio.transcode(src, tmp_path / "o.dcm", "RLELossless", on_error="skip")
    with pytest.raises(ValueError, match=why):
        dicomio.transcode(src.parent, tmp_path / "out", "RLELossless", on_error="skip")
    with pytest.raises(ValueError, match=why):
        transcode_folder(src.parent, tmp_path / "out", "RLELossless", on_error="skip")
    with pytest.raises(ValueError, match=why):
        decompress(src, tmp_path / "o.dcm", on_error="skip")
    with pytest.raises(ValueError, match="on_error must be one of"):
        dicomio.transcode(src, tmp_path / "o.dcm", "RLELossless", on_error="ignore")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


# ------------------------------------------------------------ recover / fill
@pytest.mark.parametrize("syntax", LOSSLESS)
def test_recover_writes_what_is_there_bit_exact(tmp_path, syntax):
    src = _cut(tmp_path / "in")
    before = snapshot(src.parent)
    out = tmp_path / "o.dcm"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = dicomio.transcode(src, out, syntax, on_error="recover")
    (text,) = _repairs(caught)  # one warning for the file
    assert text.startswith(f"{src}: 2 of 3 frames failed; 2 are incomplete")
    assert "1 (rows 17-19 missing), 2 (rows 0-19 missing)" in text
    assert f"written to {out} as a repaired copy" in text
    assert "first failure: frame 1: the file ends inside this frame" in text
    got = _quiet(out)
    assert got.shape == (3, 20, 24)
    np.testing.assert_array_equal(got[0], GREY16[0])
    np.testing.assert_array_equal(got[1, :17], GREY16[1, :17])
    assert not got[1, 17:].any() and not got[2].any()
    written = _check_marked(out, src, "2 (rows 18-20), 3 (all rows)")
    assert written.file_meta.TransferSyntaxUID == dicomio.tsyntax.lookup(syntax).uid
    assert ds.SOPInstanceUID == written.SOPInstanceUID
    assert snapshot(src.parent) == before


def test_fill_keeps_the_good_frames_bit_exact_and_zeroes_the_bad(tmp_path):
    src = _bad_jpeg(tmp_path)
    good = [k for k in range(140) if k not in BAD]
    source = DicomImage(src).read(good)  # the source's own decode of those frames
    with pytest.warns(DicomioWarning, match="23 of 140 frames failed; 23 were filled "
                      "with 0: 3, 9") as caught:
        dicomio.transcode(src, tmp_path / "o.dcm", "JPEGLSLossless", on_error="fill")
    assert len(_repairs(caught)) == 1
    got = _quiet(tmp_path / "o.dcm")
    assert got.shape == (140, 16, 16)
    np.testing.assert_array_equal(got[good], source)
    assert not got[list(BAD)].any()
    ds = _check_marked(tmp_path / "o.dcm", src, "4 (all rows), 10 (all rows)")
    assert ds.DerivationDescription.endswith(", ...")  # 23 frames: the first 12


def test_recover_of_a_cut_jpeg_and_a_lossy_target(tmp_path):
    data, _ = cut_in_last_frame("JPEGBaseline8Bit")
    src = tmp_path / "cutjpeg.dcm"
    src.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        source = DicomImage(src).read(on_error="recover")
        lossless = dicomio.transcode(src, tmp_path / "ls.dcm", "JPEGLSLossless",
                                     on_error="recover")
        lossy = dicomio.transcode(src, tmp_path / "j2k.dcm", "JPEG2000",
                                  on_error="recover", level=60)
    # The lossless copy holds the tolerant decode bit for bit.
    np.testing.assert_array_equal(_quiet(tmp_path / "ls.dcm"), source)
    assert "Repaired by dicomio" in lossless.DerivationDescription
    # A lossy copy says both things.
    text = lossy.DerivationDescription
    assert "Repaired by dicomio" in text and "Lossy compression with JPEG2000" in text
    assert lossy.LossyImageCompression == "01"
    back = _quiet(tmp_path / "j2k.dcm")
    assert back.shape == TEXTURED.shape
    assert np.abs(back[:2].astype(int) - source[:2]).max() < 8


def test_a_whole_file_with_on_error_is_an_ordinary_copy(tmp_path):
    src = tmp_path / "whole.dcm"
    src.write_bytes(jpeg_with_bad_frames(n=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = dicomio.transcode(src, tmp_path / "o.dcm", "RLELossless", on_error="fill")
    assert ds.SOPInstanceUID == pydicom.dcmread(src).SOPInstanceUID
    assert "SourceImageSequence" not in ds and "DerivationDescription" not in ds


# ------------------------------------------------------------ folder runs
def test_folder_run_reports_failed_then_repaired_files(tmp_path):
    top = tmp_path / "in"
    cut, bad = _cut(top / "a"), _bad_jpeg(top / "b")
    good = top / "good.dcm"
    good.write_bytes(jpeg_with_bad_frames(n=3))
    before = {p: p.read_bytes() for p in (cut, bad, good)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        strict = transcode_folder(top, tmp_path / "strict", "JPEGLSLossless", jobs=2)
    by_name = {Path(r["source"]).name: r for r in strict}
    assert by_name["good.dcm"]["action"] == "transcoded"
    for name, frame in (("cut.dcm", 1), ("bad.dcm", 3)):
        r = by_name[name]
        assert r["action"] == "failed" and not r["ok"] and r["failed_frames"] == {}
        assert r["source"] in r["error"] and f"frame {frame}" in r["error"]
        assert "backends tried" in r["error"]
        assert not Path(r["dest"]).exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports = dicomio.transcode(top, tmp_path / "fill", "JPEGLSLossless",
                                    on_error="fill", jobs=2)
    by_name = {Path(r["source"]).name: r for r in reports}
    assert all(r["ok"] and r["action"] == "transcoded" for r in reports)
    assert by_name["good.dcm"]["failed_frames"] == {}
    assert by_name["good.dcm"]["note"] is None
    frames = by_name["bad.dcm"]["failed_frames"]
    assert sorted(frames, key=int) == [str(k) for k in BAD]
    assert frames["3"]["action"] == "filled"
    assert "contradicts the header" in frames["3"]["error"]
    assert by_name["cut.dcm"]["failed_frames"]["1"]["missing_rows"] == [0, 20]
    assert "2 of 3 frames failed; 2 were filled with 0: 1, 2" in \
        by_name["cut.dcm"]["note"]
    texts = _repairs(caught)
    assert len(texts) == 2  # one per repaired file
    assert {t.split(": ")[0] for t in texts} == {str(cut), str(bad)}
    _check_marked(Path(by_name["cut.dcm"]["dest"]), cut, "2 (all rows), 3 (all rows)")
    assert {p: p.read_bytes() for p in before} == before


def test_transcode_member_carries_the_repair(tmp_path):
    src = _cut(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = transcode_member(src, tmp_path / "o" / "x.dcm", "RLELossless",
                                  on_error="recover")
    assert len(_repairs(caught)) == 1
    assert report["ok"] and report["action"] == "transcoded"
    assert set(report["failed_frames"]) == {"1", "2"}
    assert report["failed_frames"]["1"]["missing_rows"] == [17, 20]
    assert report["failed_frames"]["1"]["missing_bytes"] == 100


# ------------------------------------------------------------ decompress
def test_decompress_strict_writes_nothing_and_recover_marks_the_copy(tmp_path):
    src = _cut(tmp_path / "in")
    out = tmp_path / "o.dcm"
    with pytest.raises(TruncatedError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        decompress(src, out)
    check_error(info.value, src, frame=True)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decompress(src, out, on_error="recover")
    (text,) = _repairs(caught)
    assert f"written to {out} as a repaired copy" in text
    got = _quiet(out)
    np.testing.assert_array_equal(got[0], GREY16[0])
    np.testing.assert_array_equal(got[1, :17], GREY16[1, :17])
    _check_marked(out, src, "2 (rows 18-20), 3 (all rows)")


# ------------------------------------------------------------ NIfTI
def test_nifti_export_fills_a_cut_slice_and_says_so(tmp_path):
    nib = pytest.importorskip("nibabel")
    from dicomio import series as S
    from dicomio.encode.nifti import write_nifti

    vols = mr.phantom(t=1, z=4, y=10, x=12)
    paths = mr.write_slice_series(tmp_path / "in", vols)
    victim = sorted(paths)[1]
    victim.write_bytes(victim.read_bytes()[:-50])
    (series,) = S.scan(tmp_path / "in").series
    with pytest.raises(dicomio.DicomioError, match="frame 0"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        write_nifti(series, tmp_path / "strict.nii.gz")
    assert not (tmp_path / "strict.nii.gz").exists()
    with pytest.raises(ValueError, match="keeps every slice"):
        write_nifti(series, tmp_path / "skip.nii.gz", on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_nifti(series, tmp_path / "fill.nii.gz", on_error="fill")
    assert [w for w in caught if "1 of 4 slices failed" in str(w.message)]
    img = nib.load(tmp_path / "fill.nii.gz")
    assert b"1 of 4 slices repaired" in img.header["descrip"].tobytes()
    import json

    meta = json.loads((tmp_path / "fill.json").read_text())
    assert meta["DicomioOnError"] == "fill"
    ((k, entry),) = meta["DicomioFailedSlices"].items()
    assert entry["action"] == "filled"
    data = np.asarray(img.dataobj)
    assert not data[:, :, int(k)].any() and data.any()
