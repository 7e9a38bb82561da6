"""Which Cloud Monitoring alert policies watch one resource's metric: `gap(policies, wanted)`.

A policy counts for a resource only when one of its conditions selects that
resource's series: its filter names the metric (`metric.type`) and every
`metric.labels.*` the watch needs (5xx, an uptime check's id), and does not
exclude the resource (a `resource.labels.*` it restricts must match this
stack's value; one it leaves open covers every resource of the type, this
one included, which is how GCP evaluates it). A policy for another
connector, another database or another service does not count.

Filters follow the Monitoring filter syntax
(https://cloud.google.com/monitoring/api/v3/filters): `key = "value"`,
`!=`, `:` (has), AND / OR / NOT, parentheses, `starts_with`, `ends_with`,
`has_substring`, `one_of`, `monitoring.regex.full_match`; `resource.label.X`
is an alias of `resource.labels.X`. A clause on a key the watch does not know
(another label) may select some of the series: it neither makes nor breaks a
match. MQL and PromQL conditions are matched on their text (the metric and
each label value quoted), which is how they name them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
    r"|(?P<op>!=|<=|>=|=|:|<|>|\(|\)|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./-]*|-?[0-9][0-9.]*))"
)
_FUNCTIONS = {"starts_with", "ends_with", "has_substring", "one_of", "monitoring.regex.full_match"}


class FilterError(ValueError):
    """A filter infracheck cannot read (it then does not count, and says so nowhere else)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"cannot read the filter at {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


def _normal(key: str) -> str:
    for short, full in (("resource.label.", "resource.labels."), ("metric.label.", "metric.labels."),
                        ("metadata.user_label.", "metadata.user_labels."),
                        ("metadata.system_label.", "metadata.system_labels.")):
        if key.startswith(short):
            return full + key[len(short):]
    return key


class _Parser:
    """filter := or; or := and ('OR' and)*; and := unary (['AND'] unary)*; unary := 'NOT' unary | '(' or ')' | clause."""

    def __init__(self, text: str, wanted: Mapping[str, str]) -> None:
        self.tokens, self.pos, self.wanted = _tokens(text), 0, wanted
        self.keys: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early")
        self.pos += 1
        return token

    def parse(self) -> bool | None:
        value = self.disjunction()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return value

    def disjunction(self) -> bool | None:
        values = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            values.append(self.conjunction())
        return True if True in values else (None if None in values else False)

    def conjunction(self) -> bool | None:
        values = [self.unary()]
        while self.peek() is not None and self.peek() not in (("word", "OR"), ("op", ")")):
            if self.peek() == ("word", "AND"):
                self.take()
            values.append(self.unary())
        return False if False in values else (None if None in values else True)

    def unary(self) -> bool | None:
        token = self.take()
        if token in (("word", "NOT"), ("op", "-")):
            value = self.unary()
            return None if value is None else not value
        if token == ("op", "("):
            value = self.disjunction()
            if self.take() != ("op", ")"):
                raise FilterError("a parenthesis is not closed")
            return value
        if token[0] != "word":
            raise FilterError(f"unexpected {token[1]!r}")
        key = _normal(token[1])
        kind, op = self.take()
        if kind != "op" or op not in ("=", "!=", ":", "<", ">", "<=", ">="):
            raise FilterError(f"no comparison after {key}")
        test = self.operand()
        self.keys.add(key)
        if key not in self.wanted or op in ("<", ">", "<=", ">="):
            return None  # another label: may select some of the series
        actual = self.wanted[key]
        if op == ":":
            return test(actual) or None  # "has": a substring test on a string
        matched = test(actual)
        return matched if op == "=" else not matched

    def operand(self) -> Any:
        kind, value = self.take()
        if kind == "string" or (kind == "word" and self.peek() != ("op", "(")):
            return lambda actual: actual == value
        if kind != "word" or value not in _FUNCTIONS:
            raise FilterError(f"unknown function {value!r}")
        self.take()  # (
        args = []
        while True:
            k, v = self.take()
            if (k, v) == ("op", ")"):
                break
            if k == "string":
                args.append(v)
            elif (k, v) != ("op", ","):
                raise FilterError(f"unexpected {v!r} in {value}()")
        if value == "starts_with":
            return lambda actual: any(actual.startswith(a) for a in args)
        if value == "ends_with":
            return lambda actual: any(actual.endswith(a) for a in args)
        if value == "has_substring":
            return lambda actual: any(a in actual for a in args)
        if value == "one_of":
            return lambda actual: actual in args
        return lambda actual: any(re.fullmatch(a, actual) for a in args)


