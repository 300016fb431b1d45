"""``read(on_error=...)``: truncated files and bad frames (issue 15, items 4 and 5).

Every defect is built here with dicomio's own encoder: a native file cut
mid-frame, encapsulated files cut inside the last frame (JPEG, JPEG 2000,
RLE) or between fragments, and a 140-frame JPEG whose 23 frames were encoded
at another size (their SOF contradicts the header).
"""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, DicomioWarning, TruncatedError
from dicomio.image.tolerance import truncated_frames
from tests.robustness._hostile import (
    BAD,
    GREY8,
    GREY16,
    RGB8,
    TEXTURED,
    Encapsulated,
    cut_in_last_frame,
    jpeg_with_bad_frames,
    make,
    truncated_native,
)


def _quiet_read(img: DicomImage, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        return img.read(**kwargs)


def _opened(data: bytes) -> DicomImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        return DicomImage(data)


# ------------------------------------------------------------ the default
def test_a_native_file_cut_mid_frame_raises_naming_file_frame_and_bytes(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    with pytest.warns(DicomioWarning, match="truncated"):
        img = DicomImage(path)
    assert img.shape == (3, 20, 24)  # the header's frames, not fewer
    with pytest.raises(TruncatedError) as info:
        img.read()
    exc = info.value
    assert isinstance(exc, dicomio.DecodeError)
    text = str(exc)
    assert str(path) in text and "frame 1" in text and exc.frame == 1
    assert "ExplicitVRLittleEndian" in text
    assert "100 of its 960 bytes are missing" in text and exc.missing_bytes == 100
    assert "on_error='recover'" in text
    assert exc.tried == [("native", "not run: the data is truncated")]
    # The frames before the cut are whole and read alone as before.
    np.testing.assert_array_equal(img.read(0), GREY16[0])
    with pytest.raises(TruncatedError, match="none of its 960 bytes is there"):
        img.read(2)
    # It crosses process boundaries (dask) with its byte count.
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is TruncatedError and again.missing_bytes == 100
    assert str(again) == text


@pytest.mark.parametrize("syntax", ["JPEGBaseline8Bit", "JPEG2000Lossless",
                                    "RLELossless", "JPEGLSLossless"])
def test_an_encapsulated_file_cut_inside_the_last_frame_raises(syntax, tmp_path):
    data, missing = cut_in_last_frame(syntax)
    path = tmp_path / "cut.dcm"
    path.write_bytes(data)
    img = _opened(path.read_bytes())
    with pytest.raises(TruncatedError) as info:
        img.read()
    assert info.value.frame == 2 and info.value.missing_bytes == missing
    assert f"{missing} of its" in str(info.value)
    assert syntax in str(info.value)
    # libjpeg-turbo no longer fills the lost part grey behind the caller's back.
    assert truncated_frames(img) == {2: missing}


def test_a_file_ending_between_fragments_loses_its_last_frame(tmp_path):
    data = make(TEXTURED, "JPEG2000Lossless")
    enc = Encapsulated.parse(data)
    path = tmp_path / "short.dcm"
    path.write_bytes(data[: len(data) - len(enc.tail) - 8 - 8 - len(enc.fragments[-1])])
    with pytest.warns(DicomioWarning, match="without a sequence delimiter"):
        img = DicomImage(path)
    assert img.n_frames == 3  # the offset table still counts it
    with pytest.raises(TruncatedError, match="frame 2.*the file ends before this frame"):
        img.read()
    assert truncated_frames(img) == {2: None}


def test_a_whole_pixel_data_with_too_few_frames_is_still_tolerated():
    # Not a truncation: the element is complete, the header over-counts.
    with pytest.warns(DicomioWarning, match="Number of Frames says 5"):
        img = DicomImage(make(GREY8[:2], "ExplicitVRLittleEndian", NumberOfFrames=5))
    np.testing.assert_array_equal(img.read(), GREY8[:2])


# ------------------------------------------------------------ recover
def test_recover_keeps_complete_frames_and_rows_of_a_native_file(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    img = _opened(path.read_bytes())
    with pytest.warns(DicomioWarning) as caught:
        arr = img.read(on_error="recover")
    text = str(caught[0].message)
    assert text.startswith("<in-memory DICOM>: 2 of 3 frames failed")
    assert "1 (rows 17-19 missing)" in text and "2 (rows 0-19 missing)" in text
    assert arr.shape == (3, 20, 24)
    np.testing.assert_array_equal(arr[0], GREY16[0])
    # 960 - 100 bytes of frame 1: 17 rows of 48 bytes are whole.
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17])
    assert not arr[1, 17:].any() and not arr[2].any()
    failed = img.failed_frames
    assert list(failed) == [1, 2]
    assert failed[1].action == "recovered" and failed[1].missing_rows == (17, 20)
    assert failed[1].missing_bytes == 100 and failed[1].backend == "native"
    assert failed[2].missing_rows == (0, 20) and failed[2].missing_bytes == 960
    assert "the file ends inside this frame" in failed[1].error
    # The same file read strictly still raises: recovery is per call.
    with pytest.raises(TruncatedError):
        img.read()


def test_recover_with_rescale_sets_missing_rows_to_zero():
    whole = make(GREY16, "ExplicitVRLittleEndian", RescaleSlope=2, RescaleIntercept=-5)
    img = _opened(whole[: len(whole) - GREY16[0].nbytes - 100])
    arr = _quiet_read(img, rescale=True, on_error="recover")
    np.testing.assert_array_equal(arr[0], GREY16[0].astype(np.int32) * 2 - 5)
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17].astype(np.int32) * 2 - 5)
    assert not arr[1, 17:].any() and not arr[2].any()


