"""redact.py: secret-shaped text never survives, ordinary text does."""

from __future__ import annotations

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
