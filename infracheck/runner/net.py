"""The one network layer under the probes and the journey: where to connect, whom to trust, how to say what failed.

Both engines connect the same way: a TCP connection to the host or to its
curl-like --resolve override (INFRACHECK_RESOLVE), TLS that verifies against
the system's CAs plus INFRACHECK_CA_BUNDLE, HTTP over that socket with the
Host header still naming the target, a WebSocket over it with the same
arguments, one User-Agent, and one wording for every network failure.
Imported only by a live run (websockets, ssl): `--help`, `list` and a replay
never load it.
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
from collections.abc import Callable, Iterable, Mapping

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from infracheck import __version__

USER_AGENT = f"infracheck/{__version__}"
# Closing a WebSocket waits for the server's close frame; the answer is
# already known by then, so don't let a slow close cost much.
_CLOSE_TIMEOUT_S = 0.5
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
# getaddrinfo's "no such name" codes; EAI_NODATA is not on every platform.
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}

# The WebSocket library's failures, by what they mean to a caller.
WebSocketError = WebSocketException
UpgradeRefused = InvalidStatus  # the server answered the upgrade with another HTTP status
Closed = ConnectionClosed


class Failed(Exception):
    """A failure whose message is already the one line a person reads."""


# What counts as network trouble (a document's `error`, a journey step's failure); anything else is a bug.
ERRORS = (OSError, http.client.HTTPException, WebSocketException, Failed)


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
            client_context(cafile)
        except Failed as exc:
            raise ValueError(f"INFRACHECK_CA_BUNDLE: {exc}") from None
    resolve: dict[str, str] = {}
    for entry in (environ.get("INFRACHECK_RESOLVE") or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        host, sep, value = entry.partition("=")
        host, value = host.strip(), value.strip()
        if not sep or not valid_host(host):
            raise ValueError(f"INFRACHECK_RESOLVE: '{entry}' is not HOST=IP[:PORT]")
        _parse_override(value, f"INFRACHECK_RESOLVE: '{entry}'")
        resolve[host] = value
    return ProbeSettings(cafile=cafile, resolve=resolve)


def connect(host: str, port: int, timeout: float, settings: ProbeSettings) -> socket.socket:
    """A TCP connection to host:port, or to its resolve override (like curl --resolve)."""
    found = override(host, settings)
    address = (found[0], found[1] or port) if found else (host, port)
    return socket.create_connection(address, timeout=timeout)


def tls(sock: socket.socket, host: str, context: ssl.SSLContext, left: Callable[[], float]) -> ssl.SSLSocket:
    """TLS over `sock` for `host` (SNI and, when the context checks, verification); `sock` is closed on failure.

    `left` gives the seconds left (it may raise TimeoutError: the socket is closed then too).
    """
    try:
        sock.settimeout(left())
        return context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def http_connection(host: str, port: int, sock: socket.socket, secure: bool) -> http.client.HTTPConnection:
    """An HTTP(S) connection over a socket already connected (and wrapped): the socket may be the
    resolve override's address while the Host header still names `host`."""
    connection = http.client.HTTPSConnection(host, port) if secure else http.client.HTTPConnection(host, port)
    connection.sock = sock
    return connection


def websocket(url: str, sock: socket.socket, host: str, secure: bool, settings: ProbeSettings, open_timeout: float,
              headers: Iterable[tuple[str, str]] = ()) -> ClientConnection:
    """A WebSocket over a connected socket (the URI's host stays in SNI and Host); use it as a context manager."""
    return ws_connect(
        url,
        sock=sock,
        ssl=client_context(settings.cafile) if secure else None,
        server_hostname=host if secure else None,
        additional_headers=dict(headers) or None,
        open_timeout=open_timeout,
        close_timeout=_CLOSE_TIMEOUT_S,
        ping_interval=None,  # we close at once: no keepalive thread
        compression=None,
        user_agent_header=USER_AGENT,
    )


def refused_status(exc: BaseException) -> int | None:
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


@functools.lru_cache(maxsize=8)
def client_context(cafile: str | None) -> ssl.SSLContext:
    """System CAs plus `cafile`, checking host names; cached because loading the system store is slow."""
    context = ssl.create_default_context()
    if cafile is not None:
        try:  # in addition to the system store: a private CA must not hide public ones
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:  # lru_cache keeps no exceptions: a fixed file is re-read
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise Failed(f"cannot load CA bundle {cafile}: {reason}") from None
    return context


@functools.lru_cache(maxsize=1)
def unverified_context() -> ssl.SSLContext:
    """Only for reading a certificate that failed verification, never for judging it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def valid_host(host: str) -> bool:
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
    host, port = split_host_port(value, 0)
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        raise ValueError(f"{what}: '{value}' is not IP or IP:PORT") from None
    if port is None:
        raise ValueError(f"{what}: '{value}' is not IP or IP:PORT")
    return host or "", port or None


def override(host: str, settings: ProbeSettings) -> tuple[str, int | None] | None:
    wanted = host.lower().rstrip(".")
    for name, value in settings.resolve.items():
        if name.lower().rstrip(".") == wanted:
            return _parse_override(value, f"resolve override for {name!r}")
    return None


def split_host_port(text: str, default: int) -> tuple[str | None, int | None]:
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
    if not valid_host(host):
        return None, None
    if port_text is None:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None, None
    return host, int(port_text)


def describe(exc: BaseException, timeout: float) -> str:
    """One short line a person can act on, for any network failure (`timeout`: the budget that ran out)."""
    text: str
    if isinstance(exc, Failed):
        text = str(exc)
    elif isinstance(exc, ssl.SSLCertVerificationError):
        # verify_message: "self-signed certificate", "certificate has expired",
        # "Hostname mismatch, certificate is not valid for 'x'."
        text = f"certificate verify failed: {(exc.verify_message or exc.reason or 'unknown reason').rstrip('.')}"
    elif isinstance(exc, TimeoutError):  # socket.timeout too, and websockets' handshake timeout
        text = f"timed out after {timeout:g} s"
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
