"""Sample data for File > Open Sample > dicomio: one entry per bundled sample.

Each bundled sample (:mod:`dicomio.samples`, one small synthetic file per
Transfer Syntax) is exposed as a module attribute named by its Transfer
Syntax keyword, e.g. ``JPEGBaseline8Bit``; ``napari.yaml`` names them as
``dicomio._napari._sample:<keyword>``. Each returns the same layers the
reader gives for that file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["open_sample", "keywords"]


def keywords() -> list[str]:
    """Transfer Syntax keywords of the bundled samples, in manifest order."""
    from .. import samples

    return list(samples.all_paths())


def open_sample(keyword: str) -> list[tuple[Any, dict[str, Any], str]]:
    """The layers of the bundled sample for ``keyword`` (see :func:`keywords`)."""
    from .. import samples
    from ._reader import read_dicom

    return read_dicom(str(samples.path(keyword)))


def _loader(keyword: str) -> Callable[[], list[tuple[Any, dict[str, Any], str]]]:
    def load() -> list[tuple[Any, dict[str, Any], str]]:
        return open_sample(keyword)

    load.__name__ = load.__qualname__ = keyword
    load.__doc__ = f"Open the bundled {keyword} sample."
    return load


def __getattr__(name: str) -> Callable[[], list[tuple[Any, dict[str, Any], str]]]:
    # Resolved on demand so the sample list lives in one place (the samples'
    # MANIFEST.json); tests check napari.yaml lists exactly these.
    if not name.startswith("_") and name in keywords():
        return _loader(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(keywords()))
