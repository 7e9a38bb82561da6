"""--fix-mode and watch as a user meets them offline: the outage's plan, refusals, watch's output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infracheck.cli import main
from infracheck.model import Transition, Cycle, Finding, Overall, Report, Severity, Status
from infracheck.report import FORMATTERS, text
from tests.conftest import sigint_restored

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OUTAGE = str(FIXTURES / "outage")


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(list(args))
    return code, json.loads(capsys.readouterr().out)


def test_the_seed_outage_plan_causes_first_secrets_by_hand(capsys):
    code, report = _json(capsys, "diagnose", "--replay", OUTAGE, "--fix-mode", "--format", "json")
    assert code == 2  # the plan changes nothing, so the verdict is the diagnosis's
    steps = [(s["kind"], s["fixes"][0]["rule"], s["fixes"][0]["resource"]) for s in report["fixes"]]
    assert steps == [
        ("wait", "vpc.state", "staging-connector"),
        ("apply", "vpc.min-instances", "staging-connector"),
        ("wait", "cloudsql.state", "netra-staging-db"),
        ("manual", "cloudsql.ssl", "netra-staging-db"),
        ("manual", "secrets.secret.exists", "database-url"),
        ("manual", "secrets.secret.exists", "jwt-secret-staging"),
        ("apply", "cloudrun.vpc-connector", "netra-backend-staging"),
        ("apply", "cloudrun.vpc-egress", "auth-staging"),
    ]
    by_rule = {s["fixes"][0]["rule"]: s for s in report["fixes"]}
    assert by_rule["vpc.min-instances"]["argv"][-3:] == ["--min-instances=2", "--max-instances=10",
                                                         "--project=netra-staging"]
    assert by_rule["vpc.min-instances"]["changes"] == ["min instances 1 -> 2"]
    assert by_rule["cloudrun.vpc-egress"]["argv"] == [
        "gcloud", "run", "services", "update", "auth-staging", "--vpc-connector=staging-connector",
        "--vpc-egress=all-traffic", "--region=us-central1", "--project=netra-staging"]
    assert "cuts off every client" in by_rule["cloudsql.ssl"]["reason"]
    assert by_rule["secrets.secret.exists"]["reason"].startswith("infracheck never handles a secret's value")
    assert by_rule["secrets.secret.exists"]["argv"] == []
    assert {s["outcome"] for s in report["fixes"]} == {"planned", "manual"}


def test_the_plan_in_text_says_nothing_changed_and_what_yes_would_do(capsys):
    code = main(["diagnose", "--replay", OUTAGE, "--fix-mode", "--color", "never"])
    out = capsys.readouterr().out
    assert code == 2
    plan = out[out.index("FIX PLAN (nothing was changed)"):]
    assert " 1. WAIT   until VPC connector is READY (staging-connector)" in plan
    assert " 2. AUTO   $ gcloud compute networks vpc-access connectors update staging-connector" in plan
    assert "why by hand: infracheck never handles a secret's value" in plan
    assert "--yes applies 3 change(s) and 2 wait(s) in this order, stopping at the first failure" in plan


def test_no_plan_for_a_healthy_stack(capsys):
    code, report = _json(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), "--fix-mode", "--format", "json")
    assert code == 0 and "fixes" not in report


@pytest.mark.parametrize("args,words", [
    (["diagnose", "--replay", OUTAGE, "--fix-mode", "--yes"], "--yes changes a live project"),
    (["diagnose", "--replay", OUTAGE, "--yes"], "--yes goes with --fix-mode"),
    (["watch", "--replay", OUTAGE, "--max-wait", "soon"], "'soon' is not a duration"),
    (["watch", "--replay", OUTAGE, "--max-wait", "-5"], "is not a duration between 1 s and a week"),
    # Every number option is finite and in range: nan and inf never reach a timeout or a sleep.
    (["diagnose", "--replay", OUTAGE, "--fix-mode", "--fix-timeout", "nan"],
     "'--fix-timeout': 'nan' is not a number of seconds between 10 s and 2 h"),
    (["diagnose", "--replay", OUTAGE, "--fix-mode", "--fix-timeout", "inf"], "'inf' is not a number of seconds"),
    (["diagnose", "--replay", OUTAGE, "--fix-mode", "--fix-poll", "nan"], "'--fix-poll': 'nan' is not a number"),
    (["diagnose", "--replay", OUTAGE, "--timeout", "nan"], "'--timeout': 'nan' is not a number of seconds"),
    (["diagnose", "--replay", OUTAGE, "--timeout", "-inf"], "'--timeout': '-inf' is not a number of seconds"),
    (["watch", "--replay", OUTAGE, "--interval", "nan", "--max-wait", "1"],
     "'--interval': 'nan' is not a number of seconds between 0 s and a day"),
    (["watch", "--replay", OUTAGE, "--interval", "inf", "--max-wait", "1"], "'--interval': 'inf' is not a number"),
    (["watch", "--replay", OUTAGE, "--max-wait", "nan"], "'nan' is not a duration between 1 s and a week"),
    (["watch", "--replay", OUTAGE, "--max-wait", "inf"], "'inf' is not a duration between 1 s and a week"),
    (["watch", "--replay", OUTAGE, "--max-wait", "infm"], "'infm' is not a duration between 1 s and a week"),
])
def test_refusals_are_one_line_and_exit_3(capsys, args, words):
    assert main(args) == 3
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_watch_on_a_recording_prints_the_state_once_then_only_changes(capsys):
    code = main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--interval", "0", "--max-wait", "1",
                 "--color", "never"])
    out = capsys.readouterr().out
    assert code == 2
    assert out.count("CRITICAL: 1 critical, 1 warning, 0 could not check (1 commands)") == 1
    assert "   ❌ VPC connector state is 'CREATING', expected 'READY'" in out


def test_watch_json_lines_one_report_per_cycle(capsys):
    code = main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--interval", "0", "--max-wait", "1",
                 "--format", "json", "--full-every", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 2 and len(lines) >= 2
    cycles = [json.loads(line) for line in lines]
    assert [c["watch"]["cycle"] for c in cycles] == list(range(1, len(cycles) + 1))
    assert cycles[0]["watch"]["full"] and not cycles[1]["watch"]["full"]
    assert {c["status"] for c in cycles} == {"CRITICAL"}


def _finding(status: Status, message: str, actual: object = None) -> Finding:
    return Finding("vpc.connector", "vpc.state", "vpc", status, Severity.CRITICAL, "staging-connector", message,
                   actual=actual)


def test_a_change_reads_as_the_new_state_and_what_it_was():
    before = _finding(Status.FAIL, "VPC connector state is 'CREATING', expected 'READY'", "CREATING")
    after = _finding(Status.PASS, "VPC connector is READY")
    report = Report("p", "r", Overall.HEALTHY, (), (after,), ())
    cycle = Cycle(3, "2026-11-27T10:42:07+00:00", report, False, 1, (Transition(before, after),), Overall.CRITICAL)
    assert text.cycle(cycle, color=False).splitlines() == [
        "10:42:07 ✅ VPC connector is READY (was CREATING)",
        "10:42:07 Overall Status: HEALTHY (was CRITICAL)",
    ]
    assert text.cycle(cycle, color=False, ascii_only=True).splitlines()[0] == (
        "10:42:07 [OK] VPC connector is READY (was CREATING)")


def test_ctrl_c_prints_the_last_complete_cycle_and_exits_130(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("INFRACHECK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infracheck", "watch", "--replay", OUTAGE, "--include", "vpc*",
         "--interval", "600", "--color", "never"],
        cwd=Path(__file__).resolve().parent.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_restored)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first cycle is printed, then it sleeps 10 minutes
        assert "CRITICAL: 1 critical, 1 warning" in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted; last complete cycle (1) at " in err and ": CRITICAL" in err
    assert "Overall Status: CRITICAL" in out  # the last cycle's summary
    assert "Traceback" not in err


def test_a_muted_finding_gets_no_fix_step_and_stays_muted_in_watch(capsys, tmp_path):
    mute = tmp_path / "mute.toml"
    mute.write_text('[[mute]]\nrule = "vpc.min-instances"\nreason = "one instance until the load test"\n'
                    'owner = "platform"\nexpires = 2027-01-15\n')
    code, report = _json(capsys, "diagnose", "--replay", OUTAGE, "--fix-mode", "--mute", str(mute), "--format", "json")
    assert code == 2
    assert "vpc.min-instances" not in {f["rule"] for s in report["fixes"] for f in s["fixes"]}
    assert main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--mute", str(mute), "--interval", "0",
                 "--max-wait", "1", "--format", "json"]) == 2
    cycles = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(c["counts"]["warning"] == 0 and c["counts"]["muted"] == 1 for c in cycles)


def test_every_watch_cycle_names_the_root_causes_of_what_it_merged(capsys):
    assert main(["watch", "--replay", str(FIXTURES / "vpc-down"), "--exclude", "network*", "--interval", "0",
                 "--max-wait", "1", "--format", "json"]) == 2
    cycles = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(cycles) >= 2 and not cycles[1]["watch"]["full"]
    for c in cycles:
        ready = [f for f in c["findings"] if f["rule"] == "cloudrun.ready"]
        assert ready and all(f["caused_by"] == [{"rule": "vpc.state", "resource": "staging-connector"}] for f in ready)


RECREATE = ("gcloud compute networks vpc-access connectors delete staging-connector --region=us-central1 "
            "--project=netra-staging, then gcloud compute networks vpc-access connectors create staging-connector "
            "--region=us-central1 --network=staging-vpc --range=10.1.0.0/28 --min-instances=2 --max-instances=10 "
            "--project=netra-staging")


@pytest.mark.parametrize("rule", ["vpc.state", "vpc.network", "vpc.ip-range"])
def test_a_connector_to_recreate_gets_the_whole_delete_and_create_by_hand(capsys, rule):
    """ERROR, another network, another range: the plan names both commands with the profile's values (issue 17)."""
    code, report = _json(capsys, "diagnose", "--replay", str(FIXTURES / "vpc-broken"), "--include", "vpc*",
                         "--fix-mode", "--format", "json")
    assert code == 2
    [step] = [s for s in report["fixes"] if s["fixes"][0]["rule"] == rule]
    assert step["kind"] == "manual"  # recreating stops its traffic: a person decides when
    assert RECREATE in step["instruction"]
    assert "recreate it: gcloud compute networks vpc-access connectors describe" not in step["instruction"]


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")


