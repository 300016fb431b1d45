"""The display pipeline against pydicom's apply_* chain, within +-1."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicomio
from dicomio.encode import make_dataset
from dicomio.values.display import DisplayPlan
from tests.conftest import all_corpus_files

from ._reference import assert_close, flatten, grey_reference, palette_reference

_DISPLAY_KEYS = ("WindowCenter", "VOILUTSequence", "ModalityLUTSequence",
                 "RedPaletteColorLookupTableDescriptor", "ICCProfile")


def _display_files() -> list[str]:
    """Every corpus file with display attributes whose pixels dicomio decodes."""
    out = []
    for path in all_corpus_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        pi = str(ds.get("PhotometricInterpretation", ""))
        if any(k in ds for k in _DISPLAY_KEYS) or pi == "MONOCHROME1" or (
                ds.get("PresentationLUTShape") == "INVERSE"):
            out.append(str(path))
    return out


DISPLAY_FILES = _display_files()


def _open(path: str) -> dicomio.DicomImage | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = dicomio.DicomImage(path)
            raw = img.read()
        except dicomio.DicomioError:
            return None  # files dicomio refuses are tested in test_hostile
    img._raw = raw  # type: ignore[attr-defined]
    return img


def test_the_corpus_has_display_files():
    names = {p.rsplit("/", 1)[-1] for p in DISPLAY_FILES}
    # Each kind of display attribute is covered by at least one public file.
    assert {"mlut_18.dcm", "vlut_04.dcm", "RG1_UNCR.dcm", "OBXXXX1A.dcm",
            "gdcm-US-ALOKA-16.dcm", "CT_small.dcm"} <= names | {"CT_small.dcm"}
    assert len(DISPLAY_FILES) >= 40


@pytest.mark.parametrize("path", DISPLAY_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_corpus_matches_pydicom(path):
    img = _open(path)
    if img is None:  # MR_truncated.dcm: refused by read(), so by the display too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(dicomio.DicomioError):
                dicomio.DicomImage(path).read(display=True)
        return
    ds, raw = img.dataset, img._raw
    pi = str(ds.PhotometricInterpretation)
    ours = img.read(display=True)
    rec = img.display_record
    if pi == "PALETTE COLOR":
        assert_close(ours, palette_reference(ds, raw))
        assert rec["palette"]["entries"] > 0
    elif img.is_color:
        assert ours.shape == raw.shape[:-1] + (3,)
    else:
        if "ModalityLUTSequence" in ds and "WindowCenter" not in ds and not ds.get(
                "VOILUTSequence"):
            # min..max of the modality values read: the reference uses the same
            assert rec["voi"]["kind"] == "minmax"
        frames = raw if img.n_frames > 1 else raw[None]
        shown = ours if img.n_frames > 1 else ours[None]
        if rec["voi"]["kind"] == "minmax":
            ref = grey_reference(flatten(ds), frames)
        else:
            ref = np.stack([grey_reference(flatten(ds, k), f)
                            for k, f in enumerate(frames)])
        assert_close(shown, ref)
        assert rec["inversion"] == ("MONOCHROME1" if pi == "MONOCHROME1" else (
            "INVERSE" if ds.get("PresentationLUTShape") == "INVERSE" else None))


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "RG3_UNCR.dcm"])
def test_monochrome1_with_and_without_window(corpus, name):
    img = dicomio.DicomImage(str(corpus(name)))
    raw = img.read()
    windowed = img.read(display=True)
    assert img.display_record["inversion"] == "MONOCHROME1"
    assert_close(windowed, grey_reference(img.dataset, raw))
    # Without a window: min..max inverted, so the smallest stored value is white.
    ds = pydicom.dcmread(str(corpus(name)))
    del ds.WindowCenter, ds.WindowWidth
    plain = dicomio.DicomImage(ds).read(display=True)
    assert_close(plain, grey_reference(ds, raw))
    assert plain[raw == raw.min()].min() == 255
    assert plain[raw == raw.max()].max() == 0


def _grey(frames: np.ndarray, **kw) -> Dataset:
    return make_dataset(frames, "ExplicitVRLittleEndian", **kw)


@pytest.mark.parametrize("func", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("signed", [False, True])
def test_every_voi_function(func, signed):
    rng = np.random.default_rng(1)
    if signed:
        arr = rng.integers(-2000, 3000, (3, 40, 50)).astype(np.int16)
        window = (40.0, 400.0)
    else:
        arr = rng.integers(0, 4096, (3, 40, 50)).astype(np.uint16)
        window = (1800.0, 900.0)
    ds = _grey(arr, bits_stored=12 if not signed else 16, rescale=(1.5, -100.0),
               window=window, VOILUTFunction=func)
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    assert img.display_record["voi"]["function"] == func
    assert_close(ours, np.stack([grey_reference(ds, f) for f in arr]))


def test_window_argument_and_voi_index():
    arr = np.arange(0, 4096, dtype=np.uint16).reshape(64, 64)
    ds = _grey(arr, bits_stored=12, window=([1000, 3000], [500, 1000]),
               WindowCenterWidthExplanation=["A", "B"])
    img = dicomio.DicomImage(ds)
    second = img.read(display=True, voi=1)
    assert img.display_record["voi"]["explanation"] == "B"
    assert_close(second, grey_reference(ds, arr, index=1))
    mine = img.read(display=True, window=(3000, 1000))
    assert np.array_equal(mine, second)
    assert img.display_record["voi"]["source"] == "argument"
    exact = img.read(display=True, window=(2048, 4096, "LINEAR_EXACT"))
    assert exact[0, 0] == 0 and exact[-1, -1] == 255
    with pytest.raises(IndexError, match="2 VOI preset"):
        img.read(display=True, voi=2)
    with pytest.raises(ValueError, match="width"):
        img.read(display=True, window=(10, 0))


def test_presentation_lut_shape_inverse():
    arr = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    ds = _grey(arr, window=(127.5, 256), PresentationLUTShape="INVERSE")
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    assert img.display_record["inversion"] == "INVERSE"
    assert_close(ours, grey_reference(ds, arr))
    assert ours[0, 0] == 255 and ours[-1, -1] == 0


def test_voi_lut_sequence_and_modality_lut_sequence_generated():
    arr = np.arange(0, 1024, dtype=np.uint16).reshape(32, 32)
    ds = _grey(arr, bits_stored=10)
    mod = Dataset()
    mod.LUTDescriptor = [512, 256, 16]
    mod.LUTData = [int(v) for v in np.linspace(0, 65535, 512)]
    mod.ModalityLUTType = "US"
    ds.ModalityLUTSequence = Sequence([mod])
    voi = Dataset()
    voi.LUTDescriptor = [4096, 0, 12]
    voi.LUTData = [int(v) for v in (np.arange(4096) ** 0.5 * 64).clip(0, 4095)]
    ds.VOILUTSequence = Sequence([voi])
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    rec = img.display_record
    assert rec["modality"]["kind"] == "lut" and rec["voi"]["kind"] == "lut"
    assert_close(ours, grey_reference(ds, arr))


def test_no_voi_is_min_max_of_the_values_read_across_frames():
    arr = np.stack([np.full((8, 8), 100, np.int16), np.full((8, 8), 300, np.int16)])
    arr[1, 0, 0] = -500
    img = dicomio.DicomImage(_grey(arr, rescale=(2.0, 10.0)))
    ours = img.read(display=True)
    rec = img.display_record["voi"]
    assert (rec["low"], rec["high"]) == (-990.0, 610.0)
    assert ours[1, 0, 0] == 0 and ours[1, 1, 1] == 255
    assert ours[0, 0, 0] == round((210 + 990) / 1600 * 255)


def test_two_pass_min_max_matches_one_pass(monkeypatch):
    from dicomio.values import display

    arr = np.random.default_rng(3).integers(0, 60000, (9, 16, 16)).astype(np.uint16)
    img = dicomio.DicomImage(_grey(arr))
    whole, part = img.read(display=True), img.read([8, 0], display=True)
    monkeypatch.setattr(display, "_SCRATCH_BYTES", 2 * 16 * 16)  # two frames a chunk
    assert np.array_equal(img.read(display=True), whole)
    # min..max of the frames read: a subset has its own range
    assert np.array_equal(img.read([8, 0], display=True), part)


def _per_frame_dataset(arr: np.ndarray, windows: list[tuple[float, float]]) -> Dataset:
    ds = _grey(arr, bits_stored=12)
    shared = Dataset()
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = 1, -1024, "HU"
    shared.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    items = []
    for c, w in windows:
        fg, voi = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = c, w
        fg.FrameVOILUTSequence = Sequence([voi])
        items.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    return ds


def test_per_frame_windows_of_enhanced_multiframe():
    arr = np.random.default_rng(2).integers(0, 4096, (3, 20, 20)).astype(np.uint16)
    windows = [(40.0, 400.0), (300.0, 1500.0), (-600.0, 1200.0)]
    ds = _per_frame_dataset(arr, windows)
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    rec = img.display_record
    assert [p["voi"]["center"] for p in rec["per_frame"]] == [40.0, 300.0, -600.0]
    assert rec["modality"] == {"kind": "rescale", "slope": 1.0, "intercept": -1024.0}
    for k, (c, w) in enumerate(windows):
        flat = flatten(ds, k)
        assert (flat.RescaleIntercept, flat.WindowCenter, flat.WindowWidth) == (-1024, c, w)
        assert_close(ours[k], grey_reference(flat, arr[k]))
    # One frame alone gets its own window too.
    assert np.array_equal(img.read(2, display=True), ours[2])


def test_signed_and_float_data():
    arr = np.linspace(-1000, 1000, 400).reshape(20, 20).astype(np.int16)
    ds = _grey(arr, window=(0, 2000))
    assert_close(dicomio.DicomImage(ds).read(display=True), grey_reference(ds, arr))
    plan = DisplayPlan(ds, dicomio.DicomImage(ds).spec)
    out = np.empty((20, 20), np.uint8)
    plan.apply(0, arr.astype(np.float32), out)  # the frame-by-frame path
    assert_close(out, grey_reference(ds, arr))


def test_colour_and_16bit_colour():
    rgb = np.random.default_rng(4).integers(0, 256, (2, 10, 12, 3)).astype(np.uint8)
    img = dicomio.DicomImage(make_dataset(rgb, "ExplicitVRLittleEndian"))
    assert np.array_equal(img.read(display=True), rgb)
    rec = img.display_record
    assert rec["pipeline"] == "color" and rec["icc"] is None
    wide = (rgb.astype(np.uint16) * 257)
    img16 = dicomio.DicomImage(make_dataset(wide, "ExplicitVRLittleEndian"))
    assert np.array_equal(img16.read(display=True), rgb)


def test_ybr_file_displays_as_rgb(corpus):
    img = dicomio.DicomImage(str(corpus("SC_ybr_full_uncompressed.dcm")))
    assert np.array_equal(img.read(display=True), img.read(color="rgb"))


def test_broken_palette_is_a_dicomio_error():
    arr = np.zeros((4, 4), np.uint8)
    ds = make_dataset(arr, "ExplicitVRLittleEndian", photometric="PALETTE COLOR")
    with pytest.raises(dicomio.DicomioError, match="Palette Color Lookup Table"):
        dicomio.DicomImage(ds).read(display=True)
