"""Wrap video streams (MPEG-2, H.264, HEVC) in DICOM.

PS3.5 A.4 puts a whole video stream in the encapsulated Pixel Data: an empty
Basic Offset Table, then the stream split into fragments (each of even length,
the last one padded). :func:`make_video_dataset` builds such a dataset from
an encoded stream (:func:`wrap_stream`) or from RGB frames, which it encodes
with PyAV first (:func:`dicomio.backends.video.encode_stream`).

>>> from dicomio.encode import video                           # doctest: +SKIP
>>> ds = video.make_video_dataset(frames, "MPEG4HP41")          # doctest: +SKIP
>>> video.save_video(ds, "clip.dcm")                            # doctest: +SKIP
"""

from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from ..errors import EncodeError
from ..tsyntax import TransferSyntax, lookup

__all__ = ["wrap_stream", "make_video_dataset", "save_video", "encapsulate_stream",
           "VIDEO_SYNTAXES"]

#: Keywords of the video Transfer Syntaxes.
VIDEO_SYNTAXES = ("MPEG2MPML", "MPEG2MPHL", "MPEG4HP41", "MPEG4HP41BD",
                  "MPEG4HP422D", "MPEG4HP423D", "MPEG4HP42STEREO", "HEVCMP51",
                  "HEVCM10P51")
_METHOD = {"MPEG2": "ISO_13818_2", "MPEG4": "ISO_14496_10", "HEVC": "ISO_23008_2"}


def _syntax(transfer_syntax: str | TransferSyntax) -> TransferSyntax:
    ts = transfer_syntax if isinstance(transfer_syntax, TransferSyntax) else lookup(
        str(transfer_syntax))
    if ts.family != "video":
        raise EncodeError(f"{ts.keyword} is not a video Transfer Syntax",
                          transfer_syntax=str(ts))
    return ts


def encapsulate_stream(stream: bytes, fragment_size: int | None = None) -> bytes:
    """Encapsulated Pixel Data value: empty Basic Offset Table, then fragments.

    ``fragment_size`` (even) splits the stream; None keeps one fragment.
    """
    size = len(stream) if fragment_size is None else int(fragment_size)
    if size < 2 or (fragment_size is not None and size % 2):
        raise ValueError("fragment_size must be an even number >= 2")
    items = [struct.pack("<II", 0xE000FFFE, 0)]
    for start in range(0, len(stream), size):
        part = stream[start:start + size]
        if len(part) % 2:
            part += b"\x00"
        items.append(struct.pack("<II", 0xE000FFFE, len(part)) + part)
    return b"".join(items)


def wrap_stream(stream: bytes, transfer_syntax: str | TransferSyntax, *,
                rows: int, columns: int, frames: int, bits_stored: int = 8,
                frame_time: float | None = 40.0, fragment_size: int | None = None,
                photometric: str = "YBR_PARTIAL_420", **make_dataset_kwargs: Any
                ) -> Dataset:
    """A Multi-frame True Colour SC dataset holding an encoded video stream.

    Parameters
    ----------
    stream : bytes
        The whole stream (program / transport stream, MP4 or elementary).
    transfer_syntax : str
        A video Transfer Syntax UID or keyword.
    rows, columns, frames, bits_stored : int
        What the header says (Number of Frames, Bits Stored 8 or 10).
    frame_time : float or None
        Frame Time in ms (Cine Rate follows); None writes neither.
    fragment_size : int, optional
        Split the stream into fragments of this many bytes.
    photometric : str
        Photometric Interpretation (PS3.5: YBR_PARTIAL_420).
    **make_dataset_kwargs
        Passed to :func:`dicomio.encode.make_dataset` (patient, study, UIDs,
        other attributes).
    """
    from . import make_dataset

    ts = _syntax(transfer_syntax)
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    # A placeholder frame gives every attribute but Pixel Data.
    ds = make_dataset(np.zeros((1, 2, 2, 3), dtype), "ExplicitVRLittleEndian",
                      multiframe=True, **make_dataset_kwargs)
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.NumberOfFrames = int(frames)
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 1 if photometric.startswith("MONOCHROME") else 3
    if ds.SamplesPerPixel == 1:
        del ds.PlanarConfiguration
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = int(bits_stored)
    ds.HighBit = int(bits_stored) - 1
    for kw in ("FrameLabelVector",):
        if kw in ds:
            del ds[kw]
    if frame_time:
        ds.FrameTime = round(float(frame_time), 4)
        ds.CineRate = int(round(1000.0 / float(frame_time)))
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
    else:
        del ds.FrameIncrementPointer
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = _METHOD[ts.keyword[:5] if ts.keyword[:5] in _METHOD
                                             else "HEVC"]
    ds.PixelData = encapsulate_stream(stream, fragment_size)
    elem = ds["PixelData"]
    elem.VR = "OB"
    elem.is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = UID(ts.uid)
    return ds


def make_video_dataset(frames: np.ndarray, transfer_syntax: str | TransferSyntax,
                       *, fps: float = 25.0, gop: int = 12, bframes: int = 2,
                       quality: int | None = None, container: str | None = None,
                       fragment_size: int | None = None,
                       **make_dataset_kwargs: Any) -> Dataset:
    """Encode RGB ``frames`` ``(n, rows, cols, 3)`` with PyAV and wrap them.

    uint8 frames give 8-bit 4:2:0; uint16 frames holding 10-bit values give
    HEVC Main 10 (``HEVCM10P51`` only). See
    :func:`dicomio.backends.video.encode_stream` for the encoder settings.
    """
    from ..backends.video import encode_stream

    ts = _syntax(transfer_syntax)
    arr = np.asarray(frames)
    try:
        stream = encode_stream(arr, ts.keyword, fps=fps, gop=gop, bframes=bframes,
                               quality=quality, container=container)
    except (ValueError, KeyError) as exc:
        raise EncodeError(str(exc), transfer_syntax=str(ts)) from None
    return wrap_stream(stream, ts, rows=arr.shape[1], columns=arr.shape[2],
                       frames=arr.shape[0], bits_stored=10 if arr.dtype == np.uint16 else 8,
                       frame_time=1000.0 / fps, fragment_size=fragment_size,
                       **make_dataset_kwargs)


def save_video(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write a dataset from this module atomically (as :func:`dicomio.encode.save_dataset`)."""
    from . import save_dataset

    save_dataset(ds, path)
