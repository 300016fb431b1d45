"""Codecs that crash, hang, print, leak or return the wrong thing.

Isolated backends (worker processes), GDCM aborts, Rust panics and
codecs that burn seconds on truncated streams.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, registry
from dicomio.backends import _guard
from dicomio.backends._base import Backend, Decoded, FrameContext
from dicomio.tsyntax import TRANSFER_SYNTAXES
from tests.conftest import corpus_file
from tests.robustness._hostile import (
    GREY8,
    GREY16,
    Encapsulated,
    check_error,
    make,
)


# ------------------------------------------------------ codec guarding
class _Misbehaving(Backend):
    """Test backends: crash, hang, print or fail, only inside a guard worker."""

    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)
    action = ""

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        if not _guard.IN_WORKER:
            raise RuntimeError(f"{self.name} only misbehaves in a worker")
        if self.action == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.action == "abort":
            os.abort()
        if self.action == "hang":
            time.sleep(600)
        if self.action == "print":
            os.write(1, b"codec chatter on stdout\n" * 100)
            print("more chatter", flush=True)
            from dicomio.backends import imagecodecs

            return imagecodecs.backend.decode(data, ctx)
        if self.action == "oom":
            raise MemoryError("codec asked for 1 TiB")
        raise ValueError("ordinary decoder failure")


class SegvBackend(_Misbehaving):
    name, action = "test-segv", "segv"


class AbortBackend(_Misbehaving):
    name, action = "test-abort", "abort"


class HangBackend(_Misbehaving):
    name, action = "test-hang", "hang"


class PrintBackend(_Misbehaving):
    name, action = "test-print", "print"


class FailBackend(_Misbehaving):
    name, action = "test-fail", "fail"


class MemoryBackend(Backend):
    name = "test-oom"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        raise MemoryError("codec asked for 1 TiB")


class FloatBackend(Backend):
    name = "test-float"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        return Decoded(np.full(ctx.spec.frame_shape, 0.5, np.float32), "MONOCHROME")


class WrongShapeBackend(Backend):
    name = "test-wrong-shape"
    modules = ()
    syntaxes = frozenset(TRANSFER_SYNTAXES)

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        return Decoded(np.zeros((3, 5), np.uint8), "MONOCHROME")


@pytest.fixture
def test_backends():
    backends = [
        SegvBackend(),
        AbortBackend(),
        HangBackend(),
        PrintBackend(),
        FailBackend(),
        MemoryBackend(),
        WrongShapeBackend(),
        FloatBackend(),
    ]
    for be in backends:
        registry.register(be)
    yield
    for be in backends:
        registry.unregister(be.name)


@pytest.mark.parametrize(
    "backend, sig", [("test-segv", "SIGSEGV"), ("test-abort", "SIGABRT")]
)
def test_isolate_turns_a_crash_into_a_decode_error(
    test_backends, tmp_path, backend, sig
):
    path = tmp_path / "j2k.dcm"
    path.write_bytes(make(GREY16, "JPEG2000Lossless"))
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(path, backend=backend, isolate=True).read(1)
    check_error(info.value, path, frame=True)
    assert f"backend '{backend}' crashed" in str(info.value)
    assert sig in str(info.value)
    # The frame falls back to the next backend, as after any failure.
    arr = DicomImage(path, backend=[backend, "imagecodecs"], isolate=True).read()
    np.testing.assert_array_equal(arr, GREY16)


def test_isolate_timeout_turns_a_hang_into_a_decode_error(test_backends, monkeypatch):
    monkeypatch.setenv("DICOMIO_ISOLATE_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(dicomio.DecodeError, match=r"test-hang' timed out.*2 s"):
        DicomImage(
            make(GREY8[:1], "RLELossless"), backend="test-hang", isolate=True
        ).read()
    assert time.monotonic() - started < 30


def test_isolate_keeps_errors_and_chatter_apart(test_backends):
    data = make(GREY16, "JPEG2000Lossless")
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(data, backend="test-fail", isolate=True).read(0)
    assert info.value.tried == [("test-fail", "ValueError: ordinary decoder failure")]
    arr = DicomImage(data, backend="test-print", isolate=True).read()
    np.testing.assert_array_equal(arr, GREY16)


def test_isolate_from_the_environment(monkeypatch):
    monkeypatch.setenv("DICOMIO_ISOLATE", "1")
    img = DicomImage(make(GREY16, "JPEGLSLossless"))
    assert img.isolate
    np.testing.assert_array_equal(img.read(), GREY16)
    monkeypatch.setenv("DICOMIO_ISOLATE", "0")
    assert not DicomImage(make(GREY16, "JPEGLSLossless")).isolate


def test_isolated_decoding_matches_in_process_for_every_sample():
    from dicomio import samples

    for keyword, path in samples.all_paths().items():
        ref = DicomImage(path).read()
        np.testing.assert_array_equal(
            DicomImage(path, isolate=True).read(), ref, err_msg=keyword
        )


def test_codec_memory_error_becomes_a_memory_limit_error(test_backends):
    with pytest.raises(dicomio.MemoryLimitError, match="out of memory") as info:
        DicomImage(make(GREY8, "RLELossless"), backend="test-oom").read()
    assert info.value.tried == [("test-oom", "MemoryError: codec asked for 1 TiB")]


def test_wrong_shape_or_kind_from_a_backend_is_a_decode_error(test_backends):
    data = make(GREY8, "RLELossless")
    with pytest.raises(dicomio.DecodeError, match=r"decoded shape \(3, 5\)"):
        DicomImage(data, backend="test-wrong-shape").read()
    with pytest.raises(dicomio.DecodeError, match="decoded float32 samples"):
        DicomImage(data, backend="test-float").read()


@pytest.mark.parametrize("isolate", [False, True])
def test_rust_panic_in_a_backend_is_a_decode_error(isolate):
    # Found by tools/fuzz.py: pylibjpeg-rle panics on an RLE run that passes
    # the end of its segment, and pyo3's PanicException is no Exception.
    pytest.importorskip("rle")
    enc = Encapsulated.parse(make(GREY16[:1], "RLELossless"))
    enc.fragments[0] = enc.fragments[0][:64] + b"\x81" + enc.fragments[0][65:]
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(enc.build(), backend="pylibjpeg", isolate=isolate).read()
    assert info.value.tried[0][0] == "pylibjpeg"
    assert "PanicException" in info.value.tried[0][1]


def test_rle_short_segment_is_refused_not_uninitialised():
    # Found by tools/fuzz.py: segment 4 of this frame ends 96 bytes early (the
    # next one starts there). imagecodecs left the rest of it unwritten and
    # the pixels changed from call to call (heap contents).
    enc = Encapsulated.parse(corpus_file("SC_rgb_rle_32bit.dcm").read_bytes())
    frame = bytearray(enc.fragments[0])
    start = struct.unpack_from("<I", frame, 4 * 5)[0]
    struct.pack_into("<I", frame, 4 * 5, start - 96)
    enc.fragments[0] = bytes(frame)
    data = enc.build()
    capable = [b.name for b in registry.candidates(DicomImage(data).spec)]
    for backend in capable:
        with pytest.raises(dicomio.DecodeError, match="RLE|segment") as info:
            DicomImage(data, backend=backend).read()
        assert info.value.tried[0][0] == backend


def _run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )


_GDCM_MISMATCH = """
    import warnings, numpy as np, dicomio
    from dicomio import encode
    warnings.simplefilter("ignore")
    arr = (np.arange(20 * 24).reshape(20, 24) % 251).astype(np.uint8)
    ds = encode.make_dataset(arr, {syntax!r})
    {change}
    data = encode.dataset_bytes(ds)
    try:
        out = dicomio.DicomImage(data, backend="gdcm", isolate={isolate}).read()
        print("EXACT" if np.array_equal(out, arr) else "WRONG")
    except dicomio.DicomioError as exc:
        print("ERROR", exc)
