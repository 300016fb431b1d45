"""The ImageIO v3 plugin, through real imageio and scikit-image (no mocks)."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pydicom
import pytest
from imageio.config import known_extensions, known_plugins
from imageio.core.request import InitializationError, Request

import dicomio
from dicomio import encode, samples
from dicomio.imageio_plugin import (
    EXTENSIONS,
    DicomPlugin,
    PluginRefusedError,
    is_registered,
    register,
    unregister,
)
from dicomio.tsyntax import lookup
from tests.conftest import all_corpus_files, corpus_file

# One or two small files per compressed (or deflated) Transfer Syntax found in
# pydicom's test files and pydicom-data; test_corpus_syntaxes_are_covered
# keeps this list complete.
CORPUS = {
    "JPEGBaseline8Bit": ["SC_rgb_small_odd_jpeg.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm"],
    "JPEGExtended12Bit": ["JPEG-lossy.dcm"],
    "JPEGLosslessSV1": ["SC_rgb_jpeg_gdcm.dcm", "JPEG-LL.dcm"],
    "JPEGLSLossless": ["MR_small_jpeg_ls_lossless.dcm",
                       "emri_small_jpeg_ls_lossless.dcm"],
    "JPEGLSNearLossless": ["JPEGLSNearLossless_08.dcm", "SC_rgb_jls_lossy_line.dcm"],
    "JPEG2000Lossless": ["MR_small_jp2klossless.dcm",
                         "emri_small_jpeg_2k_lossless.dcm"],
    "JPEG2000": ["JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm"],
    "RLELossless": ["MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"],
    "DeflatedExplicitVRLittleEndian": ["image_dfl.dcm"],
}
CORPUS_FILES = [name for names in CORPUS.values() for name in names]
SAMPLES = list(samples.all_paths())
# pydicom files whose 128-byte preamble starts like a TIFF header: without the
# plugin first in imageio's fallback order, tifffile claims them.
TIFF_PREAMBLE = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm",
                 "examples_rgb_color.dcm"]
CODEC_MODULES = ("imagecodecs", "openjpeg", "pylibjpeg", "libjpeg", "rle",
                 "jpeg_ls", "gdcm", "PIL")


def _png_bytes() -> bytes:
    image = np.arange(35, dtype=np.uint8).reshape(5, 7)
    return iio.imwrite("<bytes>", image, extension=".png")


def _tables() -> tuple[list[tuple[str, int]], dict[str, list[tuple[list[str], ...]]]]:
    """imageio's registration state: plugin order (with config identity) and
    every extension's priority and default priority lists."""
    plugins = [(name, id(config)) for name, config in known_plugins.items()]
    extensions = {ext: [(list(f.priority), list(f.default_priority)) for f in fmts]
                  for ext, fmts in known_extensions.items()}
    return plugins, extensions


# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------
def test_corpus_syntaxes_are_covered():
    found = set()
    for path in all_corpus_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            uid = ds.file_meta.TransferSyntaxUID
        except Exception:  # noqa: BLE001 - broken files have no syntax to cover
            continue
        if "Rows" not in ds:
            continue
        ts = lookup(str(uid))
        if ts.encapsulated or ts.is_deflated:
            found.add(ts.keyword)
    assert found <= set(CORPUS), f"add a corpus file for {found - set(CORPUS)}"


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_through_plain_imread(name, tmp_path):
    path = corpus_file(name)
    expected = dicomio.imread(path)
    arr = iio.imread(path)
    assert arr.dtype == expected.dtype
    np.testing.assert_array_equal(arr, expected)
    # The same file without an extension is found by its DICM magic.
    bare = tmp_path / "IM0001"
    shutil.copyfile(path, bare)
    np.testing.assert_array_equal(iio.imread(bare), expected)
    with iio.imopen(bare, "r") as handle:
        assert isinstance(handle, DicomPlugin)


@pytest.mark.parametrize("keyword", SAMPLES)
def test_bundled_samples_through_plain_imread(keyword, tmp_path):
    path = samples.path(keyword)
    arr = iio.imread(path)
    np.testing.assert_array_equal(arr, dicomio.imread(path))
    truth = samples.expected(keyword)
    if truth is not None:
        np.testing.assert_array_equal(arr, truth)
    bare = tmp_path / keyword  # no extension
    shutil.copyfile(path, bare)
    np.testing.assert_array_equal(iio.imread(bare), arr)


