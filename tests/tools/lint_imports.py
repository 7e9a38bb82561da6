"""Two checks on infracheck's imports (STYLE.md: this drifts when nothing checks it).

1. Each dependency stays in the one module that owns it (sh, jmespath, colorama, ...).
2. Imports only point down the pipeline: a module of an earlier stage never
   imports one of a later stage (type-only imports included: an arrow is an arrow).

    python tests/tools/lint_imports.py [ROOT]     # ROOT: the repository (default: this one)
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from pathlib import Path

OWNERS = {
    "sh": {"infracheck/runner/gcloud.py", "infracheck/runner/warm.py", "infracheck/runner/hook.py"},  # hook: --on-change
    "subprocess": set(),
    # One JMESPath dialect: rules, the journey's expect/wait_for and fix mode's vars all go through it.
    "jmespath": {"infracheck/rules/dialect.py"},
    "colorama": {"infracheck/report/text.py"},
    "cryptography": {"infracheck/runner/probes.py"},
    # One network layer for the probes and the journey.
    "websockets": {"infracheck/runner/net.py"},
    # Loaded only when serve runs or the prometheus format renders (tests/test_startup.py).
    "prometheus_client": {"infracheck/report/prometheus.py", "infracheck/serve.py"},
}

# The pipeline, first stage first; a module belongs to the first stage a pattern of which matches its path.
# The rules' language (values, the typed dialect, the operators, validation) is the base every stage may
# use: the catalog validates with it, the journey and fix mode read documents with it.
STAGES = [
    ("base", ["infracheck/__init__.py", "infracheck/model/*", "infracheck/errors.py", "infracheck/environment.py",
              "infracheck/redact.py", "infracheck/timeutil.py", "infracheck/rules/__init__.py",
              "infracheck/rules/values.py", "infracheck/rules/dialect.py", "infracheck/rules/operators.py",
              "infracheck/rules/validate.py", "infracheck/rules/monitoring.py", "infracheck/rules/watching.py"]),
    ("catalog", ["infracheck/catalog/*"]),
    ("plan", ["infracheck/plan.py"]),
    ("runner", ["infracheck/runner/*"]),
    ("rules", ["infracheck/rules/*"]),
    ("judge", ["infracheck/judge/*"]),
    ("report", ["infracheck/report/*"]),
    ("fix and watch", ["infracheck/fix.py", "infracheck/alerts.py", "infracheck/watch.py", "infracheck/clock.py",
                       "infracheck/serve.py"]),
    ("pipeline", ["infracheck/pipeline/*"]),
    ("cli", ["infracheck/cli.py", "infracheck/params.py", "infracheck/__main__.py"]),
]


def stage_of(rel: str) -> int | None:
    return next((rank for rank, (_, patterns) in enumerate(STAGES) if any(fnmatch.fnmatch(rel, p) for p in patterns)),
                None)


def module_path(root: Path, dotted: str) -> str | None:
    """infracheck.a.b -> infracheck/a/b.py or infracheck/a/b/__init__.py, relative to root; None if neither."""
    base = root / Path(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(root).as_posix()
    return None


def imported(root: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """(line, path) of every infracheck module a module imports, `from infracheck.x import y` naming y if a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "infracheck"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "infracheck":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if module_path(root, sub) else node.module))
    return [(line, path) for line, dotted in found if (path := module_path(root, dotted)) is not None]


def problems(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "infracheck").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            match = re.match(r"\s*(?:import|from)\s+([a-z_]+)", line)
            if match and match.group(1) in OWNERS and rel not in OWNERS[match.group(1)]:
                owners = sorted(OWNERS[match.group(1)]) or "no module"
                found.append(f"{rel}:{number}: imports {match.group(1)} (only {owners} may)")
        mine = stage_of(rel)
        if mine is None:
            found.append(f"{rel}: belongs to no stage (add it to STAGES in tests/tools/lint_imports.py)")
            continue
        for number, target in imported(root, ast.parse(text)):
            theirs = stage_of(target)
            if theirs is not None and theirs > mine:
                found.append(f"{rel}:{number}: imports {target}, a later stage ({STAGES[theirs][0]}) than its own "
                             f"({STAGES[mine][0]}): imports point down the pipeline")
    return found


if __name__ == "__main__":
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    said = problems(repo)
    print("\n".join(said) or "lint: each dependency stays in its own module; imports point down the pipeline")
    sys.exit(1 if said else 0)