def test_a_watch_cycle_reports_what_diagnose_reports_in_every_format(capsys, tmp_path):
    # One code path: a cycle (even one that re-ran only what failed) is diagnose's report for the
    # same state. Before, watch's JSON lost labels and generated_at, and its Markdown the P0 line,
    # the checklist and the resources of the action items.
    formats = sorted(FORMATTERS)
    args = ["--replay", str(FIXTURES / "vpc-down"), "--issue", "1278", "--color", "never"]
    assert main(["diagnose", *args, "--format", "json",
                 *[f"--output={f}={tmp_path / ('diagnose.' + f)}" for f in formats]]) == 2
    diagnosed = json.loads(capsys.readouterr().out)
    assert main(["watch", *args, "--format", "json", "--interval", "0", "--max-wait", "1", "--full-every", "1000",
                 *[f"--output={f}={tmp_path / ('watch.' + f)}" for f in formats]]) == 2
    cycles = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(cycles) >= 2 and not cycles[-1]["watch"]["full"]  # the last cycle re-ran only what failed
    for cycle in cycles:
        cycle.pop("watch")
        assert cycle == diagnosed
    assert diagnosed["labels"] and diagnosed["generated_at"]
    for fmt in formats:
        def read(name: str) -> str:
            return _TIMESTAMP.sub("<time>", (tmp_path / f"{name}.{fmt}").read_text())

        assert read("watch") == read("diagnose"), fmt
    markdown = (tmp_path / "watch.markdown").read_text()
    assert "P0" in markdown and "- [ ]" in markdown


