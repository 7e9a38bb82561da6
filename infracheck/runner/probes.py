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
import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect as ws_connect

from infracheck import __version__
from infracheck.model import CommandError, ErrorKind, Outcome

KINDS = ("dns", "tls", "http", "ws")
_SCHEMES = {"http": ("http", "https"), "ws": ("ws", "wss")}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_USER_AGENT = f"infracheck/{__version__}"
# How long past the deadline the worker thread may run before we give up on
# it: the per-step socket timeouts normally end it right at the deadline.
_GRACE_S = 0.5
# Closing a WebSocket waits for the server's close frame; the answer is
# already known by then, so don't let a slow close cost much.
_CLOSE_TIMEOUT_S = 0.5
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
# getaddrinfo's "no such name" codes; EAI_NODATA is not on every platform.
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """Where probes connect and whom they trust: a CA bundle, curl-like --resolve overrides, a clock."""

    cafile: str | None = None  # trusted in addition to the system's CAs
    resolve: Mapping[str, str] = dataclasses.field(default_factory=dict)  # host -> "IP" or "IP:PORT"
    now: Callable[[], dt.datetime] | None = None  # for daysLeft (tests pin it)

    def __post_init__(self) -> None:
        for host, value in self.resolve.items():
            _parse_override(value, f"resolve override for {host!r}")


def settings_from_env(environ: Mapping[str, str]) -> ProbeSettings:
    """ProbeSettings from INFRACHECK_CA_BUNDLE (a PEM file) and INFRACHECK_RESOLVE (host=IP[:PORT],...); ValueError names the bad variable."""
    cafile = environ.get("INFRACHECK_CA_BUNDLE") or None
    if cafile is not None:
        try:
            _verifying_context(cafile)
        except _Failed as exc:
            raise ValueError(f"INFRACHECK_CA_BUNDLE: {exc}") from None
    resolve: dict[str, str] = {}
    for entry in (environ.get("INFRACHECK_RESOLVE") or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        host, sep, value = entry.partition("=")
        host, value = host.strip(), value.strip()
        if not sep or not _valid_host(host):
            raise ValueError(f"INFRACHECK_RESOLVE: '{entry}' is not HOST=IP[:PORT]")
        _parse_override(value, f"INFRACHECK_RESOLVE: '{entry}'")
        resolve[host] = value
    return ProbeSettings(cafile=cafile, resolve=resolve)


def run(argv: tuple[str, ...], timeout: float, settings: ProbeSettings | None = None) -> Outcome:
    """Run ('probe', KIND, TARGET) within `timeout` s: exit code 0 and a document, or a USAGE error."""
    deadline = _Deadline(timeout)
    try:
        target = _parse(argv)
    except _Failed as exc:
        return Outcome(argv, None, deadline.elapsed(), error=CommandError(ErrorKind.USAGE, str(exc)))
    chosen = settings if settings is not None else ProbeSettings()
    probe = _PROBES[target.kind]
    document = _bounded(lambda: probe(target, deadline, chosen), deadline, target)
    return Outcome(argv, 0, deadline.elapsed(), document=document)


def open_connection(host: str, port: int, timeout: float, settings: ProbeSettings) -> socket.socket:
    """A TCP connection to host:port, or to its resolve override (the journey connects the way probes do)."""
    override = _override(host, settings)
    address = (override[0], override[1] or port) if override else (host, port)
    return socket.create_connection(address, timeout=timeout)


def client_context(settings: ProbeSettings) -> ssl.SSLContext:
    """The verifying TLS context probes use: system CAs plus the settings' CA bundle."""
    return _verifying_context(settings.cafile)


def describe(exc: BaseException, timeout: float) -> str:
    """One short line for a network failure, worded as the probes word it."""
    return _describe(exc, _Deadline(timeout))


class _Failed(Exception):
    """A failure whose message is already the one line a person reads."""


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
        raise _Failed(f"a probe is 'probe KIND TARGET', got {' '.join(argv)!r}")
    kind, text = argv[1], argv[2]
    if kind not in KINDS:
        raise _Failed(f"unknown probe kind '{kind}' (expected one of: {', '.join(KINDS)})")
    if kind == "dns":
        if not _valid_host(text):
            raise _Failed(f"probe dns: '{text}' is not a host name")
        return _Target(kind, text, text, 0)
    if kind == "tls":
        host, port = _split_host_port(text, 443)
        if host is None or port is None:
            raise _Failed(f"probe tls: '{text}' is not HOST or HOST:PORT")
        return _Target(kind, text, host, port)
    return _parse_url(kind, text)


def _parse_url(kind: str, text: str) -> _Target:
    schemes = _SCHEMES[kind]
    usage = f"probe {kind}: '{text}' is not a URL like {schemes[-1]}://HOST[:PORT]/PATH"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port  # ValueError when not a number in 0..65535
    except ValueError:
        raise _Failed(usage) from None
    host = parts.hostname or ""
    if parts.scheme not in schemes or not _valid_host(host) or port == 0 or any(c.isspace() for c in text):
        raise _Failed(usage)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(kind, text, host, port or _DEFAULT_PORTS[parts.scheme], parts.scheme, path)


def _split_host_port(text: str, default: int) -> tuple[str | None, int | None]:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 literal; None for what isn't one."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None, None
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # a bare IPv6 literal has several colons and no port
        host, port_text = text, None
    if not _valid_host(host):
        return None, None
    if port_text is None:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None, None
    return host, int(port_text)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:  # an internationalized name resolves by its punycode form
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOSTNAME.fullmatch(ascii_host))


