"""NIfTI export: voxels, qform/sform, sidecar, bval/bvec; and dcm2niix on the same files."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dicomio import series as S
from dicomio.cli import main
from dicomio.encode import mr
from dicomio.encode.nifti import nifti_stem, sidecar, write_nifti

nib = pytest.importorskip("nibabel")

OBLIQUE_ROW = (math.cos(0.3), math.sin(0.3), 0.0)
OBLIQUE_COL = (-math.sin(0.3) * math.cos(0.2), math.cos(0.3) * math.cos(0.2),
               math.sin(0.2))
BVALS = [0, 1000, 1000, 2000]
BVECS = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.6, 0.8), (0.48, 0.6, -0.64)]


def as_nifti(vols: np.ndarray) -> np.ndarray:
    """(t, z, y, x) -> (x, y, z, t) with rows reversed: the layout written."""
    arr = vols[..., ::-1, :]
    return np.transpose(arr, tuple(reversed(range(arr.ndim))))


def ras(affine_lps: np.ndarray, n_rows: int) -> np.ndarray:
    """The NIfTI affine of generated volumes, written out by hand."""
    k, j, i, o = (affine_lps[:3, c] for c in range(4))
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = i, -j, k, o + (n_rows - 1) * j
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ m


def only(result: S.ScanResult) -> S.Series:
    assert len(result.series) == 1, result.summary()
    return result.series[0]


def test_mosaic_dwi_to_nifti(tmp_path: Path) -> None:
    vols = mr.phantom(4, 5, 6, 4)
    mr.write_mosaic_series(tmp_path / "dcm", vols, bvals=BVALS, bvecs=BVECS,
                           row=OBLIQUE_ROW, col=OBLIQUE_COL, flip=True)
    s = only(S.scan(tmp_path / "dcm"))
    out = tmp_path / "sub-01_dwi.nii.gz"
    written = write_nifti(s, out)
    assert [p.name for p in written] == ["sub-01_dwi.nii.gz", "sub-01_dwi.json",
                                         "sub-01_dwi.bval", "sub-01_dwi.bvec"]
    img = nib.load(out)
    np.testing.assert_array_equal(np.asarray(img.dataobj), as_nifti(vols))
    expected = ras(mr.affine((-40.0, -50.0, 10.0), OBLIQUE_ROW, OBLIQUE_COL,
                             (4.0, 3.0, 2.5), flip=True), 6)
    np.testing.assert_allclose(img.get_sform(), expected, atol=1e-5)
    np.testing.assert_allclose(img.get_qform(), expected, atol=1e-5)
    assert int(img.header["qform_code"]) == int(img.header["sform_code"]) == 1
    assert img.header.get_xyzt_units() == ("mm", "sec")
    assert img.header.get_zooms()[3] == pytest.approx(2.0)
    assert (tmp_path / "sub-01_dwi.bval").read_text() == "0 1000 1000 2000\n"
    bvec = np.loadtxt(tmp_path / "sub-01_dwi.bvec")
    np.testing.assert_allclose(bvec.T, s.diffusion["bvecs_voxel"], atol=1e-6)
    # Back to the patient frame through the written affine (FSL convention).
    axes = np.diag([-1.0, -1.0, 1.0]) @ expected[:3, :3]
    axes /= np.linalg.norm(axes, axis=0)
    voxel = bvec.T.copy()
    if np.linalg.det(expected[:3, :3]) > 0:
        voxel[:, 0] *= -1
    # Slices run against row x column here, so the vectors are written
    # reversed, as dcm2niix does: the same diffusion directions.
    np.testing.assert_allclose(-(voxel @ axes.T), BVECS, atol=1e-6)
    meta = json.loads((tmp_path / "sub-01_dwi.json").read_text())
    assert meta["RepetitionTime"] == 2 and meta["EchoTime"] == 0.03
    assert meta["SliceTiming"] == [0.0, 1.2, 0.4, 1.6, 0.8]
    assert meta["Manufacturer"] == "SIEMENS" and meta["ConversionSoftware"] == "dicomio"


def test_rescale_goes_to_the_header_or_the_voxels(tmp_path: Path) -> None:
    vols = mr.phantom(2, 3, 4, 4)
    mr.write_enhanced(tmp_path / "same.dcm", vols, axis="time",
                      rescale=[(2.0, -5.0), (2.0, -5.0)])
    img = nib.load(write_nifti(only(S.scan(tmp_path / "same.dcm")),
                               tmp_path / "same.nii")[0])
    np.testing.assert_array_equal(np.asarray(img.dataobj.get_unscaled()),
                                  as_nifti(vols))
    assert img.dataobj.slope == 2.0 and img.dataobj.inter == -5.0
    mr.write_enhanced(tmp_path / "differ.dcm", vols, axis="time",
                      rescale=[(0.5, 10.0), (2.0, -100.0)])
    img = nib.load(write_nifti(only(S.scan(tmp_path / "differ.dcm")),
                               tmp_path / "differ.nii")[0])
    expected = np.stack([vols[0] * 0.5 + 10, vols[1] * 2.0 - 100])
    np.testing.assert_array_equal(img.get_fdata(), as_nifti(expected))
    assert img.get_data_dtype() == np.float32


def test_sidecar_names_echo_times(tmp_path: Path) -> None:
    vols = mr.phantom(3, 2, 4, 4)
    mr.write_slice_series(tmp_path, vols, axis="EchoNumbers",
                          echo_times=[9.5, 19.0, 28.5])
    meta = sidecar(only(S.scan(tmp_path)))
    assert meta["EchoTimes"] == [0.0095, 0.019, 0.0285]
    assert "EchoNumbers" in meta["VolumeAxis"]


def test_nifti_stem() -> None:
    assert nifti_stem("a/b.c.nii.gz") == Path("a/b.c")
    assert nifti_stem("x.NII") == Path("x")


def test_cli_convert_to_nifti(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                              ) -> None:
    vols = mr.phantom(3, 4, 4, 6)
    mr.write_mosaic_series(tmp_path / "fmri", vols)
    out = tmp_path / "bold.nii.gz"
    assert main(["convert", str(tmp_path / "fmri"), str(out)]) == 0
    assert "bold.json" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), as_nifti(vols))
    assert not (tmp_path / "bold.bval").exists()
    mr.write_slice_series(tmp_path / "fmri", vols[:, :, :, :4], seed="other")
    assert main(["convert", str(tmp_path / "fmri"), str(out)]) == 2
    assert "--series N" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "fmri"), str(out), "--series", "1"]) == 0
    assert nib.load(out).shape == (4, 4, 4, 3)
    assert main(["convert", str(tmp_path / "fmri"), str(out), "--series", "7"]) == 2


# ---------------------------------------------------------------------------
# dcm2niix on the same files
# ---------------------------------------------------------------------------
def _dcm2niix() -> str:
    dcm2niix = pytest.importorskip("dcm2niix", reason="pip install dcm2niix")
    return str(dcm2niix.bin)


def _reference(folder: Path, out: Path) -> Path:
    out.mkdir()
    done = subprocess.run([_dcm2niix(), "-z", "n", "-f", "ref", "-o", str(out),
                           str(folder)], capture_output=True, timeout=120, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    found = sorted(out.glob("ref*.nii"))
    assert len(found) == 1, [p.name for p in out.iterdir()]
    return found[0]


def _write_case(case: str, folder: Path, vols: np.ndarray) -> None:
    if case == "mosaic-fmri":
        mr.write_mosaic_series(folder, vols, row=OBLIQUE_ROW, col=OBLIQUE_COL)
    elif case == "mosaic-dwi-flipped":
        mr.write_mosaic_series(folder, vols, bvals=BVALS, bvecs=BVECS, flip=True,
                               row=OBLIQUE_ROW, col=OBLIQUE_COL)
    elif case == "slices-dwi":
        mr.write_slice_series(folder, vols, axis="AcquisitionNumber", bvals=BVALS,
                              bvecs=BVECS, row=OBLIQUE_ROW, col=OBLIQUE_COL)
    elif case == "slices-time-flipped":
        mr.write_slice_series(folder, vols, flip=True)
    else:
        raise AssertionError(case)


@pytest.mark.parametrize("case", ["mosaic-fmri", "mosaic-dwi-flipped", "slices-dwi",
                                  "slices-time-flipped"])
def test_matches_dcm2niix(tmp_path: Path, case: str) -> None:
    # Enhanced files are left out: on the generated Enhanced MR files
    # dcm2niix 1.0.20260724 sees one dimension ("Dimension 0 Range: 0..19")
    # and interleaves volumes; tests/series/test_enhanced.py checks dicomio's
    # reading of them against the source volumes instead.
    vols = mr.phantom(4, 5, 6, 4)
    folder = tmp_path / "dcm"
    _write_case(case, folder, vols)
    ref_path = _reference(folder, tmp_path / "ref")
    ours_path = tmp_path / "ours.nii"
    assert main(["convert", str(folder), str(ours_path)]) == 0
    ref, ours = nib.load(ref_path), nib.load(ours_path)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(ref.dataobj))
    np.testing.assert_allclose(ours.get_sform(), ref.get_sform(), atol=1e-4)
    np.testing.assert_allclose(ours.get_qform(), ref.get_qform(), atol=1e-4)
    ref_bvec = ref_path.with_suffix(".bvec")
    if "dwi" in case:
        np.testing.assert_allclose(np.loadtxt(tmp_path / "ours.bval"),
                                   np.loadtxt(ref_path.with_suffix(".bval")))
        np.testing.assert_allclose(np.loadtxt(tmp_path / "ours.bvec"),
                                   np.loadtxt(ref_bvec), atol=1e-4)
    else:
        assert not ref_bvec.exists() and not (tmp_path / "ours.bvec").exists()


def test_ct_volume_and_refusals(tmp_path: Path) -> None:
    from dicomio.encode import make_dataset, save_dataset
    from dicomio.errors import DicomioError

    vol = mr.phantom(1, 3, 4, 5)[0]
    for k in range(3):
        ds = make_dataset(vol[k], modality="CT", series_instance_uid="1.2.3",
                          uid_seed=f"ct{k}", pixel_spacing=(0.5, 0.7),
                          image_position=(-10, 20, 2.5 * k),
                          image_orientation=(1, 0, 0, 0, 1, 0), rescale=(1, -1024))
        save_dataset(ds, tmp_path / f"ct{k}.dcm")
    s = only(S.scan(tmp_path))
    written = write_nifti(s, tmp_path / "ct.nii")
    assert [p.name for p in written] == ["ct.nii", "ct.json"]
    img = nib.load(tmp_path / "ct.nii")
    np.testing.assert_array_equal(img.get_fdata(), as_nifti(vol[None])[..., 0] - 1024.0)
    lps = mr.affine((-10.0, 20.0, 0.0), (1, 0, 0), (0, 1, 0), (2.5, 0.5, 0.7))
    np.testing.assert_allclose(img.affine, ras(lps, 4), atol=1e-6)
    with pytest.raises(DicomioError, match=r"\.nii or \.nii\.gz"):
        write_nifti(s, tmp_path / "ct.img")


def test_cli_info_names_the_volumes(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    mr.write_mosaic_series(tmp_path, mr.phantom(3, 4, 4, 6))
    assert main(["info", str(tmp_path), "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)["series"]
    assert info["shape"] == [3, 4, 4, 6] and info["volumes"] == 3
    assert info["volume_axis"] == ["AcquisitionNumber"] and info["mosaic"] is True
