"""The shape of the package, asserted: what the import graph and the modules may and may not do."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sktransfer"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_import_and_parameters_load_no_torch():
    code = (
        "import sys, sktransfer, sktransfer.zoo, sktransfer.selection, sktransfer.adapt\n"
        "import sktransfer.cli\n"
        "from sklearn.base import clone\n"
        "from sktransfer import ImageClassifier, TextEncoder\n"
        "clone(ImageClassifier(n_trainable_blocks=2, module__hidden=8)).get_params()\n"
        "clone(TextEncoder(batch_size=4)).set_params(cache=False)\n"
        "heavy = ('torch', 'torchvision', 'skorch', 'sentence_transformers')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_no_modality_switch_outside_the_modality_modules():
    """Code outside sktransfer/modalities never branches on which modality it has."""
    literal = r"""["'](text|image)["']"""
    switch = re.compile(rf"(==|!=)\s*{literal}|{literal}\s*(==|!=)|\bin\s*[(\[{{]\s*{literal}")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{i}"
        for path in SOURCES
        if "modalities" not in path.parts
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if switch.search(line)
    ]
    assert not offenders


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_class_over_250_lines(path):
    tree = ast.parse(path.read_text())
    sizes = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    assert all(n <= 250 for n in sizes.values()), sizes


def test_own_modules_are_imported_plainly():
    """require() is for third-party packages; the package's own modules are imported by name."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in SOURCES
        if 'require("sktransfer' in path.read_text()
    ]
    assert not offenders