@pytest.mark.parametrize("name", TIFF_PREAMBLE)
def test_extensionless_files_tifffile_would_claim(name, tmp_path):
    path = corpus_file(name)
    bare = tmp_path / name.removesuffix(".dcm")
    shutil.copyfile(path, bare)
    arr = iio.imread(bare)
    assert arr.size > 0
    np.testing.assert_array_equal(arr, dicomio.imread(path))


def test_bytes_and_file_objects():
    path = samples.path("JPEGLSLossless")
    data = Path(path).read_bytes()
    expected = dicomio.imread(path)
    np.testing.assert_array_equal(iio.imread(data), expected)
    np.testing.assert_array_equal(iio.imread(io.BytesIO(data)), expected)
    np.testing.assert_array_equal(iio.imread(data, extension=".dcm"), expected)
    assert iio.improps(data).shape == expected.shape


def test_index_semantics():
    path = samples.path("RLELossless")  # 2 frames of RGB
    whole = iio.imread(path)
    assert whole.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(iio.imread(path, index=1), whole[1])
    np.testing.assert_array_equal(iio.imread(path, index=-1), whole[1])
    np.testing.assert_array_equal(iio.imread(path, index=...), whole)
    single = samples.path("JPEGBaseline8Bit")
    assert iio.imread(single).shape == (64, 96, 3)
    assert iio.imread(single, index=...).shape == (1, 64, 96, 3)
    frames = list(iio.imiter(path))
    assert len(frames) == 2
    np.testing.assert_array_equal(np.stack(frames), whole)


def test_index_out_of_range_is_index_and_value_error():
    path = samples.path("JPEG2000Lossless")
    for call in (lambda: iio.imread(path, index=2), lambda: iio.improps(path, index=5),
                 lambda: iio.immeta(path, index=-3)):
        with pytest.raises(dicomio.FrameIndexError) as info:
            call()
        assert isinstance(info.value, IndexError)
        assert isinstance(info.value, ValueError)


def test_read_options():
    ct = corpus_file("CT_small.dcm")  # RescaleIntercept -1024
    raw = iio.imread(ct)
    hu = iio.imread(ct, rescale=True)
    np.testing.assert_array_equal(hu, dicomio.imread(ct, rescale=True))
    assert hu.dtype != raw.dtype or not np.array_equal(hu, raw)
    ybr = samples.path("JPEGBaseline8Bit")
    native = iio.imread(ybr, color="native")
    np.testing.assert_array_equal(native, dicomio.imread(ybr, color="native"))
    assert not np.array_equal(native, iio.imread(ybr))
    np.testing.assert_array_equal(
        iio.imread(ybr, backend="imagecodecs", threads=1), iio.imread(ybr))


# --------------------------------------------------------------------------
# properties and metadata
# --------------------------------------------------------------------------
PROPS_CASES = [
    ("CT_small.dcm", None), ("CT_small.dcm", 0), ("CT_small.dcm", ...),
    ("emri_small_jpeg_ls_lossless.dcm", None), ("emri_small_jpeg_ls_lossless.dcm", 3),
    ("emri_small_jpeg_ls_lossless.dcm", ...), ("SC_rgb_rle_2frame.dcm", None),
    ("SC_rgb_rle_2frame.dcm", -1), ("SC_rgb_small_odd_jpeg.dcm", None),
    ("JPEG-lossy.dcm", ...),
]


@pytest.mark.parametrize("rescale", [False, True])
@pytest.mark.parametrize(("name", "index"), PROPS_CASES)
def test_properties_agree_with_read(name, index, rescale):
    path = corpus_file(name)
    kwargs = {} if index is None else {"index": index}
    props = iio.improps(path, rescale=rescale, **kwargs)
    arr = iio.imread(path, rescale=rescale, **kwargs)
    assert props.shape == arr.shape
    assert props.dtype == arr.dtype
    with dicomio.DicomImage(path) as img:
        n_frames = img.n_frames
    batched = index is Ellipsis or (index is None and n_frames > 1)
    assert props.is_batch == batched
    assert props.n_images == (n_frames if batched else None)


