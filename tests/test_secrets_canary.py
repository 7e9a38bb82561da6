"""No secret value, nor its base64, reaches any output: every format, live, recorded, replayed."""

from __future__ import annotations

import base64
import json
import os

import pytest

from infracheck import gcloud
from infracheck.cli import main
from infracheck.report import FORMATTERS
from tests.fakes import FakeGcloud

CANARY = "Zx9CanaryValue"
VALUES = {
    "database-url": f"postgresql+asyncpg://netra:{CANARY}@10.0.0.3/netra",     # valid
    "jwt-secret-staging": f"{CANARY}",                                          # too short
    "openai-api-key": f"sk-{CANARY}0123456789abcdefghij",                       # valid
    "redis-url": f"redis://{CANARY}",                                           # malformed
}


def payload(value: str) -> str:
    return json.dumps({"name": "projects/1/secrets/s/versions/1",
                       "payload": {"data": base64.b64encode(value.encode()).decode(), "dataCrc32c": "1"}})


@pytest.fixture
def fake(tmp_path, monkeypatch):
    gcloud.reset()
    fake = FakeGcloud(tmp_path / "fake")
    spec = [{"match": f"--secret={name} ", "stdout": payload(value)} for name, value in VALUES.items()]
    # The other secrets are absent, and gcloud's error text must not carry values either.
    spec.append({"match": "secrets versions access", "exit": 1,
                 "stderr": "ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [s] not found or has no versions.\n"})
    fake.set(spec)
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return fake


def forbidden() -> list[str]:
    out = [CANARY]
    for value in VALUES.values():
        raw = value.encode()
        out += [value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return out


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
@pytest.mark.parametrize("fix_mode", [[], ["--fix-mode", "--yes"]])
def test_no_secret_in_any_output(fake, tmp_path, capsys, monkeypatch, fmt, fix_mode):
    report = tmp_path / "report"
    # The same run writes every other format too (one set of commands), and the step summary.
    files = {other: tmp_path / f"report.{other}" for other in FORMATTERS}
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code = main(["diagnose", "--include", "secrets.*", "--format", fmt, "--output", str(report), "--color", "always",
                 *[f"--output={other}={path}" for other, path in files.items()], *fix_mode])
    out, err = capsys.readouterr()
    assert code == 2  # missing and malformed secrets are critical
    assert "Secret 'jwt-secret-staging' is shorter than 32 characters" in out
    assert "Secret 'redis-url' does not match redis://host:port/db" in out
    # Eight formats, one set of gcloud calls: each command ran once.
    argvs = [tuple(c["argv"]) for c in fake.calls()]
    assert argvs and len(argvs) == len(set(argvs))
    if fmt == "github":
        files["step-summary"] = tmp_path / "summary.md"
    written = {other: path.read_text() for other, path in files.items()}
    assert "Secret 'redis-url' does not match redis://host:port/db" in written["markdown"]
    assert "secrets.redis-url" in written["junit"] and "secrets.redis-url" in written["github"]
    if fmt == "github":  # the step summary is the same issue update
        assert written["step-summary"] == written["markdown"] + "\n"
    if fix_mode:  # every secret step is a person's: nothing is applied, no value is put on a command line
        reasons = [s["reason"] for s in json.loads(written["json"])["fixes"]]
        assert reasons and all(r.startswith("infracheck never handles a secret's value") for r in reasons)
        assert "why by hand: infracheck never handles a secret's value" in written["text"]
        assert "[applied]" not in out
    for text in (out, err, report.read_text(), *written.values()):
        for form in forbidden():
            assert form not in text


def test_no_secret_in_a_recording_and_replay_agrees(fake, tmp_path, capsys):
    folder = tmp_path / "rec"
    assert main(["record", str(folder), "--include", "secrets.*", "--format", "json"]) == 2  # the verdict
    live = json.loads(capsys.readouterr().out)
    for path in folder.iterdir():
        text = path.read_text()
        for form in forbidden():
            assert form not in text, path.name
    assert main(["diagnose", "--replay", str(folder), "--include", "secrets.*", "--format", "json"]) == 2
    replay = json.loads(capsys.readouterr().out)
    assert [(f["resource"], f["status"]) for f in live["findings"]] == [(f["resource"], f["status"]) for f in replay["findings"]]
