"""The napari reader without Qt: reader functions and napari's ViewerModel."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("dask")

import dask.array as da  # noqa: E402
import npe2  # noqa: E402
import pydicom  # noqa: E402
from napari.components import ViewerModel  # noqa: E402
from napari.utils.notifications import notification_manager  # noqa: E402

import dicomio  # noqa: E402
from dicomio import DicomioError, SeriesError, samples  # noqa: E402
from dicomio._napari import _lazy, _reader, _sample, get_reader, read_dicom  # noqa: E402
from dicomio.image import DicomImage  # noqa: E402
from dicomio.tsyntax import lookup  # noqa: E402
from tests.conftest import PYDICOM_FILES, corpus_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ROWS, COLS = 24, 20


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_state():
    notification_manager.records.clear()
    _lazy.clear_caches()
    yield
    notification_manager.records.clear()
    _lazy.clear_caches()


def warnings_shown() -> list[str]:
    return [str(n.message) for n in notification_manager.records
            if str(n.severity).lower().endswith("warning")]


def slice_pixels(k: int) -> np.ndarray:
    """Stored values of slice ``k`` (12-bit): -150 + 50 * k + (pixel % 97) HU.

    Inside the files' window (40/400), so slices are visible on screen.
    """
    hu = -150 + 50 * k + np.arange(ROWS * COLS).reshape(ROWS, COLS) % 97
    return (hu + 1024).astype(np.uint16)


def slice_hu(k: int) -> np.ndarray:
    return slice_pixels(k).astype(np.int64) - 1024


def write_ct_folder(folder: Path, n: int = 6, *, step: float = 2.5,
                    origin: tuple[float, float, float] = (-30.0, -40.0, 12.0),
                    skip: tuple[int, ...] = (), seed: int = 1,
                    transfer_syntax: str = "JPEG2000Lossless") -> dict[Path, int]:
    """Compressed CT slices with shuffled, meaningless names; {path: slice}."""
    from dicomio import encode

    folder.mkdir(parents=True, exist_ok=True)
    order = [k for k in range(n) if k not in skip]
    random.Random(seed).shuffle(order)
    truth = {}
    for rank, k in enumerate(order):
        path = folder / f"IM{random.Random(seed * 100 + rank).getrandbits(32):08X}"
        encode.write(
            path, slice_pixels(k), transfer_syntax, modality="CT",
            sop_class_uid=CT_IMAGE, pixel_spacing=(0.7, 0.6),
            image_position=(origin[0], origin[1], origin[2] + k * step),
            image_orientation=AXIAL, rescale=(1, -1024), window=(40, 400),
            series_instance_uid="1.2.826.0.1.3680043.10.1.7",
            study_instance_uid="1.2.826.0.1.3680043.10.1",
            series_description="Chest 2.5 mm", instance_number=rank + 1,
            bits_stored=12)
        truth[path] = k
    return truth


@pytest.fixture
def ct_folder(tmp_path: Path) -> Path:
    write_ct_folder(tmp_path / "ct")
    return tmp_path / "ct"


class DecodeCounter:
    """Counts frames actually decoded, by (file name, frame)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, int]] = []
        original = DicomImage._decode_into

        def counting(img: DicomImage, i: int, *args: Any, **kwargs: Any) -> Any:
            self.calls.append((Path(img.path or "").name, i))
            return original(img, i, *args, **kwargs)

        monkeypatch.setattr(DicomImage, "_decode_into", counting)


# ---------------------------------------------------------------------------
# get_reader
# ---------------------------------------------------------------------------
def test_get_reader_accepts_files_folders_lists_and_dicomdir(ct_folder: Path) -> None:
    files = sorted(str(p) for p in ct_folder.iterdir())
    assert get_reader(str(samples.path("JPEGBaseline8Bit"))) is read_dicom
    assert get_reader(str(ct_folder)) is read_dicom
    assert get_reader(files) is read_dicom
    assert get_reader(str(PYDICOM_FILES / "dicomdirtests" / "DICOMDIR")) is read_dicom
    assert get_reader(str(PYDICOM_FILES / "dicomdirtests")) is read_dicom
    # No preamble, no 'DICM': still DICOM.
    assert get_reader(str(corpus_file("OT-PAL-8-face.dcm"))) is read_dicom


