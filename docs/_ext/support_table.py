"""Sphinx extension: the live support table, measured while the docs build.

``support.md`` holds three directives, each replaced by a table:

``support-table``
    Every Transfer Syntax against every backend, from
    :func:`dicomio.cli.doctor_rows`: each installed backend decodes the
    bundled sample of each syntax it claims, and the cell says whether the
    pixels came out right (the same check as ``dicomio doctor``).
``backend-table``
    Every backend: installed version, whether it releases the GIL, what to
    install when it is missing.
``backend-order``
    The order :mod:`dicomio.backends.registry` tries backends in, per codec family.

Nothing is written to the source tree, and ``support.md`` is rebuilt on
every run so the page never shows a stale measurement.
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

#: What a cell of the syntax x backend table shows, per doctor status.
CELL = {
    "verified": "✓",
    "failing": "✗ failing",
    "not installed": "not installed",
    "untested": "no sample",
    "installed": "installed",
}

FAMILY_NAMES = {
    "native": "Uncompressed",
    "deflate": "Deflate",
    "rle": "RLE",
    "jpeg": "JPEG",
    "jpegls": "JPEG-LS",
    "jpeg2k": "JPEG 2000",
    "htj2k": "HTJ2K",
    "jpegxl": "JPEG XL",
    "video": "Video",
}


#: The prefix every DICOM Transfer Syntax UID shares.
UID_ROOT = "1.2.840.10008"


def _short_uid(uid: str) -> str:
    return uid[len(UID_ROOT) + 1:] if uid.startswith(UID_ROOT + ".") else uid


@lru_cache(maxsize=1)
def _measure() -> tuple[list[dict[str, Any]], str]:
    """Run the doctor once per build process (all directives share it)."""
    from dicomio import __version__
    from dicomio.cli import doctor_rows

    rows = doctor_rows(verify=True)
    stamp = (
        f"Measured by dicomio {__version__} on "
        f"{_dt.date.today().isoformat()}, Python {platform.python_version()} "
        f"on {sys.platform} ({platform.machine()})."
    )
    return rows, stamp


def _cell(content: Any) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, nodes.Node):
        entry += nodes.paragraph("", "", content)
    else:
        entry += nodes.paragraph(text=str(content))
    return entry


def _table(header: Sequence[str], body: Sequence[Sequence[Any]],
           widths: Sequence[int] | None = None,
           classes: Sequence[str] = ()) -> nodes.table:
    """A docutils table from a header row and body rows of text or nodes."""
    table = nodes.table(classes=["dicomio-table", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths or [1] * len(header):
        group += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    group += thead
    row = nodes.row()
    for text in header:
        row += _cell(text)
    thead += row
    tbody = nodes.tbody()
    group += tbody
    for cells in body:
        row = nodes.row()
        for content in cells:
            row += _cell(content)
        tbody += row
    return table


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text=text)


class SupportTable(SphinxDirective):
    """Transfer Syntax x backend, verified on the bundled samples."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from dicomio import registry

        rows, stamp = _measure()
        names = registry.names()
        header = ["Transfer Syntax", "UID", "Lossy", *names]
        body: list[list[Any]] = []
        for r in rows:
            first: Any = _literal(r["keyword"])
            if "note" in r:
                # A known syntax nothing decodes: say so, and why.
                first = nodes.inline("", "", first, nodes.Text(f": {r['note']}"))
            cells: list[Any] = [
                first,
                _short_uid(r["uid"]),
                "yes" if r["lossy"] else "no",
            ]
            for name in names:
                c = r["backends"].get(name)
                cells.append("—" if c is None else CELL.get(c["status"], c["status"]))
            body.append(cells)
        widths = [8, 4, 2] + [3] * len(names)
        note = nodes.paragraph(
            text=f"{stamp} UIDs are shown without their common prefix "
            f"{UID_ROOT}.")
        # A scrolling box keeps narrow screens from losing the last columns.
        box = nodes.container(classes=["table-scroll"])
        box += _table(header, body, widths, ["support-table"])
        return [note, box]


class BackendTable(SphinxDirective):
    """Every backend: version, GIL, install hint."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from dicomio import registry

        body = []
        for name in registry.names():
            be = registry.get(name)
            installed = be.available()
            body.append([
                _literal(name),
                be.version() if installed else "not installed",
                "yes" if be.gil_free else "no",
                str(len(be.syntaxes)),
                be.install,
            ])
        header = ["Backend", "Version here", "Releases the GIL", "Syntaxes",
                  "Install"]
        return [_table(header, body, [3, 5, 2, 2, 8])]


class BackendOrder(SphinxDirective):
    """The registry's preferred order per codec family, with each codec library."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from dicomio import registry
        from dicomio.tsyntax import FAMILIES

        body = []
        for fam in FAMILIES:
            order = registry.ORDER.get(fam, ())
            steps = []
            for name in order:
                libs = registry.get(name).libraries_for(fam)
                steps.append(f"{name} ({' then '.join(libs)})" if libs else name)
            body.append([
                FAMILY_NAMES.get(fam, fam),
                " → ".join(steps) if steps else "none yet",
            ])
        return [_table(["Codec family", "Backends (codec library), first tried first"],
                       body, [2, 8])]


def _always_rebuild(app: Sphinx, env: Any, added: set[str], changed: set[str],
                    removed: set[str]) -> list[str]:
    return [doc for doc in ("support",) if doc in env.found_docs]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("support-table", SupportTable)
    app.add_directive("backend-table", BackendTable)
    app.add_directive("backend-order", BackendOrder)
    app.connect("env-get-outdated", _always_rebuild)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
