"""The verdict (judge/verdict.py) never claims more than was checked: nothing judged or an interrupted
run is never better than UNKNOWN, excluded areas are named, a count counts what it says.

Each test runs through the CLI on the recorded fixtures (no gcloud process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infracheck import runner
from tests.tools.fakes import run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_a_run_that_evaluated_nothing_is_unknown(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--exclude", "*", "--color", "never")
    assert code == 3
    assert "Overall Status: UNKNOWN" in out and "HEALTHY" not in out
    assert "Nothing was selected: --exclude * left no check to run" in out
    assert "MONITOR" not in out
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--exclude", "*", "--format", "json")
    report = json.loads(out)
    assert code == 3 and report["status"] == "UNKNOWN"
    assert report["notes"] == ["Nothing was selected: --exclude * left no check to run"]


def test_excluded_areas_are_named_in_the_summary(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--exclude", "vpc,cloudsql.ssl*",
                       "--color", "never")
    assert code == 0
    [line] = [line for line in out.splitlines() if "skipped" in line]
    assert line.startswith("8 checks skipped (--exclude vpc,cloudsql.ssl*): all of vpc, cloudsql.ssl")


def _interrupt_after(count: int, monkeypatch) -> None:
    """Ctrl-C lands after `count` commands finished: the rest never report."""
    real = runner.collect

    def collect(argvs, source, jobs, deadline=None, lapse=None):
        for n, outcome in enumerate(real(argvs, source, 1)):
            if n == count:
                raise KeyboardInterrupt
            yield outcome

    monkeypatch.setattr(runner, "collect", collect)


def test_an_interrupted_run_is_never_better_than_unknown(capsys, monkeypatch):
    # In plan order the healthy stack's first 8 commands are VPC, Cloud SQL and 5 of the 10 secrets.
    _interrupt_after(8, monkeypatch)
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--color", "never")
    assert code == 130
    assert "Overall Status: UNKNOWN" in out and "Overall Status: HEALTHY" not in out
    assert "Secret validation: 5/10 valid" in out  # counts are of what was planned
    blocks = out.split("\n\n")
    cloudrun = next(b for b in blocks if "Checking Cloud Run Services" in b)
    assert "Not finished" in cloudrun and "(no checks selected)" not in cloudrun
    assert "✅" not in cloudrun
    vpc = next(b for b in blocks if "Checking VPC Connector" in b)
    assert "✅ VPC connector configuration is valid" in vpc

    _interrupt_after(8, monkeypatch)
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--format", "json")
    report = json.loads(out)
    assert code == 130 and report["status"] == "UNKNOWN" and report["incomplete"] is True
    unfinished = set(report["unfinished_areas"])
    assert {"secrets", "cloudrun", "loadbalancer", "network"} <= unfinished  # and any area planned after them
    assert not unfinished & {"vpc", "cloudsql"}


def test_an_interrupted_critical_run_stays_critical(capsys, monkeypatch):
    _interrupt_after(3, monkeypatch)  # the outage's connector is already known broken
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "outage"), "--color", "never")
    assert code == 130 and "Overall Status: CRITICAL" in out


def test_a_line_that_counts_secrets_counts_secrets(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "secrets-malformed"), "--color", "never")
    assert "Found 10 malformed secrets" in out  # 10 secrets, 11 failed rules (smtp-password fails twice)
    assert "Secret validation: 0/10 valid" in out
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "outage"), "--color", "never")
    assert "Found 2 VPC connector issues" in out  # the other areas keep counting issues
