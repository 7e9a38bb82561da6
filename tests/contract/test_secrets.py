"""Secret values through the real gcloud: judged, never shown, never recorded, never logged.

Canary values go into the fake Secret Manager; afterwards no canary, nor its
base64 (either alphabet), may appear in stdout, stderr, the report file, the
recording, or gcloud's own config folder (where its log files would go). The
same run proves that --jobs bounds concurrency, from the fake API's own log.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.contract.conftest import environment, infracheck

pytestmark = pytest.mark.contract

TOKEN = "Qz7Canary"
CANARIES = {  # name: (value, valid?)
    "database-url": (f"postgresql+asyncpg://netra:{TOKEN}Pass1@10.20.0.3:5432/netra", True),
    "database-direct-url": (f"mysql://netra:{TOKEN}Pass2@10.20.0.3/netra", False),
    "jwt-secret-staging": (f"{TOKEN}Short", False),
    "redis-url": (f"redis://:{TOKEN}Redis@10.0.0.5:6379/0", True),
    "oauth-client-id": (f"123456789012-{TOKEN.lower()}abc.apps.googleusercontent.com", True),
    "oauth-client-secret": (f"GOCSPX-{TOKEN}ClientSecret0123", True),
    "openai-api-key": (f"{TOKEN}-not-an-openai-key", False),
    "anthropic-api-key": (f"sk-ant-api03-{TOKEN}AnthropicKey01234", True),
    "smtp-password": (f"{TOKEN}Smtp!", True),
    "cors-allowed-origins": (f'["https://staging.netrasystems.ai", "ftp://{TOKEN}.example"]', False),
}


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]


def test_secret_canaries_never_leak_and_jobs_bound_concurrency(api, gcloud_config, tmp_path):
    for name, (value, _) in CANARIES.items():
        api.set_secret("netra-staging", name, value)
    api.latency = 1.0
    recorded, report_file = tmp_path / "recorded", tmp_path / "report.json"
    run = infracheck("record", str(recorded), "--include", "secrets.*", "--format", "json", "--jobs", "3",
                     "--engine", "warm", "--output", str(report_file), env=environment(api, gcloud_config))
    assert run.code == 2, run.stderr  # record exits with the verdict: malformed secrets are critical

    report = run.json()
    assert report["engine"] == "warm" and report["engine_note"] is None  # each value went through the driver
    secrets = [f for f in report["findings"] if f["area"] == "secrets"]
    assert all(f["actual"] is None for f in secrets)
    failed = {f["resource"] for f in secrets if f["status"] != "pass"}
    assert failed == {name for name, (_, valid) in CANARIES.items() if not valid}
    messages = {f["message"] for f in secrets if f["status"] == "fail"}
    assert "Secret 'database-direct-url' does not match postgresql+asyncpg://user:pass@host/db" in messages
    assert "Secret 'jwt-secret-staging' is shorter than 32 characters" in messages

    places = {"stdout": run.stdout, "stderr": run.stderr, "report file": report_file.read_text()}
    for folder in (recorded, gcloud_config):
        for path in folder.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_text(errors="replace")
    assert any(p.name.endswith(".json") for p in recorded.iterdir())
    for where, text in places.items():
        assert TOKEN not in text and TOKEN.lower() not in text, where
        for value, _ in CANARIES.values():
            for form in forms(value):
                assert form not in text, f"{where} holds a secret form"

    # A recorded payload decodes to the masked shape, never to the value.
    for path in recorded.glob("gcloud_secrets_versions_access_*.json"):
        payload = json.loads(path.read_text())["payload"]["data"]
        assert TOKEN.lower() not in base64.urlsafe_b64decode(payload).decode().lower()

    # Bounded concurrency, from the API's side: never more than --jobs requests at once. (That
    # commands do overlap is proven in tests/runner/test_run.py from the commands' own timestamps: here
    # a loaded machine may start the gcloud processes too far apart for their requests to meet.)
    assert 1 <= api.max_in_flight <= 3

    # The masked recording replays to the same verdicts.
    replay = infracheck("diagnose", "--replay", str(recorded), "--include", "secrets.*", "--format", "json",
                        env=environment(api, gcloud_config))
    replayed = {(f["rule"], f["resource"], f["status"]) for f in replay.json()["findings"] if f["area"] == "secrets"}
    assert replayed == {(f["rule"], f["resource"], f["status"]) for f in secrets}
