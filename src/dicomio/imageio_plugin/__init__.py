"""Read and write DICOM with ImageIO v3 (and scikit-image), on dicomio's core.

Backend Library: `dicomio <https://github.com/dicomio/dicomio>`_ itself:
:class:`dicomio.DicomImage` for files, :mod:`dicomio.series` for folders and
DICOMDIRs, :mod:`dicomio.encode` for writing. Every Transfer Syntax dicomio
decodes (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE, deflate, JPEG XL, ...) works
through ``imageio.v3.imread`` and ``skimage.io.imread``.

Installation
------------
``pip install dicomio[imageio]``. Nothing else to do: ``import dicomio``
registers this plugin with imageio under the name ``"dicomio"``.

Registration
------------
Importing dicomio puts the plugin

* first in imageio's priority list for ``.dcm .dicom .ct .mri .gdcm``, so those
  files no longer reach imageio's legacy ``DICOM`` plugin (which cannot decode
  compressed data, scans the whole folder of a single file and, with GDCM
  installed, writes ``<file>.raw`` beside the input);
* first in imageio's fallback order, so DICOM files without an extension
  (``IM0001``, ``1.2.840...``) are recognised by their ``DICM`` magic instead
  of reaching tifffile, which claims many of them and returns an empty array.

Anything that is not DICOM is declined at once (one read of the first 256
bytes, no codec import), so PNG, TIFF, ... still reach their own plugins,
bytes input included. :func:`unregister` restores imageio's tables exactly as
they were; :func:`register` adds the plugin again. Without registration, pass
the class: ``iio.imread(path, plugin=DicomPlugin)``.

What is accepted
----------------
Reading:

* a file, bytes or file object with ``DICM`` at byte 128 (a ``.dcm`` /
  ``.dicom`` / ``.ct`` / ``.mri`` / ``.gdcm`` file is also accepted without the
  128-byte preamble when it starts like a data set);
* a folder or a DICOMDIR: a volume sorted in space (see
  :func:`dicomio.series.scan`). imageio refuses folders unless a plugin or an
  extension is named: use ``plugin="dicomio"`` or ``extension=".dcm"``.

Writing: names ending in one of the extensions above, or ``extension=".dcm"``
(also needed for ``"<bytes>"``: imageio does not tell a plugin whether it was
named, and writing DICOM into a file called ``out`` unasked would surprise).

Methods
-------
``read(*, index=None, color="rgb", rescale=False, backend=None, threads=None,
series=None)``
    ``index=None``: the whole image: one frame ``(rows, cols[, samples])``, the
    stacked frames ``(frames, rows, cols[, samples])`` of a multi-frame file,
    or the sorted volume of a folder (always with a slice axis). ``index=i``:
    frame (slice) ``i``; out of range raises :class:`dicomio.FrameIndexError`,
    an ``IndexError`` and a ``ValueError``. ``index=...``: always batched,
    ``(n, rows, cols[, s])``. ``color="rgb"`` returns colour as RGB;
    ``"native"`` keeps the coded YCbCr where the codec allows.
    ``rescale=True`` applies the modality LUT (Rescale Slope / Intercept, e.g.
    CT Hounsfield units), keeping an integer dtype when slope and intercept
    allow. ``backend`` forces a decoder (see
    :mod:`dicomio.backends.registry`); ``threads`` caps the
    decoding threads.
    ``series`` picks one series of a folder that holds several (an index
    into :attr:`dicomio.series.ScanResult.series`, a key or a
    SeriesInstanceUID).
``iter(*, color, rescale, backend, threads, series)``
    Yields the frames (slices) one by one.
``properties(index=None, *, color, rescale, backend, threads, series)``
    :class:`~imageio.core.v3_plugin_api.ImageProperties` from the header alone
    (no pixel data is decoded), equal to the ``shape`` and ``dtype`` of
    ``read`` with the same arguments. ``spacing`` holds one value per axis of
    that array: millimetres for rows and columns (PixelSpacing) and, for a
    folder, between slices; 1.0 for the frame axis of a file without
    SpacingBetweenSlices and for the colour axis; ``None`` when the file gives
    no pixel spacing.
``metadata(index=None, exclude_applied=True, *, rescale=None, color=None,
backend=None, series=None)``
    The header as ``{keyword: value}`` with JSON-friendly values (no pixel
    data), plus ``"TransferSyntaxUID"``, ``"spacing"`` (as in
    ``properties``), ``"photometric"`` (the colour report: ``declared``,
    ``codestream``, ``output``, ``mismatch``, ``notes``), ``"decoder"``
    (the backend label) and, for single files, ``"warnings"`` (defects that
    were tolerated). Before any ``read`` on the same plugin instance the
    report and decoder are predictions from the header and codestream header;
    after it they say what really happened. A folder adds ``"series"``
    (key, kind, origin, affine, warnings, ...). With ``exclude_applied=True``
    keys that no longer describe the returned array are dropped:
    ``RescaleSlope`` / ``RescaleIntercept`` (and the functional groups'
    ``PixelValueTransformationSequence``) when ``rescale`` was applied;
    ``PhotometricInterpretation`` when the output colour space differs from
    the declared one (YBR converted to RGB, 4:2:2 upsampled; the declared
    value stays in ``photometric["declared"]``); ``PlanarConfiguration`` when
    it was 1 (the array is always colour-by-pixel). ``MONOCHROME1`` and
    ``PALETTE COLOR`` are not applied by ``read``, so they are kept.
    ``rescale`` / ``color`` default to those of the last ``read`` (or
    ``False`` / ``"rgb"``).
``write(ndimage, *, is_batch=None, transfer_syntax="ExplicitVRLittleEndian",
photometric=None, allow_lossy=False, **attrs)``
    A Secondary Capture file (multi-frame for a batch), through
    :func:`dicomio.encode.make_dataset`. ``transfer_syntax`` is a keyword or
    UID of :data:`dicomio.encode.LOSSLESS_ENCODABLE`; lossy syntaxes raise
    :class:`dicomio.EncodeError` unless ``allow_lossy=True`` (or
    ``lossless=True`` for codecs with a reversible mode). ``is_batch=None``
    guesses like :func:`~dicomio.encode.make_dataset`: 2D is one frame, 4D is
    frames of colour, 3D is one colour frame when the last axis is 3, else
    grey frames. ``attrs`` are :func:`~dicomio.encode.make_dataset` options
    (``pixel_spacing``, ``rescale``, ``window``, ``bits_stored``, ...) or DICOM
    keywords (``Modality="CT"``). dtypes: bool, (u)int8, (u)int16, (u)int32.

v2 API: ``imageio.v2.imread`` reads frame 0, ``mimread`` the list of frames,
``volread`` the volume (always with a slice axis, also for one frame).

scikit-image: ``skimage.io.imread(path)`` is ``iio.imread(path)`` plus one
rule of its own: a 3D array whose first axis is 3 or 4 long and whose last
axis is not gets its first axis moved to the end. A 3- or 4-frame grey
multi-frame file therefore comes back ``(rows, cols, frames)`` as if it were
RGB(A); use ``iio.imread`` (or ``np.moveaxis(a, -1, 0)``) for those.

Examples
--------
>>> import dicomio
>>> import imageio.v3 as iio
>>> path = dicomio.samples.path("JPEG2000Lossless")      # 2 frames, int16
>>> iio.imread(path).shape
(2, 64, 64)
>>> iio.imread(path, index=1).shape
(64, 64)
>>> props = iio.improps(path)
>>> props.shape, props.dtype, props.is_batch, props.n_images
((2, 64, 64), dtype('int16'), True, 2)
>>> meta = iio.immeta(path)
>>> meta["TransferSyntaxUID"], meta["photometric"]["output"]
('1.2.840.10008.1.2.4.90', 'MONOCHROME2')
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from imageio.config import FileExtension, PluginConfig, known_extensions, known_plugins
from imageio.core.request import (
    RETURN_BYTES,
    URI_FILENAME,
    InitializationError,
    IOMode,
    Request,
)
from imageio.core.v3_plugin_api import ImageProperties, PluginV3

from ..dataset.jsonify import to_json_dict
from ..errors import DicomioError, EncodeError, FrameIndexError, SeriesError
from ..image import DicomImage

if TYPE_CHECKING:  # the series layer loads only when a folder is read
    from ..series import ScanResult, Series

__all__ = [
    "DicomPlugin",
    "register",
    "unregister",
    "is_registered",
    "PLUGIN_NAME",
    "EXTENSIONS",
]

#: The name the plugin is registered under (``plugin="dicomio"``).
PLUGIN_NAME = "dicomio"
#: File extensions for which the plugin is tried first.
EXTENSIONS: tuple[str, ...] = (".dcm", ".dicom", ".ct", ".mri", ".gdcm")

_MAGIC = b"DICM"
_MAGIC_AT = 128
# (0002,0002) Media Storage SOP Class UID = Media Storage Directory Storage, as
# the (always explicit VR little endian) File Meta Information writes it.
_DICOMDIR_META = b"\x02\x00\x02\x00UI\x14\x001.2.840.10008.1.3.10"


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------
@dataclass
class _Snapshot:
    """imageio's tables as they were before :func:`register`."""

    plugins: list[tuple[str, Any]]
    # (FileExtension, priority list object, its items, default list object,
    # its items): the list objects themselves come back, not just equal ones.
    extensions: list[tuple[Any, list[str], list[str], list[str], list[str]]]
    created: list[str] = field(default_factory=list)


