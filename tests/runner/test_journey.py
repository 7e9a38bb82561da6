"""journey.py: the Golden Path against local HTTP and WebSocket servers on 127.0.0.1.

The servers play the stack: POST /auth/login answers a token for the right
password, POST /api/chat needs that token and answers the AI's reply, and the
WebSocket (with the token) answers a chat message with two events, the
second carrying the AI response. Every value a server hands out embeds a
canary that must never reach a document.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from infracheck.catalog import journey as journey_steps
from infracheck.runner import journey, net
from infracheck.model import ErrorKind

CANARY = "Zx9JourneyCanary"
PASSWORD = f"pw-{CANARY}"
TOKEN = f"tok-{CANARY}-0123456789"
TIMEOUT = 20.0  # the whole journey; every server answers in milliseconds, the silent WebSocket aside
ENV = {"E2E_EMAIL": "e2e@netrasystems.ai", "E2E_PASSWORD": PASSWORD}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        if self.path == "/auth/login":
            if body == {"email": ENV["E2E_EMAIL"], "password": PASSWORD}:
                self._answer(200, {"access_token": TOKEN, "user": {"id": 7}})
            else:
                self._answer(401, {"detail": f"bad credentials for {body.get('password')}"})
        elif self.path == "/api/chat":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"detail": "not authenticated"})
            else:
                self._answer(200, {"thread_id": body["thread"], "answer": f"Hello! (token {TOKEN})"})
        elif self.path == "/api/empty":
            self._answer(200, {"thread_id": "t-1", "answer": ""})
        else:
            self._answer(404, {"detail": "no route"})

    def do_GET(self) -> None:
        if self.path == "/health/db":
            self._answer(200, {"status": "ok", "database": {"latency_ms": 41}})
        elif self.path == "/slow":
            time.sleep(0.05)
            self._answer(200, {"status": "ok"})
        elif self.path == "/hang":
            time.sleep(3)  # longer than the tests' 1 s journey budget
            self._answer(200, {"status": "late"})
        elif self.path == "/count":
            self._answer(200, {"count": 7})
        elif self.path == "/html":
            self._send(200, b"<html>hi</html>", "text/html")
        else:
            self._answer(404, {"detail": "no route"})

    def _answer(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _websocket(connection: ServerConnection) -> None:
    """Chat events for an authenticated client; /silent never answers."""
    if connection.request is None or connection.request.headers.get("Authorization") != f"Bearer {TOKEN}":
        connection.close(4401, "not authenticated")
        return
    if connection.request.path == "/silent":
        for _ in connection:
            pass
        return
    for text in connection:
        message = json.loads(text)
        connection.send("not json: keep-alive")
        connection.send(json.dumps({"type": "agent_started", "thread_id": message["thread_id"]}))
        connection.send(json.dumps({"type": "agent_completed", "thread_id": message["thread_id"],
                                    "payload": {"response": f"The AI says hi ({TOKEN})"}}))


@pytest.fixture(scope="module")
def base() -> Iterator[dict[str, str]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    ws = serve(_websocket, "127.0.0.1", 0)
    for s in (server, ws):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield {"http": f"http://127.0.0.1:{server.server_address[1]}", "ws": f"ws://127.0.0.1:{ws.socket.getsockname()[1]}"}
    server.shutdown()
    server.server_close()
    ws.shutdown()


def golden_path(base: dict[str, str], **changes: Any) -> list[dict[str, Any]]:
    """The stack's journey as a profile would write it: login -> chat message -> AI response over the WebSocket."""
    steps = [
        {"name": "login", "method": "POST", "url": f"{base['http']}/auth/login",
         "json": {"email": "${env:E2E_EMAIL}", "password": "${env:E2E_PASSWORD}"},
         "status": 200, "max_ms": 10000, "extract": {"token": "access_token"}},
        {"name": "chat", "method": "POST", "url": f"{base['http']}/api/chat",
         "headers": {"Authorization": "Bearer ${token}"}, "json": {"thread": "t-42", "message": "hello"},
         "extract": {"thread_id": "thread_id"},
         "expect": {"the AI answer is a non-empty string": "type(answer) == 'string' && length(answer) > `0`"}},
        {"name": "ai-response", "url": f"{base['ws']}/ws", "headers": {"Authorization": "Bearer ${token}"},
         "send": {"type": "user_message", "thread_id": "${thread_id}", "content": "hello"},
         "wait_for": "type == 'agent_completed' && length(payload.response) > `0`", "within_s": 5},
    ]
    for name, fields in changes.items():
        [step] = [s for s in steps if s["name"] == name]
        step.update(fields)
    return steps


