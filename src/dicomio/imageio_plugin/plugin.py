"""The ImageIO v3 plugin class (the package docstring is its documentation)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from imageio.core.request import URI_FILENAME, InitializationError, IOMode, Request
from imageio.core.v3_plugin_api import ImageProperties, PluginV3

from ..errors import DicomioError, EncodeError
from ..image import DicomImage
from ..sources.remote import is_url
from .detect import classify
from .metadata import (
    drop_applied,
    file_metadata,
    file_properties,
    pick_series,
    series_metadata,
    series_properties,
)
from .registration import EXTENSIONS
from .write import make_dataset, save

if TYPE_CHECKING:  # the series layer loads only when a folder is read
    from ..series import ScanResult, Series


class DicomPlugin(PluginV3):
    """ImageIO v3 plugin for DICOM files, folders and DICOMDIRs.

    See the documentation of :mod:`dicomio.imageio_plugin` for what it
    accepts and for every method.

    Parameters
    ----------
    request : imageio.core.Request
        The resource. Non-DICOM input raises
        :class:`~imageio.core.request.InitializationError` so that imageio
        tries its next plugin.
    """

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        # A declined instance is garbage-collected while imageio hands the
        # same request to the next plugin: it must never finish it.
        self._owns_request = False
        self._kind = ""
        self._path: str | None = None
        self._image: DicomImage | None = None
        self._scan: ScanResult | None = None
        self._written = False
        self._last: dict[str, Any] = {}
        self._display: dict[str, Any] | None = None  # what the last read displayed
        if request.mode.io_mode == IOMode.write:
            if request.extension not in EXTENSIONS:
                raise InitializationError(
                    f"dicomio writes DICOM only to names ending in "
                    f"{' '.join(EXTENSIONS)}; pass extension='.dcm' (also for "
                    "'<bytes>')")
            self._kind = "write"
        else:
            self._kind = classify(request)
        self._owns_request = True

    def _open(self) -> DicomImage:
        if self._image is None:
            if self._kind != "file":
                raise DicomioError("this resource is a folder, not one DICOM file")
            request = self.request
            if (is_url(request.filename)
                    or getattr(request, "_uri_type", None) == URI_FILENAME):
                self._image = DicomImage(request.filename)
            else:
                self._image = DicomImage(request.get_file().read())
        return self._image

    def _scan_result(self) -> ScanResult:
        if self._scan is None:
            from ..series import scan

            self._scan = scan(self.request.filename)
        return self._scan

    def _series(self, series: int | str | None) -> Series:
        return pick_series(self._scan_result(), series, self.request.filename)

    def _readable(self) -> None:
        if self._kind == "write":
            raise OSError("this resource was opened for writing")

    def _volume_index(self, index: Any) -> Any:
        # imageio.v2.volread asks for read(index=0) in volume mode: the volume.
        if (self.request.mode.image_mode == "v" and isinstance(index, (int, np.integer))
                and not isinstance(index, bool) and index == 0):
            return Ellipsis
        return index

    # -------------------------------------------------------------- reading
    def read(
        self,
        *,
        index: Any = None,
        color: str = "rgb",
        rescale: bool = False,
        backend: str | Sequence[str] | None = None,
        threads: int | None = None,
        series: int | str | None = None,
        display: bool = False, window: Any = None, voi: int | None = None,
        on_error: str = "raise",
    ) -> np.ndarray:
        """Decode the image, one frame or a batch of frames.

        Parameters
        ----------
        index : None, int, Ellipsis, slice or sequence of int
            ``None``: the whole image (stacked frames; a folder's volume).
            An int: that frame (slice). ``...``: every frame, always with a
            leading batch axis. Slices and sequences select a batch.
        color : {"rgb", "native"}
            Colour output: RGB, or the coded YCbCr where the codec allows.
        rescale : bool
            Apply the modality LUT (RescaleSlope / RescaleIntercept).
        backend : str or list of str, optional
            Force these decoding backends.
        threads : int, optional
            Most decoding threads to use.
        series : int or str, optional
            For a folder holding several series: which one (index, key, UID).
        display, window, voi : optional
            The 8-bit display image (module documentation, ``docs/display.md``).
        on_error : {"raise", "recover", "skip", "fill"}
            What a frame that fails does (see :meth:`dicomio.DicomImage.read`);
            the failed frames are listed in ``metadata()["failed_frames"]``.

        Returns
        -------
        numpy.ndarray
            ``(rows, cols[, samples])`` per frame, frames first.

        Raises
        ------
        dicomio.FrameIndexError
            When ``index`` is out of range (an IndexError and a ValueError).
        dicomio.DicomioError
            Any decode error, naming file, frame and backends tried.
        """
        self._readable()
        index = self._volume_index(index)
        self._last = {"color": color, "rescale": rescale, "backend": backend}
        shown = {"display": True, "window": window, "voi": voi} if display else {}
        src: Any = self._open() if self._kind == "file" else self._series(series)
        index = None if self._kind != "file" and index is Ellipsis else index
        arr = src.read(index, rescale=rescale, color=color, threads=threads,
                       backend=backend, on_error=on_error, **shown)
        self._display = getattr(src, "display_record", None) if display else None
        return arr

    def iter(
        self,
        *,
        color: str = "rgb",
        rescale: bool = False,
        backend: str | Sequence[str] | None = None,
        threads: int | None = None,
        series: int | str | None = None,
        on_error: str = "raise",
    ) -> Iterator[np.ndarray]:
        """Yield the frames (a folder: the slices) one at a time.

        In imageio's multi-volume mode (``imageio.v2.mvolread``) it yields
        volumes instead: the file's, or one per series of a folder.

        Parameters
        ----------
        color, rescale, backend, threads, series, on_error
            As for :meth:`read`; with ``on_error="skip"`` a frame that fails
            is not yielded.

        Yields
        ------
        numpy.ndarray
        """
        self._readable()
        opts: dict[str, Any] = {"color": color, "rescale": rescale,
                                "backend": backend, "threads": threads,
                                "on_error": on_error}
        if self._kind != "file":
            opts["backend"] = backend
        self._last = {"color": color, "rescale": rescale, "backend": backend}
        self._display = None
        volumes = self.request.mode.image_mode == "V"
        if self._kind == "file":
            img = self._open()
            if volumes:
                yield img.read(Ellipsis, **opts)
                return
            for i in range(img.n_frames):
                arr = img.read(i, **opts)
                if on_error != "skip" or i not in img.failed_frames:
                    yield arr
            return
        if volumes:
            for found in self._scan_result().series:
                yield found.read(**opts)
            return
        chosen = self._series(series)
        for i in range(len(chosen)):
            arr = chosen.read(i, **opts)
            if len(arr) or on_error != "skip":
                yield arr

    def properties(
        self,
        index: Any = None,
        *,
        color: str = "rgb",
        rescale: bool = False,
        backend: str | Sequence[str] | None = None,
        threads: int | None = None,
        series: int | str | None = None,
        display: bool = False, window: Any = None, voi: int | None = None,
    ) -> ImageProperties:
        """Shape, dtype and spacing of what :meth:`read` returns, from headers.

        No pixel data is decoded.

        Parameters
        ----------
        index, color, rescale, backend, threads, series, display, window, voi
            As for :meth:`read` (the dtype depends on ``rescale`` and ``display``).

        Returns
        -------
        imageio.core.v3_plugin_api.ImageProperties
            ``shape``, ``dtype``, ``n_images`` (frames in a batch, else None),
            ``is_batch`` and ``spacing`` (one value per axis, see the module
            documentation; None without PixelSpacing).
        """
        del threads, window, voi  # no effect on shape or dtype
        self._readable()
        index = self._volume_index(index)
        if self._kind == "file":
            return file_properties(self._open(), index, rescale, display)
        return series_properties(self._series(series), index, rescale, display,
                                 color, backend)

    def metadata(
        self,
        index: Any = None,
        exclude_applied: bool = True,
        *,
        rescale: bool | None = None,
        color: str | None = None,
        backend: str | Sequence[str] | None = None,
        series: int | str | None = None,
    ) -> dict[str, Any]:
        """The DICOM header as JSON-friendly ``{keyword: value}``, plus a report.

        Parameters
        ----------
        index : None or int
            ``None``: the file's (the first slice's) header; an int: frame
            (slice) ``index``, whose own colour report and decoder are given
            once it has been decoded.
        exclude_applied : bool
            Drop keys describing what :meth:`read` applied (see the module
            documentation): rescale keys when rescaled, a converted
            PhotometricInterpretation, PlanarConfiguration 1.
        rescale, color : optional
            The read this metadata goes with; default: the last
            :meth:`read` / :meth:`iter` call, else ``False`` / ``"rgb"``.
            ``color`` also steers the predicted colour report before a read.
        backend : str, optional
            For the predicted ``"decoder"`` before a read.
        series : int or str, optional
            As for :meth:`read`.

        Returns
        -------
        dict
            Header keywords, ``"TransferSyntaxUID"``, ``"spacing"``,
            ``"photometric"``, ``"decoder"`` and ``"failed_frames"`` (the
            frames a read with ``on_error`` went on without, by index; for a
            folder, by slice) (and ``"series"`` for a folder).
        """
        self._readable()
        if rescale is None:
            rescale = bool(self._last.get("rescale", False))
        if color is None:
            color = self._last.get("color") or "rgb"
        if backend is None:
            backend = self._last.get("backend")
        if index is Ellipsis:
            index = None
        if self._kind == "file":
            meta = file_metadata(self._open(), index, color, backend)
        else:
            meta = series_metadata(self._series(series), index, color, backend)
        meta["spacing"] = self.properties(index, series=series).spacing
        meta.update({"display": self._display} if self._display is not None else {})
        if exclude_applied:
            drop_applied(meta, rescale=rescale, report=meta.get("photometric"),
                         display=self._display)
        return meta

    # -------------------------------------------------------------- writing
    def write(
        self,
        ndimage: Any,
        *,
        is_batch: bool | None = None,
        transfer_syntax: str = "ExplicitVRLittleEndian",
        photometric: str | None = None,
        allow_lossy: bool = False,
        **attrs: Any,
    ) -> bytes | None:
        """Write an array as a DICOM Secondary Capture file.

        Parameters
        ----------
        ndimage : array_like or list of array_like
            ``(rows, cols)``, ``(rows, cols, 3)`` or a batch of those. dtype
            bool, (u)int8, (u)int16 or (u)int32.
        is_batch : bool, optional
            True: the first axis is frames (a multi-frame file). False: one
            frame (in imageio's volume mode, ``imageio.v2.volwrite``: one
            volume, i.e. frames). None: guessed, see the module documentation.
        transfer_syntax : str
            Keyword or UID, one of :data:`dicomio.encode.LOSSLESS_ENCODABLE`.
        photometric : str, optional
            Photometric Interpretation; default MONOCHROME2 for grey and the
            syntax's usual choice for colour (RGB, YBR_RCT for JPEG 2000).
        allow_lossy : bool
            Permit a lossy Transfer Syntax.
        **attrs
            Options of :func:`dicomio.encode.make_dataset` and DICOM keywords.

        Returns
        -------
        bytes or None
            The file's bytes when writing to ``"<bytes>"``, else None.

        Raises
        ------
        dicomio.EncodeError
            For a lossy syntax without ``allow_lossy``, or data the syntax
            cannot hold (it says why).
        """
        if self._written:
            raise EncodeError("a DICOM file holds one image: pass all frames in "
                              "one write() call (is_batch=True)")
        ds = make_dataset(self.request, ndimage, is_batch=is_batch,
                          transfer_syntax=transfer_syntax, photometric=photometric,
                          allow_lossy=allow_lossy, attrs=attrs)
        self._written = True
        return save(self.request, ds)

    # ------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the file and finish the request (only if it was accepted)."""
        image = getattr(self, "_image", None)
        if image is not None:
            image.close()
            self._image = None
        if getattr(self, "_owns_request", False):
            self._owns_request = False
            self.request.finish()

    def __repr__(self) -> str:
        return f"<DicomPlugin {self._kind} {self.request.filename!r}>"
