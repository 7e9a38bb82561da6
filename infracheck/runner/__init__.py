"""The run stage: run each planned command once, concurrently, and judge each check as its sources arrive.

Sources are argv tuples: `gcloud ...` goes to gcloud (the warm engine,
warm.py, or one process per command, gcloud.py), `probe journey ...` to
`journey.run` (the profile's steps), other `probe ...` to `probes.run` (live.py
chooses the engine and sends each); in replay all are read from a scenario
folder instead. Workers are daemon threads so that Ctrl-C never waits on a
hung command. The probe and process modules are imported when a live run
starts, not before: `--help`, `list`, `explain` and a replay never pay for
them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from infracheck import redact
from infracheck.model import CannotRun, Check, CommandError, Engine, ErrorKind, Finding, Outcome
from infracheck.runner import gcloud, metrics, recording
from infracheck.runner.live import ENGINES, JOURNEY, Early, Live, commands_of, live, start_warm, steps_of, warm_up
from infracheck.plan import Plan

Source = Callable[[tuple[str, ...]], Outcome]


class Evaluate(Protocol):
    """How a check is judged once its commands are in (rules/evaluate.py's `evaluate`, passed in by the
    pipeline: the run stage runs commands, the rules stage after it judges them)."""

    def __call__(self, check: Check, outcome: Outcome, skipped: frozenset[str] = frozenset(),
                 extras: Mapping[tuple[str, ...], Outcome] | None = None, *,
                 now: dt.datetime | None = None) -> list[Finding]: ...
def source(
    planned: Sequence[Check], timeout: float, replay_dir: Path | None = None, journey_steps: object = None,
    engine: str = "auto", jobs: int = 8, early: Early | None = None,
) -> Source:
    """Where outcomes come from: a replay folder, or gcloud and the network (checked to be usable first).

    `journey_steps` is the profile's `journey` list; a definition that cannot
    run is refused here, before any command starts.
    """
    steps = steps_of(planned, journey_steps)
    if replay_dir is not None:
        return replay(replay_dir)
    return live(timeout, steps=steps, engine=engine, jobs=jobs, argvs=commands_of(planned), early=early)


def replay(directory: Path) -> Source:
    """Read what a scenario folder recorded; classified exactly as a live run would be."""
    try:
        recording.check_folder(directory)
    except recording.RecordingError as exc:
        raise CannotRun(str(exc)) from None

    def run(argv: tuple[str, ...]) -> Outcome:
        recorded = recording.replay(directory, argv)
        if recorded is None:
            return recording.not_recorded(directory, argv, metrics_read=argv[:2] != metrics.QUERY or any(
                directory.glob(recording.name_for(metrics.QUERY) + "*")))
        exit_code, stdout, stderr = recorded
        return gcloud.interpret(argv, exit_code, stdout, stderr, 0.0)

    return run


def collect(
    argvs: Iterable[tuple[str, ...]], source: Source, jobs: int, deadline: float | None = None,
    lapse: Callable[[tuple[str, ...]], Outcome] | None = None,
) -> Iterator[Outcome]:
    """Yield one Outcome per distinct argv, in completion order, at most `jobs` at once.

    Past `deadline` (time.monotonic()) it raises KeyboardInterrupt, as Ctrl-C would; with `lapse`, it
    yields `lapse(argv)` for each command not yet in instead, and nothing else is stopped (a fleet's
    target out of time: the other targets share the commands' engine).
    """
    pending: "queue.Queue[tuple[str, ...]]" = queue.Queue()
    done: "queue.Queue[Outcome]" = queue.Queue()
    distinct = list(dict.fromkeys(argvs))  # identical commands run once
    for argv in distinct:
        pending.put(argv)

    def work() -> None:
        while True:
            try:
                argv = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put(source(argv))
            except Exception as exc:  # a bug in one source must not cost the others
                done.put(Outcome(argv, None, 0.0, error=CommandError(
                    ErrorKind.API_ERROR, f"internal error: {type(exc).__name__}: {exc}")))

    for _ in range(max(1, min(jobs, len(distinct)))):
        threading.Thread(target=work, daemon=True, name="infracheck-worker").start()
    given: set[tuple[str, ...]] = set()
    try:
        while len(given) < len(distinct):
            try:
                outcome = done.get(timeout=0.2)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                if deadline is None or time.monotonic() < deadline:
                    continue
                if lapse is None:
                    raise KeyboardInterrupt from None  # watch's --max-wait: never outlived by a cycle
                for argv in distinct:
                    if argv not in given:
                        given.add(argv)
                        yield lapse(argv)
                return
            given.add(outcome.argv)
            yield outcome
    finally:
        # Interrupted (KeyboardInterrupt, generator closed early): drop what
        # has not started; `stop()` ends what has.
        while True:
            try:
                pending.get_nowait()
            except queue.Empty:
                break


def command(argv: tuple[str, ...], timeout: float) -> Outcome:
    """Run one gcloud command fresh (fix mode's changes), under its own timeout."""
    return gcloud.run(argv, timeout, gcloud.environment(timeout), expect_json=False)


def engine_of(source: Source) -> tuple[Engine, str | None]:
    """How `source` ran gcloud, and the note a report carries about it (why processes, commands handed back)."""
    if not isinstance(source, Live):
        return Engine.REPLAY, None
    if source.ran_as_process:
        return source.engine, f"{source.ran_as_process} command(s) ran as their own process after the warm engine lost them"
    return source.engine, source.note or None


def close(source: Source) -> None:
    """The run (or the last watch cycle) is over: a warm engine's driver may exit."""
    if isinstance(source, Live):
        source.close()


def stop() -> None:
    """Kill every running gcloud (and warm engine); queued commands return INTERRUPTED at once."""
    gcloud.kill_all()
    from infracheck.runner import warm

    warm.kill_all()


@dataclasses.dataclass(frozen=True)
class Late:
    """Checks whose final form depends on what some commands say (the load balancer found by its domains).

    Each check of `indexes` waits for `needs` as well as its own sources; once
    every command of `needs` is in, `bind` is called once with the outcomes so
    far and gives, per index, the check to judge (same commands, its names
    filled in) or the findings that stand for it.
    """

    indexes: frozenset[int]
    needs: tuple[tuple[str, ...], ...]
    bind: Callable[[Mapping[tuple[str, ...], Outcome]], Mapping[int, Check | Sequence[Finding]]]


@dataclasses.dataclass(frozen=True)
class Result:
    """What a run produced: findings per planned check index, outcomes in plan order, interrupted or not."""

    findings: Mapping[int, Sequence[Finding]]
    outcomes: tuple[Outcome, ...]
    incomplete: bool


def run(
    plan: Plan,
    source: Source,
    jobs: int,
    now: dt.datetime,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_judged: Callable[[Mapping[int, Sequence[Finding]], Mapping[str, int]], None] | None = None,
    secrets: redact.Secrets | None = None,
    late: Late | None = None,
    deadline: float | None = None,
    *,
    evaluate: Evaluate,
    lapse: Callable[[tuple[str, ...]], Outcome] | None = None,
) -> Result:
    """Run every planned source once; judge each check as soon as all its sources are in.

    `on_outcome` sees each finished command (progress); `on_judged` sees the
    findings so far and, per area, how many planned checks are still waiting
    (a streaming report prints an area once its count reaches 0). Ctrl-C stops
    the commands in flight and returns what finished, marked incomplete; so does
    reaching `deadline` (time.monotonic()), unless `lapse` gives the outcome of each command still out
    then (collect).
    `secrets` learns every secret value a sensitive command returned (or its
    failure echoed), before anything is judged or shown, so that the run's
    output can be scrubbed of them. `late` checks are judged as their `bind`
    gives them, in the same run (one pass over the commands, each once).
    """
    users = {argv: list(indexes) for argv, indexes in plan.users.items()}
    sensitive = plan.sensitive
    # Nothing is shown before every secret is read: a streamed area could quote a value not yet known.
    unread = set(sensitive & users.keys()) if secrets is not None else set()
    waiting = {index: set(check.sources) for index, check in enumerate(plan.checks)}
    bound: Mapping[int, Check | Sequence[Finding]] | None = None
    if late is not None:
        for argv in late.needs:
            users.setdefault(argv, []).extend(i for i in sorted(late.indexes) if i not in users[argv])
        for index in late.indexes:
            waiting[index] |= set(late.needs)
    finished: dict[tuple[str, ...], Outcome] = {}
    results: dict[int, list[Finding]] = {}
    remaining: dict[str, int] = {}
    for check in plan.checks:
        remaining[check.area] = remaining.get(check.area, 0) + 1
    incomplete = False
    try:
        for outcome in collect(users, source, jobs, deadline, lapse):
            if secrets is not None and outcome.argv in sensitive:
                secrets.read(outcome.document, outcome.stderr)
                unread.discard(outcome.argv)
            if on_outcome is not None:
                on_outcome(outcome)
            finished[outcome.argv] = outcome
            for index in users[outcome.argv]:
                waiting[index].discard(outcome.argv)
                if waiting[index]:
                    continue  # a `with` source of this check is still running
                check = plan.checks[index]
                if late is not None and index in late.indexes:
                    if bound is None:
                        bound = late.bind(finished)
                    given = bound[index]
                    if not isinstance(given, Check):
                        results[index] = list(given)
                        remaining[check.area] -= 1
                        continue
                    check = given  # the same commands, so its sources are all in
                results[index] = evaluate(
                    check, finished[check.argv], plan.skipped[index], finished, now=now
                )
                remaining[check.area] -= 1
            if on_judged is not None and not unread:
                on_judged(results, remaining)
    except KeyboardInterrupt:
        stop()
        incomplete = True
    order = {argv: i for i, argv in enumerate(users)}
    return Result(results, tuple(sorted(finished.values(), key=lambda o: order[o.argv])), incomplete)


__all__ = ["ENGINES", "JOURNEY", "Early", "Evaluate", "Late", "Live", "Result", "Source", "close", "collect",
           "command", "engine_of", "live", "replay", "run", "source", "start_warm", "stop", "warm_up"]
