"""``dicomio doctor``: every Transfer Syntax x every backend, verified live.

Each cell is in one of three states:

* **verified**: the backend decoded the bundled sample of that syntax right
  (lossless: bit-exact; lossy: PSNR >= 30 dB against the source);
* **failing**: it claims the syntax and returned wrong pixels or raised;
* **not installed**: the library (or the part of it the syntax needs) is not
  installed; ``install`` is the exact pip command.

The exit status is 1 only for a failing cell or a syntax that no installed
backend decodes, except where that is known and said: a row with ``note``
(a retired JPEG process no backend decodes, the reason in the note) and the
optional extras (video, the GPL libjpeg for the hierarchical processes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._output import unicode_ok, use_color

__all__ = ["doctor_rows", "print_doctor", "run"]

VERIFIED, FAILING, NOT_INSTALLED = "verified", "failing", "not installed"
#: States of ``--no-verify`` (nothing decoded) and of syntaxes without sample.
INSTALLED, UNTESTED = "installed", "untested"


def doctor_rows(verify: bool = True) -> list[dict[str, Any]]:
    """The live support table: every Transfer Syntax x every backend.

    Each row has the syntax (``uid``, ``keyword``, ``family``, ``lossy``,
    ``sample``) and ``backends``: a cell per backend that claims the syntax.
    A cell's ``status`` is ``"verified"``, ``"failing"`` (with ``error``, or
    the PSNR / ``exact`` that fell short) or ``"not installed"`` (with
    ``install``, the pip command to run); ``"installed"`` with
    ``verify=False`` and ``"untested"`` for a syntax with no bundled sample.
    A backend that cannot decode the syntax has no cell.
    """
    from .. import samples
    from ..backends import registry
    from ..image import DicomImage
    from ..tsyntax import TRANSFER_SYNTAXES

    avail = samples.all_paths()
    rows = []
    for ts in TRANSFER_SYNTAXES.values():
        row: dict[str, Any] = {"uid": ts.uid, "keyword": ts.keyword,
                               "family": ts.family, "lossy": ts.lossy,
                               "sample": ts.keyword in avail, "backends": {}}
        if not any(ts.uid in registry.get(n).syntaxes for n in registry.names()):
            row["note"] = _no_decoder(ts)
        img = None
        if ts.keyword in avail:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = DicomImage(avail[ts.keyword])
        for name in registry.names():
            be = registry.get(name)
            if ts.uid not in be.syntaxes:
                continue
            if img is not None and not be.supports(img.spec):
                continue
            install = be.install_for(ts.uid)
            cell: dict[str, Any]
            if install is not None:
                cell = {"status": NOT_INSTALLED, "install": install}
            elif img is None:
                cell = {"status": UNTESTED}
            elif not verify:
                cell = {"status": INSTALLED}
            else:
                cell = _verify(img, ts.keyword, name, samples)
            cell["version"] = be.version()
            row["backends"][name] = cell
        rows.append(row)
    return rows


def _no_decoder(ts: Any) -> str:
    """Why a known syntax has no backend at all (retired JPEG processes)."""
    from ..backends import registry

    try:
        registry.candidates(_spec(ts))
    except Exception as exc:  # the registry's own words, without the prefix
        return str(getattr(exc, "message", exc))
    return "no backend claims it"  # pragma: no cover - a backend claims it


def _spec(ts: Any) -> Any:
    from ..pixels.spec import PixelSpec

    return PixelSpec(transfer_syntax=ts, rows=1, columns=1)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C libraries writing to file descriptor 2 (python-gdcm prints
    "Unsupported JPEG data precision 12" and then decodes 12-bit JPEG fine)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def _verify(img: Any, keyword: str, name: str, samples: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        with _quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = img.read(backend=name)
    except Exception as exc:  # reported in the table, not raised
        return {"status": FAILING, "error": f"{type(exc).__name__}: {exc}"[:300]}
    ms = (time.perf_counter() - t0) * 1000
    expected = samples.expected(keyword)
    if expected is not None:
        ok = arr.shape == expected.shape and np.array_equal(arr, expected)
        return {"status": VERIFIED if ok else FAILING, "exact": ok,
                "ms": round(ms, 2)}
    source = samples.source(keyword)
    if arr.shape != source.shape:
        return {"status": FAILING, "error": f"shape {arr.shape} != {source.shape}"}
    peak = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
    if img.spec.bits_stored < arr.dtype.itemsize * 8:
        peak = float((1 << img.spec.bits_stored) - 1)
    psnr = _psnr(arr, source, peak)
    return {"status": VERIFIED if psnr >= 30.0 else FAILING,
            "psnr_db": round(psnr, 1), "ms": round(ms, 2)}


#: What a cell prints, and its colour on a terminal (ANSI SGR code).
CELLS = {
    VERIFIED: ("ok", "32"),
    FAILING: ("FAIL", "1;31"),
    NOT_INSTALLED: ("missing", "33"),
    UNTESTED: ("untested", "2"),
    INSTALLED: ("yes", "32"),
}


def _missing(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """pip command -> backend -> the syntaxes it would add."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        for name, cell in r["backends"].items():
            if cell["status"] == NOT_INSTALLED:
                out.setdefault(cell["install"], {}).setdefault(name, []).append(
                    r["keyword"])
    return out


