"""dicomio.pixels.codestream.process: the T.81 process of a JPEG stream.

Streams come from the project's encoder (baseline, lossless) and from
libjpeg-turbo's jpegtran (arithmetic coding, spectral selection, full
progression) through dicomio.encode.retired; markers the tools cannot write
(differential frames, SOF13-15) are set by hand in headers that are only
parsed, never decoded.
"""

from __future__ import annotations

import pytest

from dicomio import encode
from dicomio.encode.retired import jpegtran, one_frame_hierarchical
from dicomio.pixels import codestream as cs
from dicomio.samples import _phantom
from dicomio.tsyntax import TRANSFER_SYNTAXES, lookup

GREY = _phantom.grey(32, 48, bits=8)
BASE = encode.encode_frame(GREY, "JPEGBaseline8Bit")
TRAN = {kw: jpegtran(kw)(BASE) for kw in (
    "JPEGExtended35", "JPEGSpectralSelectionNonHierarchical68",
    "JPEGSpectralSelectionNonHierarchical79", "JPEGFullProgressionNonHierarchical1012",
    "JPEGFullProgressionNonHierarchical1113")}


def _proc(stream: bytes) -> cs.JpegProcess:
    return cs.jpeg_process(stream, cs.parse_jpeg(stream))


@pytest.mark.parametrize("keyword,sof,number,text", [
    ("JPEGExtended35", 0xC9, 3, "Process 3 (sequential, arithmetic, 8-bit)"),
    ("JPEGSpectralSelectionNonHierarchical68", 0xC2, 6,
     "Process 6 (spectral selection, Huffman, 8-bit)"),
    ("JPEGSpectralSelectionNonHierarchical79", 0xCA, 7,
     "Process 7 (spectral selection, arithmetic, 8-bit)"),
    ("JPEGFullProgressionNonHierarchical1012", 0xC2, 10,
     "Process 10 (full progression, Huffman, 8-bit)"),
    ("JPEGFullProgressionNonHierarchical1113", 0xCA, 11,
     "Process 11 (full progression, arithmetic, 8-bit)"),
])
def test_jpegtran_streams(keyword, sof, number, text):
    stream = TRAN[keyword]
    info = cs.parse_jpeg(stream)
    assert info.sof == sof and not info.lossless and not info.hierarchical
    proc = _proc(stream)
    assert (proc.number, str(proc)) == (number, text)
    assert cs.process_mismatch(stream, info, lookup(keyword)) is None
    # A DHP segment in front makes it the hierarchical process (+14).
    hier = one_frame_hierarchical(stream)
    assert _proc(hier).number == number + 14


def test_baseline_extended_and_lossless():
    assert str(_proc(BASE)) == "Process 1 (baseline, Huffman, 8-bit)"
    ext = encode.encode_frame(_phantom.grey(32, 48, bits=12), "JPEGExtended12Bit")
    assert _proc(ext).number == 4
    ll = encode.encode_frame(GREY, "JPEGLossless")
    assert (_proc(ll).number, _proc(ll).mode) == (14, "lossless")
    assert _proc(one_frame_hierarchical(ll)).number == 28
    # Differential and arithmetic lossless frame markers, parsed only.
    i = ll.index(b"\xff\xc3")
    arith = ll[:i] + b"\xff\xcb" + ll[i + 2:]
    assert _proc(arith).number == 15
    assert _proc(one_frame_hierarchical(arith)).number == 29


@pytest.mark.parametrize("marker", [0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF])
def test_differential_frame_markers_parse(marker):
    # A differential SOF5-7 / SOF13-15 header is a frame header like the
    # others; the parser accepts it (what it means is the decoder's job).
    lossless = marker in (0xC7, 0xCF)
    stream = encode.encode_frame(GREY, "JPEGLossless") if lossless else BASE
    i = stream.index(b"\xff\xc3" if lossless else b"\xff\xc0")
    info = cs.parse_jpeg(stream[:i] + bytes([0xFF, marker]) + stream[i + 2:])
    assert info.sof == marker
    assert info.lossless == lossless


def test_dac_and_exp_segments_are_skipped():
    stream = TRAN["JPEGExtended35"]
    assert b"\xff\xcc" in stream[:stream.index(b"\xff\xda")]  # DAC before the scan
    i = stream.index(b"\xff\xc9")
    exp = b"\xff\xdf\x00\x03\x11"  # EXP: expand both directions
    info = cs.parse_jpeg(stream[:i] + exp + stream[i:])
    assert info.sof == 0xC9


@pytest.mark.parametrize("keyword,stream_of,why", [
    ("JPEGBaseline8Bit", "JPEGFullProgressionNonHierarchical1012", "full progression"),
    ("JPEGSpectralSelectionNonHierarchical68", "JPEGFullProgressionNonHierarchical1012",
     "full progression"),
    ("JPEGSpectralSelectionNonHierarchical68", "JPEGExtended35", "arithmetic coding"),
    ("JPEGFullProgressionNonHierarchical1012", "JPEGFullProgressionNonHierarchical1113",
     "arithmetic coding"),
    ("JPEGLossless", "JPEGExtended35", "lossy and arithmetic coding are"),
])
def test_process_mismatch_says_what(keyword, stream_of, why):
    stream = TRAN[stream_of]
    note = cs.process_mismatch(stream, cs.parse_jpeg(stream), lookup(keyword))
    assert note is not None and why in note
    assert keyword in note and lookup(keyword).process in note
    assert "decoded as the stream says" in note


def test_simpler_streams_fit_richer_syntaxes():
    # T.81 4.11: every DCT decoder decodes baseline; spectral selection is
    # full progression without successive approximation.
    for kw in ("JPEGExtended12Bit", "JPEGExtended35",
               "JPEGFullProgressionNonHierarchical1113",
               "JPEGExtendedHierarchical1618"):
        assert cs.process_mismatch(BASE, cs.parse_jpeg(BASE), lookup(kw)) is None
    spectral = TRAN["JPEGSpectralSelectionNonHierarchical68"]
    assert cs.process_mismatch(spectral, cs.parse_jpeg(spectral),
                               lookup("JPEGFullProgressionNonHierarchical1012")) is None
    hier = one_frame_hierarchical(BASE)
    note = cs.process_mismatch(hier, cs.parse_jpeg(hier), lookup("JPEGBaseline8Bit"))
    assert note is not None and "the hierarchical mode is not part" in note


def test_every_jpeg_syntax_has_a_mode():
    from dicomio.pixels.codestream.process import SYNTAX_MODES

    jpeg = {t.keyword for t in TRANSFER_SYNTAXES.values() if t.family == "jpeg"}
    assert set(SYNTAX_MODES) == jpeg
    for t in TRANSFER_SYNTAXES.values():
        if t.family == "jpeg":
            assert t.process.startswith("Process "), t.keyword


def test_scan_walk_ends_on_cut_and_odd_streams():
    stream = TRAN["JPEGFullProgressionNonHierarchical1012"]
    info = cs.parse_jpeg(stream)
    first_scan_end = stream.index(b"\xff\xda") + 12
    # Cut right after the first scan header: only what is there counts
    # (the DC scan of jpegtran's progression already uses Al = 1).
    assert cs.jpeg_process(stream[:first_scan_end], info).mode == "full progression"
    spectral = TRAN["JPEGSpectralSelectionNonHierarchical68"]
    for cut in (len(spectral) // 2, len(spectral) - 3, 40):
        assert cs.jpeg_process(spectral[:cut], cs.parse_jpeg(spectral)).mode == \
            "spectral selection"
