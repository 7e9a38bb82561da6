"""No secret value, nor its base64, reaches any output: every format, live, recorded, replayed."""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
from pathlib import Path

import pytest

from infracheck.runner import gcloud
from infracheck.cli import main
from infracheck.report import FORMATTERS
from tests.tools.fakes import FakeGcloud

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


# --- values read in this run, in shapes the log redaction cannot know (issue 17, section 2) ---------
#
# Realistic values, none of a shape redact.py recognises: an SMTP password
# (no shape at all), a JWT signing key too short for the `min-32` shape, an
# OAuth client id without its `.apps.googleusercontent.com`, and an OAuth
# client secret without `GOCSPX-`. Their punctuation is what the formats
# escape (& < > " ' _ * | for XML, JSON and Markdown).
SMTP = "Tr0ub4dor&3-Mailer!"
JWT = "St4ging_jwt*k3y|2026"
CLIENT_ID = "netra-web-cl1ent-7731"
CLIENT_SECRET = "Kq8v\"R2mW'Lx4<pZt9>"
LEAKY = {"smtp-password": SMTP, "jwt-secret-staging": JWT, "oauth-client-id": CLIENT_ID}
# Log lines as a service writes them: a value quoted whole, and one far enough
# in that the finding's excerpt (100 characters) cuts it in the middle.
LOG_LINES = [
    f"login as mailer with password {SMTP} refused",
    f"token signing failed with key {JWT}",
    "oauth callback rejected: redirect mismatch for the registered application, client "
    f"{CLIENT_ID}",
]
# A failed access whose stderr holds the value: the body gcloud could not use (its base64) and the
# decoded value quoted in the same message.
FAILED_ACCESS_STDERR = (
    "ERROR: (gcloud.secrets.versions.access) INVALID_ARGUMENT: payload rejected "
    f"{json.dumps({'name': 'projects/123456789012/secrets/oauth-client-secret/versions/2', 'payload': {'data': base64.b64encode(CLIENT_SECRET.encode()).decode(), 'dataCrc32c': '1'}})}"
    f" ({CLIENT_SECRET})\n"
)


def leaked_forms() -> list[str]:
    """Every form in which a run's value could leak: raw, base64 (padded or not), escaped, a cut beginning."""
    from infracheck.report.markdown import escape as markdown_escape

    out = []
    for value in (*LEAKY.values(), CLIENT_SECRET):
        raw = value.encode()
        encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
        out += [value, value[:8], json.dumps(value)[1:-1], html.escape(value), markdown_escape(value)]
        out += encoded + [e.rstrip("=") for e in encoded]
    return out


def log_entry(number: int, text: str) -> dict[str, object]:
    return {"insertId": f"6745f0a2000{number}c2a1e5b0c1d2",
            "logName": "projects/netra-staging/logs/run.googleapis.com%2Fstderr",
            "resource": {"type": "cloud_run_revision",
                         "labels": {"location": "us-central1", "service_name": "auth-staging",
                                    "revision_name": "auth-staging-00007-abc"}},
            "severity": "ERROR", "textPayload": text, "timestamp": f"2026-11-26T23:5{9 - number}:00.000000Z"}


def log_document() -> str:
    return json.dumps([log_entry(i, text) for i, text in enumerate(LOG_LINES)], indent=2)


@pytest.fixture
def leaky_replay(tmp_path):
    """The logs-errors recording, its secrets' payloads replaced by the values above, its log quoting them."""
    folder = tmp_path / "leaky"
    shutil.copytree(Path(__file__).parent.parent / "fixtures" / "logs-errors", folder)
    for name, value in LEAKY.items():
        (folder / f"gcloud_secrets_versions_access_latest_--secret={name}_--project=netra-staging.json").write_text(
            payload(value))
    stem = folder / "gcloud_secrets_versions_access_latest_--secret=oauth-client-secret_--project=netra-staging"
    stem.with_name(stem.name + ".json").unlink()
    stem.with_name(stem.name + ".stderr").write_text(FAILED_ACCESS_STDERR)
    stem.with_name(stem.name + ".exit").write_text("1\n")
    (log,) = folder.glob("gcloud_logging_read_*.json")
    log.write_text(log_document())
    return folder


@pytest.mark.parametrize("fmt", sorted(FORMATTERS))
@pytest.mark.parametrize("fix_mode", [[], ["--fix-mode"]])
def test_a_value_read_in_this_run_never_leaves_through_a_log_line_or_an_error(
        leaky_replay, tmp_path, capsys, monkeypatch, fmt, fix_mode):
    files = {other: tmp_path / f"report.{other}" for other in FORMATTERS}
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code = main(["diagnose", "--replay", str(leaky_replay), "--include", "secrets.*,logs.*", "--format", fmt,
                 *[f"--output={other}={path}" for other, path in files.items()], *fix_mode])
    out, err = capsys.readouterr()
    assert code == 2
    written = {other: path.read_text() for other, path in files.items()}
    # The findings are still there, the values replaced where they stood.
    assert "login as mailer with password [redacted] refused" in written["text"]
    assert "token signing failed with key [redacted]" in written["text"]
    assert "client [redacted]…" in written["text"]  # cut short by the excerpt, the beginning gone too
    assert "Secret 'jwt-secret-staging' is shorter than 32 characters" in written["text"]
    assert "INVALID_ARGUMENT: payload rejected" in written["text"]  # the failed access, its value gone
    json.loads(written["json"])  # the JSON report is still JSON
    if fmt == "github":
        written["step-summary"] = (tmp_path / "summary.md").read_text()
    for name, text in {"stdout": out, "stderr": err, **written}.items():
        for form in leaked_forms():
            assert form not in text, (name, form)


