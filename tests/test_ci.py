"""CI runs the README's set-up commands, exactly as the README shows them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "readme_commands", ROOT / "tools" / "readme_commands.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_commands_are_read_from_the_readme() -> None:
    found = _tool().commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found == {
        1: 'python -m pip install ".[all]" && dicomio doctor',
        2: 'bash tools/system-deps.sh && python -m pip install -e ".[test]" '
           "&& python -m pytest",
    }
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_commands.py"),
                           "1"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == found[1]


def test_ci_runs_both_readme_commands_command_1_in_a_fresh_clone_and_venv() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in script
    lines = [line.strip() for line in script.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    # The commands come from the README, never typed twice.
    assert "cmd1=$(python tools/readme_commands.py 1)" in lines
    assert "cmd2=$(python tools/readme_commands.py 2)" in lines
    assert not any("pip install" in line for line in lines)
    # Command 1: a fresh clone, a plain fresh venv, nothing from this one.
    clone = lines.index('git clone -q "$PWD" "$smoke/dicomio"')
    venv = lines.index('python -m venv "$smoke/venv"')
    run1 = lines.index('bash -c "$cmd1"')
    run2 = lines.index('bash -c "$cmd2"')
    assert clone < venv < run1 < run2
    assert "system-site-packages" not in " ".join(lines)
    assert "unset PYTHONPATH PYTHONHOME" in lines[venv:run1]
    assert 'cd "$smoke/dicomio"' in lines[venv:run1]
    # Nothing after command 2 can hide its failure.
    assert all(re.match(r"echo ", line) for line in lines[run2 + 1:])
