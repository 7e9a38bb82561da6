"""tests/tools/lint_imports.py: it passes on this tree, and fails, naming the line, on an arrow up the pipeline
or a dependency outside its owner."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(__file__).resolve().with_name("lint_imports.py")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LINT), str(root)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "infracheck", tmp_path / "infracheck", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_this_tree_passes() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("module,line,said", [
    ("plan.py", "from infracheck import pipeline", "infracheck/plan.py:1: imports infracheck/pipeline/__init__.py, a later stage"),
    ("catalog/loader.py", "from infracheck.rules.evaluate import evaluate",
     "infracheck/catalog/loader.py:1: imports infracheck/rules/evaluate.py, a later stage (rules) than its own (catalog)"),
    ("rules/dialect.py", "from infracheck.judge import verdict", "imports infracheck/judge/verdict.py"),
    ("runner/probes.py", "import jmespath", "infracheck/runner/probes.py:1: imports jmespath"),
])
def test_an_arrow_up_the_pipeline_or_a_stray_dependency_fails(tree: Path, module: str, line: str, said: str) -> None:
    path = tree / "infracheck" / module
    path.write_text(line + "\n" + path.read_text())
    done = lint(tree)
    assert done.returncode == 1
    assert said in done.stdout
