"""Zeroed J2K / HTJ2K coded data (dicomio.pixels.codestream.j2kzeros).

A run of zero bytes longer than a tile's packets and code-blocks explain is
found, with its offset and length; every legitimate stream at hand passes:
the corpora's J2K and HTJ2K frames, and the encoders' output of flat,
half-flat, smooth, striped and noisy images, lossless and lossy, 8 to 16
bits, grey and RGB, one tile and many, one quality layer and many.
"""

from __future__ import annotations

import io
import re
import warnings

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from dicomio import DicomImage, encode, samples
from dicomio.pixels.codestream import ZERO_RUN_MARGIN, j2k_zero_run
from tests._zeroed import DEFECTS, FRAMES, SYNTAXES, zero
from tests.conftest import all_corpus_files

_RNG = np.random.default_rng(2026)


def longest_zero_run(data: bytes) -> int:
    zero_ = np.concatenate(([False], np.frombuffer(data, np.uint8) == 0, [False]))
    edges = np.flatnonzero(zero_[1:] != zero_[:-1])
    return int((edges[1::2] - edges[::2]).max(initial=0))


# ------------------------------------------------------------ found, and said
@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_zeroed_run_is_found_with_its_offset_and_length(syntax, defect):
    cs = encode.encode_frame(FRAMES[0], syntax, bits_stored=12)
    assert j2k_zero_run(cs) is None
    bad, start, size = zero(cs, syntax, defect)
    found = j2k_zero_run(bad)
    assert found is not None
    m = re.fullmatch(r"(\d+) zero bytes in a row at byte (\d+) \(tile 0, tile-part "
                     r"(\d+)\), where a legal stream holds at most (\d+) \(one per "
                     r"packet of the tile, (\d+)(, \d+ for its code-blocks)?, and "
                     rf"{ZERO_RUN_MARGIN} to spare\)", found)
    assert m, found
    length, offset = int(m[1]), int(m[2])
    # The run found holds the zeroed bytes (zeros next to them join it).
    assert offset <= start and offset + length >= start + size
    assert length < size + 16
    assert int(m[4]) < size
    # HTJ2K allows two 64 x 64 code-blocks of raw zero bits (1024 bytes).
    assert bool(m[6]) == syntax.startswith("HTJ2K")


def test_zeroed_htj2k_shorter_than_two_code_blocks_is_not_judged():
    # OpenJPH writes up to 560 zero bytes in a row on smooth ramps (below),
    # so one zeroed 512-byte sector in HTJ2K is within what is legal.
    cs = encode.encode_frame(FRAMES[0], "HTJ2KLossless", bits_stored=12)
    bad = bytearray(cs)
    bad[4096:4608] = bytes(512)
    assert j2k_zero_run(bytes(bad)) is None


def test_a_jp2_file_is_judged_by_its_codestream_box():
    jp2 = imagecodecs.jpeg2k_encode(FRAMES[0], codecformat="jp2", reversible=True)
    assert jp2[4:8] == b"jP  " and j2k_zero_run(jp2) is None
    bad = bytearray(jp2)
    bad[10000:12000] = bytes(2000)
    assert j2k_zero_run(bytes(bad)).startswith("2000 zero bytes in a row at byte 10000 ")


def test_every_tile_part_is_looked_at():
    # HTJ2KLosslessRPCL writes one tile-part per resolution (and a TLM).
    cs = encode.encode_frame(FRAMES[0], "HTJ2KLosslessRPCL", bits_stored=12)
    bad = bytearray(cs)
    bad[-3000:-2] = bytes(2998)
    assert re.search(r"\(tile 0, tile-part [1-9]\d*\)", j2k_zero_run(bytes(bad)))


def test_several_tiles_each_with_its_own_bound():
    tiled = imagecodecs.htj2k_encode(FRAMES[0], reversible=True, tile=(64, 128))
    assert j2k_zero_run(tiled) is None
    bad = bytearray(tiled)
    bad[-2000:-2] = bytes(1998)
    assert re.search(r"\(tile 7, tile-part 0\)", j2k_zero_run(bytes(bad)))


