"""Shared fixtures: the public test corpora, located without any download."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

try:
    import data_store  # the pydicom-data package

    PYDICOM_DATA = Path(data_store.__file__).parent / "data"
except ImportError:  # pragma: no cover - CI installs it
    PYDICOM_DATA = None


def corpus_file(name: str) -> Path:
    """A file from pydicom's bundled test files or the pydicom-data package."""
    for folder in (PYDICOM_FILES, PYDICOM_DATA):
        if folder is not None and (folder / name).exists():
            return folder / name
    pytest.skip(f"{name} is not installed (pip install pydicom-data)")


def all_corpus_files() -> list[Path]:
    """Every .dcm file of both corpora, sorted by name."""
    files = list(PYDICOM_FILES.glob("*.dcm"))
    if PYDICOM_DATA is not None:
        files += list(PYDICOM_DATA.glob("*.dcm"))
    return sorted(files, key=lambda p: p.name)


@pytest.fixture
def corpus():
    return corpus_file
