"""Register the imageio plugin when imageio is imported, not before.

``import dicomio`` must not pay for importing imageio (about a third of
dicomio's own import time), yet ``iio.imread("x.dcm")`` must pick dicomio
after ``import dicomio`` whatever the order of the two imports. So: when
imageio is imported already, register now; otherwise a finder on
``sys.meta_path`` waits for the first import of ``imageio`` or of
``dicomio.imageio_plugin`` (which imports imageio itself), lets it load as
usual, registers the plugin once the module is complete, and removes itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["register_when_imported"]

_PLUGIN = "dicomio.imageio_plugin"


def _register() -> None:
    try:
        import dicomio.imageio_plugin as plugin
    except ImportError:  # the adapter is optional
        return
    plugin.register()


class _Then(importlib.abc.Loader):
    """A module's own loader, followed by ``then()`` once it is complete."""

    def __init__(self, loader: Any, then: Callable[[], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module's code sees its real loader (importlib.resources uses it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._then()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of the real spec."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in ("imageio", _PLUGIN):
            return None
        _remove()  # one shot: whichever comes first registers
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None \
                or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Then(spec.loader, _register)
        return spec


_finder = _Finder()


def _remove() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def register_when_imported() -> None:
    """Register the imageio plugin now if imageio is imported, else as soon
    as it is (nothing happens when imageio is not installed)."""
    if "imageio" in sys.modules:
        _register()
    elif _finder not in sys.meta_path and importlib.util.find_spec("imageio"):
        sys.meta_path.insert(0, _finder)
