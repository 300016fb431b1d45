"""Generated files for every lossless syntax x pixel layout x backend: bit-exact.

No public file covers J2K Part 2, HTJ2K, JPEG XL, Deflated Image Frame or
Encapsulated Uncompressed, and few cover signed data, Bits Stored below Bits
Allocated, planar colour or odd sizes in every codec. These arrays are made
here, encoded with dicomio.encode (whose round trips tests/encode/test_encode.py checks
with independent decoders), and must come back exactly through every backend
that claims them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, registry
from dicomio.encode import LOSSLESS_ENCODABLE, write
from dicomio.errors import EncodeError

RNG = np.random.default_rng(20261122)


def _phantom(shape, dtype, bits):
    """Smooth ramps plus noise spanning the full stored range."""
    info_signed = np.dtype(dtype).kind == "i"
    lo = -(1 << (bits - 1)) if info_signed else 0
    hi = (1 << (bits - 1)) - 1 if info_signed else (1 << bits) - 1
    grid = np.indices(shape[-3:-1] if len(shape) >= 3 and shape[-1] == 3 else shape[-2:])
    ramp = (grid.sum(axis=0) / max(1, sum(shape[-3:-1] if shape[-1] == 3 else shape[-2:])))
    base = lo + ramp * (hi - lo)
    arr = np.broadcast_to(base[..., None] if shape[-1] == 3 else base, shape).copy()
    arr += RNG.integers(-3, 4, size=shape)
    arr = np.clip(arr, lo, hi)
    # Put the extremes in: sign handling and precision errors show up there.
    flat = arr.reshape(-1)
    flat[0], flat[-1] = lo, hi
    return arr.astype(dtype)


LAYOUTS = {
    # name: (shape, dtype, bits_stored, photometric, planar)
    "u8-odd": ((1, 7, 13), np.uint8, 8, None, 0),
    "u16-12bit": ((2, 16, 18), np.uint16, 12, None, 0),
    "i16-signed": ((2, 17, 16), np.int16, 16, None, 0),
    "i16-signed-12bit": ((1, 16, 16), np.int16, 12, None, 0),
    "rgb8": ((2, 15, 11, 3), np.uint8, 8, None, 0),
    "rgb8-planar": ((1, 9, 10, 3), np.uint8, 8, None, 1),
    "ybrfull8": ((1, 12, 12, 3), np.uint8, 8, "YBR_FULL", 0),
}


def _cases():
    out = []
    for ts in LOSSLESS_ENCODABLE:
        for name in LAYOUTS:
            out.append(pytest.param(ts, name, id=f"{ts}-{name}"))
    return out


@pytest.mark.parametrize("keyword,layout", _cases())
def test_generated_lossless_round_trip_every_backend(tmp_path, keyword, layout):
    shape, dtype, bits, pi, planar = LAYOUTS[layout]
    arr = _phantom(shape, dtype, bits)
    path = tmp_path / f"{keyword}-{layout}.dcm"
    kwargs = {"bits_stored": bits, "planar_configuration": planar}
    if pi:
        kwargs["photometric"] = pi
    try:
        write(path, arr, keyword, multiframe=True, **kwargs)
    except EncodeError as exc:
        # The encoder refuses combinations the codec cannot represent (e.g.
        # signed data in JPEG XL); that refusal is itself tested in
        # test_encode.py. Nothing to decode here.
        assert keyword in str(exc)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = DicomImage(path, color="native")
    able = [n for n in registry.names() if img.spec.transfer_syntax.uid in
            registry.get(n).syntaxes and registry.get(n).supports(img.spec)
            and registry.get(n).available()]
    assert able, f"no backend for {keyword}"
    expected = arr
    for name in able:
        got = DicomImage(path, backend=name, color="native").read(...)
        assert got.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got, expected, err_msg=f"backend {name}")
        rgb = DicomImage(path, backend=name).read(...)
        if pi == "YBR_FULL":
            # The default converts YCbCr to RGB: the output is not the
            # stored samples, and the report says so.
            im = DicomImage(path, backend=name)
            im.read()
            assert im.photometric["output"] == "RGB"
            assert im.photometric["mismatch"]
        else:
            np.testing.assert_array_equal(rgb, expected, err_msg=f"backend {name}")


@pytest.mark.parametrize("keyword", ["ExplicitVRLittleEndian", "ExplicitVRBigEndian",
                                     "DeflatedExplicitVRLittleEndian",
                                     "EncapsulatedUncompressedExplicitVRLittleEndian",
                                     "DeflatedImageFrameCompression"])
def test_one_bit_frames_not_byte_aligned(tmp_path, keyword):
    # 3 frames of 5 x 7 = 35 bits: frames start mid-byte.
    mask = RNG.integers(0, 2, size=(3, 5, 7)).astype(bool)
    path = tmp_path / "mask.dcm"
    try:
        write(path, mask, keyword, multiframe=True)
    except EncodeError as exc:  # 1-bit exists only in these syntaxes
        pytest.fail(f"1-bit must encode in {keyword}: {exc}")
    img = DicomImage(path)
    assert img.spec.bits_allocated == 1
    got = img.read()
    np.testing.assert_array_equal(got, mask.astype(np.uint8))
    for i in range(3):
        np.testing.assert_array_equal(img.read(i), mask[i].astype(np.uint8))


def test_pydicom_agrees_on_one_bit(tmp_path):
    import pydicom

    mask = RNG.integers(0, 2, size=(3, 5, 7)).astype(bool)
    path = tmp_path / "mask.dcm"
    write(path, mask, "ExplicitVRLittleEndian", multiframe=True)
    np.testing.assert_array_equal(dicomio.imread(path), pydicom.dcmread(path).pixel_array)
