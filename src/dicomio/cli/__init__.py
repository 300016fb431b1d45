"""The ``dicomio`` command: doctor, info, decompress, convert, view.

Run ``dicomio --help`` or ``python -m dicomio --help``. One module per
command; :mod:`~dicomio.cli.parser` holds the parser and the entry point,
:mod:`~dicomio.cli._output` the warning format and progress bars,
:mod:`~dicomio.cli._inputs` the check every command makes on its input.
"""

from __future__ import annotations

from .doctor import doctor_rows
from .parser import main

__all__ = ["main", "doctor_rows"]
