"""Start-up: `--help`, `list`, `explain` and a replay import only what they use.

Every invocation (and every watch cycle) pays for what `infracheck.cli`
imports; the probe and process modules (asyncio, websockets, cryptography,
sh) are imported when a live run starts. Checked in a fresh interpreter, by
module name: timings belong in `make bench`, not in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIVE_ONLY = {"infracheck.runner.probes", "infracheck.runner.net", "infracheck.runner.gcloud", "infracheck.runner.warm",
             "infracheck.runner", "sh", "websockets", "cryptography",
             "asyncio", "ssl"}


def modules_after(*args: str) -> set[str]:
    """The modules loaded after `infracheck ARGS` ran in a fresh interpreter."""
    script = (
        "import io, json, sys, contextlib\n"
        "from infracheck import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    code = cli.main({list(args)!r}) if {bool(args)!r} else 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [(), ("--help",), ("list",), ("explain", "cloudsql.state")],
                         ids=["import", "help", "list", "explain"])
def test_commands_that_run_nothing_import_no_probe_or_process_module(args: tuple[str, ...]) -> None:
    loaded = modules_after(*args)
    assert "infracheck.cli" in loaded
    assert not loaded & LIVE_ONLY, sorted(loaded & LIVE_ONLY)


# What a command that reads no catalog never needs: the catalog and its parsers,
# the run stage's judges, every renderer.
CATALOG_AND_AFTER = {"infracheck.model", "infracheck.catalog.loader", "infracheck.catalog.profile",
                     "infracheck.catalog.entries", "infracheck.rules", "infracheck.rules.dialect",
                     "infracheck.rules.evaluate", "infracheck.plan", "infracheck.pipeline", "jmespath", "tomllib",
                     "infracheck.report.text", "infracheck.report.json", "infracheck.report.console",
                     "infracheck.fix", "infracheck.judge.mutes", "infracheck.judge.stage",
                     "infracheck.runner.recording", "dataclasses",
                     "prometheus_client", "infracheck.serve", "http.server", "infracheck.catalog.targets",
                     "infracheck.judge.fleet", "infracheck.judge.parity", "infracheck.report.parity",
                     "infracheck.catalog.discover", "infracheck.runner.inventory"}


@pytest.mark.parametrize("args", [(), ("--help",), ("diagnose", "--help"), ("serve", "--help"), ("--version",),
                                  ("targets", "--help"), ("merge", "--help"), ("parity", "--help"),
                                  ("discover", "--help")],
                         ids=["import", "help", "diagnose-help", "serve-help", "version", "targets-help", "merge-help",
                              "parity-help", "discover-help"])
def test_help_loads_no_catalog_model_or_renderer(args: tuple[str, ...]) -> None:
    loaded = modules_after(*args)
    assert not loaded & CATALOG_AND_AFTER, sorted(loaded & CATALOG_AND_AFTER)


def test_list_loads_no_renderer() -> None:
    loaded = modules_after("list")
    assert not {m for m in loaded if m.startswith("infracheck.report.")}, sorted(loaded)


@pytest.mark.parametrize("args", [("list",), ("list", "--format", "json"), ("list", "--format", "markdown"),
                                  ("explain", "cloudsql.state")],
                         ids=["list", "list-json", "list-markdown", "explain"])
def test_list_and_explain_from_the_cache_load_no_catalog_or_model(args: tuple[str, ...]) -> None:
    modules_after(*args)  # fills the cache (the suite's own folder, conftest.py)
    loaded = modules_after(*args)
    assert "infracheck.catalog.cache" in loaded
    assert not loaded & CATALOG_AND_AFTER, sorted(loaded & CATALOG_AND_AFTER)


def test_a_replay_imports_no_probe_or_process_runner() -> None:
    loaded = modules_after("diagnose", "--replay", str(ROOT / "fixtures" / "healthy"), "--exclude", "network*",
                           "--format", "json")
    assert "infracheck.runner" in loaded  # it did run
    assert "prometheus_client" not in loaded  # only serve and --format prometheus need it
    assert not loaded & (LIVE_ONLY - {"infracheck.runner.gcloud", "infracheck.runner"}), sorted(loaded & LIVE_ONLY)