def test_get_reader_declines_non_dicom_and_never_raises(tmp_path: Path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file, whatever the extension says\n" * 10)
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    empty = tmp_path / "empty"
    empty.mkdir()
    others = tmp_path / "others"
    others.mkdir()
    shutil.copy(text, others / "a.txt")
    shutil.copy(png, others / "b.png")
    reports = tmp_path / "reports"  # DICOM, but no image in it
    reports.mkdir()
    shutil.copy(corpus_file("test-SR.dcm"), reports / "sr.dcm")
    shutil.copy(corpus_file("rtplan.dcm"), reports / "plan.dcm")
    for path in (text, png, empty, others, reports, tmp_path / "missing.dcm"):
        assert get_reader(str(path)) is None, path
    assert get_reader([]) is None
    assert get_reader([str(text), str(png)]) is None
    assert get_reader(12345) is None  # type: ignore[arg-type]
    assert get_reader(None) is None  # type: ignore[arg-type]


def test_a_refusal_says_why_in_a_notification(tmp_path: Path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file\n")
    empty = tmp_path / "empty.dcm"
    empty.touch()
    folder = tmp_path / "no_images"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing to see")
    expected = {
        text: "not a DICOM file (no 'DICM' prefix at byte 128",
        empty: "empty file (0 bytes)",
        folder: "no DICOM image found in this folder",
        tmp_path / "gone.dcm": "no such file or folder",
    }
    for path, reason in expected.items():
        notification_manager.records.clear()
        assert get_reader(str(path)) is None
        shown = warnings_shown()
        assert len(shown) == 1, shown
        assert shown[0].startswith(f"dicomio did not read {path}: {reason}"), shown
    # What it accepts raises no notification.
    notification_manager.records.clear()
    assert get_reader(str(samples.path("RLELossless"))) is read_dicom
    assert warnings_shown() == []


def test_get_reader_finds_images_in_subfolders(tmp_path: Path) -> None:
    write_ct_folder(tmp_path / "PATIENT" / "STUDY" / "SERIES", n=2)
    (tmp_path / "README.txt").write_text("exported by a scanner")
    assert get_reader(str(tmp_path)) is read_dicom


def test_get_reader_folder_check_is_bounded(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Many DICOM files without pixels: only a few headers are parsed.
    sr = corpus_file("test-SR.dcm")
    for i in range(40):
        shutil.copy(sr, tmp_path / f"sr{i:03d}.dcm")
    parsed: list[str] = []
    original = _reader._is_image_file

    def spy(path: str) -> bool:
        parsed.append(path)
        return original(path)

    monkeypatch.setattr(_reader, "_is_image_file", spy)
    assert get_reader(str(tmp_path)) is None
    assert len(parsed) == _reader._MAX_HEADERS


# ---------------------------------------------------------------------------
# Single files
# ---------------------------------------------------------------------------
def test_compressed_ct_file_in_hu_with_window_and_mm() -> None:
    path = samples.path("JPEGLSLossless")
    (data, kwargs, layer_type), = read_dicom(str(path))
    assert layer_type == "image"
    assert isinstance(data, np.ndarray) and data.ndim == 2
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    expected = samples.expected("JPEGLSLossless").astype(np.int64) * slope + intercept
    np.testing.assert_array_equal(data, expected)
    assert data.dtype == DicomImage(path).rescaled_dtype
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    assert kwargs["contrast_limits"] == pytest.approx(
        (center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2))
    dy, dx = (float(v) for v in ds.PixelSpacing)
    assert kwargs["scale"] == pytest.approx((dy, dx))
    x0, y0, _ = (float(v) for v in ds.ImagePositionPatient)
    assert kwargs["translate"] == pytest.approx((y0, x0))
    assert kwargs["units"] == ("mm", "mm")
    assert kwargs["axis_labels"] == ("y", "x")
    assert kwargs["rgb"] is False
    # SeriesDescription (Modality #SeriesNumber), nothing else.
    assert kwargs["name"] == (f"{ds.SeriesDescription} ({ds.Modality} "
                              f"#{ds.SeriesNumber})")
    md = kwargs["metadata"]
    assert md["TransferSyntaxUID"] == lookup("JPEGLSLossless").uid
    assert md["decoder"] and isinstance(md["decoder"], str)
    assert md["photometric"]["output"] == "MONOCHROME2"
    assert md["photometric"]["mismatch"] is False
    assert md["header"]["Modality"] == "CT"
    assert "PixelData" not in md["header"]
    json.dumps(md)  # JSON-friendly throughout
    assert warnings_shown() == []


def test_colour_jpeg_is_rgb_and_reported_converted_without_a_warning() -> None:
    (data, kwargs, _), = read_dicom(str(samples.path("JPEGBaseline8Bit")))
    assert kwargs["rgb"] is True
    assert data.shape == (64, 96, 3) and data.dtype == np.uint8
    report = kwargs["metadata"]["photometric"]
    assert report["converted"] and not report["mislabelled"]
    assert report["declared"] == "YBR_FULL_422" and report["output"] == "RGB"
    # The colour state is in the metadata (and the widget), not the name.
    ds = pydicom.dcmread(samples.path("JPEGBaseline8Bit"), stop_before_pixels=True)
    assert kwargs["name"] == f"{ds.SeriesDescription} (OT #{ds.SeriesNumber})"
    assert kwargs["contrast_limits"] == (0.0, 255.0)
    # Colour really differs between channels (not a grey image in RGB).
    assert np.abs(data[..., 0].astype(int) - data[..., 2]).max() > 50
    assert warnings_shown() == []


def test_mislabelled_colour_warns_and_reports_it(tmp_path: Path) -> None:
    ds = pydicom.dcmread(samples.path("JPEGBaseline8Bit"))
    ds.PhotometricInterpretation = "RGB"  # the JPEG stream is JFIF YCbCr
    path = tmp_path / "mislabelled.dcm"
    ds.save_as(path)
    (data, kwargs, _), = read_dicom(str(path))
    assert kwargs["metadata"]["photometric"]["mislabelled"] is True
    assert "[" not in kwargs["name"] and "mislabel" not in kwargs["name"]
    shown = warnings_shown()
    assert len(shown) == 1
    assert str(path) in shown[0] and "mislabelled" in shown[0]
    assert "RGB" in shown[0] and "YBR_FULL_422" in shown[0]
    assert "DICOM header widget" in shown[0]


def test_monochrome1_uses_an_inverted_colormap(tmp_path: Path) -> None:
    ds = pydicom.dcmread(samples.path("JPEGLSNearLossless"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = tmp_path / "mono1.dcm"
    ds.save_as(path)
    (_, kwargs, _), = read_dicom(str(path))
    assert kwargs["colormap"] == "gray_r"


def test_palette_colour_opens_as_an_rgb_layer() -> None:
    path = corpus_file("OT-PAL-8-face.dcm")
    (data, kwargs, _), = read_dicom(str(path))
    assert data.dtype == np.uint8 and kwargs["rgb"] is True
    assert data.shape[-1] == 3 and "colormap" not in kwargs
    assert kwargs["contrast_limits"] == (0.0, 255.0)
    # The palette applied, as read(display=True) and pydicom's apply_color_lut give.
    from pydicom.pixels import apply_color_lut

    with pytest.warns(dicomio.DicomioWarning, match="Transfer Syntax"):
        img = dicomio.DicomImage(str(path))
    np.testing.assert_array_equal(np.asarray(data), img.read(display=True))
    ds = pydicom.dcmread(path, force=True)
    expected = apply_color_lut(img.read(), ds)[..., :3] * (255 / 65535)
    assert np.abs(np.asarray(data) - expected).max() <= 1
    assert kwargs["metadata"]["display"]["palette"]["entries"] == 200
    # The file has no Transfer Syntax UID: tolerated, and said.
    assert any("Transfer Syntax" in text for text in warnings_shown())
    viewer = ViewerModel()
    layer = viewer.add_image(data, **kwargs)
    assert layer.rgb


def test_palette_stack_is_a_lazy_rgb_layer(corpus) -> None:
    (data, kwargs, _), = read_dicom(str(corpus("OBXXXX1A_2frame.dcm")))
    assert kwargs["rgb"] is True and data.shape == (2, 600, 800, 3)
    assert hasattr(data, "dask")
    np.testing.assert_array_equal(
        data.compute(),
        dicomio.DicomImage(str(corpus("OBXXXX1A_2frame.dcm"))).read(display=True))


def test_window_presets_become_contrast_limits(tmp_path: Path) -> None:
    from dicomio import encode

    path = tmp_path / "ct.dcm"
    hu = np.arange(-1000, 1048, dtype=np.int16).reshape(32, 64)
    encode.write(path, hu, "ExplicitVRLittleEndian", window=([40, -600], [400, 1500]),
                 WindowCenterWidthExplanation=["SOFT", "LUNG"], modality="CT")
    (data, kwargs, _), = read_dicom(str(path))
    shown = kwargs["metadata"]["display"]
    assert [p["label"] for p in shown["presets"]] == ["SOFT: C 40 / W 400",
                                                      "LUNG: C -600 / W 1500"]
    assert kwargs["contrast_limits"] == tuple(shown["presets"][0]["limits"])
    assert shown["presets"][1]["limits"] == [-1350.0, 149.0]
    assert shown["inversion"] is None


def test_monochrome1_keeps_modality_values_and_inverts_the_colormap(corpus) -> None:
    (data, kwargs, _), = read_dicom(str(corpus("RG3_UNCR.dcm")))
    assert kwargs["colormap"] == "gray_r"
    np.testing.assert_array_equal(np.asarray(data),
                                  dicomio.DicomImage(str(corpus("RG3_UNCR.dcm"))).read())
    assert kwargs["metadata"]["display"]["inversion"] == "MONOCHROME1"


def test_flat_image_never_gets_equal_limits(tmp_path: Path) -> None:
    from dicomio import encode

    path = tmp_path / "flat.dcm"
    encode.write(path, np.full((8, 8), 7, np.uint8), "RLELossless")
    (_, kwargs, _), = read_dicom(str(path))
    lo, hi = kwargs["contrast_limits"]
    assert hi > lo and lo <= 7 <= hi


# ---------------------------------------------------------------------------
# Window / contrast helpers
# ---------------------------------------------------------------------------
def _voi(**attrs: Any) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def test_window_limits_linear_exact_multi_value_and_functional_groups() -> None:
    assert _reader.window_limits(_voi(WindowCenter=40, WindowWidth=400)) == (-160, 239)
    exact = _voi(WindowCenter=40, WindowWidth=400, VOILUTFunction="LINEAR_EXACT")
    assert _reader.window_limits(exact) == (-160, 240)
    assert _reader.window_limits(
        _voi(WindowCenter=[40, 300], WindowWidth=[400, 1500])) == (-160, 239)
    assert _reader.window_limits(_voi(WindowCenter=40, WindowWidth=0)) is None
    assert _reader.window_limits(_voi(WindowCenter=40)) is None
    voi = _voi(WindowCenter=100, WindowWidth=50)
    shared = _voi(FrameVOILUTSequence=[voi])
    enhanced = _voi(SharedFunctionalGroupsSequence=[shared])
    assert _reader.window_limits(enhanced) == (75, 124)
    per_frame = _voi(PerFrameFunctionalGroupsSequence=[
        _voi(FrameVOILUTSequence=[_voi(WindowCenter=0, WindowWidth=10)]),
        _voi(FrameVOILUTSequence=[_voi(WindowCenter=50, WindowWidth=10)])])
    assert _reader.window_limits(per_frame, 1) == (45, 54)


# ---------------------------------------------------------------------------
# Folders: geometry, order, laziness
# ---------------------------------------------------------------------------
def test_shuffled_folder_is_one_volume_in_space_and_mm(ct_folder: Path) -> None:
    (data, kwargs, layer_type), = read_dicom(str(ct_folder))
    assert isinstance(data, da.Array)
    assert data.shape == (6, ROWS, COLS)
    assert data.chunks[0] == (6,)  # tiny slices: one chunk
    assert kwargs["scale"] == pytest.approx((2.5, 0.7, 0.6))
    # Axial series: the series frame is the patient frame (z, y, x).
    assert kwargs["translate"] == pytest.approx((12.0, -40.0, -30.0))
    assert kwargs["units"] == ("mm", "mm", "mm")
    assert kwargs["axis_labels"] == ("z", "y", "x")
    assert kwargs["contrast_limits"] == pytest.approx((-160.0, 239.0))
    assert kwargs["name"] == "Chest 2.5 mm (CT #1)"
    volume = data.compute()
    for k in range(6):
        np.testing.assert_array_equal(volume[k], slice_hu(k))
    assert volume.dtype == data.dtype
    md = kwargs["metadata"]
    assert len(md["slices"]) == 6
    assert md["geometry"]["spacing"] == pytest.approx([2.5, 0.7, 0.6])
    assert md["series"]["kind"] == "volume"
    json.dumps(md)


def test_list_of_slice_files_is_one_volume(ct_folder: Path) -> None:
    files = sorted(str(p) for p in ct_folder.iterdir())
    (data, kwargs, _), = read_dicom(files)
    assert data.shape == (6, ROWS, COLS)
    np.testing.assert_array_equal(data[3].compute(), slice_hu(3))


def test_reading_decodes_one_slice_and_a_slice_decodes_only_its_chunk(
        ct_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lazy, "MAX_FRAMES_PER_CHUNK", 2)
    counter = DecodeCounter(monkeypatch)
    (data, kwargs, _), = read_dicom(str(ct_folder))
    assert data.chunks[0] == (2, 2, 2)
    # Only the middle slice, for the contrast sample and the provenance.
    assert len(counter.calls) == 1
    slices = kwargs["metadata"]["slices"]
    assert counter.calls[0][0] == Path(slices[3][0]).name
    counter.calls.clear()
    chunk = np.asarray(data[1])
    assert sorted(counter.calls) == sorted((Path(slices[k][0]).name, 0) for k in (0, 1))
    np.testing.assert_array_equal(chunk, slice_hu(1))
    # Tasks carry paths and frame numbers, never pixels.
    assert len(pickle.dumps(data)) < 600 * data.shape[0]
    for k in (0, 1):
        entry = _lazy.provenance(*slices[k])
        assert entry is not None and entry["backend"] == kwargs["metadata"]["decoder"]
    assert _lazy.provenance(*slices[2]) is None


def test_multiframe_file_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lazy, "MAX_FRAMES_PER_CHUNK", 1)
    path = samples.path("JPEG2000Lossless")  # 2 frames, extended offset table
    counter = DecodeCounter(monkeypatch)
    (data, kwargs, _), = read_dicom(str(path))
    assert isinstance(data, da.Array) and data.chunks[0] == (1, 1)
    assert counter.calls == [(path.name, 1)]  # the middle frame
    counter.calls.clear()
    first = data[0].compute()
    assert counter.calls == [(path.name, 0)]
    expected = samples.expected("JPEG2000Lossless")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    np.testing.assert_array_equal(first, expected[0].astype(np.int64)
                                  + int(float(ds.RescaleIntercept)))
    assert kwargs["axis_labels"][0] == "frame" and kwargs["units"][0] == "pixel"


def test_chunks_hold_a_few_tens_of_milliseconds_of_decoding() -> None:
    ct = (512, 512)
    assert _lazy.frames_per_chunk(ct, "int16", ["JPEG2000Lossless"]) == 1
    assert _lazy.frames_per_chunk(ct, "int16", ["JPEGLSLossless"]) == 8
    assert _lazy.frames_per_chunk(ct, "int16", [lookup("HTJ2KLossless").uid]) == 26
    # Fast decoders: bounded by bytes (16 MiB), then by count.
    assert _lazy.frames_per_chunk(ct, "int16", ["ExplicitVRLittleEndian"]) == 32
    assert _lazy.frames_per_chunk((64, 64), "uint8", ["RLELossless"]) == 64
    # The slowest syntax of a series decides; unknown counts as slowest.
    assert _lazy.frames_per_chunk(ct, "int16", ["JPEGLSLossless", "JPEG2000"]) == 1
    assert _lazy.frames_per_chunk(ct, "int16", ["1.2.3.4"]) == 1
    assert _lazy.frames_per_chunk(ct, "int16") == 1
    # A file per slice adds its opening to each slice.
    assert _lazy.frames_per_chunk(ct, "int16", ["ExplicitVRLittleEndian"],
                                  file_per_slice=True) == 33 - 1
    assert _lazy.frames_per_chunk((4096, 4096), "float64", ["RLELossless"]) == 1


def write_multiframe(path: Path, n: int = 5) -> np.ndarray:
    from dicomio import encode

    frames = np.stack([slice_pixels(k) for k in range(n)])
    encode.write(path, frames, "RLELossless", multiframe=True, bits_stored=12)
    return frames


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_chunks_of_a_multiframe_file_match_the_core(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "multi.dcm"
    write_multiframe(path)
    with DicomImage(path) as img:
        expected = img.read()
    n = expected.shape[0]
    slices = [(str(path), k) for k in range(n)]
    data = _lazy.lazy_stack(slices, expected.shape[1:], expected.dtype, [None] * n,
                            chunk=chunk)
    assert data.chunks[0][0] == min(chunk, n)
    np.testing.assert_array_equal(data.compute(), expected)
    # A slice with a rescale of its own, in the middle of a chunk.
    params: list[tuple[float, float] | None] = [None] * n
    params[1] = (2.0, -5.0)
    data = _lazy.lazy_stack(slices, expected.shape[1:], "float32", params, chunk=chunk)
    out = data.compute()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], expected[0].astype(np.float32))
    np.testing.assert_array_equal(out[1], expected[1].astype(np.float32) * 2 - 5)
    for k in range(n):
        entry = _lazy.provenance(str(path), k)
        assert entry is not None and entry["backend"] and entry["error"] is None


def test_slices_without_a_rescale_are_never_copied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "multi.dcm"
    frames = write_multiframe(path)

    def no_copy(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("apply_rescale called with nothing to rescale")

    monkeypatch.setattr(_lazy, "apply_rescale", no_copy)
    n = frames.shape[0]
    data = _lazy.lazy_stack([(str(path), k) for k in range(n)], frames.shape[1:],
                            frames.dtype, [None] * n, chunk=2)
    np.testing.assert_array_equal(data.compute(), frames)
    np.testing.assert_array_equal(_lazy.decode_frame(str(path), 1), frames[1])


def test_a_failing_frame_is_logged_shown_as_zero_and_notified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Until issue 15 the chunk holding a bad frame raised; the reader now
    # reads with on_error="recover": the frame is 0, logged and notified.
    from dicomio.errors import DecodeError

    path = tmp_path / "multi.dcm"
    write_multiframe(path)
    original = DicomImage._decode_into

    def broken(img: DicomImage, i: int, *args: Any, **kwargs: Any) -> Any:
        if i == 1:
            raise DecodeError("corrupt frame", frame=i)
        return original(img, i, *args, **kwargs)

    monkeypatch.setattr(DicomImage, "_decode_into", broken)
    with DicomImage(path) as img:
        shape, dtype = img.frame_shape, img.dtype
    data = _lazy.lazy_stack([(str(path), k) for k in range(3)], shape, dtype,
                            [None] * 3, chunk=3)
    got = data.compute()
    assert not got[1].any() and got[0].any() and got[2].any()
    assert _lazy.provenance(str(path), 0)["error"] is None  # type: ignore[index]
    entry = _lazy.provenance(str(path), 1)
    assert entry is not None and "corrupt frame" in entry["error"]
    assert entry["failed"]["action"] == "filled"
    assert any("frame 1" in m and "corrupt frame" in m for m in warnings_shown())


def test_chunks_reuse_the_headers_of_the_scan(
        ct_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(DicomImage, "_from_header"):
        pytest.skip("DicomImage cannot open from a parsed header")
    (data, _, _), = read_dicom(str(ct_folder))
    fresh: list[str] = []
    original = DicomImage.__init__

    def counting(img: DicomImage, source: Any, **kwargs: Any) -> None:
        fresh.append(str(source))
        original(img, source, **kwargs)

    monkeypatch.setattr(DicomImage, "__init__", counting)
    volume = data.compute()
    assert fresh == []
    for k in range(6):
        np.testing.assert_array_equal(volume[k], slice_hu(k))


def test_decoding_in_threads_leaves_the_warning_filters_alone(tmp_path: Path) -> None:
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    write_ct_folder(tmp_path / "ct", n=12)
    (data, _, _), = read_dicom(str(tmp_path / "ct"))
    _lazy.clear_caches()  # every chunk opens its files
    before = list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: np.asarray(data[k]), range(12)))
    assert warnings.filters == before
    for k, arr in enumerate(results):
        np.testing.assert_array_equal(arr, slice_hu(k))


def test_gap_in_a_series_shows_a_warning(tmp_path: Path) -> None:
    write_ct_folder(tmp_path / "gap", n=8, skip=(4,))
    (data, kwargs, _), = read_dicom(str(tmp_path / "gap"))
    assert data.shape[0] == 7
    shown = warnings_shown()
    assert any("Gap" in text and "Chest 2.5 mm" in text for text in shown)
    assert kwargs["metadata"]["series"]["warnings"]


def test_dicomdir_gives_one_layer_per_series() -> None:
    layers = read_dicom(str(PYDICOM_FILES / "dicomdirtests" / "DICOMDIR"))
    assert len(layers) > 5
    assert all(layer_type == "image" for _, _, layer_type in layers)
    volumes = [kw for data, kw, _ in layers if data.ndim == 3]
    assert volumes and all(kw["units"] == ("mm", "mm", "mm") for kw in volumes)


def test_folder_without_images_raises_a_clear_error(tmp_path: Path) -> None:
    shutil.copy(corpus_file("test-SR.dcm"), tmp_path / "sr.dcm")
    with pytest.raises(SeriesError, match="no DICOM image series"):
        read_dicom(str(tmp_path))


# ---------------------------------------------------------------------------
# napari: manifest, ViewerModel, samples
# ---------------------------------------------------------------------------
def test_manifest_is_found_and_names_reader_widget_menu_and_samples() -> None:
    text = (REPO / "napari.yaml").read_text(encoding="utf-8")
    shipped = resources.files("dicomio").joinpath("napari.yaml")
    assert shipped.read_text(encoding="utf-8") == text
    pm = npe2.PluginManager.instance()
    pm.discover()
    mf = pm.get_manifest("dicomio")
    reader, = mf.contributions.readers
    assert reader.accepts_directories
    assert {"*.dcm", "*.dicom", "DICOMDIR"} <= set(reader.filename_patterns)
    widget, = mf.contributions.widgets
    menu = mf.contributions.menus["napari/layers/metadata"]
    assert [item.command for item in menu] == [widget.command]
    keys = [s.key for s in mf.contributions.sample_data]
    assert keys == list(samples.all_paths())
    for cmd in mf.contributions.commands:
        assert cmd.id.startswith("dicomio.")
    # Patterns as napari sees them: upper-case names and extensions.
    for name in ("X.DCM", "y.dcm", "DICOMDIR", "z.dicom"):
        assert "dicomio.get_reader" in {
            r.command for r in pm.iter_compatible_readers([f"/data/{name}"])}
    assert "dicomio.get_reader" not in {
        r.command for r in pm.iter_compatible_readers(["/data/photo.png"])}


def test_every_sample_contribution_opens() -> None:
    for keyword in samples.all_paths():
        layers = getattr(_sample, keyword)()
        assert layers and all(t == "image" for _, _, t in layers), keyword
        data, kwargs, _ = layers[0]
        lo, hi = kwargs["contrast_limits"]
        assert hi > lo, keyword
        assert kwargs["rgb"] == (data.shape[-1] == 3 and
                                 samples.entry(keyword)["samples_per_pixel"] == 3)
    with pytest.raises(AttributeError):
        _sample.NotASample  # noqa: B018


@pytest.fixture
def viewer_model() -> ViewerModel:
    npe2.PluginManager.instance().discover()
    return ViewerModel()


def test_samples_open_through_napari(viewer_model: ViewerModel) -> None:
    for key in ("JPEGBaseline8Bit", "JPEG2000", "HTJ2KLossless", "RLELossless"):
        layer, = viewer_model.open_sample("dicomio", key)
        assert layer.metadata["transfer_syntax"] == key
    assert viewer_model.layers[-1].data.shape == (2, 64, 64, 3)


def test_viewer_model_opens_a_file_with_the_plugin(viewer_model: ViewerModel) -> None:
    layers = viewer_model.open(str(samples.path("JPEG2000")), plugin="dicomio")
    layer, = layers
    assert layer.rgb and layer.data.shape == (64, 64, 3)
    assert layer.source.reader_plugin == "dicomio"
    assert not layer.name.endswith("]")
    assert layer.metadata["photometric"]["converted"] is True
    assert tuple(layer.contrast_limits) == (0, 255)
    assert layer.metadata["TransferSyntaxUID"] == lookup("JPEG2000").uid


def test_viewer_model_opens_a_folder_lazily_with_geometry(
        viewer_model: ViewerModel, ct_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lazy, "MAX_FRAMES_PER_CHUNK", 2)
    counter = DecodeCounter(monkeypatch)
    layer, = viewer_model.open(str(ct_folder), plugin="dicomio")
    assert isinstance(layer.data, da.Array)
    np.testing.assert_allclose(layer.scale, (2.5, 0.7, 0.6))
    np.testing.assert_allclose(layer.translate, (12.0, -40.0, -30.0))
    # napari keeps the reader's limits (it would guess (0, 1) for dask data).
    np.testing.assert_allclose(layer.contrast_limits, (-160, 239))
    assert [str(u) for u in layer.units] == ["millimeter"] * 3
    assert tuple(viewer_model.dims.axis_labels) == ("z", "y", "x")
    # The middle slice for the sample, plus the chunk napari displays.
    assert len(counter.calls) < 6
    # World coordinates are millimetres: slice 5 is 12.5 mm above slice 0.
    world = layer.data_to_world((5, 0, 0))
    assert world[0] == pytest.approx(12.0 + 12.5)


def test_remembered_reader_for_dcm_files_and_folders(
        monkeypatch: pytest.MonkeyPatch, ct_folder: Path,
        viewer_model: ViewerModel) -> None:
    from napari import settings as napari_settings

    from dicomio._napari.launch import remember_reader

    fresh = napari_settings.NapariSettings(config_path=None)  # never saved
    monkeypatch.setattr(napari_settings, "_SETTINGS", fresh)
    mapping = remember_reader()
    assert mapping["*.dcm"] == mapping["*/"] == "dicomio"
    # plugin=None is what the GUI does on drag and drop and File > Open:
    # napari and dicomio both claim these, the preference decides.
    layer, = viewer_model.open(str(samples.path("JPEG2000")), plugin=None)
    assert layer.source.reader_plugin == "dicomio"
    layer, = viewer_model.open(str(ct_folder), plugin=None)
    assert layer.source.reader_plugin == "dicomio" and layer.data.shape[0] == 6


def test_a_broken_series_is_reported_and_the_others_open(tmp_path: Path) -> None:
    from pydicom.encaps import encapsulate

    write_ct_folder(tmp_path / "exam" / "ct", n=3)
    ds = pydicom.dcmread(samples.path("JPEG2000"))
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])  # SIZ cut short
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.1.99"
    ds.SeriesDescription = "broken"
    ds.save_as(tmp_path / "exam" / "broken.dcm")
    layers = read_dicom(str(tmp_path / "exam"))
    assert [kw["name"] for _, kw, _ in layers] == ["Chest 2.5 mm (CT #1)"]
    shown = warnings_shown()
    assert any("broken" in text and "not opened" in text for text in shown)
    with pytest.raises(DicomioError):
        read_dicom(str(tmp_path / "exam" / "broken.dcm"))


def test_oblique_volume_keeps_its_own_frame_and_the_full_affine(
        tmp_path: Path, viewer_model: ViewerModel) -> None:
    # napari 0.9.2 warns on every 2D view of a rotated layer ("Non-orthogonal
    # slicing ... not fully supported"), so an oblique series is shown in its
    # own frame (exact in 2D) and its patient transform travels in metadata.
    from dicomio.encode import write

    a = np.radians(20.0)
    row, col = np.array([1.0, 0, 0]), np.array([0, np.cos(a), np.sin(a)])
    normal = np.cross(row, col)
    origin = np.array([-20.0, 15.0, 30.0])
    for k in range(4):
        write(tmp_path / f"ob{k}", np.full((8, 10), k, np.uint16), "JPEGLSLossless",
              image_position=(origin + 3.0 * k * normal).tolist(),
              image_orientation=[*row, *col], pixel_spacing=[0.5, 0.75],
              series_instance_uid="1.2.826.0.1.7", instance_number=4 - k)
    (layer,) = viewer_model.open(str(tmp_path), plugin="dicomio")
    viewer_model.dims.ndisplay = 2
    np.testing.assert_allclose(layer.scale, (3.0, 0.5, 0.75))
    affine = np.asarray(layer.metadata["geometry"]["affine"])
    for idx in [(0, 0, 0), (3, 7, 9), (2, 0, 9)]:
        k, j, i = idx
        want = origin + 3.0 * k * normal + 0.5 * j * col + 0.75 * i * row
        np.testing.assert_allclose((affine @ [*idx, 1])[:3], want, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer.data[:, 0, 0]), [0, 1, 2, 3])


def test_sagittal_volume_stays_in_its_own_frame(tmp_path: Path) -> None:
    from dicomio.encode import write

    row, col = [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]  # sagittal
    for k in range(3):
        write(tmp_path / f"sag{k}", np.zeros((6, 6), np.uint8), "RLELossless",
              image_position=[float(k) * 2.0, 0.0, 0.0], image_orientation=[*row, *col],
              pixel_spacing=[1.0, 1.0], series_instance_uid="1.2.826.0.1.8",
              instance_number=k + 1)
    ((_, kwargs, _),) = read_dicom(str(tmp_path))
    assert "rotate" not in kwargs
    assert kwargs["scale"] == pytest.approx((2.0, 1.0, 1.0))
