"""Baselines: what is not a report of this project is a one-line error; each finding is new, still or resolved."""

from __future__ import annotations

import json

import pytest

from infracheck.judge import baseline, verdict
from infracheck.model import Change, Finding, Report, Severity, Status
from infracheck.report import json as json_report
from infracheck.report import text


def report_json(**changes) -> str:
    data = {"schema": "infracheck/report/v1", "status": "CRITICAL", "project": "netra-staging",
            "region": "us-central1", "generated_at": "2026-11-27T08:00:00+00:00",
            "findings": [{"check": "vpc.connector", "rule": "vpc.state", "area": "vpc", "status": "fail",
                          "severity": "critical", "resource": "staging-connector",
                          "message": "VPC connector state is 'CREATING', expected 'READY'"}]}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


NOT_A_REPORT = "baseline old.json is not an infracheck JSON report"

BAD = [
    pytest.param("", f"{NOT_A_REPORT} (not JSON at line 1)", id="empty"),
    pytest.param("Overall Status: CRITICAL\n", f"{NOT_A_REPORT} (not JSON at line 1)", id="a-text-report"),
    pytest.param("[1, 2]", f"{NOT_A_REPORT} (no 'schema' key; make one with --format json)", id="json-list"),
    pytest.param('{"status": "HEALTHY"}', f"{NOT_A_REPORT} (no 'schema' key; make one with --format json)",
                 id="no-schema"),
    pytest.param(report_json(schema="infracheck/report/v2"),
                 'baseline old.json has schema "infracheck/report/v2"; this infracheck compares with '
                 "infracheck/report/v1 reports", id="other-schema"),
    pytest.param(report_json(schema="sarif-2.1.0"),
                 'baseline old.json has schema "sarif-2.1.0"; this infracheck compares with '
                 "infracheck/report/v1 reports", id="other-tool"),
    pytest.param(report_json(project="netra-prod"),
                 "baseline old.json is a report on project \"netra-prod\", this run is on 'netra-staging'",
                 id="other-project"),
    pytest.param(report_json(project=...),
                 "baseline old.json is a report on project null, this run is on 'netra-staging'", id="no-project"),
    pytest.param(report_json(findings={"vpc.state": "fail"}), f"{NOT_A_REPORT} ('findings' is not a list)",
                 id="findings-not-list"),
    pytest.param(report_json(findings=[{"rule": "vpc.state", "status": "broken", "resource": "r", "message": "m"}]),
                 f"{NOT_A_REPORT} (finding 1 lacks a string rule, resource and message, or has an unknown status "
                 "or severity)", id="unknown-status"),
    pytest.param(report_json(findings=[{"rule": "vpc.state", "status": "fail", "message": "m"}]),
                 f"{NOT_A_REPORT} (finding 1 lacks a string rule, resource and message, or has an unknown status "
                 "or severity)", id="no-resource"),
    pytest.param(report_json(findings=[{"rule": "a", "status": "fail", "resource": "r", "message": "m",
                                        "severity": "fatal"}]),
                 f"{NOT_A_REPORT} (finding 1 lacks a string rule, resource and message, or has an unknown status "
                 "or severity)", id="unknown-severity"),
    pytest.param(report_json(generated_at=1764230400), f"{NOT_A_REPORT} ('generated_at' is not a string)",
                 id="generated-at-number"),
]


@pytest.mark.parametrize("content, message", BAD)
def test_what_cannot_be_a_baseline_is_one_clear_line(content, message):
    with pytest.raises(baseline.BaselineError) as exc:
        baseline.parse(content, "old.json", "netra-staging")
    assert str(exc.value) == message


def test_unreadable_baseline(tmp_path):
    with pytest.raises(baseline.BaselineError, match=r"absent.json: cannot read it: No such file"):
        baseline.load(tmp_path / "absent.json", "netra-staging")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(baseline.BaselineError, match="not an infracheck JSON report"):
        baseline.load(tmp_path / "binary.json", "netra-staging")


def test_a_report_without_generated_at_is_accepted():
    old = baseline.parse(report_json(generated_at=...), "old.json", "netra-staging")
    assert old.generated_at is None and [f.rule for f in old.findings] == ["vpc.state"]


# --- comparing -------------------------------------------------------------------

P, F, E, S = Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP

# (status in the baseline or None when absent, status now, the mark)
MARKS = [
    (None, F, Change.NEW),
    (P, F, Change.NEW),
    (S, F, Change.NEW),
    (F, F, Change.STILL),
    (E, E, Change.STILL),
    (F, E, Change.NEW),  # a could-not-check now is news; the failure is not known to be gone
    (E, F, Change.NEW),
    (F, P, Change.RESOLVED),
    (E, P, Change.RESOLVED),
    (P, P, None),
    (None, P, None),
    (F, S, None),  # not checked now: nothing says it went away
]


