"""Run the ``dicomio`` command as a user runs it: in a subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PYDICOM_FILES

DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"


def run(*args: str | os.PathLike[str], cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("NO_COLOR", "PYTHONWARNINGS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "dicomio", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def plain(proc: subprocess.CompletedProcess[str]) -> None:
    """Output to a pipe carries no colour and no progress bar."""
    assert "\x1b[" not in proc.stdout + proc.stderr
    assert "\r" not in proc.stdout + proc.stderr
