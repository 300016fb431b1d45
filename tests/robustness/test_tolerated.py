"""Hostile input dicomio decodes exactly, saying what it recovered.

Each named case is a breakage class (offset tables, fragments, Number of
Frames, trailing or missing bytes, precision): the pixels must equal the
intact file's and a DicomioWarning must say what was recovered.
"""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage
from tests.robustness._hostile import (
    GREY8,
    GREY16,
    SEQ_DELIM,
    Encapsulated,
    _no_bot_split_frames,
    edit,
    make,
    snapshot,
)


# ---------------------------------------------------------- named cases
def _bot_garbage() -> bytes:
    enc = Encapsulated.parse(make(GREY16, "JPEG2000Lossless"))
    enc.bot = struct.pack("<3I", 0, 7, 0xFFFFFF00)
    return enc.build()


def _bot_not_multiple_of_4() -> bytes:
    enc = Encapsulated.parse(make(GREY16, "HTJ2KLossless"))
    enc.bot = enc.bot + b"\x00\x00"
    return enc.build()


def _split_oddly_with_table() -> bytes:
    # Every J2K frame cut in three fragments mid-codestream; a correct table.
    enc = Encapsulated.parse(make(GREY16, "JPEG2000Lossless"))
    groups = [[f[:34], f[34:102], f[102:]] for f in enc.fragments]
    return Encapsulated(
        enc.head, Encapsulated.table(groups), [p for g in groups for p in g], enc.tail
    ).build()


def _odd_length_fragment() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "JPEGBaseline8Bit"))
    enc.fragments = [
        f[:-1] if f.endswith(b"\xff\xd9\x00") else f + b"\x00" for f in enc.fragments
    ]
    enc.bot = Encapsulated.table([[f] for f in enc.fragments])
    return enc.build()


def _no_sequence_delimiter() -> bytes:
    return Encapsulated.parse(make(GREY8, "RLELossless")).build(delimiter=False)


def _frames_too_many(syntax: str) -> Callable[[], bytes]:
    return lambda: edit(
        make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 7)
    )


def _frames_too_few(syntax: str) -> Callable[[], bytes]:
    return lambda: edit(
        make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 2)
    )


def _frames_invalid(syntax: str) -> Callable[[], bytes]:
    def build() -> bytes:
        data = edit(
            make(GREY8, syntax), lambda ds: setattr(ds, "NumberOfFrames", 98765)
        )
        return data.replace(b"98765 ", b"abc   ", 1)  # pydicom refuses to write it

    return build


def _frames_one_for_three(syntax: str) -> Callable[[], bytes]:
    def build() -> bytes:
        data = make(GREY8, syntax, basic_offset_table=False)
        return edit(data, lambda ds: setattr(ds, "NumberOfFrames", 1))

    return build


def _frames_two_for_one_split() -> bytes:
    # Found by tools/fuzz.py: one JPEG frame in two fragments, Number of
    # Frames 2: the second fragment was decoded as a frame of its own.
    enc = Encapsulated.parse(make(GREY8[:1], "JPEGLSLossless"))
    frag = enc.fragments[0]
    enc.fragments, enc.bot = [frag[:20], frag[20:]], b""
    return edit(enc.build(), lambda ds: setattr(ds, "NumberOfFrames", 2))


def _trailing(
    tail: bytes, syntax: str = "ExplicitVRLittleEndian"
) -> Callable[[], bytes]:
    return lambda: make(GREY8, syntax) + tail


def _truncated_native() -> bytes:
    data = make(GREY16, "ExplicitVRLittleEndian")
    return data[: len(data) - GREY16[0].nbytes - 100]


def _deflated_trailing() -> bytes:
    return make(GREY16, "DeflatedExplicitVRLittleEndian") + b"\x01" * 40


def _bits_stored_above_allocated() -> bytes:
    return edit(make(GREY8, "RLELossless"), lambda ds: setattr(ds, "BitsStored", 12))


def _stream_precision_below_bits_stored() -> bytes:
    # An 8-bit J2K stream in a header saying 12 of 16 bits: values fit.
    return edit(
        make(GREY8, "JPEG2000Lossless"),
        lambda ds: (
            setattr(ds, "BitsAllocated", 16),
            setattr(ds, "BitsStored", 12),
            setattr(ds, "HighBit", 11),
        ),
    )


@dataclass
class Tolerated:
    """A broken file dicomio reads exactly, saying what it recovered."""

    name: str
    build: Callable[[], bytes]
    expected: np.ndarray
    warning: str | None  # regular expression; None: must be silent
    backend: str | None = None