def test_recover_keeps_the_rows_libjpeg_turbo_decoded():
    data, _ = cut_in_last_frame("JPEGBaseline8Bit")
    whole = DicomImage(make(TEXTURED, "JPEGBaseline8Bit")).read()
    img = _opened(data)
    with pytest.warns(DicomioWarning, match=r"1 are incomplete .* 2 \(rows \d+-63 missing\)"):
        arr = img.read(on_error="recover")
    np.testing.assert_array_equal(arr[:2], whole[:2])
    fi = img.failed_frames[2]
    first, stop = fi.missing_rows
    assert stop == 64 and 8 <= first < 64 and first % 8 == 0
    assert fi.backend  # decoded by a codec, not filled
    np.testing.assert_array_equal(arr[2, :first], whole[2, :first])
    assert not arr[2, first:].any()


def test_recover_keeps_the_complete_rows_of_every_rle_segment():
    data, missing = cut_in_last_frame("RLELossless")
    img = _opened(data)
    with pytest.warns(DicomioWarning, match=r"2 \(rows 31-63 missing\)"):
        arr = img.read(on_error="recover")
    np.testing.assert_array_equal(arr[:2], TEXTURED[:2])  # lossless: bit-exact
    fi = img.failed_frames[2]
    assert fi.missing_rows == (31, 64) and fi.missing_bytes == missing
    np.testing.assert_array_equal(arr[2, :31], TEXTURED[2, :31])
    assert not arr[2, 31:].any()
    # Colour: the last plane's segment is the one cut, so no row is whole.
    data, _ = cut_in_last_frame("RLELossless", RGB8)
    img = _opened(data)
    arr = _quiet_read(img, on_error="recover")
    np.testing.assert_array_equal(arr[0], RGB8[0])
    assert img.failed_frames[1].missing_rows == (0, 16) and not arr[1].any()


@pytest.mark.parametrize("syntax", ["JPEG2000Lossless"])
def test_recover_fills_a_cut_frame_no_codec_decodes(syntax):
    data, missing = cut_in_last_frame(syntax)
    whole = make(TEXTURED, syntax)
    img = _opened(data)
    arr = _quiet_read(img, on_error="recover")
    np.testing.assert_array_equal(arr[:2], TEXTURED[:2])  # lossless: bit-exact
    fi = img.failed_frames[2]
    assert fi.action == "recovered" and fi.missing_bytes == missing
    if fi.backend:  # a codec made something of the cut stream: rows unknown
        assert fi.missing_rows is None
    else:
        assert fi.missing_rows == (0, 64) and not arr[2].any()
        assert "does not decode" in fi.error
    assert DicomImage(whole).read().shape == arr.shape


