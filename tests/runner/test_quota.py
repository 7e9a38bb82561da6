"""429 RESOURCE_EXHAUSTED: a read is run again after its API's pause, within a budget per API shared by the run.

The attempts here are fakes (no process): what gcloud 528 prints on a 429 (measured against
tests/tools/fakeapi.py, docs/gcloud.md "429 RESOURCE_EXHAUSTED"), or a document.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from infracheck.model import ErrorKind, Outcome
from infracheck.runner import gcloud, quota

# What gcloud 528 printed, exit 1, for one 429 answer (it sent the request once).
QUOTA_429 = ("ERROR: (gcloud.sql.instances.describe) RESOURCE_EXHAUSTED: Quota exceeded for quota metric "
             "'Read requests' and limit 'Read requests per minute' of service 'sqladmin.googleapis.com' for "
             "consumer 'project_number:123456789012'.\n")
SQL = ("gcloud", "sql", "instances", "describe", "db", "--project=p", "--format=json")
SQL_OPS = ("gcloud", "sql", "operations", "list", "--instance=db", "--project=p", "--format=json")
RUN = ("gcloud", "run", "services", "list", "--region=r", "--project=p", "--format=json")


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    gcloud.reset()
    gcloud.new_budget(retries=3, first_pause=0.05, max_pause=0.2)
    yield
    gcloud.reset()
    gcloud.new_budget()


class Fake:
    """An attempt function: the first `throttled` runs (of every argv together) are answered 429."""

    def __init__(self, throttled: int, seconds: float = 0.0) -> None:
        self.throttled, self.seconds = throttled, seconds
        self.starts: list[tuple[tuple[str, ...], float]] = []
        self._lock = threading.Lock()

    def attempt(self, argv: tuple[str, ...]) -> Callable[[float], Outcome]:
        def run(left: float) -> Outcome:
            with self._lock:
                self.starts.append((argv, time.monotonic()))
                answer_429 = len(self.starts) <= self.throttled
            time.sleep(self.seconds)
            if answer_429:
                return gcloud.interpret(argv, 1, "", QUOTA_429, self.seconds)
            return gcloud.interpret(argv, 0, '{"state": "RUNNABLE"}\n', "", self.seconds)
        return run

    def run(self, argv: tuple[str, ...], timeout: float = 20.0) -> Outcome:
        return gcloud.retrying(self.attempt(argv), timeout, argv)


@pytest.mark.parametrize("argv,api", [
    (SQL, "sqladmin"),
    (RUN, "run"),
    (("gcloud", "secrets", "versions", "access", "latest", "--secret=s", "--format=json"), "secretmanager"),
    (("gcloud", "compute", "networks", "vpc-access", "connectors", "describe", "c", "--region=r"), "vpcaccess"),
    (("gcloud", "compute", "ssl-certificates", "list", "--project=p"), "compute"),
    (("gcloud", "alpha", "monitoring", "policies", "list", "--project=p"), "monitoring"),
    (("gcloud", "beta", "run", "services", "list"), "run"),
    (("gcloud", "logging", "read", "severity>=ERROR"), "logging"),
    (("gcloud", "--project=p", "sql", "instances", "list"), "sqladmin"),
    (("gcloud", "something-new", "list"), "something-new"),
])
def test_the_api_of_a_command_is_its_groups(argv, api):
    assert quota.api_of(argv) == api


def test_the_429_signature_is_the_quota_kind():
    error = gcloud.classify(1, QUOTA_429)
    assert error is not None and error.kind is ErrorKind.QUOTA and "Quota exceeded" in error.message


def test_a_read_answered_429_runs_again_after_a_pause_and_passes():
    fake = Fake(throttled=2)
    outcome = fake.run(SQL)
    assert outcome.error is None and outcome.document == {"state": "RUNNABLE"}
    assert outcome.retries == 2 and len(fake.starts) == 3
    gaps = [b - a for (_, a), (_, b) in zip(fake.starts, fake.starts[1:])]
    # The pauses grow: the second is drawn from [0.05, 0.1], the first from [0.025, 0.05].
    assert 0.025 <= gaps[0] and 0.05 <= gaps[1]


def test_a_spent_budget_ends_the_retries_and_the_message_says_so():
    fake = Fake(throttled=99)
    outcome = fake.run(SQL)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.QUOTA
    assert outcome.retries == 3 and len(fake.starts) == 4
    assert outcome.error.message.endswith(
        "(ran 4 times; the 3 retries this run allows the sqladmin API were spent)")
    # The budget is the API's, not the command's: the next sqladmin read gets a 429 reported at once.
    other = fake.run(SQL_OPS)
    assert other.retries == 0 and len(fake.starts) == 5
    assert "(ran once; the 3 retries this run allows the sqladmin API were spent)" in other.error.message
    # Another API has its own budget.
    assert fake.run(RUN).retries == 3


def test_a_new_budget_starts_each_run():
    fake = Fake(throttled=99)
    assert fake.run(SQL).retries == 3
    gcloud.new_budget(retries=3, first_pause=0.05, max_pause=0.2)
    assert fake.run(SQL).retries == 3


def test_every_target_shares_one_budget_per_api():
    # Twelve commands of one API at once (a fleet's targets in threads): 3 retries in all, not 3 each.
    fake = Fake(throttled=99, seconds=0.05)
    argvs = [SQL[:4] + (f"--project=p{i}",) for i in range(12)]
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda a=a: outcomes.append(fake.run(a))) for a in argvs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 12 and all(o.error is not None and o.error.kind is ErrorKind.QUOTA for o in outcomes)
    assert sum(o.retries for o in outcomes) == 3 and len(fake.starts) == 15


def test_one_commands_429_pauses_every_command_of_its_api():
    gcloud.new_budget(retries=3, first_pause=1.0, max_pause=1.0)
    fake = Fake(throttled=1)
    first = threading.Thread(target=fake.run, args=(SQL,))
    first.start()
    while not fake.starts:
        time.sleep(0.01)
    time.sleep(0.1)  # the 429 is in: sqladmin is paused for 0.5-1 s
    began = time.monotonic()
    other_api = fake.run(RUN)
    same_api = fake.run(SQL_OPS)
    first.join(10)
    starts = dict(fake.starts[1:])
    retried = [t for argv, t in fake.starts[1:] if argv == SQL][0]
    assert other_api.error is None and starts[RUN] - began < 0.3  # run.googleapis.com is not paused
    assert same_api.error is None and same_api.retries == 0
    assert starts[SQL_OPS] >= fake.starts[0][1] + 0.5 and abs(starts[SQL_OPS] - retried) < 0.3


def test_a_pause_past_the_timeout_is_not_waited_nor_spent():
    gcloud.new_budget(retries=3, first_pause=10.0, max_pause=10.0)
    fake = Fake(throttled=99)
    started = time.monotonic()
    outcome = fake.run(SQL, timeout=4.0)
    assert time.monotonic() - started < 1.0 and len(fake.starts) == 1
    assert outcome.retries == 0 and outcome.error.kind is ErrorKind.QUOTA
    assert outcome.error.message.endswith("(ran once; its 4 s timeout left no room for another)")
    assert gcloud._BUDGET.spent("sqladmin") == 0


def test_ctrl_c_during_a_pause_stops_at_once():
    gcloud.new_budget(retries=3, first_pause=30.0, max_pause=30.0)
    fake = Fake(throttled=99)
    threading.Timer(0.3, gcloud.kill_all).start()
    started = time.monotonic()
    outcome = fake.run(SQL, timeout=120.0)
    assert time.monotonic() - started < 2.0 and len(fake.starts) == 1
    assert outcome.error.kind is ErrorKind.QUOTA and outcome.retries == 0
    # And a command of the paused API that has not started yet does not start.
    waiting = fake.run(SQL_OPS, timeout=120.0)
    assert waiting.error.kind is ErrorKind.INTERRUPTED and len(fake.starts) == 1


def test_a_pause_grows_only_with_a_429_that_came_after_it():
    now = [100.0]
    budget = quota.Budget(retries=10, first_pause=1.0, max_pause=4.0, clock=lambda: now[0], draw=lambda lo, hi: hi)
    assert budget.throttled("run", since=99.0, latest=1000.0) == (101.0, "")
    # In flight when the pause began: the same wave, the same pause.
    assert budget.throttled("run", since=99.5, latest=1000.0) == (101.0, "")
    now[0] = 101.5
    assert budget.throttled("run", since=101.0, latest=1000.0) == (103.5, "")  # still throttled: 2 s
    now[0] = 104.0
    assert budget.throttled("run", since=103.5, latest=1000.0) == (108.0, "")  # 4 s
    now[0] = 109.0
    assert budget.throttled("run", since=108.0, latest=1000.0) == (113.0, "")  # capped at 4 s
    budget.answered("run")
    now[0] = 120.0
    assert budget.throttled("run", since=119.0, latest=1000.0) == (121.0, "")  # answered since: 1 s again
    assert budget.spent("run") == 6 and budget.spent("sqladmin") == 0


def test_each_diagnosis_and_each_watch_cycle_starts_a_new_budget(capsys, monkeypatch):
    from pathlib import Path

    from infracheck.cli import main

    outage = str(Path(__file__).resolve().parents[2] / "fixtures" / "outage")
    budgets: list[quota.Budget] = []
    new_budget = gcloud.new_budget
    monkeypatch.setattr(gcloud, "new_budget", lambda *a, **k: (new_budget(*a, **k), budgets.append(gcloud._BUDGET)))
    assert main(["diagnose", "--replay", outage, "--include", "vpc*", "--format", "json"]) == 2
    assert len(budgets) == 1 and budgets[0].retries == quota.RETRIES
    capsys.readouterr()
    assert main(["watch", "--replay", outage, "--include", "vpc*", "--interval", "0", "--max-wait", "1",
                 "--format", "json"]) == 2
    cycles = len(capsys.readouterr().out.splitlines())  # one JSON line a cycle
    assert cycles >= 2 and len(budgets) == 1 + cycles


def test_a_spent_budget_pauses_no_more_commands():
    gcloud.new_budget(retries=1, first_pause=0.5, max_pause=0.5)
    fake = Fake(throttled=99)
    assert fake.run(SQL).retries == 1  # its pause (0.25-0.5 s) waited once
    started = time.monotonic()
    outcomes = [fake.run(SQL[:4] + (f"--project=p{i}",)) for i in range(4)]
    # Each asks once and is reported at once: no pause of 0.25 s or more between them.
    assert time.monotonic() - started < 0.25 * 2
    assert all(o.retries == 0 and "were spent" in o.error.message for o in outcomes)


def test_a_command_that_waited_for_its_apis_pause_times_out_at_its_own_timeout():
    gcloud.new_budget(retries=3, first_pause=0.6, max_pause=0.6)
    gcloud._BUDGET.throttled("sqladmin", time.monotonic(), float("inf"))  # another command's 429: 0.3-0.6 s
    lefts: list[float] = []

    def hangs(left: float) -> Outcome:
        lefts.append(left)
        return gcloud._failed(SQL_OPS, None, time.monotonic(), ErrorKind.TIMEOUT,
                              f"timed out after {left:g} s (gcloud and its children were stopped)")
    outcome = gcloud.retrying(hangs, 5.0, SQL_OPS)
    assert 4.4 <= lefts[0] <= 4.7  # its run had what the pause left
    assert outcome.error.message == "timed out after 5 s (gcloud and its children were stopped)"
