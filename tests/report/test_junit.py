"""The JUnit report, read back with junitparser: structure and counts as CI reporters see them."""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped

from infracheck.model import Status
from infracheck.report import junit
from tests.report.sample import CRIT, WARN, finding, report

REPORT = report(
    finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'", remedy="wait for it"),
    finding("vpc.min-instances", *WARN, message="Min instances is 1, should be at least 2"),
    finding("vpc.network"),
    finding("cloudsql.state", Status.ERROR, message="Cloud SQL instance netra-staging-db: permission denied",
            remedy="grant roles/cloudsql.viewer"),
    finding("secrets.postgres-url", Status.SKIP, resource="database-url", message="excluded"),
    finding("secrets.secret.exists", resource="jwt-secret-staging"),
    finding("network.health-status", message="bad \x1b[31m\x00 control"),
)


def parse(tmp_path, text: str) -> JUnitXml:
    path = tmp_path / "report.xml"
    path.write_text(text, encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def test_one_suite_per_area_one_case_per_rule_and_resource(tmp_path):
    xml = parse(tmp_path, junit.render(REPORT))
    suites = {s.name: s for s in xml}
    assert list(suites) == ["VPC Connector", "Cloud SQL Instance", "Secret Manager Secrets", "Reachability"]
    vpc = suites["VPC Connector"]
    assert [c.name for c in vpc] == ["vpc.state [staging-connector]", "vpc.min-instances [staging-connector]",
                                     "vpc.network [staging-connector]"]
    assert {c.classname for c in vpc} == {"infracheck.vpc"}
    assert [c.name for c in suites["Secret Manager Secrets"]] == [
        "secrets.postgres-url [database-url]", "secrets.secret.exists [jwt-secret-staging]"]


def test_outcomes_map_to_failure_error_skipped(tmp_path):
    cases = {c.name: c for s in parse(tmp_path, junit.render(REPORT)) for c in s}
    (fail,) = cases["vpc.state [staging-connector]"].result
    assert isinstance(fail, Failure) and fail.type == "critical"
    assert fail.message == "VPC connector state is 'CREATING', expected 'READY'"
    assert "fix: wait for it" in fail.text
    (warn,) = cases["vpc.min-instances [staging-connector]"].result
    assert isinstance(warn, Failure) and warn.type == "warning"
    (err,) = cases["cloudsql.state [netra-staging-db]"].result
    assert isinstance(err, Error) and "permission denied" in err.message and "grant roles" in err.text
    (skip,) = cases["secrets.postgres-url [database-url]"].result
    assert isinstance(skip, Skipped)
    assert cases["vpc.network [staging-connector]"].is_passed
    assert cases["vpc.network [staging-connector]"].time == 0.25


def test_counts_agree_with_the_cases(tmp_path):
    xml = parse(tmp_path, junit.render(REPORT))
    for suite in xml:
        cases = list(suite)
        assert suite.tests == len(cases)
        assert suite.failures == sum(isinstance(r, Failure) for c in cases for r in c.result)
        assert suite.errors == sum(isinstance(r, Error) for c in cases for r in c.result)
        assert suite.skipped == sum(isinstance(r, Skipped) for c in cases for r in c.result)
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (7, 2, 1, 1)
    before = (xml.tests, xml.failures, xml.errors, xml.skipped)
    xml.update_statistics()  # junitparser recounting from the cases agrees with what we wrote
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == before


def test_control_characters_do_not_break_the_xml(tmp_path):
    cases = {c.name: c for s in parse(tmp_path, junit.render(REPORT)) for c in s}
    assert "network.health-status [https://api-staging.netrasystems.ai/health]" in cases


def test_a_muted_failure_is_skipped_with_its_reason(tmp_path):
    import dataclasses
    import datetime as dt

    from infracheck.model import Mute

    muted = dataclasses.replace(finding("vpc.state", *CRIT), muted=Mute(
        rule="vpc.state", reason="rebuild", owner="infra", expires=dt.date(2026, 12, 31)))
    xml = parse(tmp_path, junit.render(report(muted)))
    (case,) = [c for s in xml for c in s]
    (skip,) = case.result
    assert isinstance(skip, Skipped) and skip.message == "muted critical finding by infra until 2026-12-31: rebuild"
    assert (xml.tests, xml.failures, xml.skipped) == (1, 0, 1)
