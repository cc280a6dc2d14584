"""Sphinx configuration of the skvae documentation (built offline).

Environment variables:

* ``SKVAE_DOCS_PLOT_GALLERY=0`` builds the gallery without running the
  examples (code only, no figures).
* ``SKVAE_EXAMPLES_SMOKE=1`` makes the examples use a few epochs and samples,
  which the test suite uses to keep its docs build short.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Document the checkout this file belongs to, not some installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skvae

project = "skvae"
author = "the skvae developers"
copyright = "2026, the skvae developers"
version = release = skvae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# numpydoc lists methods itself; autosummary stubs per method are not wanted.
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_theme_options = {"navigation_with_keys": False}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": os.environ.get("SKVAE_DOCS_PLOT_GALLERY", "1") != "0",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}
