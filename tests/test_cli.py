"""The CLI end to end on the recorded scenarios: what a user sees, and the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infracheck.cli import main
from tests.tools.seed import SEED_CRITICAL, SEED_WARNINGS

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = str(ROOT / "fixtures" / "outage")
HEALTHY = str(ROOT / "fixtures" / "healthy")


def run(capsys, *args, env=None):
    old = dict(os.environ)
    os.environ.pop("NO_COLOR", None)
    os.environ.update(env or {})
    try:
        code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(old)
    out, err = capsys.readouterr()
    return code, out, err


def section(text: str, title: str) -> list[str]:
    """The '- ' lines under a summary heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    items = []
    for line in lines[start + 1:]:
        if line.startswith("   - "):
            items.append(line[5:])
        elif not line.startswith("     "):
            break
    return items


def test_outage_replay_gives_the_seeds_report(capsys):
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--issue", "1278")
    assert code == 2
    assert "🚀 Starting Complete Infrastructure Validation for Issue #1278" in out
    for line in ["❌ Found 2 VPC connector issues", "❌ Found 2 Cloud SQL issues",
                 "📊 Secret validation: 8/10 valid", "❌ Missing secrets: database-url, jwt-secret-staging",
                 "❌ Found 2 Cloud Run service issues", "✅ Load balancer, certificates and health checks are valid",
                 "✅ DNS, TLS, HTTPS and WebSocket endpoints are reachable",
                 "Overall Status: CRITICAL", "Critical Failures: 6", "Warnings: 2"]:
        assert line in out
    assert section(out, "CRITICAL FAILURES:") == SEED_CRITICAL
    assert section(out, "WARNINGS:") == SEED_WARNINGS
    assert section(out, "NEXT ACTIONS:") == [
        "IMMEDIATE: Fix critical infrastructure failures",
        "ESCALATE: Notify infrastructure team of P0 outage",
        "MEDIUM: Address configuration warnings",
    ]
    assert "Traceback" not in out + err


def test_outage_lists_a_remedy_under_each_failure(capsys):
    _, out, _ = run(capsys, "diagnose", "--replay", OUTAGE)
    assert "fix: gcloud run services update auth-staging --vpc-egress=all-traffic" in out
    assert "fix: gcloud sql instances patch netra-staging-db --ssl-mode=ENCRYPTED_ONLY" in out


def test_healthy_replay(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", HEALTHY)
    assert code == 0
    assert "Overall Status: HEALTHY" in out and "Critical Failures: 0" in out and "Warnings: 0" in out
    assert "📊 Secret validation: 10/10 valid" in out
    assert section(out, "NEXT ACTIONS:") == ["MONITOR: Infrastructure is healthy - focus on application layer"]
    assert out.count("✅") == 9  # one per area with checks (the journey is off in the default profile)
    assert "✅ All required secrets are valid" in out
    assert "❌" not in out
    assert "Starting Complete Infrastructure Validation for netra-staging (us-central1)" in out


def test_json_report_owns_stdout(capsys):
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--format", "json")
    assert code == 2
    report = json.loads(out)
    assert report["schema"] == "infracheck/report/v1"
    assert report["status"] == "CRITICAL" and report["project"] == "netra-staging" and report["region"] == "us-central1"
    assert report["counts"] == {"critical": 6, "warning": 2, "error": 0, "muted": 0, "muted_critical": 0, "muted_warning": 0, "passed": report["counts"]["passed"], "skipped": 0}
    fails = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["message"] for f in fails if f["severity"] == "critical"] == SEED_CRITICAL
    assert {f["rule"] for f in fails} >= {"vpc.state", "cloudsql.state", "secrets.secret.exists", "cloudrun.vpc-connector"}
    assert all(set(f) >= {"check", "rule", "area", "status", "severity", "resource", "message", "actual", "expected",
                          "remedy", "muted", "change", "class", "caused_by"}
               for f in report["findings"])
    assert all(set(c) >= {"argv", "exit_code", "duration_s", "error"} for c in report["commands"])
    assert report["next_actions"][0].startswith("IMMEDIATE")


