"""Watch: re-run the diagnosis on an interval and say what changed, until healthy.

After the first full run only what is failing or could not be checked is
re-run (a watch cycle costs a few gcloud calls, not the catalog), with a full
run every `full_every` cycles; a partial run that looks healthy is confirmed
by a full one before `--until healthy` trusts it. Running and printing are
given to the loop as callables; nothing here starts a process or writes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from infracheck.judge import verdict
from infracheck.model import Transition, Check, Cycle, Finding, Overall, Report, Status


# Runs the given checks (None: every selected check) and returns the report of the whole stack as
# known after it (what it did not re-run as the last cycle found it), the report diagnose gives.
Diagnose = Callable[[Sequence[Check] | None], Report]


def changes(before: Sequence[Finding], after: Sequence[Finding]) -> tuple[Transition, ...]:
    """Findings whose status (or, while failing, message) differs; skips are not changes."""
    old = {(f.rule, f.resource): f for f in before if f.status is not Status.SKIP}
    new = {(f.rule, f.resource): f for f in after if f.status is not Status.SKIP}
    found = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if a is None or b is None or a.status is not b.status or (
            b.status is not Status.PASS and a.message != b.message
        ):
            found.append(Transition(a, b))
    return tuple(found)


def to_recheck(report: Report, checks: Sequence[Check]) -> list[Check]:
    """The checks with a finding that failed or could not be checked.

    What a failing root explains (a service not Ready behind a connector that
    is not READY) fails too, so it is re-run in the same cycle as its cause
    and both heal together; a check that passes is left for the full runs.
    """
    bad = {(f.check, f.resource) for f in report.findings if verdict.problem(f)}
    return [c for c in checks if (c.id, c.resource) in bad]


def loop(
    diagnose: Diagnose,
    checks: Sequence[Check],
    *,
    interval: float,
    emit: Callable[[Cycle], None],
    until_healthy: bool = False,
    max_wait: float | None = None,
    full_every: int = 10,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    sleep: Callable[[float], None] = time.sleep,
) -> Cycle:
    """Run cycles until healthy (with until_healthy), until max_wait, or forever.

    Returns the last complete cycle. A KeyboardInterrupt propagates with the
    last complete cycle on it as `exc.cycle`, so the caller can print it.
    """
    started = clock()
    last: Cycle | None = None
    number = 0
    confirm = False
    try:
        while True:
            number += 1
            full = last is None or confirm or (full_every > 0 and (number - 1) % full_every == 0)
            subset = None if full else to_recheck(last.report, checks)  # type: ignore[union-attr]
            if subset == []:
                full = True
                subset = None
            run = diagnose(subset)
            if run.incomplete:
                if last is not None and max_wait is not None and clock() - started >= max_wait:
                    return last  # --max-wait ran out inside this cycle: the last complete one's verdict
                raise KeyboardInterrupt  # Ctrl-C landed inside the run: keep the last complete cycle
            ran = len({argv for c in (checks if subset is None else subset) for argv in c.sources})
            cycle = Cycle(number, now().isoformat(timespec="seconds"), run, full, ran,
                          changes(last.report.findings, run.findings) if last else (),
                          last.report.status if last else None)
            last = cycle
            emit(cycle)
            if until_healthy and run.status is Overall.HEALTHY:
                if full:
                    return cycle
                confirm = True  # a partial run looks healthy: confirm with everything
                continue
            confirm = False
            if max_wait is None:
                sleep(interval)
                continue
            left = max_wait - (clock() - started)
            if left <= 0:
                return cycle
            sleep(min(interval, left))  # the last look is at --max-wait, not an interval before it
    except KeyboardInterrupt as exc:
        exc.cycle = last  # type: ignore[attr-defined]
        raise
