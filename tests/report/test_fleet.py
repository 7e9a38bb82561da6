"""The fleet report in every format: each names the target of every finding, names a target that could not be
checked with its reason, and gives the worst target's verdict; read back with each format's own parser.

The fleet is built from small v1 reports (report/json.py's documents of tests/report/sample.py's reports), as a
live `diagnose --targets` run and `infracheck merge` of shard files build it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from infracheck.cli import main
from infracheck.errors import CannotRun
from infracheck.judge import fleet
from infracheck.model import Status
from infracheck.report import FORMATTERS
from infracheck.report import fleet as fleet_report
from infracheck.report import json as json_report
from tests.report.sample import CRIT, WARN, default_catalog, finding, report
from tests.report.test_markdown import headings, parse, tables

DENIED = "permission denied: roles/viewer"
CRITICAL_REPORT = json_report.as_dict(report(
    finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'", remedy="wait for it"),
    finding("vpc.min-instances", *WARN, message="Min instances is 1, should be at least 2"),
    finding("cloudsql.state", Status.ERROR, message="Cloud SQL instance netra-staging-db: permission denied"),
    finding("network.health-status"),
))
HEALTHY_REPORT = json_report.as_dict(report(*[finding(r.id, check=c.id, resource=c.resource)
                                              for c in default_catalog().checks for r in c.rules]))


def _listed(name: str, project: str, region: str = "us-central1") -> fleet.Listed:
    return fleet.Listed(name, project, region)


def _fleet(*members: fleet.Member) -> fleet.Fleet:
    ordered = tuple(sorted(members, key=lambda m: m.target.name))
    return fleet.Fleet(ordered, tuple(m.target for m in ordered), "sha256:test",
                       generated_at="2026-11-27T00:00:00+00:00")


HEALTHY = fleet.member(_listed("netra-staging", "netra-staging"), HEALTHY_REPORT)
# A target's report is of its own project and region (a fleet document keeps them there, not in the selection).
OUTAGE = fleet.member(_listed("netra-prod", "netra-production", "us-west1"),
                      {**CRITICAL_REPORT, "project": "netra-production", "region": "us-west1"})
UNCHECKED = fleet.unchecked(_listed("netra-dev", "netra-dev"), DENIED)
FLEET = _fleet(HEALTHY, OUTAGE, UNCHECKED)


def test_every_format_names_the_target_not_checked_and_gives_the_worst_verdict() -> None:
    assert set(FORMATTERS) == set(fleet_report.FORMATS)  # a new format needs its fleet form
    for fmt in FORMATTERS:
        text = fleet_report.render_as(fmt, FLEET)
        if fmt == "labels":  # a list of the labels: no target is a label (test_labels_...)
            assert text.startswith("P0,")
            continue
        assert "netra-dev" in text and DENIED in text, fmt
        assert "CRITICAL" in text, fmt
    only_healthy_and_unchecked = _fleet(HEALTHY, UNCHECKED)
    for fmt in ("text", "markdown", "github", "nagios", "message"):
        text = fleet_report.render_as(fmt, only_healthy_and_unchecked)
        assert "UNKNOWN" in text and "HEALTHY:" not in text.splitlines()[0], fmt


def test_a_fleet_of_no_target_is_unknown_in_every_format() -> None:
    """An empty shard (more shards than targets) is no evidence: never HEALTHY, never OK."""
    empty = fleet.Fleet((), (), "sha256:test")
    for fmt in FORMATTERS:
        text = fleet_report.render_as(fmt, empty)
        assert ("UNKNOWN" in text) is (fmt not in ("labels", "junit")), fmt
        assert "HEALTHY:" not in text and "every target is healthy" not in text, fmt
    assert fleet_report.render_as("nagios", empty).startswith("INFRACHECK UNKNOWN - 0 targets")


def test_an_unknown_format_is_one_clear_error() -> None:
    with pytest.raises(CannotRun, match="unknown report format 'yaml'"):
        fleet_report.render_as("yaml", FLEET)


def test_markdown_summary_table_then_a_findings_table_per_target() -> None:
    text = fleet_report.render_as("markdown", FLEET)
    tokens = parse(text)
    assert headings(tokens, 2) == ["🚨 FLEET CRITICAL: 3 targets"]
    assert headings(tokens, 3) == ["Target netra-dev (netra-dev, us-central1): UNKNOWN",
                                   "Target netra-prod (netra-production, us-west1): CRITICAL",
                                   "Target netra-staging (netra-staging, us-central1): HEALTHY"]
    summary, *per_target = tables(tokens)
    assert summary == [
        ["Target", "Project", "Region", "Verdict", "Root causes", "First root cause"],
        ["netra-dev", "netra-dev", "us-central1", "UNKNOWN", "-", f"not checked: {DENIED}"],
        ["netra-prod", "netra-production", "us-west1", "CRITICAL", "3",
         "VPC connector state is 'CREATING', expected 'READY'"],
        ["netra-staging", "netra-staging", "us-central1", "HEALTHY", "0", ""],
    ]
    assert "2/3 targets checked; 1 could not be checked: netra-dev (permission denied: roles/viewer)" in text
    unchecked, outage = per_target  # the healthy target has no problem to list
    assert unchecked[1][:3] == ["netra-dev", "could not check", "target.checked"]
    assert [row[:4] for row in outage[1:]] == [
        ["netra-prod", "critical", "vpc.state", "staging-connector"],
        ["netra-prod", "warning", "vpc.min-instances", "staging-connector"],
        ["netra-prod", "could not check", "cloudsql.state", "netra-staging-db"],
    ]
    assert outage[1][4:] == ["VPC connector state is 'CREATING', expected 'READY'", "wait for it"]
    assert "No problem found" in text.split("Target netra-staging")[1]
    assert fleet_report.step_summary(FLEET) == text
    assert "🚨" not in fleet_report.render_as("markdown", FLEET, ascii_only=True)


def test_markdown_text_from_a_report_cannot_change_the_tables() -> None:
    hostile = json_report.as_dict(report(finding("vpc.state", *CRIT, message="a | b <script>x</script>\n## head")))
    text = fleet_report.render_as("markdown", _fleet(fleet.member(_listed("x", "netra-staging"), hostile)))
    tokens = parse(text)
    assert not [t for t in tokens if t.type.startswith("html") and "script" in t.content]
    assert headings(tokens, 2) == ["🚨 FLEET CRITICAL: 1 target"]
    rows = tables(tokens)[1]
    assert rows[1][4] == "a | b <script>x</script> ## head" and len(rows[1]) == 6


def test_junit_one_suite_per_target_with_its_project_and_region(tmp_path: Path) -> None:
    path = tmp_path / "fleet.xml"
    path.write_text(fleet_report.render_as("junit", FLEET), encoding="utf-8")
    suites = {s.name: s for s in JUnitXml.fromfile(str(path))}
    assert list(suites) == ["netra-dev", "netra-prod", "netra-staging"]
    props = {name: {p.name: p.value for p in s.properties()} for name, s in suites.items()}
    assert props["netra-prod"] == {"project": "netra-production", "region": "us-west1", "verdict": "CRITICAL"}
    assert props["netra-dev"]["not_checked"] == DENIED
    [case] = list(suites["netra-dev"])
    assert case.name == "target.checked [netra-dev]" and isinstance(case.result[0], Error)
    assert case.result[0].message == f"Target netra-dev could not be checked: {DENIED}"
    prod = {c.name: c for c in suites["netra-prod"]}
    state = prod["vpc.state [staging-connector]"]
    assert state.classname == "infracheck.netra-prod.vpc"
    assert isinstance(state.result[0], Failure) and state.result[0].type == "critical"
    assert "fix: wait for it" in (state.result[0].text or "")
    assert (suites["netra-prod"].failures, suites["netra-prod"].errors) == (2, 1)
    assert suites["netra-staging"].failures == suites["netra-staging"].errors == 0
    assert suites["netra-staging"].tests == len(HEALTHY_REPORT["findings"])


def test_github_every_annotation_names_its_target_then_the_fleet_notice() -> None:
    lines = fleet_report.render_as("github", FLEET).splitlines()
    assert lines[0] == (f"::warning title=infracheck could not check target netra-dev::Target netra-dev could not "
                        f"be checked: {DENIED}")
    assert lines[1].startswith("::error title=infracheck critical in netra-prod%3A vpc.state (staging-connector)::"
                               "VPC connector state is 'CREATING', expected 'READY'%0Afix: wait for it")
    assert lines[2].startswith("::warning title=infracheck warning in netra-prod%3A vpc.min-instances")
    assert lines[3].startswith("::warning title=infracheck could not check in netra-prod%3A cloudsql.state")
    assert lines[4] == ("::notice title=infracheck fleet::FLEET CRITICAL: 3 targets: 1 CRITICAL, 1 UNKNOWN, "
                        "0 WARNING, 1 HEALTHY; 2/3 targets checked; 1 could not be checked: netra-dev "
                        f"({DENIED})")
    assert len(lines) == 5  # the healthy target has nothing to annotate


def test_a_target_out_of_reach_is_one_annotation_its_probes_failures_are_kept() -> None:
    """Every command refused: its could-not-checks say the same denial, once; a probe's failure still shows."""
    refused = {**CRITICAL_REPORT, "commands": [{"argv": ["gcloud", "x"], "error_kind": "permission-denied"}] * 3}
    denied = fleet.member(_listed("netra-old", "netra-old"), refused)
    lines = fleet_report.render_as("github", _fleet(denied)).splitlines()
    assert lines[0] == ("::warning title=infracheck could not check target netra-old::Target netra-old could not be "
                        "checked: permission denied: every gcloud command was refused (3) (1 more check could not run for it)")
    assert [line.split("::")[1] for line in lines[1:3]] == [
        "error title=infracheck critical in netra-old%3A vpc.state (staging-connector)",
        "warning title=infracheck warning in netra-old%3A vpc.min-instances (staging-connector)"]
    assert lines[3].startswith("::notice title=infracheck fleet::FLEET CRITICAL: 1 target")  # what the probes found
    assert len(lines) == 4
    assert "... and 1 more check that could not run, for the reason above." in \
        fleet_report.render_as("markdown", _fleet(denied))


