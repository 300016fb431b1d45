"""Shared set-up of the napari tests.

The Qt / vispy stack under a real napari viewer releases more references to
``None`` than it takes: each viewer test lowers ``sys.getrefcount(None)`` by
5,000 to 16,000 (measured per test on 2026-12-02, PyQt5 5.15 / PySide6 6.12,
vispy 0.17, napari 0.9, Python 3.11). Python 3.11's ``None`` is not immortal
(that came in 3.12), so after enough viewers the interpreter dies at exit with
"none_dealloc: deallocating None" although every test passed. The bug is in
those C extensions, not in dicomio; until it is fixed there, these tests hold
extra references to ``None`` that are never released, so the count cannot
reach zero. ``test_none_keeps_its_references`` checks the padding is there.
"""

from __future__ import annotations

import ctypes
import sys

#: References to None taken for the whole run (about 1 s of set-up).
NONE_PADDING = 2_000_000

if sys.version_info < (3, 12):
    _incref = ctypes.pythonapi.Py_IncRef
    _incref.argtypes = [ctypes.py_object]
    _none = None
    for _ in range(NONE_PADDING):
        _incref(_none)
