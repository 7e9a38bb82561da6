"""DNS / TLS / HTTP / WebSocket reachability probes: ('probe', KIND, TARGET) -> a JSON document.

A probe answers like a gcloud command does, with one JSON-able dict, so the
same JMESPath rules, recordings and replay apply. Network trouble never
raises: it goes into the document's `error` as one short line. Each probe
runs against one deadline (`timeout` seconds in total), and a worker thread
bounds even the calls that take no timeout (getaddrinfo).

The certificate fields (notAfter, daysLeft, issuer, subject,
subjectAltNames) are decoded from the server's DER certificate with
`cryptography`; when verification fails a second, unverified handshake
fetches that certificate so an expired or mismatched one still says what it
is (its expiry, the names it does cover).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from cryptography import x509

from infracheck.model import CommandError, ErrorKind, Outcome
from infracheck.runner import net
from infracheck.runner.net import ProbeSettings

KINDS = ("dns", "tls", "http", "ws")
_SCHEMES = {"http": ("http", "https"), "ws": ("ws", "wss")}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# How long past the deadline the worker thread may run before we give up on
# it: the per-step socket timeouts normally end it right at the deadline.
_GRACE_S = 0.5


def run(argv: tuple[str, ...], timeout: float, settings: ProbeSettings | None = None) -> Outcome:
    """Run ('probe', KIND, TARGET) within `timeout` s: exit code 0 and a document, or a USAGE error."""
    deadline = _Deadline(timeout)
    try:
        target = _parse(argv)
    except net.Failed as exc:
        return Outcome(argv, None, deadline.elapsed(), error=CommandError(ErrorKind.USAGE, str(exc)))
    chosen = settings if settings is not None else ProbeSettings()
    probe = _PROBES[target.kind]
    document = _bounded(lambda: probe(target, deadline, chosen), deadline, target)
    return Outcome(argv, 0, deadline.elapsed(), document=document)


class _Deadline:
    """One total budget shared by every step of a probe."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.end = self.started + timeout

    def left(self) -> float:
        """Seconds left for the next step; TimeoutError when none are."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def elapsed_ms(self) -> int:
        return round(self.elapsed() * 1000)

    @property
    def message(self) -> str:
        return f"timed out after {self.timeout:g} s"


@dataclasses.dataclass(frozen=True)
class _Target:
    kind: str
    text: str  # as given: the document names the target the way the catalog does
    host: str
    port: int
    scheme: str = ""
    path: str = "/"


def _parse(argv: tuple[str, ...]) -> _Target:
    if len(argv) != 3 or argv[0] != "probe":
        raise net.Failed(f"a probe is 'probe KIND TARGET', got {' '.join(argv)!r}")
    kind, text = argv[1], argv[2]
    if kind not in KINDS:
        raise net.Failed(f"unknown probe kind '{kind}' (expected one of: {', '.join(KINDS)})")
    if kind == "dns":
        if not net.valid_host(text):
            raise net.Failed(f"probe dns: '{text}' is not a host name")
        return _Target(kind, text, text, 0)
    if kind == "tls":
        host, port = net.split_host_port(text, 443)
        if host is None or port is None:
            raise net.Failed(f"probe tls: '{text}' is not HOST or HOST:PORT")
        return _Target(kind, text, host, port)
    return _parse_url(kind, text)


def _parse_url(kind: str, text: str) -> _Target:
    schemes = _SCHEMES[kind]
    usage = f"probe {kind}: '{text}' is not a URL like {schemes[-1]}://HOST[:PORT]/PATH"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port  # ValueError when not a number in 0..65535
    except ValueError:
        raise net.Failed(usage) from None
    host = parts.hostname or ""
    if parts.scheme not in schemes or not net.valid_host(host) or port == 0 or any(c.isspace() for c in text):
        raise net.Failed(usage)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(kind, text, host, port or _DEFAULT_PORTS[parts.scheme], parts.scheme, path)


def _bounded(work: Callable[[], dict[str, Any]], deadline: _Deadline, target: _Target) -> dict[str, Any]:
    """Run `work` in a thread and stop waiting soon after the deadline.

    getaddrinfo takes no timeout and a server trickling bytes can stretch
    per-read socket timeouts, so only a join bounds the probe for sure. An
    abandoned worker ends on its own socket timeouts; it is a daemon.
    """
    result: list[dict[str, Any]] = []
    failure: list[BaseException] = []

    def target_fn() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # re-raised below: a bug must not vanish in a thread
            failure.append(exc)

    worker = threading.Thread(target=target_fn, daemon=True, name="infracheck-probe")
    worker.start()
    worker.join(max(0.0, deadline.end - time.monotonic()) + _GRACE_S)
    if failure:
        raise failure[0]
    if result:
        return result[0]
    return {**_blank(target), "error": deadline.message}


def _blank(target: _Target) -> dict[str, Any]:
    """The document with nothing known yet: every key present, so rules see a stable shape."""
    if target.kind == "dns":
        return {"kind": "dns", "host": target.host, "addresses": [], "error": None}
    if target.kind == "tls":
        return {"kind": "tls", "host": target.host, "port": target.port, "valid": False, "error": None,
                "notAfter": None, "daysLeft": None, "issuer": None, "subject": None, "subjectAltNames": []}
    if target.kind == "http":
        return {"kind": "http", "url": target.text, "status": None, "latencyMs": None, "error": None}
    return {"kind": "ws", "url": target.text, "upgraded": False, "status": None, "latencyMs": None, "error": None}


def _probe_dns(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    override = net.override(target.host, settings)
    if override is not None:  # like curl --resolve: the override is the answer, DNS is not asked
        document["addresses"] = [override[0]]
        return document
    try:
        infos = socket.getaddrinfo(target.host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        document["error"] = net.describe(exc, deadline.timeout)
        return document
    document["addresses"] = sorted({str(info[4][0]) for info in infos})
    return document


def _probe_tls(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        der = _handshake(target, net.client_context(settings.cafile), deadline, settings)
        document["valid"] = True
    except ssl.SSLCertVerificationError as exc:
        document["error"] = net.describe(exc, deadline.timeout)
        try:  # the certificate still tells what is wrong with it: its expiry, its names
            der = _handshake(target, net.unverified_context(), deadline, settings)
        except net.ERRORS:
            return document
    except net.ERRORS as exc:
        document["error"] = net.describe(exc, deadline.timeout)
        return document
    document.update(_certificate_fields(der, settings))
    return document


def _probe_http(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        sock = _connect(target, deadline, settings)
        secure = target.scheme == "https"
        if secure:
            sock = net.tls(sock, target.host, net.client_context(settings.cafile), deadline.left)
        connection = net.http_connection(target.host, target.port, sock, secure)
        try:
            sock.settimeout(deadline.left())
            connection.request("GET", target.path, headers={
                "User-Agent": net.USER_AGENT, "Accept": "*/*", "Connection": "close"})
            sock.settimeout(deadline.left())
            response = connection.getresponse()  # status and headers only: the body is not needed
            document["status"] = response.status
            document["latencyMs"] = deadline.elapsed_ms()
        finally:
            connection.close()
    except net.ERRORS as exc:
        document["error"] = net.describe(exc, deadline.timeout)
    return document


def _probe_ws(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        sock = _connect(target, deadline, settings)
        try:
            secure = target.scheme == "wss"
            with net.websocket(target.text, sock, target.host, secure, settings, deadline.left()):
                document["upgraded"] = True
                document["status"] = 101
                document["latencyMs"] = deadline.elapsed_ms()
        finally:
            sock.close()  # websockets closes it too on most paths; closing twice is harmless
    except Exception as exc:
        status = net.refused_status(exc)
        if status is not None:  # the server answered, just not with an upgrade
            document["status"] = status
            document["latencyMs"] = deadline.elapsed_ms()
        elif isinstance(exc, net.ERRORS):
            document["error"] = net.describe(exc, deadline.timeout)
        else:
            raise
    return document


_PROBES: dict[str, Callable[[_Target, _Deadline, ProbeSettings], dict[str, Any]]] = {
    "dns": _probe_dns, "tls": _probe_tls, "http": _probe_http, "ws": _probe_ws,
}


def _handshake(target: _Target, context: ssl.SSLContext, deadline: _Deadline, settings: ProbeSettings) -> bytes:
    """The server's leaf certificate (DER) after a TLS handshake under `context`."""
    with net.tls(_connect(target, deadline, settings), target.host, context, deadline.left) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise net.Failed("the server sent no certificate")
    return der


def _certificate_fields(der: bytes, settings: ProbeSettings) -> dict[str, Any]:
    """notAfter, daysLeft, issuer, subject, subjectAltNames of a DER certificate; {} if it won't decode."""
    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [*sans.get_values_for_type(x509.DNSName),
                     *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))]
        except x509.ExtensionNotFound:
            names = []
        not_after = cert.not_valid_after_utc
        issuer, subject = _name(cert.issuer), _name(cert.subject)
    except ValueError:  # a malformed certificate: the handshake result stands, details stay null
        return {}
    now = settings.now() if settings.now is not None else dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return {
        "notAfter": not_after.isoformat(),
        "daysLeft": (not_after - now).days,  # whole days, rounded down: negative once expired
        "issuer": issuer,
        "subject": subject,
        "subjectAltNames": names,
    }


def _name(name: x509.Name) -> str | None:
    """'C=US, O=Google Trust Services, CN=WR3': the certificate's own order, as openssl prints it."""
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns) or None


def _connect(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> socket.socket:
    """A TCP connection to the target, or to its resolve override, within what is left of the deadline."""
    return net.connect(target.host, target.port, deadline.left(), settings)
