"""Lazy dask arrays over a DICOM file, a series or a folder: :func:`to_dask`.

The graphs come from :mod:`dicomio.series.lazy`, shared with the napari
reader: here every task opens its files (header only), decodes its frames and
closes them, so the graph pickles small and runs on remote workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SeriesError
from ..image import DicomImage
from ..series import lazy
from ..sources.remote import is_url

if TYPE_CHECKING:  # pragma: no cover - typing only
    import dask.array

    from ..series import Series

__all__ = ["to_dask"]


def to_dask(
    source: str | os.PathLike[str] | Series | Iterable[str | os.PathLike[str]],
    *,
    frames_per_chunk: int = 1,
    rescale: bool = False,
    color: str = "rgb",
    backend: str | Sequence[str] | None = None,
    threads: int | None = 1,
    series: int | str | None = None,
    display: bool = False,
    window: Any = None,
    voi: int | None = None,
    on_error: str = "raise",
) -> dask.array.Array:
    """A lazy dask array over a DICOM file, a series or a folder.

    Shape and dtype come from the headers; nothing is decoded until the
    array (or part of it) is computed. Each chunk is one task holding only
    the file path, the frame indices and the decode options. It carries no
    pixel data, no open file and no :class:`~dicomio.image.DicomImage`, so
    the graph pickles small and runs on any dask scheduler, including a
    ``dask.distributed`` cluster whose workers see the same files.

    Parameters
    ----------
    source : path, Series or iterable of paths
        A DICOM file: a multi-frame file gives ``(n, rows, cols[, samples])``,
        a single-frame file ``(rows, cols[, samples])`` (as
        :func:`dicomio.imread`). A :class:`dicomio.series.Series`, a folder,
        a DICOMDIR or a list of files gives the series volume
        ``(n, rows, cols[, samples])`` (as :meth:`Series.read`). A folder must
        hold exactly one series unless ``series`` picks one.
    frames_per_chunk : int
        Frames (or slices) per chunk along axis 0. The default, 1, gives one
        task per frame; larger values give fewer, bigger tasks, which suits
        many small frames. A video file (MPEG-2, H.264, HEVC) is chunked
        along its GOPs instead: each chunk is whole GOPs, at least this many
        frames, since any frame decodes from its GOP's keyframe.
    rescale : bool
        Apply the modality LUT (RescaleSlope/Intercept; Hounsfield units for
        CT). The dtype is then :attr:`DicomImage.rescaled_dtype` or
        :meth:`Series.rescaled_dtype`.
    color : {"rgb", "native"}
        Colour output, as for :class:`dicomio.DicomImage`.
    backend : str or sequence of str, optional
        Force these decoding backends (they must be installed on the workers).
    threads : int or None
        Decoding threads inside one task. The default, 1, suits dask, which
        already runs chunks in parallel. None uses every core of the worker.
    series : int or str, optional
        For a folder, DICOMDIR or list holding several series: the index in
        :attr:`ScanResult.series`, or a :attr:`Series.key` / ``uid``.
    display, window, voi : optional
        The displayed image, uint8, as ``read(display=True, window=, voi=)``
        (see :mod:`dicomio.dask.display`); ``rescale`` and ``color`` do not
        apply then, ``on_error`` does.
    on_error : {"raise", "recover", "fill"}
        A frame that fails when its chunk is computed: raise (default), set
        it to 0 (``"fill"``), or keep what a truncated frame holds
        (``"recover"``), as :meth:`DicomImage.read` does; each task warns
        about its own failed frames. The same holds for ``display=True``
        and for 4-D and mosaic series (one task per volume). ``"skip"``
        raises ValueError: the array's shape is fixed before anything is
        decoded.

    Returns
    -------
    dask.array.Array

    Raises
    ------
    SeriesError
        When a folder holds no series, or several and ``series`` does not
        pick one (the message lists them).
    DicomioError
        When the header cannot be read. Decode errors surface on compute,
        naming the file, frame, Transfer Syntax and backends tried.
    TypeError
        For in-memory sources (bytes, file objects, datasets): tasks reopen
        the file by path.

    Examples
    --------
    >>> arr = dicomio.to_dask("cine.dcm", frames_per_chunk=8)   # doctest: +SKIP
    >>> vol = dicomio.to_dask("/data/exam/CT", rescale=True)    # doctest: +SKIP
    >>> vol[:, 256].max().compute()                             # doctest: +SKIP
    """

    if isinstance(frames_per_chunk, bool) or not isinstance(
            frames_per_chunk, (int, np.integer)) or frames_per_chunk < 1:
        raise ValueError(f"frames_per_chunk must be a positive integer, "
                         f"not {frames_per_chunk!r}")
    options = lazy.decode_options(rescale, color, backend, threads, on_error)
    fpc = int(frames_per_chunk)
    if display:
        return _display_array(source, series, fpc, window, voi, options)
    return _source_array(source, series, fpc, options)


def _source_array(source: Any, series: int | str | None, fpc: int,
                  options: lazy.Decode) -> dask.array.Array:
    """:func:`to_dask` (not displayed) for each kind of source."""
    from ..series import Series

    if isinstance(source, Series):
        if series is not None:
            raise ValueError("series= picks one series of a folder; "
                             "a Series was given")
        return _series_array(source, fpc, options)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if is_url(path):
            return _url_array(path, series, fpc, options)
        if os.path.isdir(path) or os.path.basename(path).upper() == "DICOMDIR":
            return _series_array(_pick_series(path, series), fpc, options)
        if series is not None:
            raise ValueError("series= picks one series of a folder, DICOMDIR or "
                             f"list of files; {path!r} is a single file")
        return _file_array(path, fpc, options)
    in_memory = (isinstance(source, (bytes, bytearray, memoryview, DicomImage))
                 or hasattr(source, "read") or hasattr(source, "file_meta"))
    if isinstance(source, Iterable) and not in_memory:
        paths = list(source)
        if paths and all(isinstance(p, (str, os.PathLike)) for p in paths):
            return _series_array(_pick_series([os.fspath(p) for p in paths], series),
                                 fpc, options)
    raise TypeError(f"to_dask needs a file path, a folder, a list of paths or a "
                    f"dicomio.series.Series, not {type(source).__name__}: its tasks "
                    "reopen the file by path on the workers")

def _display_array(source: Any, series: Any, fpc: int, window: Any, voi: Any,
                   options: lazy.Decode) -> dask.array.Array:
    from ..series import Series
    from .display import display_array

    if isinstance(source, (str, os.PathLike)) and not (
            os.path.isdir(source) or os.path.basename(source).upper() == "DICOMDIR"):
        path = os.fspath(source)
        with DicomImage(path, backend=options.backend) as img:
            n = img.n_frames
        return display_array([(path, i) for i in range(n)], single=n == 1,
                             frames_per_chunk=fpc, window=window, voi=voi,
                             backend=options.backend, threads=options.threads,
                             on_error=options.on_error)
    if isinstance(source, Series):
        chosen = source
    elif isinstance(source, (str, os.PathLike)):
        chosen = _pick_series(os.fspath(source), series)
    else:
        chosen = _pick_series([os.fspath(p) for p in source], series)
    return display_array(list(chosen.slices), single=False, frames_per_chunk=fpc,
                         window=window, voi=voi, backend=options.backend,
                         threads=options.threads, on_error=options.on_error)


def _url_array(url: str, series: int | str | None, fpc: int,
               options: lazy.Decode) -> dask.array.Array:
    """A URL: tasks reopen it by URL; credentials stay in this process."""
    from ..sources.remote import parse_dicomweb, remember, split_credentials

    remember(url)
    clean = split_credentials(url)[0]
    parsed = parse_dicomweb(clean)
    if parsed is not None and parsed.level != "instance":
        return _series_array(_pick_series(clean, series), fpc, options)
    if series is not None:
        raise ValueError("series= picks one series of a study or series URL; "
                         f"{clean!r} is a single instance or file")
    return _file_array(clean, fpc, options)


def _file_array(path: str, fpc: int, options: lazy.Decode) -> dask.array.Array:
    path = path if is_url(path) else os.path.abspath(path)
    from ..image.video import chunk_bounds, gop_chunks

    with DicomImage(path, backend=options.backend, color=options.color) as img:
        n = img.n_frames
        frame_shape = tuple(img.frame_shape)
        dtype = np.dtype(img.rescaled_dtype if options.rescale else img.dtype)
        # A video decodes from a keyframe: its chunks are whole GOPs.
        gops = chunk_bounds(img)
    bounds = gop_chunks(gops, fpc) if gops and n > 1 else None
    name = "dicomio-file-" + lazy.graph_token([(path, 0, None)], fpc, options)
    if n == 1:
        # Like imread: a single frame is a 2D (or colour 3D) image.
        return lazy.chunked_array(
            name, 1, frame_shape, dtype, 1,
            lambda a, b: (lazy.read_file_chunk, path, 0, None, options),
            stacked=False)
    return lazy.chunked_array(
        name, n, frame_shape, dtype, fpc,
        lambda a, b: (lazy.read_file_chunk, path, a, b, options), bounds=bounds)


def _series_array(series: Series, fpc: int, options: lazy.Decode) -> dask.array.Array:
    if getattr(series, "layout", None) is not None:
        return _layout_array(series, options)
    # The series' own recipe per slice: path, frame, the modality LUT to
    # apply (None: none) and the dtype read() would give.
    items, dtype, frame_shape = lazy.series_items(
        series, rescale=options.rescale, color=options.color,
        backend=options.backend, absolute=True)
    name = "dicomio-series-" + lazy.graph_token(items, frame_shape, dtype.str, fpc,
                                                options)
    return lazy.chunked_array(
        name, len(items), frame_shape, dtype, fpc,
        lambda a, b: (lazy.read_chunk, tuple(items[a:b]), frame_shape, dtype.str,
                      options))


def _layout_array(series: Series, options: lazy.Decode) -> dask.array.Array:
    """A 4-D series or a mosaic: one chunk per item of axis 0 (a volume)."""
    da = lazy.require_dask()
    import dask

    tasks = series.slice_tasks(rescale=options.rescale, color=options.color,
                               backend=options.backend,  # type: ignore[arg-type]
                               on_error=options.on_error)
    shape = tuple(int(s) for s in series.shape[1:])
    dtype = np.dtype(tasks[0].args[3])
    chunks = [da.from_delayed(dask.delayed(task, pure=True)(), shape=shape, dtype=dtype)
              for task in tasks]
    return da.stack(chunks)


def _pick_series(source: str | list[str], pick: int | str | None) -> Series:
    """The one series in a folder, DICOMDIR or file list (or the one picked)."""
    from ..series import scan

    result = scan(source)
    found = result.series
    where = repr(source) if isinstance(source, str) else "the files given"
    if not found:
        skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
        raise SeriesError(f"no image series in {where}"
                          + (f" (skipped: {skips})" if skips else ""))
    if pick is None:
        if len(found) == 1:
            return found[0]
        raise SeriesError(
            f"{where} holds {len(found)} series; pass series= (an index or a key) "
            "or a Series from dicomio.series.scan():\n" + _listing(found))
    if isinstance(pick, (int, np.integer)) and not isinstance(pick, bool):
        if not -len(found) <= int(pick) < len(found):
            raise SeriesError(f"series index {pick} out of range: {len(found)} "
                              f"series in {where}:\n" + _listing(found))
        return found[int(pick)]
    chosen = [s for s in found if s.key == pick] or [s for s in found if s.uid == pick]
    if len(chosen) != 1:
        what = "no series" if not chosen else f"{len(chosen)} volumes for"
        raise SeriesError(f"{what} {pick!r} in {where}:\n" + _listing(found))
    return chosen[0]


def _listing(found: Sequence[Series]) -> str:
    return "\n".join(f"  [{i}] {s.label} {s.modality} {s.n_slices} slice(s) "
                     f"key={s.key}" for i, s in enumerate(found))