def test_nagios_one_line_for_the_fleet_and_perfdata_per_target() -> None:
    text = fleet_report.render_as("nagios", FLEET)
    assert text.count("\n") == 1
    status, perf = text.rstrip("\n").split(" | ")
    assert status == ("INFRACHECK CRITICAL - 3 targets: 1 critical, 1 unknown, 0 warning, 1 ok; critical: netra-prod; "
                      f"not checked: netra-dev ({DENIED})")
    values = {label: int(value.split(";")[0]) for label, value in (p.split("=") for p in perf.split())}
    assert values["netra-prod_state"] == 2 and values["netra-dev_state"] == 3 and values["netra-staging_state"] == 0
    assert values["netra-prod_critical"] == 1 and values["netra-prod_warning"] == 1
    assert values["netra-prod_unknown"] == 1 and values["not_checked"] == 1 and values["critical_targets"] == 1
    reason = fleet_report.render_as("nagios", _fleet(fleet.unchecked(_listed("a", "p"), "x | y")))
    assert reason.startswith("INFRACHECK UNKNOWN - ") and "a (x / y)" in reason and reason.count("|") == 1


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_prometheus_families_carry_the_target_and_the_fleet_verdict() -> None:
    found = _samples(fleet_report.render_as("prometheus", FLEET))
    prod = {("target", "netra-prod"), ("project", "netra-production"), ("region", "us-west1")}
    dev = {("target", "netra-dev"), ("project", "netra-dev"), ("region", "us-central1")}
    assert found[("infracheck_fleet_verdict", frozenset({("verdict", "CRITICAL")}))] == 1.0
    assert found[("infracheck_fleet_verdict", frozenset({("verdict", "HEALTHY")}))] == 0.0
    assert found[("infracheck_verdict", frozenset(prod | {("verdict", "CRITICAL")}))] == 1.0
    assert found[("infracheck_verdict", frozenset(dev | {("verdict", "UNKNOWN")}))] == 1.0
    assert found[("infracheck_target_not_checked", frozenset(dev | {("reason", DENIED)}))] == 1.0
    assert found[("infracheck_up", frozenset(dev))] == 0.0 and found[("infracheck_up", frozenset(prod))] == 1.0
    assert found[("infracheck_findings", frozenset(prod | {("outcome", "critical")}))] == 1.0
    rule = prod | {("area", "vpc"), ("rule", "vpc.state"), ("resource", "staging-connector"), ("severity", "critical")}
    assert found[("infracheck_rule_status", frozenset(rule | {("status", "fail")}))] == 1.0
    assert found[("infracheck_rule_status", frozenset(rule | {("status", "pass")}))] == 0.0
    assert found[("infracheck_last_run_timestamp_seconds", frozenset())] == 1795737600.0


