"""Redact text that looks like a secret: str -> str with each match replaced by a marker.

Log lines and HTTP answers are read from services that may print their own
credentials. Every shape here mirrors a secret format of the profile
(commands/secrets.toml) or a credential every web stack carries (a JWT, a
bearer token), and is matched anywhere in the text, not only as a whole
value. A format with no shape of its own (`non-empty`, e.g. an SMTP password)
cannot be recognised in free text; only exact values (`scrub`) can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Order matters: the more specific prefix first (sk-ant- before sk-).
SHAPES: dict[str, re.Pattern[str]] = {
    "postgres-url": re.compile(r"postgres(?:ql)?(?:\+[A-Za-z0-9]+)?://[^\s'\"<>]+"),
    "redis-url": re.compile(r"rediss?://[^\s'\"<>]+"),
    "anthropic-key": re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"),
    "openai-key": re.compile(r"sk-(?:proj-)?[A-Za-z0-9_-]{16,}"),
    "oauth-client-secret": re.compile(r"GOCSPX-[A-Za-z0-9_-]{8,}"),
    "oauth-client-id": re.compile(r"[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com"),
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    "bearer-token": re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    # The profile's `min-32` (a JWT signing key): any long unbroken run of
    # key characters. Long hex digests and ids go too; that is the price.
    "min-32": re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}(?![A-Za-z0-9+/=_-])"),
}
MARKER = "[redacted {}]"


def redact(text: str) -> str:
    """`text` with everything shaped like a secret replaced by '[redacted FORMAT]'."""
    for name, shape in SHAPES.items():
        text = shape.sub(MARKER.format(name), text)
    return text


def scrub(text: str, values: Iterable[str]) -> str:
    """`text` with each exact value (a credential, an extracted token) replaced, then `redact`ed."""
    # Values under 4 characters (a thread id of 7) are no secret and would blank out every digit.
    for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return redact(text)


def excerpt(text: str, limit: int) -> str:
    """The first non-blank line of `text`, redacted, cut to `limit` characters with '…'."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = redact(line)
    return line if len(line) <= limit else line[: max(0, limit - 1)].rstrip() + "…"