def selects(text: str, wanted: Mapping[str, str], required: Sequence[str] = ()) -> bool:
    """Whether a Monitoring filter selects the series `wanted` describes (key -> value) and names the metric
    and every key in `required` (a 5xx policy must name the response code class, not count all requests)."""
    wanted = {_normal(k): v for k, v in wanted.items()}
    parser = _Parser(text, wanted)
    try:
        result = parser.parse()
    except (FilterError, re.error):
        return False
    named = {"metric.type"} | {_normal(k) for k in required}
    return result is not False and named <= parser.keys


def _query_names(text: str, wanted: Mapping[str, str], required: Sequence[str]) -> bool:
    """MQL / PromQL: the metric (as MQL or PromQL spells it) and each required label's value appear quoted,
    and a label value of this stack that the query names (or none of it: it covers every resource)."""
    metric = wanted.get("metric.type", "")
    service, _, path = metric.partition("/")
    promql = service.replace(".", "_") + ":" + path.replace("/", "_").replace(".", "_")
    if metric not in text and promql not in text:
        return False
    for key, value in wanted.items():
        if key == "metric.type":
            continue
        named = key in required or key.rsplit(".", 1)[-1] in text  # a label the query restricts
        if named and f"'{value}'" not in text and f'"{value}"' not in text:
            return False
    return True


def _condition_selects(condition: Any, wanted: Mapping[str, str], required: Sequence[str]) -> bool:
    if not isinstance(condition, dict):
        return False
    for kind in ("conditionThreshold", "conditionAbsent"):
        body = condition.get(kind)
        if isinstance(body, dict) and isinstance(body.get("filter"), str) and selects(body["filter"], wanted, required):
            return True
    for kind in ("conditionMonitoringQueryLanguage", "conditionPrometheusQueryLanguage"):
        body = condition.get(kind)
        if isinstance(body, dict) and isinstance(body.get("query"), str) and _query_names(body["query"], wanted, required):
            return True
    return False


def watching(policies: Sequence[Any] | None, wanted: Mapping[str, str],
             required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The policies with a condition that selects the wanted series."""
    return [p for p in policies or [] if isinstance(p, dict)
            and any(_condition_selects(c, wanted, required) for c in p.get("conditions") or [])]


def gap(policies: Sequence[Any] | None, wanted: Mapping[str, str], required: Sequence[str] = ()) -> str | None:
    """None when an enabled policy with a notification channel watches the series; else what is missing."""
    found = watching(policies, wanted, required)
    if not found:
        return f"no alert policy reads {wanted.get('metric.type', 'its metric')} for it"
    if any(p.get("enabled") is True and p.get("notificationChannels") for p in found):
        return None
    enabled = [p for p in found if p.get("enabled") is True]
    if enabled:
        names = ", ".join(f"'{p.get('displayName') or p.get('name', '?')}'" for p in enabled)
        verb = "has" if len(enabled) == 1 else "have"
        return f"alert policy {names} {verb} no notification channel: it fires, and nobody is told"
    names = ", ".join(f"'{p.get('displayName') or p.get('name', '?')}'" for p in found)
    return f"alert policy {names} {'is' if len(found) == 1 else 'are'} disabled"


def uptime_checks(configs: Sequence[Any] | None, url: str) -> list[dict[str, Any]]:
    """The HTTP(S) uptime checks of a URL: its host (uptime_url's `host` label), path and scheme."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    path = parts.path or "/"
    found = []
    for config in configs or []:
        if not isinstance(config, dict):
            continue
        resource = config.get("monitoredResource") or {}
        http = config.get("httpCheck")
        if not isinstance(resource, dict) or not isinstance(http, dict) or resource.get("type") != "uptime_url":
            continue
        # The API prepends "/" to a path that lacks it; no path is "/".
        their_path = http.get("path") or "/"
        their_path = their_path if their_path.startswith("/") else "/" + their_path
        if ((resource.get("labels") or {}).get("host") == parts.hostname and their_path == path
                and bool(http.get("useSsl")) == (parts.scheme == "https")):
            found.append(config)
    return found
