"""``dicomio info``: a file's header facts, or a folder's series as a table.

Nothing is decoded: the Transfer Syntax, frames, shape and dtype, spacing,
rescale, the colour report and the backend that would decode come from the
header. A folder or DICOMDIR is scanned (headers only) and its series listed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..dataset.titles import series_title
from ..sources.remote import parse_dicomweb, redact
from ._output import Reporter

__all__ = ["file_info", "folder_info", "print_info", "print_series_table", "run",
           "series_info"]


def file_info(path: str, reporter: Reporter) -> dict[str, Any]:
    """What ``info`` says about one file (the ``--json`` object)."""
    from ..image import DicomImage

    with reporter.warnings_of(path):
        img = DicomImage(path)
    ds = img.dataset
    return {
        "path": redact(path),
        "transfer_syntax": {"uid": img.transfer_syntax.uid,
                            "keyword": img.transfer_syntax.keyword},
        "sop_class": str(ds.get("SOPClassUID", "")),
        "modality": str(ds.get("Modality", "")),
        "frames": img.n_frames,
        "shape": list(img.shape),
        "dtype": str(img.dtype),
        "bits": {"allocated": img.spec.bits_allocated, "stored": img.spec.bits_stored,
                 "signed": bool(img.spec.pixel_representation)},
        "pixel_spacing": img.pixel_spacing,
        "rescale": img.rescale_params,
        "photometric": img.photometric,
        "decoder": img.planned_decoder,
        "warnings": list(img.warnings),
    }


def series_info(s: Any) -> dict[str, Any]:
    """What ``info`` says about one series of a folder."""
    g = s.geometry
    info = {
        "uid": s.uid,
        "title": series_title(s.description, s.modality, s.number,
                              (s.part, s.n_parts)),
        "description": s.description,
        "modality": s.modality,
        "number": s.number,
        "slices": s.n_slices,
        "shape": list(s.shape),
        "transfer_syntaxes": sorted(s.transfer_syntaxes),
        "spacing_mm": [float(x) for x in g.spacing] if g is not None else None,
        "warnings": list(s.warnings),
    }
    layout = getattr(s, "layout", None)
    if layout is not None:
        # A 4-D series or mosaics: "slices" counts files (or frames).
        info["volumes"] = layout.n_volumes
        info["volume_axis"] = list(layout.axis)
        info["mosaic"] = layout.mosaic is not None
    return info


def folder_info(path: str, reporter: Reporter) -> dict[str, Any]:
    """What ``info`` says about a folder or DICOMDIR (the ``--json`` object)."""
    from ._inputs import scan

    result = scan(path, reporter)
    with reporter.warnings_of(path):  # shapes may open a file
        series = [series_info(s) for s in result.series]
    info: dict[str, Any] = {
        "path": redact(path),
        "files": result.n_files,
        "series": series,
        "skipped": result.skipped_counts,
    }
    if result.errors:
        info["errors"] = dict(result.errors)
    return info


def print_info(info: dict[str, Any], out: Any, indent: str = "") -> None:
    """``key: value`` lines, nested; empty values and sections left out."""
    for key, value in info.items():
        if value is None or (isinstance(value, (list, dict)) and not value):
            continue
        if isinstance(value, dict):
            out.write(f"{indent}{key}:\n")
            print_info(value, out, indent + "  ")
        elif isinstance(value, list) and isinstance(value[0], dict):
            out.write(f"{indent}{key}:\n")
            for i, item in enumerate(value):
                out.write(f"{indent}  [{i}]\n")
                print_info(item, out, indent + "    ")
        elif isinstance(value, list) and key in ("notes", "warnings"):
            out.write(f"{indent}{key}:\n")
            for item in value:
                out.write(f"{indent}  - {item}\n")
        else:
            out.write(f"{indent}{key}: {value}\n")


def print_series_table(info: dict[str, Any], out: Any) -> None:
    """One row per series; then the skipped files by reason, if any."""
    series = info["series"]
    out.write(f"{info['path']}: {len(series)} series in {info['files']} files\n")
    if series:
        head = ["#", "series", "slices", "shape", "spacing mm", "transfer syntax"]
        rows = []
        for i, s in enumerate(series, 1):
            spacing = s["spacing_mm"]
            rows.append([
                str(i), s["title"] or s["uid"], str(s["slices"]),
                "x".join(str(d) for d in s["shape"]),
                "x".join(f"{v:.4g}" for v in spacing) if spacing else "",
                ", ".join(_keyword(uid) for uid in s["transfer_syntaxes"]),
            ])
        widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
        for r in [head, *rows]:
            out.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
    skipped = info.get("skipped") or {}
    if skipped:
        out.write("skipped: " + "; ".join(f"{n} {reason}" for reason, n in
                                          sorted(skipped.items())) + "\n")
    for where, error in (info.get("errors") or {}).items():
        out.write(f"unreadable: {where}: {error}\n")


def _keyword(uid: str) -> str:
    from ..tsyntax import TRANSFER_SYNTAXES

    ts = TRANSFER_SYNTAXES.get(uid)
    return ts.keyword if ts is not None else uid


def run(args: argparse.Namespace) -> int:
    """``dicomio info``."""
    from ._inputs import check_input

    path = args.path
    check_input(path)
    reporter = Reporter(quiet=args.quiet)
    parsed = parse_dicomweb(path)  # a DICOMweb study or series: several images
    folder = (os.path.isdir(path) or os.path.basename(path).upper() == "DICOMDIR"
              or (parsed is not None and parsed.level != "instance"))
    info = folder_info(path, reporter) if folder else file_info(path, reporter)
    if args.json:
        json.dump(info, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif folder:
        print_series_table(info, sys.stdout)
    else:
        # The file's warnings went to stderr as it was opened.
        print_info({k: v for k, v in info.items() if k != "warnings"}, sys.stdout)
    return 0
