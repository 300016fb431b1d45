"""The ``dicomio`` command line: the parser and :func:`main`.

Every command's errors end here: a :class:`~dicomio.errors.DicomioError`, an
unusable input or an OS error is one line, ``dicomio: PATH: reason``, and exit
status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def _run(module: str) -> Any:
    """The ``run`` function of a command module, imported when called."""
    def call(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(f"dicomio.cli.{module}").run(args) or 0)
    return call


def build_parser() -> argparse.ArgumentParser:
    """The ``dicomio`` argument parser."""
    from .. import __version__

    p = argparse.ArgumentParser(prog="dicomio", description=(
        "Decode every DICOM transfer syntax; inspect, decompress, transcode, convert, "
        "view."))
    p.add_argument("--version", action="version", version=f"dicomio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and no warnings (errors still show)")

    d = sub.add_parser(
        "doctor", parents=[common],
        help="live table: transfer syntax x backend, verified on the bundled samples",
        description="Decode the bundled sample of every Transfer Syntax with every "
        "backend that claims it and print, per cell, verified (ok), failing (FAIL) "
        "or not installed (missing, with the pip command that adds it). Exit status "
        "1 only when a backend fails its sample or a syntax has no working backend.")
    d.add_argument("--json", action="store_true",
                   help="machine-readable output, with versions, timings, errors "
                   "and install commands")
    d.add_argument("--no-verify", action="store_true",
                   help="only check which backends import; decode nothing")
    d.set_defaults(func=_run("doctor"))

    i = sub.add_parser(
        "info", parents=[common],
        help="transfer syntax, geometry, frames, colour report; for a folder, a "
        "table of its series",
        description="Describe a DICOM file from its header (nothing is decoded): "
        "Transfer Syntax, frames, shape and dtype, spacing, rescale, the colour "
        "report and the backend that would decode it. For a folder or DICOMDIR, "
        "a table of the series found.")
    i.add_argument("path", help="a DICOM file, a folder or a DICOMDIR")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=_run("info"))

    from .transcode import add_parser as add_transcode
    from .transcode import add_writer_options

    c = sub.add_parser(
        "decompress", parents=[common],
        help="write uncompressed copies (files or folders)",
        description="Write Explicit VR Little Endian copies whose Photometric "
        "Interpretation and Planar Configuration match the pixels written. The input "
        "is only read. A folder is walked recursively and its layout kept; files "
        "without the DICM prefix are skipped.")
    c.add_argument("input", help="a DICOM file or a folder")
    c.add_argument("output", help="for a file: the file to write, or an existing "
                   "folder to write into; for a folder: the output folder")
    add_writer_options(c, "decoded")
    c.set_defaults(func=_run("decompress"))


    add_transcode(sub, common, _run("transcode"))

    _add_convert(sub, common)

    w = sub.add_parser(
        "view", parents=[common], help="open in napari with the dicomio reader",
        description="Open DICOM files, folders and DICOMDIRs in napari with the "
        "dicomio reader (pip install \"dicomio[napari]\"). Every path is checked "
        "before napari starts.")
    w.add_argument("paths", nargs="+", help="DICOM files, folders or DICOMDIRs")
    w.add_argument("--patient-space", action="store_true",
                   help="show the volumes together in patient space (3D), so "
                        "differently oriented series overlap")
    w.set_defaults(func=_run("view"))
    return p


def error_line(exc: BaseException) -> str:
    """``PATH: reason`` for an error about a path, else the error's text."""
    from ..errors import DicomioError

    text = str(exc)
    path = getattr(exc, "path", None) if isinstance(exc, DicomioError) else None
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{os.fspath(exc.filename)}: {exc.strerror or text}"
    if path:
        prefix = f"file {path!r}"
        if text.startswith(prefix):
            text = text[len(prefix):].lstrip(",: ")
        return f"{path}: {text}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dicomio`` console script."""
    args = build_parser().parse_args(argv)
    from ..errors import DicomioError
    from ._inputs import InputError

    try:
        return int(args.func(args) or 0)
    except (DicomioError, InputError) as exc:
        sys.stderr.write(f"dicomio: {error_line(exc)}\n")
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # unreadable input, unwritable output, full disk
        sys.stderr.write(f"dicomio: {error_line(exc)}\n")
        return 2
    except ImportError as exc:  # an optional part missing (napari, imageio)
        sys.stderr.write(f"dicomio: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("dicomio: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def _add_convert(sub: Any, common: argparse.ArgumentParser) -> None:
    """``dicomio convert``: its options."""
    v = sub.add_parser(
        "convert", parents=[common],
        help="export a file or folder to .nii.gz/.png/.tif/.npy",
        description="Decode a file (all frames) or a folder holding one series and "
        "write it with NumPy (.npy) or imageio (.tif, .png, .jpg). PNG and JPEG get "
        "the 8-bit display image (window, MONOCHROME1 inversion, palette, ICC "
        "profile), .tif and .npy the stored values, unless told otherwise. PNG and "
        "JPEG hold one image, so frames and slices become NAME_0000.png, ... "
        "NIfTI (.nii, .nii.gz, needs nibabel) gets 4-D series (fMRI, DWI, multi-echo,"
        " Siemens mosaics) with qform/sform, a JSON sidecar and .bval/.bvec for DWI.")
    v.add_argument("input", help="a DICOM file, or a folder with one series")
    v.add_argument("output", help="OUT.nii.gz, OUT.nii, OUT.npy, OUT.tif, OUT.png "
                   "or OUT.jpg")
    v.add_argument("--series", type=int, default=None,
                   help="NIfTI: which series of the folder (an index of the list "
                   "printed when there are several)")
    v.add_argument("--raw", action="store_true",
                   help="keep the stored values (16-bit PNG, TIFF) instead of the "
                   "display image")
    v.add_argument("--display", action="store_true",
                   help="write the 8-bit display image to .tif / .npy too")
    v.add_argument("--window", nargs=2, type=float, metavar=("C", "W"), default=None,
                   help="display through this window (center, width) instead of "
                   "the file's")
    v.add_argument("--voi", type=int, default=None, metavar="K",
                   help="display through the file's VOI preset K (0 = the first)")
    v.add_argument("--rescale", action="store_true",
                   help="write modality values (Hounsfield units for CT), not the "
                   "display image")
    v.add_argument("--on-error", choices=("raise", "recover", "skip", "fill"),
                   default="raise",
                   help="a frame or slice that fails (e.g. a truncated file): fail "
                   "(raise, the default), write it as 0 (fill), leave it out (skip), "
                   "or keep what a truncated frame holds and the rest as 0 "
                   "(recover); a warning names the frames")
    v.set_defaults(func=_run("convert"))