"""
_GDCM_CASES = {
    "jpegls-bits-allocated-16": ("JPEGLSLossless", "ds.BitsAllocated = 16"),
    "jpeg-lossless-bits-allocated-32": ("JPEGLossless", "ds.BitsAllocated = 32"),
    "j2k-photometric-rgb-for-one-sample": (
        "JPEG2000Lossless",
        "ds.PhotometricInterpretation = 'RGB'",
    ),
}


@pytest.mark.parametrize("case", sorted(_GDCM_CASES))
def test_gdcm_abort_is_survived_with_isolate(case):
    pytest.importorskip("gdcm")
    syntax, change = _GDCM_CASES[case]
    proc = _run_python(
        _GDCM_MISMATCH.format(syntax=syntax, change=change, isolate=True)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("EXACT") or (
        "backend 'gdcm' crashed" in out and "SIGABRT" in out
    ), out


@pytest.mark.parametrize("case", sorted(_GDCM_CASES))
def test_gdcm_header_mismatch_without_isolate(case):
    pytest.importorskip("gdcm")
    syntax, change = _GDCM_CASES[case]
    proc = _run_python(
        _GDCM_MISMATCH.format(syntax=syntax, change=change, isolate=False)
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}"
    assert proc.stdout.startswith(("EXACT", "ERROR")), proc.stdout


def test_gdcm_j2k_bits_allocated_above_stream_precision():
    pytest.importorskip("gdcm")
    proc = _run_python(
        _GDCM_MISMATCH.format(
            syntax="JPEG2000Lossless", change="ds.BitsAllocated = 16", isolate=False
        )
    )
    assert proc.stdout.startswith("EXACT"), proc.stdout


_TRUNCATED_JPEGLS = bytes.fromhex(
    "ffd8fff7000b080014001801011100ffda000801010000000007d6efa2eed8bb0f759bf77fff30"
)


def test_truncated_jpegls_does_not_burn_seconds_in_imagecodecs():
    # Found by tools/fuzz.py: this 39-byte stream (truncated, no EOI) keeps
    # CharLS busy for about 3 s before it fails.
    from dicomio.backends import imagecodecs as icb

    spec = DicomImage(make(GREY8[:1], "JPEGLSLossless")).spec
    started = time.monotonic()
    with pytest.raises(ValueError, match="EOI"):
        icb.backend.decode(_TRUNCATED_JPEGLS, FrameContext(spec=spec))
    assert time.monotonic() - started < 0.5


def test_truncated_jpegls_does_not_burn_seconds_in_pyjpegls():
    pyjpegls = pytest.importorskip("dicomio.backends.pyjpegls")
    if not pyjpegls.backend.available():
        pytest.skip("pyjpegls is not installed")
    spec = DicomImage(make(GREY8[:1], "JPEGLSLossless")).spec
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        pyjpegls.backend.decode(_TRUNCATED_JPEGLS, FrameContext(spec=spec))
    assert time.monotonic() - started < 0.5