def test_properties_do_not_decode():
    with iio.imopen(samples.path("JPEG2000Lossless"), "r") as handle:
        props = handle.properties()
        assert handle._open().frame_infos == {}  # no frame was decoded
    assert props.shape == (2, 64, 64)
    assert props.spacing is not None and len(props.spacing) == 3


def test_properties_dtype_follows_rescale():
    ct = corpus_file("CT_small.dcm")
    assert iio.improps(ct).dtype == np.int16
    assert iio.improps(ct, rescale=True).dtype == iio.imread(ct, rescale=True).dtype


def test_metadata_keys_and_json():
    path = samples.path("JPEGBaseline8Bit")
    meta = iio.immeta(path)
    for key in ("photometric", "decoder", "TransferSyntaxUID", "spacing",
                "Rows", "Columns", "SOPClassUID"):
        assert key in meta
    assert "PixelData" not in meta
    assert meta["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.50"
    assert set(meta["photometric"]) >= {"declared", "codestream", "output",
                                        "mismatch", "notes"}
    assert meta["decoder"]
    json.dumps(meta)
    for name in ("CT_small.dcm", "emri_small_jpeg_2k_lossless.dcm"):
        json.dumps(iio.immeta(corpus_file(name)))


def test_metadata_exclude_applied():
    ybr = samples.path("JPEGBaseline8Bit")  # YBR_FULL_422, read as RGB
    applied = iio.immeta(ybr)
    assert "PhotometricInterpretation" not in applied
    assert applied["photometric"]["declared"] == "YBR_FULL_422"
    assert applied["photometric"]["output"] == "RGB"
    everything = iio.immeta(ybr, exclude_applied=False)
    assert everything["PhotometricInterpretation"] == "YBR_FULL_422"
    grey = iio.immeta(samples.path("JPEGLSLossless"))
    assert grey["PhotometricInterpretation"] == "MONOCHROME2"  # nothing applied
    ct = corpus_file("CT_small.dcm")
    assert "RescaleIntercept" in iio.immeta(ct)
    assert "RescaleIntercept" not in iio.immeta(ct, rescale=True)
    assert "RescaleIntercept" in iio.immeta(ct, rescale=True, exclude_applied=False)
    with iio.imopen(ct, "r") as handle:
        handle.read(rescale=True)
        assert "RescaleSlope" not in handle.metadata()  # follows the last read


def test_metadata_keeps_what_read_does_not_apply():
    # Palette colour is not applied by read: the key still describes the array.
    path = corpus_file("OT-PAL-8-face.dcm")  # no preamble, no File Meta
    with pytest.warns(dicomio.DicomioWarning, match="Transfer Syntax"):
        meta = iio.immeta(path)
    assert meta["PhotometricInterpretation"] == "PALETTE COLOR"
    assert meta["photometric"]["output"] == "PALETTE COLOR"
    with pytest.warns(dicomio.DicomioWarning, match="Transfer Syntax"):
        assert iio.imread(path).shape == (480, 640)


def test_metadata_prediction_then_report():
    with iio.imopen(samples.path("JPEG2000MCLossless"), "r") as handle:
        before = handle.metadata()
        handle.read()
        after = handle.metadata()
        frame = handle.metadata(index=0)
    assert before["photometric"]["output"] == after["photometric"]["output"] == "RGB"
    assert after["decoder"] and frame["decoder"] == after["decoder"]


# --------------------------------------------------------------------------
# Routing: other formats, bytes, the legacy plugin
# --------------------------------------------------------------------------
def test_png_and_tiff_still_reach_their_plugins(tmp_path):
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    png = tmp_path / "a.png"
    tif = tmp_path / "a.tif"
    iio.imwrite(png, image)
    iio.imwrite(tif, image)
    with iio.imopen(png, "r") as handle:
        assert type(handle).__name__ == "PillowPlugin"
    with iio.imopen(tif, "r") as handle:
        assert type(handle).__name__ == "TifffilePlugin"
    np.testing.assert_array_equal(iio.imread(png), image)
    np.testing.assert_array_equal(iio.imread(tif), image)
    bare = tmp_path / "png_without_extension"
    shutil.copyfile(png, bare)
    np.testing.assert_array_equal(iio.imread(bare), image)


def test_png_bytes_decode_after_dicomio_declined():
    data = _png_bytes()
    np.testing.assert_array_equal(iio.imread(data), iio.imread(data, plugin="pillow"))
    # The shared-request case: one Request offered to dicomio, then to Pillow.
    request = Request(data, "r")
    with pytest.raises(InitializationError):
        DicomPlugin(request)
    gc.collect()  # the declined instance's __del__ must not finish the request
    from imageio.plugins.pillow import PillowPlugin

    with PillowPlugin(request) as handle:
        assert handle.read().shape == (5, 7)


def test_declining_imports_no_codec():
    code = (
        "import sys, imageio.v3 as iio\n"
        "import dicomio\n"
        "from imageio.core.request import InitializationError, Request\n"
        "from dicomio.imageio_plugin import DicomPlugin\n"
        f"before = {{m for m in sys.modules if m.split('.')[0] in {CODEC_MODULES!r}}}\n"
        "try:\n"
        "    DicomPlugin(Request(sys.stdin.buffer.read(), 'r'))\n"
        "except InitializationError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('accepted a PNG')\n"
        f"after = {{m for m in sys.modules if m.split('.')[0] in {CODEC_MODULES!r}}}\n"
        # pydicom itself imports several codec packages at import; declining
        # must add none, and dicomio's own codec library stays unloaded.
        "assert after == before, sorted(after - before)\n"
        "assert 'imagecodecs' not in after\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=_png_bytes(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and every exception it was raised from, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@pytest.mark.parametrize("name, content, reason", [
    ("text.dcm", b"hello, not DICOM\n", "no 'DICM' at byte 128"),
    ("notes.txt", b"hello, not DICOM\n" * 20, "no 'DICM' at byte 128"),
    ("empty.dcm", b"", "empty"),
])
def test_refusal_names_the_file_and_the_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(OSError) as info:
        iio.imread(path, plugin="dicomio")
    errors = [e for e in _chain(info.value) if isinstance(e, dicomio.DicomioError)]
    assert errors, _chain(info.value)
    for error in errors:
        assert error.path == str(path) and str(path) in str(error)
        assert reason in str(error)
    # The refusal itself is both imageio's and dicomio's error.
    assert isinstance(errors[0], InitializationError)
    assert isinstance(errors[0], PluginRefusedError)
    assert isinstance(errors[0].__cause__, dicomio.InvalidDicomError)
    assert path.read_bytes() == content  # input untouched


