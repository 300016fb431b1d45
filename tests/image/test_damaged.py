"""Zeroed J2K / HTJ2K coded data: refused by default, never silent garbage.

Every installed backend for the syntax decodes most of these frames without
an error and returns wrong pixels (OpenJPEG reads the zeros as empty
packets; OpenJPH often says nothing either). dicomio
refuses such a frame before any backend runs
(:class:`dicomio.DamagedStreamError`); ``on_error="recover"`` returns the
decoder's own pixels and says so; ``"skip"`` and ``"fill"`` treat it as any
failed frame.
"""

from __future__ import annotations

import io
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imagecodecs
import numpy as np
import openjpeg
import pytest
from PIL import Image

import dicomio
from dicomio import DicomImage, DicomioWarning, registry
from tests._zeroed import DEFECTS, FRAMES, SYNTAXES, zero, zeroed_file
from tests.robustness._hostile import Encapsulated, make

_BACKENDS = ("imagecodecs", "pylibjpeg", "gdcm", "pillow")


@contextmanager
def ignored() -> Iterator[list[BaseException]]:
    """The exceptions Python reports as ignored inside the block.

    OpenJPH raises its error in a callback that imagecodecs reports (through
    ``sys.excepthook`` and ``sys.unraisablehook``) and ignores, which is why
    OpenJPH's garbage comes back without an error. Collected here instead of
    reaching pytest's and pytest-qt's hooks (which set theirs per test call).
    """
    seen: list[BaseException] = []
    hooks = sys.excepthook, sys.unraisablehook
    sys.excepthook = lambda _t, value, _tb: seen.append(value)
    sys.unraisablehook = lambda u: seen.append(u.exc_value)
    try:
        yield seen
    finally:
        sys.excepthook, sys.unraisablehook = hooks


def _write(tmp_path: Path, data: bytes, name: str = "zeroed.dcm") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _silent(syntax: str, defect: str, backend: str) -> str | None:
    """The library call that decodes this damaged frame without an error (as
    measured here: OpenJPEG 2.3 to 2.5.4, OpenJPH in imagecodecs 2026.3.6),
    or None when the backend refuses it."""
    if syntax.startswith("JPEG2000"):
        return "jpeg2k"
    if syntax == "HTJ2K":  # irreversible HTJ2K: OpenJPEG alone, and it refuses
        return None
    if defect != "sector":
        # OpenJPH fails on these (dicomio raises the error imagecodecs only
        # reports, backends/_unraisable.py), and OpenJPEG refuses them.
        return None
    return "htj2k" if backend == "imagecodecs" else "jpeg2k"


def _library_decode(kind: str, cs: bytes) -> np.ndarray:
    return (imagecodecs.htj2k_decode if kind == "htj2k" else imagecodecs.jpeg2k_decode)(cs)


# --------------------------------------------------------- refused by default
@pytest.mark.parametrize("backend", _BACKENDS)
@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_zeroed_frames_raise_or_recover_through_every_backend(tmp_path, syntax, defect,
                                                              backend):
    if not registry.get(backend).available():
        pytest.skip(f"{backend} is not installed")
    data, bad, start = zeroed_file(syntax, defect)
    path = _write(tmp_path, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        img = DicomImage(path, backend=backend)
        with pytest.raises(dicomio.DamagedStreamError) as info:
            img.read()
    err = info.value
    assert isinstance(err, dicomio.DecodeError) and err.frame == 1
    assert err.tried == [(backend, "not run: the stream was rejected before decoding")]
    text = str(err)
    assert text.startswith(f"file '{path}', frame 1, transfer syntax {syntax} (")
    m = re.search(r"the codestream is damaged: (\d+) zero bytes in a row at byte (\d+) "
                  r"\(tile 0, tile-part \d+\), where a legal stream holds at most \d+ ",
                  text)
    assert m and int(m[2]) <= start < int(m[2]) + int(m[1]), text
    assert "overwritten with zeros" in text and "on_error='recover'" in text
    if not syntax.startswith("HTJ2K") or syntax == "HTJ2KLossless":
        # The other frames are not touched (lossless: exact).
        first = img.read(0)
        if "Lossless" in syntax:
            np.testing.assert_array_equal(first, FRAMES[0])

    with pytest.warns(DicomioWarning) as caught, ignored():
        arr = img.read(on_error="recover")
    fi = img.frame_info(1)
    assert fi.action == "recovered" and fi.damaged and fi.error.startswith(err.message)
    assert list(img.failed_frames) == [1]
    messages = [str(w.message) for w in caught]
    kind = _silent(syntax, defect, backend)
    if kind is not None:
        # What the decoder returned, wrong as it is, and said to be so.
        assert fi.backend == backend and fi.missing_rows is None
        with ignored():
            np.testing.assert_array_equal(arr[1], _library_decode(kind, bad))
        assert (arr[1] != FRAMES[1]).mean() > 0.01
        assert f"{path}: 1 of 3 frames failed; 1 have a damaged codestream and were " \
               "recovered as the decoder returned them (the pixels may be wrong): 1 " \
               "(see failed_frames for the reasons)" in messages, messages
    else:
        # The decoders refuse it after all: the frame is 0, and both are said.
        assert fi.backend == "" and fi.missing_rows == (0, 256)
        assert not arr[1].any()
        assert fi.error.startswith(err.message + "; the decoders refused it too (")
        assert any("1 have a damaged codestream" in m and ": 1 (rows 0-255 missing)" in m
                   for m in messages), messages
    if "Lossless" in syntax:
        np.testing.assert_array_equal(arr[[0, 2]], FRAMES[[0, 2]])


def test_library_decodes_agree_with_the_backends():
    # The reference above is imagecodecs; pylibjpeg-openjpeg and Pillow (the
    # other OpenJPEG builds) return the same wrong pixels for these frames.
    _data, bad, _start = zeroed_file("JPEG2000Lossless", "middle")
    ref = imagecodecs.jpeg2k_decode(bad)
    np.testing.assert_array_equal(openjpeg.decode(bad), ref)
    # Pillow scales 12-bit samples to 16 bits.
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(bad))) >> 4, ref)
    assert (ref != FRAMES[1]).mean() > 0.1


