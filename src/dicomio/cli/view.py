"""``dicomio view``: napari with the dicomio reader chosen.

Every path is checked first, so a path napari's reader would refuse is one
line on stderr (exit status 2) instead of a window and a traceback.
"""

from __future__ import annotations

import argparse

from ._inputs import InputError, check_input

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """``dicomio view``."""
    import importlib.util

    for path in args.paths:
        check_input(path)
    if importlib.util.find_spec("napari") is None:
        raise ImportError('dicomio view needs napari and a Qt binding: '
                          'pip install "dicomio[napari]"')
    from .._napari._reader import refusal

    for path in args.paths:
        reason = refusal(path)
        if reason is not None:
            raise InputError(path, reason)
    from .._napari.launch import view

    view(args.paths, patient_space=args.patient_space)
    return 0
