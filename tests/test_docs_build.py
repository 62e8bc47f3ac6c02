"""The documentation site builds offline with no warning, and its pages show what they should.

One build, as CI runs it: ``SKTRANSFER_DOCS_QUICK=1`` (the examples listed in
``docs/conf.py``'s ``HEAVY_EXAMPLES`` are rendered without being run) and ``-W --keep-going``
(every warning fails the build). The HTML and the doctrees go to ``tmp_path``; sphinx-gallery
and autosummary write their generated sources into ``docs/`` (git-ignored).
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
USER_GUIDE = (
    "index",
    "feature_extraction",
    "fine_tuning",
    "cache",
    "model_choice",
    "negative_transfer",
    "domain_adaptation",
    "pretraining",
    "persistence",
    "devices",
    "offline",
)


def heavy_examples():
    """``HEAVY_EXAMPLES`` of docs/conf.py, read without running the file."""
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "HEAVY_EXAMPLES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("docs/conf.py defines no HEAVY_EXAMPLES tuple")


def test_heavy_examples_exist():
    """A heavy example that was renamed or removed would silently run again in CI."""
    names = {p.name for p in EXAMPLES.glob("plot_*.py")}
    assert set(heavy_examples()) <= names


@pytest.mark.slow
def test_docs_build(tmp_path):
    html = tmp_path / "html"
    env = {**os.environ, "SKTRANSFER_DOCS_QUICK": "1"}
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going"]
    command += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(html)]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    log = result.stdout[-3000:] + result.stderr[-6000:]
    assert result.returncode == 0, log

    assert (html / "index.html").is_file()
    for page in ["sktransfer.TextClassifier", "sktransfer.selection.rank_encoders"]:
        assert (html / "generated" / f"{page}.html").is_file(), page
    for name in USER_GUIDE:
        assert (html / "user_guide" / f"{name}.html").is_file(), name

    # The class page lists the parameters and the methods.
    classifier = (html / "generated" / "sktransfer.TextClassifier.html").read_text("utf-8")
    assert "n_trainable_blocks" in classifier
    for method in ("fit", "predict", "predict_proba", "transform", "save_backbone"):
        assert f'id="sktransfer.TextClassifier.{method}"' in classifier, method
    fine_tuning = (html / "user_guide" / "fine_tuning.html").read_text("utf-8")
    assert "n_trainable_blocks" in fine_tuning

    # The gallery: every example has its page and is listed; every executed one shows a figure.
    examples = sorted(EXAMPLES.glob("plot_*.py"))
    assert examples, "examples/ has no plot_*.py"
    gallery = html / "auto_examples"
    index = (gallery / "index.html").read_text("utf-8")
    heavy = set(heavy_examples())
    for example in examples:
        page = gallery / f"{example.stem}.html"
        assert page.is_file(), page
        assert f'href="{example.stem}.html' in index, example.name
        if example.name in heavy:
            continue
        figures = re.findall(
            rf'src="\.\./_images/(sphx_glr_{example.stem}_\d+\.png)"', page.read_text("utf-8")
        )
        assert figures, f"{example.name} ran but its page shows no figure"
        assert all((html / "_images" / f).is_file() for f in figures), figures
