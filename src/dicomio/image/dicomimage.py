"""DicomImage: one DICOM file, header parsed once, frames decoded on demand.

Opening reads the header (pydicom, stopping at Pixel Data) and, for
encapsulated data, the item headers of the fragments; no pixel byte is read
until a frame is asked for. Frames decode in parallel threads, each straight
into its slice of one preallocated array, through the first capable backend
(falling back to the next on failure). Every frame records which backend
produced it and a colour report (see :mod:`dicomio.values.photometric`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ..backends import registry
from ..errors import DicomioError
from ..sources.local import _Reader, open_bytes
from ..sources.remote import is_url
from . import _web
from .decode import _run_parallel
from .open import Opening
from .reports import ImageReports
from .state import DicomioWarning, FrameInfo, check_color
from .tolerance import check_on_error, finish, frame_worker


class DicomImage(Opening, ImageReports):
    """One DICOM image file, decoded lazily.

    Parameters
    ----------
    source : str, os.PathLike, bytes, binary file object or pydicom.Dataset
        The file. Paths are read frame by frame; other sources are held in
        memory. A URL is read remotely: a DICOMweb instance URL
        (``.../studies/{uid}/series/{uid}/instances/{uid}``) frame by frame
        over WADO-RS, any other ``http(s)://`` (or fsspec) URL by byte ranges.
    backend : str or list of str, optional
        Force these backends instead of the default order.
    color : {"rgb", "native"}
        ``"rgb"`` (default) returns colour images as RGB; ``"native"`` keeps
        the coded YCbCr where the codec allows it.
    threads : int, optional
        Threads for decoding frames in parallel (default: all cores).
    memory_limit : int, optional
        Refuse to allocate an output larger than this many bytes (default
        :func:`memory_limit`).
    isolate : bool, optional
        Decode frames in worker processes, so a codec that crashes (SIGSEGV,
        SIGABRT) or hangs becomes a :class:`DecodeError` instead of killing
        the caller. ``True``: every backend; ``False``: none; ``None``
        (default, unless ``DICOMIO_ISOLATE`` says otherwise): only backends
        known to abort on corrupt streams (GDCM). See :mod:`dicomio.backends._guard`.
    auth : (user, password), optional
        HTTP Basic credentials for a URL source (see :doc:`/web`); credentials
        in the URL and :func:`dicomio.configure_web` work too.
    token : str, optional
        A bearer token for a URL source.

    Examples
    --------
    >>> import dicomio
    >>> img = dicomio.DicomImage(dicomio.samples.path("JPEGBaseline8Bit"))
    >>> img.shape == img.read().shape
    True
    """

    #: What the last ``read(display=True)`` applied (``docs/display.md``).
    display_record: dict[str, Any] | None = None

    def __init__(
        self,
        source: Any,
        *,
        backend: str | Sequence[str] | None = None,
        color: str = "rgb",
        threads: int | None = None,
        memory_limit: int | None = None,
        isolate: bool | None = None,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self._configure(backend, color, threads, memory_limit, isolate)
        if isinstance(source, Dataset):
            self._open_dataset(source)
        elif is_url(source):
            _web.open_url(self, source, _web.web_options(source, auth, token))
        else:
            path, data = open_bytes(source)
            self.path = path
            self._open(path, data)
        self._issue_warnings()

    def _issue_warnings(self) -> None:
        for w in self.warnings:
            warnings.warn(f"{self._where()}: {w}", DicomioWarning, stacklevel=3)

    @classmethod
    def _from_header(cls, path: str, ds: Dataset, tell: int, *,
                     backend: str | Sequence[str] | None = None, color: str = "rgb",
                     threads: int | None = None, memory_limit: int | None = None,
                     warn: bool = True) -> DicomImage:
        """Open ``path`` with a header parsed already (private: dicomio.series).

        ``ds`` and ``tell`` as for :meth:`_open_header`; when that declines
        (the file changed since it was parsed) the file is opened normally.
        ``warn=False`` leaves the tolerated defects in :attr:`warnings`
        without issuing them (for callers in worker threads, where
        ``warnings.catch_warnings`` would swap the filters of every thread).
        """
        self = cls.__new__(cls)
        self._configure(backend, color, threads, memory_limit, None)
        if not self._open_header(path, ds, tell):
            # Rare (the file changed since the scan): parse it again, quietly
            # when asked to.
            with contextlib.nullcontext() if warn else warnings.catch_warnings():
                if not warn:
                    warnings.simplefilter("ignore")
                return cls(path, backend=backend, color=color, threads=threads,
                           memory_limit=memory_limit)
        if warn:
            self._issue_warnings()
        return self

    @property
    def decoder(self) -> str | None:
        """The backend(s) that decoded frames so far, comma separated."""
        names = list(dict.fromkeys(i.backend for _, i in sorted(self._infos.items())
                                   if i.backend))
        return ", ".join(names) if names else None

    @property
    def planned_decoder(self) -> str | None:
        """The backend that would be tried first (None when none is installed)."""
        try:
            return registry.candidates(self.spec, self.backend)[0].name
        except DicomioError:
            return None

    def frame_info(self, index: int) -> FrameInfo | None:
        """The :class:`FrameInfo` of a decoded frame, or None before decoding."""
        return self._infos.get(self._check_index(index))

    @property
    def frame_infos(self) -> dict[int, FrameInfo]:
        """Every decoded frame's :class:`FrameInfo`, by index."""
        return dict(self._infos)

    @property
    def failed_frames(self) -> dict[int, FrameInfo]:
        """Frames a read with ``on_error`` went on without, by index.

        Their :class:`FrameInfo` says why (``error``), what was done
        (``action``) and which rows are 0 (``missing_rows``). Empty after
        reads that decoded every frame whole.
        """
        return {i: fi for i, fi in sorted(self._infos.items()) if fi.action}

    # ---------------------------------------------------------------- frames
    def read(self, index: Any = None, *, rescale: bool = False,
             out: np.ndarray | None = None, color: str | None = None,
             backend: str | Sequence[str] | None = None,
             threads: int | None = None, display: bool = False,
             window: Any = None, voi: int | None = None,
             on_error: str = "raise") -> np.ndarray:
        """Decode frames.

        Parameters
        ----------
        index : None, int, slice, sequence of int or Ellipsis
            ``None``: every frame (a single-frame file gives one 2D/3D frame);
            an int: that frame; anything else: a batch ``(n, ...)``.
        rescale : bool
            Apply the modality LUT (HU for CT).
        out : numpy.ndarray, optional
            Write into this array (right shape and dtype) instead of a new one.
        color, backend, threads : optional
            Override the options given to the constructor for this call.
        display : bool
            Return what a viewer shows, uint8 (grey, or RGB for palette and
            colour images): Modality LUT, VOI, MONOCHROME1 / INVERSE
            inversion, palette, ICC profile (:mod:`dicomio.values.display`).
            What was applied is in ``display_record`` afterwards.
        window : (center, width[, function]), optional
            With ``display``: this window instead of the file's.
        voi : int, optional
            With ``display``: the file's VOI preset to use (default 0).
        on_error : {"raise", "recover", "skip", "fill"}
            A frame that fails: ``"raise"`` (default) its
            :class:`~dicomio.DecodeError` (:class:`~dicomio.TruncatedError`
            when the file ends inside it); ``"fill"`` it is set to 0;
            ``"skip"`` it is left out (the batch is shorter); ``"recover"``
            as fill, but a truncated frame keeps the rows that are there.
            Failures are listed in :attr:`failed_frames` and summed up in
            one :class:`DicomioWarning` (``docs/robustness.md``).

        Returns
        -------
        numpy.ndarray
        """
        check_on_error(on_error)
        idx, batched = self._indices(index)
        if display:
            from .display import read_display

            return read_display(self, idx, batched, window=window, voi=voi, out=out,
                                threads=threads, backend=backend, on_error=on_error)
        if out is not None and on_error == "skip":
            raise ValueError("out= cannot be combined with on_error='skip' "
                             "(the batch may come back shorter)")
        color = color or self.color
        check_color(color)
        cands = self._candidates(backend if backend is not None else self.backend)
        want_rgb = color == "rgb"
        dtype = self.rescaled_dtype if rescale else self.dtype
        result = self._allocate(len(idx), batched, dtype, out, idx)
        _web.prefetch(self, idx)  # DICOMweb: the frames, batched, in parallel
        need_rescale = rescale and self.rescale_params is not None
        nthreads = min(threads or self._threads(), len(idx))
        # A frame decoded alone gets the threads inside the codec instead.
        alone = (threads or self._threads()) if len(idx) == 1 else None
        work = frame_worker(self, idx, result, cands, want_rgb, alone, need_rescale,
                            on_error)
        if self._video is not None:
            self._video.read_into(idx, result, want_rgb, need_rescale,
                                  threads or self.threads, on_error)
        elif nthreads <= 1 or len(idx) <= 1:
            for k in range(len(idx)):
                work(k)
        else:
            _run_parallel(work, len(idx), nthreads)
        result = finish(self, idx, result, on_error)
        return result if batched or len(result) != 1 else result[0]

    def frame(self, index: int, **kwargs: Any) -> np.ndarray:
        """Decode one frame (same options as :meth:`read`)."""
        return self.read(int(index), **kwargs)

    def memmap(self) -> np.ndarray:
        """Zero-copy view of uncompressed little-endian frames (``(n, ...)``).

        Only for native little-endian data whose stored values need no fixing
        (Bits Stored equal to Bits Allocated, no YBR_FULL_422, not 1-bit).
        """
        spec = self.spec
        ok = (not self.transfer_syntax.encapsulated and not self.transfer_syntax.is_big_endian
              and not self.transfer_syntax.is_deflated and self.path is not None
              and spec.bits_allocated in (8, 16, 32, 64) and spec.bits_stored == spec.bits_allocated
              and spec.photometric != "YBR_FULL_422" and not getattr(self, "_native_missing", False)
              and getattr(self, "_cut", None) is None)
        if not ok or not isinstance(self._reader, _Reader) or self._reader._data is not None:
            raise self._err(DicomioError, "memory mapping needs uncompressed little-endian "
                            "data in a file, with Bits Stored equal to Bits Allocated")
        shape: tuple[int, ...] = (self.n_frames, *self.frame_shape)
        if spec.samples_per_pixel > 1 and spec.planar_configuration == 1:
            raise self._err(DicomioError, "memory mapping needs colour-by-pixel data "
                            "(Planar Configuration 0)")
        assert self.path is not None
        return np.memmap(self.path, dtype=spec.dtype, mode="r",
                         offset=self._loc.offset, shape=shape)

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the file descriptor."""
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> DicomImage:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"<DicomImage {self._where()!r} {self.transfer_syntax.keyword} "
                f"shape={self.shape} dtype={self.dtype} "
                f"PI={self.spec.photometric}>")


def imread(source: Any, index: Any = None, **kwargs: Any) -> np.ndarray:
    """Decode a DICOM file in one call.

    ``kwargs`` go to :class:`DicomImage` (``backend``, ``color``, ``threads``,
    ``memory_limit``) and :meth:`DicomImage.read` (``rescale``, ``on_error``).
    """
    rescale = kwargs.pop("rescale", False)
    on_error = kwargs.pop("on_error", "raise")
    with DicomImage(source, **kwargs) as img:
        return img.read(index, rescale=rescale, on_error=on_error)
