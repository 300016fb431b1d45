"""Fail fast (dicomio.image.failfast): a bad frame stops early, and says why.

Backends built on a codec library that already failed on a frame are not run
(their calls are counted through a wrapper around the real ``decode``); a
J2K codestream cut short is refused before any backend runs; a library that
fails does not stop a backend on another library from decoding the frame.
"""

from __future__ import annotations

import collections
import re
import warnings
from typing import Any

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, DicomioWarning, registry
from dicomio.backends import _guard
from dicomio.backends._base import OPENJPEG, Backend, Decoded, FrameContext, Unsupported
from dicomio.image import failfast
from dicomio.tsyntax import TRANSFER_SYNTAXES
from tests.robustness._hostile import GREY8, GREY16, Encapsulated, make

_OPENJPEG_J2K = ("imagecodecs", "pylibjpeg", "gdcm", "pillow")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Count every call of every installed backend's real decode.

    A backend run in a worker process (GDCM by default) is counted at
    ``_guard.decode``, as ``"worker:<name>"``: the worker is never started
    unless that is called.
    """
    counts: collections.Counter[str] = collections.Counter()
    for name in registry.names():
        be = registry.get(name)
        if not be.available():
            continue

        def counting(data: bytes, ctx: FrameContext, _real: Any = be.decode,
                     _name: str = name) -> Decoded:
            counts[_name] += 1
            return _real(data, ctx)

        monkeypatch.setattr(be, "decode", counting)
    real_guard = _guard.decode

    def guarded(be: Backend, data: bytes, ctx: FrameContext, **kw: Any) -> Any:
        counts[f"worker:{be.name}"] += 1
        return real_guard(be, data, ctx, **kw)

    monkeypatch.setattr(_guard, "decode", guarded)
    return counts


def _with_frame(syntax: str, change: Any, frames: np.ndarray = GREY16[:1]) -> bytes:
    """A one-frame file whose codestream is ``change(codestream)``."""
    enc = Encapsulated.parse(make(frames, syntax))
    frame = change(enc.fragments[0].rstrip(b"\x00"))
    enc.fragments[0] = frame + b"\x00" * (len(frame) % 2)
    enc.bot = b""
    return enc.build()


def _installed(*names: str) -> list[str]:
    return [n for n in names if registry.get(n).available()]


def _read_error(data: bytes, **kwargs: Any) -> dicomio.DecodeError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(dicomio.DecodeError) as info:
            DicomImage(data, **kwargs).read()
    return info.value


# ------------------------------------------------ the library declarations
def test_every_builtin_backend_names_its_library_per_family():
    for name in registry.BUILTIN:
        be = registry.get(name)
        if name == "pyav":
            continue  # video: one backend, nothing to fall back to
        families = {TRANSFER_SYNTAXES[u].family for u in be.syntaxes}
        for fam in families:
            assert be.libraries_for(fam), f"{name} names no library for {fam}"


def test_the_j2k_backends_share_openjpeg():
    for name in _OPENJPEG_J2K:
        assert registry.get(name).libraries_for("jpeg2k") == (OPENJPEG,)
    # imagecodecs tries OpenJPH first for reversible HTJ2K, OpenJPEG for lossy.
    ic = registry.get("imagecodecs")
    assert ic.libraries_for("htj2k") == ("OpenJPH", OPENJPEG)


# ----------------------------------------- the codestream proves it: no run
def _psot_past_end(f: bytes) -> bytes:
    # The tile-part's length (Psot) claims twice the data: the stream still
    # ends with its EOC, so only the tile-part chain shows it is cut.
    sot = f.index(b"\xff\x90", 2)
    return f[: sot + 6] + (2 * len(f)).to_bytes(4, "big") + f[sot + 10 :]


@pytest.mark.parametrize(("case", "change", "match"), [
    ("tile-part past the data", lambda f: f[: len(f) * 6 // 10] + b"\xff\xd9",
     "tile-part 0 at offset .* declares .* bytes, but only .* remain"),
    ("Psot past the end", _psot_past_end, "tile-part 0 at offset .* declares"),
])
def test_j2k_cut_short_is_refused_before_any_backend_runs(calls, case, change, match):
    err = _read_error(_with_frame("JPEG2000Lossless", change))
    assert err.frame == 0
    assert "cut short" in str(err) and "built on OpenJPEG" in str(err)
    assert re.search(match, str(err))
    assert {why for _, why in err.tried} == {
        "not run: the stream was rejected before decoding"}
    assert [n for n, _ in err.tried] == _installed(*_OPENJPEG_J2K)
    assert sum(calls.values()) == 0


def test_cut_short_htj2k_still_reaches_openjph(calls):
    # OpenJPH (imagecodecs, reversible HTJ2K) decodes a stream whose Psot
    # runs past the data, so the parse must not refuse it.
    data = _with_frame("HTJ2KLossless", _psot_past_end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = DicomImage(data)
        np.testing.assert_array_equal(img.read(), GREY16[0])
    assert img.decoder == "imagecodecs" and calls["imagecodecs"] == 1


# ----------------------------------- one library failed: its kin are skipped
def _bad_sod(f: bytes) -> bytes:
    # The tile-part's SOD marker damaged (FF 93 -> FF 94): after the main
    # header, so the parse cannot judge it, and OpenJPEG refuses it in every
    # backend.
    at = f.index(b"\xff\x93", f.index(b"\xff\x90"))
    return f[: at + 1] + b"\x94" + f[at + 2 :]


def test_backends_on_a_failed_library_are_not_run(calls):
    data = _with_frame("JPEG2000Lossless", _bad_sod)
    err = _read_error(data)
    assert "every capable backend failed" in str(err)
    tried = dict(err.tried)
    assert not tried["imagecodecs"].startswith("not run")
    for name in _installed("pylibjpeg", "gdcm", "pillow"):
        assert tried[name] == "not run: OpenJPEG already failed on this frame"
        assert f"{name}: not run: OpenJPEG already failed on this frame" in str(err)
        assert calls[name] == 0
    # GDCM is the worker-process backend: no worker was asked.
    assert calls["worker:gdcm"] == 0
    assert calls["imagecodecs"] >= 1


def test_forced_backends_on_one_library_stop_after_the_first(calls):
    data = _with_frame("JPEG2000Lossless", _bad_sod)
    err = _read_error(data, backend=["pylibjpeg", "pillow"])
    assert err.tried == [
        ("pylibjpeg", err.tried[0][1]),
        ("pillow", "not run: OpenJPEG already failed on this frame"),
    ]
    assert calls["pylibjpeg"] == 1 and calls["pillow"] == 0


def _zeroed(f: bytes) -> bytes:
    a, n = len(f) // 3, len(f) // 4
    return f[:a] + bytes(n) + f[a + n :]


def test_charls_proof_of_corrupt_data_stops_the_frame(calls):
    # CharLS refuses a JPEG-LS stream whose coded data were zeroed as invalid
    # encoded data (in imagecodecs and in pyjpegls alike); Thomas Richter's
    # libjpeg (pylibjpeg) would decode it, wrongly but without an error. The
    # proof fails the frame at once; on_error="recover" gets libjpeg's pixels.
    data = _with_frame("JPEGLSLossless", _zeroed, GREY8[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(dicomio.DamagedStreamError) as info:
            DicomImage(data).read()
    err = info.value
    assert re.search(r"frame 0, .*: the codestream is damaged: CharLS found its coded "
                     r"data corrupt \(.*general structural problem\); a more lenient "
                     r"decoder would return wrong pixels", str(err))
    tried = dict(err.tried)
    assert not tried["imagecodecs"].startswith("not run")
    assert tried["pyjpegls"] == tried["pylibjpeg"] == "not run: the coded data are corrupt"
    assert calls["imagecodecs"] == 1 and calls["pyjpegls"] == 0 and calls["pylibjpeg"] == 0

    img = DicomImage(data)
    with pytest.warns(DicomioWarning, match=r"1 of 1 frame failed; 1 have a damaged "
                      r"codestream and were recovered as the decoder returned them"):
        out = img.read(on_error="recover")
    fi = img.frame_info(0)
    assert fi.backend == "pylibjpeg" and fi.action == "recovered" and fi.damaged
    assert fi.error.startswith("the codestream is damaged: CharLS found")
    assert out.shape == GREY8[0].shape and (out != GREY8[0]).any()
    assert list(img.failed_frames) == [0]


def test_a_read_sums_up_the_frames_in_doubt_in_one_warning():
    # A reserved marker in each of 3 JPEG frames: libjpeg-turbo refuses
    # ("Unsupported marker type", not a proof of corrupt data), Thomas
    # Richter's libjpeg decodes. One warning for the read, naming the
    # frames, not one per frame.
    def corrupt(f: bytes) -> bytes:
        sos = f.index(b"\xff\xda")
        at = sos + 2 + int.from_bytes(f[sos + 2 : sos + 4], "big") + 8
        return f[:at] + b"\xff\x69" + f[at + 2 :]

    enc = Encapsulated.parse(make(GREY8[:3], "JPEGBaseline8Bit"))
    for k, f in enumerate(enc.fragments):
        f = corrupt(f.rstrip(b"\x00"))
        enc.fragments[k] = f + b"\x00" * (len(f) % 2)
    enc.bot = b""
    img = DicomImage(enc.build(), threads=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert img.read().shape == GREY8[:3].shape
    doubts = [str(w.message) for w in caught if "refused the stream" in str(w.message)]
    assert len(doubts) == 1, doubts
    assert re.search(r": frames 0, 1, 2 \(3 of 3 read\): libjpeg-turbo refused the "
                     r"stream as corrupt; pylibjpeg, on .*libjpeg.*, decoded it, but the "
                     r"stream may be damaged and the pixels wrong", doubts[0])
    assert all(img.frame_info(i).doubt for i in range(3))
    assert img.decoder == "pylibjpeg"
    assert img.failed_frames == {}
    # Reading one frame again warns about that frame alone.
    with pytest.warns(DicomioWarning, match=r": frame 1: libjpeg-turbo refused"):
        img.read(1)


def test_jpeg_libjpeg_turbo_failure_skips_pillow_not_the_others(calls):
    # A reserved marker in the entropy-coded data: libjpeg-turbo stops.
    def corrupt(f: bytes) -> bytes:
        sos = f.index(b"\xff\xda")
        at = sos + 2 + int.from_bytes(f[sos + 2 : sos + 4], "big") + 8
        return f[:at] + b"\xff\x69" + f[at + 2 :]

    data = _with_frame("JPEGBaseline8Bit", corrupt, GREY8[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = DicomImage(data)
        try:
            img.read()
            tried = dict(img.frame_info(0).tried)
        except dicomio.DecodeError as exc:
            tried = dict(exc.tried)
    assert "imagecodecs" in tried and not tried["imagecodecs"].startswith("not run")
    assert tried["pillow"] == "not run: libjpeg-turbo already failed on this frame"
    assert calls["pillow"] == 0
    # pylibjpeg's libjpeg is another library: it was asked.
    if registry.get("pylibjpeg").available() and "pylibjpeg" in tried:
        assert not tried["pylibjpeg"].startswith("not run")


# ------------------------------------------------- what does not count
class _Declining(Backend):
    """Declines every frame as Unsupported (a backend's own limit)."""

    name = "test-declining"
    modules = ()
    syntaxes = frozenset(u for u, t in TRANSFER_SYNTAXES.items()
                         if t.family == "jpeg2k")
    libraries = {"jpeg2k": OPENJPEG}

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        raise Unsupported("this backend cannot hold these samples")


class _Failing(_Declining):
    """Fails every frame the way a codec does on bad data."""

    name = "test-failing"

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        raise RuntimeError("codec error: corrupt data")


@pytest.mark.parametrize(("backend_cls", "skipped"), [(_Declining, False),
                                                       (_Failing, True)])
def test_only_a_data_failure_counts_against_a_library(calls, backend_cls, skipped):
    be = backend_cls()
    registry.register(be, first=True)
    try:
        data = make(GREY16[:1], "JPEG2000Lossless")
        if skipped:
            err = _read_error(data)
            assert dict(err.tried)["imagecodecs"] == (
                "not run: OpenJPEG already failed on this frame")
            assert calls["imagecodecs"] == 0
        else:
            img = DicomImage(data)
            np.testing.assert_array_equal(img.read(), GREY16[0])
            assert img.decoder == "imagecodecs"
            assert dict(img.frame_info(0).tried)[be.name].startswith("Unsupported")
    finally:
        registry.unregister(be.name)


def test_blames_library():
    assert failfast.blames_library(RuntimeError("bad data"))
    assert failfast.blames_library(dicomio.DecodeError("backend 'gdcm' crashed"))
    assert not failfast.blames_library(ImportError("no plugin"))
    assert not failfast.blames_library(Unsupported("12-bit colour"))


def test_an_undeclared_backend_is_never_skipped():
    class Plain(Backend):
        name = "test-plain"

    failures = failfast.LibraryFailures("jpeg2k")
    failures.record(Plain())
    failures.record(registry.get("imagecodecs"))
    assert failures.skip(Plain()) is None
    assert failures.skip(registry.get("pillow")) == (
        "not run: OpenJPEG already failed on this frame")
