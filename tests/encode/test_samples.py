"""Tests of the bundled samples and tools/make_samples.py, which makes them
with dicomio.encode.

Every sample is decoded with ``reference_decode`` of tools/make_samples.py
(decoders independent of dicomio's own). Lossless means bit-exact; lossy
means PSNR >= 30 dB against the source array.
"""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from dicomio import encode, samples
from dicomio.encode.retired import HIERARCHICAL_BASE, JPEGTRAN_ARGS
from dicomio.encode.video import VIDEO_SYNTAXES
from dicomio.errors import UnsupportedTransferSyntaxError
from dicomio.samples import _phantom
from dicomio.tsyntax import TRANSFER_SYNTAXES, lookup
from tests.encode._make_samples import (  # noqa: E402
    MIN_PSNR,
    make_samples,
    psnr,
    reference_decode,
)

#: Retired JPEG syntaxes dicomio.encode.retired writes.
RETIRED_WRITABLE = set(JPEGTRAN_ARGS) | set(HIERARCHICAL_BASE)
#: Lossless JPEG with arithmetic coding (Processes 15 and 29): no installed
#: encoder writes it; the samples come from the tests' own T.81 writer
#: (tests/_jpegwriter, through tools/make_samples.py).
WRITER_SAMPLES = {"JPEGLosslessNonHierarchical15", "JPEGLosslessHierarchical29"}

# -- bundled samples ---------------------------------------------------------------


def test_every_encodable_syntax_has_a_sample():
    assert list(samples.all_paths()) == [s["keyword"] for s in _phantom.SAMPLES]
    # Every syntax has a sample: the encodable ones through make_dataset, the
    # video ones through PyAV (dicomio.encode.video), the retired JPEG ones
    # through dicomio.encode.retired (jpegtran, one-frame hierarchical) and,
    # for lossless arithmetic coding, which nothing installed writes, the
    # tests' own writer.
    assert set(samples.all_paths()) == (set(encode.ENCODABLE) | set(VIDEO_SYNTAXES)
                                        | set(RETIRED_WRITABLE) | WRITER_SAMPLES)
    assert set(samples.all_paths()) == {t.keyword for t in TRANSFER_SYNTAXES.values()}
    assert samples.path("1.2.840.10008.1.2.4.90") == samples.path("JPEG2000Lossless")
    assert samples.path("1.2.840.10008.1.2.4.100") == samples.path("MPEG2MPML")
    with pytest.raises(UnsupportedTransferSyntaxError):
        samples.path("NotATransferSyntax")
    multi = [e for e in samples.manifest() if e["frames"] > 1]
    assert len(multi) >= 3


@pytest.mark.parametrize("item", samples.manifest(), ids=lambda e: e["keyword"])
def test_sample(item):
    p = samples.path(item["keyword"])
    assert p.name == item["file"]
    assert p.stat().st_size == item["size"] < 40_000
    ds = pydicom.dcmread(p)
    assert ds.file_meta.TransferSyntaxUID == item["transfer_syntax_uid"]
    assert lookup(item["transfer_syntax_uid"]).keyword == item["keyword"]
    assert (ds.Rows, ds.Columns) == (item["rows"], item["columns"])
    assert int(ds.get("NumberOfFrames", 1)) == item["frames"]
    assert ds.BitsStored == item["bits_stored"]
    assert ds.PhotometricInterpretation == item["photometric"]
    for keyword in ("PixelSpacing", "Modality", "SeriesDescription",
                    "ImageOrientationPatient"):
        assert keyword in ds
    decoded = reference_decode(ds)
    assert list(decoded.shape) == item["shape"]
    truth = samples.expected(item["keyword"])
    if item["lossless"]:
        assert str(truth.dtype) == item["dtype"]
        assert make_samples.sha256(truth) == item["sha256"]
        np.testing.assert_array_equal(decoded, truth)
    else:
        assert truth is None
        value = psnr(samples.source(item["keyword"]), decoded, ds.BitsStored)
        assert value >= MIN_PSNR
        assert abs(value - item["psnr_db"]) < 0.5


def test_ct_sample_is_ct_like():
    ds = pydicom.dcmread(samples.path("ExplicitVRLittleEndian"))
    assert ds.Modality == "CT" and ds.PixelRepresentation == 1
    assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == -1024
    assert float(ds.WindowCenter) == 40 and float(ds.WindowWidth) == 400
    assert len(ds.ImagePositionPatient) == 3
    assert ds.pixel_array.min() == -2000


def test_make_samples_is_deterministic(tmp_path):
    manifest = json.loads((samples.SAMPLE_DIR / "MANIFEST.json").read_text())
    make_samples.build(tmp_path)
    if manifest["versions"] != make_samples.versions():
        pytest.skip(f"samples made with {manifest['versions']}, "
                    f"installed {make_samples.versions()}")
    assert make_samples.compare(tmp_path, samples.SAMPLE_DIR) == []
