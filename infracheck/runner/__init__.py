"""The run stage: run each planned command once, concurrently, and judge each check as its sources arrive.

Sources are argv tuples: `gcloud ...` goes to gcloud (the warm engine,
warm.py, or one process per command, gcloud.py), `probe journey ...` to
`journey.run` (the profile's steps), other `probe ...` to `probes.run`; in
replay all are read from a scenario folder instead. Workers are daemon
threads so that Ctrl-C never waits on a hung command. The probe and process
modules are imported when a live run starts, not before: `--help`, `list`,
`explain` and a replay never pay for them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infracheck import redact
from infracheck.model import CannotRun, Check, CommandError, Engine, ErrorKind, Finding, Outcome
from infracheck.runner import gcloud, metrics, recording
from infracheck.plan import Plan

if TYPE_CHECKING:
    from infracheck.catalog.journey import Step
    from infracheck.runner import net, warm

Source = Callable[[tuple[str, ...]], Outcome]


class Evaluate(Protocol):
    """How a check is judged once its commands are in (rules/evaluate.py's `evaluate`, passed in by the
    pipeline: the run stage runs commands, the rules stage after it judges them)."""

    def __call__(self, check: Check, outcome: Outcome, skipped: frozenset[str] = frozenset(),
                 extras: Mapping[tuple[str, ...], Outcome] | None = None, *,
                 now: dt.datetime | None = None) -> list[Finding]: ...
ENGINES = ("auto", "warm", "process")
JOURNEY = ("probe", "journey")  # the catalog's journey check runs the profile's steps


class Early:
    """The warm engine started before infracheck reads its catalog: gcloud loads (~1 s of CPU, in
    its own process) while infracheck loads, plans and prepares its report.

    `live` adopts it; whatever is not adopted (an error first, a plan without
    gcloud, --engine process) is stopped by `discard`.
    """

    def __init__(self, jobs: int, timeout: float) -> None:
        from infracheck.runner import warm

        self.env = gcloud.environment(timeout)
        self.engine: warm.Engine | None = None
        self.failure = ""
        try:
            self.engine = warm.Engine(warm.launch(self.env), jobs, self.env, wait=False)
        except warm.Unavailable as exc:
            self.failure = str(exc)

    def take(self) -> warm.Engine | None:
        engine, self.engine = self.engine, None
        return engine

    def discard(self) -> None:
        engine = self.take()
        if engine is not None:
            engine.kill()
            engine.close()


def warm_up(engine: str, jobs: int, timeout: float) -> Early | None:
    """Start loading gcloud now when the run may use the warm engine (`live(..., early=)` takes it)."""
    return None if engine == "process" else Early(jobs, timeout)


def source(
    planned: Sequence[Check], timeout: float, replay_dir: Path | None = None, journey_steps: object = None,
    engine: str = "auto", jobs: int = 8, early: Early | None = None,
) -> Source:
    """Where outcomes come from: a replay folder, or gcloud and the network (checked to be usable first).

    `journey_steps` is the profile's `journey` list; a definition that cannot
    run is refused here, before any command starts.
    """
    steps: tuple[Step, ...] = ()
    if any(c.argv[:2] == JOURNEY for c in planned):
        from infracheck.catalog import journey  # the profile's steps: a JourneyError (a CannotRun) names the step

        steps = journey.parse(journey_steps)
    if replay_dir is not None:
        return replay(replay_dir)
    if any(argv[0] == "gcloud" or argv[:2] == metrics.QUERY for c in planned for argv in c.sources):
        gcloud.executable()  # GcloudMissing (a CannotRun) when it is not installed
    argvs = [argv for check in planned for argv in check.sources]
    return live(timeout, steps=steps, engine=engine, jobs=jobs, argvs=argvs, early=early)


class Live:
    """gcloud and the network, for real: gcloud warm (one loaded gcloud) or one process per command."""

    def __init__(self, timeout: float, env: Mapping[str, str], settings: net.ProbeSettings,
                 warm_engine: warm.Engine | None = None, note: str = "",
                 steps: tuple[Step, ...] = ()) -> None:
        self._timeout, self._env, self._settings, self._warm = timeout, env, settings, warm_engine
        self._steps = steps
        self.note = note  # why auto chose one process per command
        # Metrics queries borrow gcloud's token and settings through this engine's config-helper run.
        self._metrics = metrics.Reader(self._gcloud, timeout, recording.clock)

    @property
    def engine(self) -> Engine:
        """The engine that ran gcloud."""
        return Engine.PROCESS if self._warm is None else Engine.WARM

    @property
    def ran_as_process(self) -> int:
        """Commands the warm engine handed back to a process of their own (a crash, a dead driver)."""
        return 0 if self._warm is None else self._warm.ran_as_process

    def __call__(self, argv: tuple[str, ...]) -> Outcome:
        if argv[:2] == JOURNEY:
            from infracheck.runner import journey

            return journey.run(argv, self._steps, self._timeout, self._settings, os.environ)
        if argv[0] == "probe":
            from infracheck.runner import probes

            return probes.run(argv, self._timeout, self._settings)
        if argv[:2] == metrics.QUERY:
            return self._metrics(argv)
        return self._gcloud(argv)

    def start_reads(self, argvs: Sequence[tuple[str, ...]]) -> None:
        """Start the run's Cloud Monitoring reads at once: they wait on the network, not on gcloud's job slots."""
        self._metrics.start([a for a in argvs if a[:2] == metrics.QUERY])

    def _gcloud(self, argv: tuple[str, ...]) -> Outcome:
        if self._warm is not None:
            return self._warm.run(argv, self._timeout)
        return gcloud.run(argv, self._timeout, self._env)

    def close(self) -> None:
        if self._warm is not None:
            self._warm.close()


def live(
    timeout: float,
    env: Mapping[str, str] | None = None,
    settings: net.ProbeSettings | None = None,
    steps: tuple[Step, ...] = (),
    engine: str = "process",
    jobs: int = 8,
    argvs: Iterable[tuple[str, ...]] = (),
    early: Early | None = None,
) -> Live:
    """Run gcloud for real and probe the network for real.

    Without `env`/`settings`, the gcloud environment is derived from the
    user's (with gcloud's per-request timeout a share of `timeout`) and the
    probe settings from INFRACHECK_CA_BUNDLE / INFRACHECK_RESOLVE. With
    `engine` "auto" or "warm", the gcloud commands among `argvs` start at
    once in the warm engine; "auto" falls back to one process per command
    when the engine cannot start, "warm" is then an error.
    """
    from infracheck.runner import net

    if env is None:
        env = early.env if early is not None else gcloud.environment(timeout)
    if settings is None:
        try:
            settings = net.settings_from_env(os.environ)
        except ValueError as exc:
            raise CannotRun(str(exc)) from None
    argvs = list(argvs)
    # A metrics query needs gcloud's config-helper (its token and settings) first.
    reads_metrics = [metrics.CONFIG_HELPER] if any(a[:2] == metrics.QUERY for a in argvs) else []
    commands = list(dict.fromkeys(reads_metrics + [a for a in argvs if a[0] == "gcloud"]))
    if engine == "process" or not commands:
        if early is not None:
            early.discard()
        running = Live(timeout, env, settings, steps=steps)
        running.start_reads(argvs)
        return running
    started, note = start_warm(engine, env, jobs, early)
    if started is not None:
        for argv in commands:  # all at once, so the engine can plan which surface loads where
            started.submit(argv, timeout)
    running = Live(timeout, env, settings, started, note=note, steps=steps)
    running.start_reads(argvs)
    return running


def start_warm(engine: str, env: Mapping[str, str], jobs: int, early: Early | None) -> tuple[warm.Engine | None, str]:
    """The warm engine ("auto" or "warm"; `early`'s when given), or None and why with "auto"; "warm" that
    cannot start is an error."""
    from infracheck.runner import warm

    try:
        if early is not None:
            started = early.take()
            if started is None:
                raise warm.Unavailable(early.failure)
            started.wait_ready()
        else:
            started = warm.Engine(warm.launch(env), jobs, env)
    except warm.Unavailable as exc:
        if engine == "warm":
            raise CannotRun(f"--engine warm cannot start: {exc}") from None
        return None, f"warm engine unavailable: {exc}"
    return started, ""


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
