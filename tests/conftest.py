"""Shared fixtures: the public test corpora, located without any download."""

from __future__ import annotations

import os
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test fails: the test extra installs every backend, so in CI
    nothing may skip. ``DICOMIO_ALLOW_SKIPS=1`` allows skips on a machine
    without every backend (never in CI)."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail")
            and not os.environ.get("DICOMIO_ALLOW_SKIPS")):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"skipped ({reason}), but nothing may skip: install the "
                           "test extra, or set DICOMIO_ALLOW_SKIPS=1 on a partial machine")
