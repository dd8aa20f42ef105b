"""Sphinx configuration: Markdown pages (MyST) plus an API reference from docstrings."""

from __future__ import annotations

import fusionrec

project = "fusionrec"
author = "fusionrec developers"
release = fusionrec.__version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
suppress_warnings = ["myst.xref_missing"]
html_theme = "alabaster"
