"""Series.read(display=True): the displayed volume (dicomio.series.display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from dicomio import DicomImage, encode
from dicomio import series as S

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _stack(tmp_path: Path, n: int = 4, window: bool = True,
           syntax: str = "ExplicitVRLittleEndian") -> list[np.ndarray]:
    uid = generate_uid()
    rng = np.random.default_rng(7)
    slices = []
    for k in range(n):
        arr = rng.integers(0, 3000, (16, 20)).astype(np.uint16) + 100 * k
        slices.append(arr)
        kw = {"window": (40 + 10 * k, 400)} if window else {}
        encode.write(tmp_path / f"s{k}.dcm", arr, syntax, modality="CT",
                     series_instance_uid=uid, instance_number=k + 1,
                     image_position=(0.0, 0.0, 2.0 * k), image_orientation=AXIAL,
                     pixel_spacing=(0.5, 0.5), rescale=(1, -1024), **kw)
    return slices


@pytest.mark.parametrize("syntax", ["ExplicitVRLittleEndian", "RLELossless"])
def test_each_slice_as_its_file_shows_it(tmp_path, syntax):
    _stack(tmp_path, syntax=syntax)
    s = S.scan(tmp_path).series[0]
    vol = s.read(display=True)
    assert vol.dtype == np.uint8 and vol.shape == (4, 16, 20)
    for k, (path, _) in enumerate(s.slices):
        assert np.array_equal(vol[k], DicomImage(path).read(display=True))
    rec = s.display_record
    assert [r["voi"]["center"] for r in rec["per_slice"]] == [40.0, 50.0, 60.0, 70.0]
    assert np.array_equal(s.read(2, display=True), vol[2])
    assert np.array_equal(s.read([3, 1], display=True), vol[[3, 1]])


def test_one_window_for_every_slice(tmp_path):
    _stack(tmp_path)
    s = S.scan(tmp_path).series[0]
    vol = s.read(display=True, window=(500, 1000))
    assert "per_slice" not in s.display_record
    assert s.display_record["voi"]["source"] == "argument"
    hu = s.read(rescale=True).astype(np.float64)
    ref = np.clip(((hu - 499.5) / 999 + 0.5) * 255, 0, 255)
    assert np.abs(vol - ref).max() <= 1


def test_slices_without_voi_share_one_range(tmp_path):
    slices = _stack(tmp_path, window=False)
    s = S.scan(tmp_path).series[0]
    vol = s.read(display=True)
    lo = min(a.min() for a in slices) - 1024.0
    hi = max(a.max() for a in slices) - 1024.0
    assert (s.display_record["voi"]["low"], s.display_record["voi"]["high"]) == (lo, hi)
    hu = s.read(rescale=True).astype(np.float64)
    assert np.abs(vol - (hu - lo) * 255 / (hi - lo)).max() <= 0.5 + 1e-9