def test_refused_bytes_name_the_source_and_keep_the_request():
    data = _png_bytes()
    request = Request(data, "r")
    with pytest.raises(PluginRefusedError, match="<bytes>.*no 'DICM' at byte 128"):
        DicomPlugin(request)
    gc.collect()  # a refused instance never finishes the shared request
    from imageio.plugins.pillow import PillowPlugin

    with PillowPlugin(request) as handle:
        assert handle.read().shape == (5, 7)
    with pytest.raises(OSError) as info:
        iio.imread(b"", plugin="dicomio")
    assert any(isinstance(e, dicomio.DicomioError) and "empty" in str(e)
               for e in _chain(info.value))


def test_folder_without_dicom_names_the_folder(tmp_path):
    folder = tmp_path / "nothing"
    folder.mkdir()
    with pytest.raises(dicomio.SeriesError) as info:
        iio.imread(folder, plugin="dicomio")
    assert info.value.path == str(folder) and "no image series" in str(info.value)
    (folder / "a.txt").write_text("not DICOM")
    with pytest.raises(dicomio.SeriesError, match="no image series.*1 not DICOM") as info:
        iio.imread(folder, plugin="dicomio")
    assert info.value.path == str(folder) and str(folder) in str(info.value)


def test_missing_path_is_imageios_file_not_found(tmp_path):
    # imageio checks that a path exists before it asks any plugin, so no
    # dicomio error can join this one; it already names the path and reason.
    missing = tmp_path / "missing.dcm"
    with pytest.raises(FileNotFoundError, match="missing.dcm") as info:
        iio.imread(missing, plugin="dicomio")
    assert info.value.filename == str(missing)


