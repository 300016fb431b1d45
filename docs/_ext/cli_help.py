"""Sphinx extension: ``cli-help`` shows the ``--help`` text of a command.

The text comes from the argparse parser in :mod:`dicomio.cli` while the docs
build, so the page cannot drift from the command::

    ```{cli-help} decompress
    ```

Without an argument it shows the top-level ``dicomio --help``.
"""

from __future__ import annotations

import os
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

#: Width the help is wrapped to (argparse reads $COLUMNS).
WIDTH = 88


def help_text(command: str | None = None) -> str:
    """The ``--help`` output of ``dicomio [command]``."""
    import argparse

    from dicomio.cli.parser import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        parser = build_parser()
        if command:
            subs = [a for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction)]
            choices = subs[0].choices if subs else {}
            if command not in choices:
                raise ValueError(f"dicomio has no command {command!r}; "
                                 f"it has {', '.join(choices)}")
            parser = choices[command]
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


class CliHelp(SphinxDirective):
    """Insert ``dicomio [command] --help`` as a console block."""

    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0] if self.arguments else None
        try:
            text = help_text(command)
        except ValueError as exc:
            raise self.error(str(exc)) from exc
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cli-help", CliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
