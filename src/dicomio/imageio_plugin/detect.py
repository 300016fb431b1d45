"""Cheap checks: is this request DICOM at all, and which kind?"""

from __future__ import annotations

import os
from typing import NoReturn

from imageio.core.request import URI_FILENAME, InitializationError, Request

from ..dataset.tolerant import starts_like_dataset
from ..errors import DicomioError, InvalidDicomError
from ..sources.remote import is_url, parse_dicomweb
from .registration import EXTENSIONS

_MAGIC = b"DICM"
_MAGIC_AT = 128
# (0002,0002) Media Storage SOP Class UID = Media Storage Directory Storage, as
# the (always explicit VR little endian) File Meta Information writes it.
_DICOMDIR_META = b"\x02\x00\x02\x00UI\x14\x001.2.840.10008.1.3.10"


class PluginRefusedError(DicomioError, InitializationError):
    """The plugin declines a resource; imageio then tries its next plugin.

    It is imageio's :class:`~imageio.core.request.InitializationError`, so
    plugin selection moves on, and a :class:`dicomio.DicomioError` naming the
    resource and the reason, raised from an
    :class:`~dicomio.InvalidDicomError` that says the same. With
    ``plugin="dicomio"`` imageio raises its own ``OSError`` ("can not handle
    the given uri") *from* this error, so the reason is in the cause chain.
    """


def refuse(where: str, reason: str) -> NoReturn:
    """Decline ``where`` (a path or imageio's ``"<bytes>"``) for ``reason``."""
    raise PluginRefusedError(reason, path=where) from InvalidDicomError(
        reason, path=where)


def classify(request: Request) -> str:
    """``"file"``, ``"dicomdir"`` or ``"folder"``; anything else is declined.

    One read of the first 256 bytes, no codec import: non-DICOM input
    raises :class:`~imageio.core.request.InitializationError` at once, so
    imageio tries its next plugin.
    """
    if is_url(request.filename):
        # Read remotely by dicomio (imageio would download the whole
        # resource, without credentials): a DICOMweb study or series is a
        # volume like a folder, anything else one file.
        parsed = parse_dicomweb(request.filename)
        return "folder" if parsed is not None and parsed.level != "instance" \
            else "file"
    is_path = getattr(request, "_uri_type", None) == URI_FILENAME
    if is_path and os.path.isdir(request.filename):
        # imageio offers a folder to a plugin only when the caller named
        # one (plugin=) or an extension: the intent is explicit.
        return "folder"
    try:
        if is_path:
            # Read the head directly: opening the request's file here would
            # leave it open in a request this instance may never finish.
            with open(request.filename, "rb") as fh:
                head = fh.read(256)
        else:
            head = bytes(request.firstbytes or b"")
    except Exception as exc:  # noqa: BLE001 - unreadable: not ours to judge
        refuse(request.filename, f"cannot read the first bytes: {exc}")
    if head[_MAGIC_AT:_MAGIC_AT + 4] == _MAGIC:
        return "dicomdir" if is_path and _DICOMDIR_META in head else "file"
    if head[:4] == _MAGIC:  # no preamble, but the prefix: unmistakable
        return "file"
    if request.extension in EXTENSIONS and _starts_like_dataset(head):
        return "file"
    if not head:
        refuse(request.filename, "not DICOM: the file is empty (0 bytes)")
    refuse(request.filename, "not DICOM: no 'DICM' at byte 128"
           + (" and no data set at byte 0" if request.extension in EXTENSIONS
              else ""))


def _starts_like_dataset(head: bytes) -> bool:
    """A data set written without preamble: ``DICM`` at byte 0, or first
    elements that are plausible in some encoding (see
    :func:`dicomio.dataset.tolerant.starts_like_dataset`)."""
    return starts_like_dataset(head)
