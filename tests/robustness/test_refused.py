"""Hostile input dicomio refuses, with an error that names what is wrong.

The DicomioError names the file, the frame, the Transfer Syntax, the
backends tried and the problem.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import dicomio
from dicomio import DicomImage
from tests.robustness._hostile import (
    GREY8,
    GREY16,
    Encapsulated,
    _cut,
    _huge_claim_encapsulated,
    check_error,
    edit,
    make,
    snapshot,
)


# ------------------------------------------------------------ refused
def _header_says(**attrs: Any) -> Callable[[], bytes]:
    def build() -> bytes:
        return edit(
            make(GREY16, "JPEG2000Lossless"),
            lambda ds: [setattr(ds, k, v) for k, v in attrs.items()],
        )

    return build


def _undefined_item() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "RLELossless"))
    data = enc.build()
    pos = len(enc.head) + 8 + len(enc.bot)
    return data[: pos + 4] + b"\xff\xff\xff\xff" + data[pos + 8 :]


def _bad_rle_header() -> bytes:
    enc = Encapsulated.parse(make(GREY8, "RLELossless"))
    enc.fragments[1] = struct.pack("<I", 99) + enc.fragments[1][4:]
    return enc.build()


def _unknown_vr_in_image_attribute() -> bytes:
    # Found by tools/fuzz.py: a damaged VR made pydicom raise
    # NotImplementedError from inside dicomio.
    data = make(GREY8, "ExplicitVRLittleEndian")
    at = data.index(b"\x28\x00\x02\x00US")
    return data[: at + 4] + b"\x55\xff" + data[at + 6 :]


@dataclass
class Refused:
    """A file dicomio must refuse with a precise DicomioError."""

    name: str
    build: Callable[[], bytes]
    error: type[dicomio.DicomioError]
    match: str
    frame: bool = False
    syntax: bool = True
    kwargs: dict[str, Any] | None = None


REFUSED = [
    Refused(
        "truncated-header",
        lambda: make(GREY8, "JPEGLSLossless")[:300],
        dicomio.InvalidDicomError,
        "truncated|not a DICOM|no Pixel Data",
        syntax=False,
    ),
    Refused(
        "truncated-before-pixel-data",
        lambda: make(GREY8, "JPEGLSLossless")[:-700],
        dicomio.InvalidDicomError,
        "truncated before it",
    ),
    Refused(
        "truncated-file-inside-a-frame",
        lambda: make(GREY16, "JPEG2000Lossless")[:-300],
        dicomio.TruncatedError,
        r"the file ends inside this frame: \d+ of its \d+ bytes are missing",
        frame=True,
    ),
    Refused(
        "truncated-codestream",
        _cut("JPEG2000Lossless", 0.4),
        # Until issue 15 the backends were tried (and all failed); a stream
        # cut before its end marker is now refused before any of them runs.
        dicomio.TruncatedError,
        r"the codestream does not end with EOI / EOC \(FFD9\): it is truncated",
        frame=True,
    ),
    Refused(
        "truncated-jpegls-fails-fast",
        _cut("JPEGLSLossless", 0.5),
        dicomio.DecodeError,
        "does not end with EOI",
        frame=True,
        kwargs={"backend": "imagecodecs"},
    ),
    Refused(
        "rows-contradict-codestream",
        _header_says(Rows=21),
        dicomio.DecodeError,
        "codestream has 20 rows but the header says Rows = 21",
        frame=True,
    ),
    Refused(
        "samples-contradict-codestream",
        _header_says(
            SamplesPerPixel=3, PhotometricInterpretation="RGB", PlanarConfiguration=0
        ),
        dicomio.DecodeError,
        r"1 component\(s\) but the header says Samples",
        frame=True,
    ),
    Refused(
        "bits-allocated-invalid",
        _header_says(BitsAllocated=7),
        dicomio.InvalidDicomError,
        r"\(0028,0100\) Bits Allocated value of 7",
    ),
    Refused(
        "samples-per-pixel-invalid",
        _header_says(SamplesPerPixel=2),
        dicomio.InvalidDicomError,
        r"Samples per Pixel value of 2",
    ),
    Refused(
        "rows-zero", _header_says(Rows=0), dicomio.InvalidDicomError, "must be positive"
    ),
    Refused(
        "fragment-of-undefined-length",
        _undefined_item,
        dicomio.InvalidDicomError,
        "undefined length",
    ),
    Refused(
        "rle-header-segment-count",
        _bad_rle_header,
        dicomio.DecodeError,
        "corrupt codestream header: RLE header declares 99 segments",
        frame=True,
    ),
    Refused(
        "unknown-vr-in-image-attribute",
        _unknown_vr_in_image_attribute,
        dicomio.InvalidDicomError,
        r"unreadable Image Pixel attribute.*\(0028,0002\)",
    ),
    Refused(
        "unknown-transfer-syntax",
        lambda: edit(
            make(GREY8, "ExplicitVRLittleEndian"),
            lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.3.4.5"),
        ),
        dicomio.UnsupportedTransferSyntaxError,
        "unknown Transfer Syntax UID",
        syntax=False,
    ),
    Refused(
        "huge-header-claim",
        _huge_claim_encapsulated,
        dicomio.MemoryLimitError,
        "over the .* MiB limit",
    ),
    Refused(
        "corrupt-deflated-dataset",
        lambda: (lambda d: d[:400] + bytes(b ^ 0x5A for b in d[400:]))(
            make(GREY16, "DeflatedExplicitVRLittleEndian")
        ),
        dicomio.InvalidDicomError,
        "deflated data set is corrupt",
    ),
    Refused(
        "not-dicom",
        lambda: b"\x89PNG\r\n\x1a\n" + bytes(300),
        dicomio.InvalidDicomError,
        "not a DICOM file",
        syntax=False,
    ),
    Refused(
        "empty-file", lambda: b"", dicomio.InvalidDicomError, "DICOM", syntax=False
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_refused_with_a_precise_error(case, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / f"{case.name}.dcm"
    path.write_bytes(case.build())
    before = snapshot(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recoveries before the failure
        with pytest.raises(case.error, match=case.match) as info:
            DicomImage(path, **(case.kwargs or {})).read()
    check_error(info.value, path, frame=case.frame, syntax=case.syntax)
    assert snapshot(folder) == before


def test_bytes_input_errors_name_the_source():
    with pytest.raises(dicomio.InvalidDicomError, match="<in-memory>"):
        DicomImage(b"\x00" * 200)
    with pytest.raises(dicomio.DecodeError) as info:
        DicomImage(_cut("JPEG2000Lossless", 0.4)()).read()
    assert "<in-memory>" in str(info.value) and info.value.frame == 0
