"""Every (file, backend) pair that applies, forced: no silent fallback hides a bug.

Ground truth is the uncompressed pair, the bundled sample's source array, or
the default decode, which tests/image/test_image.py holds against pydicom.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, registry, samples
from tests.conftest import all_corpus_files

# Known limitations of one backend, each with its reason: they must fail with
# a DecodeError (then the next backend takes over), never return wrong pixels.
EXCLUDE: dict[tuple[str, str], str] = {
    ("GDCMJ2K_TextGBR.dcm", "pillow"): "Pillow cannot read JP2-wrapped J2K frames",
    ("JPEG-lossy.dcm", "pylibjpeg"): "libjpeg rejects this stream's marker order "
    "(pydicom cannot decode it either)",
}
# Corrupt on purpose: every backend must fail (checked in tests/image/test_image.py).
BROKEN = {"JPEG2000-embedded-sequence-delimiter.dcm"}

# Lossy files: backends differ by IDCT rounding, chroma upsampling and colour
# conversion; they must agree closely, not exactly.
LOSSY_MAX_DIFF = 16
LOSSY_MIN_PSNR = 40.0


def _spec(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return DicomImage(path)
        except dicomio.DicomioError:
            return None


def _cases():
    cases = []
    for path in all_corpus_files():
        img = _spec(path)
        if img is None or not img.transfer_syntax.encapsulated:
            continue
        for name in registry.names():
            be = registry.get(name)
            if img.spec.transfer_syntax.uid in be.syntaxes and be.supports(img.spec):
                cases.append(pytest.param(path, name, id=f"{path.name}-{name}"))
    return cases


def _read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = DicomImage(path, **kw)
        # Large multi-frame files: the first frames are enough to judge.
        index = slice(0, 3) if img.n_frames > 3 else None
        return img, img.read(index)


@pytest.mark.parametrize("path,backend", _cases())
def test_corpus_file_with_each_backend(path, backend):
    reason = EXCLUDE.get((path.name, backend))
    if reason or path.name in BROKEN:
        # A known limitation is still checked: it must fail cleanly.
        with pytest.raises(dicomio.DecodeError):
            _read(path, backend=backend)
        return
    ref_img, ref = _read(path)
    img, arr = _read(path, backend=backend)
    assert img.decoder == backend
    assert arr.shape == ref.shape and arr.dtype == ref.dtype
    if img.transfer_syntax.lossy:
        diff = np.abs(arr.astype(np.float64) - ref.astype(np.float64))
        assert diff.max() <= LOSSY_MAX_DIFF, f"max difference {diff.max()}"
        peak = float((1 << img.spec.bits_stored) - 1)
        mse = float(np.mean(diff**2))
        psnr = 10 * np.log10(peak * peak / mse) if mse else np.inf
        assert psnr >= LOSSY_MIN_PSNR, f"PSNR {psnr:.1f} dB against the default"
    else:
        np.testing.assert_array_equal(arr, ref)
    for key in ("declared", "codestream", "output", "mismatch"):
        assert img.photometric[key] == ref_img.photometric[key]


def _sample_cases():
    cases = []
    for keyword, path in samples.all_paths().items():
        img = _spec(path)
        for name in registry.names():
            be = registry.get(name)
            if img.spec.transfer_syntax.uid in be.syntaxes and be.supports(img.spec):
                cases.append(pytest.param(keyword, name, id=f"{keyword}-{name}"))
    return cases


@pytest.mark.parametrize("keyword,backend", _sample_cases())
def test_bundled_sample_with_each_backend(keyword, backend):
    path = samples.path(keyword)
    img = DicomImage(path, backend=backend)
    arr = img.read()
    assert img.decoder == backend
    expected = samples.expected(keyword)
    if expected is not None:
        np.testing.assert_array_equal(arr, expected)
    else:
        # Backends agree closely with each other (this caught an unclamped
        # decoder wrapping 255 to 0) and with the source to a stated PSNR.
        default = DicomImage(path).read()
        agree = np.abs(arr.astype(np.int64) - default.astype(np.int64)).max()
        assert agree <= LOSSY_MAX_DIFF, f"{agree} away from the default decoder"
        source = samples.source(keyword).astype(np.float64)
        peak = float((1 << img.spec.bits_stored) - 1)
        mse = float(np.mean((arr.astype(np.float64) - source) ** 2))
        psnr = 10 * np.log10(peak * peak / mse) if mse else np.inf
        assert psnr >= 30.0, f"PSNR {psnr:.1f} dB below the stated 30 dB"


def test_every_syntax_has_two_backends_where_two_exist():
    # JPEG XL has one decoder in Python (libjxl via imagecodecs), video one
    # (FFmpeg via PyAV), the retired hierarchical JPEG processes one (Thomas
    # Richter's libjpeg: libjpeg-turbo and GDCM refuse the DHP marker,
    # tests/backends/test_retired.py), lossless arithmetic coding too
    # (libjpeg-turbo refuses SOF11, tests/backends/test_lossless_arithmetic.py).
    single = {"jpegxl", "video"}
    hierarchical = {t.uid for t in dicomio.TRANSFER_SYNTAXES.values()
                    if t.retired and ("hierarchical" in t.process
                                      or "lossless, arithmetic" in t.process)}
    for ts in dicomio.TRANSFER_SYNTAXES.values():
        try:
            path = samples.path(ts.keyword)
        except KeyError:
            continue
        img = _spec(path)
        able = [n for n in registry.names()
                if ts.uid in registry.get(n).syntaxes and registry.get(n).supports(img.spec)
                and registry.get(n).available()]
        want = 1 if (ts.family in single or ts.family == "native"
                     or ts.uid in hierarchical) else 2
        assert len(able) >= want, f"{ts.keyword}: only {able}"
