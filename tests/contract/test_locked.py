"""Real gcloud crashing on its locked config database, and infracheck running it again.

gcloud keeps its properties in SQLite (CLOUDSDK_CONFIG/default_configs.db, read with a 1 s busy
timeout) and its credentials in two more SQLite files; gcloud processes sharing one config folder
under load find them locked and crash: `ERROR: gcloud crashed (OperationalError): database is
locked`, exit 1. Here another process holds an exclusive lock on default_configs.db, as a writing
gcloud would, until the first run has crashed on it; the retry then passes. Both engines.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infracheck.model import ErrorKind, Outcome
from infracheck.runner import gcloud, warm
from tests.contract.conftest import environment
from tests.tools.fakeapi import FakeGoogleAPI

pytestmark = pytest.mark.contract

ARGV = ("gcloud", "sql", "instances", "describe", "netra-staging-db", "--project=netra-staging", "--format=json")
TIMEOUT = 120.0  # room for a loaded machine; the lock itself costs seconds


@contextmanager
def held(database: Path) -> Iterator[threading.Event]:
    """An exclusive lock on database (as a gcloud writing it holds one) until the event is set."""
    release = threading.Event()
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(database, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(TIMEOUT)
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(10)


def released_after_first(attempt, release: threading.Event, seen: list[Outcome]):
    """attempt, but the lock goes once the first run has ended (so that run surely met it)."""
    def wrapped(*args, **kwargs) -> Outcome:
        outcome = attempt(*args, **kwargs)
        seen.append(outcome)
        release.set()
        return outcome
    return wrapped


@pytest.fixture
def env(api: FakeGoogleAPI, gcloud_config: Path) -> dict[str, str]:
    gcloud.reset()
    env = gcloud.environment(TIMEOUT, environment(api, gcloud_config))
    # gcloud creates its properties database on its first run: one run to have it, and a baseline.
    first = gcloud.run(ARGV, TIMEOUT, env)
    assert first.error is None and first.retries == 0
    assert (gcloud_config / "default_configs.db").is_file()
    return env


def check_recovered(outcome: Outcome, seen: list[Outcome], started: float) -> None:
    assert seen[0].error is not None and seen[0].error.kind is ErrorKind.CONFIG_LOCKED
    assert seen[0].exit_code == 1
    assert seen[0].stderr.startswith("ERROR: gcloud crashed (OperationalError): database is locked\n")
    assert outcome.error is None and outcome.document["name"] == "netra-staging-db"
    assert outcome.retries == len(seen) - 1 >= 1
    assert time.monotonic() - started < TIMEOUT


def test_process_engine_runs_a_gcloud_crashed_on_the_locked_database_again(env, gcloud_config, monkeypatch):
    seen: list[Outcome] = []
    started = time.monotonic()
    with held(gcloud_config / "default_configs.db") as release:
        monkeypatch.setattr(gcloud, "run_once", released_after_first(gcloud.run_once, release, seen))
        outcome = gcloud.run(ARGV, TIMEOUT, env)
    check_recovered(outcome, seen, started)


def test_warm_engine_runs_a_gcloud_crashed_on_the_locked_database_again(env, gcloud_config, monkeypatch):
    engine = warm.Engine(warm.launch(env), 1, env)
    try:
        seen: list[Outcome] = []
        started = time.monotonic()
        with held(gcloud_config / "default_configs.db") as release:
            monkeypatch.setattr(engine, "_run_once", released_after_first(engine._run_once, release, seen))
            outcome = engine.run(ARGV, TIMEOUT)
        check_recovered(outcome, seen, started)
        assert engine.ran_as_process == 0
    finally:
        engine.kill()
        engine.close()
