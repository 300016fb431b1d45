"""ICC profiles applied through Pillow's ImageCms, against pydicom's apply_icc_profile."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_icc_profile
from pydicom.sequence import Sequence

import dicomio
from dicomio.encode import make_dataset
from dicomio.values.icc import icc_transform, profile_bytes

from ._reference import assert_close


def _crayons() -> bytes:
    with open(get_testdata_file("crayons.icc"), "rb") as fh:
        return fh.read()


def _rgb() -> np.ndarray:
    return np.random.default_rng(6).integers(0, 256, (2, 24, 32, 3)).astype(np.uint8)


def test_icc_profile_applied_like_pydicom():
    rgb = _rgb()
    ds = make_dataset(rgb, "ExplicitVRLittleEndian", ICCProfile=_crayons())
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    rec = img.display_record["icc"]
    assert rec["applied"] is True and "ImageCms" in rec["how"]
    ref = apply_icc_profile(rgb.copy(), ds)
    assert_close(ours, ref.astype(np.float64))
    assert not np.array_equal(ours, rgb)  # the profile really changed the colours


def test_icc_profile_in_optical_path_sequence():
    ds = make_dataset(_rgb()[0], "ExplicitVRLittleEndian")
    path = Dataset()
    path.ICCProfile = _crayons()
    ds.OpticalPathSequence = Sequence([path])
    assert profile_bytes(ds) == _crayons()
    img = dicomio.DicomImage(ds)
    img.read(display=True)
    assert img.display_record["icc"]["applied"] is True


def test_unusable_profile_is_reported_not_applied():
    rgb = _rgb()[0]
    ds = make_dataset(rgb, "ExplicitVRLittleEndian", ICCProfile=b"not a profile")
    tr = icc_transform(ds)
    assert tr is not None and not tr.usable
    img = dicomio.DicomImage(ds)
    assert np.array_equal(img.read(display=True), rgb)
    rec = img.display_record["icc"]
    assert rec["applied"] is False and "not usable" in rec["reason"]


def test_no_profile_no_record():
    ds = make_dataset(_rgb()[0], "ExplicitVRLittleEndian")
    assert icc_transform(ds) is None


@pytest.mark.parametrize("name", ["SC_rgb.dcm", "US1_J2KR.dcm"])
def test_colour_files_without_profile_are_rgb_unchanged(corpus, name):
    img = dicomio.DicomImage(str(corpus(name)))
    assert np.array_equal(img.read(display=True), img.read())