_snapshot: _Snapshot | None = None


def _take_snapshot() -> _Snapshot:
    exts = []
    for ext in EXTENSIONS:
        for fmt in known_extensions.get(ext, []):
            default = _defaults(fmt)
            exts.append((fmt, fmt.priority, list(fmt.priority), default,
                         list(default)))
    return _Snapshot(plugins=list(known_plugins.items()), extensions=exts)


def _defaults(fmt: Any) -> list[str]:
    # FileExtension.reset() copies default_priority into priority: both lists
    # must hold the registration. (imageio's type stub omits this attribute.)
    defaults: list[str] = fmt.default_priority
    return defaults


def _put_first(names: list[str]) -> None:
    if names[:1] != [PLUGIN_NAME]:
        while PLUGIN_NAME in names:
            names.remove(PLUGIN_NAME)
        names.insert(0, PLUGIN_NAME)


def register() -> None:
    """Register the plugin with imageio (done by ``import dicomio``).

    Puts ``"dicomio"`` first in ``imageio.config.known_plugins`` (imageio's
    fallback order for files without a known extension) and first in the
    priority lists, current and default, of ``.dcm .dicom .ct .mri .gdcm``.
    Calling it again changes nothing; after :func:`unregister` it registers
    anew.
    """
    global _snapshot
    if _snapshot is None:
        _snapshot = _take_snapshot()
    config = known_plugins.get(PLUGIN_NAME)
    if not (isinstance(config, PluginConfig) and config.module_name == __name__):
        config = PluginConfig(name=PLUGIN_NAME, class_name="DicomPlugin",
                              module_name=__name__, install_name="dicomio")
    if next(iter(known_plugins), None) != PLUGIN_NAME \
            or known_plugins[PLUGIN_NAME] is not config:
        rest = [(k, v) for k, v in known_plugins.items() if k != PLUGIN_NAME]
        known_plugins.clear()
        known_plugins[PLUGIN_NAME] = config
        known_plugins.update(rest)
    for ext in EXTENSIONS:
        if not known_extensions.get(ext):
            # Not in this imageio version's table: add it, remove it later.
            known_extensions[ext] = [FileExtension(
                name="DICOM", extension=ext, priority=[PLUGIN_NAME])]
            _snapshot.created.append(ext)
        for fmt in known_extensions[ext]:
            _put_first(fmt.priority)
            _put_first(_defaults(fmt))


