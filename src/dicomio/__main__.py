"""``python -m dicomio`` runs the command-line interface."""

from dicomio.cli import main

raise SystemExit(main())