TOLERATED = [
    Tolerated(
        "no-offset-table-frames-by-markers",
        _no_bot_split_frames,
        GREY8,
        "start markers",
    ),
    Tolerated(
        "no-offset-table-one-fragment-per-frame",
        lambda: make(GREY16, "JPEG2000Lossless", basic_offset_table=False),
        GREY16,
        None,
    ),
    Tolerated("offset-table-wrong", _bot_garbage, GREY16, "does not match"),
    Tolerated(
        "offset-table-not-multiple-of-4",
        _bot_not_multiple_of_4,
        GREY16,
        "not a multiple of 4",
    ),
    Tolerated("fragments-split-oddly", _split_oddly_with_table, GREY16, None),
    Tolerated("odd-length-fragment", _odd_length_fragment, None, "odd-length"),
    Tolerated(
        "no-sequence-delimiter", _no_sequence_delimiter, GREY8, "sequence delimiter"
    ),
    Tolerated(
        "trailing-zero-padding",
        _trailing(b"\x00" * 64),
        GREY8,
        r"64 bytes after Pixel Data ignored \(zero padding\)",
    ),
    Tolerated(
        "trailing-garbage-encapsulated",
        _trailing(b"\x01garbage" * 5, "JPEGLSLossless"),
        GREY8,
        "not a data element",
    ),
    Tolerated(
        "trailing-padding-element-is-fine",
        _trailing(b"\xfc\xff\xfc\xffOB\x00\x00" + struct.pack("<I", 8) + b"\x00" * 8),
        GREY8,
        None,
    ),
    Tolerated(
        "duplicate-sequence-delimiter-is-fine",
        _trailing(SEQ_DELIM, "RLELossless"),
        GREY8,
        None,
    ),
    Tolerated(
        "deflated-dataset-trailing-bytes",
        _deflated_trailing,
        GREY16,
        "after the deflated data set",
    ),
    Tolerated(
        "number-of-frames-too-large-native",
        _frames_too_many("ExplicitVRLittleEndian"),
        GREY8,
        "Number of Frames says 7 but Pixel Data holds 3",
    ),
    Tolerated(
        "number-of-frames-too-large-encapsulated",
        _frames_too_many("JPEG2000Lossless"),
        GREY8,
        "Number of Frames says 7 but the data holds only 3",
    ),
    Tolerated(
        "number-of-frames-too-small-native",
        _frames_too_few("ExplicitVRLittleEndian"),
        GREY8[:2],
        "beyond 2 frame",
    ),
    Tolerated(
        "number-of-frames-too-small-encapsulated",
        _frames_too_few("RLELossless"),
        GREY8[:2],
        "extra frames are ignored",
    ),
    Tolerated(
        "number-of-frames-invalid-native",
        _frames_invalid("ExplicitVRLittleEndian"),
        GREY8,
        "'abc' is invalid; counting frames",
    ),
    Tolerated(
        "number-of-frames-invalid-encapsulated",
        _frames_invalid("JPEGLSLossless"),
        GREY8,
        "'abc' is invalid; counting",
    ),
    Tolerated(
        "number-of-frames-one-for-three-codestreams",
        _frames_one_for_three("JPEG2000Lossless"),
        GREY8[0],
        "Number of Frames says 1 but the data holds 3",
    ),
    Tolerated(
        "number-of-frames-two-for-one-split-codestream",
        _frames_two_for_one_split,
        GREY8[0],
        "Number of Frames says 2 but the data holds only 1",
    ),
    Tolerated(
        "rle-frames-declared-as-one",
        _frames_one_for_three("RLELossless"),
        GREY8[0],
        "3 fragments for 1 frame",
    ),
    Tolerated(
        "bits-stored-above-bits-allocated",
        _bits_stored_above_allocated,
        GREY8,
        r"Bits Stored 12 is outside 1\.\.Bits Allocated 8",
    ),
    Tolerated(
        "stream-precision-below-bits-stored",
        _stream_precision_below_bits_stored,
        GREY8.astype(np.uint16),
        None,
    ),
]


@pytest.mark.parametrize("case", TOLERATED, ids=lambda c: c.name)
def test_tolerated_and_reported(case, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / f"{case.name}.dcm"
    path.write_bytes(case.build())
    before = snapshot(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = DicomImage(path, backend=case.backend)
        arr = img.read()
    ours = [str(w.message) for w in caught if w.category is dicomio.DicomioWarning]
    # pydicom's own validation warnings (an invalid IS) pass through as they are.
    others = [
        str(w.message)
        for w in caught
        if w.category is not dicomio.DicomioWarning
        and not str(w.message).startswith("Invalid value for VR")
    ]
    assert not others, others
    if case.warning is None:
        assert not ours and not img.warnings
    else:
        assert any(re.search(case.warning, m) for m in ours), ours
        assert all(str(path) in m for m in ours)  # each warning names the file
        assert any(re.search(case.warning, m) for m in img.warnings)
    expected = case.expected
    if expected is None:  # a lossy syntax: the untouched file is the reference
        enc = make(GREY8, "JPEGBaseline8Bit")
        expected = DicomImage(enc).read()
    expected = expected[0] if expected.shape[0] == 1 and arr.ndim == 2 else expected
    assert arr.shape == img.shape == expected.shape
    assert arr.dtype == img.dtype
    np.testing.assert_array_equal(arr, expected)
    img.close()
    assert snapshot(folder) == before


def test_a_truncated_file_is_refused_unless_recovery_is_asked(tmp_path):
    # Until issue 15 a cut native file was read as its complete frames (here
    # frame 0) with only a warning. Now a truncated frame is an error by
    # default, and on_error="recover" gives that old result and more: every
    # frame the header promised, the missing rows as 0, each one reported.
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "truncated-native-frames.dcm"
    path.write_bytes(_truncated_native())
    before = snapshot(folder)
    with pytest.warns(dicomio.DicomioWarning, match="truncated"):
        img = DicomImage(path)
    with pytest.raises(dicomio.TruncatedError, match="frame 1.*100 of its 960 bytes"):
        img.read()
    with pytest.warns(dicomio.DicomioWarning, match=r"2 of 3 frames failed.*recovered"):
        arr = img.read(on_error="recover")
    np.testing.assert_array_equal(arr[0], GREY16[0])
    np.testing.assert_array_equal(arr[1, :17], GREY16[1, :17])
    assert not arr[1, 17:].any() and not arr[2].any()
    assert {i: f.missing_rows for i, f in img.failed_frames.items()} == {
        1: (17, 20), 2: (0, 20)}
    img.close()
    assert snapshot(folder) == before
