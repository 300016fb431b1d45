"""Video Transfer Syntaxes (MPEG-2, H.264, HEVC) through PyAV.

Clips are encoded here with PyAV itself (B-frames, several GOPs, open and
closed GOPs, 10-bit HEVC, program / transport streams, MP4 and raw Annex B),
wrapped in DICOM with :func:`dicomio.encode.video.wrap_stream`, and decoded
by dicomio. Frames are checked against what went in (PSNR), against PyAV's
own decode of the same stream (exact), and against themselves read in any
order.
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

import dicomio  # noqa: E402
from dicomio.encode import video as ev  # noqa: E402
from dicomio.errors import DecodeError, DicomioError  # noqa: E402
from dicomio.image import DicomioWarning  # noqa: E402
from dicomio.image.video import chunk_bounds, frame_time, gop_chunks  # noqa: E402

N, ROWS, COLS = 20, 48, 64


def _frames(n: int = N, ten: bool = False) -> np.ndarray:
    """Smooth moving colour gradients (4:2:0 keeps them above 30 dB)."""
    y, x = np.mgrid[0:ROWS, 0:COLS]
    t = np.arange(n)[:, None, None]
    r = 128 + 60 * np.sin(x / 9 + t / 5)
    g = 128 + 60 * np.cos(y / 7 + t / 6)
    b = 100 + 50 * np.sin((x + y) / 11 + 0 * t)
    rgb = np.stack(np.broadcast_arrays(r, g, b), -1)
    return (rgb * 4).astype(np.uint16) if ten else rgb.astype(np.uint8)


def _encode(frames: np.ndarray, codec: str, fmt: str, options: dict[str, str],
            gop: int = 6, bframes: int = 2, matrix: str | None = "ITU709") -> bytes:
    """Encode with PyAV directly (not dicomio's helper)."""
    ten = frames.dtype == np.uint16
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream(codec, rate=Fraction(25))
        st.width, st.height = COLS, ROWS
        st.pix_fmt = "yuv420p10le" if ten else "yuv420p"
        if matrix == "ITU709":
            st.codec_context.colorspace = 1
            st.codec_context.color_range = 1
        elif matrix == "ITU601":
            st.codec_context.colorspace = 6
            st.codec_context.color_range = 1
        st.options = options
        if codec == "mpeg2video":
            st.codec_context.gop_size = gop
            st.codec_context.max_b_frames = bframes
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f * 64 if ten else f),
                                            format="rgb48le" if ten else "rgb24")
            vf = vf.reformat(format=st.pix_fmt, dst_colorspace=matrix or "ITU601",
                             dst_color_range="MPEG")
            for p in st.encode(vf):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return buf.getvalue()


def _x264(gop: int = 6, extra: str = "") -> dict[str, str]:
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=2:log-level=none"
    return {"crf": "12", "x264-params": params + extra}


def _x265(gop: int = 6, extra: str = "") -> dict[str, str]:
    return {"x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=2:"
                           f"crf=12:log-level=none{extra}"}


