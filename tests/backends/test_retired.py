"""The retired JPEG syntaxes (1.2.840.10008.1.2.4.52-.66) in the registry and
the decoder: who decodes what, and what a user is told when nothing does.

Every file is built here with dicomio.encode (dicomio.encode.retired for the
retired processes); the claims below are what tests/encode/test_retired.py
and the bundled samples verify.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest

from dicomio import DicomImage, DicomioWarning, encode, registry
from dicomio.backends import pylibjpeg as plj
from dicomio.encode.retired import make_retired_dataset
from dicomio.errors import (
    BackendUnavailableError,
    DecodeError,
)
from dicomio.samples import _phantom
from dicomio.tsyntax import lookup

GREY = _phantom.grey(32, 48, bits=8)
NON_HIERARCHICAL = {"52", "53", "54", "55", "56"}
HIERARCHICAL = {"59", "60", "61", "62", "63", "64", "65", "66"}

#: What each backend was measured to decode (suffix of 1.2.840.10008.1.2.4.).
CLAIMS = {
    "imagecodecs": NON_HIERARCHICAL,  # libjpeg-turbo: no DHP, no SOF11
    "pillow": NON_HIERARCHICAL,  # libjpeg-turbo, 8-bit
    # Richter's libjpeg: everything, lossless arithmetic (.58) included.
    "pylibjpeg": NON_HIERARCHICAL | HIERARCHICAL | {"58"},
    "gdcm": {"53", "55"},  # IJG 6b: Huffman only; .54 .56 unknown UIDs
}


def _retired(uid_suffixes: set[str]) -> set[str]:
    return {f"1.2.840.10008.1.2.4.{n}" for n in uid_suffixes}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claims_are_what_was_measured(name):
    claimed = {u for u in registry.get(name).syntaxes if lookup(u).retired}
    assert claimed == _retired(CLAIMS[name])


def _file(ds: pydicom.Dataset, uid: str | None = None) -> bytes:
    if uid is not None:
        ds.file_meta.TransferSyntaxUID = uid
    return encode.dataset_bytes(ds)


@pytest.mark.parametrize("uid,process", [
    ("1.2.840.10008.1.2.4.58", "Process 15 (lossless, arithmetic)"),
    ("1.2.840.10008.1.2.4.66", "Process 29 (hierarchical lossless, arithmetic)"),
])
def test_lossless_arithmetic_without_libjpeg_names_process(tmp_path, monkeypatch,
                                                           uid, process):
    # Only pylibjpeg's GPL libjpeg decodes lossless arithmetic coding: without
    # it the refusal comes from the syntax, before any byte is decoded (a
    # lossless Huffman stream under the retired UID is enough here).
    monkeypatch.setitem(plj._PLUGINS, "libjpeg", (
        "dicomio_tests_no_such_libjpeg", "pylibjpeg-libjpeg", "2.1", plj._LIBJPEG))
    monkeypatch.setitem(registry._loaded, "pylibjpeg", plj.PylibjpegBackend())
    path = tmp_path / "retired.dcm"
    path.write_bytes(_file(encode.make_dataset(GREY, "JPEGLossless"), uid))
    img = DicomImage(path)  # the header opens: the syntax is known
    assert img.transfer_syntax.retired
    with pytest.raises(BackendUnavailableError) as info:
        img.read()
    text = str(info.value)
    assert str(path) in text and uid in text and lookup(uid).keyword in text
    assert f"JPEG {process}" in text
    assert 'dicomio[pylibjpeg-gpl]' in text


def test_hierarchical_without_libjpeg_says_what_to_install(monkeypatch):
    # Without the GPL libjpeg plugin nothing decodes the hierarchical mode:
    # the error names the process and the extra to install.
    monkeypatch.setitem(plj._PLUGINS, "libjpeg", (
        "dicomio_tests_no_such_libjpeg", "pylibjpeg-libjpeg", "2.1", plj._LIBJPEG))
    monkeypatch.setitem(registry._loaded, "pylibjpeg", plj.PylibjpegBackend())
    data = _file(make_retired_dataset(GREY, "JPEGExtendedHierarchical1618"))
    with pytest.raises(BackendUnavailableError) as info:
        DicomImage(data).read()
    text = str(info.value)
    assert "JPEG Process 16 & 18 (hierarchical extended, Huffman)" in text
    assert 'dicomio[pylibjpeg-gpl]' in text


def test_every_backend_failing_names_the_process():
    ds = make_retired_dataset(GREY, "JPEGFullProgressionNonHierarchical1012")
    frame = bytes(next(iter(pydicom.encaps.generate_frames(ds.PixelData,
                                                           number_of_frames=1))))
    # Without its Huffman tables (DHT segments dropped) every decoder fails;
    # the header still parses.
    bad, pos = bytearray(frame[:2]), 2
    while frame[pos + 1] != 0xDA:
        end = pos + 2 + int.from_bytes(frame[pos + 2:pos + 4], "big")
        if frame[pos + 1] != 0xC4:
            bad += frame[pos:end]
        pos = end
    ds.PixelData = pydicom.encaps.encapsulate([bytes(bad + frame[pos:])])
    with pytest.raises(DecodeError) as info:
        DicomImage(_file(ds)).read()
    text = str(info.value)
    assert ("the file uses retired JPEG Process 10 & 12 (full progression, "
            "Huffman), which no installed backend decoded") in text
    assert "imagecodecs" in text and "pylibjpeg" in text


def test_stream_of_another_process_warns_and_decodes():
    # A full-progression stream labelled spectral selection (.53): decoders
    # follow the stream, so the pixels are right, and the label is reported.
    ds = make_retired_dataset(GREY, "JPEGFullProgressionNonHierarchical1012")
    good = DicomImage(_file(ds)).read()
    data = _file(ds, "1.2.840.10008.1.2.4.53")
    with pytest.warns(DicomioWarning) as record:
        got = DicomImage(data).read()
    np.testing.assert_array_equal(got, good)
    (w,) = [r for r in record if "Process 10" in str(r.message)]
    text = str(w.message)
    assert "<in-memory DICOM>" in text
    assert ("the codestream is JPEG Process 10 (full progression, Huffman, 8-bit) "
            "but the Transfer Syntax JPEGSpectralSelectionNonHierarchical68 allows "
            "Process 6 & 8 (spectral selection, Huffman): full progression is not "
            "part of it") in text


def test_matching_streams_do_not_warn():
    for kw in ("JPEGSpectralSelectionNonHierarchical68", "JPEGExtendedHierarchical1719"):
        data = _file(make_retired_dataset(GREY, kw))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert DicomImage(data).read().shape == GREY.shape


def test_pydicom_refuses_what_dicomio_decodes():
    # The gap the issue measured: pydicom 3.0 has no decoder for these.
    data = _file(make_retired_dataset(GREY, "JPEGSpectralSelectionNonHierarchical68"))
    ds = pydicom.dcmread(io.BytesIO(data))
    with pytest.raises(NotImplementedError, match="is not supported"):
        ds.pixel_array  # noqa: B018
    assert DicomImage(data).read().shape == GREY.shape
