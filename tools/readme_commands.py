"""Print README set-up command N, read from README.md itself.

    python tools/readme_commands.py 1    # install, then dicomio doctor
    python tools/readme_commands.py 2    # system deps, test extra, pytest

``.ci/run`` runs what this prints, so the commands CI checks are the ones
the README shows: they cannot drift apart. The commands are the lines of the
first ``bash`` block of the "Set up" section that follow a ``# N.`` comment.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def commands(text: str) -> dict[int, str]:
    """``{N: command}`` from the README's "## Set up" section."""
    section = re.search(r"^## Set up\n(.*?)(?=^## )", text, re.M | re.S)
    if section is None:
        raise ValueError("README.md has no '## Set up' section")
    block = re.search(r"```bash\n(.*?)```", section.group(1), re.S)
    if block is None:
        raise ValueError("the Set up section has no ```bash block")
    found: dict[int, str] = {}
    number = None
    for line in block.group(1).splitlines():
        mark = re.match(r"#\s*(\d+)\.", line.strip())
        if mark:
            number = int(mark.group(1))
        elif line.strip() and number is not None:
            found[number] = line.strip()
            number = None
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write(__doc__.splitlines()[2] + "\n")
        return 2
    found = commands(README.read_text(encoding="utf-8"))
    n = int(argv[0])
    if n not in found:
        sys.stderr.write(f"README.md has no set-up command {n} "
                         f"(found: {sorted(found)})\n")
        return 1
    print(found[n])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