def _empty_packets(layers: int) -> bytes:
    """A legal flat stream whose every packet after the first is one zero byte.

    OpenJPEG writes an empty packet as 0x80 (a header saying "not empty"
    whose code-block is not included); Kakadu writes 0x00 ("empty"), which
    means the same: rewriting the one as the other keeps the stream legal.
    """
    buf = io.BytesIO()
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(
        buf, format="JPEG2000", no_jp2=True, quality_mode="rates",
        quality_layers=[1.0] * layers, num_resolutions=6)
    cs = buf.getvalue()
    body = cs.index(b"\xff\x93") + 2
    first = cs.index(b"\x80" * 4, body)
    return cs[:first] + cs[first:-2].replace(b"\x80", b"\x00") + cs[-2:]


def test_a_tile_of_empty_packets_is_legal_however_long():
    cs = _empty_packets(50)  # 50 layers x 6 resolutions: 300 packets
    assert longest_zero_run(cs) > ZERO_RUN_MARGIN
    np.testing.assert_array_equal(imagecodecs.jpeg2k_decode(cs), 0)
    assert j2k_zero_run(cs) is None
    # The packet count is the bound: zeros beyond it are found (300 more
    # zero bytes, the tile-part's Psot grown to match).
    sot = cs.index(b"\xff\x90")
    psot = int.from_bytes(cs[sot + 6 : sot + 10], "big")
    longer = (cs[: sot + 6] + (psot + 300).to_bytes(4, "big") + cs[sot + 10 : -2]
              + bytes(300) + cs[-2:])
    assert j2k_zero_run(longer).startswith(
        f"{longest_zero_run(cs) + 300} zero bytes in a row")


