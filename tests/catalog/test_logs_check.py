"""commands/logs.toml: the filter it sends and what its rule says about gcloud's log entries."""

from __future__ import annotations

from typing import Any

import pytest

from infracheck.rules.evaluate import evaluate
from infracheck.rules.validate import validate
from infracheck.catalog import loader
from infracheck.model import CommandError, ErrorKind, Outcome, Severity, Status

CANARY = "Zx9CanaryValue"


def _check(**overrides: str):
    cat = loader.load(overrides=overrides, environ={})
    validate(cat.checks)
    [check] = [c for c in cat.checks if c.id == "logs.entries"]
    return check


def entry(n: int, severity: str = "CRITICAL", service: str = "netra-backend-staging", **payload: Any) -> dict[str, Any]:
    """A Cloud Run log entry as `gcloud logging read --format=json` prints it."""
    return {
        "insertId": f"id{n}", "logName": "projects/netra-staging/logs/run.googleapis.com%2Fstderr",
        "receiveTimestamp": f"2026-11-27T00:00:{n:02d}.5Z",
        "resource": {"type": "cloud_run_revision", "labels": {
            "location": "us-central1", "project_id": "netra-staging", "service_name": service,
            "revision_name": f"{service}-00042-xyz", "configuration_name": service}},
        "severity": severity, "timestamp": f"2026-11-27T00:00:{n:02d}Z",
        **(payload or {"textPayload": f"error {n}"}),
    }


def judge(document: Any, **overrides: str):
    check = _check(**overrides)
    [finding] = evaluate(check, Outcome(check.argv, 0, 0.0, document=document))
    return finding


def test_the_command_filters_the_profiles_services_severity_and_window():
    check = _check(log_min_severity="ERROR", log_freshness="1h", log_limit="5")
    assert check.argv == (
        "gcloud", "logging", "read",
        'resource.type="cloud_run_revision" AND resource.labels.location="us-central1" AND '
        'resource.labels.service_name=("netra-backend-staging" OR "auth-staging") AND severity>=ERROR',
        "--freshness=1h", "--limit=5", "--project=netra-staging", "--format=json",
    )
    assert check.role == "roles/logging.viewer"


def test_no_entry_passes():
    f = judge([])
    assert (f.status, f.message) == (Status.PASS, "No log entries at CRITICAL or above in the last 15m")


def test_entries_give_count_and_the_newest_three_with_service_and_revision():
    document = [entry(5, textPayload="Traceback (most recent call last):\n  File x"),
                entry(4, "ALERT", "auth-staging", jsonPayload={"message": "db down", "code": 7}),
                entry(3, httpRequest={"requestMethod": "GET", "requestUrl": "https://x/health", "status": 500}),
                entry(2)]
    f = judge(document)
    assert (f.status, f.severity) == (Status.FAIL, Severity.WARNING)
    assert f.message == (
        "Log entries at CRITICAL or above in the last 15m: 4 entries, newest first: "
        "2026-11-27T00:00:05Z netra-backend-staging netra-backend-staging-00042-xyz CRITICAL: Traceback (most recent call last): | "
        "2026-11-27T00:00:04Z auth-staging auth-staging-00042-xyz ALERT: db down | "
        "2026-11-27T00:00:03Z netra-backend-staging netra-backend-staging-00042-xyz CRITICAL: GET https://x/health 500"
    )


def test_a_full_page_is_at_least_the_limit_and_one_entry_is_singular():
    assert ": at least 3 entries," in judge([entry(i) for i in range(3)], log_limit="3").message
    assert ": 1 entry," in judge([entry(1)]).message


def test_the_finding_severity_comes_from_the_profile():
    assert judge([entry(1)], log_finding_severity="critical").severity is Severity.CRITICAL


def test_a_long_line_is_cut_and_secret_shapes_never_show():
    f = judge([entry(1, textPayload=f"connect postgresql+asyncpg://netra:{CANARY}@10.0.0.3/netra " + "retrying " * 30),
               entry(2, jsonPayload={"message": f"bad key sk-ant-{CANARY}0123456789"}),
               entry(3, textPayload=f"fine first line\nsecond line {CANARY}")])
    assert CANARY not in f.message and CANARY not in repr(f)
    assert "[redacted postgres-url]" in f.message and "[redacted anthropic-key]" in f.message
    assert "…" in f.message and "fine first line" in f.message


def test_a_structured_payload_without_message_is_shown_as_json_redacted():
    f = judge([entry(1, jsonPayload={"event": "oops", "dsn": f"redis://:{CANARY}@h:6379/0"})])
    assert CANARY not in f.message and '"event": "oops"' in f.message


def test_permission_denied_is_a_could_not_check_naming_the_role():
    check = _check()
    error = CommandError(ErrorKind.PERMISSION_DENIED, "permission denied: Permission 'logging.logEntries.list' denied")
    [f] = evaluate(check, Outcome(check.argv, 1, 0.0, error=error))
    assert f.status is Status.ERROR and "roles/logging.viewer" in f.remedy


@pytest.mark.parametrize("name,value", [
    ("log_min_severity", "SEVERE"), ("log_freshness", "15 minutes"), ("log_finding_severity", "info"),
])
def test_bad_profile_values_are_refused_at_load(name, value):
    with pytest.raises(loader.CatalogError, match=name):
        _check(**{name: value})


def test_no_services_filter_matches_nothing_rather_than_everything():
    check = loader.load(overrides={"services": ""}, environ={})
    [logs] = [c for c in check.checks if c.id == "logs.entries"]
    assert 'resource.labels.service_name=("")' in logs.argv[3]