def test_labels_are_one_line_with_the_fleets_priority_only() -> None:
    labels = fleet_report.render_as("labels", FLEET).rstrip("\n").split(",")
    assert labels[0] == "P0" and "P1" not in labels and "P2" not in labels
    assert set(CRITICAL_REPORT["labels"]) <= set(labels) and len(labels) == len(set(labels))
    warning = json_report.as_dict(report(finding("vpc.min-instances", *WARN)))
    assert warning["labels"][0] == "P2"
    only = fleet_report.render_as("labels", _fleet(HEALTHY, fleet.member(_listed("w", "p"), warning)))
    assert only.startswith("P2,") and only.count("P2") == 1


def test_message_lists_each_target_that_is_not_healthy_with_its_first_root_cause() -> None:
    text = fleet_report.render_as("message", FLEET)
    lines = text.splitlines()
    assert lines[0] == "Subject: P0 Infrastructure Escalation - fleet of 3 targets (CRITICAL)"
    assert f"- 2/3 targets checked; 1 could not be checked: netra-dev ({DENIED})" in lines
    assert ("- netra-prod (netra-production, us-west1): CRITICAL - 3 root causes, first: VPC connector state is "
            "'CREATING', expected 'READY'") in lines
    assert f"- netra-dev (netra-dev, us-central1): UNKNOWN - not checked: {DENIED}" in lines
    assert "HEALTHY: netra-staging" in lines
    assert "1. netra-prod: staging-connector: wait for it" in lines
    assert len(lines) <= 40 and not re.search(r"[^\x00-\x7f]", text)