def print_doctor(rows: list[dict[str, Any]], out: Any) -> None:
    """The table, its legend (with what to install) and the versions."""
    from ..backends import registry

    names = registry.names()
    color = use_color(out)

    def paint(text: str, width: int, code: str) -> str:
        # Pad first so escape codes never upset the column widths.
        padded = text.ljust(width)
        return f"\x1b[{code}m{padded}\x1b[0m" if color and code else padded

    decoded = rows
    key_w = max(len("Transfer Syntax"), *(len(r["keyword"]) for r in decoded)) + 2
    col_w = {n: max(len(n), 8) + 2 for n in names}
    head = "Transfer Syntax".ljust(key_w) + "".join(n.ljust(col_w[n]) for n in names)
    out.write(paint(head.rstrip(), 0, "1") + "\n")
    out.write(("─" if unicode_ok(out) else "-") * len(head.rstrip()) + "\n")
    family = None
    for r in decoded:
        if family is not None and r["family"] != family:
            out.write("\n")  # one block per codec family
        family = r["family"]
        line = r["keyword"].ljust(key_w)
        for n in names:
            cell = r["backends"].get(n)
            if cell is None:
                line += paint("-", col_w[n], "2")
                continue
            text, code = CELLS.get(cell["status"], (cell["status"], ""))
            line += paint(text, col_w[n], code)
        out.write(line.rstrip() + "\n")
    _legend(rows, out, paint)
    versions = []
    for n in names:
        be = registry.get(n)
        if be.available():
            versions.append(f"{n} {be.version()}".strip())
    out.write("\ninstalled: " + "; ".join(versions) + "\n")


def _legend(rows: list[dict[str, Any]], out: Any, paint: Any) -> None:
    statuses = {c["status"] for r in rows for c in r["backends"].values()}
    out.write("\n")
    out.write(paint("ok", 9, CELLS[VERIFIED][1]) + "verified: decoded the bundled "
              "sample right (lossless: bit-exact; lossy: PSNR >= 30 dB)\n")
    out.write(paint("FAIL", 9, CELLS[FAILING][1]) + "failing: wrong pixels or an "
              "error on a sample this backend claims (exit status 1)\n")
    out.write(paint("missing", 9, CELLS[NOT_INSTALLED][1]) + "not installed"
              + (": nothing missing\n" if NOT_INSTALLED not in statuses else
                 "; to add it:\n"))
    for command, backends in _missing(rows).items():
        what = "; ".join(f"{n} on {_syntaxes(kws)}" for n, kws in backends.items())
        out.write(f"{'':9}  {command}\n{'':9}    ({what})\n")
    if UNTESTED in statuses:
        out.write(paint("untested", 9, CELLS[UNTESTED][1])
                  + "installed, no bundled sample to verify it on\n")
    if INSTALLED in statuses:
        out.write(paint("yes", 9, CELLS[INSTALLED][1])
                  + "installed (--no-verify: nothing decoded)\n")
    out.write(paint("-", 9, "2") + "this backend does not decode this syntax\n")
    for r in rows:
        if "note" in r:
            out.write(f"{'':9}  {r['keyword']}: {r['note']}\n")


def _syntaxes(keywords: list[str]) -> str:
    if len(keywords) <= 3:
        return ", ".join(keywords)
    return f"{len(keywords)} syntaxes: {', '.join(keywords[:2])}, ..."


def problems(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(failing cells as ``keyword/backend``, syntaxes with no working backend)."""
    failing = [f"{r['keyword']}/{n}" for r in rows for n, c in r["backends"].items()
               if c["status"] == FAILING]
    ok = {VERIFIED, INSTALLED, UNTESTED}
    unserved = [r["keyword"] for r in rows if not any(
        c["status"] in ok for c in r["backends"].values())
        and not _optional_missing(r) and "note" not in r]
    return failing, unserved


def _optional_missing(row: dict[str, Any]) -> bool:
    """Video needs the [video] extra and the hierarchical JPEG processes the
    GPL libjpeg ([pylibjpeg-gpl]): without them the table says what to
    install, and the core install is still healthy."""
    from ..tsyntax import lookup

    cells = row["backends"].values()
    optional = row["family"] == "video" or lookup(row["uid"]).retired
    return optional and bool(cells) and all(
        c["status"] == NOT_INSTALLED for c in cells)


def run(args: argparse.Namespace) -> int:
    """``dicomio doctor``."""
    rows = doctor_rows(verify=not args.no_verify)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_doctor(rows, sys.stdout)
    failing, unserved = problems(rows)
    for where in failing:
        keyword, name = where.split("/")
        cell = next(r for r in rows if r["keyword"] == keyword)["backends"][name]
        detail = cell.get("error") or (f"PSNR {cell['psnr_db']} dB" if "psnr_db" in cell
                                       else "pixels differ from the expected ones")
        sys.stderr.write(f"dicomio: doctor: {keyword} with {name} is failing: "
                         f"{detail}\n")
    if unserved:
        sys.stderr.write(f"dicomio: doctor: no working backend for: "
                         f"{', '.join(unserved)}\n")
    return 1 if (failing or unserved) else 0
