"""Dock widget: the selected layer's DICOM header and decode provenance.

Shown from napari's Layers > Metadata menu (or Plugins > dicomio). For a
layer opened by dicomio it lists:

* the Transfer Syntax, the backend that decoded each slice decoded so far
  (slices of lazy layers are decoded when napari displays them) and the
  backends that failed before it;
* the colour report: declared, codestream and output Photometric
  Interpretation, whether the file is mislabelled or the colours were
  converted, and the notes;
* the file's window presets, to choose the contrast limits from
  (:class:`~dicomio._napari._windows.WindowChooser`);
* the series: modality, kind, spacing, origin, warnings and notes;
* the header of the slice on screen, as a tree, filtered by the search box
  (keyword or value, case-insensitive).

Only qtpy widgets are used.
"""

from __future__ import annotations

import html
import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..dataset.titles import series_title
from . import _lazy
from ._windows import WindowChooser

if TYPE_CHECKING:
    import napari

__all__ = ["DicomHeaderWidget"]

_MAX_ROWS = 500  # provenance rows shown (slices decoded so far)
_MAX_ITEMS = 50  # sequence items shown per sequence
_MAX_VALUE = 300  # characters of a value shown in the tree (full text in tooltip)
_HEADER_CACHE = 32


def _short(value: Any) -> str:
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + " ..."


