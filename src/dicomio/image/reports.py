"""What an image reports about itself, and the output array a read fills.

The colour report (decoded or predicted from frame 0's codestream header),
the modality LUT, the header as JSON, the pixel spacing, and
:meth:`ImageReports._allocate`, which checks the memory limit and ``out=``
before any frame is decoded. A part of :class:`~dicomio.image.DicomImage`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dataset.jsonify import to_json_dict
from ..errors import DecodeError, DicomioError, MemoryLimitError
from ..values import photometric
from ..values import rescale as _rescale
from . import header
from .decode import FrameDecoding
from .limits import memory_limit
from .state import check_color


class ImageReports(FrameDecoding):
    """Reports and output allocation (a part of :class:`~dicomio.image.DicomImage`)."""

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return self.spec.number_of_frames

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """``(rows, columns)`` or ``(rows, columns, samples)``."""
        return self.spec.frame_shape

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :meth:`read` with no index."""
        if self.n_frames == 1:
            return self.frame_shape
        return (self.n_frames, *self.frame_shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Dtype of :meth:`read` without rescale."""
        return self.spec.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_color(self) -> bool:
        """True when frames have 3 or 4 samples per pixel."""
        return self.spec.samples_per_pixel > 1

    @property
    def photometric(self) -> dict[str, Any]:
        """The colour report: from decoded frames, else predicted from frame 0's header."""
        # A frame filled or skipped by on_error has no report of its own.
        reports = [i.photometric for _, i in sorted(self._infos.items()) if i.photometric]
        if reports:
            merged = photometric.merge_reports(reports)
            assert merged is not None
            return merged
        return self.predicted_photometric()

    def predicted_photometric(self, color: str | None = None) -> dict[str, Any]:
        """The colour report ``read(color=color)`` would give, from headers only.

        Parses frame 0's codestream header (no decoding). ``color`` defaults
        to the image's own ``color`` option.
        """
        color = color or self.color
        check_color(color)
        if self._video is not None:
            return self._video.predicted(color)  # type: ignore[no-any-return]
        info = None
        try:
            if self.transfer_syntax.encapsulated and self.n_frames:
                info = self._parse(self._frame_bytes(0), 0)
        except DicomioError:
            info = None
        stream, cs, notes, mis = photometric.decide(self.spec, info)
        return photometric.make_report(self.spec.photometric, cs,
                                       self._predict_output(stream, color), notes, mis)

    # --------------------------------------------------------------- rescale
    @property
    def rescale_params(self) -> tuple[float, float] | None:
        """``(slope, intercept)`` of the modality LUT, or None when absent."""
        return header.rescale_params(self.dataset)

    @property
    def rescaled_dtype(self) -> np.dtype[Any]:
        """Dtype of ``read(rescale=True)``: integer when slope and intercept allow.

        The same rule as a series (:func:`dicomio.values.rescale.rescaled_dtype`):
        int16/int32/int64 when the slope is 1 and the intercept whole,
        otherwise float32 (float64 for wider-than-16-bit data).
        """
        spec = self.spec
        if spec.bits_allocated == 1:
            return self.dtype
        return _rescale.rescaled_dtype(
            self.dtype, [(spec.bits_stored, bool(spec.pixel_representation),
                          self.rescale_params)])

    def rescale(self, arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Apply the modality LUT (RescaleSlope/Intercept) to decoded pixels."""
        params = self.rescale_params
        if params is None and out is None:
            return arr
        return _rescale.apply_rescale(arr, params, self.rescaled_dtype, out=out)

    def header_dict(self) -> dict[str, Any]:
        """JSON-friendly ``{keyword: value}`` of the header, without pixel data."""
        return to_json_dict(self.dataset)

    @property
    def pixel_spacing(self) -> tuple[float, float] | None:
        """(row, column) spacing in mm, from PixelSpacing or the functional groups."""
        return header.pixel_spacing(self.dataset)

    def _allocate(self, n: int, batched: bool, dtype: np.dtype[Any],
                  out: np.ndarray | None, idx: Sequence[int]) -> np.ndarray:
        """The ``(n, *frame_shape)`` array a read of ``n`` frames fills.

        Checks the memory limit and ``out=`` first; ``idx`` names the frame in
        the error when not one frame of the header's size is in the file.
        """
        shape = (n, *self.frame_shape)
        # Python integers: a hostile header must not overflow int64 here.
        nbytes = math.prod(shape) * dtype.itemsize
        limit = self.memory_limit or memory_limit()
        if nbytes > limit:
            raise self._err(MemoryLimitError,
                            f"the decoded output would take {nbytes / 2**20:.1f} MiB, "
                            f"over the {limit / 2**20:.1f} MiB limit (set memory_limit= "
                            "or DICOMIO_MEMORY_LIMIT to allow it)")
        final_shape = shape if batched else shape[1:]
        if out is not None:
            if out.shape != final_shape or out.dtype != dtype:
                raise ValueError(f"out= must have shape {final_shape} and dtype {dtype}")
            result = out.reshape(shape)
        elif getattr(self, "_native_missing", False):
            # Fail before allocating: not one frame of the header's size is there.
            raise self._err(DecodeError, "Pixel Data holds no complete frame "
                            "(file truncated?)", frame=idx[0] if idx else None)
        else:
            try:
                result = np.empty(shape, dtype)
            except MemoryError:
                raise self._err(MemoryLimitError, f"cannot allocate "
                                f"{nbytes / 2**20:.1f} MiB for the output") from None
        return result
