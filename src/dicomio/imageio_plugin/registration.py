"""Registering the plugin with imageio, and undoing it exactly.

imageio v3 has no entry points: a plugin registers by editing
``imageio.config.known_plugins`` (its order is the fallback order for files
without a known extension) and the priority lists of the file extensions, in
place, default lists included (``reset()`` copies those back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imageio.config import FileExtension, PluginConfig, known_extensions, known_plugins

#: The name the plugin is registered under (``plugin="dicomio"``).
PLUGIN_NAME = "dicomio"
#: File extensions for which the plugin is tried first.
EXTENSIONS: tuple[str, ...] = (".dcm", ".dicom", ".ct", ".mri", ".gdcm")
# Where imageio finds the class (the package re-exports it).
_MODULE = __name__.rpartition(".")[0]


@dataclass
class _Snapshot:
    """imageio's tables as they were before :func:`register`."""

    plugins: list[tuple[str, Any]]
    # (FileExtension, priority list object, its items, default list object,
    # its items): the list objects themselves come back, not just equal ones.
    extensions: list[tuple[Any, list[str], list[str], list[str], list[str]]]
    created: list[str] = field(default_factory=list)


_snapshot: _Snapshot | None = None


def _take_snapshot() -> _Snapshot:
    exts = []
    for ext in EXTENSIONS:
        for fmt in known_extensions.get(ext, []):
            default = _defaults(fmt)
            exts.append((fmt, fmt.priority, list(fmt.priority), default,
                         list(default)))
    return _Snapshot(plugins=list(known_plugins.items()), extensions=exts)


def _defaults(fmt: Any) -> list[str]:
    # FileExtension.reset() copies default_priority into priority: both lists
    # must hold the registration. (imageio's type stub omits this attribute.)
    defaults: list[str] = fmt.default_priority
    return defaults


def _put_first(names: list[str]) -> None:
    if names[:1] != [PLUGIN_NAME]:
        while PLUGIN_NAME in names:
            names.remove(PLUGIN_NAME)
        names.insert(0, PLUGIN_NAME)


def register() -> None:
    """Register the plugin with imageio (done by ``import dicomio``).

    Puts ``"dicomio"`` first in ``imageio.config.known_plugins`` (imageio's
    fallback order for files without a known extension) and first in the
    priority lists, current and default, of ``.dcm .dicom .ct .mri .gdcm``.
    Calling it again changes nothing; after :func:`unregister` it registers
    anew.
    """
    global _snapshot
    if _snapshot is None:
        _snapshot = _take_snapshot()
    config = known_plugins.get(PLUGIN_NAME)
    if not (isinstance(config, PluginConfig) and config.module_name == _MODULE):
        config = PluginConfig(name=PLUGIN_NAME, class_name="DicomPlugin",
                              module_name=_MODULE, install_name="dicomio")
    if next(iter(known_plugins), None) != PLUGIN_NAME \
            or known_plugins[PLUGIN_NAME] is not config:
        rest = [(k, v) for k, v in known_plugins.items() if k != PLUGIN_NAME]
        known_plugins.clear()
        known_plugins[PLUGIN_NAME] = config
        known_plugins.update(rest)
    for ext in EXTENSIONS:
        if not known_extensions.get(ext):
            # Not in this imageio version's table: add it, remove it later.
            known_extensions[ext] = [FileExtension(
                name="DICOM", extension=ext, priority=[PLUGIN_NAME])]
            _snapshot.created.append(ext)
        for fmt in known_extensions[ext]:
            _put_first(fmt.priority)
            _put_first(_defaults(fmt))


def unregister() -> None:
    """Undo :func:`register`: imageio's tables become exactly what they were.

    The plugin order of ``known_plugins``, and every priority list (current
    and default) of the DICOM extensions, list objects included, are put
    back. Does nothing when the plugin is not registered.
    """
    global _snapshot
    if _snapshot is None:
        return
    known_plugins.clear()
    known_plugins.update(_snapshot.plugins)
    for fmt, prio, prio_items, default, default_items in _snapshot.extensions:
        prio[:] = prio_items
        default[:] = default_items
        fmt.priority = prio
        fmt.default_priority = default
    for ext in _snapshot.created:
        known_extensions.pop(ext, None)
    _snapshot = None


def is_registered() -> bool:
    """Whether :func:`register` is in effect."""
    return _snapshot is not None and next(iter(known_plugins), None) == PLUGIN_NAME
