"""The Golden Path journey: the profile's steps (catalog/journey.py), run in order -> one JSON document, one entry per step.

A run-stage engine like the probes: ('probe', 'journey', NAME) answers with
a document, so the catalog's rules judge it and record/replay work
unchanged. Each step is an HTTP request (method, URL, headers, JSON body) or
a WebSocket exchange (connect, send, wait for a message matching a JMESPath
within a time limit). A step can extract values from its JSON answer with
JMESPath into variables that later steps use as `${name}`; credentials come
only from environment variables, as `${env:NAME}`.

Credentials and extracted values are secrets: the document never carries
them (URLs are shown as written in the profile, with their `${...}`
placeholders), and every text in it is scrubbed of their exact values and of
anything shaped like a secret (redact.py) before it leaves this module, so
neither reports nor recordings can hold them.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from infracheck import redact
from infracheck.catalog.journey import VARIABLE, Step, credentials
from infracheck.model import CommandError, ErrorKind, Outcome
from infracheck.rules import dialect
from infracheck.runner import net

_MAX_BODY = 1 << 20  # answers above a megabyte are cut: assertions need the JSON, not a download


def run(argv: tuple[str, ...], steps: tuple[Step, ...], timeout: float,
        settings: net.ProbeSettings, environ: Mapping[str, str]) -> Outcome:
    """Run every step in order within `timeout` s in total.

    A missing credential variable stops the journey before any request: a
    could-not-check naming the variables. Otherwise exit code 0 and a
    document {"kind": "journey", "steps": [{name, request, status,
    latencyMs, result, failures}]}; a step after a failed one is "not run"
    and names it in `blockedBy` (its finding is that step's consequence).
    """
    started = time.monotonic()
    missing = [name for name in credentials(steps) if not environ.get(name)]
    if missing:
        names = ", ".join(missing)
        return Outcome(argv, None, 0.0, error=CommandError(
            ErrorKind.MISSING_CREDENTIAL,
            f"environment variable {names} {'is' if len(missing) == 1 else 'are'} not set "
            "(the journey reads its credentials from the environment)"))
    secrets = [environ[name] for name in credentials(steps)]
    variables: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    failed: str | None = None
    budget = _Budget(started + timeout, timeout)
    for step in steps:
        if failed is not None:
            results.append(_entry(step, result=f"not run: step '{failed}' failed", blockedBy=failed))
            continue
        entry = _run_step(step, variables, environ, budget, settings)
        # Extracted values are secrets from the moment they exist.
        secrets += [_text(v) for v in variables.values()]
        results.append(_scrubbed(entry, secrets))
        if entry["failures"]:
            failed = step.name
    return Outcome(argv, 0, time.monotonic() - started, document={"kind": "journey", "steps": results})


# --- running -------------------------------------------------------------------

class _StepFailed(Exception):
    """A failure that ends the step; its text is the one line a person reads."""


@dataclasses.dataclass(frozen=True)
class _Budget:
    """The run's --timeout, shared by every step: when it ends, and how long it was."""

    deadline: float
    timeout: float

    @property
    def spent(self) -> str:
        # What a step says when the whole journey's time is gone, not its own limit.
        return f"ran out of the run's --timeout ({self.timeout:g} s)"


def _entry(step: Step, **fields: Any) -> dict[str, Any]:
    """A step's document with every key present, so rules see a stable shape."""
    request = f"WebSocket {step.url}" if step.websocket else f"{step.method} {step.url}"
    entry: dict[str, Any] = {"name": step.name, "request": request, "status": None, "latencyMs": None, "result": "",
             "failures": [], "blockedBy": None}
    entry.update(fields)
    return entry


def _run_step(step: Step, variables: dict[str, Any], environ: Mapping[str, str], budget: _Budget,
              settings: net.ProbeSettings) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        return _substitute(value, variables, environ)

    entry = _entry(step)
    started = time.monotonic()
    failures: list[str] = entry["failures"]
    try:
        if step.websocket:
            answer = _exchange(step, fill, budget, settings, entry)
        else:
            answer = _request(step, fill, budget, settings, entry, failures)
        entry["latencyMs"] = round((time.monotonic() - started) * 1000)
        if step.max_ms is not None and entry["latencyMs"] > step.max_ms:
            failures.append(f"took {entry['latencyMs']} ms, limit {step.max_ms} ms")
        for label, expression in step.expect:
            value = _search(expression, answer, label)
            if not value:
                failures.append(f"'{label}' does not hold ({expression} is {_short(value)})")
        for var, expression in step.extract:
            value = _search(expression, answer, f"extract {var}")
            if value in (None, "", [], {}):
                failures.append(f"extract {var}: {expression} found nothing in the answer")
            else:
                variables[var] = value
    except _StepFailed as exc:
        failures.append(str(exc))
    if entry["latencyMs"] is None:
        entry["latencyMs"] = round((time.monotonic() - started) * 1000)
    if failures and failures[-1] == budget.spent:
        entry["result"] = "failed: " + "; ".join(failures)  # its latency is the run's budget, not the step's
    elif failures:
        entry["result"] = "failed: " + "; ".join(failures) + f" ({entry['latencyMs']} ms)"
    else:
        got = "the awaited message" if step.websocket else f"{entry['status']}"
        entry["result"] = f"passed: {got} in {entry['latencyMs']} ms"
    return entry


def _left(budget: _Budget, limit: float | None = None) -> float:
    left = budget.deadline - time.monotonic()
    if left <= 0:
        raise _StepFailed(budget.spent)
    return left if limit is None else min(left, limit)


def _request(step: Step, fill: Callable[[Any], Any], budget: _Budget, settings: net.ProbeSettings,
             entry: dict[str, Any], failures: list[str]) -> Any:
    """Send the step's request; the JSON answer (None when it is not JSON)."""
    url = urllib.parse.urlsplit(str(fill(step.url)))
    host, secure = url.hostname or "", url.scheme == "https"
    port = url.port or (443 if secure else 80)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = {"User-Agent": net.USER_AGENT, "Accept": "application/json", "Connection": "close"}
    body = None
    if step.body is not None:
        body = json.dumps(fill(step.body)).encode("utf-8")
        headers["Content-Type"] = "application/json"
    headers.update({k: str(fill(v)) for k, v in step.headers})
    try:
        sock: socket.socket = net.connect(host, port, _left(budget), settings)
        if secure:
            sock = net.tls(sock, host, net.client_context(settings.cafile), lambda: _left(budget))
        connection = net.http_connection(host, port, sock, secure)
        try:
            sock.settimeout(_left(budget))
            connection.request(step.method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read(_MAX_BODY)
        finally:
            connection.close()
    except (OSError, *net.ERRORS) as exc:
        # Every socket wait is what was left of the run's --timeout: a timeout here is that budget gone.
        if isinstance(exc, TimeoutError) or budget.deadline - time.monotonic() <= 0:
            raise _StepFailed(budget.spent) from None
        raise _StepFailed(net.describe(exc, budget.deadline - time.monotonic())) from None
    entry["status"] = response.status
    wanted = step.status
    if (response.status not in wanted) if wanted else not 200 <= response.status < 300:
        failures.append(f"answered {response.status}, expected {' or '.join(map(str, wanted)) or '2xx'}")
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        if step.expect or step.extract:
            failures.append("the answer is not JSON")
        return None


def _exchange(step: Step, fill: Callable[[Any], Any], budget: _Budget, settings: net.ProbeSettings,
              entry: dict[str, Any]) -> Any:
    """Connect, send, and read messages until one matches `wait_for`: that message."""
    url = str(fill(step.url))
    parts = urllib.parse.urlsplit(url)
    host, secure = parts.hostname or "", parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    assert step.wait_for is not None
    received = 0
    limit = _left(budget, step.within_s)
    own_limit = limit == step.within_s  # else the run's --timeout ends first
    until = time.monotonic() + limit
    try:
        sock = net.connect(host, port, limit, settings)
        try:
            with net.websocket(url, sock, host, secure, settings, max(0.001, until - time.monotonic()),
                               [(k, str(fill(v))) for k, v in step.headers]) as connection:
                entry["status"] = 101
                if step.body is not None:
                    message = fill(step.body)
                    connection.send(message if isinstance(message, str) else json.dumps(message))
                while True:
                    left = until - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    text = connection.recv(timeout=left)
                    received += 1
                    try:
                        document = json.loads(text)
                    except ValueError:
                        continue  # not JSON: cannot match a JMESPath, keep waiting
                    if _search(step.wait_for, document, "wait_for"):
                        return document
        finally:
            sock.close()
    except TimeoutError:
        if not own_limit:
            raise _StepFailed(budget.spent) from None
        raise _StepFailed(f"no message matching {step.wait_for} within {limit:g} s "
                          f"({received} message{'' if received == 1 else 's'} received)") from None
    except net.Closed:
        raise _StepFailed(f"the server closed the WebSocket before a message matched {step.wait_for} "
                          f"({received} received)") from None
    except net.UpgradeRefused as exc:
        entry["status"] = int(exc.response.status_code)
        raise _StepFailed(f"the WebSocket upgrade was refused: HTTP {exc.response.status_code}") from None
    except (OSError, net.WebSocketError, ssl.SSLError) as exc:
        if not own_limit and until - time.monotonic() <= 0:
            raise _StepFailed(budget.spent) from None
        raise _StepFailed(net.describe(exc, limit)) from None


def _search(expression: str, document: Any, label: str) -> Any:
    # The rules' own dialect: `count > '5'` names the field instead of a TypeError.
    try:
        return dialect.query(expression, document)
    except dialect.ExpressionError as exc:
        raise _StepFailed(f"{label}: {expression} could not be evaluated: {exc}") from None


def _substitute(value: Any, variables: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """`${name}` and `${env:NAME}` filled in; a string that is exactly one placeholder keeps the value's type."""
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        if whole:
            return environ[whole.group(2)] if whole.group(1) else variables[whole.group(2)]
        return VARIABLE.sub(
            lambda m: environ[m.group(2)] if m.group(1) else _text(variables[m.group(2)]), value)
    if isinstance(value, dict):
        return {k: _substitute(v, variables, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, environ) for v in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _scrubbed(entry: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """Every text of a step's document without the journey's secrets or secret-shaped strings."""
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact.scrub(value, secrets)
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {k: clean(v) for k, v in entry.items()}
