"""infracheck serve: the last complete run on /metrics, /healthz and /report.json; never waiting on a cycle.

In-process tests give serve.run a cycle of their own (a report, a hang, a
failure); the CLI tests start `infracheck serve` as a process, as systemd
would, and stop it with SIGTERM. Loopback only, every wait bounded, every
process killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infracheck import serve
from infracheck.cli import main
from infracheck.model import CannotRun, Report
from tests.tools.fakes import FakeGcloud
from tests.report.sample import CRIT, WARN, finding, report

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = report(finding("vpc.state"))
WARNING = report(finding("vpc.min-instances", *WARN))
CRITICAL = report(finding("vpc.state", *CRIT))


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def metrics(base: str) -> dict[str, float]:
    """/metrics as `name{label="v",...}` -> value, labels sorted (as the exposition writes them)."""
    code, text = get(base + "/metrics")
    assert code == 200
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return found


def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextlib.contextmanager
def serving(cycle: serve.Cycle, interval: float = 0.05, stale_after: float = 60.0, warning_ok: bool = False,
            stop_commands: Callable[[], None] = lambda: None) -> Iterator[tuple[str, list[str], list[int]]]:
    """serve.run in a thread on 127.0.0.1:<free port>: (base URL, its log lines, its exit code once stopped)."""
    stopping, bound, logged, code = threading.Event(), queue.Queue(), [], []  # type: ignore[var-annotated]
    settings = serve.Settings(interval, stale_after, warning_ok)
    thread = threading.Thread(target=lambda: code.append(serve.run(
        cycle, "127.0.0.1", 0, settings, scrub=str, stop_commands=stop_commands, log=logged.append,
        stopping=stopping, ready=bound.put)), daemon=True)
    thread.start()
    try:
        yield f"http://{bound.get(timeout=10)}", logged, code
    finally:
        stopping.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


# --- the endpoints, from a cycle given in-process -----------------------------------------------


def test_before_the_first_run_nothing_is_claimed():
    release = threading.Event()

    def cycle() -> Report:
        release.wait(10)
        return HEALTHY

    with serving(cycle, stop_commands=release.set) as (base, _, _):
        until(lambda: metrics(base).get("infracheck_cycle_running") == 1.0)
        found = metrics(base)
        assert found["infracheck_up"] == 0.0 and found["infracheck_stale"] == 1.0
        assert not [name for name in found if name.startswith("infracheck_verdict")]
        code, body = get(base + "/healthz")
        assert code == 503 and body.startswith("no complete run yet (the first cycle has run")
        assert get(base + "/report.json") == (503, '{"error": "no complete run yet"}\n')


@pytest.mark.parametrize("last, warning_ok, expected", [
    (HEALTHY, False, 200), (WARNING, False, 503), (WARNING, True, 200), (CRITICAL, True, 503),
])
def test_healthz_follows_the_verdict(last, warning_ok, expected):
    with serving(lambda: last, warning_ok=warning_ok) as (base, _, _):
        until(lambda: get(base + "/healthz")[1] != "no complete run yet\n")
        code, body = get(base + "/healthz")
        assert (code, body.split(":")[0]) == (expected, last.status.name)
        found = metrics(base)
        assert found[f'infracheck_verdict{{verdict="{last.status.name}"}}'] == 1.0
        assert found["infracheck_up"] == 1.0
        assert json.loads(get(base + "/report.json")[1])["status"] == last.status.name


def test_a_hung_cycle_makes_the_data_stale_never_the_endpoint():
    release, calls = threading.Event(), []

    def cycle() -> Report:
        calls.append(time.monotonic())
        if len(calls) > 1:
            release.wait(30)  # hangs until serve stops it
        return HEALTHY

    with serving(cycle, interval=0.05, stale_after=0.5, stop_commands=release.set) as (base, logged, code):
        until(lambda: len(calls) == 2)
        until(lambda: metrics(base)["infracheck_stale"] == 1.0, 5)
        started = time.monotonic()
        found = metrics(base)
        healthz = get(base + "/healthz")
        assert time.monotonic() - started < 2.0  # answered at once, the cycle still hanging
        assert found["infracheck_up"] == 0.0
        assert found["infracheck_cycle_running"] == 1.0 and found["infracheck_cycle_running_seconds"] > 0.3
        assert found['infracheck_verdict{verdict="HEALTHY"}'] == 1.0  # still the last complete run, said stale
        assert found["infracheck_last_run_age_seconds"] > 0.5
        assert healthz[0] == 503 and healthz[1].startswith("stale: the last complete run (HEALTHY) finished")
        assert found["infracheck_cycles_total"] == 1.0
    assert release.is_set()  # stopping ended the cycle in flight
    assert code == [0] and logged[-1] == "stopped (stop)"


def test_a_cycle_that_cannot_run_costs_itself_only():
    go = threading.Event()
    answers: list[Report | Exception] = [CRITICAL, CannotRun("gcloud is not installed")]

    def cycle() -> Report:
        if answers:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        go.wait(10)  # the third cycle waits while the test reads the state the failure left
        return HEALTHY

    with serving(cycle, interval=0.05, stop_commands=go.set) as (base, logged, _):
        until(lambda: metrics(base).get("infracheck_cycle_failures_total") == 1.0)
        found = metrics(base)
        assert found["infracheck_up"] == 0.0 and found["infracheck_cycles_total"] == 1.0
        assert found['infracheck_verdict{verdict="CRITICAL"}'] == 1.0  # the last complete run stays
        go.set()
        until(lambda: metrics(base)["infracheck_cycles_total"] >= 2.0)
        assert metrics(base)["infracheck_up"] == 1.0
        assert get(base + "/healthz")[0] == 200
    assert "cycle 2 could not run: gcloud is not installed" in logged


def test_an_interrupted_run_is_not_published_and_the_cycles_go_on():
    answers = [report(finding("vpc.state", *CRIT), incomplete=True)]
    with serving(lambda: answers.pop() if answers else HEALTHY) as (base, logged, _):
        until(lambda: metrics(base).get("infracheck_cycles_total", 0) >= 1)
        assert get(base + "/healthz")[0] == 200  # the interrupted CRITICAL never showed
        assert metrics(base)["infracheck_cycle_failures_total"] == 1.0
    assert "cycle 1 could not run: the run was interrupted before every check was judged" in logged


def test_health_reads_the_age_against_the_limit():
    snap = serve.snapshot(HEALTHY, 3, finished=1000.0, duration_s=2.0, scrub=str)
    view = serve.View(snap, None, 3, 0, False)
    settings = serve.Settings(interval=60, stale_after=180)
    assert serve.health(view, settings, now=1180.0) == (200, "HEALTHY: last complete run 180 s ago (cycle 3)")
    assert serve.health(view, settings, now=1181.0) == (
        503, "stale: the last complete run (HEALTHY) finished 181 s ago, over the 180 s limit")


def test_unknown_paths_are_404_and_head_has_no_body():
    with serving(lambda: HEALTHY) as (base, _, _):
        until(lambda: get(base + "/healthz")[0] == 200)
        assert get(base + "/nope")[0] == 404
        request = urllib.request.Request(base + "/metrics", method="HEAD")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200 and answer.read() == b""
            assert int(answer.headers["Content-Length"]) > 0


def test_openmetrics_when_the_scraper_asks_for_it():
    with serving(lambda: HEALTHY) as (base, _, _):
        until(lambda: get(base + "/healthz")[0] == 200)
        request = urllib.request.Request(base + "/metrics", headers={"Accept": "application/openmetrics-text"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
            assert answer.read().decode().endswith("# EOF\n")


# --- the command, as a process --------------------------------------------------------------------


@contextlib.contextmanager
def command(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`infracheck serve ARGS --listen 127.0.0.1:0` as a process: (it, its base URL); killed whatever happens."""
    process = subprocess.Popen([sys.executable, "-m", "infracheck", "serve", "--listen", "127.0.0.1:0", *args],
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        assert process.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()  # type: ignore[union-attr]
        first = lines.get(timeout=30)
        address = re.search(r"serving http://(127\.0\.0\.1:\d+)/metrics", first)
        assert address, first
        process.lines = lines  # type: ignore[attr-defined]
        yield process, f"http://{address.group(1)}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def rest(process: subprocess.Popen[str]) -> list[str]:
    """What the process wrote on stderr after its first line, once it has exited."""
    lines, out = process.lines, []  # type: ignore[attr-defined]
    with contextlib.suppress(queue.Empty):
        while True:
            out.append(lines.get(timeout=2).rstrip("\n"))
    return out


def test_serve_a_replay_then_sigterm(capsys):
    with command("--replay", str(ROOT / "fixtures" / "healthy"), "--interval", "0.2") as (process, base):
        until(lambda: get(base + "/healthz")[0] == 200)
        until(lambda: metrics(base)["infracheck_cycles_total"] >= 3)  # a cycle every interval, one at a time
        found = metrics(base)
        assert found["infracheck_up"] == 1.0 and found['infracheck_verdict{verdict="HEALTHY"}'] == 1.0
        assert found['infracheck_rule_value{area="cloudsql",resource="netra-staging-db",'
                     'rule="cloudsql.max-connections"}'] == 200.0
        served = json.loads(get(base + "/report.json")[1])
        assert main(["diagnose", "--replay", str(ROOT / "fixtures" / "healthy"), "--format", "json"]) == 0
        assert served == json.loads(capsys.readouterr().out)  # the very report diagnose prints
        port = int(base.rsplit(":", 1)[1])
        for _ in range(5):  # scrapers that hang up mid-answer: no traceback in the log (asserted below)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as rude:
                rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                rude.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert get(base + "/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    lines = rest(process)
    assert lines == ["infracheck: cycle 1: HEALTHY in " + lines[0].rsplit(" in ", 1)[1], "infracheck: stopped (SIGTERM)"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_serve_the_outage():
    with command("--replay", str(ROOT / "fixtures" / "outage"), "--interval", "5") as (process, base):
        until(lambda: get(base + "/healthz")[1].startswith("CRITICAL"))
        code, body = get(base + "/healthz")
        assert code == 503 and body.startswith("CRITICAL: last complete run")
        assert metrics(base)['infracheck_verdict{verdict="CRITICAL"}'] == 1.0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130


def test_sigterm_mid_cycle_ends_its_commands(tmp_path):
    fake = FakeGcloud(tmp_path / "fake")
    fake.set([{"match": "vpc-access connectors describe", "sleep": 120, "child": True,
               "stdout": "{}"}])
    with command("--include", "vpc.*", "--engine", "process", "--timeout", "300", "--interval", "1",
                 env=fake.env()) as (process, base):
        until(lambda: bool(fake.calls()) and (tmp_path / "fake" / "calls.log.children").exists())
        found = metrics(base)
        assert found["infracheck_cycle_running"] == 1.0 and found["infracheck_up"] == 0.0
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 10
    pids = [c["pid"] for c in fake.calls()]
    pids += [int(p) for p in (tmp_path / "fake" / "calls.log.children").read_text().split()]
    until(lambda: not [pid for pid in pids if alive(pid)], 5)  # gcloud and its child: killed, not orphaned
    assert rest(process)[-1] == "infracheck: stopped (SIGTERM)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is dead: its parent only has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


def test_no_secret_on_any_endpoint_or_in_the_log(tmp_path):
    from tests.test_secrets_canary import VALUES, forbidden, payload

    fake = FakeGcloud(tmp_path / "fake")
    spec = [{"match": f"--secret={name} ", "stdout": payload(value)} for name, value in VALUES.items()]
    spec.append({"match": "secrets versions access", "exit": 1,
                 "stderr": "ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [s] not found.\n"})
    fake.set(spec)
    with command("--include", "secrets.*", "--engine", "process", "--interval", "0.5", env=fake.env()) as (
            process, base):
        until(lambda: metrics(base).get("infracheck_cycles_total", 0) >= 1)
        bodies = [get(base + path)[1] for path in ("/metrics", "/healthz", "/report.json")]
        assert "Secret 'redis-url' does not match redis://host:port/db" in bodies[2]
        assert 'rule="secrets.redis-url"' in bodies[0]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    for text in (*bodies, "\n".join(rest(process))):
        for form in forbidden():
            assert form not in text


# --- refusals: one line, exit 3, before anything runs ---------------------------------------------


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--replay", str(ROOT / "fixtures" / "healthy"), "--listen", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 3
    assert err == f"infracheck: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("listen", ["localhost", "127.0.0.1:http", "::1:9847", "127.0.0.1:70000", ":9847"])
def test_a_bad_address_is_one_line(listen, capsys):
    assert main(["serve", "--listen", listen]) == 3
    err = capsys.readouterr().err
    assert "is not HOST:PORT" in err and "Traceback" not in err


def test_serve_refuses_what_it_cannot_serve(capsys):
    assert main(["serve", "--replay", str(ROOT / "fixtures" / "healthy"), "--format", "json"]) == 3
    assert "No such option '--format'" in capsys.readouterr().err
    assert main(["serve", "--replay", str(ROOT / "fixtures" / "nope")]) == 3
    assert capsys.readouterr().err.startswith("infracheck: error: ")


@pytest.mark.parametrize("args, says", [
    (["--interval", "60", "--stale-after", "30"], "30 s is not longer than --interval 60 s"),
    (["--interval", "nan"], "'nan' is not a number of seconds between 0.1 s and a day"),
    (["--stale-after", "5x"], "'5x' is not a duration"),
])
def test_timing_that_cannot_work_is_refused(args, says, capsys):
    assert main(["serve", "--replay", str(ROOT / "fixtures" / "healthy"), *args]) == 3
    err = capsys.readouterr().err
    assert says in err.splitlines()[0] and "Traceback" not in err
