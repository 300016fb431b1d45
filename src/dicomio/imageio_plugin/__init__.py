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
bytes input included. The refusal is a :class:`PluginRefusedError`, both
imageio's ``InitializationError`` and a :class:`dicomio.DicomioError` naming
the file and the reason (``not DICOM: no 'DICM' at byte 128``, ``the file is
empty``); with ``plugin="dicomio"`` imageio's own ``OSError`` is raised from
it. A folder with no image series raises :class:`dicomio.SeriesError` naming
the folder; a missing path is imageio's ``FileNotFoundError`` (imageio checks
it before any plugin is asked). :func:`unregister` restores imageio's tables exactly as
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
* a URL (with ``plugin="dicomio"``): a DICOMweb instance URL or a DICOM
  file at an ``http(s)://`` URL is one file, a DICOMweb study or series URL
  a volume like a folder; dicomio reads them remotely, frame by frame (see
  :doc:`/web`; imageio itself cannot open ``s3://`` style names).

Writing: names ending in one of the extensions above, or ``extension=".dcm"``
(also needed for ``"<bytes>"``: imageio does not tell a plugin whether it was
named, and writing DICOM into a file called ``out`` unasked would surprise).

Methods
-------
``read(*, index=None, color="rgb", rescale=False, backend=None, threads=None,
series=None, display=False, window=None, voi=None)``
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
    SeriesInstanceUID). ``display=True`` returns the 8-bit display image
    (Modality LUT, the file's first VOI preset, ``voi=k`` another or
    ``window=(center, width)`` yours, MONOCHROME1 / INVERSE inversion,
    palette colour to RGB, ICC profile; see ``docs/display.md``).
``iter(*, color, rescale, backend, threads, series)``
    Yields the frames (slices) one by one.
``properties(index=None, *, color, rescale, backend, threads, series, display)``
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
    ``PALETTE COLOR`` are not applied by a plain ``read``, so they are kept.
    After ``read(display=True)`` the metadata holds ``"display"`` (what was
    applied: modality, voi, inversion, palette, icc) and, with
    ``exclude_applied``, drops the window, VOI, Modality LUT, Presentation LUT
    Shape, rescale, Photometric Interpretation and ICC Profile keys.
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

from .detect import PluginRefusedError
from .plugin import DicomPlugin
from .registration import EXTENSIONS, PLUGIN_NAME, is_registered, register, unregister

__all__ = [
    "DicomPlugin",
    "PluginRefusedError",
    "register",
    "unregister",
    "is_registered",
    "PLUGIN_NAME",
    "EXTENSIONS",
]
