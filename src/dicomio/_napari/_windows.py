"""The window chooser of the dock widget: the file's VOI presets as contrast limits.

The reader lists the presets of a grey layer in ``metadata["display"]
["presets"]`` (windows and VOI LUTs, in the units of the layer's data); the
layer opens with the first. Choosing another sets ``layer.contrast_limits``
(widening the slider's range first when needed); "Full range of the data"
goes back to the whole range. Only qtpy widgets are used.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

__all__ = ["WindowChooser"]

FULL_RANGE = "Full range of the data"


class WindowChooser(QWidget):
    """A labelled combo box of the selected layer's window presets.

    Hidden when the layer has none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layer: Any = None
        self.combo = QComboBox()
        self.combo.setToolTip("The window presets of the file: choosing one sets "
                              "the layer's contrast limits")
        self.combo.activated.connect(self._apply)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Window:"))
        row.addWidget(self.combo, 1)
        self.setVisible(False)

    def show_layer(self, layer: Any, metadata: dict[str, Any] | None) -> None:
        """List the presets of ``layer`` (whose dicomio metadata is given)."""
        self._layer = layer
        self.combo.clear()
        presets = ((metadata or {}).get("display") or {}).get("presets") or []
        for p in presets:
            lo, hi = (float(v) for v in p["limits"])
            if hi > lo:
                self.combo.addItem(str(p["label"]), (lo, hi))
        rng = getattr(layer, "contrast_limits_range", None)
        if self.combo.count() and rng is not None and float(rng[1]) > float(rng[0]):
            self.combo.addItem(FULL_RANGE, (float(rng[0]), float(rng[1])))
        self.setVisible(self.combo.count() > 0)

    def presets(self) -> list[tuple[str, tuple[float, float]]]:
        """``(label, contrast limits)`` of every choice."""
        return [(self.combo.itemText(i), tuple(self.combo.itemData(i)))
                for i in range(self.combo.count())]

    def choose(self, index: int) -> None:
        """Choose entry ``index``, as a click would."""
        self.combo.setCurrentIndex(index)
        self._apply(index)

    def _apply(self, index: int) -> None:
        limits = self.combo.itemData(index)
        if limits is None or self._layer is None:
            return
        lo, hi = float(limits[0]), float(limits[1])
        rng = self._layer.contrast_limits_range
        if lo < rng[0] or hi > rng[1]:
            self._layer.contrast_limits_range = (min(lo, rng[0]), max(hi, rng[1]))
        self._layer.contrast_limits = (lo, hi)
