"""The reference padding of conftest.py is in place (see its docstring)."""

from __future__ import annotations

import sys

from .conftest import NONE_PADDING


def test_none_keeps_its_references() -> None:
    if sys.version_info >= (3, 12):  # None is immortal there: nothing to pad
        assert sys.getrefcount(None) > NONE_PADDING
    else:
        assert sys.getrefcount(None) > NONE_PADDING // 2
