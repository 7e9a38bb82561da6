"""gcloud and the network for real: the engine a live run's gcloud commands go to (one loaded gcloud, the
warm engine, started before the catalog is read when it can be; or one process per command) and the source
that sends each command to gcloud, the probes, the journey or Cloud Monitoring (runner/__init__.py runs them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from infracheck.model import CannotRun, Check, Engine, Outcome
from infracheck.runner import gcloud, metrics, recording

if TYPE_CHECKING:
    from infracheck.catalog.journey import Step
    from infracheck.runner import net, warm

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



def steps_of(planned: Sequence[Check], journey_steps: object) -> tuple[Step, ...]:
    """The profile's journey steps when the journey is planned; a definition that cannot run is refused (a
    JourneyError, a CannotRun, names the step) before any command starts."""
    if not any(c.argv[:2] == JOURNEY for c in planned):
        return ()
    from infracheck.catalog import journey

    return journey.parse(journey_steps)


def commands_of(planned: Sequence[Check]) -> list[tuple[str, ...]]:
    """Every command of a live run of `planned`; gcloud missing, when one needs it, is refused (GcloudMissing)."""
    argvs = [argv for check in planned for argv in check.sources]
    if any(argv[0] == "gcloud" or argv[:2] == metrics.QUERY for argv in argvs):
        gcloud.executable()
    return argvs
