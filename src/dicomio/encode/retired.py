"""Datasets in the retired JPEG Transfer Syntaxes (1.2.840.10008.1.2.4.52-.66).

No Python encoder dicomio installs writes arithmetic coding, spectral
selection or the hierarchical mode, and imagecodecs' ``jpeg8_encode`` writes
no progressive scans, so :func:`~dicomio.encode.encode_frame` cannot write
these syntaxes (:data:`DECODE_ONLY` gives the reason for each).

libjpeg-turbo's ``jpegtran`` (Debian ``libjpeg-turbo-progs``) re-codes a
baseline stream without loss into the non-hierarchical DCT processes:
``-arithmetic`` (Process 3), ``-scans`` with scans whose Ah and Al are 0
(spectral selection, Processes 6 and 7) and ``-progressive`` (full
progression, Processes 10 and 11). :func:`make_retired_dataset` builds a
baseline dataset with :func:`~dicomio.encode.make_dataset`, re-codes each
frame (with ``jpegtran``, or any callable given), checks that the new stream
really uses a process of the syntax, and wraps it under the retired UID. The
Debian build of ``jpegtran`` (2.1) handles 8-bit data only.

The hierarchical DCT syntaxes (.59 to .64) get the shortest valid
hierarchical stream, one non-differential frame after a DHP segment
(:func:`one_frame_hierarchical`). Hierarchical lossless (.65) gets two
frames: the image without its two low bits, then a differential frame that
adds them (:func:`add_differential_frame`). Lossless arithmetic coding (.58,
.66) has no writer here: :func:`make_retired_dataset` wraps a stream given
as ``recode=`` (the test suite's own T.81 writer makes them) after checking
its process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.uid import UID

from ..errors import DicomioError
from ..pixels.codestream import jpeg_process, parse_jpeg
from ..pixels.codestream.process import SYNTAX_MODES
from ..tsyntax import TransferSyntax
from .dataset import _as_array, _split_frames, make_dataset
from .plan import DECODE_ONLY, _fail, _lookup

__all__ = ["make_retired_dataset", "jpegtran", "one_frame_hierarchical",
           "add_differential_frame",
           "JPEGTRAN_ARGS", "HIERARCHICAL_BASE", "DECODE_ONLY"]

#: ``jpegtran`` arguments that re-code a baseline stream into each
#: non-hierarchical retired syntax (``"SPECTRAL"`` stands for a scan script of
#: spectral-selection scans, Ah = Al = 0).
JPEGTRAN_ARGS: dict[str, tuple[str, ...]] = {
    "JPEGExtended35": ("-arithmetic",),
    "JPEGSpectralSelectionNonHierarchical68": ("-scans", "SPECTRAL"),
    "JPEGSpectralSelectionNonHierarchical79": ("-arithmetic", "-scans", "SPECTRAL"),
    "JPEGFullProgressionNonHierarchical1012": ("-progressive",),
    "JPEGFullProgressionNonHierarchical1113": ("-arithmetic", "-progressive"),
}

#: Hierarchical syntax -> the syntax whose stream becomes its one frame
#: (:func:`one_frame_hierarchical`).
HIERARCHICAL_BASE: dict[str, str] = {
    "JPEGExtendedHierarchical1618": "JPEGBaseline8Bit",
    "JPEGExtendedHierarchical1719": "JPEGExtended35",
    "JPEGSpectralSelectionHierarchical2022": "JPEGSpectralSelectionNonHierarchical68",
    "JPEGSpectralSelectionHierarchical2123": "JPEGSpectralSelectionNonHierarchical79",
    "JPEGFullProgressionHierarchical2426": "JPEGFullProgressionNonHierarchical1012",
    "JPEGFullProgressionHierarchical2527": "JPEGFullProgressionNonHierarchical1113",
    "JPEGLosslessHierarchical28": "JPEGLossless",
}

# DC of every component first, then the AC bands: spectral selection only.
_SPECTRAL = {
    1: "0: 0 0 0 0;\n0: 1 5 0 0;\n0: 6 63 0 0;\n",
    3: "0 1 2: 0 0 0 0;\n0: 1 5 0 0;\n0: 6 63 0 0;\n1: 1 63 0 0;\n2: 1 63 0 0;\n",
}


def jpegtran(keyword: str) -> Callable[[bytes], bytes]:
    """A function re-coding one baseline stream for the retired syntax ``keyword``.

    Raises
    ------
    dicomio.errors.EncodeError
        When ``jpegtran`` cannot write that syntax, or is not installed.
    """
    ts = _lookup(keyword)
    args = JPEGTRAN_ARGS.get(ts.keyword)
    if args is None:
        raise _fail(ts, f"jpegtran cannot write it: {DECODE_ONLY.get(ts.keyword, '')}")
    exe = shutil.which("jpegtran")
    if exe is None:
        raise _fail(ts, "jpegtran is not installed (Debian/Ubuntu: apt-get install "
                        "libjpeg-turbo-progs)")

    def recode(stream: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            argv = [exe, "-copy", "none"]
            for a in args:
                if a == "SPECTRAL":
                    script = os.path.join(tmp, "scans.txt")
                    with open(script, "w", encoding="ascii") as fh:
                        fh.write(_SPECTRAL[parse_jpeg(stream).components])
                    a = script
                argv.append(a)
            done = subprocess.run(argv, input=stream, capture_output=True,
                                  check=False, timeout=60)
        if done.returncode:
            raise _fail(ts, f"jpegtran failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    return recode


def one_frame_hierarchical(stream: bytes) -> bytes:
    """Turn a non-hierarchical stream into a hierarchical one of one frame.

    T.81 Annex J: a hierarchical image is a DHP segment (the final size, the
    frame header's layout with every Tq 0) followed by frames, the first
    non-differential; differential frames (SOF5-7, SOF13-15) refine it. This
    writes the shortest such stream: DHP, then the original frame, baseline
    SOF0 relabelled SOF1 (the hierarchical processes are extended ones). A
    decoder takes its hierarchical path for it; no differential frame is
    exercised (no installed encoder writes one).
    """
    pos = 2
    while pos + 4 <= len(stream) and stream[pos] == 0xFF:
        code = stream[pos + 1]
        length = int.from_bytes(stream[pos + 2:pos + 4], "big")
        if code in (0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB):
            body = bytearray(stream[pos + 4:pos + 2 + length])
            for c in range(body[5]):
                body[8 + 3 * c] = 0  # Tq: DHP names no quantization table
            dhp = b"\xff\xde" + stream[pos + 2:pos + 4] + bytes(body)
            sof = bytes([0xFF, 0xC1 if code == 0xC0 else code])
            return stream[:pos] + dhp + sof + stream[pos + 2:]
        if code == 0xDA:
            break
        pos += 2 + length
    raise ValueError("no non-differential frame header before the first scan")


def _segment(code: int, body: bytes) -> bytes:
    return bytes([0xFF, code]) + (len(body) + 2).to_bytes(2, "big") + body


def _huffman_low_bits(diff: np.ndarray) -> bytes:
    """Entropy-code differences 0..3: category code (2 bits: 00, 01, 10 for
    categories 0, 1, 2) then the category's extra bits, FF bytes stuffed."""
    out = bytearray()
    acc = n = 0
    for v in diff.ravel().tolist():
        cat = v.bit_length()
        acc, n = (acc << 2) | cat, n + 2
        if cat:
            acc, n = (acc << cat) | v, n + cat
        while n >= 8:
            n -= 8
            out.append((acc >> n) & 0xFF)
            if out[-1] == 0xFF:
                out.append(0)
            acc &= (1 << n) - 1
    if n:  # pad with 1-bits (T.81 F.1.2.3)
        out.append(((acc << (8 - n)) | ((1 << (8 - n)) - 1)) & 0xFF)
        if out[-1] == 0xFF:
            out.append(0)
    return bytes(out)


def add_differential_frame(stream: bytes, image: np.ndarray) -> bytes:
    """A two-frame hierarchical lossless stream (Process 28) decoding to ``image``.

    ``stream`` is a lossless (SOF3) stream of ``image & ~3``, one sample per
    pixel or interleaved colour without subsampling. The result is DHP, that
    frame, then a differential lossless frame (SOF7, T.81 J.1.3.3: no
    predictor, Ss = 0) whose Huffman-coded differences are the two low bits
    the first frame lacks; a decoder adds them to the first frame's output.
    """
    info = parse_jpeg(stream)
    if info.sof != 0xC3 or any(s != (1, 1) for s in info.sampling):
        raise ValueError("the first frame must be lossless JPEG (SOF3) without "
                         "subsampling")
    sof = stream.index(b"\xff\xc3")
    header = stream[sof + 4:sof + 2 + int.from_bytes(stream[sof + 2:sof + 4], "big")]
    ids = info.component_ids
    diff = np.asarray(image).astype(np.int64) & 3
    dht = _segment(0xC4, bytes([0x01, 0, 3] + [0] * 14 + [0, 1, 2]))  # table 1
    sos = bytes([len(ids)]) + b"".join(bytes([c, 0x10]) for c in ids) + bytes(3)
    return (b"\xff\xd8" + _segment(0xDE, header) + stream[2:stream.rindex(b"\xff\xd9")]
            + _segment(0xDD, bytes(2)) + dht + _segment(0xC7, header)
            + _segment(0xDA, sos) + _huffman_low_bits(diff) + b"\xff\xd9")


def _recoder(ts: TransferSyntax) -> tuple[str, Callable[[bytes], bytes]]:
    """The syntax to encode first and the re-coding that follows."""
    base = HIERARCHICAL_BASE.get(ts.keyword)
    if base is None:
        return "JPEGBaseline8Bit", jpegtran(ts.keyword)
    if base in ("JPEGBaseline8Bit", "JPEGLossless"):
        return base, one_frame_hierarchical
    flat = jpegtran(base)
    return "JPEGBaseline8Bit", lambda stream: one_frame_hierarchical(flat(stream))


#: Retired syntaxes written only through ``recode=`` (nothing installed
#: writes lossless arithmetic coding; the tests' own writer does).
_LOSSLESS_ARITHMETIC = frozenset({"JPEGLosslessNonHierarchical15",
                                  "JPEGLosslessHierarchical29"})


def make_retired_dataset(frames: np.ndarray, transfer_syntax: str | TransferSyntax,
                         *, recode: Callable[[bytes], bytes] | None = None,
                         **kwargs: Any) -> Dataset:
    """Build a dataset in a retired JPEG syntax from re-coded frames.

    Parameters
    ----------
    frames : numpy.ndarray
        As for :func:`~dicomio.encode.make_dataset`.
    transfer_syntax : str
        A retired syntax this module writes: .52 to .56 (``jpegtran``), .59
        to .64 (one-frame hierarchical streams), .65 (two frames, the second
        differential); .58 and .66 only with ``recode``.
    recode : callable, optional
        ``bytes -> bytes``, turning each JPEG baseline (or, above 8 bits,
        extended; lossless for .58, .65 and .66) stream into the syntax's
        process; the default is ``jpegtran`` and
        :func:`one_frame_hierarchical` as the syntax needs.
    **kwargs
        Passed to :func:`~dicomio.encode.make_dataset` (``level``,
        ``predictor``, offset tables, UIDs, attributes...).

    Raises
    ------
    dicomio.errors.EncodeError
        When nothing here writes the syntax (.58 and .66 without
        ``recode``, a syntax that is not retired), when
        re-coding fails, or when the re-coded stream uses a process the
        syntax does not allow.
    """
    ts = _lookup(transfer_syntax)
    if ts.keyword in JPEGTRAN_ARGS or ts.keyword in HIERARCHICAL_BASE:
        base, default = _recoder(ts)
    elif recode is not None and ts.keyword in _LOSSLESS_ARITHMETIC:
        base, default = "JPEGLossless", recode  # the given re-coder writes it all
    else:
        raise _fail(ts, "make_retired_dataset cannot write it: "
                        + DECODE_ONLY.get(ts.keyword, "not a retired JPEG syntax"))
    bits = kwargs.get("bits_stored") or np.asarray(frames).dtype.itemsize * 8
    if base == "JPEGBaseline8Bit" and bits > 8:
        if recode is None:
            raise _fail(ts, f"jpegtran (libjpeg-turbo 2.1) re-codes 8-bit JPEG only, "
                            f"not {bits}-bit; pass recode= for 12-bit streams")
        base = "JPEGExtended12Bit"
    fine = None
    if ts.keyword == "JPEGLosslessHierarchical28" and recode is None:
        # Two frames: the image without its two low bits, then a
        # differential frame adding them (add_differential_frame).
        arr = _as_array(frames)
        fine, _ = _split_frames(ts, arr, kwargs.get("multiframe"),
                                kwargs.get("photometric"))
        frames = arr & ~np.array(3, arr.dtype)
    ds = make_dataset(frames, base, **kwargs)
    n = int(ds.get("NumberOfFrames", 1))
    streams = []
    for i, old in enumerate(generate_frames(ds.PixelData, number_of_frames=n)):
        try:
            new = (add_differential_frame(bytes(old), fine[i]) if fine is not None
                   else bytes((recode or default)(bytes(old))))
        except DicomioError:
            raise
        except Exception as exc:
            raise _fail(ts, f"frame {i}: re-coding failed: {exc}") from exc
        _check(ts, new, i)
        streams.append(new)
    _wrap(ds, ts, streams, kwargs)
    return ds


def _check(ts: TransferSyntax, stream: bytes, index: int) -> None:
    """Refuse a re-coded stream whose process is not the syntax's own."""
    try:
        proc = jpeg_process(stream, parse_jpeg(stream))
    except DicomioError as exc:
        raise _fail(ts, f"frame {index}: the re-coded stream is not JPEG: "
                        f"{exc.message}") from None
    mode, arithmetic, hierarchical = SYNTAX_MODES[ts.keyword]
    if (proc.mode, proc.arithmetic, proc.hierarchical) != (mode, arithmetic,
                                                           hierarchical):
        raise _fail(ts, f"frame {index}: the re-coded stream is JPEG {proc}, not "
                        f"{ts.process}")


def _wrap(ds: Dataset, ts: TransferSyntax, streams: list[bytes],
          kwargs: dict[str, Any]) -> None:
    """Put the new streams in Pixel Data, with the same encapsulation."""
    size = sum(len(s) for s in streams)
    padded = [s + b"\x00" if len(s) % 2 else s for s in streams]
    if kwargs.get("extended_offset_table"):
        pixel_data, eot, lengths = encapsulate_extended(padded)
        ds.ExtendedOffsetTable = eot
        ds.ExtendedOffsetTableLengths = lengths
    else:
        pixel_data = encapsulate(
            padded, fragments_per_frame=int(kwargs.get("fragments_per_frame", 1)),
            has_bot=bool(kwargs.get("basic_offset_table", True)))
    ds.PixelData = pixel_data
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    raw = len(streams) * ds.Rows * ds.Columns * ds.SamplesPerPixel * (
        ds.BitsAllocated // 8)
    if "LossyImageCompression" in ds:
        ds.LossyImageCompressionRatio = round(raw / max(size, 1), 2)
    ds.file_meta.TransferSyntaxUID = UID(ts.uid)
