"""recording.py: file names, replay, and masking that keeps verdicts but never values."""

from __future__ import annotations

import base64
import json
import re

import pytest

from infracheck.rules.dialect import search
from infracheck.runner import recording
from infracheck.model import CommandError, ErrorKind, Outcome

RULES = {  # the catalog's shapes, which a masked value must still satisfy
    "postgres": r"^postgresql\+asyncpg://[^:/@\s]+:[^@\s]+@[^/\s]*/[^/\s?]+(\?\S*)?$",
    "redis": r"^rediss?://([^@\s]*@)?[^:/@\s]+:[0-9]+/[0-9]+$",
    "oauth": r"^[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com$",
    "openai": r"^sk-[A-Za-z0-9_-]{20,}$",
    "anthropic": r"^sk-ant-[A-Za-z0-9_-]{20,}$",
    "gocspx": r"^(GOCSPX-[A-Za-z0-9_-]{20,}|[A-Za-z0-9_-]{24})$",
}


@pytest.mark.parametrize("value,shape,secret_part", [
    ("postgresql+asyncpg://netra:CanaryPass123@10.20.0.3:5432/netra", "postgres", "CanaryPass123"),
    ("postgresql+asyncpg://netra:CanaryPass123@/netra?host=/cloudsql/p:r:i", "postgres", "CanaryPass123"),
    ("redis://:CanaryRedis9@10.0.0.5:6379/0", "redis", "CanaryRedis9"),
    ("123456789012-abcdefcanary.apps.googleusercontent.com", "oauth", "abcdefcanary"),
    ("sk-proj-CanaryOpenAIKey0123456789abcdef", "openai", "CanaryOpenAIKey"),
    ("sk-ant-api03-CanaryAnthropicKey0123456789", "anthropic", "CanaryAnthropicKey"),
    ("GOCSPX-CanaryClientSecret0123456789", "gocspx", "CanaryClientSecret"),
])
def test_mask_keeps_the_shape_but_not_the_value(value, shape, secret_part):
    masked = recording.mask(value)
    assert re.search(RULES[shape], value) and re.search(RULES[shape], masked)
    assert secret_part not in masked
    assert len(masked) == len(value)


def test_mask_keeps_json_url_arrays_valid():
    masked = recording.mask('["https://staging.netrasystems.ai", "http://localhost:3000"]')
    assert [u.split("://")[0] for u in json.loads(masked)] == ["https", "http"]
    assert "netrasystems" not in masked


def test_mask_document_redoes_crc_and_hides_base64():
    value = b"sk-proj-CanarySecretValue0123456789"
    doc = {"name": "projects/1/secrets/s/versions/3",
           "payload": {"data": base64.b64encode(value).decode(), "dataCrc32c": str(recording.crc32c(value))}}
    masked = recording.mask_document(doc)
    text = json.dumps(masked)
    assert "Canary" not in text and base64.b64encode(value).decode() not in text
    raw = base64.urlsafe_b64decode(masked["payload"]["data"])
    assert masked["payload"]["dataCrc32c"] == str(recording.crc32c(raw))
    assert search("b64decode(payload.data)", masked).startswith("sk-proj-")


def test_crc32c_check_value():
    assert recording.crc32c(b"123456789") == 0xE3069283


def test_record_then_replay_round_trip(tmp_path):
    ok = Outcome(("gcloud", "sql", "instances", "describe", "db", "--format=json"), 0, 0.2, document={"state": "RUNNABLE"})
    missing = Outcome(("gcloud", "secrets", "versions", "access", "latest", "--secret=x"), 1, 0.1,
                      error=CommandError(ErrorKind.NOT_FOUND, "not found"),
                      stderr="ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [x] not found or has no versions.\n")
    recording.record(tmp_path, [ok, missing], set(), {"recorded_at": "2026-11-27T00:00:00+00:00"})
    assert recording.replay(tmp_path, ok.argv) == (0, '{\n  "state": "RUNNABLE"\n}\n', "")
    code, out, err = recording.replay(tmp_path, missing.argv)
    assert code == 1 and out == "" and "NOT_FOUND" in err
    assert recording.replay(tmp_path, ("gcloud", "never")) is None
    assert recording.recorded_at(tmp_path).year == 2026


def test_name_for_is_readable_and_drops_the_format_flag():
    name = recording.name_for(("gcloud", "sql", "instances", "describe", "db", "--project=p", "--format=json"))
    assert name == "gcloud_sql_instances_describe_db_--project=p"
    assert len(recording.name_for(("gcloud",) + ("x" * 50,) * 10)) <= 180


def test_a_recorded_log_read_keeps_entries_but_not_secret_shaped_text(tmp_path):
    canary = "Zx9CanaryValue"
    argv = ("gcloud", "logging", "read", "severity>=ERROR", "--project=p", "--format=json")
    entries = [{"logName": "projects/p/logs/run.googleapis.com%2Fstderr", "severity": "CRITICAL",
                "timestamp": "2026-11-27T00:00:01Z", "resource": {"type": "cloud_run_revision",
                                                                  "labels": {"service_name": "svc"}},
                "textPayload": f"cannot connect to postgresql+asyncpg://u:{canary}@10.0.0.3/db\n  at {canary}",
                "jsonPayload": {"nested": [f"key sk-ant-{canary}0123456789"]}}]
    recording.record(tmp_path, [Outcome(argv, 0, 0.1, document=entries)], set(), {})
    text = (tmp_path / f"{recording.name_for(argv)}.json").read_text()
    assert canary not in text
    [saved] = json.loads(text)
    assert saved["severity"] == "CRITICAL" and saved["resource"] == entries[0]["resource"]
    assert saved["textPayload"] == "cannot connect to [redacted postgres-url]"
