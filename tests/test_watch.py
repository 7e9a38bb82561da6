"""watch.py: what a cycle re-runs, what it reports as changed, and when the loop ends."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import pytest

from infracheck import watch
from infracheck.judge import verdict
from infracheck.model import Check, Cycle, Finding, Outcome, Overall, Report, Severity, Status

CONNECTOR = Check(id="vpc.connector", area="vpc", title="connector", argv=("gcloud", "vpc"), rules=(), resource="c1")
SQL = Check(id="cloudsql.instance", area="cloudsql", title="db", argv=("gcloud", "sql"), rules=(), resource="db")
RUN = Check(id="cloudrun.service", area="cloudrun", title="api", argv=("gcloud", "run"), rules=(), resource="api")
CHECKS = (CONNECTOR, SQL, RUN)


def _finding(check: Check, status: Status, message: str = "") -> Finding:
    rule = {"vpc.connector": "vpc.state", "cloudsql.instance": "cloudsql.state", "cloudrun.service": "cloudrun.ready"}[check.id]
    return Finding(check.id, rule, check.area, status, Severity.CRITICAL, check.resource, message or status.value)


def _report(findings: Sequence[Finding]) -> Report:
    outcomes = tuple(Outcome(argv, 0, 0.0) for argv in dict.fromkeys(c.argv for c in CHECKS
                                                                         if any(f.check == c.id for f in findings)))
    return Report("p", "r", verdict.overall(findings), (), tuple(findings), outcomes)


class FakeStack:
    """Each call judges the asked checks from the state of the current cycle."""

    def __init__(self, states: list[dict[str, Status]]):
        self.states, self.calls = states, []
        self.known: list[Finding] = []

    def __call__(self, subset: Sequence[Check] | None) -> Report:
        state = self.states[min(len(self.calls), len(self.states) - 1)]
        asked = list(subset) if subset is not None else list(CHECKS)
        self.calls.append([c.id for c in asked])
        fresh = [_finding(c, state[c.id]) for c in asked]
        # The whole stack as known after the run (the cli merges a partial run the same way).
        self.known = fresh if subset is None else list(verdict.merge(self.known, fresh))
        report = _report(self.known)
        return dataclasses.replace(report, outcomes=tuple(o for o in report.outcomes
                                                          if any(c.argv == o.argv for c in asked)))


OK, BAD = Status.PASS, Status.FAIL


def _states(*cycles: tuple[Status, Status, Status]) -> list[dict[str, Status]]:
    return [dict(zip((c.id for c in CHECKS), cycle)) for cycle in cycles]


def test_after_the_first_full_run_only_what_fails_is_rerun_and_healthy_is_confirmed_by_a_full_run():
    stack = FakeStack(_states((BAD, OK, BAD), (BAD, OK, BAD), (OK, OK, OK), (OK, OK, OK)))
    seen: list[Cycle] = []
    last = watch.loop(stack, CHECKS, interval=0, emit=seen.append, until_healthy=True, sleep=lambda s: None)
    assert stack.calls == [
        ["vpc.connector", "cloudsql.instance", "cloudrun.service"],  # first cycle: everything
        ["vpc.connector", "cloudrun.service"],  # then only what fails
        ["vpc.connector", "cloudrun.service"],
        ["vpc.connector", "cloudsql.instance", "cloudrun.service"],  # healthy? confirmed by a full run
    ]
    assert last.report.status is Overall.HEALTHY and last.full
    assert [c.commands for c in seen] == [3, 2, 2, 3]
    healed = seen[2].changes
    assert {(c.before.status, c.after.status) for c in healed} == {(BAD, OK)}  # type: ignore[union-attr]
    assert {c.key for c in healed} == {("vpc.state", "c1"), ("cloudrun.ready", "api")}
    assert seen[3].changes == ()


def test_max_wait_ends_with_the_current_verdict():
    stack = FakeStack(_states((BAD, OK, OK)))
    ticks = iter(range(0, 1000, 10))
    last = watch.loop(stack, CHECKS, interval=10, emit=lambda c: None, until_healthy=True, max_wait=35,
                      clock=lambda: float(next(ticks)), sleep=lambda s: None)
    assert last.report.status is Overall.CRITICAL
    assert 2 <= last.number <= 4


def test_a_full_run_every_n_cycles():
    stack = FakeStack(_states((BAD, OK, OK)))
    ticks = iter(range(0, 1000, 1))
    watch.loop(stack, CHECKS, interval=1, emit=lambda c: None, max_wait=5.5, full_every=3,
               clock=lambda: float(next(ticks)), sleep=lambda s: None)
    assert [len(c) for c in stack.calls][:4] == [3, 1, 1, 3]


def test_ctrl_c_carries_the_last_complete_cycle():
    stack = FakeStack(_states((BAD, OK, OK)))
    sleeps = iter([None])

    def sleep(seconds: float) -> None:
        next(sleeps, None)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        watch.loop(stack, CHECKS, interval=60, emit=lambda c: None, sleep=sleep,
                   now=lambda: dt.datetime(2026, 11, 27, 10, 42, tzinfo=dt.timezone.utc))
    cycle = info.value.cycle  # type: ignore[attr-defined]
    assert cycle.number == 1 and cycle.report.status is Overall.CRITICAL
    assert cycle.at == "2026-11-27T10:42:00+00:00"


def test_changes_name_new_vanished_and_changed_findings_but_not_skips():
    a = _finding(CONNECTOR, BAD, "state is 'CREATING'")
    b = _finding(CONNECTOR, BAD, "state is 'UPDATING'")
    skip = _finding(SQL, Status.SKIP)
    assert len(watch.changes([a], [b])) == 1  # still failing, but differently
    assert watch.changes([a, skip], [a]) == ()
    assert [c.after for c in watch.changes([], [a])] == [a]


def test_max_wait_reached_inside_a_cycle_ends_with_the_last_complete_cycle():
    stack = FakeStack(_states((BAD, OK, OK)))
    ticks = iter([0.0, 1.0, 40.0, 41.0, 42.0])

    def diagnose(subset: Sequence[Check] | None) -> Report:
        report = stack(subset)
        # The second cycle is cut at --max-wait (its commands stopped): incomplete.
        return dataclasses.replace(report, incomplete=True) if len(stack.calls) == 2 else report

    last = watch.loop(diagnose, CHECKS, interval=10, emit=lambda c: None, until_healthy=True, max_wait=35,
                      clock=lambda: next(ticks), sleep=lambda s: None)
    assert last.number == 1 and last.report.status is Overall.CRITICAL