def test_legacy_dicom_plugin_no_longer_used(tmp_path):
    for name in ("MR_small_RLE.dcm", "JPEG2000.dcm"):
        shutil.copyfile(corpus_file(name), tmp_path / name)
    before = sorted(os.listdir(tmp_path))
    for name in before:
        with iio.imopen(tmp_path / name, "r") as handle:
            assert isinstance(handle, DicomPlugin)
        np.testing.assert_array_equal(iio.imread(tmp_path / name),
                                      dicomio.imread(tmp_path / name))
        iio.immeta(tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == before  # no "<file>.raw" beside it


def test_every_dicom_extension_is_ours(tmp_path):
    for ext in EXTENSIONS:
        target = tmp_path / f"image{ext}"
        shutil.copyfile(samples.path("HTJ2KLossless"), target)
        with iio.imopen(target, "r") as handle:
            assert isinstance(handle, DicomPlugin)


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------
def _pristine_tables() -> dict[str, object]:
    """imageio's own tables, from a process that never imported dicomio."""
    code = (
        "import json\n"
        "from imageio.config import known_extensions, known_plugins\n"
        f"exts = {list(EXTENSIONS)!r}\n"
        "print(json.dumps({'plugins': list(known_plugins),\n"
        "  'ext': {e: [[f.priority, f.default_priority] for f in known_extensions[e]]\n"
        "          for e in exts if e in known_extensions}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def test_register_unregister_restores_tables_exactly():
    assert is_registered()
    registered = _tables()
    assert list(known_plugins)[0] == "dicomio"
    for ext in EXTENSIONS:
        for fmt in known_extensions[ext]:
            assert fmt.priority[0] == fmt.default_priority[0] == "dicomio"
    register()  # idempotent
    assert _tables() == registered
    configs = dict(known_plugins)
    try:
        unregister()
        assert not is_registered()
        plain = _tables()
        assert "dicomio" not in known_plugins
        pristine = _pristine_tables()
        assert list(known_plugins) == pristine["plugins"]
        for ext, lists in pristine["ext"].items():
            assert [list(x) for x in plain[1][ext]] == [list(x) for x in lists]
        unregister()  # no-op
        assert _tables() == plain
        # The class works without registration.
        path = samples.path("JPEGLossless")
        np.testing.assert_array_equal(iio.imread(path, plugin=DicomPlugin),
                                      dicomio.imread(path))
        register()
        assert _tables()[1] == registered[1]
        assert list(known_plugins) == [name for name, _ in registered[0]]
        # Every other plugin keeps its very config object.
        assert all(known_plugins[k] is v for k, v in configs.items() if k != "dicomio")
        unregister()
        assert _tables() == plain
    finally:
        register()  # leave the suite registered
    assert is_registered()
    assert [name for name, _ in _tables()[0]] == [name for name, _ in registered[0]]


def test_reset_keeps_registration():
    fmt = known_extensions[".dcm"][0]
    before = list(fmt.priority)
    fmt.reset()  # imageio's own reset restores the default priority
    assert fmt.priority == before
    assert fmt.priority[0] == "dicomio"


# --------------------------------------------------------------------------
# scikit-image
# --------------------------------------------------------------------------
def test_skimage_imread():
    import skimage.io

    single = samples.path("JPEG2000MCLossless")  # one RGB frame
    np.testing.assert_array_equal(skimage.io.imread(single), iio.imread(single))
    two = samples.path("JPEG2000Lossless")  # two grey frames: unchanged
    np.testing.assert_array_equal(skimage.io.imread(two), iio.imread(two))
    ct = corpus_file("emri_small_jpeg_2k_lossless.dcm")  # ten grey frames
    np.testing.assert_array_equal(skimage.io.imread(ct), iio.imread(ct))


def test_skimage_moves_three_frames_to_the_end():
    """skimage's own rule: a first axis of 3 or 4 becomes the last axis."""
    import skimage.io

    path = samples.path("DeflatedImageFrameCompression")  # three grey frames
    frames = iio.imread(path)
    assert frames.shape == (3, 64, 64)
    got = skimage.io.imread(path)
    assert got.shape == (64, 64, 3)  # looks like RGB, is three frames
    np.testing.assert_array_equal(np.moveaxis(got, -1, 0), frames)


# --------------------------------------------------------------------------
# Folders and DICOMDIR
# --------------------------------------------------------------------------
def _write_series(folder: Path, volume: np.ndarray, syntax: str, seed: str) -> None:
    """A series whose file names and InstanceNumbers both lie about the order."""
    order = np.random.default_rng(7).permutation(len(volume))
    for name, k in enumerate(order):
        encode.write(folder / f"{seed}-{name:02d}", volume[k], syntax,
                     image_position=(-10.0, 4.0, 2.5 * k),
                     image_orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.7, 0.8),
                     rescale=(1, -1024), modality="CT", uid_seed=seed,
                     sop_instance_uid=encode.uid_from(seed, str(k)),
                     instance_number=100 - int(name))


@pytest.fixture
def series_dir(tmp_path):
    volume = np.random.default_rng(3).integers(0, 3000, (6, 12, 10), dtype=np.uint16)
    folder = tmp_path / "series"
    folder.mkdir()
    _write_series(folder, volume, "JPEGLSLossless", "imageio-plugin-test")
    return folder, volume


def test_folder_volume(series_dir):
    folder, volume = series_dir
    np.testing.assert_array_equal(iio.imread(folder, plugin="dicomio"), volume)
    np.testing.assert_array_equal(iio.imread(folder, extension=".dcm"), volume)
    np.testing.assert_array_equal(iio.imread(folder, plugin=DicomPlugin), volume)
    np.testing.assert_array_equal(iio.imread(folder, plugin="dicomio", index=2),
                                  volume[2])
    hu = iio.imread(folder, plugin="dicomio", rescale=True)
    np.testing.assert_array_equal(hu, volume.astype(np.int32) - 1024)
    props = iio.improps(folder, plugin="dicomio")
    assert props.shape == volume.shape and props.dtype == volume.dtype
    assert props.is_batch and props.n_images == len(volume)
    assert props.spacing == pytest.approx((2.5, 0.7, 0.8))
    rprops = iio.improps(folder, plugin="dicomio", rescale=True, index=0)
    assert rprops.shape == volume.shape[1:] and rprops.dtype == hu.dtype
    meta = iio.immeta(folder, plugin="dicomio")
    json.dumps(meta)
    assert meta["series"]["n_slices"] == len(volume)
    assert meta["spacing"] == props.spacing
    assert meta["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.80"
    assert "RescaleIntercept" not in iio.immeta(folder, plugin="dicomio", rescale=True)
    slices = list(iio.imiter(folder, plugin="dicomio"))
    np.testing.assert_array_equal(np.stack(slices), volume)
    with pytest.raises(dicomio.FrameIndexError):
        iio.imread(folder, plugin="dicomio", index=len(volume))


def test_folder_needs_plugin_or_extension(series_dir):
    folder, _ = series_dir
    with pytest.raises(OSError, match="folders"):
        iio.imread(folder)


def test_folder_with_two_series(series_dir):
    folder, volume = series_dir
    other = np.zeros((3, 12, 10), np.uint16)
    _write_series(folder, other, "RLELossless", "imageio-plugin-second")
    with pytest.raises(dicomio.SeriesError, match="series="):
        iio.imread(folder, plugin="dicomio")
    shapes = {iio.imread(folder, plugin="dicomio", series=i).shape for i in (0, 1)}
    assert shapes == {volume.shape, other.shape}


def test_dicomdir(tmp_path):
    from pydicom.fileset import FileSet

    volume = np.random.default_rng(5).integers(0, 255, (4, 8, 10), dtype=np.uint8)
    fileset = FileSet()
    for k in (2, 0, 3, 1):
        fileset.add(encode.make_dataset(
            volume[k], "RLELossless", image_position=(0, 0, 2.0 * k),
            image_orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.5, 0.5),
            uid_seed="dicomdir", sop_instance_uid=encode.uid_from("dicomdir", str(k)),
            instance_number=k + 1, StudyID="1"))
    fileset.write(tmp_path)
    dicomdir = tmp_path / "DICOMDIR"
    np.testing.assert_array_equal(iio.imread(dicomdir), volume)  # no extension
    np.testing.assert_array_equal(iio.imread(tmp_path, plugin="dicomio"), volume)


def test_v2_api(series_dir):
    folder, volume = series_dir
    multi = samples.path("JPEGLosslessSV1")  # two grey frames
    frames = iio.imread(multi)
    np.testing.assert_array_equal(iio2.volread(multi), frames)
    np.testing.assert_array_equal(iio2.imread(multi), frames[0])
    listed = iio2.mimread(multi)
    assert len(listed) == 2
    np.testing.assert_array_equal(listed[1], frames[1])
    single = samples.path("HTJ2KLossless")
    assert iio2.volread(single).shape == (1, 64, 64)  # a volume of one slice
    np.testing.assert_array_equal(iio2.volread(folder, format="dicomio"), volume)
    assert len(iio2.mimread(folder, format="dicomio")) == len(volume)
    volumes = iio2.mvolread(folder, format="dicomio")
    assert len(volumes) == 1
    np.testing.assert_array_equal(volumes[0], volume)
    with iio2.get_reader(multi) as reader:
        assert reader.get_length() == 2
        np.testing.assert_array_equal(reader.get_data(1), frames[1])
        assert reader.get_meta_data(0)["Rows"] == 64


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
# Readers that cannot decode a syntax, with the reason; the test checks that
# they still fail, so the lists stay honest.
PYDICOM_CANNOT = {
    "EncapsulatedUncompressedExplicitVRLittleEndian": "no decoder in pydicom 3.0",
    "DeflatedImageFrameCompression": "no decoder in pydicom 3.0",
    "JPEG2000MCLossless": "no decoder for JPEG 2000 Part 2 in pydicom 3.0",
    "JPEGXLLossless": "no JPEG XL decoder in pydicom 3.0",
}
GDCM_CANNOT = {
    "EncapsulatedUncompressedExplicitVRLittleEndian": "unknown to GDCM 3.2",
    "DeflatedImageFrameCompression": "unknown to GDCM 3.2",
    "JPEGXLLossless": "GDCM 3.2 has no JPEG XL codec",
}


def _arrays(syntax: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    arrays = {
        "grey-frames": rng.integers(0, 4000, (3, 16, 20), dtype=np.uint16),
        "rgb": rng.integers(0, 256, (16, 20, 3), dtype=np.uint8),
        "rgb-frames": rng.integers(0, 256, (2, 16, 20, 3), dtype=np.uint8),
        "signed": rng.integers(-2000, 2000, (16, 20), dtype=np.int16),
    }
    if syntax == "JPEGXLLossless":
        del arrays["signed"]  # JPEG XL has no signed samples
    return arrays


def _pydicom_pixels(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def _gdcm_pixels(path: Path) -> np.ndarray | None:
    gdcm = pytest.importorskip("gdcm")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        return None
    image = reader.GetImage()
    buffer = image.GetBuffer()
    if buffer is None:
        return None
    raw = buffer.encode("utf-8", "surrogateescape")  # SWIG returns a str
    fmt = image.GetPixelFormat()
    kind = "i" if fmt.GetPixelRepresentation() else "u"
    dtype = np.dtype(f"{kind}{fmt.GetBitsAllocated() // 8}")
    dims = [image.GetDimension(i) for i in range(image.GetNumberOfDimensions())]
    shape = tuple(reversed(dims))
    if fmt.GetSamplesPerPixel() > 1:
        shape += (fmt.GetSamplesPerPixel(),)
    return np.frombuffer(raw, dtype).reshape(shape)


@pytest.mark.parametrize("syntax", encode.LOSSLESS_ENCODABLE)
def test_imwrite_round_trip(syntax, tmp_path):
    for label, array in _arrays(syntax).items():
        path = tmp_path / f"{label}.dcm"
        assert iio.imwrite(path, array, transfer_syntax=syntax) is None
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == lookup(syntax).uid
        back = iio.imread(path)
        assert back.dtype == array.dtype, label
        np.testing.assert_array_equal(back, array, err_msg=label)
        np.testing.assert_array_equal(dicomio.imread(path), array, err_msg=label)
        if syntax in PYDICOM_CANNOT:
            with pytest.raises(NotImplementedError):
                _pydicom_pixels(path)
        else:
            np.testing.assert_array_equal(_pydicom_pixels(path), array, err_msg=label)
        from_gdcm = _gdcm_pixels(path)
        if syntax in GDCM_CANNOT:
            assert from_gdcm is None
        else:
            assert from_gdcm is not None, label
            np.testing.assert_array_equal(from_gdcm, array, err_msg=label)


def test_imwrite_targets_and_options(tmp_path):
    image = np.arange(240, dtype=np.uint16).reshape(12, 20)
    data = iio.imwrite("<bytes>", image, extension=".dcm",
                       transfer_syntax="RLELossless", pixel_spacing=(0.25, 0.5),
                       Modality="MR")
    assert data[128:132] == b"DICM"
    np.testing.assert_array_equal(iio.imread(data), image)
    meta = iio.immeta(data)
    assert meta["Modality"] == "MR" and meta["spacing"] == (0.25, 0.5)
    iio.imwrite(tmp_path / "plugin.dcm", image, plugin="dicomio")
    np.testing.assert_array_equal(iio.imread(tmp_path / "plugin.dcm"), image)
    # A batch of one frame is still a multi-frame file.
    iio.imwrite(tmp_path / "batch.dcm", image[None], is_batch=True)
    assert iio.imread(tmp_path / "batch.dcm", index=...).shape == (1, 12, 20)
    assert pydicom.dcmread(tmp_path / "batch.dcm").NumberOfFrames == 1
    # imageio v2 writers: a list of frames, and a volume.
    iio2.mimwrite(tmp_path / "list.dcm", [image, image + 1], format="dicomio")
    assert iio.imread(tmp_path / "list.dcm").shape == (2, 12, 20)
    vol = np.stack([image] * 3).astype(np.uint8)
    iio2.volwrite(tmp_path / "vol.dcm", vol)
    np.testing.assert_array_equal(iio2.volread(tmp_path / "vol.dcm"), vol)
    # Without a DICOM extension the plugin declines to write.
    with pytest.raises(OSError):
        iio.imwrite(tmp_path / "noext", image, plugin="dicomio")
    assert not (tmp_path / "noext").exists()


def test_imwrite_lossy_needs_consent(tmp_path):
    ramp = np.linspace(0, 250, 32, dtype=np.uint8)
    rgb = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128), axis=-1)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    target = tmp_path / "lossy.dcm"
    with pytest.raises(dicomio.EncodeError, match="allow_lossy"):
        iio.imwrite(target, rgb, transfer_syntax="JPEGBaseline8Bit")
    assert not target.exists()
    iio.imwrite(target, rgb, transfer_syntax="JPEGBaseline8Bit", allow_lossy=True)
    back = iio.imread(target)
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb).mean() < 4
    # A lossy-capable syntax coded reversibly needs no consent.
    iio.imwrite(target, rgb, transfer_syntax="JPEG2000", lossless=True)
    np.testing.assert_array_equal(iio.imread(target), rgb)


