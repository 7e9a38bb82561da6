"""Serve: the diagnosis on an interval, its last complete run for Prometheus and health checkers.

One thread runs the cycles, one at a time (`cycles`); the HTTP side answers
every request from the last published `Snapshot` only, so a scrape never
starts a run and never waits for one. A slow or hung cycle leaves the last
run in place and makes it stale, which the metrics and /healthz say; the
endpoint keeps answering. SIGTERM (or Ctrl-C) stops the server, ends the
commands of a cycle in flight and returns. How a cycle runs is given as a
callable: nothing here knows gcloud, the catalog or the console.

    /metrics      prometheus_client's exposition of the last complete run
    /healthz      200 while that run is HEALTHY (WARNING too, if asked) and fresh, else 503
    /report.json  that run's report, as `diagnose --format json` prints it
"""

from __future__ import annotations

import dataclasses
import http.server
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from infracheck.errors import ExitStatus
from infracheck.model import CannotRun, Overall, Report
from infracheck.report import json as json_report
from infracheck.report import prometheus

Cycle = Callable[[], Report]  # one full diagnosis, start to finish


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A complete run as the endpoints serve it, rendered once when it is published."""

    report: Report
    number: int  # which cycle produced it
    finished: float  # Unix time the cycle ended
    duration_s: float
    families: tuple[Metric, ...]  # the report's metric families, labels scrubbed
    body: bytes  # /report.json


@dataclasses.dataclass(frozen=True)
class View:
    """What one request sees: the state at one instant, copied under the lock."""

    last: Snapshot | None
    running_since: float | None  # Unix time the cycle in flight started; None between cycles
    completed: int
    failed: int
    last_failed: bool  # the most recent cycle could not run (its error is logged)


class State:
    """Written by the cycle thread, read by every request; the lock is held only to copy or swap references."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._view = View(None, None, 0, 0, False)

    def view(self) -> View:
        with self._lock:
            return self._view

    def begin(self, at: float) -> None:
        with self._lock:
            self._view = dataclasses.replace(self._view, running_since=at)

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            v = self._view
            self._view = View(snapshot, None, v.completed + 1, v.failed, False)

    def fail(self) -> None:
        with self._lock:
            v = self._view
            self._view = View(v.last, None, v.completed, v.failed + 1, True)

    def idle(self) -> None:
        """A cycle ended without a result (stopped mid-run): nothing is in flight any more."""
        with self._lock:
            self._view = dataclasses.replace(self._view, running_since=None)


@dataclasses.dataclass(frozen=True)
class Settings:
    interval: float  # seconds from one cycle's start to the next's
    stale_after: float  # seconds after which the last complete run no longer counts
    warning_ok: bool = False  # /healthz answers 200 for WARNING too


def snapshot(report: Report, number: int, finished: float, duration_s: float,
             scrub: Callable[[str], str]) -> Snapshot:
    """Render a finished run once for all the requests that will read it; `scrub` removes the run's secrets."""
    body = scrub(json_report.render(report)).encode("utf-8")
    return Snapshot(report, number, finished, duration_s, tuple(prometheus.families(report, scrub)), body)


def gauge(name: str, documentation: str, value: float) -> Metric:
    return prometheus.gauge(name, documentation, value)


class Collector:
    """The families of the last complete run plus what only this process knows: age, staleness, the cycle in flight."""

    def __init__(self, state: State, settings: Settings, wall: Callable[[], float] = time.time) -> None:
        self._state, self._settings, self._wall = state, settings, wall

    def collect(self) -> Iterator[Metric]:
        v, now = self._state.view(), self._wall()
        limit = self._settings.stale_after
        age = None if v.last is None else max(0.0, now - v.last.finished)
        stale = age is None or age > limit
        yield gauge("infracheck_up", "1 while the last cycle completed and its run is no older than the staleness "
                    "limit; 0 before the first run, after a cycle that could not run, or when stale.",
                    0.0 if stale or v.last_failed else 1.0)
        yield gauge("infracheck_stale", "1 when there is no complete run younger than the staleness limit "
                    "(a slow or hung cycle, or none finished yet).", 1.0 if stale else 0.0)
        yield gauge("infracheck_stale_after_seconds", "The staleness limit (--stale-after).", limit)
        yield gauge("infracheck_cycle_running", "1 while a cycle is running.", 0.0 if v.running_since is None else 1.0)
        yield gauge("infracheck_cycle_running_seconds", "How long the cycle in flight has run (0 between cycles).",
                    0.0 if v.running_since is None else max(0.0, now - v.running_since))
        yield gauge("infracheck_interval_seconds", "Seconds from one cycle's start to the next's (--interval).",
                    self._settings.interval)
        yield CounterMetricFamily("infracheck_cycles", "Cycles that completed a run since serve started.",
                                  value=v.completed)
        yield CounterMetricFamily("infracheck_cycle_failures", "Cycles that could not run (the error is logged).",
                                  value=v.failed)
        if v.last is None:
            return
        yield gauge("infracheck_last_run_timestamp_seconds", "When the last complete run finished (Unix time).",
                    v.last.finished)
        yield gauge("infracheck_last_run_duration_seconds", "How long the last complete run took.",
                    v.last.duration_s)
        yield gauge("infracheck_last_run_age_seconds", "Seconds since the last complete run finished.",
                    age or 0.0)
        yield from v.last.families


