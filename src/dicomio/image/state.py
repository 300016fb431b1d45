"""What every part of :class:`~dicomio.image.DicomImage` shares.

The image is built from parts with one job each: :mod:`.open` reads the
header and plans the pixels, :mod:`.frames` finds each frame's bytes,
:mod:`.decode` turns them into pixels, :mod:`.reports` says what the image
holds and allocates the output. They work on the attributes declared
here, set by :meth:`ImageState._configure` and the opening code.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ..backends import _guard
from ..backends._base import PixelSpec
from ..errors import DicomioError
from ..pixels.frames import Fragments, PixelLocation
from ..sources.local import _Reader
from ..tsyntax import TransferSyntax

COLOR_OPTIONS = ("rgb", "native")


class DicomioWarning(UserWarning):
    """A recoverable problem in a file (tolerated and reported)."""


@dataclass
class FrameInfo:
    """What happened when one frame was decoded.

    Attributes
    ----------
    index : int
        The 0-based frame index.
    backend : str
        The backend that produced the pixels.
    photometric : dict
        The colour report (declared, codestream, output, mismatch, notes).
    tried : list of (str, str)
        Backends that failed before ``backend`` succeeded, with reasons.
    error : str or None
        Why the frame failed, when a read with ``on_error`` other than
        ``"raise"`` went on without it (None: decoded whole).
    action : {None, "recovered", "filled", "skipped"}
        What that read did instead: kept what a truncated frame holds, or
        what the decoder made of a damaged stream (``"recovered"``), set the
        frame to 0 (``"filled"``), or left it out of the result
        (``"skipped"``). ``backend`` is ``""`` and ``photometric`` empty when
        nothing was decoded.
    missing_rows : (int, int) or None
        ``(first, stop)``: the rows set to 0 (every row for a filled or
        skipped frame); None for a recovered frame when the codec does not
        say which rows it lost (JPEG-LS, JPEG 2000).
    missing_bytes : int or None
        For a truncated frame, how many of its bytes the file lacks (None:
        unknown, e.g. an encapsulated frame missing whole).
    doubt : str or None
        Why the pixels may be wrong although a backend decoded them: another
        codec library refused the same stream as corrupt. Each read sums such
        frames up in one :class:`DicomioWarning`.
    damaged : bool
        The codestream is damaged in a way the decoders do not report
        (:class:`~dicomio.errors.DamagedStreamError`); a recovered frame holds
        the decoder's pixels, which may be wrong anywhere (``missing_rows``
        None).
    """

    index: int
    backend: str
    photometric: dict[str, Any]
    tried: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    action: str | None = None
    missing_rows: tuple[int, int] | None = None
    missing_bytes: int | None = None
    doubt: str | None = None
    damaged: bool = False


def check_color(color: str) -> None:
    """Refuse a ``color`` option that is not one of :data:`COLOR_OPTIONS`."""
    if color not in COLOR_OPTIONS:
        raise ValueError(f"color must be one of {COLOR_OPTIONS}, not {color!r}")


class ImageState:
    """The attributes of an opened image, and the error every part raises."""

    path: str | None
    dataset: Dataset
    transfer_syntax: TransferSyntax
    spec: PixelSpec
    warnings: list[str]
    backend: str | Sequence[str] | None
    color: str
    threads: int | None
    memory_limit: int | None
    isolate: bool | None
    # Set while opening: where Pixel Data is, and how frames are laid out in
    # it (native: ``_length`` bytes; encapsulated: ``_frags`` grouped into
    # ``_groups``, one list of fragment indices per frame). The optional ones
    # exist only when they apply (``hasattr`` tells).
    _loc: PixelLocation
    _reader: _Reader | None
    _length: int
    _frags: Fragments
    _groups: list[list[int]]
    _native_missing: bool
    # A file cut inside Pixel Data: native, the bytes of the value present;
    # encapsulated, {frame: (bytes present, bytes missing)} (frames.py).
    _cut: int
    _cut_frames: dict[int, tuple[int, int | None]]
    _from_dataset: bool
    _count_frames: bool
    _infos: dict[int, FrameInfo]
    _quiet_failures: bool
    _lock: threading.Lock
    # Video syntaxes: the one stream and its decoder (dicomio.image.video).
    _video: Any

    def _configure(self, backend: str | Sequence[str] | None, color: str,
                   threads: int | None, memory_limit: int | None,
                   isolate: bool | None) -> None:
        check_color(color)
        self.backend = backend
        self.color = color
        self.threads = threads
        self.memory_limit = memory_limit
        self.isolate = _guard.isolate_default() if isolate is None else bool(isolate)
        self.warnings = []
        self._infos = {}
        self._lock = threading.Lock()
        self._video = None
        self._reader = None
        self.path = None
        # Failed frames of a read go to FrameInfo only, without the warning
        # (set by callers that report them their own way: the napari reader).
        self._quiet_failures = False

    def _where(self) -> str:
        return self.path or "<in-memory DICOM>"

    def _err(self, cls: type[DicomioError], msg: str, frame: int | None = None,
             tried: Sequence[tuple[str, str]] = ()) -> DicomioError:
        ts = getattr(self, "transfer_syntax", None)
        return cls(msg, path=self.path or "<in-memory>", frame=frame,
                   transfer_syntax=str(ts) if ts else None, tried=tried)