def test_report_only_exits_zero_and_prints_the_final_report(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--report-only")
    assert code == 0 and "Overall Status: CRITICAL" in out


def test_include_and_exclude(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--format", "json", "--include", "cloudsql.*")
    report = json.loads(out)
    ran = {f["area"] for f in report["findings"] if f["status"] != "skip"}
    assert ran == {"cloudsql"} and code == 2
    assert all(c["argv"][1] == "sql" for c in report["commands"])  # excluded checks never run
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--format", "json",
                       "--exclude", "vpc*,cloudsql*", "--exclude", "secrets*", "--exclude", "cloudrun*")
    report = json.loads(out)
    assert code == 0 and report["status"] == "HEALTHY" and report["counts"]["skipped"] > 0


def test_exclude_a_single_rule(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--include", "cloudsql.*", "--exclude", "cloudsql.state")
    assert code == 1 and "SSL not required - security risk" in out and "MAINTENANCE" not in out


@pytest.mark.parametrize("args,words", [
    (["diagnose", "--project=-rf"], "may not start with '-'"),
    (["diagnose", "--project", "bad project"], "spaces"),
    (["diagnose", "--region", "Mars"], "invalid region"),
    (["diagnose", "--set", "nosuch=1"], "unknown profile name 'nosuch'"),
    (["diagnose", "--set", "novalue"], "NAME=VALUE"),
    (["diagnose", "--replay", "/nonexistent/folder"], "does not exist"),
    (["diagnose", "--jobs", "0"], "--jobs"),
    (["diagnose", "--format", "yaml"], "--format"),
    (["diagnose", "--bogus"], "No such option"),
    (["explain", "no.such.rule"], "no rule or check 'no.such.rule'"),
    (["diagnose", "--replay", OUTAGE, "--include", "cloudsq.*"], "no check or rule matches --include cloudsq.*"),
])
def test_bad_input_is_one_clear_line_and_exit_3(capsys, args, words):
    code, out, err = run(capsys, *args)
    assert code == 3
    assert words in err
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith("infracheck: error:")


def test_gcloud_missing_is_one_line_exit_3(capsys, tmp_path):
    code, _, err = run(capsys, "diagnose", "--exclude", "network*", env={"PATH": str(tmp_path)})
    assert code == 3
    assert err.strip().startswith("infracheck: error: gcloud is not installed")
    assert len(err.strip().splitlines()) == 1


def test_not_recorded_command_is_unknown(capsys):
    code, out, _ = run(capsys, "diagnose", "--replay", HEALTHY, "--set", "connector=other-connector", "--include", "vpc.*")
    assert code == 3
    assert "Overall Status: UNKNOWN" in out and "no recording in" in out
    assert "INVESTIGATE: 1 check(s) could not be evaluated" in out


def test_output_file_and_no_color(capsys, tmp_path):
    target = tmp_path / "report.md"
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--color", "always", "--output", str(target),
                       env={"NO_COLOR": "1"})
    assert "\x1b[" not in out
    assert "Critical Failures: 6" in target.read_text()


def test_color_always(capsys):
    _, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--color", "always")
    assert "\x1b[31m" in out


def test_ascii_markers_when_the_terminal_cannot_encode_emoji():
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "infracheck", "diagnose", "--replay", OUTAGE],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "[X] Found 2 VPC connector issues" in done.stdout
    assert "Traceback" not in done.stderr


def test_json_pipes_into_json_tool():
    first = subprocess.Popen([sys.executable, "-m", "infracheck", "diagnose", "--replay", OUTAGE, "--format", "json"],
                             stdout=subprocess.PIPE, cwd=ROOT)
    done = subprocess.run([sys.executable, "-m", "json.tool"], stdin=first.stdout, capture_output=True, text=True, timeout=60)
    first.stdout.close()
    assert first.wait(timeout=60) == 2
    assert done.returncode == 0 and '"schema": "infracheck/report/v1"' in done.stdout


def test_list_shows_every_area_rule_and_command(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for area in ["[vpc]", "[cloudsql]", "[secrets]", "[cloudrun]", "[loadbalancer]", "[network]"]:
        assert area in out
    assert "$ gcloud sql instances describe netra-staging-db --project=netra-staging --format=json" in out
    assert "cloudsql.ssl" in out and "warning" in out
    code, out, _ = run(capsys, "list", "--format", "json", "--project", "netra-production")
    checks = json.loads(out)
    assert all("netra-production" in cmd for c in checks for cmd in c["commands"] if cmd.startswith("gcloud"))


def test_explain(capsys):
    code, out, _ = run(capsys, "explain", "cloudsql.ssl")
    assert code == 0
    assert "sslMode" in out and "ENCRYPTED_ONLY" in out and "gcloud sql instances patch" in out


def test_list_and_explain_say_what_is_not_judged(capsys):
    _, out, _ = run(capsys, "list")
    assert "loadbalancer.certificate.not-judged" in out and "Certificate Manager" in out
    code, out, _ = run(capsys, "explain", "loadbalancer.certificate.not-judged")
    assert code == 0 and "not judged (skip, never counted) when:" in out and "certificateMap" in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and "infracheck, version" in out


def test_help_documents_exit_codes(capsys):
    code, out, _ = run(capsys, "diagnose", "--help")
    assert code == 0 and "3  UNKNOWN" in out and "2  CRITICAL" in out


def test_explain_shows_an_item_the_rule_applies_to(capsys):
    code, out, _ = run(capsys, "explain", "secrets.min-length")
    assert code == 0 and "--secret=jwt-secret-staging" in out and "--secret=database-url" not in out


def test_help_lists_the_environment_and_shell_completion(capsys):
    for args in (["--help"], ["diagnose", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0
        for name in ("INFRACHECK_<NAME>", "INFRACHECK_NOW", "INFRACHECK_CA_BUNDLE", "INFRACHECK_RESOLVE",
                     "NO_COLOR", "TERM=dumb", 'eval "$(_INFRACHECK_COMPLETE=bash_source infracheck)"'):
            assert name in out, (args, name)


def test_the_documented_completion_works():
    env = {**os.environ, "_INFRACHECK_COMPLETE": "bash_complete", "COMP_WORDS": "infracheck diagnose --rep",
           "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-m", "infracheck"], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert "--replay" in done.stdout