# name: (transfer syntax, encoder, container, options, 10-bit)
CLIPS = {
    "h264-ts": ("MPEG4HP41", "libx264", "mpegts", _x264(), False),
    "h264-annexb": ("MPEG4HP422D", "libx264", "h264", _x264(), False),
    "h264-mp4": ("MPEG4HP41", "libx264", "mp4", _x264(), False),
    "hevc-main10-ts": ("HEVCM10P51", "libx265", "mpegts", _x265(), True),
    "hevc-annexb-open-gop": ("HEVCMP51", "libx265", "hevc", _x265(extra=":open-gop=1"),
                             False),
    "mpeg2-ps-open-gop": ("MPEG2MPML", "mpeg2video", "mpeg",
                          {"qmin": "1", "qmax": "3", "b": "8M"}, False),
    "mpeg2-es": ("MPEG2MPHL", "mpeg2video", "mpeg2video",
                 {"qmin": "1", "qmax": "3", "b": "8M"}, False),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """name -> (path, stream, source frames)."""
    root = tmp_path_factory.mktemp("video")
    out = {}
    for name, (kw, codec, fmt, opts, ten) in CLIPS.items():
        src = _frames(ten=ten)
        stream = _encode(src, codec, fmt, opts)
        ds = ev.wrap_stream(stream, kw, rows=ROWS, columns=COLS, frames=N,
                            bits_stored=10 if ten else 8, frame_time=40.0,
                            fragment_size=700, uid_seed=f"test-video/{name}")
        path = root / f"{name}.dcm"
        ev.save_video(ds, path)
        out[name] = (path, stream, src)
    return out


def _pyav_frames(stream: bytes, ten: bool) -> np.ndarray:
    """PyAV's own decode of the stream, converted as dicomio documents it."""
    kw = {"src_colorspace": "ITU709", "src_color_range": "MPEG",
          "dst_color_range": "JPEG", "interpolation": "POINT"}
    with av.open(io.BytesIO(stream)) as c:
        if ten:
            arr = np.stack([f.to_ndarray(format="rgb48le", **kw)
                            for f in c.decode(video=0)]).astype(np.uint32)
            return np.minimum((arr + 32) >> 6, 1023).astype(np.uint16)
        return np.stack([f.to_ndarray(format="rgb24", **kw) for f in c.decode(video=0)])


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(peak * peak / mse) if mse else np.inf


@pytest.mark.parametrize("name", list(CLIPS))
def test_frames_match_source_and_pyav(clips, name):
    path, stream, src = clips[name]
    ten = CLIPS[name][4]
    with dicomio.DicomImage(path) as img:
        arr = img.read()
        assert img.decoder == "pyav"
        assert img.transfer_syntax.keyword == CLIPS[name][0]
    assert arr.shape == (N, ROWS, COLS, 3)
    assert arr.dtype == (np.uint16 if ten else np.uint8)
    assert _psnr(arr, src, 1023.0 if ten else 255.0) >= 30.0
    np.testing.assert_array_equal(arr, _pyav_frames(stream, ten))


@pytest.mark.parametrize("name", list(CLIPS))
def test_random_access_equals_full_read(clips, name):
    path = clips[name][0]
    full = dicomio.imread(path)
    order = [13, 2, 19, 0, 7, 6, 18, 12, 1]
    with dicomio.DicomImage(path) as img:
        for i in order:
            np.testing.assert_array_equal(img.read(i), full[i])
        np.testing.assert_array_equal(img.read([5, 3, 5, 16]), full[[5, 3, 5, 16]])
        np.testing.assert_array_equal(img.read(slice(4, 11)), full[4:11])


def test_one_frame_never_decodes_the_whole_stream(clips):
    path = clips["h264-ts"][0]
    with dicomio.DicomImage(path, threads=1) as img:
        index = img._video.index
        assert len(index.starts) == 4  # GOPs of 6 frames: 0, 6, 12, 18
        img.read(8)
        dec = img._video._decoder
        # It started at the keyframe of frame 8's GOP (6..11) and stopped
        # within reach of it (B-frame reordering needs a packet or two more).
        assert dec.unit == 1 and index.starts[1] == 6
        assert dec.packet <= 6 + 6 + 2 < len(index.packets)


def test_sequential_reads_reuse_the_decoder(clips):
    path = clips["hevc-main10-ts"][0]
    full = dicomio.imread(path)
    with dicomio.DicomImage(path) as img:
        img.read(0)
        dec = img._video._decoder
        for i in range(1, N):
            np.testing.assert_array_equal(img.read(i), full[i])
            assert img._video._decoder is dec
        # Going back starts a new decoder at the right keyframe.
        np.testing.assert_array_equal(img.read(3), full[3])
        assert img._video._decoder is not dec


def test_open_gops_decode_from_the_unit_before(clips):
    path = clips["mpeg2-ps-open-gop"][0]
    with dicomio.DicomImage(path) as img:
        index = img._video.index
        assert any(index.leading[1:]), "the MPEG-2 encoder wrote no open GOP"
    path = clips["hevc-annexb-open-gop"][0]
    with dicomio.DicomImage(path) as img:
        assert img._video.index.container == "hevc"


def test_fragments_are_one_stream(clips, tmp_path):
    path, stream, src = clips["h264-annexb"]
    one = tmp_path / "one.dcm"
    ev.save_video(ev.wrap_stream(stream, "MPEG4HP422D", rows=ROWS, columns=COLS,
                                 frames=N), one)
    import pydicom
    from pydicom.encaps import generate_fragments

    ds = pydicom.dcmread(path)
    assert len(list(generate_fragments(ds.PixelData))) > 3
    np.testing.assert_array_equal(dicomio.imread(one), dicomio.imread(path))


def test_colour_report_names_matrix_and_conversion(clips, tmp_path):
    with dicomio.DicomImage(clips["h264-ts"][0]) as img:
        predicted = img.photometric
        img.read(0)
        report = img.photometric
    for r in (predicted, report):
        assert r["declared"] == "YBR_PARTIAL_420"
        assert r["codestream"] == "YBR_PARTIAL_420"
        assert r["output"] == "RGB"
        assert r["mismatch"] and r["converted"] and not r["mislabelled"]
        assert any("BT.709 matrix (signalled" in n for n in r["notes"])
    # A BT.601 stream, and one that signals nothing.
    for matrix, expect in (("ITU601", "BT.601 matrix (signalled"),
                           (None, "BT.601 matrix (not signalled")):
        stream = _encode(_frames(6), "libx264", "h264", _x264(), matrix=matrix)
        p = tmp_path / f"{matrix}.dcm"
        ev.save_video(ev.wrap_stream(stream, "MPEG4HP41", rows=ROWS, columns=COLS,
                                     frames=6), p)
        with dicomio.DicomImage(p) as img:
            arr = img.read()
            notes = img.photometric["notes"]
        assert any(expect in n for n in notes), notes
        assert _psnr(arr, _frames(6), 255.0) >= 30.0


def test_main10_is_10_bit(clips):
    with dicomio.DicomImage(clips["hevc-main10-ts"][0]) as img:
        assert img.spec.bits_stored == 10 and img.dtype == np.uint16
        assert int(img.read().max()) <= 1023


def test_frame_count_from_the_stream(clips, tmp_path):
    _, stream, _ = clips["h264-ts"]
    p = tmp_path / "count.dcm"
    ev.save_video(ev.wrap_stream(stream, "MPEG4HP41", rows=ROWS, columns=COLS,
                                 frames=N + 5), p)
    with pytest.warns(DicomioWarning, match=f"says {N + 5} but the video stream "
                                            f"holds {N} frames"):
        img = dicomio.DicomImage(p)
    with img:
        assert img.n_frames == N and img.read().shape[0] == N


def test_header_size_disagreeing_with_the_stream(clips, tmp_path):
    _, stream, _ = clips["h264-ts"]
    p = tmp_path / "size.dcm"
    ev.save_video(ev.wrap_stream(stream, "MPEG4HP41", rows=ROWS * 2, columns=COLS,
                                 frames=N), p)
    with pytest.warns(DicomioWarning, match="using the stream's size"):
        img = dicomio.DicomImage(p)
    with img:
        assert img.shape == (N, ROWS, COLS, 3)


def test_frame_time_and_gop_chunks(clips):
    with dicomio.DicomImage(clips["h264-ts"][0]) as img:
        assert frame_time(img) == 40.0
        assert chunk_bounds(img) == [0, 6, 12, 18, 20]
        assert img.header_dict()["CineRate"] == 25


def _rewrap(tmp_path, name, stream, kw="MPEG4HP41", frames=N):
    p = tmp_path / name
    ev.save_video(ev.wrap_stream(stream, kw, rows=ROWS, columns=COLS, frames=frames), p)
    return p


def test_truncated_stream(clips, tmp_path):
    _, stream, _ = clips["h264-annexb"]
    p = _rewrap(tmp_path, "trunc.dcm", stream[: len(stream) * 2 // 3], "MPEG4HP422D")
    with pytest.warns(DicomioWarning, match="Number of Frames"):
        img = dicomio.DicomImage(p)
    with img, pytest.raises(DecodeError) as info:
        img.read()
    msg = str(info.value)
    assert str(p) in msg and "frame" in msg and "pyav" in msg
    assert info.value.frame is not None


@pytest.mark.parametrize("name", ["h264-ts", "hevc-main10-ts", "mpeg2-ps-open-gop"])
def test_corrupt_stream(clips, tmp_path, name):
    _, stream, _ = clips[name]
    bad = bytearray(stream)
    for k in range(len(bad) // 3, len(bad), 61):
        bad[k] ^= 0x5A
    p = _rewrap(tmp_path, "bad.dcm", bytes(bad), CLIPS[name][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        img = dicomio.DicomImage(p)
    with img, pytest.raises(DicomioError) as info:
        img.read()
    assert str(p) in str(info.value) and info.value.frame is not None


def test_garbage_stream(tmp_path):
    junk = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    p = _rewrap(tmp_path, "junk.dcm", junk, "HEVCMP51")
    with pytest.warns(DicomioWarning, match="video stream cannot be read"):
        img = dicomio.DicomImage(p)
    with img, pytest.raises(DecodeError, match="cannot be read") as info:
        img.read(0)
    assert info.value.frame == 0 and str(p) in str(info.value)


def test_ffmpeg_log_stays_off_stderr(clips, tmp_path):
    _, stream, _ = clips["h264-ts"]
    bad = bytearray(stream)
    for k in range(len(bad) // 2, len(bad), 37):
        bad[k] ^= 0xFF
    p = _rewrap(tmp_path, "noisy.dcm", bytes(bad))
    code = ("import warnings, dicomio\n"
            "warnings.simplefilter('ignore')\n"
            f"img = dicomio.DicomImage({str(p)!r})\n"
            "try:\n    img.read()\nexcept dicomio.DicomioError:\n    pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_color_native_still_rgb(clips):
    with dicomio.DicomImage(clips["h264-ts"][0], color="native") as img:
        a = img.read(0)
        assert img.photometric["output"] == "RGB"
        assert any("always returned as RGB" in n for n in img.photometric["notes"])
    np.testing.assert_array_equal(a, dicomio.imread(clips["h264-ts"][0], 0))


def test_samples_decode_for_every_video_syntax():
    from dicomio import samples

    for kw in ev.VIDEO_SYNTAXES:
        with dicomio.DicomImage(samples.path(kw)) as img:
            arr = img.read()
        src = samples.source(kw)
        assert arr.shape == src.shape
        peak = 1023.0 if kw == "HEVCM10P51" else 255.0
        assert _psnr(arr, src, peak) >= 30.0, kw


def test_backend_contract_decodes_one_frame(clips):
    from dicomio.backends import registry
    from dicomio.backends._base import FrameContext

    path, stream, _ = clips["mpeg2-ps-open-gop"]
    full = dicomio.imread(path)
    be = registry.get("pyav")
    with dicomio.DicomImage(path) as img:
        spec = img.spec
    for i in (0, 7, N - 1):
        dec = be.decode(stream, FrameContext(spec=spec, index=i))
        np.testing.assert_array_equal(dec.array, full[i])


def test_wrap_stream_refuses_other_syntaxes():
    from dicomio.errors import EncodeError

    with pytest.raises(EncodeError, match="not a video"):
        ev.wrap_stream(b"\x00\x00", "JPEGBaseline8Bit", rows=2, columns=2, frames=1)


def test_gop_chunks():
    assert gop_chunks([0, 6, 12, 18, 20], 1) == [0, 6, 12, 18, 20]
    assert gop_chunks([0, 6, 12, 18, 20], 8) == [0, 12, 20]
    assert gop_chunks([0, 6, 12, 18, 20], 100) == [0, 20]
    assert gop_chunks([0, 5], 3) == [0, 5]


def test_imageio_reads_video(clips):
    iio = pytest.importorskip("imageio.v3")
    path = clips["hevc-main10-ts"][0]
    full = dicomio.imread(path)
    np.testing.assert_array_equal(iio.imread(path, plugin="dicomio"), full)
    np.testing.assert_array_equal(iio.imread(path, plugin="dicomio", index=7), full[7])
    meta = iio.immeta(path, plugin="dicomio")
    assert meta["FrameTime"] == 40.0 and meta["CineRate"] == 25
    assert meta["photometric"]["output"] == "RGB"


def test_napari_layer_has_a_time_axis(clips):
    pytest.importorskip("napari")
    from dicomio._napari._reader import read_dicom

    path = clips["h264-ts"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (data, kwargs, kind), = read_dicom(str(path))
    assert kind == "image" and kwargs["rgb"] is True
    assert kwargs["axis_labels"][0] == "t" and kwargs["units"][0] == "ms"
    assert kwargs["scale"][0] == 40.0
    assert data.shape == (N, ROWS, COLS, 3)
    np.testing.assert_array_equal(np.asarray(data[9]), dicomio.imread(path, 9))


def test_dask_chunks_along_gops(clips):
    pytest.importorskip("dask")
    path, _, _ = clips["h264-ts"]
    full = dicomio.imread(path)
    arr = dicomio.to_dask(str(path))
    assert arr.chunks[0] == (6, 6, 6, 2)
    assert dicomio.to_dask(str(path), frames_per_chunk=8).chunks[0] == (12, 8)
    np.testing.assert_array_equal(arr.compute(), full)
    np.testing.assert_array_equal(arr[7:14].compute(), full[7:14])