def run(raw: list[dict[str, Any]], environ: dict[str, str] | None = None, timeout: float = TIMEOUT):
    return journey.run(("probe", "journey", "golden-path"), journey_steps.parse(raw), timeout,
                       net.ProbeSettings(), ENV if environ is None else environ)


def steps_of(outcome) -> dict[str, dict[str, Any]]:
    assert outcome.error is None and outcome.exit_code == 0
    text = json.dumps(outcome.document)
    assert CANARY not in text  # no credential, token or answer quoting them ever leaves the engine
    return {s["name"]: s for s in outcome.document["steps"]}


def test_the_golden_path_passes_step_by_step_with_latency(base):
    steps = steps_of(run(golden_path(base)))
    assert list(steps) == ["login", "chat", "ai-response"]
    for step in steps.values():
        assert step["failures"] == [] and step["result"].startswith("passed: ")
        assert type(step["latencyMs"]) is int and step["result"].endswith(f" in {step['latencyMs']} ms")
    assert steps["login"]["request"] == f"POST {base['http']}/auth/login" and steps["login"]["status"] == 200
    assert steps["ai-response"]["request"] == f"WebSocket {base['ws']}/ws" and steps["ai-response"]["status"] == 101
    assert steps["ai-response"]["result"].startswith("passed: the awaited message in ")


def test_a_wrong_password_fails_login_and_later_steps_do_not_run(base):
    steps = steps_of(run(golden_path(base), {**ENV, "E2E_PASSWORD": f"wrong-{CANARY}"}))
    assert steps["login"]["status"] == 401
    assert steps["login"]["failures"][0] == "answered 401, expected 200"
    assert "extract token: access_token found nothing in the answer" in steps["login"]["failures"]
    assert steps["chat"]["result"] == "not run: step 'login' failed"
    assert steps["ai-response"]["result"] == "not run: step 'login' failed"


def test_a_missing_credential_is_a_could_not_check_naming_it_before_any_request(base):
    outcome = run(golden_path(base), {"E2E_EMAIL": "x@y.z"})
    assert outcome.document is None and outcome.error is not None
    assert outcome.error.kind is ErrorKind.MISSING_CREDENTIAL
    assert outcome.error.message.startswith("environment variable E2E_PASSWORD is not set")
    both = run(golden_path(base), {})
    assert both.error is not None and "E2E_EMAIL, E2E_PASSWORD are not set" in both.error.message


def test_a_failed_assertion_names_what_was_expected(base):
    steps = steps_of(run(golden_path(base, chat={"url": f"{base['http']}/api/empty"})))
    assert steps["chat"]["failures"] == [
        "'the AI answer is a non-empty string' does not hold "
        "(type(answer) == 'string' && length(answer) > `0` is false)"]
    assert steps["ai-response"]["result"] == "not run: step 'chat' failed"


def test_a_latency_limit(base):
    step = steps_of(run([{"name": "slow", "url": f"{base['http']}/slow", "max_ms": 10}], {}))["slow"]
    assert step["status"] == 200 and step["latencyMs"] >= 50  # the server waits 50 ms
    assert step["failures"] == [f"took {step['latencyMs']} ms, limit 10 ms"]


def test_a_health_endpoint_reporting_database_latency_is_asserted_with_jmespath(base):
    raw = [{"name": "db-health", "url": f"{base['http']}/health/db",
            "expect": {"the database answers within 35 s": "database.latency_ms < `35000`"}}]
    assert steps_of(run(raw, {}))["db-health"]["result"].startswith("passed: 200 in ")
    raw[0]["expect"] = {"the database answers within 35 s": "database.latency_ms < `10`"}
    assert "does not hold (database.latency_ms < `10` is false)" in steps_of(run(raw, {}))["db-health"]["result"]


def test_an_answer_that_is_not_json_fails_its_assertions(base):
    raw = [{"name": "page", "url": f"{base['http']}/html", "expect": {"has a title": "title"}}]
    assert steps_of(run(raw, {}))["page"]["failures"][0] == "the answer is not JSON"


def test_the_websocket_waits_within_its_limit_then_fails(base):
    steps = steps_of(run(golden_path(base, **{"ai-response": {"url": f"{base['ws']}/silent", "within_s": 1}})))
    assert steps["ai-response"]["failures"] == [
        "no message matching type == 'agent_completed' && length(payload.response) > `0` within 1 s (0 messages received)"]
    assert 900 <= steps["ai-response"]["latencyMs"] < 1000 * TIMEOUT


def test_a_websocket_event_that_never_matches_counts_the_messages(base):
    steps = steps_of(run(golden_path(base, **{"ai-response": {"wait_for": "type == 'agent_failed'", "within_s": 1}})))
    assert steps["ai-response"]["failures"] == ["no message matching type == 'agent_failed' within 1 s (3 messages received)"]


