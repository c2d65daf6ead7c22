"""The layers of the house: questionnaires < analysis < reports < survey, and no Flask outside survey.

`lint-imports` (scripts/test.sh, contracts in pyproject.toml) checks every import statement, lazy ones
inside functions included. What it cannot see is an import by name at run time (importlib, __import__);
this module looks for those, and runs the contracts too so that a plain pytest run catches a breach.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("questionnaires", "analysis", "reports", "survey")


def _dynamic_imports(path: Path) -> list[tuple[int, str]]:
    """Every module name given as a string to importlib.import_module or __import__ in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in ("import_module", "__import__"):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((node.lineno, first.value))
        else:
            found.append((node.lineno, "<computed>"))
    return found


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_lower_layers_import_no_higher_layer_by_name(package):
    higher = LAYERS[LAYERS.index(package) + 1 :]
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _dynamic_imports(path):
            top = module.split(".")[0]
            if module == "<computed>" or top in higher or top in ("flask", "flask_wtf", "wtforms"):
                offences.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert offences == []


def test_the_dynamic_import_finder_sees_both_spellings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\nimportlib.import_module('survey.errors')\n__import__(name)\n", encoding="utf-8"
    )
    assert _dynamic_imports(sample) == [(2, "survey.errors"), (3, "<computed>")]


def test_import_contracts_hold():
    """The contracts in pyproject.toml, as `lint-imports` checks them in scripts/test.sh."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout
