"""Any document, any value: a finding, never a crash (issue #7 section 2).

Each case replays fixtures/healthy with one recording replaced by a document
of the wrong shape or a value of the wrong type, in-process, and asserts what
a user sees: the verdict, the exit code, the one ERROR finding that names the
command or the field, and every other area still judged. On the seed's main
each of these crashed (exit 1, no report) or was judged as if it were real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tools.fakes import diagnose_in_process, replay_folder

HEALTHY = Path(__file__).resolve().parents[2] / "fixtures" / "healthy"
HC = "gcloud_compute_health-checks_list"
CERTS = "gcloud_compute_ssl-certificates_list"
CONNECTOR = "gcloud_compute_networks_vpc-access_connectors_describe"
SERVICES = "gcloud_run_services_list"


def _recorded(prefix: str):
    [path] = [p for p in HEALTHY.iterdir() if p.name.startswith(prefix) and p.suffix == ".json"]
    return json.loads(path.read_text())


def _run(tmp_path, **kw) -> tuple[int, dict]:
    code, out, err = diagnose_in_process(replay_folder(tmp_path, HEALTHY, **kw))
    assert "Traceback" not in err
    return code, json.loads(out)


def _not_passed(report: dict) -> list[tuple[str, str, str]]:
    return sorted((f["rule"], f["status"], f["message"]) for f in report["findings"] if f["status"] != "pass")


def _judged_areas(report: dict) -> set[str]:
    return {f["area"] for f in report["findings"] if f["status"] == "pass"}


ALL_AREAS = {"vpc", "cloudsql", "secrets", "cloudrun", "loadbalancer", "network"}


def test_a_string_where_a_number_belongs_is_an_error_naming_the_field(tmp_path):
    checks = _recorded(HC)
    checks[0]["checkIntervalSec"] = "5"
    code, report = _run(tmp_path, documents={HC: checks})
    assert (code, report["status"]) == (3, "UNKNOWN")
    [(rule, status, message)] = _not_passed(report)
    assert (rule, status) == ("loadbalancer.hc-timeout", "error")
    assert "`checkIntervalSec` in 'staging-metrics-hc' is a string (\"5\"), expected a number" in message
    # the other rule of the same check and every other area are still judged
    assert any(f["rule"] == "loadbalancer.hc-threshold" and f["status"] == "pass" for f in report["findings"])
    assert ALL_AREAS <= _judged_areas(report)


@pytest.mark.parametrize("document,kind", [({}, "an object"), ("x", "a string"), (123, "a number"),
                                           (True, "a boolean")])
def test_a_certificate_list_of_another_type_is_one_error_per_check(tmp_path, document, kind):
    code, report = _run(tmp_path, documents={CERTS: document})
    assert (code, report["status"]) == (3, "UNKNOWN")
    errors = _not_passed(report)
    assert [(r, s) for r, s, _ in errors] == [("loadbalancer.certificate", "error")] * 2  # one per domain
    for _, _, message in errors:
        assert message.endswith("unexpected document from `gcloud compute ssl-certificates list`: "
                                f"expected a list of objects with `name`, got {kind}")
    assert ALL_AREAS <= _judged_areas(report)


def test_a_list_where_the_connector_object_belongs_is_not_judged(tmp_path):
    code, report = _run(tmp_path, documents={CONNECTOR: [_recorded(CONNECTOR)]})
    assert (code, report["status"]) == (3, "UNKNOWN")
    [(rule, status, message)] = [f for f in _not_passed(report) if not f[0].startswith("capacity.")]
    assert (rule, status) == ("vpc.connector", "error")
    assert "expected an object with `name`, `state`, got a list" in message
    assert "vpc-access connectors describe staging-connector" in message
    # The connector's load is judged against the same document (its maxInstances): could not check
    # either, and explained by the connector's own error rather than a second root cause.
    load = [f for f in report["findings"] if f["area"] == "capacity" and f["status"] != "pass"]
    assert [(f["rule"], f["status"], f["caused_by"]) for f in load] == [
        ("capacity.connector-saturated", "error", [{"rule": "vpc.connector", "resource": "staging-connector"}])]


def test_a_wrapped_service_list_is_not_a_missing_service(tmp_path):
    code, report = _run(tmp_path, documents={SERVICES: {"items": _recorded(SERVICES)}})
    # Known gap: loadbalancer.neg-service reads this list as a `with` source, which has no shape
    # of its own yet, and still judges it (a FAIL); the Cloud Run checks themselves never do.
    found = [f for f in _not_passed(report) if f[0].startswith("cloudrun.")]
    assert {(r, s) for r, s, _ in found} == {("cloudrun.service", "error"), ("cloudrun.secret-refs", "error")}
    assert not any("does not exist" in m for _, _, m in found)
    assert all("expected a list of objects with `metadata.name`, `spec`, got an object" in m for _, _, m in found)


def test_an_expiry_that_is_not_a_date_is_not_judged_as_expiring(tmp_path):
    certs = _recorded(CERTS)
    for cert in certs:
        cert["expireTime"] = "not-a-date"
    code, report = _run(tmp_path, documents={CERTS: certs})
    assert (code, report["status"]) == (3, "UNKNOWN")
    found = _not_passed(report)
    assert [(r, s) for r, s, _ in found] == [("loadbalancer.cert-expired", "error")] * 2
    assert all('"not-a-date"' in m and "expected an RFC 3339 time" in m for _, _, m in found)
    assert not any("less than" in m for _, _, m in found)


def test_a_health_check_list_that_is_a_string_does_not_pass(tmp_path):
    code, report = _run(tmp_path, documents={HC: "x"})
    assert (code, report["status"]) == (3, "UNKNOWN")
    [(rule, status, message)] = _not_passed(report)
    assert (rule, status) == ("loadbalancer.health-checks", "error")
    assert message.endswith("expected a list of objects with `name`, got a string")


def test_the_text_report_prints_every_area(tmp_path):
    """On main the crash cut the text report after 4 of 6 areas."""
    checks = _recorded(HC)
    checks[0]["checkIntervalSec"] = "5"
    folder = replay_folder(tmp_path, HEALTHY, documents={HC: checks})
    code, out, err = diagnose_in_process(folder, "--format", "text")
    assert code == 3 and "Traceback" not in err
    for title in ("VPC Connector", "Cloud SQL", "Secret Manager", "Cloud Run", "Load Balancer", "Network"):
        assert title in out
    assert "Overall Status: UNKNOWN" in out


SMTP = "gcloud_secrets_versions_access_latest_--secret=smtp-password"


@pytest.mark.parametrize("data, reason", [
    ("not base64!", "`payload.data` is not valid base64"),
    ("P_8-", "`payload.data` decodes to bytes that are not UTF-8 text (binary data)"),  # bytes 3f ff 3e
])
def test_a_payload_that_is_not_text_is_a_could_not_check_with_the_reason(tmp_path, data, reason):
    """Not "starts or ends with whitespace", not "is empty": the value could not be read (issue 17)."""
    secret = _recorded(SMTP)
    secret["payload"]["data"] = data
    code, report = _run(tmp_path, documents={SMTP: secret})
    assert (code, report["status"]) == (3, "UNKNOWN")
    found = [f for f in report["findings"] if f["resource"] == "smtp-password" and f["status"] != "pass"]
    assert {(f["rule"], f["status"]) for f in found} == {("secrets.non-empty", "error"), ("secrets.whitespace", "error")}
    assert all(reason in f["message"] for f in found)
    assert not any("whitespace (" in f["message"] or "is empty" in f["message"] for f in found)
    assert data not in json.dumps(report)
