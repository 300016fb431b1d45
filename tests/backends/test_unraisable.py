"""OpenJPH errors that imagecodecs prints and ignores become decode failures."""

from __future__ import annotations

import sys
import threading

import imagecodecs
import numpy as np
import pytest

import dicomio
from dicomio import encode
from dicomio.backends._unraisable import raised_in

_OJPH = "imagecodecs._htj2k."


def _image() -> np.ndarray:
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(512), np.arange(512)) * 4
    return (ramp + rng.integers(0, 50, (512, 512))).astype(np.uint16)


def _damaged(cs: bytes, at: int = 800, n: int = 512) -> bytes:
    """One 512-byte sector zeroed just after the first SOT: OpenJPH's
    callback fails there (measured), and the zero run is too short for the
    codestream check (HTJ2K's legal runs reach 1,286 bytes)."""
    k = cs.index(b"\xff\x90")
    return cs[: k + at] + bytes(n) + cs[k + at + n :]


def test_the_error_imagecodecs_ignores_is_raised_and_not_printed(capfd):
    bad = _damaged(encode.encode_frame(_image(), "HTJ2KLossless"))
    # What imagecodecs does on its own: pixels back, the error only reported.
    reported: list[str] = []
    old = sys.unraisablehook, sys.excepthook
    sys.unraisablehook = lambda u: reported.append(str(u.exc_value))
    sys.excepthook = lambda kind, value, tb: reported.append(f"printed: {value}")
    try:
        out = imagecodecs.htj2k_decode(bad)
    finally:
        sys.unraisablehook, sys.excepthook = old
    assert out.shape == (512, 512)
    assert reported == ["printed: ojph error", "ojph error"]
    capfd.readouterr()
    hooks = (sys.unraisablehook, sys.excepthook)
    with pytest.raises(RuntimeError, match="ojph error"):
        raised_in(_OJPH, imagecodecs.htj2k_decode, bad)
    assert "ojph error" not in capfd.readouterr().err
    assert (sys.unraisablehook, sys.excepthook) == hooks


def test_a_good_stream_decodes_as_before():
    img = _image()
    cs = encode.encode_frame(img, "HTJ2KLossless")
    np.testing.assert_array_equal(raised_in(_OJPH, imagecodecs.htj2k_decode, cs), img)


def test_other_reports_reach_the_hooks_that_were_there():
    seen: list[str] = []

    class Loud:
        def __del__(self) -> None:
            raise ValueError("from another object")

    def call() -> int:
        Loud()  # reported as unraisable while the watched call runs
        return 7

    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(str(u.exc_value))
    try:
        assert raised_in(_OJPH, call) == 7
        # From two threads at once: both calls work, the hooks come back.
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(raised_in(_OJPH, call)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [7, 7]
        assert sys.unraisablehook is not old and sys.unraisablehook.__name__ == "<lambda>"
    finally:
        sys.unraisablehook = old
    assert seen == ["from another object"] * 3


def test_dicomio_refuses_the_frame_instead_of_returning_garbage(capfd):
    img = _image()
    data = bytearray(encode.dataset_bytes(encode.make_dataset(img[None], "HTJ2KLossless")))
    k = data.index(b"\xff\x90")
    data[k + 800 : k + 1312] = bytes(512)
    with pytest.raises(dicomio.DecodeError) as info:
        dicomio.DicomImage(bytes(data), backend="imagecodecs").read()
    assert "frame 0" in str(info.value) and "HTJ2KLossless" in str(info.value)
    assert "imagecodecs" in dict(info.value.tried)
    assert "ojph error" not in capfd.readouterr().err
    # Recovering keeps a frame of 0, not OpenJPH's garbage.
    with pytest.warns(dicomio.DicomioWarning, match="1 of 1 frame failed"):
        out = dicomio.DicomImage(bytes(data), backend="imagecodecs").read(on_error="fill")
    assert not out.any()
