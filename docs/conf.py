"""Sphinx configuration for the dicomio documentation.

Pages are Markdown (MyST); the API reference comes from the numpydoc
docstrings through autodoc. The support table on ``support.md`` is measured
while the docs build (``_ext/support_table.py``), so it describes the
machine that built them.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dicomio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "dicomio"
author = "dicomio developers"
copyright = "dicomio developers"
release = dicomio.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "support_table",
    "cli_help",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: ::: fences for admonitions, definition lists for the glossary-like
# parts of the photometric guide, anchors so pages can link to sections.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc + numpydoc: members are listed explicitly in api.md; numpydoc only
# renders the sections, so nothing is documented twice.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = f"dicomio {release}"
html_theme_options = {
    "description": "Every DICOM transfer syntax, decoded honestly",
    "page_width": "1220px",
    "sidebar_width": "220px",
    "body_max_width": "none",
}