def _fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.json"
    path.write_text(fleet_report.render(FLEET), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", sorted(FORMATTERS))
def test_merge_prints_every_format_as_the_live_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code = main(["merge", str(_fleet_file(tmp_path)), "--format", fmt])
    out, err = capsys.readouterr()
    assert (code, err) == (2, "")
    assert out == fleet_report.render_as(fmt, FLEET)


def test_merge_github_appends_the_markdown_to_the_step_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["merge", str(_fleet_file(tmp_path)), "--format", "github"]) == 2
    assert capsys.readouterr().out.startswith("::warning title=infracheck could not check target netra-dev")
    written = summary.read_text()
    assert written.startswith("earlier step\n<!-- infracheck:fleet-update -->\n## 🚨 FLEET CRITICAL: 3 targets")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing" / "summary.md"))
    assert main(["merge", str(_fleet_file(tmp_path)), "--format", "github"]) == 3
    assert "cannot append to GITHUB_STEP_SUMMARY" in capsys.readouterr().err


def test_a_merge_of_shards_renders_every_format_as_its_document_says(tmp_path: Path) -> None:
    """The members of a merge are the documents' v1 reports: every format reads the same from either."""
    doc: dict[str, Any] = json.loads(fleet_report.render(FLEET))
    merged, _ = fleet.merge([("fleet.json", doc)])
    for fmt in FORMATTERS:
        assert fleet_report.render_as(fmt, merged) == fleet_report.render_as(fmt, FLEET), fmt