def test_a_jpeg_stream_cut_before_eoi_in_a_whole_file_is_truncated_too():
    # The container is intact but the codestream lacks its end: libjpeg-turbo
    # would fill the rest grey. Refused; recover keeps the decoded rows.
    enc = Encapsulated.parse(make(TEXTURED, "JPEGBaseline8Bit"))
    frag = enc.fragments[1]
    enc.fragments[1] = frag[: len(frag) // 2 & ~1]
    enc.bot = Encapsulated.table([[f] for f in enc.fragments])
    img = DicomImage(enc.build())
    with pytest.raises(TruncatedError, match="frame 1.*does not end with EOI") as info:
        img.read()
    assert info.value.missing_bytes is None
    whole = DicomImage(make(TEXTURED, "JPEGBaseline8Bit")).read()
    arr = _quiet_read(img, on_error="recover")
    first, stop = img.failed_frames[1].missing_rows
    assert stop == 64 and 0 < first < 64
    np.testing.assert_array_equal(arr[1, :first], whole[1, :first])
    np.testing.assert_array_equal(arr[[0, 2]], whole[[0, 2]])
    assert not arr[1, first:].any()


# ------------------------------------------------------------ bad frames
def test_one_bad_frame_fails_the_whole_read_by_default():
    img = DicomImage(jpeg_with_bad_frames(bad=BAD))
    with pytest.raises(dicomio.DecodeError, match="frame 3.*contradicts the header"):
        img.read()
    assert img.read(4).shape == (16, 16)


def test_skip_returns_the_117_good_frames_and_lists_the_23():
    img = DicomImage(jpeg_with_bad_frames(bad=BAD))
    with pytest.warns(DicomioWarning) as caught:
        arr = img.read(on_error="skip")
    assert len(caught) == 1  # one summary per read
    text = str(caught[0].message)
    assert "23 of 140 frames failed; 23 were left out: 3, 9, 15" in text
    assert text.endswith(", ... (see failed_frames for the reasons)")
    assert arr.shape == (117, 16, 16)
    good = [k for k in range(140) if k not in BAD]
    expected = np.array([10 + k for k in good], np.uint8)
    assert np.abs(arr.astype(int).mean(axis=(1, 2)) - expected).max() <= 1
    assert sorted(img.failed_frames) == list(BAD)
    fi = img.failed_frames[3]
    assert fi.action == "skipped" and fi.missing_rows == (0, 16)
    assert "the codestream has 24 rows but the header says Rows = 16" in fi.error
    assert fi.tried and fi.backend == ""


def test_fill_keeps_the_shape_and_zeroes_the_bad_frames():
    img = DicomImage(jpeg_with_bad_frames(bad=BAD))
    with pytest.warns(DicomioWarning, match="23 of 140 frames failed; 23 were "
                      "filled with 0: 3, 9"):
        arr = img.read(on_error="fill")
    assert arr.shape == (140, 16, 16)
    assert not arr[list(BAD)].any()
    assert arr[[k for k in range(140) if k not in BAD]].min() >= 9
    assert {fi.action for fi in img.failed_frames.values()} == {"filled"}
    # The colour report and decoder come from the frames that decoded.
    assert img.decoder and img.photometric["declared"] == "MONOCHROME2"


def test_fill_of_a_single_frame_and_skip_of_it():
    img = DicomImage(jpeg_with_bad_frames(n=4, bad=(2,)))
    with pytest.warns(DicomioWarning, match="1 of 1 frame failed"):
        assert not img.read(2, on_error="fill").any()
    with pytest.warns(DicomioWarning, match="were left out: 2"):
        assert img.read(2, on_error="skip").shape == (0, 16, 16)
    with pytest.warns(DicomioWarning, match="left out: 2"):
        assert img.read([1, 2, 3], on_error="skip").shape == (2, 16, 16)


def test_a_later_good_read_clears_the_record():
    img = DicomImage(jpeg_with_bad_frames(n=4, bad=(2,)))
    with pytest.warns(DicomioWarning):
        img.read(on_error="fill")
    assert list(img.failed_frames) == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img.read(0, on_error="fill")  # no failure, no warning
    assert list(img.failed_frames) == [2]  # frame 2 was not read again


def test_on_error_is_checked():
    img = DicomImage(make(GREY8, "ExplicitVRLittleEndian"))
    with pytest.raises(ValueError, match="on_error must be one of"):
        img.read(on_error="ignore")
    with pytest.raises(ValueError, match="out= cannot be combined"):
        img.read(out=np.empty((3, 20, 24), np.uint8), on_error="skip")
    with pytest.raises(ValueError, match="not 'skip'"):
        img.read(display=True, on_error="skip")


def test_display_reads_recover_too():
    img = _opened(truncated_native())
    arr = _quiet_read(img, display=True, on_error="recover")
    assert arr.shape == (3, 20, 24) and arr.dtype == np.uint8
    assert list(img.failed_frames) == [1, 2]


def test_imread_takes_on_error():
    with pytest.warns(DicomioWarning) as caught:
        arr = dicomio.imread(truncated_native(), on_error="fill")
    assert "2 of 3 frames failed" in str(caught[-1].message)
    np.testing.assert_array_equal(arr[0], GREY16[0])
    assert not arr[1:].any()


def test_memmap_refuses_a_cut_file(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    img = _opened(str(path))
    with pytest.raises(dicomio.DicomioError, match="memory mapping"):
        img.memmap()


def test_warning_names_the_file(tmp_path):
    path = tmp_path / "cut.dcm"
    path.write_bytes(truncated_native())
    img = _opened(str(path))
    with pytest.warns(DicomioWarning) as caught:
        img.read(on_error="fill")
    assert re.match(re.escape(str(path)) + ": 2 of 3 frames failed", str(caught[0].message))