def f(rule: str, status: Status, resource: str = "staging-connector", message: str = "") -> Finding:
    return Finding(check="vpc.connector", rule=rule, area="vpc", status=status, severity=Severity.CRITICAL,
                   resource=resource, message=message or f"{rule} {status.value}")


@pytest.mark.parametrize("before, now, mark", MARKS)
def test_each_finding_is_marked_by_rule_and_resource(before, now, mark):
    old = baseline.Baseline("netra-staging", None, (f("vpc.state", before, message="then"),) if before else ())
    marked, changes = baseline.compare((f("vpc.state", now),), old)
    assert marked[0].change is mark
    assert [x.rule for x in changes.new] == (["vpc.state"] if mark is Change.NEW else [])
    assert [x.rule for x in changes.still] == (["vpc.state"] if mark is Change.STILL else [])
    # A resolved problem is listed as the baseline said it, so the reader sees what went away.
    assert [x.message for x in changes.resolved] == (["then"] if mark is Change.RESOLVED else [])


def test_identity_is_rule_and_resource_not_message():
    old = baseline.Baseline("netra-staging", "T", (f("cloudrun.ready", F, "auth-staging", "old words"),))
    now = (f("cloudrun.ready", F, "auth-staging", "new words"), f("cloudrun.ready", F, "netra-backend-staging"))
    marked, changes = baseline.compare(now, old)
    assert [x.change for x in marked] == [Change.STILL, Change.NEW]
    assert changes.since == "T"


def _compared_report():
    old = baseline.parse(report_json(findings=[
        {"rule": "vpc.state", "status": "fail", "severity": "critical", "resource": "staging-connector",
         "message": "VPC connector state is 'CREATING', expected 'READY'"},
        {"rule": "cloudsql.ssl", "status": "fail", "severity": "warning", "resource": "netra-staging-db",
         "message": "SSL not required - security risk"},
    ]), "old.json", "netra-staging")
    now = (f("vpc.state", P), Finding("cloudsql.instance", "cloudsql.ssl", "cloudsql", F, Severity.WARNING,
                                      "netra-staging-db", "SSL not required - security risk"),
           Finding("secrets.secret", "secrets.secret.exists", "secrets", F, Severity.CRITICAL, "database-url",
                   "Secret 'database-url' is missing"))
    marked, changes = baseline.compare(now, old)
    return Report("netra-staging", "us-central1", verdict.overall(marked), (), marked, (), changes=changes)


def test_text_opens_with_resolved_and_new_since_the_baselines_time():
    out = text.render(_compared_report())
    assert ("✔️  RESOLVED since 2026-11-27T08:00:00+00:00: 1\n"
            "   - VPC connector state is 'CREATING', expected 'READY'\n") in out
    assert "🆕 NEW since 2026-11-27T08:00:00+00:00: 1\n   - Secret 'database-url' is missing\n" in out
    assert "Still failing since 2026-11-27T08:00:00+00:00: 1" in out
    assert out.index("RESOLVED since") < out.index("CRITICAL FAILURES:")


def test_text_says_since_the_baseline_when_it_has_no_time():
    old = baseline.parse(report_json(generated_at=...), "old.json", "netra-staging")
    marked, changes = baseline.compare((f("vpc.state", P),), old)
    out = text.render(Report("netra-staging", "us-central1", verdict.overall(marked), (), marked, (), changes=changes),
                      ascii_only=True)
    assert "[-] RESOLVED since the baseline: 1" in out and "[+] NEW since the baseline: 0" in out


def test_json_changes_has_the_three_lists_and_each_finding_its_mark():
    data = json.loads(json_report.render(_compared_report()))
    assert data["changes"]["since"] == "2026-11-27T08:00:00+00:00"
    assert [(c["rule"], c["resource"]) for c in data["changes"]["new"]] == [("secrets.secret.exists", "database-url")]
    assert [(c["rule"], c["resource"]) for c in data["changes"]["still"]] == [("cloudsql.ssl", "netra-staging-db")]
    assert data["changes"]["resolved"] == [{
        "rule": "vpc.state", "resource": "staging-connector", "status": "fail", "severity": "critical",
        "message": "VPC connector state is 'CREATING', expected 'READY'"}]
    assert [x["change"] for x in data["findings"]] == ["resolved", "still", "new"]


def test_a_json_report_is_a_baseline_for_the_next_run():
    """Round trip: what --format json writes, --baseline reads."""
    first = _compared_report()
    again = baseline.parse(json_report.render(first), "run1.json", "netra-staging")
    marked, changes = baseline.compare(first.findings, again)
    assert [x.change for x in marked] == [None, Change.STILL, Change.STILL]
    assert changes.resolved == () and changes.new == ()


