"""probes.py: real servers on 127.0.0.1 (HTTPS, WebSocket, silent, closed) under a trustme CA."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from websockets.sync.server import ServerConnection, serve

from infracheck.runner import net, probes
from infracheck.model import ErrorKind

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
TIMEOUT = 20.0  # generous: every case but the silent server answers in milliseconds (a loaded 2-core CI machine once took >5 s)

KEYS = {
    "dns": {"kind", "host", "addresses", "error"},
    "tls": {"kind", "host", "port", "valid", "error", "notAfter", "daysLeft", "issuer", "subject", "subjectAltNames"},
    "http": {"kind", "url", "status", "latencyMs", "error"},
    "ws": {"kind", "url", "upgraded", "status", "latencyMs", "error"},
}


class _Handler(http.server.BaseHTTPRequestHandler):
    """/health 200, /down 503, /moved 302 (to /health); anything else, /ws included, 404."""

    protocol_version = "HTTP/1.1"  # websockets refuses to read an HTTP/1.0 answer; real servers speak 1.1

    def do_GET(self) -> None:
        status = {"/health": 200, "/down": 503, "/moved": 302}.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/health")
        self.send_header("Content-Length", "3")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    """HTTPS with the handshake in the request's own thread, so a failed one blocks nobody."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError:  # the client refused our certificate: what several tests want
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def _start(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def ports(ca: trustme.CA) -> Iterator[dict[str, int]]:
    """Every server the tests talk to, by role -> port; all stopped at the end."""
    main = _server_context(ca.issue_cert("staging.example.test", "api-staging.example.test"))
    expiring = _server_context(ca.issue_cert(
        "expiring.example.test", not_after=(NOW + dt.timedelta(days=5, hours=1)).replace(tzinfo=None)))
    expired = _server_context(ca.issue_cert(
        "expired.example.test", not_after=(NOW - dt.timedelta(days=2, hours=1)).replace(tzinfo=None)))
    https = [_TLSServer(context) for context in (main, expiring, expired)]

    def websocket(connection: ServerConnection) -> None:
        for _ in connection:  # until the probe closes
            pass

    ws = serve(websocket, "127.0.0.1", 0, ssl=main)
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never accepts: the kernel completes TCP
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more: connection refused
    for server in (*https, ws):
        _start(server)
    yield {
        "https": https[0].server_address[1], "expiring": https[1].server_address[1],
        "expired": https[2].server_address[1], "ws": ws.socket.getsockname()[1],
        "silent": silent.getsockname()[1], "closed": closed_port,
    }
    for server in (*https, ws):
        server.shutdown()
    for server in https:
        server.server_close()
    silent.close()


@pytest.fixture(scope="module")
def settings(ports: dict[str, int], cafile: str) -> net.ProbeSettings:
    """The test CA trusted, and every test host name pointed at its local server."""
    at = {host: f"127.0.0.1:{ports[role]}" for host, role in [
        ("staging.example.test", "https"), ("wrong.example.test", "https"),
        ("api-staging.example.test", "ws"), ("expiring.example.test", "expiring"),
        ("expired.example.test", "expired"), ("silent.example.test", "silent"),
        ("closed.example.test", "closed")]}
    return net.ProbeSettings(cafile=cafile, resolve=at, now=lambda: NOW)


def has(*words: str) -> Callable[[Any], bool]:
    """An expected value: a string containing every word (case-insensitive)."""
    return lambda value: isinstance(value, str) and all(w.lower() in value.lower() for w in words)


def is_ms(value: Any) -> bool:
    return type(value) is int and 0 <= value < TIMEOUT * 1000


CASES = [
    # (kind, target, expected subset of the document; a callable judges its value)
    ("dns", "staging.example.test", {"host": "staging.example.test", "addresses": ["127.0.0.1"], "error": None}),
    ("dns", "localhost", {"addresses": lambda a: "127.0.0.1" in a or "::1" in a, "error": None}),
    ("dns", "nonexistent.invalid", {"addresses": [], "error": "name does not resolve"}),
    ("tls", "staging.example.test", {"valid": True, "error": None, "port": 443, "daysLeft": lambda d: d > 3650,
                                     "subjectAltNames": ["staging.example.test", "api-staging.example.test"],
                                     "issuer": has("O=trustme"), "notAfter": has("+00:00")}),
    ("tls", "wrong.example.test", {"valid": False, "error": has("certificate verify failed", "mismatch", "wrong.example.test"),
                                   "subjectAltNames": ["staging.example.test", "api-staging.example.test"]}),
    ("tls", "expiring.example.test:443", {"valid": True, "error": None, "daysLeft": 5,
                                          "notAfter": (NOW + dt.timedelta(days=5, hours=1)).isoformat()}),
    ("tls", "expired.example.test", {"valid": False, "error": has("expired"), "daysLeft": -3}),
    ("tls", "closed.example.test", {"valid": False, "error": "connection refused", "notAfter": None, "daysLeft": None}),
    ("http", "https://staging.example.test/health", {"status": 200, "latencyMs": is_ms, "error": None}),
    ("http", "https://staging.example.test/down", {"status": 503, "latencyMs": is_ms, "error": None}),
    ("http", "https://staging.example.test/moved", {"status": 302, "error": None}),  # not followed
    ("http", "https://wrong.example.test/health", {"status": None, "error": has("mismatch")}),
    ("http", "https://closed.example.test/health", {"status": None, "latencyMs": None, "error": "connection refused"}),
    ("http", "https://nonexistent.invalid/", {"status": None, "error": "name does not resolve"}),
    ("ws", "wss://api-staging.example.test/ws", {"upgraded": True, "status": 101, "latencyMs": is_ms, "error": None}),
    ("ws", "wss://staging.example.test/ws", {"upgraded": False, "status": 404, "error": None}),
    ("ws", "wss://staging.example.test/moved", {"upgraded": False, "status": 302, "error": None}),
    ("ws", "wss://closed.example.test/ws", {"upgraded": False, "status": None, "error": "connection refused"}),
]


def _check(document: dict[str, Any], kind: str, expected: dict[str, Any]) -> None:
    assert set(document) == KEYS[kind]
    assert document["kind"] == kind
    assert json.loads(json.dumps(document)) == document  # JSON-able, like a gcloud answer
    for key, want in expected.items():
        assert want(document[key]) if callable(want) else document[key] == want, (key, document)


@pytest.mark.parametrize("kind,target,expected", CASES, ids=[f"{k}-{t}" for k, t, _ in CASES])
def test_probe(kind: str, target: str, expected: dict[str, Any], settings: net.ProbeSettings) -> None:
    outcome = probes.run(("probe", kind, target), TIMEOUT, settings)
    assert outcome.error is None and outcome.exit_code == 0
    assert outcome.argv == ("probe", kind, target)
    _check(outcome.document, kind, expected)


@pytest.mark.parametrize("kind,target", [("tls", "staging.example.test"), ("http", "https://staging.example.test/health"),
                                         ("ws", "wss://api-staging.example.test/ws")])
def test_untrusted_ca(kind: str, target: str, settings: net.ProbeSettings) -> None:
    """Without the test CA the system store does not know the issuer."""
    untrusted = net.ProbeSettings(resolve=settings.resolve, now=settings.now)
    document = probes.run(("probe", kind, target), TIMEOUT, untrusted).document
    assert document["error"].startswith("certificate verify failed")
    assert document.get("valid", False) is False and document.get("upgraded", False) is False
    assert document.get("status") is None
    if kind == "tls":  # read anyway from an unverified handshake
        assert document["subjectAltNames"] == ["staging.example.test", "api-staging.example.test"]


@pytest.mark.parametrize("kind,target", [("tls", "silent.example.test"), ("http", "https://silent.example.test/health"),
                                         ("http", "http://silent.example.test/health"),
                                         ("ws", "wss://silent.example.test/ws"), ("ws", "ws://silent.example.test/ws")])
def test_silent_server_times_out(kind: str, target: str, settings: net.ProbeSettings) -> None:
    started = time.monotonic()
    outcome = probes.run(("probe", kind, target), 0.5, settings)
    elapsed = time.monotonic() - started
    assert outcome.document["error"] == "timed out after 0.5 s"
    assert 0.4 < elapsed < 0.5 + 10  # bounded (the server never answers); slack for a loaded machine
    assert set(outcome.document) == KEYS[kind]


def test_hung_resolver_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo takes no timeout: the probe stops waiting for it anyway."""
    release = threading.Event()
    monkeypatch.setattr(probes.socket, "getaddrinfo", lambda *a, **k: release.wait(60) and [])
    started = time.monotonic()
    try:
        document = probes.run(("probe", "dns", "hung.example.test"), 0.3, net.ProbeSettings()).document
    finally:
        release.set()
    assert document == {"kind": "dns", "host": "hung.example.test", "addresses": [], "error": "timed out after 0.3 s"}
    assert time.monotonic() - started < 0.3 + 10  # far below the resolver's 60 s, even on a loaded machine


@pytest.mark.parametrize("argv,words", [
    (("probe", "ftp", "example.test"), ["unknown probe kind 'ftp'", "dns, tls, http, ws"]),
    (("probe", "dns"), ["probe KIND TARGET"]),
    (("probe", "dns", "a b"), ["not a host name"]),
    (("probe", "dns", "https://x.test/"), ["not a host name"]),
    (("probe", "tls", "example.test:https"), ["HOST:PORT"]),
    (("probe", "tls", "example.test:70000"), ["HOST:PORT"]),
    (("probe", "http", "ftp://example.test/"), ["not a URL", "https://"]),
    (("probe", "http", "https://example.test:99999/"), ["not a URL"]),
    (("probe", "http", "example.test/health"), ["not a URL"]),
    (("probe", "ws", "https://example.test/ws"), ["not a URL", "wss://"]),
])
def test_usage_errors(argv: tuple[str, ...], words: list[str]) -> None:
    outcome = probes.run(argv, TIMEOUT)
    assert outcome.exit_code is None and outcome.document is None
    assert outcome.error is not None and outcome.error.kind is ErrorKind.USAGE
    assert all(w in outcome.error.message for w in words), outcome.error.message


def test_settings_from_env(cafile: str) -> None:
    settings = net.settings_from_env({
        "INFRACHECK_CA_BUNDLE": cafile,
        "INFRACHECK_RESOLVE": "a.example.test=10.0.0.1, b.example.test=127.0.0.1:8443,c.example.test=[::1]:8443",
    })
    assert settings.cafile == cafile
    assert dict(settings.resolve) == {"a.example.test": "10.0.0.1", "b.example.test": "127.0.0.1:8443",
                                      "c.example.test": "[::1]:8443"}
    assert net.settings_from_env({}) == net.ProbeSettings()


@pytest.mark.parametrize("environ,variable", [
    ({"INFRACHECK_RESOLVE": "a.example.test"}, "INFRACHECK_RESOLVE"),
    ({"INFRACHECK_RESOLVE": "a.example.test=not-an-ip"}, "INFRACHECK_RESOLVE"),
    ({"INFRACHECK_RESOLVE": "a.example.test=10.0.0.1:http"}, "INFRACHECK_RESOLVE"),
    ({"INFRACHECK_RESOLVE": "=10.0.0.1"}, "INFRACHECK_RESOLVE"),
    ({"INFRACHECK_CA_BUNDLE": "/nonexistent/ca.pem"}, "INFRACHECK_CA_BUNDLE"),
    ({"INFRACHECK_CA_BUNDLE": __file__}, "INFRACHECK_CA_BUNDLE"),  # exists, holds no certificate
])
def test_settings_from_env_refuses(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        net.settings_from_env(environ)
