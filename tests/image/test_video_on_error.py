"""``on_error`` for the video Transfer Syntaxes (MPEG-2, H.264, HEVC via PyAV).

The clips are made by dicomio's own encoder (:mod:`dicomio.encode.video`,
real FFmpeg through PyAV) and damaged here: the file cut short inside the
stream, or bytes flipped inside it. By default a damaged frame raises a
DicomioError naming the file, the frame, the syntax and the backend; with
``"fill"`` / ``"recover"`` / ``"skip"`` the frames that decoded come back
(equal to the undamaged file's) and the others are 0 or left out, listed in
``failed_frames`` and in one warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

import imageio.v3 as iio  # noqa: E402

import dicomio  # noqa: E402
from dicomio.encode import video as ev  # noqa: E402
from dicomio.image import DicomioWarning  # noqa: E402
from dicomio.image.video import chunk_bounds  # noqa: E402

N, ROWS, COLS, GOP = 24, 48, 64, 8
SYNTAXES = ("MPEG2MPML", "MPEG4HP41", "HEVCMP51")


def _frames() -> np.ndarray:
    y, x = np.mgrid[0:ROWS, 0:COLS]
    t = np.arange(N)[:, None, None]
    rgb = np.stack(np.broadcast_arrays(128 + 60 * np.sin(x / 9 + t / 5),
                                       128 + 60 * np.cos(y / 7 + t / 6),
                                       100 + 50 * np.sin((x + y) / 11 + 0 * t)), -1)
    return rgb.astype(np.uint8)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    """keyword -> (a whole video file, its frames as dicomio decodes them)."""
    root = tmp_path_factory.mktemp("video-on-error")
    out = {}
    for kw in SYNTAXES:
        path = root / f"{kw}.dcm"
        ev.save_video(ev.make_video_dataset(_frames(), kw, gop=GOP), path)
        with dicomio.DicomImage(path) as img:
            out[kw] = (path, img.read())
    return out


def _quiet_open(path: Path) -> dicomio.DicomImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        return dicomio.DicomImage(path)


def _flipped(path: Path, kw: str) -> Path:
    """A clip written to ``path`` with every 7th of 200 bytes in the middle of
    its stream flipped (0x5A): pictures the decoder refuses or loses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dicomio.encode.video.make_video_dataset(_frames(), kw, gop=GOP)
    stream = bytearray(ds.PixelData)
    for k in range(len(stream) // 2, len(stream) // 2 + 200, 7):
        stream[k] ^= 0x5A
    ds.PixelData = bytes(stream)
    ev.save_video(ds, path)
    return path


@pytest.mark.parametrize("kw", SYNTAXES)
def test_a_file_cut_inside_the_stream(clean, tmp_path, kw):
    whole, ref = clean[kw]
    data = whole.read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.warns(DicomioWarning) as caught:
        img = dicomio.DicomImage(path)
    said = [str(w.message) for w in caught]
    assert any("the file ends inside the video stream: frames " in m and
               "to 23 are incomplete or missing" in m for m in said), said
    assert not any("Number of Frames" in m for m in said), said
    with img:
        # The header's frame count stays: the cut frames are reported, not dropped.
        assert img.n_frames == N
        with pytest.raises(dicomio.TruncatedError) as info:
            img.read()
        err = info.value
        cut = err.frame
        # The cut GOP is lost from its first frame (a decoding unit start).
        assert cut is not None and 0 < cut < N and cut in chunk_bounds(img)
        msg = str(err)
        assert str(path) in msg and f"frame {cut}" in msg and kw in msg
        assert "pyav" in msg and "file truncated" in msg
        # The frames before the cut read as usual, and exactly.
        np.testing.assert_array_equal(img.read(range(cut)), ref[:cut])

        for mode, action in (("recover", "filled"), ("fill", "filled")):
            with pytest.warns(DicomioWarning, match=rf"cut\.dcm: {N - cut} of {N} frames "
                                                    rf"failed; {N - cut} were filled "
                                                    rf"with 0: {cut}, {cut + 1}, "):
                got = img.read(on_error=mode)
            assert got.shape == ref.shape
            np.testing.assert_array_equal(got[:cut], ref[:cut])
            assert not got[cut:].any()
            assert sorted(img.failed_frames) == list(range(cut, N))
            fi = img.failed_frames[cut]
            assert fi.action == action and fi.missing_rows == (0, ROWS)
            assert "the file ends inside the video stream" in fi.error

        with pytest.warns(DicomioWarning, match=f"{N - cut} were left out"):
            got = img.read(on_error="skip")
        np.testing.assert_array_equal(got, ref[:cut])
        assert img.failed_frames[N - 1].action == "skipped"


@pytest.mark.parametrize("kw", SYNTAXES)
def test_a_corrupt_stream(clean, tmp_path, kw):
    # Bytes flipped in the middle of the stream. FFmpeg refuses a picture
    # (MPEG-2, HEVC), or the transport stream loses one and FFmpeg conceals
    # what referred to it without a word (H.264): the skipped timestamp
    # gives it away. Either way the damaged group of pictures fails, and
    # every frame returned is the undamaged file's frame at the same place.
    whole, ref = clean[kw]
    path = _flipped(tmp_path / "bad.dcm", kw)
    img = _quiet_open(path)
    with img:
        assert img.n_frames == N
        with pytest.raises(dicomio.DecodeError) as info:
            img.read()
        msg = str(info.value)
        assert str(path) in msg and kw in msg and "pyav" in msg
        assert f"frame {info.value.frame}" in msg
        with pytest.warns(DicomioWarning, match=rf"bad\.dcm: \d+ of {N} frames "
                                                "failed; .* filled with 0"):
            got = img.read(on_error="fill")
        failed = sorted(img.failed_frames)
        assert failed and failed[0] == info.value.frame
        assert failed == list(range(failed[0], failed[-1] + 1))  # one run
        assert len(failed) <= 2 * GOP  # one or two groups of pictures
        assert not got[failed].any()
        good = [i for i in range(N) if i not in failed]
        np.testing.assert_array_equal(got[good], ref[good])
        # Each read sees the same failures, without decoding them again.
        with pytest.warns(DicomioWarning):
            again = img.read(on_error="recover")
        np.testing.assert_array_equal(again, got)
        assert sorted(img.failed_frames) == failed
        with pytest.warns(DicomioWarning, match="were left out"):
            kept = img.read(on_error="skip")
        np.testing.assert_array_equal(kept, ref[good])


def test_lost_pictures_are_named(clean, tmp_path):
    # H.264 in a transport stream that lost a picture: the file says so when
    # it opens, and the frame that has no picture says why it failed.
    path = _flipped(tmp_path / "lost.dcm", "MPEG4HP41")
    with pytest.warns(DicomioWarning, match=r"timestamps skip 1 picture\(s\) \(lost "
                                            r"packets\): frames (\d+) are missing"):
        img = dicomio.DicomImage(path)
    with img:
        lost = img._video._lost[0]
        with pytest.warns(DicomioWarning):
            img.read(on_error="fill")
        assert "holds no picture for this frame" in img.failed_frames[lost].error
        others = [fi.error for i, fi in img.failed_frames.items() if i != lost]
        assert others and all("lost a picture of this group of pictures" in e
                              for e in others)


def test_imageio_lists_failed_video_frames(clean, tmp_path):
    whole, ref = clean["MPEG4HP41"]
    data = whole.read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.warns(DicomioWarning) as caught:
        arr = iio.imread(path, plugin="dicomio", on_error="recover")
        meta = iio.immeta(path, plugin="dicomio")
    assert any("frames failed" in str(w.message) for w in caught)
    assert arr.shape == ref.shape
    with pytest.warns(DicomioWarning):
        frames = list(iio.imiter(path, plugin="dicomio", on_error="skip"))
    cut = len(frames)
    assert 0 < cut < N
    np.testing.assert_array_equal(np.stack(frames), ref[:cut])
    np.testing.assert_array_equal(arr[:cut], ref[:cut])
    assert "the file ends inside the video stream" in " ".join(meta["warnings"])


def test_a_whole_stream_is_untouched(clean):
    path, ref = clean["HEVCMP51"]
    with dicomio.DicomImage(path) as img:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = img.read(on_error="fill")
        np.testing.assert_array_equal(got, ref)
        assert img.failed_frames == {}


def test_a_missing_sequence_delimiter_alone_is_not_a_cut(clean, tmp_path):
    # Every fragment is there: the file reads whole, as before.
    path, ref = clean["HEVCMP51"]
    data = path.read_bytes()
    end = data.rfind(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    assert end > 0
    short = tmp_path / "nodelim.dcm"
    short.write_bytes(data[:end])
    img = _quiet_open(short)
    with img:
        assert img.n_frames == N
        np.testing.assert_array_equal(img.read(), ref)
        assert not any("ends inside the video stream" in w for w in img.warnings)
