"""The profile's Golden Path journey (`[[journey]]` steps) parsed and checked: a mistake names the step.

Each step is an HTTP request or a WebSocket exchange; `${name}` is a value
an earlier step extracted, `${env:NAME}` a credential from the environment
(a literal credential in the profile is refused). runner/journey.py runs them.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from infracheck.model import CannotRun
from infracheck.rules import dialect

_STEP_KEYS = {"name", "url", "method", "headers", "json", "status", "max_ms", "extract", "expect",
              "send", "wait_for", "within_s"}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
VARIABLE = re.compile(r"\$\{(env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Names under which a literal value is a credential that belongs in the environment.
_CREDENTIAL_NAME = re.compile(r"pass(word)?|secret|token|api[-_]?key|credential|authorization|cookie", re.I)
DEFAULT_WITHIN_S = 10.0


class JourneyError(CannotRun):
    """A journey definition that cannot run, worded for the person who edits the profile."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One step as written in the profile; `${...}` placeholders still in place."""

    name: str
    url: str
    websocket: bool = False
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None  # JSON sent (HTTP) or the message sent after connecting (WebSocket)
    status: tuple[int, ...] = ()  # empty: any 2xx
    max_ms: int | None = None
    extract: tuple[tuple[str, str], ...] = ()  # (variable, JMESPath over the JSON answer)
    expect: tuple[tuple[str, str], ...] = ()  # (what it means, JMESPath that must be truthy)
    wait_for: str | None = None
    within_s: float = DEFAULT_WITHIN_S


def parse(raw: Any) -> tuple[Step, ...]:
    """The profile's `journey` list -> Steps; JourneyError names the step and the problem."""
    if raw in (None, []):
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise JourneyError("journey: must be a list of [[journey]] step tables")
    steps: list[Step] = []
    defined: set[str] = set()
    for index, item in enumerate(raw, 1):
        step = _parse_step(index, item)
        if step.name in {s.name for s in steps}:
            raise JourneyError(f"journey step '{step.name}': the name is used twice")
        for name in _placeholders(step, env=False):
            if name not in defined:
                raise JourneyError(f"journey step '{step.name}': ${{{name}}} is not extracted by an earlier step")
        defined.update(var for var, _ in step.extract)
        steps.append(step)
    return tuple(steps)


def credentials(steps: Iterable[Step]) -> list[str]:
    """The environment variables the journey reads, in order of first use."""
    return list(dict.fromkeys(name for step in steps for name in _placeholders(step, env=True)))


def _parse_step(index: int, raw: Mapping[str, Any]) -> Step:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise JourneyError(f"journey step {index}: 'name' must be lower-case letters, digits and '-'")
    where = f"journey step '{name}'"
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise JourneyError(f"{where}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(_STEP_KEYS))})")
    url = raw.get("url")
    if not isinstance(url, str):
        raise JourneyError(f"{where}: needs a 'url'")
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "ws", "wss") or not urllib.parse.urlsplit(url).hostname:
        raise JourneyError(f"{where}: url '{url}' is not an http(s):// or ws(s):// URL")
    websocket = scheme in ("ws", "wss")
    method = str(raw.get("method", "GET")).upper()
    if method not in _METHODS:
        raise JourneyError(f"{where}: method '{method}' is not one of {', '.join(sorted(_METHODS))}")
    if websocket and ("method" in raw or "status" in raw or "max_ms" in raw):
        raise JourneyError(f"{where}: a WebSocket step takes send, wait_for and within_s, not method/status/max_ms")
    if not websocket and ("wait_for" in raw or "within_s" in raw or "send" in raw):
        raise JourneyError(f"{where}: wait_for, within_s and send are for ws:// or wss:// steps; use json for a body")
    if websocket and not raw.get("wait_for"):
        raise JourneyError(f"{where}: a WebSocket step needs 'wait_for' (a JMESPath over each message)")
    headers = _string_table(where, "headers", raw.get("headers", {}))
    extract = _string_table(where, "extract", raw.get("extract", {}))
    expect = _string_table(where, "expect", raw.get("expect", {}))
    for label, expression in [*extract, *expect, *([("wait_for", raw["wait_for"])] if websocket else [])]:
        _compile(where, label, expression)
    for var, _ in extract:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise JourneyError(f"{where}: extract name '{var}' must be a word (it is used as ${{{var}}})")
    body = raw.get("send") if websocket else raw.get("json")
    _no_literal_credentials(where, "headers", dict(headers))
    _no_literal_credentials(where, "send" if websocket else "json", body)
    return Step(
        name=name, url=url, websocket=websocket, method=method, headers=headers, body=body,
        status=_statuses(where, raw.get("status")), max_ms=_positive(where, "max_ms", raw.get("max_ms")),
        extract=extract, expect=expect, wait_for=raw.get("wait_for"),
        within_s=float(_positive(where, "within_s", raw.get("within_s")) or DEFAULT_WITHIN_S),
    )


def _string_table(where: str, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise JourneyError(f"{where}: '{key}' must be a table of name = \"text\"")
    return tuple((str(k), v) for k, v in raw.items())


def _compile(where: str, label: str, expression: str) -> None:
    problem = dialect.compile_problem(expression)
    if problem:
        raise JourneyError(f"{where}: {label}: JMESPath does not compile: {expression!r}: {problem}")


def _statuses(where: str, raw: Any) -> tuple[int, ...]:
    values = raw if isinstance(raw, list) else [] if raw is None else [raw]
    if not all(isinstance(v, int) and 100 <= v <= 599 for v in values):
        raise JourneyError(f"{where}: 'status' must be an HTTP status or a list of them")
    return tuple(values)


def _positive(where: str, key: str, raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise JourneyError(f"{where}: '{key}' must be a positive whole number")
    return raw


def _no_literal_credentials(where: str, key: str, value: Any) -> None:
    """A password, token or key written into the profile is refused: it belongs in ${env:NAME}."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if isinstance(inner, str) and _CREDENTIAL_NAME.search(str(name)) and "${" not in inner:
                raise JourneyError(f"{where}: {key}.{name} is written in the profile; credentials come from "
                                   "the environment: \"${env:NAME}\" (or a value extracted earlier: \"${name}\")")
            _no_literal_credentials(where, f"{key}.{name}", inner)
    elif isinstance(value, list):
        for inner in value:
            _no_literal_credentials(where, key, inner)


def _placeholders(step: Step, env: bool) -> list[str]:
    texts = [step.url, *(v for _, v in step.headers), *_strings(step.body)]
    return [m.group(2) for t in texts for m in VARIABLE.finditer(t) if bool(m.group(1)) == env]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