def test_watch_prints_a_nagios_line_per_cycle_and_offers_only_what_it_streams(capsys):
    assert main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--interval", "0", "--max-wait", "1",
                 "--format", "nagios"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and all(line.startswith("INFRACHECK CRITICAL - 1 critical, 1 warning") for line in lines)
    assert main(["watch", "--replay", OUTAGE, "--format", "markdown", "--max-wait", "1"]) == 3
    assert "'markdown' is not one of 'json', 'nagios', 'text'" in capsys.readouterr().err
    assert main(["watch", "--help"]) == 0
    assert "[json|nagios|text]" in capsys.readouterr().out


def test_watch_marks_each_cycle_against_a_baseline(capsys, tmp_path):
    baseline = tmp_path / "before.json"
    assert main(["diagnose", "--replay", OUTAGE, "--format", "json", "--output", f"json={baseline}"]) == 2
    capsys.readouterr()
    assert main(["watch", "--replay", str(FIXTURES / "healthy"), "--baseline", str(baseline), "--until", "healthy",
                 "--interval", "0", "--max-wait", "5", "--format", "json"]) == 0
    (cycle,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cycle["status"] == "HEALTHY" and cycle["changes"]["new"] == []
    assert {(f["rule"], f["resource"]) for f in cycle["changes"]["resolved"]} >= {("vpc.state", "staging-connector")}
