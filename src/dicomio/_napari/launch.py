"""Open DICOM data in napari with the dicomio reader chosen.

napari's builtin reader also claims ``*.dcm`` and every folder, so napari
asks which reader to use; :func:`view` passes ``plugin="dicomio"`` and skips
the question. ``dicomio view PATH ...`` (the CLI) calls it.

>>> from dicomio._napari.launch import view
>>> viewer = view(["/data/exam"], run=False)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..sources.remote import is_url

if TYPE_CHECKING:
    import napari

__all__ = ["view", "remember_reader", "PLUGIN", "WIDGET", "FILE_PATTERNS"]

#: The npe2 plugin name.
PLUGIN = "dicomio"
#: Display name of the dock widget (napari.yaml).
WIDGET = "DICOM header"
#: Reader preferences :func:`remember_reader` writes for files.
FILE_PATTERNS = ("*.dcm", "*.DCM", "*.dicom", "*/DICOMDIR")
#: ... and for folders: napari matches folder paths with a trailing separator.
FOLDER_PATTERN = "*" + os.sep


def view(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    viewer: napari.Viewer | None = None,
    stack: bool | None = None,
    ndisplay: int | None = None,
    patient_space: bool = False,
    widget: bool = True,
    show: bool = True,
    run: bool = True,
) -> napari.Viewer:
    """Open ``paths`` in napari with the dicomio reader.

    Parameters
    ----------
    paths : path or sequence of paths
        DICOM files, folders and DICOMDIRs.
    viewer : napari.Viewer, optional
        Add to this viewer instead of a new one.
    stack : bool, optional
        Read all ``paths`` as one source, so slices given as separate files
        form one volume. Default: True when every path has the same
        extension (napari cannot stack mixed extensions), else each path is
        opened on its own.
    ndisplay : {2, 3}, optional
        Start in 2D or 3D (volume rendering).
    patient_space : bool
        Show the volumes in patient space, in 3D, so differently oriented
        series overlap (:func:`dicomio._napari._space.show_in_patient_space`).
    widget : bool
        Dock the "DICOM header" widget (needs the Qt viewer).
    show : bool
        Show the window (``False`` for scripts and tests).
    run : bool
        Start napari's event loop and return when the window closes.

    Returns
    -------
    napari.Viewer

    Raises
    ------
    FileNotFoundError
        When a path does not exist.
    """
    import napari

    items = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) \
        else [os.fspath(p) for p in paths]
    missing = [p for p in items if not os.path.exists(p) and not is_url(p)]
    if missing:
        raise FileNotFoundError(f"no such file or directory: {missing[0]!r}")
    if viewer is None:
        viewer = napari.Viewer(title="dicomio", show=show)
    if stack is None:
        stack = len(items) > 1 and len({Path(p).suffix.lower() for p in items}) == 1
    for group in ([items] if stack else [[item] for item in items]):
        _open(viewer, group)
    if ndisplay is not None:
        viewer.dims.ndisplay = ndisplay
    if patient_space:
        from ._space import show_in_patient_space

        show_in_patient_space(viewer)
    if widget:
        _dock_widget(viewer)
    if run:
        napari.run()
    return viewer


def remember_reader(*, folders: bool = True, settings: Any = None) -> dict[str, str]:
    """Make dicomio napari's remembered reader for DICOM files (and folders).

    napari's reader chooser remembers ``*.dcm`` when asked to, but a folder
    only by its own path. This writes the same preferences as Preferences >
    Plugins > "File extension readers" (``plugins.extension2reader``) for
    :data:`FILE_PATTERNS` and, with ``folders=True``, for every folder.

    Parameters
    ----------
    folders : bool
        Also send folders to dicomio. napari then offers dicomio every folder
        dropped on it, including its own folder formats (``.zarr``); use
        File > Open with Plugin for those.
    settings : napari.settings.NapariSettings, optional
        Default: ``napari.settings.get_settings()`` (saved to napari's
        configuration file).

    Returns
    -------
    dict
        The new ``extension2reader`` mapping.
    """
    if settings is None:
        from napari.settings import get_settings

        settings = get_settings()
    patterns = list(FILE_PATTERNS) + ([FOLDER_PATTERN] if folders else [])
    mapping = {**settings.plugins.extension2reader,
               **dict.fromkeys(patterns, PLUGIN)}
    settings.plugins.extension2reader = mapping
    return dict(mapping)


def _open(viewer: Any, paths: list[str]) -> None:
    """``viewer.open`` with the plugin; direct reading where napari cannot route.

    napari offers a file to a reader only when a filename pattern matches, so
    extension-less slice files (``IM_0001``, UIDs) never reach dicomio through
    ``viewer.open``; they are read here and added as layers instead.
    """
    import npe2

    pm = npe2.PluginManager.instance()
    routable = any(r.plugin_name == PLUGIN
                   for r in pm.iter_compatible_readers([paths[0]]))
    if routable and len({Path(p).suffix for p in paths}) == 1:
        if len(paths) == 1:
            viewer.open(paths[0], plugin=PLUGIN)
        else:
            viewer.open(paths, stack=True, plugin=PLUGIN)
        return
    from napari.layers import Layer

    from ._reader import read_dicom

    for data, kwargs, layer_type in read_dicom(paths if len(paths) > 1 else paths[0]):
        viewer.add_layer(Layer.create(data, kwargs, layer_type))


def _dock_widget(viewer: Any) -> Any:
    window = getattr(viewer, "window", None)
    if window is None:
        return None
    _, dock = window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return dock
