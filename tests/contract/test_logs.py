"""`gcloud logging read` through the real gcloud: the query it sends, the finding, and no leaked secret."""

from __future__ import annotations

import json

import pytest

from tests.contract.conftest import ROOT, environment, infracheck

pytestmark = pytest.mark.contract

CANARY = "Zx9LogCanary"
ENTRIES = "logging.test/v2/entries:list"
FOURTH = "Zx9FourthEntry"  # no secret's shape: kept in a recording (replay needs it), never in a report


def entry(n: int, service: str, **payload: object) -> dict[str, object]:
    return {"insertId": f"id{n}", "logName": "projects/netra-staging/logs/run.googleapis.com%2Fstderr",
            "resource": {"type": "cloud_run_revision", "labels": {
                "service_name": service, "revision_name": f"{service}-0000{n}-abc", "location": "us-central1"}},
            "severity": "CRITICAL", "timestamp": f"2026-11-27T00:00:0{n}Z", **payload}


def test_logs_read_through_real_gcloud_reports_entries_without_secrets(api, gcloud_config, tmp_path):
    api.set_body(ENTRIES, {"entries": [
        entry(3, "netra-backend-staging",
              textPayload=f"pool error for postgresql+asyncpg://netra:{CANARY}@10.1.0.3/netra\nsecond line {CANARY}"),
        entry(2, "auth-staging", jsonPayload={"message": f"provider said: invalid key sk-ant-{CANARY}0123456789"}),
        entry(1, "auth-staging", textPayload="worker restarted"),
        entry(0, "auth-staging", textPayload=f"plain {FOURTH}: the fourth entry is counted, never shown"),
    ]})
    folder, report_file = tmp_path / "rec", tmp_path / "report.json"
    run = infracheck("record", str(folder), "--include", "logs.*", "--format", "json",
                     "--output", str(report_file), "--set", "log_min_severity=ERROR", "--set", "log_freshness=30m",
                     env=environment(api, gcloud_config))
    # record exits with the verdict, like diagnose
    assert run.code == {"HEALTHY": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[run.json()["status"]], run.stderr

    # The query gcloud sent: the profile's services, region and threshold; the window as a timestamp term.
    [read] = [r for r in api.requests if r.route == ENTRIES]
    sent = json.loads(read.body)
    assert 'resource.labels.service_name=("netra-backend-staging" OR "auth-staging")' in sent["filter"]
    assert 'resource.labels.location="us-central1"' in sent["filter"] and "severity>=ERROR" in sent["filter"]
    assert sent["filter"].startswith('timestamp>="') and sent["orderBy"] == "timestamp desc"
    assert sent["pageSize"] == 20 and sent["resourceNames"] == ["projects/netra-staging"]
    assert not api.mutations  # entries:list is a read

    [finding] = [f for f in run.json()["findings"] if f["rule"] == "logs.no-errors"]
    assert (finding["status"], finding["severity"]) == ("fail", "warning")
    assert finding["message"].startswith("Log entries at ERROR or above in the last 30m: 4 entries, newest first: "
                                         "2026-11-27T00:00:03Z netra-backend-staging netra-backend-staging-00003-abc "
                                         "CRITICAL: pool error for [redacted postgres-url]")
    assert "[redacted anthropic-key]" in finding["message"] and finding["message"].endswith("CRITICAL: worker restarted")
    for text in [run.stdout, run.stderr, report_file.read_text()]:
        assert CANARY not in text and FOURTH not in text
    for path in folder.iterdir():  # secret shapes and second lines never reach the disk
        assert CANARY not in path.read_text(), path.name

    # The recording replays to the same finding.
    replay = infracheck("diagnose", "--replay", str(folder), "--include", "logs.*", "--format", "json",
                        "--set", "log_min_severity=ERROR", "--set", "log_freshness=30m",
                        env=environment(api, gcloud_config))
    assert replay.code == 1
    assert [f["message"] for f in replay.json()["findings"] if f["area"] == "logs"] == [finding["message"]]


SMTP = "Tr0ub4dor&3-Mailer!"  # no shape: only this run's read of the secret can recognise it


def test_a_log_line_quoting_a_secret_this_run_read_is_scrubbed_through_real_gcloud(api, gcloud_config, tmp_path):
    api.set_secret("netra-staging", "smtp-password", SMTP)
    api.set_body(ENTRIES, {"entries": [entry(1, "auth-staging", textPayload=f"login as mailer with password {SMTP} refused")]})
    folder, report_file = tmp_path / "rec", tmp_path / "report.md"
    run = infracheck("record", str(folder), "--include", "secrets.*,logs.*", "--format", "json",
                     "--output", f"markdown={report_file}", env=environment(api, gcloud_config))
    assert run.code == 1, run.stderr  # the log entry is a warning; the fake's other secrets are valid
    [finding] = [f for f in run.json()["findings"] if f["rule"] == "logs.no-errors"]
    assert finding["message"].endswith("CRITICAL: login as mailer with password [redacted] refused")
    places = {"stdout": run.stdout, "stderr": run.stderr, "report": report_file.read_text(),
              **{p.name: p.read_text() for p in folder.iterdir()}}
    for where, text in places.items():
        assert SMTP not in text and SMTP.replace("&", "&amp;") not in text and SMTP.replace("&", "\\&") not in text, where