def test_a_value_read_in_this_run_never_reaches_a_recording_or_the_terminal(fake, tmp_path, capsys):
    spec = [{"match": f"--secret={name} ", "stdout": payload(value)} for name, value in LEAKY.items()]
    spec += [{"match": "--secret=oauth-client-secret ", "exit": 1, "stderr": FAILED_ACCESS_STDERR},
             {"match": "secrets versions access", "exit": 1,
              "stderr": "ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [s] not found or has no versions.\n"},
             {"match": "logging read", "stdout": log_document()}]
    fake.set(spec)
    folder = tmp_path / "rec"
    code = main(["record", str(folder), "--include", "secrets.*,logs.*", "--format", "text", "--engine", "process"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "login as mailer with password [redacted] refused" in out
    texts = {path.name: path.read_text() for path in folder.iterdir()}
    assert any("login as mailer with password [redacted] refused" in t for t in texts.values())
    for name, text in {"stdout": out, "stderr": err, **texts}.items():
        for form in leaked_forms():
            assert form not in text, (name, form)
    # The recording replays to the same findings.
    assert main(["diagnose", "--replay", str(folder), "--include", "secrets.*,logs.*", "--format", "text"]) == 2
    replayed, _ = capsys.readouterr()
    assert "login as mailer with password [redacted] refused" in replayed


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_watch_cycle_is_scrubbed_of_the_values_read(leaky_replay, tmp_path, capsys, fmt):
    report = tmp_path / "last.md"
    code = main(["watch", "--replay", str(leaky_replay), "--include", "secrets.*,logs.*", "--format", fmt,
                 "--interval", "0.2", "--max-wait", "1", "--output", f"markdown={report}"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "login as mailer with password [redacted] refused" in out
    if fmt == "json":
        assert len(out.splitlines()) >= 2  # several cycles, each scrubbed
    for name, text in {"stdout": out, "stderr": err, "markdown": report.read_text()}.items():
        for form in leaked_forms():
            assert form not in text, (name, form)


def test_the_escalation_clocks_files_and_hook_are_scrubbed_of_the_values_read(leaky_replay, tmp_path, capsys):
    profile = tmp_path / "profile.toml"
    # 0.36 s: the 2 h message too, due by the second cycle (a cycle's time is in whole seconds)
    profile.write_text("[escalation.extended]\nafter_hours = 0.0001\n")
    folder, log = tmp_path / "escalation", tmp_path / "hook.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\ncat "$1" >> "{log}"\n')
    hook.chmod(0o755)
    code = main(["watch", "--replay", str(leaky_replay), "--include", "secrets.*,logs.*", "--interval", "1",
                 "--max-wait", "4", "--profile", str(profile), "--escalation-dir", str(folder),
                 "--on-change", str(hook)])
    out, err = capsys.readouterr()
    assert code == 2
    texts = {path.name: path.read_text() for path in folder.iterdir()}
    assert {name.split("-", 2)[2] for name in texts} == {"start-issue-update.md", "start-message.txt",
                                                         "extended-escalation.txt"}
    assert any("[redacted]" in text for text in texts.values())
    for name, text in {"stdout": out, "stderr": err, "hook": log.read_text(), **texts}.items():
        for form in leaked_forms():
            assert form not in text, (name, form)


def test_no_secret_in_a_fleet_run_its_files_or_its_recordings(fake, tmp_path, capsys, monkeypatch):
    targets = tmp_path / "targets.toml"
    targets.write_text("".join(f'[[target]]\nname = "{n}"\nproject = "netra-staging"\nregion = "us-central1"\n\n'
                               for n in ("blue", "green")))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    files = {fmt: tmp_path / f"fleet.{fmt}" for fmt in FORMATTERS}
    code = main(["record", str(tmp_path / "recorded"), "--targets", str(targets), "--include", "secrets.*",
                 "--format", "github", *[f"--output={fmt}={path}" for fmt, path in files.items()]])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "blue" in out and "green" in out
    seen = [out, err, (tmp_path / "summary.md").read_text()] + [p.read_text() for p in files.values()]
    seen += [p.read_text(errors="replace") for p in (tmp_path / "recorded").rglob("*") if p.is_file()]
    assert sorted(p.name for p in (tmp_path / "recorded").iterdir()) == ["blue", "green"]
    for text in seen:
        for form in forbidden():
            assert form not in text
    code = main(["diagnose", "--targets", str(targets), "--replay", str(tmp_path / "recorded"), "--format", "json"])
    replayed = json.loads(capsys.readouterr().out)
    assert code == 2 and [t["status"] for t in replayed["targets"]] == ["CRITICAL", "CRITICAL"]