def unregister() -> None:
    """Undo :func:`register`: imageio's tables become exactly what they were.

    The plugin order of ``known_plugins``, and every priority list (current
    and default) of the DICOM extensions, list objects included, are put
    back. Does nothing when the plugin is not registered.
    """
    global _snapshot
    if _snapshot is None:
        return
    known_plugins.clear()
    known_plugins.update(_snapshot.plugins)
    for fmt, prio, prio_items, default, default_items in _snapshot.extensions:
        prio[:] = prio_items
        default[:] = default_items
        fmt.priority = prio
        fmt.default_priority = default
    for ext in _snapshot.created:
        known_extensions.pop(ext, None)
    _snapshot = None


def is_registered() -> bool:
    """Whether :func:`register` is in effect."""
    return _snapshot is not None and next(iter(known_plugins), None) == PLUGIN_NAME


# ---------------------------------------------------------------------------
# Cheap format checks
# ---------------------------------------------------------------------------
def _starts_like_dataset(head: bytes) -> bool:
    """A data set written without preamble: its first tag is (0002,xxxx) or
    (0008,xxxx), followed by an explicit VR or a 4-byte implicit length."""
    if len(head) < 8:
        return False
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)
        if group not in (0x0002, 0x0008):
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        # Implicit VR: a 4-byte value length, even, and small for group 0002
        # or 0008 elements (binary noise rarely passes both tests).
        length = int.from_bytes(head[4:8], order)
        if length % 2 == 0 and length < 1 << 16:
            return True
    return False