def test_imwrite_refuses_bad_input(tmp_path):
    with pytest.raises(dicomio.EncodeError):
        iio.imwrite(tmp_path / "f.dcm", np.zeros((4, 4), np.float64))
    with pytest.raises(dicomio.EncodeError, match="shape"):
        iio.imwrite(tmp_path / "f.dcm", [np.zeros((4, 4), np.uint8),
                                         np.zeros((5, 4), np.uint8)])


def test_warnings_from_the_core_reach_the_user(tmp_path):
    # A tolerated header problem is a DicomioWarning, not a silent fix.
    ds = pydicom.dcmread(samples.path("ExplicitVRLittleEndian"))
    del ds.PhotometricInterpretation
    target = tmp_path / "nopi.dcm"
    ds.save_as(target)
    with pytest.warns(dicomio.DicomioWarning, match="Photometric"):
        arr = iio.imread(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dicomio.DicomioWarning)
        np.testing.assert_array_equal(arr, dicomio.imread(target))


def test_tolerated_defects_are_in_the_metadata(tmp_path):
    import pydicom

    import dicomio

    ds = pydicom.dcmread(corpus_file("SC_rgb_rle_2frame.dcm"))
    ds.NumberOfFrames = 5
    path = tmp_path / "nf.dcm"
    ds.save_as(path)
    with pytest.warns(dicomio.DicomioWarning, match="Number of Frames"):
        meta = iio.immeta(path, plugin="dicomio")
    assert any("Number of Frames says 5" in w for w in meta["warnings"])
    clean = iio.immeta(corpus_file("SC_rgb_rle_2frame.dcm"), plugin="dicomio")
    assert clean["warnings"] == []