class DicomHeaderWidget(QWidget):
    """The DICOM header and decode provenance of the selected layer.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose selected layer is shown (napari passes it).
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = napari_viewer
        self._layer: Any = None
        self._shown_path: str | None = None
        self._headers: OrderedDict[str, dict[str, Any]] = OrderedDict()

        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.frames = QTableWidget(0, 5)
        self.frames.setHorizontalHeaderLabels(
            ["Slice", "Backend", "Output colour", "File", "Frame"])
        self.frames.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        vertical = self.frames.verticalHeader()
        horizontal = self.frames.horizontalHeader()
        if vertical is not None:
            vertical.setVisible(False)
        if horizontal is not None:
            horizontal.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the header: keyword or value")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.header_label = QLabel()
        self.header_label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Keyword", "Value"])
        self.tree.setUniformRowHeights(True)

        self.windows = WindowChooser()  # the file's VOI presets as contrast limits

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Show slices decoded since the last update")
        self.refresh_button.clicked.connect(self.refresh)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(self.refresh_button)
        top_layout.addLayout(row)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(self.windows)
        top_layout.addWidget(self.frames, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.search)
        bottom_layout.addWidget(self.header_label)
        bottom_layout.addWidget(self.tree, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        # Slices decode while napari draws them, after the events that asked
        # for them: refresh a moment later, once per burst of events.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self._refresh_slice)

        napari_viewer.layers.selection.events.active.connect(self._on_active)
        napari_viewer.dims.events.current_step.connect(self._on_step)
        self._on_active()

    # ------------------------------------------------------------ events
    def _on_active(self, event: Any = None) -> None:
        try:
            self._layer = self._viewer.layers.selection.active
            self._shown_path = None
            self.refresh()
        except RuntimeError:  # the Qt side is gone: stop listening
            self._disconnect()

    def _on_step(self, event: Any = None) -> None:
        try:
            self._timer.start()
        except RuntimeError:
            self._disconnect()

    def _disconnect(self) -> None:
        for emitter, callback in (
                (self._viewer.layers.selection.events.active, self._on_active),
                (self._viewer.dims.events.current_step, self._on_step)):
            try:
                emitter.disconnect(callback)
            except (RuntimeError, ValueError, TypeError):
                pass

    # ------------------------------------------------------------ content
    @property
    def layer(self) -> Any:
        """The layer shown (the viewer's active layer)."""
        return self._layer

    def _metadata(self) -> dict[str, Any] | None:
        md = getattr(self._layer, "metadata", None)
        if isinstance(md, dict) and "TransferSyntaxUID" in md:
            return md
        return None

    def refresh(self) -> None:
        """Rebuild everything for the current layer and slice."""
        md = self._metadata()
        self.windows.show_layer(self._layer, md)
        if self._layer is None:
            self.title.setText("<b>No layer selected</b>")
        else:
            self.title.setText(f"<b>{html.escape(str(self._layer.name))}</b>")
        if md is None:
            self.summary.setText(
                "" if self._layer is None else
                "This layer was not opened by dicomio: open DICOM data with "
                "the dicomio reader to see its header and decoding here.")
            self.frames.setRowCount(0)
            self.tree.clear()
            self.header_label.setText("")
            return
        self._refresh_slice(force=True)

    def _refresh_slice(self, force: bool = False) -> None:
        md = self._metadata()
        if md is None:
            return
        index = self.current_slice()
        self.summary.setText(self._summary_html(md))
        self._fill_frames(md, index)
        slices = md.get("slices") or []
        if not slices:
            return
        path, frame = slices[min(index, len(slices) - 1)]
        if force or path != self._shown_path:
            self._shown_path = path
            self._show_header(self._header_for(md, path))
        self.header_label.setText(
            f"Header of slice {index} (frame {frame} of "
            f"{html.escape(os.path.basename(path))})")

    def current_slice(self) -> int:
        """Index along axis 0 of the slice on screen (0 for a single image)."""
        md = self._metadata()
        n = len(md.get("slices") or []) if md else 0
        if n <= 1 or self._layer is None:
            return 0
        try:
            position = self._layer.world_to_data(self._viewer.dims.point)
            index = int(round(float(position[0])))
        except Exception:
            return 0
        return min(max(index, 0), n - 1)

    def _summary_html(self, md: dict[str, Any]) -> str:
        esc = html.escape
        lines = []
        syntaxes = md.get("transfer_syntaxes") or [md.get("TransferSyntaxUID")]
        ts = (f"{esc(str(md.get('transfer_syntax', '')))} "
              f"({esc(str(md['TransferSyntaxUID']))})")
        if len(syntaxes) > 1:
            ts += (f"; {len(syntaxes)} syntaxes in the series: "
                   + esc(", ".join(syntaxes)))
        lines.append(f"<b>Transfer Syntax</b>: {ts}")
        backends = self._backends(md)
        lines.append(f"<b>Decoder</b>: {esc(str(md.get('decoder')))}"
                     + (f" (so far: {esc(', '.join(backends))})" if backends else ""))
        rep = md.get("photometric") or {}
        if rep:
            lines.append(f"<b>Colour</b>: {_colour_state(rep)}")
            lines.extend(f"&nbsp;&nbsp;- {esc(str(n))}" for n in rep.get("notes", []))
        series = md.get("series") or {}
        geom = md.get("geometry") or {}
        if series:
            n = len(md.get("slices") or [])
            spacing = [f"{v:.4g}" for v in geom.get("spacing", [])]
            origin = ", ".join(f"{v:.4g}" for v in geom.get("origin", []))
            if n > 1:
                where = (f"{n} slices ({esc(str(series.get('kind')))}); spacing "
                         f"(z, y, x) {', '.join(spacing)} mm, z from "
                         f"{esc(str(geom.get('z_source')))}")
            else:
                where = f"1 image; pixel spacing (y, x) {', '.join(spacing[1:])} mm"
            title = series_title(series.get("description"), series.get("modality"),
                                 series.get("number"))
            lines.append(
                "<b>Series</b>: " + (f"{esc(title)}, " if title else "")
                + f"{where}; origin {origin} mm"
                + (" <b>irregular</b>" if geom.get("irregular") else ""))
            for text in series.get("warnings", []):
                lines.append(f"<font color='#d08000'>warning</font>: {esc(text)}")
            for text in series.get("notes", []):
                lines.append(f"note: {esc(text)}")
        return "<br>".join(lines)

    def _backends(self, md: dict[str, Any]) -> list[str]:
        seen: dict[str, None] = {}
        for path, frame in md.get("slices") or []:
            entry = _lazy.provenance(path, frame)
            if entry and entry.get("backend"):
                seen[entry["backend"]] = None
        return list(seen)

    def _fill_frames(self, md: dict[str, Any], current: int) -> None:
        rows = []
        for k, (path, frame) in enumerate(md.get("slices") or []):
            entry = _lazy.provenance(path, frame)
            if entry is not None:
                rows.append((k, path, frame, entry))
            if len(rows) >= _MAX_ROWS:
                break
        self.frames.setRowCount(len(rows))
        for r, (k, path, frame, entry) in enumerate(rows):
            rep = entry.get("photometric") or {}
            backend = entry.get("backend") or "failed"
            tried = entry.get("tried") or []
            tip = [path]
            if tried:
                tip.append("tried first: "
                           + "; ".join(f"{b}: {why}" for b, why in tried))
            if entry.get("error"):
                tip.append(f"error: {entry['error']}")
            tip.extend(rep.get("notes", []))
            tip.extend(entry.get("warnings") or [])
            cells = [str(k), backend, str(rep.get("output", "")),
                     os.path.basename(path), str(frame)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip("\n".join(tip))
                if k == current:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.frames.setItem(r, c, item)
        self.frames.resizeColumnsToContents()

    def _header_for(self, md: dict[str, Any], path: str) -> dict[str, Any]:
        slices = md.get("slices") or []
        if slices and path == slices[0][0]:
            return md.get("header") or {}
        if path in self._headers:
            self._headers.move_to_end(path)
            return self._headers[path]
        try:
            import pydicom

            from ..dataset.jsonify import to_json_dict

            header = to_json_dict(pydicom.dcmread(path, stop_before_pixels=True,
                                                  force=True))
        except Exception as exc:  # the widget shows what it can
            header = {"error": f"cannot read the header of {path}: {exc}"}
        self._headers[path] = header
        while len(self._headers) > _HEADER_CACHE:
            self._headers.popitem(last=False)
        return header

    def _show_header(self, header: dict[str, Any]) -> None:
        self.tree.setUpdatesEnabled(False)
        self.tree.clear()
        root = self.tree.invisibleRootItem()
        if root is not None:
            self._add_items(root, header)
        self.tree.setUpdatesEnabled(True)
        self.tree.resizeColumnToContents(0)
        self._apply_filter(self.search.text())

    def _add_items(self, parent: QTreeWidgetItem, header: dict[str, Any]) -> None:
        for key, value in header.items():
            if isinstance(value, list) and value and all(isinstance(v, dict)
                                                         for v in value):
                item = QTreeWidgetItem(
                    parent, [key, f"sequence of {len(value)} item(s)"])
                for i, sub in enumerate(value[:_MAX_ITEMS]):
                    child = QTreeWidgetItem(item, [f"item {i + 1}", ""])
                    self._add_items(child, sub)
                if len(value) > _MAX_ITEMS:
                    QTreeWidgetItem(item, ["...", f"{len(value) - _MAX_ITEMS} more "
                                           "item(s) not shown"])
            else:
                item = QTreeWidgetItem(parent, [key, _short(value)])
                item.setToolTip(1, str(value))

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()

        def visit(item: QTreeWidgetItem) -> bool:
            own = not needle or needle in item.text(0).lower() \
                or needle in item.toolTip(1).lower() or needle in item.text(1).lower()
            child_match = False
            for child in _children(item):
                if own and needle:
                    # A matching item shows its whole subtree.
                    _show_all(child)
                    child_match = True
                elif visit(child):
                    child_match = True
            visible = own or child_match
            item.setHidden(not visible)
            if needle and child_match:
                item.setExpanded(True)
            return visible

        for item in _children(self.tree.invisibleRootItem()):
            visit(item)

    def visible_keywords(self) -> list[str]:
        """Top-level keywords currently shown (after the search filter)."""
        return [item.text(0) for item in _children(self.tree.invisibleRootItem())
                if not item.isHidden()]


def _colour_state(rep: dict[str, Any]) -> str:
    """The colour report in one line: what the array is and why."""
    esc = html.escape
    declared, output = esc(str(rep.get("declared"))), esc(str(rep.get("output")))
    codestream = esc(str(rep.get("codestream")))
    if rep.get("mislabelled"):
        state = (f"<font color='#d08000'><b>mislabelled</b></font>: the file "
                 f"declares {declared}, the codestream is {codestream}; shown as "
                 f"{output}")
    elif rep.get("converted"):
        state = f"converted from {declared} to {output}"
    else:
        state = f"{output}, as declared"
    if codestream not in (declared, "None") and not rep.get("mislabelled"):
        state += f" (codestream {codestream})"
    return state


def _children(item: QTreeWidgetItem | None) -> list[QTreeWidgetItem]:
    if item is None:
        return []
    found = (item.child(i) for i in range(item.childCount()))
    return [child for child in found if child is not None]


def _show_all(item: QTreeWidgetItem) -> None:
    item.setHidden(False)
    for child in _children(item):
        _show_all(child)