def _count(index: Any, n: int, *, none_batches: bool) -> int | None:
    """How many frames ``index`` selects of ``n`` (None: one frame, unbatched).

    Mirrors the index rules of :meth:`dicomio.DicomImage.read` and
    :meth:`dicomio.series.Series.read`, so properties agree with read.
    """
    if index is None:
        return n if (none_batches or n > 1) else None
    if index is Ellipsis:
        return n
    if isinstance(index, slice):
        return len(range(n)[index])
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        _check_index(int(index), n)
        return None
    picks = list(index)
    for i in picks:
        _check_index(int(i), n)
    return len(picks)


def _check_index(i: int, n: int, path: str | None = None) -> int:
    if not -n <= i < n:
        raise FrameIndexError(f"index {i} is out of range for {n} frame(s)",
                              path=path, frame=i)
    return i % n


def _spacing_between_slices(ds: Any) -> float | None:
    value = ds.get("SpacingBetweenSlices", None)
    if value is None:
        try:
            measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
            value = measures.get("SpacingBetweenSlices", None)
        except (AttributeError, IndexError, KeyError, TypeError):
            value = None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _drop_applied(meta: dict[str, Any], *, rescale: bool,
                  report: dict[str, Any] | None) -> None:
    """Remove header keys that no longer describe the array read returns."""
    if rescale:
        meta.pop("RescaleSlope", None)
        meta.pop("RescaleIntercept", None)
        for seq in ("SharedFunctionalGroupsSequence",
                    "PerFrameFunctionalGroupsSequence"):
            for item in meta.get(seq) or []:
                if isinstance(item, dict):
                    item.pop("PixelValueTransformationSequence", None)
    declared = str(meta.get("PhotometricInterpretation", "") or "").strip().upper()
    output = str((report or {}).get("output") or "").strip().upper()
    if declared and output and output != declared:
        meta.pop("PhotometricInterpretation", None)
    if meta.get("PlanarConfiguration") == 1:
        meta.pop("PlanarConfiguration", None)


def _declared_syntax(ds: Any) -> str | None:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID", None) if meta is not None else None
    return str(uid) if uid else None


