"""Series.read: values, rescale, dtypes, headers parsed once, errors (dicomio.series.reader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    generate_uid,
)

from dicomio import series as S
from tests._builders import (
    AXIAL,
    COLS,
    ROWS,
    pixels,
    write_ct,
    write_stack,
)


def test_rescale_integral_keeps_integers(tmp_path: Path) -> None:
    write_stack(tmp_path, 3, rescale=(1.0, -1024.0), BitsStored=12, HighBit=11)
    s = S.scan(tmp_path).series[0]
    # 12-bit unsigned plus -1024 fits int16.
    assert s.rescaled_dtype() == np.int16
    vol = s.read(rescale=True)
    assert vol.dtype == np.int16
    for k in range(3):
        np.testing.assert_array_equal(vol[k], pixels(k).astype(np.int32) % 4096 - 1024)


def test_rescale_differs_between_files(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, (slope, icpt) in enumerate([(1.0, 0.0), (2.0, -5.0), (0.25, 3.5)]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k), series_uid=uid,
                 rescale=(slope, icpt))
    s = S.scan(tmp_path).series[0]
    vol = s.read(rescale=True)
    assert vol.dtype == np.float32
    np.testing.assert_allclose(vol[0], pixels(0))
    np.testing.assert_allclose(vol[1], pixels(1) * 2.0 - 5.0)
    np.testing.assert_allclose(vol[2], pixels(2) * 0.25 + 3.5)
    np.testing.assert_array_equal(s.read(), np.stack([pixels(k) for k in range(3)]))


def test_no_rescale_attributes_keep_raw_dtype(tmp_path: Path) -> None:
    write_stack(tmp_path, 2, rescale=None)
    s = S.scan(tmp_path).series[0]
    assert s.rescale_params == [None, None]
    assert s.read(rescale=True).dtype == np.uint16


def test_mixed_transfer_syntaxes_in_one_series(tmp_path: Path) -> None:
    encode = pytest.importorskip("dicomio.encode")
    uid = generate_uid()
    syntaxes = ["ExplicitVRLittleEndian", "RLELossless", "JPEGLSLossless",
                "JPEG2000Lossless", "JPEGLosslessSV1"]
    order = [3, 0, 4, 1, 2]  # which slice each syntax holds
    for ts, k in zip(syntaxes, order):
        encode.write(tmp_path / ts, pixels(k), ts, modality="CT",
                     series_instance_uid=uid, instance_number=len(syntaxes) - k,
                     image_position=(0.0, 0.0, 4.0 * k),
                     image_orientation=AXIAL, pixel_spacing=(0.5, 0.7))
    s = S.scan(tmp_path).series[0]
    assert len(s.transfer_syntaxes) == 5
    assert [Path(p).name for p, _ in s.slices] == [
        syntaxes[order.index(k)] for k in range(5)]
    vol = s.read()
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k))
    assert None not in s.decoders
    assert s.photometric["output"] == "MONOCHROME2"
    assert s.geometry.spacing == pytest.approx((4.0, 0.5, 0.7))


def test_memory_limit(tmp_path: Path) -> None:
    from dicomio.errors import MemoryLimitError

    write_stack(tmp_path, 3)
    s = S.scan(tmp_path).series[0]
    with pytest.raises(MemoryLimitError):
        s.read(memory_limit=1000)


def test_colour_series_shape_and_report(tmp_path: Path) -> None:
    encode = pytest.importorskip("dicomio.encode")
    uid = generate_uid()
    rgb = [np.full((ROWS, COLS, 3), (10 * k, 20 * k, 30 * k), np.uint8) for k in range(3)]
    for k, ts in enumerate(["RLELossless", "ExplicitVRLittleEndian", "RLELossless"]):
        encode.write(tmp_path / f"c{2 - k}", rgb[k], ts, series_instance_uid=uid,
                     image_position=(0.0, 0.0, float(k)), image_orientation=AXIAL,
                     pixel_spacing=(1.0, 1.0))
    s = S.scan(tmp_path).series[0]
    assert s.shape == (3, ROWS, COLS, 3) and s.dtype == np.uint8
    vol = s.read()
    np.testing.assert_array_equal(vol, np.stack(rgb))
    assert s.photometric["output"] == "RGB" and not s.photometric["mismatch"]


def test_decode_error_names_the_file(tmp_path: Path) -> None:
    from dicomio.errors import DicomioError

    _, _, truth = write_stack(tmp_path, 3)
    victim = next(p for p, k in truth.items() if k == 1)
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:100]  # truncated pixel data
    ds.save_as(victim, enforce_file_format=True)
    s = S.scan(tmp_path).series[0]
    with pytest.raises(DicomioError, match=Path(victim).name):
        s.read()
    np.testing.assert_array_equal(s.read(0), pixels(0))


def test_backend_list_is_accepted(tmp_path):
    # A list of backends (tried in order) works for series as for one file.
    from dicomio.encode import write

    vols = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    for k in range(3):
        write(tmp_path / f"s{k}", vols[k], "JPEG2000Lossless",
              image_position=[0, 0, float(k)], image_orientation=[1, 0, 0, 0, 1, 0],
              pixel_spacing=[1, 1], series_instance_uid="1.2.3.4", instance_number=k + 1)
    (s,) = S.read_series(tmp_path)
    out = s.read(backend=["pylibjpeg", "imagecodecs"])
    np.testing.assert_array_equal(out, vols)
    assert s.decoders == ["pylibjpeg"] * 3


def test_rescale_cannot_wrap_and_matches_single_files(tmp_path):
    # Unsigned 16-bit data with intercept -32768: the stored value 65535 does
    # not fit int16 before the intercept is added; the result must not wrap.
    from dicomio import DicomImage
    from dicomio.encode import write

    raw = np.array([[0, 1, 65534, 65535]] * 4, dtype=np.uint16)
    for k in range(2):
        write(tmp_path / f"s{k}", raw, "ExplicitVRLittleEndian",
              image_position=[0, 0, float(k)], image_orientation=[1, 0, 0, 0, 1, 0],
              pixel_spacing=[1, 1], series_instance_uid="1.2.3.9",
              instance_number=k + 1, rescale=(1, -32768))
    (s,) = S.read_series(tmp_path)
    vol = s.read(rescale=True)
    assert vol.dtype == np.int16
    assert vol[0, 0].tolist() == [-32768, -32767, 32766, 32767]
    one = DicomImage(tmp_path / "s0")
    assert one.rescaled_dtype == vol.dtype
    np.testing.assert_array_equal(one.read(rescale=True), vol[0])


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    original = pydicom.dcmread

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    return calls


def test_reading_parses_no_header_again(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write_stack(tmp_path, 5, BitsStored=12, HighBit=11)
    calls = count_parses(monkeypatch)
    s = S.scan(tmp_path).series[0]
    assert len(calls) == 5
    vol = s.read(rescale=True)
    assert s.shape == (5, 16, 16)
    assert len(calls) == 5  # neither the probe nor the decode parsed again
    assert vol.dtype == np.int16
    for k in range(5):
        np.testing.assert_array_equal(vol[k], pixels(k).astype(np.int32) % 4096 - 1024)
    assert s.decoders == ["native"] * 5


def test_a_file_changed_after_the_scan_is_opened_afresh(tmp_path: Path) -> None:
    _, _, truth = write_stack(tmp_path, 3)
    s = S.scan(tmp_path).series[0]
    path = s.slices[1][0]
    k = truth[path]
    ds = pydicom.dcmread(path)
    ds.ImageComments = "a longer header moves Pixel Data" * 4
    ds.save_as(path)
    np.testing.assert_array_equal(s.read(1), pixels(k))
    np.testing.assert_array_equal(s.read(), np.stack([pixels(j) for j in range(3)]))


def test_deflated_slices_are_opened_by_the_image_reader(tmp_path: Path) -> None:
    uid = generate_uid()
    for k in range(2):
        path = write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k),
                        series_uid=uid)
        if k == 1:
            ds = pydicom.dcmread(path)
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            ds.save_as(path, enforce_file_format=True)
    s = S.scan(tmp_path).series[0]
    assert [r.tell is None for r in s._recs] == [False, True]
    np.testing.assert_array_equal(s.read(rescale=True),
                                  np.stack([pixels(0), pixels(1)]).astype(np.int32)
                                  - 1024)


def test_in_place_rescale_mixes_slices_with_and_without_one(tmp_path: Path) -> None:
    uid = generate_uid()
    for k, rescale in enumerate([(1.0, -1024.0), None, (1.0, 0.0), (1.0, 7.0)]):
        write_ct(tmp_path / f"f{k}", index=k, position=(0, 0, k), series_uid=uid,
                 rescale=rescale, BitsStored=12, HighBit=11)
    s = S.scan(tmp_path).series[0]
    for threads in (1, 3):
        vol = s.read(rescale=True, threads=threads)
        assert vol.dtype == np.int16
        expected = [pixels(k).astype(np.int32) % 4096 + icpt
                    for k, icpt in enumerate([-1024, 0, 0, 7])]
        np.testing.assert_array_equal(vol, np.stack(expected))
        # Batches out of order take the copying path: same values.
        np.testing.assert_array_equal(s.read([3, 0], rescale=True, threads=threads),
                                      np.stack([expected[3], expected[0]]))


def test_from_header_warn_false_keeps_defects_in_warnings_only(tmp_path: Path) -> None:
    # The napari chunks open files in dask's threads with warn=False: the
    # defects stay on the image, and no thread's warning filters are touched.
    import warnings

    from dicomio import encode
    from dicomio.image import DicomImage, DicomioWarning

    path = tmp_path / "x.dcm"
    encode.write(path, np.arange(16, dtype=np.uint16).reshape(4, 4),
                 "ExplicitVRLittleEndian")
    with open(path, "rb") as fh:
        ds = pydicom.dcmread(fh, stop_before_pixels=True)
        tell = fh.tell()
    del ds.PhotometricInterpretation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = DicomImage._from_header(str(path), ds, tell, warn=False)
    assert any("Photometric" in w for w in img.warnings)
    np.testing.assert_array_equal(img.read(), np.arange(16).reshape(4, 4))
    img.close()
    with pytest.warns(DicomioWarning, match="Photometric"):
        DicomImage._from_header(str(path), ds, tell).close()
