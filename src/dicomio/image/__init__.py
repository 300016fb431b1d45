"""DicomImage: one DICOM file, header parsed once, frames decoded on demand.

The class lives in :mod:`.dicomimage`; its parts, one job each: :mod:`.open`
(source, header, pixel plan), :mod:`.frames` (where each frame's bytes are),
:mod:`.truncation` (the frames a cut file lost), :mod:`.tolerance` (what a
read does with a frame that fails: ``on_error``),
:mod:`.decode` (one frame into its slice, backend fallback, threads),
:mod:`.reports` (colour report, modality LUT, the output array),
:mod:`.header` (tolerant header readers), :mod:`.limits` (the output cap),
:mod:`.state` (what the parts share).
"""

from __future__ import annotations

from .dicomimage import DicomImage, imread
from .limits import memory_limit
from .state import DicomioWarning, FrameInfo

__all__ = ["DicomImage", "FrameInfo", "DicomioWarning", "imread", "memory_limit"]