def test_a_refused_connection_is_one_line(base):
    closed = "http://127.0.0.1:9"  # discard: nothing listens there
    steps = steps_of(run(golden_path(base, login={"url": f"{closed}/auth/login"})))
    assert steps["login"]["failures"] == ["connection refused"] and steps["login"]["status"] is None


def test_the_journey_is_bounded_by_its_timeout(base):
    started = time.monotonic()
    steps = steps_of(run(golden_path(base, **{"ai-response": {"url": f"{base['ws']}/silent", "within_s": 30}}),
                         timeout=2))
    # The run's budget ended before the step's own 30 s: it says so, not "within 30 s" (issue 17).
    assert steps["ai-response"]["failures"] == ["ran out of the run's --timeout (2 s)"]
    assert steps["ai-response"]["result"] == "failed: ran out of the run's --timeout (2 s)"
    assert time.monotonic() - started < 10  # 2 s budget; generous for a loaded machine


def test_an_http_step_that_outlives_the_runs_timeout_says_so(base):
    """Not "timed out after 0 s (20099 ms)": the step ran out of the run's --timeout (issue 17)."""
    steps = steps_of(run([{"name": "slow", "url": f"{base['http']}/hang"}, {"name": "next", "url": f"{base['http']}/count"}],
                         {}, timeout=1))
    assert steps["slow"]["failures"] == ["ran out of the run's --timeout (1 s)"]
    assert steps["slow"]["result"] == "failed: ran out of the run's --timeout (1 s)"
    assert steps["next"]["result"] == "not run: step 'slow' failed" and steps["next"]["blockedBy"] == "slow"


@pytest.mark.parametrize("expression, failure", [
    ("count > '5'", "enough: count > '5' could not be evaluated: `count` is a number, expected a string to "
                    "compare with \"5\""),
    ("length(count) > `0`", "enough: length(count) > `0` could not be evaluated: `count` is a number, expected "
                            "a string or a list or an object"),
])
def test_an_assertion_of_the_wrong_type_is_a_failure_naming_the_field(base, expression, failure):
    """The rules' typed dialect: not "internal error: TypeError" (issue 17)."""
    raw = [{"name": "counted", "url": f"{base['http']}/count", "expect": {"enough": expression}}]
    assert steps_of(run(raw, {}))["counted"]["failures"] == [failure]


@pytest.mark.parametrize("raw,message", [
    ("x", "must be a list"),
    ([{"url": "http://h/"}], "journey step 1: 'name'"),
    ([{"name": "a", "url": "ftp://h/"}], "is not an http(s):// or ws(s):// URL"),
    ([{"name": "a", "url": "http://h/", "wait": 1}], "unknown key(s) ['wait']"),
    ([{"name": "a", "url": "http://h/", "method": "FETCH"}], "method 'FETCH'"),
    ([{"name": "a", "url": "ws://h/"}], "needs 'wait_for'"),
    ([{"name": "a", "url": "http://h/", "wait_for": "x"}], "are for ws:// or wss:// steps"),
    ([{"name": "a", "url": "http://h/", "expect": {"ok": "a[?"}}], "JMESPath does not compile"),
    ([{"name": "a", "url": "http://h/${token}"}], "${token} is not extracted by an earlier step"),
    ([{"name": "a", "url": "http://h/", "json": {"password": "hunter2"}}], "json.password is written in the profile"),
    ([{"name": "a", "url": "http://h/", "headers": {"Authorization": "Bearer abc"}}], "headers.Authorization is written"),
    ([{"name": "a", "url": "http://h/"}, {"name": "a", "url": "http://h/"}], "used twice"),
    ([{"name": "a", "url": "http://h/", "status": "200"}], "'status' must be"),
])
def test_a_bad_definition_is_one_clear_line(raw, message):
    with pytest.raises(journey_steps.JourneyError) as caught:
        journey_steps.parse(raw)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_credentials_are_listed_in_order_of_use(base):
    assert journey_steps.credentials(journey_steps.parse(golden_path(base))) == ["E2E_EMAIL", "E2E_PASSWORD"]
    assert journey_steps.parse([]) == ()


# --- through the command line: a profile's journey, findings, record and replay ---------------------

