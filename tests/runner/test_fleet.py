"""The fleet's one gcloud: config-helper (the Monitoring reads' token) runs once for every target, again only
when its token is near its expiry, and a failure is not kept."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from infracheck.model import CommandError, ErrorKind, Outcome
from infracheck.runner import fleet, gcloud, metrics


def _helper(minutes_left: float) -> Outcome:
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes_left)
    document = {"credential": {"access_token": "ya29.canary-token",
                               "token_expiry": expiry.isoformat().replace("+00:00", "Z")},
                "configuration": {"properties": {}}}
    return Outcome(metrics.CONFIG_HELPER, 0, 0.1, document=json.loads(json.dumps(document)))


@pytest.fixture
def runs(monkeypatch):
    answers: list[Outcome] = []
    calls: list[tuple[str, ...]] = []

    def run(argv, timeout, env, **_):
        calls.append(argv)
        return answers.pop(0)

    monkeypatch.setattr(gcloud, "run", run)
    return answers, calls


def test_config_helper_runs_once_for_every_target(runs):
    answers, calls = runs
    answers.append(_helper(60))
    pool = fleet.Pool("process", 8, 30, targets=3)
    readers = [fleet.Shared(pool, ()) for _ in range(3)]
    for reader in readers:
        assert reader._metrics._settings(("monitoring", "timeseries")).token == "ya29.canary-token"
    assert calls == [metrics.CONFIG_HELPER]


def test_a_token_near_its_expiry_is_asked_for_again(runs):
    answers, calls = runs
    near, fresh = _helper(1), _helper(60)
    answers += [near, fresh]
    pool = fleet.Pool("process", 8, 30, targets=2)
    assert pool.config_helper(metrics.CONFIG_HELPER) is near
    assert pool.config_helper(metrics.CONFIG_HELPER) is fresh  # a minute left: under the margin
    assert pool.config_helper(metrics.CONFIG_HELPER) is fresh and len(calls) == 2


def test_a_failure_is_not_kept(runs):
    answers, calls = runs
    failed = Outcome(metrics.CONFIG_HELPER, 1, 0.1,
                     error=CommandError(ErrorKind.NOT_AUTHENTICATED, "run gcloud auth login"))
    answers += [failed, _helper(60)]
    pool = fleet.Pool("process", 8, 30, targets=2)
    assert pool.config_helper(metrics.CONFIG_HELPER).error is not None
    assert pool.config_helper(metrics.CONFIG_HELPER).error is None and len(calls) == 2
