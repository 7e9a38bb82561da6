"""Golden files: every format's report on the recorded outage and healthy stack.

`make golden` rewrites tests/golden/<scenario>/ from fixtures/<scenario>; review
the diff (git diff tests/golden) like code, then commit it. tests/report/test_golden.py
fails when a report changes without its golden file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infracheck.cli import main  # noqa: E402
from infracheck.report import FORMATTERS  # noqa: E402

SCENARIOS = ("outage", "healthy")
GOLDEN = ROOT / "tests" / "golden"
EXTENSION = {"text": "txt", "json": "json", "markdown": "md", "labels": "txt", "message": "txt",
             "junit": "xml", "nagios": "txt", "github": "txt", "prometheus": "prom"}


def name(fmt: str) -> str:
    return f"{fmt}.{EXTENSION[fmt]}"


def write(scenario: str, folder: Path) -> int:
    """One run of the scenario writes every format into folder; returns the exit code."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ["diagnose", "--replay", str(ROOT / "fixtures" / scenario), "--issue", "1278", "--report-only",
            "--format", "nagios"]
    for fmt in sorted(FORMATTERS):
        args += ["--output", f"{fmt}={folder / name(fmt)}"]
    return main(args)


def environment_keys() -> list[str]:
    """What must not leak in from the environment: the goldens are the same on every machine."""
    return [k for k in os.environ if k.startswith("INFRACHECK_") or k in ("GITHUB_STEP_SUMMARY", "NO_COLOR")]


if __name__ == "__main__":
    for key in environment_keys():
        del os.environ[key]
    for scenario in SCENARIOS:
        code = write(scenario, GOLDEN / scenario)
        print(f"golden: {scenario}: {len(FORMATTERS)} formats into tests/golden/{scenario} (exit {code})")
