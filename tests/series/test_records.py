"""Per-frame records: enhanced and classic multi-frame, RT Dose, raw values (dicomio.series.records)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.uid import (
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from dicomio import series as S
from dicomio.dataset import elements as _values
from tests._builders import (
    COLS,
    ROWS,
    TEST_FILES,
    assert_affine_reproduces,
    ct_dataset,
    enhanced_ct,
    pixels,
)


def test_enhanced_multiframe_with_reversed_per_frame_positions(tmp_path: Path) -> None:
    positions = enhanced_ct(tmp_path / "enhanced", 5)
    s = S.scan(tmp_path / "enhanced").series[0]
    assert s.kind == "volume"
    assert s.slices == [(str(tmp_path / "enhanced"), f) for f in (4, 3, 2, 1, 0)]
    assert s.geometry.spacing == pytest.approx((1.5, 0.5, 0.7))
    assert s.geometry.origin == pytest.approx((1.0, 2.0, 30.0))
    assert_affine_reproduces(s, positions)
    assert s.warnings == []
    vol = s.read()
    assert vol.shape == (5, ROWS, COLS) and vol.dtype == np.uint16
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k))
    np.testing.assert_array_equal(s.read(0), pixels(0))
    np.testing.assert_array_equal(s.read([4, 1]), np.stack([pixels(4), pixels(1)]))


def test_enhanced_multiframe_per_frame_rescale(tmp_path: Path) -> None:
    slopes = [1.0, 2.0, 0.5]
    enhanced_ct(tmp_path / "enh", 3, slopes=slopes)
    s = S.scan(tmp_path).series[0]
    assert s.rescale_params == [(m, -10.0) for m in slopes]
    vol = s.read(rescale=True)
    assert vol.dtype == np.float32
    for k, m in enumerate(slopes):
        np.testing.assert_allclose(vol[k], pixels(k) * m - 10.0, rtol=1e-6)


def test_classic_multiframe_keeps_frame_order(tmp_path: Path) -> None:
    ds = ct_dataset(index=0, position=None, orientation=None, series_uid=generate_uid(),
                    rescale=None)
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    ds.NumberOfFrames = 4
    ds.PixelData = np.stack([pixels(3 - f) for f in range(4)]).tobytes()
    ds.save_as(tmp_path / "cine", enforce_file_format=True)
    # A second file of the same series stays a series of its own.
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(tmp_path / "cine2", enforce_file_format=True)
    result = S.scan(tmp_path)
    assert len(result) == 2
    s = result[0]
    assert s.kind == "frames" and s.warnings == []
    assert s.slices == [(str(tmp_path / "cine"), f) for f in range(4)]
    assert s.geometry.z_source == "frame index"
    vol = s.read()
    assert [int(v) // 1000 for v in vol[:, 0, 0]] == [3, 2, 1, 0]


def test_rt_dose_grid_frame_offsets() -> None:
    # 15 dose planes 5 mm apart, positioned by GridFrameOffsetVector.
    s = S.scan(TEST_FILES / "rtdose.dcm").series[0]
    head = s.headers[0]
    assert s.kind == "volume" and s.n_slices == 15
    assert [f for _, f in s.slices] == list(range(15))
    assert s.geometry.spacing == pytest.approx((5.0, 10.0, 10.0))
    z0 = float(head.ImagePositionPatient[2])
    offsets = [float(v) for v in head.GridFrameOffsetVector]
    np.testing.assert_allclose(s.slice_locations, [z0 + o for o in offsets])
    # DoseGridScaling is the rescale to Gy.
    scaling = float(head.DoseGridScaling)
    assert s.rescale_params == [(scaling, 0.0)] * 15
    dose = s.read(rescale=True)
    expected = pydicom.dcmread(TEST_FILES / "rtdose.dcm").pixel_array * scaling
    np.testing.assert_allclose(dose, expected, rtol=1e-12)


def test_raw_value_fast_path_agrees_with_pydicom_on_every_corpus_file() -> None:
    # The scan converts plain elements (binary integers, IS, DS, UI, CS)
    # itself; on every header of both corpora it must give pydicom's values.
    import warnings

    from pydicom.dataelem import RawDataElement

    from tests.conftest import all_corpus_files

    checked = 0
    for path in all_corpus_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - unreadable corpus files are other tests' business
                continue
            for tag in list(ds._dict):
                elem = ds._dict[tag]
                if not isinstance(elem, RawDataElement):
                    continue
                fast = _values.raw_value(elem)
                if fast is _values.SLOW:
                    continue
                try:
                    slow = ds[tag].value
                except Exception:  # noqa: BLE001 - pydicom refuses it: so must _get
                    continue
                want = list(slow) if isinstance(slow, (list, tuple, MultiValue)) else slow
                assert fast == want, (path.name, tag, fast, want)
                checked += 1
    assert checked > 3000  # 4,456 elements with pydicom-data installed
