"""Redact text that looks like a secret: str -> str with each match replaced by a marker.

Log lines and HTTP answers are read from services that may print their own
credentials. Every shape here mirrors a secret format of the profile
(commands/secrets.toml) or a credential every web stack carries (a JWT, a
bearer token), and is matched anywhere in the text, not only as a whole
value. A format with no shape of its own (`non-empty`, e.g. an SMTP password)
cannot be recognised in free text; only exact values (`scrub`) can.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import string
import threading
from collections.abc import Iterable
from typing import Any

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


# A value shorter than this is never scrubbed: "on", "42" or "abc" occur in
# ordinary words, numbers and ids, and replacing them would mangle every
# report, while a secret that short is no secret (it is guessed in a moment,
# and the secrets checks report it as too short). redact.scrub uses the same.
MIN_SCRUBBED = 4
# Where a report cut text short (a log line, gcloud's message), as the formats write the ellipsis.
_CUT = re.compile(r"…|\.\.\.|\\u2026|&#8230;|&#x2026;")
# What a value begins with that says only its kind (and is printed on purpose:
# "an Anthropic key (sk-ant-...)"): a cut beginning must show more than this.
_PUBLIC_HEAD = re.compile(r"[a-z][a-z0-9+.-]*://|sk-ant-|sk-proj-|sk-|GOCSPX-")
_PAYLOAD_DATA = re.compile(r"""["']?data["']?\s*[:=]\s*["']([A-Za-z0-9+/_-]{4,}={0,2})["']""")


class Secrets:
    """The secret values one run has read, kept in memory only, and `scrub`, which removes them from text.

    One instance per invocation (a diagnose, a record, a whole watch), filled
    by the run stage as `secrets versions access` answers arrive and applied
    where text leaves infracheck (console.guard, output, recording). It is
    never written anywhere, and never module state: a later run in the same
    process (tests, a fleet of targets) starts from its own set.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()  # the values' written forms, longest first
        self._pattern: re.Pattern[str] | None = None

    def read(self, document: Any, stderr: str = "") -> None:
        """Remember the payload of a `secrets versions access` answer, and any payload its stderr echoes.

        gcloud prints the base64 of the payload; a failed access may echo the
        body it could not decode (`"data": "..."`): that value was read too.
        """
        payloads = []
        if isinstance(document, dict) and isinstance(document.get("payload"), dict):
            payloads.append(document["payload"].get("data"))
        payloads += _PAYLOAD_DATA.findall(stderr)
        for data in payloads:
            if not isinstance(data, str):
                continue
            try:
                raw = base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "==")
            except (binascii.Error, ValueError):
                continue
            self.add(raw)

    def add(self, value: str | bytes) -> None:
        """Remember one value (text or the payload's bytes) with the forms in which output could carry it."""
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        text = raw.decode("utf-8", "replace")
        forms = {text.strip()} if "\ufffd" not in text else set()  # binary: only its base64 can be printed
        for data in {raw, raw.strip()}:
            for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
                forms |= {encoded.decode("ascii"), encoded.decode("ascii").rstrip("=")}
        forms = {f for f in forms if len(f) >= MIN_SCRUBBED} if len(raw.strip()) >= MIN_SCRUBBED else set()
        with self._lock:
            if forms <= set(self._forms):
                return
            self._forms = tuple(sorted(set(self._forms) | forms, key=len, reverse=True))
            self._pattern = None  # compiled on the next scrub: once for all the secrets a run reads together

    def scrub(self, text: str) -> str:
        """`text` with every value read in this run, however a format escaped it, replaced by '[redacted]'."""
        with self._lock:
            forms, pattern = self._forms, self._pattern
            if not forms:
                return text
            if pattern is None:
                pattern = self._pattern = re.compile("|".join(_written(f) for f in forms))
        text = pattern.sub("[redacted]", text)
        return _cut_values(text, forms) if _CUT.search(text) else text


def _written(value: str) -> str:
    """A regex matching `value` as any output format may write it.

    JSON escapes quotes, backslashes and (ASCII-only) every non-ASCII
    character; XML and HTML use entities; Markdown backslash-escapes
    punctuation; GitHub's workflow commands percent-encode `%`, `:` and `,`;
    Markdown and text fold runs of whitespace into one space.
    """
    parts = []
    for char in value:
        if char.isascii() and char.isalnum():
            parts.append(char)
            continue
        if char.isspace():
            written = {json.dumps(char)[1:-1], f"&#{ord(char)};", f"&#x{ord(char):x};", f"%{ord(char):02X}"}
            parts.append("(?:\\s+|" + "|".join(re.escape(w) for w in sorted(written)) + ")")
            continue
        # \u0026: JSON encoders other than Python's escape & < > too.
        written = {char, json.dumps(char)[1:-1], json.dumps(char, ensure_ascii=False)[1:-1], f"\\u{ord(char):04x}",
                   html.escape(char), f"&#{ord(char)};", f"&#x{ord(char):x};", f"&#x{ord(char):X};"}
        if char in string.punctuation:
            written |= {"\\" + char, f"%{ord(char):02X}", f"%{ord(char):02x}"}
        if char == "'":
            written.add("&apos;")
        parts.append("(?:" + "|".join(re.escape(w) for w in sorted(written, key=len, reverse=True)) + ")")
    return "".join(parts)


def _cut_values(text: str, forms: Iterable[str]) -> str:
    """A value cut short where a report shortened its text ('…', '...'): its shown beginning goes too."""
    for cut in reversed(list(_CUT.finditer(text))):
        end = cut.start()
        for form in forms:
            head = _PUBLIC_HEAD.match(form)
            shortest = (head.end() if head else 0) + MIN_SCRUBBED
            longest = next((k for k in range(min(len(form), end), shortest - 1, -1)
                            if text[end - k:end] == form[:k]), 0)
            if longest:
                text = text[:end - longest] + "[redacted]" + text[end:]
                break
    return text


def excerpt(text: str, limit: int) -> str:
    """The first non-blank line of `text`, redacted, cut to `limit` characters with '…'."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = redact(line)
    return line if len(line) <= limit else line[: max(0, limit - 1)].rstrip() + "…"