# ---------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------
class DicomPlugin(PluginV3):
    """ImageIO v3 plugin for DICOM files, folders and DICOMDIRs.

    See the module documentation for what it accepts and for every method.

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
        if request.mode.io_mode == IOMode.write:
            if request.extension not in EXTENSIONS:
                raise InitializationError(
                    f"dicomio writes DICOM only to names ending in "
                    f"{' '.join(EXTENSIONS)}; pass extension='.dcm' (also for "
                    "'<bytes>')")
            self._kind = "write"
        else:
            self._kind = self._classify(request)
        self._owns_request = True

    # -------------------------------------------------------------- opening
    @staticmethod
    def _classify(request: Request) -> str:
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
            raise InitializationError(f"cannot read the first bytes: {exc}") from None
        if head[_MAGIC_AT:_MAGIC_AT + 4] == _MAGIC:
            return "dicomdir" if is_path and _DICOMDIR_META in head else "file"
        if request.extension in EXTENSIONS and _starts_like_dataset(head):
            return "file"
        raise InitializationError(
            f"{request.filename!r} is not DICOM (no 'DICM' at byte 128)")

    def _open(self) -> DicomImage:
        if self._image is None:
            if self._kind != "file":
                raise DicomioError("this resource is a folder, not one DICOM file")
            request = self.request
            if getattr(request, "_uri_type", None) == URI_FILENAME:
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
        result = self._scan_result()
        found = list(result.series)
        where = self.request.filename
        if not found:
            skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
            raise SeriesError(f"no image series in {where}"
                              + (f" (skipped: {skips})" if skips else ""))
        if series is None:
            if len(found) == 1:
                return found[0]
            raise SeriesError(f"{where} holds {len(found)} volumes; pass series= "
                              "(an index or a key):\n" + _listing(found))
        if isinstance(series, (int, np.integer)) and not isinstance(series, bool):
            if not -len(found) <= int(series) < len(found):
                raise SeriesError(f"series index {series} out of range: "
                                  f"{len(found)} series in {where}")
            return found[int(series)]
        chosen = [s for s in found if s.key == series] or \
            [s for s in found if s.uid == series]
        if len(chosen) != 1:
            what = "no series" if not chosen else f"{len(chosen)} volumes for"
            raise SeriesError(f"{what} {series!r} in {where}:\n" + _listing(found))
        return chosen[0]

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
        if self._kind == "file":
            return self._open().read(index, rescale=rescale, color=color,
                                     backend=backend, threads=threads)
        chosen = self._series(series)
        return chosen.read(None if index is Ellipsis else index, rescale=rescale,
                           color=color, threads=threads,
                           backend=backend)

    def iter(
        self,
        *,
        color: str = "rgb",
        rescale: bool = False,
        backend: str | Sequence[str] | None = None,
        threads: int | None = None,
        series: int | str | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield the frames (a folder: the slices) one at a time.

        In imageio's multi-volume mode (``imageio.v2.mvolread``) it yields
        volumes instead: the file's, or one per series of a folder.

        Parameters
        ----------
        color, rescale, backend, threads, series
            As for :meth:`read`.

        Yields
        ------
        numpy.ndarray
        """
        self._readable()
        opts: dict[str, Any] = {"color": color, "rescale": rescale,
                                "backend": backend, "threads": threads}
        if self._kind != "file":
            opts["backend"] = backend
        self._last = {"color": color, "rescale": rescale, "backend": backend}
        volumes = self.request.mode.image_mode == "V"
        if self._kind == "file":
            img = self._open()
            if volumes:
                yield img.read(Ellipsis, **opts)
                return
            for i in range(img.n_frames):
                yield img.read(i, **opts)
            return
        if volumes:
            for found in self._scan_result().series:
                yield found.read(**opts)
            return
        chosen = self._series(series)
        for i in range(len(chosen)):
            yield chosen.read(i, **opts)

    def properties(
        self,
        index: Any = None,
        *,
        color: str = "rgb",
        rescale: bool = False,
        backend: str | Sequence[str] | None = None,
        threads: int | None = None,
        series: int | str | None = None,
    ) -> ImageProperties:
        """Shape, dtype and spacing of what :meth:`read` returns, from headers.

        No pixel data is decoded.

        Parameters
        ----------
        index, color, rescale, backend, threads, series
            As for :meth:`read` (the dtype depends on ``rescale``).

        Returns
        -------
        imageio.core.v3_plugin_api.ImageProperties
            ``shape``, ``dtype``, ``n_images`` (frames in a batch, else None),
            ``is_batch`` and ``spacing`` (one value per axis, see the module
            documentation; None without PixelSpacing).
        """
        del threads  # no effect on shape or dtype
        self._readable()
        index = self._volume_index(index)
        if self._kind == "file":
            img = self._open()
            count = _count(index, img.n_frames, none_batches=False)
            frame_shape = tuple(img.frame_shape)
            dtype = img.rescaled_dtype if rescale else img.dtype
            pixel = img.pixel_spacing
            step = _spacing_between_slices(img.dataset)
            samples = img.spec.samples_per_pixel
        else:
            chosen = self._series(series)
            count = _count(index, len(chosen), none_batches=True)
            frame_shape = tuple(chosen.shape[1:])
            dtype = (chosen.rescaled_dtype(color, backend) if rescale
                     else chosen.dtype)
            dz, dy, dx = chosen.geometry.spacing
            pixel, step = (dy, dx), dz
            samples = frame_shape[2] if len(frame_shape) == 3 else 1
        shape = frame_shape if count is None else (count, *frame_shape)
        spacing: tuple[float, ...] | None = None
        if pixel is not None:
            spacing = (float(pixel[0]), float(pixel[1]))
            if count is not None:
                spacing = (float(step) if step else 1.0, *spacing)
            if samples > 1:
                spacing = (*spacing, 1.0)
        return ImageProperties(shape=tuple(int(d) for d in shape),
                               dtype=np.dtype(dtype), n_images=count,
                               is_batch=count is not None, spacing=spacing)

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
            ``"photometric"`` and ``"decoder"`` (and ``"series"`` for a
            folder).
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
            meta = self._file_metadata(index, color, backend)
        else:
            meta = self._series_metadata(index, color, backend, series)
        meta["spacing"] = self.properties(index, series=series).spacing
        if exclude_applied:
            _drop_applied(meta, rescale=rescale, report=meta.get("photometric"))
        return meta

    def _file_metadata(self, index: Any, color: str,
                       backend: Any) -> dict[str, Any]:
        img = self._open()
        meta = img.header_dict()
        meta["TransferSyntaxUID"] = _declared_syntax(img.dataset) \
            or img.transfer_syntax.uid
        info = None
        if index is not None:
            info = img.frame_info(int(_check_index(int(index), img.n_frames,
                                                   img.path)))
        if info is not None:
            meta["photometric"] = dict(info.photometric)
            meta["decoder"] = info.backend
        elif img.frame_infos:
            meta["photometric"] = dict(img.photometric)
            meta["decoder"] = img.decoder
        else:
            meta["photometric"] = img.predicted_photometric(color)
            meta["decoder"] = _planned(img, backend)
        # Defects dicomio tolerated in this file (also issued as warnings).
        meta["warnings"] = list(img.warnings)
        return meta

    def _series_metadata(self, index: Any, color: str, backend: Any,
                         series: Any) -> dict[str, Any]:
        chosen = self._series(series)
        pos = 0 if index is None else _check_index(int(index), len(chosen))
        header = chosen.headers[pos]
        meta = to_json_dict(header)
        meta["TransferSyntaxUID"] = _declared_syntax(header)
        report = chosen.slice_photometric[pos] if index is not None else (
            chosen.photometric if any(chosen.slice_photometric) else None)
        decoder = chosen.decoders[pos] if index is not None else chosen.decoder
        if report is None or decoder is None:
            path, _ = chosen.slices[pos]
            with DicomImage(path) as img:
                report = report or img.predicted_photometric(color)
                decoder = decoder or _planned(img, backend)
        meta["photometric"] = dict(report)
        meta["decoder"] = decoder
        geom = chosen.geometry
        meta["series"] = {
            "key": chosen.key,
            "uid": chosen.uid,
            "kind": chosen.kind,
            "n_slices": len(chosen),
            "origin": [float(v) for v in geom.origin],
            "affine": np.asarray(geom.affine, dtype=float).tolist(),
            "irregular": bool(geom.irregular),
            "z_source": geom.z_source,
            "warnings": list(chosen.warnings),
            "notes": list(chosen.notes),
        }
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
        from .. import encode
        from ..tsyntax import lookup

        if self._written:
            raise EncodeError("a DICOM file holds one image: pass all frames in "
                              "one write() call (is_batch=True)")
        ts = lookup(transfer_syntax)
        if ts.keyword not in encode.LOSSLESS_ENCODABLE and not allow_lossy \
                and attrs.get("lossless") is not True:
            raise EncodeError(
                f"{ts.keyword} is lossy: pass allow_lossy=True to accept that, or "
                "choose a lossless Transfer Syntax: "
                + ", ".join(encode.LOSSLESS_ENCODABLE), transfer_syntax=str(ts))
        if isinstance(ndimage, (list, tuple)):
            frames = [np.asarray(f) for f in ndimage]
            if len({(f.shape, f.dtype) for f in frames}) > 1:
                raise EncodeError("the images differ in shape or dtype: a DICOM "
                                  "multi-frame file needs equal frames")
            arr = np.stack(frames)
            is_batch = True if is_batch is None else is_batch
        else:
            arr = np.asarray(ndimage)
        if self.request.mode.image_mode == "v" and arr.ndim >= 3:
            multiframe: bool | None = True
        else:
            multiframe = is_batch
        ds = encode.make_dataset(arr, ts, photometric=photometric,
                                 multiframe=multiframe, **attrs)
        request = self.request
        self._written = True
        if getattr(request, "_uri_type", None) == URI_FILENAME:
            encode.save_dataset(ds, request.filename)  # atomic
            return None
        data = encode.dataset_bytes(ds)
        request.get_file().write(data)
        return data if request.filename == RETURN_BYTES else None

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


def _listing(found: Sequence[Series]) -> str:
    return "\n".join(f"  [{i}] {s.label} {s.modality} {len(s)} slices key={s.key}"
                     for i, s in enumerate(found))


def _planned(img: DicomImage, backend: Any) -> str | None:
    if backend is None:
        return img.planned_decoder
    from ..backends import registry

    try:
        return str(registry.candidates(img.spec, backend)[0].name)
    except (DicomioError, IndexError):
        return None