def health(v: View, settings: Settings, now: float) -> tuple[int, str]:
    """/healthz: (HTTP status, one line saying why)."""
    if v.last is None:
        running = "" if v.running_since is None else f" (the first cycle has run {now - v.running_since:.0f} s)"
        return 503, f"no complete run yet{running}"
    age = max(0.0, now - v.last.finished)
    status = v.last.report.status
    if age > settings.stale_after:
        return 503, (f"stale: the last complete run ({status.name}) finished {age:.0f} s ago, "
                     f"over the {settings.stale_after:.0f} s limit")
    ok = status is Overall.HEALTHY or (settings.warning_ok and status is Overall.WARNING)
    return (200 if ok else 503), f"{status.name}: last complete run {age:.0f} s ago (cycle {v.last.number})"


def handler(state: State, settings: Settings, registry: CollectorRegistry,
            wall: Callable[[], float] = time.time) -> type[http.server.BaseHTTPRequestHandler]:
    """The request handler: every answer is built from `state.view()` and nothing else."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "infracheck"
        timeout = 10  # a client that sends nothing gives its thread back

        def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
            self._answer(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, content_type, encoder(registry), body)
            elif path == "/healthz":
                code, line = health(state.view(), settings, wall())
                self._send(code, "text/plain; charset=utf-8", (line + "\n").encode("utf-8"), body)
            elif path == "/report.json":
                last = state.view().last
                if last is None:
                    self._send(503, "application/json", b'{"error": "no complete run yet"}\n', body)
                else:
                    self._send(200, "application/json", last.body, body)
            elif path == "/":
                self._send(200, "text/plain; charset=utf-8", b"infracheck serve: /metrics /healthz /report.json\n",
                           body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: /metrics /healthz /report.json\n", body)

        def _send(self, code: int, content_type: str, payload: bytes, body: bool) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not news; cycles and failures are logged instead

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds the process at exit

    def handle_error(self, request: object, client_address: object) -> None:
        """One line, not socketserver's traceback; a scraper that hung up (timeout, restart) is not news."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"infracheck: a request failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def listen(host: str, port: int, handler_class: type[http.server.BaseHTTPRequestHandler]) -> _Server:
    """Bind HOST:PORT (IPv6 when the host is an IPv6 address); a refusal is one line naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_Server,), {"address_family": family})
    try:
        server: _Server = server_class((host, port), handler_class)
    except OSError as exc:
        shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise CannotRun(f"cannot listen on {shown}: {exc.strerror or exc}") from None
    return server


def cycles(cycle: Cycle, state: State, settings: Settings, stopping: threading.Event,
           scrub: Callable[[str], str], log: Callable[[str], None],
           clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
    """Run cycles until `stopping` is set, publishing each complete run; a cycle that raises costs only itself."""
    number = 0
    last: Overall | None = None
    while not stopping.is_set():
        number += 1
        started = clock()
        state.begin(wall())
        try:
            report = cycle()
            if stopping.is_set():  # stopped mid-run: what it judged is not a run
                state.idle()
                break
            if report.incomplete:
                raise CannotRun("the run was interrupted before every check was judged")
            duration = clock() - started
            state.publish(snapshot(report, number, wall(), duration, scrub))
        except CannotRun as exc:
            state.fail()
            log(f"cycle {number} could not run: {scrub(str(exc))}")
        except Exception as exc:  # a bug in one cycle must not end the monitor: the next one may run
            state.fail()
            log(f"cycle {number} failed: {type(exc).__name__}: {scrub(str(exc))}")
        else:
            if report.status is not last:
                log(f"cycle {number}: {report.status.name} in {duration:.1f} s")
                last = report.status
        stopping.wait(max(0.0, started + settings.interval - clock()))


def run(cycle: Cycle, host: str, port: int, settings: Settings, *, scrub: Callable[[str], str],
        stop_commands: Callable[[], None], log: Callable[[str], None],
        stopping: threading.Event | None = None, ready: Callable[[str], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT (or `stopping` is set): exit 0 for SIGTERM, 130 for Ctrl-C.

    The address is bound before the first cycle starts, so a port in use is
    an error at once. `ready` is told the address actually bound (port 0
    picks a free one).
    """
    stopping = stopping or threading.Event()
    state = State()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(state, settings))
    server = listen(host, port, handler(state, settings, registry))
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stopping.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    bound_host, bound_port = server.socket.getsockname()[:2]
    address = f"[{bound_host}]:{bound_port}" if server.address_family == socket.AF_INET6 else \
        f"{bound_host}:{bound_port}"
    http_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                   name="infracheck-http", daemon=True)
    cycle_thread = threading.Thread(target=cycles, args=(cycle, state, settings, stopping, scrub, log),
                                    name="infracheck-cycles", daemon=True)
    try:
        http_thread.start()
        log(f"serving http://{address}/metrics /healthz /report.json; a cycle every {settings.interval:g} s, "
            f"stale after {settings.stale_after:g} s")
        if ready is not None:
            ready(address)
        cycle_thread.start()
        while not stopping.wait(0.5):
            pass
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        deadline = time.monotonic() + 15
        while cycle_thread.is_alive() and time.monotonic() < deadline:
            if state.view().running_since is not None:
                stop_commands()  # the cycle in flight: its commands end now, its result is dropped
            cycle_thread.join(timeout=0.2)
        for signum, before in previous.items():
            signal.signal(signum, before)
    name = signal.Signals(received[0]).name if received else "stop"
    log(f"stopped ({name})")
    return ExitStatus.INTERRUPTED if received and received[0] == signal.SIGINT else ExitStatus.OK


__all__ = ["Collector", "Settings", "Snapshot", "State", "View", "cycles", "health", "listen", "run", "snapshot"]
