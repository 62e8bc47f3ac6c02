"""Sphinx configuration of sktransfer's documentation site.

Build it offline, from the repository root::

    python -m sphinx -b html docs docs/_build/html

then open ``docs/_build/html/index.html``. Nothing is downloaded: the
pretrained weights the examples use ship in pip packages
(``pip install ".[docs]"``), ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE``
are set below, and no extension reaches the network (no intersphinx, no
remote images or fonts).

What the build does:

- ``numpydoc`` + ``autodoc`` + ``autosummary`` turn the package's docstrings
  into the API reference (``api.rst``; pages generated into ``generated/``,
  with the class template in ``_templates/autosummary/class.rst``);
- ``sphinx_gallery`` runs every ``examples/plot_*.py`` script of the
  repository and renders it, with its printed output and figures, into
  ``auto_examples/`` (a git-ignored folder inside ``docs/``);
- ``myst_parser`` renders ``design.md`` (the "How it is built" page).

Modes:

- ``SKTRANSFER_DOCS_QUICK=1`` (the CI test, ``tests/test_docs_build.py``):
  the examples named in :data:`HEAVY_EXAMPLES` are rendered (text and code)
  but not run; every other example runs as usual.
- ``-D plot_gallery=0`` on the command line: no example runs (sphinx-gallery's
  own switch); the fastest way to check the rest of the site.
- Add ``-W --keep-going`` to turn every warning into an error, as the test does.

sphinx-gallery skips examples whose source has not changed since they last
ran (it keeps a checksum beside each in ``auto_examples/``); delete
``docs/auto_examples`` to run them all again.
"""

import inspect
import os
import re
import sys
from pathlib import Path

# The models ship in packages: nothing may be fetched from a hub while the
# examples run (an unshipped model then fails at once with a clear error
# instead of hanging on the network).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The tokenizers' thread pool warns when sphinx-gallery's process forks.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the package of this checkout, installed or not.
sys.path.insert(0, str(ROOT))

import sktransfer  # noqa: E402

#: Example scripts (file names in ``examples/``) that only run in a full build:
#: with ``SKTRANSFER_DOCS_QUICK=1`` their pages show the code without running it.
#: List the examples that take more than a minute or so on 2 CPU cores (long
#: fine-tuning, continued pretraining). Measured in a full build on 2 busy cores
#: (2026-12-04): transfer_report 3 min 39 s (it fine-tunes and trains from
#: scratch in every fold), freeze_depth 1 min 42 s; the four others 50-73 s each.
#: What these two show is also tested in tests/test_selection.py and
#: tests/test_finetune.py.
HEAVY_EXAMPLES = ("plot_transfer_report.py", "plot_freeze_depth.py")

QUICK = os.environ.get("SKTRANSFER_DOCS_QUICK", "").strip().lower() in ("1", "true", "yes", "on")

# -- project -----------------------------------------------------------------------------------
project = "sktransfer"
author = "the sktransfer developers"
copyright = "the sktransfer developers, BSD-3-Clause"
version = release = sktransfer.__version__

# -- general -----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"
# No suppress_warnings: the build is meant to be warning-free under -W.

# -- autodoc / autosummary / numpydoc ----------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # the package has no annotations; numpydoc gives the types
# Members are listed by the class template (autodoc's own entries, one per method):
# numpydoc's member tables would document each method a second time.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False
numpydoc_attributes_as_param_list = True

# -- MyST (design.md) --------------------------------------------------------------------------
myst_heading_anchors = 3

# -- sphinx-gallery ----------------------------------------------------------------------------
_SEP = re.escape(os.sep)
if QUICK and HEAVY_EXAMPLES:
    # Run every plot_*.py file except the heavy ones (matched against the whole path).
    _heavy = "|".join(re.escape(name) for name in HEAVY_EXAMPLES)
    _filename_pattern = rf"{_SEP}(?!(?:{_heavy})$)plot[^{_SEP}]*$"
else:
    _filename_pattern = rf"{_SEP}plot[^{_SEP}]*$"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": _filename_pattern,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    # Links from each API page to the examples that use it (the minigallery of
    # the autosummary templates).
    "doc_module": ("sktransfer",),
    "backreferences_dir": "generated/backreferences",
    "show_memory": False,
    "min_reported_time": 0,
}

# -- HTML --------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sktransfer {release}"
html_theme_options = {
    # Everything the theme needs ships with it; no link to a remote service.
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "icon_links": [],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "install": [], "cli": [], "benchmarks": [], "design": []}


# -- build-time fixes, each with its reason ----------------------------------------------------
def _drop_type_docstring(app, what, name, obj, options, lines):
    if what == "data" and lines:
        # A constant without a doc comment would show its type's docstring ("Built-in
        # immutable sequence..." for a tuple); api.rst describes the constants instead.
        # (Sphinx 9.0 cannot read the ``#:`` comments of sktransfer/pretrain.py at all:
        # its parser fails on a ``**`` inside a decorator's dict.)
        type_doc = inspect.getdoc(type(obj)) or ""
        if " ".join(lines).split() == type_doc.split():
            lines.clear()


def _unlink_scikit_learn_references(app, env, node, contnode):
    """Keep the text of references made inside scikit-learn's own docstrings, without a link.

    The class pages list the methods the estimators inherit from scikit-learn
    (``get_params``, ``set_output``, ``set_fit_request``...), whose docstrings
    refer to pages of scikit-learn's site (its user guide, glossary and
    examples). Those targets are not part of this site, and intersphinx would
    need the network; any other unresolved reference still warns.
    """
    if ":docstring of sklearn." in (node.source or ""):
        return contnode
    return None


def setup(app):
    # Before numpydoc (priority 500), which rewrites the docstring into sections.
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
    app.connect("missing-reference", _unlink_scikit_learn_references)
