"""labels, nagios, github and message: the small formats, as the tool that reads each sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infracheck.model import Status
from infracheck.report import FORMATTERS, MACHINE, github, labels, message, nagios
from tests.report.sample import CRIT, WARN, default_catalog, finding, report

OUTAGE = report(
    finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'", remedy="wait"),
    finding("vpc.min-instances", *WARN, message="Min instances is 1, should be at least 2"),
    finding("cloudsql.ssl", *WARN, message="SSL not required - security risk"),
    finding("secrets.secret.exists", *CRIT, resource="database-url", message="Secret 'database-url' is missing"),
    finding("cloudrun.vpc-egress", *CRIT, resource="auth-staging", message="egress"),
    finding("network.health-status"),
)
HEALTHY = report(*[finding(r.id, check=c.id, resource=c.resource)
                   for c in default_catalog().checks for r in c.rules])


def test_every_format_is_registered_and_owns_stdout():
    assert set(FORMATTERS) == {"text", "json", "markdown", "labels", "message", "junit", "nagios", "github",
                               "prometheus"}
    assert MACHINE == set(FORMATTERS) - {"text"}


def test_every_format_is_in_the_reports_page():
    page = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    table = page[page.index("## Reports for the incident, CI and monitoring"):]
    for fmt in FORMATTERS:
        assert f"| `{fmt}` |" in table, f"docs/reports.md's format table lacks {fmt}"


def test_labels_follow_the_findings():
    assert labels.render(OUTAGE) == (
        "P0,staging-outage,infrastructure-blocker,escalated,vpc-connector,cloud-sql,secret-manager,cloud-run,"
        "database-connectivity\n")
    assert labels.render(HEALTHY) == "\n"
    only_warning = report(finding("cloudsql.ssl", *WARN))
    assert labels.render(only_warning) == "P2,cloud-sql\n"  # no P0, no outage, not database-connectivity


def test_a_malformed_database_url_is_database_connectivity():
    r = report(finding("secrets.postgres-url", *CRIT, resource="database-url"))
    assert "database-connectivity" in labels.render(r).strip().split(",")
    r = report(finding("secrets.secret.exists", *CRIT, resource="smtp-password"))
    assert "database-connectivity" not in labels.render(r).strip().split(",")


def test_environment_names_the_outage_label():
    from infracheck.catalog import loader

    cat = loader.load(overrides={"environment": "prod"}, environ={})
    assert cat.escalation.labels[0].name == "prod-outage"


@pytest.mark.parametrize("r, line", [
    (OUTAGE, "INFRACHECK CRITICAL - 3 critical, 2 warning, 0 unknown | "
             "critical=3;;;0 warning=2;;;0 unknown=0;;;0 muted=0;;;0 muted_critical=0;;;0 passed=1;;;0 skipped=0;;;0\n"),
    (report(finding("vpc.state", Status.ERROR)), "INFRACHECK UNKNOWN - 0 critical, 0 warning, 1 unknown | "
     "critical=0;;;0 warning=0;;;0 unknown=1;;;0 muted=0;;;0 muted_critical=0;;;0 passed=0;;;0 skipped=0;;;0\n"),
])
def test_nagios_line(r, line):
    assert nagios.render(r) == line


def test_nagios_healthy_is_ok():
    assert nagios.render(HEALTHY).startswith("INFRACHECK OK - 0 critical, 0 warning, 0 unknown | ")


def test_github_one_annotation_per_finding_then_the_verdict():
    lines = github.render(OUTAGE).splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [
        "::error", "::warning", "::warning", "::error", "::error", "::notice"]
    assert lines[0] == ("::error title=infracheck critical%3A vpc.state (staging-connector)::"
                        "VPC connector state is 'CREATING', expected 'READY'%0Afix: wait")
    assert lines[-1].startswith("::notice title=infracheck::CRITICAL: 3 critical, 2 warning")


def test_github_escaping_keeps_one_command_per_line():
    r = report(finding("vpc.state", *CRIT, resource="a,b:c", message="100% bad\r\n::error::forged", remedy=""))
    (line, _) = github.render(r).splitlines()
    assert line == "::error title=infracheck critical%3A vpc.state (a%2Cb%3Ac)::100%25 bad%0D%0A::error::forged"
    assert github.escape_property("50%,x:y\n") == "50%25%2Cx%3Ay%0A"


def test_message_is_the_stakeholder_mail():
    text = message.render(OUTAGE)
    lines = text.splitlines()
    assert lines[0] == "Subject: P0 Infrastructure Escalation - Issue #1278 staging environment (CRITICAL)"
    for section in ("IMPACT:", "ROOT CAUSE:", "ACTIONS REQUIRED:", "WHAT INFRACHECK CHECKED:"):
        assert section in lines
    assert "- Affected: VPC Connector, Cloud SQL Instance, Secret Manager Secrets, Cloud Run Services" in lines
    assert "1. staging-connector: wait" in lines
    assert "\x1b" not in text and text.isascii()


def test_message_stays_within_40_lines_however_much_fails():
    cat = default_catalog()
    everything = report(*[finding(r.id, *CRIT, check=c.id, resource=c.resource, remedy="fix it " * 30)
                          for c in cat.checks for r in c.rules])
    lines = message.render(everything).splitlines()
    assert len(lines) <= message.MAX_LINES
    assert any(line.startswith("... and ") for line in lines)


def test_message_acts_on_root_causes_first():
    import dataclasses

    from infracheck.model import Category

    root = dataclasses.replace(finding("vpc.state", *CRIT, message="VPC connector state is 'ERROR'", remedy="recreate"),
                               category=Category.INFRASTRUCTURE)
    ready = dataclasses.replace(finding("cloudrun.ready", *CRIT, resource="auth-staging", message="not Ready",
                                        remedy="redeploy"),
                                category=Category.INFRASTRUCTURE, caused_by=(("vpc.state", "staging-connector"),))
    lines = message.render(report(root, ready)).splitlines()
    assert "- 1 root cause(s): 1 infrastructure, 0 configuration" in lines
    assert "- VPC connector state is 'ERROR' (explains 1 more)" in lines
    actions = lines[lines.index("ACTIONS REQUIRED:") + 1:]
    assert actions[0] == "1. staging-connector: recreate" and not actions[1].startswith("2.")
