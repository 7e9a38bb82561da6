"""runner/net.py: the network layer the probes and the journey share, on 127.0.0.1 only."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from infracheck.runner import net


@pytest.mark.parametrize("exc,line", [
    (ConnectionRefusedError(), "connection refused"),
    (TimeoutError(), "timed out after 5 s"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "name does not resolve"),
    (net.Failed("the server sent no certificate"), "the server sent no certificate"),
    (OSError(113, "No route to host"), "no route to host"),
])
def test_a_network_failure_is_one_line_a_person_reads(exc: BaseException, line: str) -> None:
    assert net.describe(exc, 5) == line


def test_connect_goes_to_the_resolve_override_not_to_dns() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    settings = net.ProbeSettings(resolve={"api.example.invalid": f"127.0.0.1:{port}"})
    with net.connect("API.example.invalid.", 443, 5, settings) as sock:  # any case, a trailing dot
        thread.join(5)
        assert accepted and sock.getpeername() == ("127.0.0.1", port)
    accepted[0].close()
    server.close()


def test_tls_closes_the_socket_when_no_time_is_left() -> None:
    mine, theirs = socket.socketpair()

    def nothing_left() -> float:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        net.tls(mine, "example.invalid", ssl.create_default_context(), nothing_left)
    assert mine.fileno() == -1  # closed, not leaked
    theirs.close()


def test_a_settings_value_that_is_not_ip_or_ip_port_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="INFRACHECK_RESOLVE: 'api.example.com=nowhere'"):
        net.settings_from_env({"INFRACHECK_RESOLVE": "api.example.com=nowhere"})