def _profile(tmp_path, steps: list[dict[str, Any]]):
    """A --profile file with the journey as [[journey]] tables (JSON strings are valid TOML strings)."""
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    lines = []
    for step in steps:
        lines.append("[[journey]]")
        lines += [f"{key} = {value(v)}" for key, v in step.items()]
    path = tmp_path / "journey.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cli_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("INFRACHECK_") or name.startswith("E2E_"):
            monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_diagnose_runs_the_profiles_journey_one_finding_per_step(base, tmp_path, capsys, cli_env):
    from infracheck.cli import main

    profile = _profile(tmp_path, golden_path(base))
    report_file = tmp_path / "report.json"
    code = main(["diagnose", "--profile", str(profile), "--include", "journey.*", "--format", "json",
                 "--output", str(report_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    findings = [f for f in json.loads(out)["findings"] if f["status"] != "skip"]
    assert [(f["rule"], f["resource"], f["status"]) for f in findings] == [
        ("journey.step-passed", "login", "pass"), ("journey.step-passed", "chat", "pass"),
        ("journey.websocket-event", "ai-response", "pass")]
    assert findings[0]["message"].startswith("Journey step 'login' passed: 200 in ")
    assert findings[0]["message"].endswith(" ms")
    for text in (out, err, report_file.read_text()):
        assert CANARY not in text


def test_a_missing_credential_is_unknown_naming_the_variable(base, tmp_path, capsys, cli_env, monkeypatch):
    from infracheck.cli import main

    monkeypatch.delenv("E2E_PASSWORD")
    code = main(["diagnose", "--profile", str(_profile(tmp_path, golden_path(base))), "--include", "journey.*",
                 "--color", "never"])
    out, _ = capsys.readouterr()
    assert code == 3
    assert "Overall Status: UNKNOWN" in out
    assert "Journey step login: environment variable E2E_PASSWORD is not set" in out


def test_a_failed_journey_is_critical_and_replays_from_its_recording_without_secrets(base, tmp_path, capsys, cli_env):
    from infracheck.cli import main

    profile = _profile(tmp_path, golden_path(base, chat={"url": f"{base['http']}/api/empty"}))
    folder = tmp_path / "rec"
    assert main(["record", str(folder), "--profile", str(profile), "--include", "journey.*", "--format", "json"]) == 2  # record exits with the verdict
    live = json.loads(capsys.readouterr().out)
    live["findings"] = [f for f in live["findings"] if f["area"] == "journey"]
    for path in folder.iterdir():
        assert CANARY not in path.read_text(), path.name
    assert main(["diagnose", "--replay", str(folder), "--profile", str(profile), "--include", "journey.*",
                 "--format", "json"]) == 2
    replayed = json.loads(capsys.readouterr().out)
    replayed["findings"] = [f for f in replayed["findings"] if f["area"] == "journey"]
    assert [(f["resource"], f["status"], f["message"]) for f in replayed["findings"]] == \
        [(f["resource"], f["status"], f["message"]) for f in live["findings"]]
    assert [f["status"] for f in replayed["findings"]] == ["pass", "fail", "fail"]


def test_a_bad_journey_stops_the_run_with_one_line(base, tmp_path, capsys, cli_env):
    from infracheck.cli import main

    profile = _profile(tmp_path, golden_path(base, login={"json": {"password": "hunter2"}}))
    assert main(["diagnose", "--profile", str(profile), "--include", "journey.*"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("infracheck: error: journey step 'login': json.password is written in the profile")
    assert "hunter2" not in err and "Traceback" not in err


def test_list_shows_the_journey_step_check(base, tmp_path, capsys, cli_env):
    from infracheck.cli import main

    assert main(["list", "--profile", str(_profile(tmp_path, golden_path(base)))]) == 0
    out = capsys.readouterr().out
    assert "journey.step   (for each journey)" in out and "$ probe journey golden-path" in out


def test_list_names_the_journey_area_even_without_steps(capsys, cli_env):
    from infracheck.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "[journey] Checking Golden Path Journey...\n  (nothing to check with this profile" in out
    assert "[logs] Checking Application Logs...\n  logs.entries\n" in out


def test_steps_not_run_are_consequences_of_the_failed_step(base, tmp_path, capsys, cli_env, monkeypatch):
    """One root cause (login), not three; the checklist counts the others as not run (issue 17)."""
    from infracheck.cli import main

    monkeypatch.setenv("E2E_PASSWORD", f"wrong-{CANARY}")
    profile = _profile(tmp_path, golden_path(base))
    assert main(["diagnose", "--profile", str(profile), "--include", "journey.*", "--format", "json"]) == 2
    findings = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["area"] == "journey"]
    assert [(f["resource"], f["caused_by"]) for f in findings] == [
        ("login", []),
        ("chat", [{"rule": "journey.step-passed", "resource": "login"}]),
        ("ai-response", [{"rule": "journey.step-passed", "resource": "login"}])]
    assert main(["diagnose", "--profile", str(profile), "--include", "journey.*", "--format", "markdown"]) == 2
    out = capsys.readouterr().out
    assert "- [ ] Golden Path user flow functional (login → AI response) - 1 failed, 2 not run of 3: " in out
    assert "- [ ] WebSocket events firing correctly for real-time updates - 1 not run of 1: " in out