def test_bypass_coding_is_not_judged():
    # Raw bit-planes (code-block style bit 0) of data whose low bits are 0
    # are zero bytes, legally: such streams are left to the decoders.
    cs = bytearray(encode.encode_frame(FRAMES[0], "JPEG2000Lossless", bits_stored=12))
    cod = cs.index(b"\xff\x52")
    cs[cod + 12] |= 0x01
    cs[len(cs) // 2 : len(cs) // 2 + 4096] = bytes(4096)
    assert j2k_zero_run(bytes(cs)) is None


@pytest.mark.parametrize("data", [
    b"", b"\xff\x4f", b"\xff\x4f\xff\x51" + bytes(60), bytes(1000), b"\x00" * 7,
    b"\xff\x4f\xff\x51\x00\x29" + bytes(39) + b"\xff\x90\x00\x0a" + bytes(8),
])
def test_odd_streams_are_not_judged_and_never_raise(data):
    assert j2k_zero_run(data) is None


def test_a_cut_or_garbled_stream_is_not_judged_and_never_raises():
    cs = encode.encode_frame(FRAMES[0], "JPEG2000Lossless", bits_stored=12)
    sot = cs.index(b"\xff\x90")
    for k in range(0, sot + 20):
        assert j2k_zero_run(cs[:k]) is None
        garbled = bytearray(cs)
        garbled[k] ^= 0xFF
        j2k_zero_run(bytes(garbled))  # any answer, but no exception
    psot_zero = bytearray(cs)
    psot_zero[sot + 6 : sot + 10] = bytes(4)  # Psot 0: the tile-part runs to EOC
    psot_zero[-600:-2] = bytes(598)
    assert j2k_zero_run(bytes(psot_zero)).startswith("598 zero bytes")
    assert j2k_zero_run(bytes(psot_zero[:-2])) is None  # no EOC: not judged here


# --------------------------------------------------------- no false positives
def _j2k_frames():
    """``(name, frame index, bytes)`` of every J2K / HTJ2K frame at hand."""
    paths = list(all_corpus_files()) + list(samples.all_paths().values())
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                img = DicomImage(path)
            except Exception:  # noqa: BLE001 - not an image file
                continue
        with img:
            if img.transfer_syntax.family not in ("jpeg2k", "htj2k"):
                continue
            for i in range(img.n_frames):
                yield path.name, i, bytes(img._frame_bytes(i))


def test_no_corpus_frame_is_judged_damaged():
    seen = set()
    for name, i, data in _j2k_frames():
        seen.add(name)
        assert j2k_zero_run(data) is None, (name, i)
    # pydicom's, pydicom-data's and the bundled samples' J2K and HTJ2K.
    assert {"GDCMJ2K_TextGBR.dcm", "US1_J2KR.dcm", "RG1_J2KI.dcm",
            "MR2_J2KR.dcm"} <= seen
    assert len(seen) >= 25


def _images() -> dict[str, np.ndarray]:
    y, x = np.mgrid[:512, :512]
    half = np.where(x < 256, 0, _RNG.integers(0, 4096, (512, 512)))
    return {
        "zero": np.zeros((512, 512), np.uint16),
        "constant": np.full((512, 512), 1234, np.uint16),
        "half-flat": half.astype(np.uint16),
        "noise": _RNG.integers(0, 4096, (512, 512)).astype(np.uint16),
        # HTJ2K's raw MagSgn bits: +1 detail coefficients are zero bits.
        "ramp": ((x + y) // 8).astype(np.uint16),
        "steep ramp": ((x * 30 + y * 54) // 8 % 4096).astype(np.uint16),
        "stripes": (x % 2).astype(np.uint16),
        "upscaled 8-bit": (_RNG.integers(0, 16, (512, 512)) * 256).astype(np.uint16),
    }


@pytest.mark.parametrize("name", list(_images()))
def test_no_encoder_output_is_judged_damaged(name):
    arr = _images()[name]
    for syntax in ("JPEG2000Lossless", "JPEG2000", "HTJ2KLossless", "HTJ2KLosslessRPCL",
                   "HTJ2K"):
        for bits, data in ((16, arr), (12, arr & 0xFFF), (8, (arr & 0xFF).astype(np.uint8))):
            cs = encode.encode_frame(data, syntax, bits_stored=bits)
            assert j2k_zero_run(cs) is None, (syntax, bits)
    for tile in ((64, 64), (128, 256)):
        for reversible in (True, False):
            cs = imagecodecs.htj2k_encode(arr, None if reversible else 0.01,
                                          reversible=reversible, tile=tile)
            assert j2k_zero_run(cs) is None, (tile, reversible)


@pytest.mark.parametrize("syntax", ["JPEG2000Lossless", "JPEG2000", "HTJ2KLossless",
                                    "HTJ2K"])
def test_no_rgb_stream_is_judged_damaged(syntax):
    y, x = np.mgrid[:256, :256]
    for rgb in (np.zeros((256, 256, 3), np.uint8),
                np.dstack([x % 256, y % 256, (x + y) // 2 % 256]).astype(np.uint8),
                _RNG.integers(0, 256, (256, 256, 3)).astype(np.uint8)):
        for pi in ("RGB", "YBR_RCT" if "Lossless" in syntax else "YBR_ICT"):
            cs = encode.encode_frame(rgb, syntax, photometric=pi)
            assert j2k_zero_run(cs) is None, pi


@pytest.mark.parametrize("options", [
    dict(quality_mode="rates", quality_layers=[80, 40, 20, 10, 5, 2, 1],
         irreversible=True),
    dict(quality_mode="rates", quality_layers=[40, 10, 1], progression="RLCP",
         codeblock_size=(16, 16)),
    dict(quality_mode="dB", quality_layers=[20, 30, 40, 50, 60],
         tile_size=(128, 128), progression="CPRL"),
])
def test_no_multi_layer_or_tiled_stream_is_judged_damaged(options):
    # Pillow's OpenJPEG writes quality layers and tiles, which imagecodecs does not.
    for arr in _images().values():
        buf = io.BytesIO()
        Image.fromarray((arr >> 4).astype(np.uint8)).save(buf, format="JPEG2000",
                                                          no_jp2=True, **options)
        assert j2k_zero_run(buf.getvalue()) is None


def test_a_header_asking_for_endless_work_is_not_judged():
    # 16384 components in each of thousands of one-pixel tiles: the bound
    # would take minutes to work out, so the stream is left to the decoders.
    csiz = 16384
    siz = (b"\xff\x51" + (38 + 3 * csiz).to_bytes(2, "big") + bytes(2)
           + b"".join(v.to_bytes(4, "big") for v in (4096, 4096, 0, 0, 1, 1, 0, 0))
           + csiz.to_bytes(2, "big") + b"\x07\x01\x01" * csiz)
    cod = b"\xff\x52\x00\x0c\x00\x00\x00\x01\x00\x05\x04\x04\x00\x01"
    parts = b"".join(b"\xff\x90\x00\x0a" + t.to_bytes(2, "big") + (16).to_bytes(4, "big")
                     + b"\x00\x01\xff\x93\x00\x00" for t in range(5000))
    assert j2k_zero_run(b"\xff\x4f" + siz + cod + parts + b"\xff\xd9") is None