# --- end to end: `infracheck diagnose --baseline` on recorded scenarios ------------------------------

from tests.test_cli import HEALTHY, OUTAGE, ROOT, run, section  # noqa: E402
from tests.tools.seed import SEED_CRITICAL, SEED_WARNINGS  # noqa: E402


@pytest.fixture
def outage_report(capsys, tmp_path):
    """The JSON report of the outage, as an on-call would have attached it an hour ago."""
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--format", "json")
    assert code == 2 and json.loads(out)["generated_at"] == "2026-11-27T00:00:00+00:00"
    path = tmp_path / "outage.json"
    path.write_text(out)
    return path


def test_cli_after_the_fix_everything_is_resolved_since_the_baseline(capsys, outage_report):
    code, out, _ = run(capsys, "diagnose", "--replay", HEALTHY, "--baseline", str(outage_report))
    assert code == 0
    assert "RESOLVED since 2026-11-27T00:00:00+00:00: 8" in out and "NEW since 2026-11-27T00:00:00+00:00: 0" in out
    assert sorted(section(out, "RESOLVED since")) == sorted(SEED_CRITICAL + SEED_WARNINGS)
    code, out, _ = run(capsys, "diagnose", "--replay", HEALTHY, "--baseline", str(outage_report), "--format", "json")
    changes = json.loads(out)["changes"]
    assert len(changes["resolved"]) == 8 and changes["new"] == [] and changes["still"] == []


def test_cli_a_partial_fix_shows_what_is_new_and_what_is_still_broken(capsys, outage_report):
    code, out, _ = run(capsys, "diagnose", "--replay", str(ROOT / "fixtures" / "vpc-broken"), "--baseline",
                       str(outage_report), "--format", "json")
    data = json.loads(out)
    marks = {(f["rule"], f["resource"]): f["change"] for f in data["findings"] if f["status"] == "fail"}
    assert set(marks.values()) <= {"new", "still"}
    assert {(c["rule"], c["resource"]) for c in data["changes"]["new"]} == {k for k, v in marks.items() if v == "new"}
    assert ("vpc.state", "staging-connector") in {(c["rule"], c["resource"]) for c in data["changes"]["still"]}
    assert ("cloudsql.state", "netra-staging-db") in {(c["rule"], c["resource"]) for c in data["changes"]["resolved"]}


@pytest.mark.parametrize("content, message", [
    pytest.param("🚀 Starting Complete Infrastructure Validation\n", "is not an infracheck JSON report (not JSON at line 1)",
                 id="a-text-report"),
    pytest.param('{"schema": "infracheck/report/v0", "project": "netra-staging", "findings": []}',
                 'has schema "infracheck/report/v0"; this infracheck compares with infracheck/report/v1 reports',
                 id="other-schema"),
    pytest.param('{"schema": "infracheck/report/v1", "project": "netra-prod", "findings": []}',
                 "is a report on project \"netra-prod\", this run is on 'netra-staging'", id="other-project"),
    # Another region's connector and services are other resources (issue 17).
    pytest.param(report_json(region="europe-west1"),
                 "is a report on region \"europe-west1\", this run is on 'us-central1'", id="other-region"),
])
def test_cli_bad_baseline_is_one_line_and_exit_3_before_anything_runs(capsys, tmp_path, content, message):
    path = tmp_path / "old.json"
    path.write_text(content)
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--baseline", str(path))
    assert code == 3 and out == ""
    assert err == f"infracheck: error: baseline {path} {message}\n"


def test_a_missing_resource_that_now_exists_is_resolved_a_deleted_one_is_not():
    missing = Finding("secrets.secret", "secrets.secret.exists", "secrets", F, Severity.CRITICAL, "database-url",
                      "Secret 'database-url' is missing")
    state = Finding("vpc.connector", "vpc.state", "vpc", F, Severity.CRITICAL, "staging-connector", "CREATING")
    old = baseline.Baseline("netra-staging", None, (missing, state))
    now = (Finding("secrets.secret", "secrets.postgres-url", "secrets", P, Severity.CRITICAL, "database-url", "ok"),
           Finding("vpc.connector", "vpc.connector.exists", "vpc", F, Severity.CRITICAL, "staging-connector",
                   "VPC connector 'staging-connector' does not exist"))
    marked, changes = baseline.compare(now, old)
    assert [(x.rule, x.resource) for x in changes.resolved] == [("secrets.secret.exists", "database-url")]
    assert [x.rule for x in changes.new] == ["vpc.connector.exists"]
