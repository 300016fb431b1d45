"""``dicomio convert``: a file or a one-series folder to .npy, .tif, .png, .jpg.

PNG and JPEG get the 8-bit display image (``docs/display.md``) unless
``--raw`` or ``--rescale`` asks for values; ``.tif`` and ``.npy`` get the
stored values unless ``--display``, ``--window`` or ``--voi`` asks for the
display image. PNG and JPEG hold one image, so frames and slices become ``NAME_0000.png``,
``NAME_0001.png``, ... Formats are checked against the decoded dtype before
anything is written: no half-written set of files.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any

import numpy as np

from ._inputs import check_input
from ._output import Reporter

__all__ = ["FORMATS", "run"]

#: Output formats: suffix -> sample dtypes the format stores (None: any).
FORMATS: dict[str, tuple[str, ...] | None] = {
    ".npy": None,
    ".tif": None,
    ".tiff": None,
    ".png": ("uint8", "uint16"),
    ".jpg": ("uint8",),
    ".jpeg": ("uint8",),
}

# A series read shows progress in steps of this many slices (at least).
_MIN_STEP = 8


def _usage_error(text: str) -> int:
    sys.stderr.write(f"dicomio: {text}\n")
    return 2


def run_nifti(args: argparse.Namespace) -> int:
    """``convert FOLDER out.nii[.gz]``: one series, 4-D joined, with sidecars."""
    from ..encode.nifti import write_nifti
    from ..series import scan

    on_error = getattr(args, "on_error", "raise")
    if on_error == "skip":
        sys.stderr.write("dicomio: --on-error skip cannot write NIfTI: the volume "
                         "keeps every slice (a missing one would shift the rest in "
                         "the affine); use fill or recover\n")
        return 2
    found = scan(args.input, four_d=True).series
    if not found:
        sys.stderr.write(f"dicomio: no image series in {args.input}\n")
        return 2
    if args.series is None and len(found) > 1:
        listing = "\n".join(f"  [{i}] {s.label} {s.modality} "
                            f"{'x'.join(map(str, s._header_shape()))}"
                            for i, s in enumerate(found))
        sys.stderr.write(f"dicomio: {args.input} holds {len(found)} series; pick "
                         f"one with --series N:\n{listing}\n")
        return 2
    pick = args.series or 0
    if not -len(found) <= pick < len(found):
        sys.stderr.write(f"dicomio: --series {pick} out of range: {len(found)} "
                         "series\n")
        return 2
    series = found[pick]
    with Reporter(quiet=args.quiet).warnings_of(args.input):
        written = write_nifti(series, args.output, rescale=True, on_error=on_error)
    shape = "x".join(str(d) for d in series.shape)
    sys.stdout.write(f"wrote {args.output} ({shape}) and "
                     f"{', '.join(p.name for p in written[1:]) or 'no sidecar'}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    """``dicomio convert``."""
    if args.output.lower().endswith((".nii", ".nii.gz")):
        return run_nifti(args)
    src, dst = args.input, args.output
    stem, ext = os.path.splitext(dst)
    if ext.lower() not in FORMATS:
        return _usage_error(f"{dst}: cannot write {ext or 'a file without suffix'}; "
                            f"convert writes {', '.join(FORMATS)}")
    allowed = FORMATS[ext.lower()]
    if ext.lower() != ".npy" and importlib.util.find_spec("imageio") is None:
        return _usage_error(f"{dst}: writing {ext} needs imageio: "
                            'pip install "dicomio[imageio]" (or write .npy)')
    display = _display_mode(args, allowed)
    if display is None:
        return 2
    opts: dict[str, Any] = ({"display": True, "window": args.window, "voi": args.voi}
                            if display else {"rescale": args.rescale})
    opts["on_error"] = getattr(args, "on_error", "raise")
    check_input(src)
    reporter = Reporter(quiet=args.quiet)
    try:
        if os.path.isdir(src):
            arr = _read_folder(src, opts, reporter)
            stacked = True
        else:
            from ..image import DicomImage

            with reporter.warnings_of(src), DicomImage(src) as img:
                arr = img.read(**opts)
                stacked = img.n_frames > 1
    except (ValueError, IndexError) as exc:
        from ..errors import DicomioError

        if isinstance(exc, DicomioError):
            raise
        return _usage_error(f"{src}: {exc}")  # a bad --window or --voi
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if allowed is not None and arr.dtype.name not in allowed:
        # Checked before writing anything: no half-written set of files.
        return _usage_error(
            f"{dst}: {ext} stores {' or '.join(allowed)} samples and this image "
            f"is {arr.dtype}; write .tif or .npy to keep the values, or leave out "
            "--raw / --rescale for the 8-bit display image")
    if ext.lower() == ".npy":
        np.save(dst, arr)
    else:
        from ..imageio_plugin.export import export_image

        if stacked and allowed is not None:
            # PNG and JPEG hold one image: one file per frame or slice.
            for i, frame in enumerate(arr):
                export_image(f"{stem}_{i:04d}{ext}", frame)
            sys.stdout.write(f"wrote {len(arr)} files {stem}_####{ext} "
                             f"{arr.shape[1:]} {arr.dtype}\n")
            return 0
        export_image(dst, arr)
    sys.stdout.write(f"wrote {dst} {arr.shape} {arr.dtype}\n")
    return 0


def _display_mode(args: argparse.Namespace,
                  allowed: tuple[str, ...] | None) -> bool | None:
    """Whether to write the display image (None: conflicting options, said)."""
    asked = args.display or args.window is not None or args.voi is not None
    if args.raw and asked:
        _usage_error("--raw keeps stored values; it cannot go with --display, "
                     "--window or --voi")
        return None
    if args.rescale and asked:
        _usage_error("--rescale writes modality values; the display image "
                     "(--display, --window, --voi) already applies them")
        return None
    # PNG and JPEG are for looking at: the display image unless asked otherwise.
    return asked or (allowed is not None and not args.raw and not args.rescale)


def _read_folder(src: str, opts: dict[str, Any], reporter: Reporter) -> np.ndarray:
    """The one series of ``src``, decoded, with progress on a terminal."""
    from ..dataset.titles import series_title
    from ..errors import SeriesError
    from ._inputs import scan

    result = scan(src, reporter)
    found = result.series
    if not found:
        skips = ", ".join(f"{n} {r}" for r, n in result.skipped_counts.items())
        raise SeriesError(f"no image series in {src}"
                          + (f" (skipped: {skips})" if skips else ""))
    if len(found) > 1:
        listing = "; ".join(
            f"{series_title(s.description, s.modality, s.number, (s.part, s.n_parts))}"
            f" [{s.n_slices} slices]" for s in found)
        raise SeriesError(f"{src} holds {len(found)} series ({listing}); convert "
                          "takes a folder with one")
    (s,) = found
    return _read_series(s, src, opts, reporter)


def _read_series(s: Any, src: str, opts: dict[str, Any],
                 reporter: Reporter) -> np.ndarray:
    n = s.n_slices
    step = max(_MIN_STEP, -(-n // 50))  # about 50 updates, each a parallel batch
    rescale = bool(opts.get("rescale"))
    on_error = opts.get("on_error", "raise")
    with reporter.progress(n, "decoding", unit="slice") as bar, \
            reporter.warnings_of(src):
        # A display read in one go: slices without VOI share the series' range
        # (and a skipping read, whose length is known only at the end).
        if n <= step or bar.disable or opts.get("display") or on_error == "skip":
            arr: np.ndarray = s.read(**opts)
            bar.update(n)
            return arr
        first = s.read(slice(0, step), rescale=rescale, on_error=on_error)
        _check_memory(n * first[0].nbytes)
        arr = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        arr[:step] = first
        bar.update(step)
        for start in range(step, n, step):
            stop = min(n, start + step)
            arr[start:stop] = s.read(slice(start, stop), rescale=rescale,
                                     on_error=on_error)
            bar.update(stop - start)
    return arr


def _check_memory(nbytes: int) -> None:
    # The same cap a whole-series read applies, for the batched read.
    from ..errors import MemoryLimitError
    from ..image import memory_limit

    limit = memory_limit()
    if nbytes > limit:
        raise MemoryLimitError(
            f"the decoded series would take {nbytes / 2**20:.1f} MiB, over the "
            f"{limit / 2**20:.1f} MiB limit (set DICOMIO_MEMORY_LIMIT)")