@pytest.mark.parametrize("on_error", ["skip", "fill"])
def test_skip_and_fill_treat_it_as_a_failed_frame(tmp_path, on_error):
    path = _write(tmp_path, zeroed_file("JPEG2000Lossless", "middle")[0])
    img = DicomImage(path)
    with pytest.warns(DicomioWarning, match=r"1 of 3 frames failed; 1 (were left out|"
                                            r"were filled with 0): 1 "):
        arr = img.read(on_error=on_error)
    fi = img.frame_info(1)
    assert fi.damaged and fi.action == ("skipped" if on_error == "skip" else "filled")
    assert fi.error.startswith("the codestream is damaged: ")
    if on_error == "skip":
        np.testing.assert_array_equal(arr, FRAMES[[0, 2]])
    else:
        np.testing.assert_array_equal(arr[[0, 2]], FRAMES[[0, 2]])
        assert not arr[1].any()


def test_one_frame_read_alone_raises_and_the_others_decode(tmp_path):
    path = _write(tmp_path, zeroed_file("HTJ2KLossless", "middle")[0])
    img = DicomImage(path)
    np.testing.assert_array_equal(img.read(2), FRAMES[2])
    with pytest.raises(dicomio.DamagedStreamError, match="frame 1, transfer syntax "
                       "HTJ2KLossless"):
        img.read(1)


def test_a_damaged_rgb_frame_is_refused():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    for syntax, pi in (("JPEG2000Lossless", "YBR_RCT"), ("HTJ2KLossless", "RGB")):
        data, _bad, _start = zeroed_file(syntax, "middle", frame=0, frames=rgb,
                                         photometric=pi)
        img = DicomImage(data)
        with pytest.raises(dicomio.DamagedStreamError, match="frame 0"):
            img.read()
        np.testing.assert_array_equal(img.read(1), rgb[1])


def test_a_zeroed_jp2_wrapped_frame_is_refused():
    # GDCM writes J2K frames inside a JP2 file (GDCMJ2K_TextGBR.dcm): the
    # check reads the codestream box, and names the offset in the frame.
    enc = Encapsulated.parse(make(FRAMES[:1], "JPEG2000Lossless", bits_stored=12))
    jp2 = imagecodecs.jpeg2k_encode(FRAMES[0], codecformat="jp2", reversible=True,
                                    bitspersample=12)
    bad, start, _size = zero(jp2 + b"", "JPEG2000Lossless", "middle")
    enc.fragments[0] = bad + b"\x00" * (len(bad) % 2)
    enc.bot = b""
    good = Encapsulated.parse(enc.build())
    good.fragments[0] = jp2 + b"\x00" * (len(jp2) % 2)
    np.testing.assert_array_equal(DicomImage(good.build()).read(), FRAMES[0])
    with pytest.raises(dicomio.DamagedStreamError,
                       match=rf"4096 zero bytes in a row at byte {start} "):
        DicomImage(enc.build()).read()


def test_the_error_survives_pickling():
    import pickle

    err = dicomio.DamagedStreamError("the codestream is damaged: x", path="a.dcm",
                                     frame=3, transfer_syntax="T", tried=[("b", "r")])
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is dicomio.DamagedStreamError and str(again) == str(err)
