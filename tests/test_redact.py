"""redact.py: secret-shaped text never survives, ordinary text does."""

from __future__ import annotations

import base64
import html
import json

import pytest

from infracheck import redact

CANARY = "Zx9CanaryValue"


@pytest.mark.parametrize("text,kind", [
    (f"connect to postgresql+asyncpg://netra:{CANARY}@10.0.0.3/netra failed", "postgres-url"),
    (f"DATABASE_URL=postgres://u:{CANARY}@db/x", "postgres-url"),
    (f"redis error at redis://:{CANARY}@10.0.0.4:6379/0", "redis-url"),
    (f"key sk-ant-{CANARY}0123456789 rejected", "anthropic-key"),
    (f"key sk-{CANARY}0123456789abcdef rejected", "openai-key"),
    (f"key sk-proj-{CANARY}0123456789abcdef rejected", "openai-key"),
    (f"client secret GOCSPX-{CANARY}abc", "oauth-client-secret"),
    (f"Authorization: Bearer {CANARY}.abc", "bearer-token"),
    (f"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{CANARY}.sig", "jwt"),
    (f"JWT_SECRET={CANARY}{CANARY}{CANARY}", "min-32"),
])
def test_a_secret_shape_is_redacted_wherever_it_is_in_the_line(text, kind):
    out = redact.redact(text)
    assert CANARY not in out and f"[redacted {kind}]" in out


def test_an_oauth_client_id_is_redacted():
    out = redact.redact("client 123456789012-abcdef0123.apps.googleusercontent.com denied")
    assert out == "client [redacted oauth-client-id] denied"


def test_ordinary_text_is_kept():
    line = "GET /health 200 in 35 ms (revision netra-backend-staging-00042-xyz)"
    assert redact.redact(line) == line


def test_scrub_replaces_exact_values_before_shapes():
    assert redact.scrub(f"hello {CANARY} and short1 7", [CANARY, "short1", "7", ""]) == "hello [redacted] and [redacted] 7"


def test_excerpt_is_the_first_line_redacted_then_cut():
    text = f"\n  boom: postgresql://u:{CANARY}@h/d\nsecond line {CANARY}"
    assert redact.excerpt(text, 200) == "boom: [redacted postgres-url]"
    cut = redact.excerpt("x" * 10 + " " + "y" * 50, 20)
    assert len(cut) == 20 and cut.endswith("…")
    # Cutting comes after redaction, so a cut can't leave a secret's head unredacted.
    assert CANARY[:10] not in redact.excerpt(f"a {CANARY}{CANARY}{CANARY}", 25)


# --- Secrets: the values one run read ------------------------------------------------------------------

SMTP = "Tr0ub4dor&3-Mailer!"


def payload(value: bytes) -> dict[str, object]:
    return {"name": "projects/1/secrets/s/versions/1", "payload": {"data": base64.urlsafe_b64encode(value).decode()}}


@pytest.mark.parametrize("written", [
    SMTP,
    base64.b64encode(SMTP.encode()).decode(),                      # padded
    base64.b64encode(SMTP.encode()).decode().rstrip("="),          # unpadded
    base64.urlsafe_b64encode(SMTP.encode() + b"\n").decode(),      # stored with its newline (`echo pw | gcloud ...`)
    json.dumps(SMTP)[1:-1].replace("&", "\\u0026"),                 # JSON, ASCII-escaped
    html.escape(SMTP),                                             # XML, HTML
    SMTP.replace("&", "\\&").replace("!", "\\!"),                  # Markdown's backslashes
    SMTP.replace("!", "%21"),                                      # GitHub's percent-encoding
    SMTP[:9] + "…",                                                # cut short by an excerpt
])
def test_a_value_read_is_scrubbed_in_every_written_form(written):
    secrets = redact.Secrets()
    secrets.read(payload(SMTP.encode() + b"\n"))
    out = secrets.scrub(f"login as mailer with password {written} refused")
    assert out.startswith("login as mailer with password [redacted]") and out.endswith(" refused")
    assert SMTP[:5] not in out


def test_a_failed_access_teaches_the_value_its_stderr_echoes():
    secrets = redact.Secrets()
    data = base64.b64encode(SMTP.encode()).decode()
    secrets.read(None, f'ERROR: (gcloud.secrets.versions.access) bad body {{"payload": {{"data": "{data}"}}}}\n')
    assert secrets.scrub(f"refused {SMTP} and {data}") == "refused [redacted] and [redacted]"


@pytest.mark.parametrize("value,scrubbed", [("abc", False), ("on", False), ("7", False), ("abcd", True)])
def test_values_under_four_characters_are_not_scrubbed(value, scrubbed):
    # Scrubbing "on" or "7" would blank ordinary words and numbers all over the report.
    secrets = redact.Secrets()
    secrets.add(value)
    text = f"turned on at port 7 with key abc{value}"
    assert (secrets.scrub(text) != text) is scrubbed


def test_each_run_has_its_own_values_and_nothing_else_changes():
    first, second = redact.Secrets(), redact.Secrets()
    first.add(SMTP)
    assert first.scrub(f"pw {SMTP}") == "pw [redacted]"
    assert second.scrub(f"pw {SMTP}") == f"pw {SMTP}"  # no state shared between runs (watch, fleets, tests)
    assert first.scrub("an ordinary line... with an ellipsis…") == "an ordinary line... with an ellipsis…"


def test_a_binary_payload_is_scrubbed_as_base64_only():
    secrets = redact.Secrets()
    raw = b"\xff\xfe\x00binarykey"
    secrets.read(payload(raw))
    assert secrets.scrub(base64.b64encode(raw).decode()) == "[redacted]"


def test_a_cut_value_goes_but_a_kind_named_on_purpose_stays():
    secrets = redact.Secrets()
    secrets.add("sk-ant-api03-Q7vLm2Xp9Rt4Wz8Kd1Fg6Hj3")
    secrets.add("postgresql+asyncpg://netra:Tr0ub4dor@10.0.0.3/netra")
    named = "Secret 'anthropic-api-key' is an Anthropic key (sk-ant-...); postgresql+asyncpg://..."
    assert secrets.scrub(named) == named
    assert secrets.scrub("key sk-ant-api03-Q7v… rejected") == "key [redacted]… rejected"
    assert secrets.scrub("cannot connect to postgresql+asyncpg://netra:Tr0…") == "cannot connect to [redacted]…"