def _parse_override(value: str, what: str) -> tuple[str, int | None]:
    """'IP' or 'IP:PORT' ('[v6]:PORT' too) -> (ip, port or None); ValueError prefixed with `what`."""
    host, port = _split_host_port(value, 0)
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        raise ValueError(f"{what}: '{value}' is not IP or IP:PORT") from None
    if port is None:
        raise ValueError(f"{what}: '{value}' is not IP or IP:PORT")
    return host or "", port or None


def _override(host: str, settings: ProbeSettings) -> tuple[str, int | None] | None:
    wanted = host.lower().rstrip(".")
    for name, value in settings.resolve.items():
        if name.lower().rstrip(".") == wanted:
            return _parse_override(value, f"resolve override for {name!r}")
    return None


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


# What counts as network trouble (goes into `error`); anything else is a bug and raises.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, WebSocketException, _Failed)


def _probe_dns(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    override = _override(target.host, settings)
    if override is not None:  # like curl --resolve: the override is the answer, DNS is not asked
        document["addresses"] = [override[0]]
        return document
    try:
        infos = socket.getaddrinfo(target.host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        document["error"] = _describe(exc, deadline)
        return document
    document["addresses"] = sorted({str(info[4][0]) for info in infos})
    return document


def _probe_tls(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        der = _handshake(target, _verifying_context(settings.cafile), deadline, settings)
        document["valid"] = True
    except ssl.SSLCertVerificationError as exc:
        document["error"] = _describe(exc, deadline)
        try:  # the certificate still tells what is wrong with it: its expiry, its names
            der = _handshake(target, _unverified_context(), deadline, settings)
        except _NETWORK_ERRORS:
            return document
    except _NETWORK_ERRORS as exc:
        document["error"] = _describe(exc, deadline)
        return document
    document.update(_certificate_fields(der, settings))
    return document


def _probe_http(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        sock = _connect(target, deadline, settings)
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            context = _verifying_context(settings.cafile)
            sock = _wrap(sock, target.host, context, deadline)
            connection = http.client.HTTPSConnection(target.host, target.port, context=context)
        else:
            connection = http.client.HTTPConnection(target.host, target.port)
        # A socket already set is used as is: we connected to the override
        # address, while the Host header still names the target's host.
        connection.sock = sock
        try:
            sock.settimeout(deadline.left())
            connection.request("GET", target.path, headers={
                "User-Agent": _USER_AGENT, "Accept": "*/*", "Connection": "close"})
            sock.settimeout(deadline.left())
            response = connection.getresponse()  # status and headers only: the body is not needed
            document["status"] = response.status
            document["latencyMs"] = deadline.elapsed_ms()
        finally:
            connection.close()
    except _NETWORK_ERRORS as exc:
        document["error"] = _describe(exc, deadline)
    return document


def _probe_ws(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> dict[str, Any]:
    document = _blank(target)
    try:
        sock = _connect(target, deadline, settings)
        try:
            secure = target.scheme == "wss"
            with ws_connect(
                target.text,
                sock=sock,  # connected to the override address; the URI's host stays in SNI and Host
                ssl=_verifying_context(settings.cafile) if secure else None,
                server_hostname=target.host if secure else None,
                open_timeout=deadline.left(),
                close_timeout=_CLOSE_TIMEOUT_S,
                ping_interval=None,  # we close at once: no keepalive thread
                compression=None,
                user_agent_header=_USER_AGENT,
            ):
                document["upgraded"] = True
                document["status"] = 101
                document["latencyMs"] = deadline.elapsed_ms()
        finally:
            sock.close()  # websockets closes it too on most paths; closing twice is harmless
    except Exception as exc:
        status = _refused_status(exc)
        if status is not None:  # the server answered, just not with an upgrade
            document["status"] = status
            document["latencyMs"] = deadline.elapsed_ms()
        elif isinstance(exc, _NETWORK_ERRORS):
            document["error"] = _describe(exc, deadline)
        else:
            raise
    return document


_PROBES: dict[str, Callable[[_Target, _Deadline, ProbeSettings], dict[str, Any]]] = {
    "dns": _probe_dns, "tls": _probe_tls, "http": _probe_http, "ws": _probe_ws,
}


def _refused_status(exc: BaseException) -> int | None:
    """The HTTP status of a refused upgrade, also when wrapped.

    websockets >= 17 tries to follow a redirect and, with a socket we passed,
    raises ValueError("cannot follow redirect ...") from the InvalidStatus.
    """
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, InvalidStatus):
            return int(seen.response.status_code)
        seen = seen.__cause__ or seen.__context__
    return None


def _connect(target: _Target, deadline: _Deadline, settings: ProbeSettings) -> socket.socket:
    """A TCP connection to the target, or to its resolve override."""
    override = _override(target.host, settings)
    host, port = (override[0], override[1] or target.port) if override else (target.host, target.port)
    return socket.create_connection((host, port), timeout=deadline.left())


def _wrap(sock: socket.socket, host: str, context: ssl.SSLContext, deadline: _Deadline) -> ssl.SSLSocket:
    """TLS over `sock` for `host` (SNI and, when the context checks, verification)."""
    try:
        sock.settimeout(deadline.left())
        return context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def _handshake(target: _Target, context: ssl.SSLContext, deadline: _Deadline, settings: ProbeSettings) -> bytes:
    """The server's leaf certificate (DER) after a TLS handshake under `context`."""
    with _wrap(_connect(target, deadline, settings), target.host, context, deadline) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise _Failed("the server sent no certificate")
    return der


@functools.lru_cache(maxsize=8)
def _verifying_context(cafile: str | None) -> ssl.SSLContext:
    """System CAs plus `cafile`, checking host names; cached because loading the system store is slow."""
    context = ssl.create_default_context()
    if cafile is not None:
        try:  # in addition to the system store: a private CA must not hide public ones
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:  # lru_cache keeps no exceptions: a fixed file is re-read
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise _Failed(f"cannot load CA bundle {cafile}: {reason}") from None
    return context


@functools.lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    """Only for reading a certificate that failed verification, never for judging it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


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


def _describe(exc: BaseException, deadline: _Deadline) -> str:
    """One short line a person can act on."""
    text: str
    if isinstance(exc, _Failed):
        text = str(exc)
    elif isinstance(exc, ssl.SSLCertVerificationError):
        # verify_message: "self-signed certificate", "certificate has expired",
        # "Hostname mismatch, certificate is not valid for 'x'."
        text = f"certificate verify failed: {(exc.verify_message or exc.reason or 'unknown reason').rstrip('.')}"
    elif isinstance(exc, TimeoutError):  # socket.timeout too, and websockets' handshake timeout
        text = deadline.message
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, ConnectionResetError):
        text = "connection reset by peer"
    elif isinstance(exc, socket.gaierror):
        if exc.errno in _NO_SUCH_NAME:
            text = "name does not resolve"
        else:
            text = f"DNS lookup failed: {exc.strerror or exc}"
    elif isinstance(exc, ssl.SSLError):
        reason = exc.reason.lower().replace("_", " ") if exc.reason else str(exc)
        text = f"TLS handshake failed: {reason}"
    elif isinstance(exc, http.client.RemoteDisconnected):
        text = "the server closed the connection without answering"
    elif isinstance(exc, http.client.HTTPException):
        text = f"invalid HTTP response: {type(exc).__name__} {exc}"
    elif isinstance(exc, WebSocketException):
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None and str(exc.__cause__) else ""
        text = f"WebSocket handshake failed: {exc}{cause}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror[:1].lower() + exc.strerror[1:]
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the library put in it
