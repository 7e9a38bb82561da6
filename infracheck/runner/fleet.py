"""One gcloud for every target of a fleet run (`diagnose --targets`): a Live source per target, one engine.

The warm driver forks a child per command whatever its project, so a fleet
loads gcloud once; each target gets its own source (its journey steps, its
Cloud Monitoring reads) over the shared engine. Each target's run asks for
at most `jobs` commands at once, and the engine runs `slots` of them, so a
target whose API hangs holds its own share of the engine, not all of it.
With one process per command, the same bound is a semaphore. One account
serves every target, so `gcloud config config-helper` (the token and
settings the Cloud Monitoring reads use) runs once for the fleet.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from infracheck.model import CannotRun, Check, CommandError, ErrorKind, Outcome
from infracheck.runner import gcloud, metrics, recording
from infracheck.runner.live import Early, Live, commands_of, start_warm, steps_of

if TYPE_CHECKING:
    from infracheck.catalog.journey import Step
    from infracheck.runner import net, warm

# Targets whose commands the engine runs side by side, at most: past that, more
# children only share the same two cores (and each holds ~60 MB while it runs).
TARGETS_AT_ONCE = 4
# A token config-helper gave is used again by the next target while it has this long left.
TOKEN_MARGIN = dt.timedelta(minutes=2)


def slots(jobs: int, targets: int) -> int:
    """The engine's commands at once for `targets` targets of `jobs` each."""
    return max(1, jobs * max(1, min(targets, TARGETS_AT_ONCE)))


class Shared(Live):
    """A target's source: the pool's engine (never closed by the target), or a process per command under
    the pool's bound."""

    def __init__(self, pool: Pool, steps: tuple[Step, ...]) -> None:
        super().__init__(pool.timeout, pool.env, pool.settings, pool.engine, note=pool.note, steps=steps)
        self._pool = pool
        # One account serves every target: its token and settings are read once for the fleet.
        self._metrics = metrics.Reader(pool.config_helper, pool.timeout, recording.clock)

    def _gcloud(self, argv: tuple[str, ...]) -> Outcome:
        if self._warm is not None:
            return self._warm.run(argv, self._timeout)
        with self._pool.bound:
            return gcloud.run(argv, self._timeout, self._env)

    def close(self) -> None:
        """The pool closes the engine once every target is done."""


class Pool:
    """The engine a fleet run shares, started once (`early`'s when given)."""

    def __init__(self, engine: str, jobs: int, timeout: float, targets: int, early: Early | None = None) -> None:
        from infracheck.runner import net

        self.timeout = timeout
        self.env = early.env if early is not None else gcloud.environment(timeout)
        try:
            self.settings: net.ProbeSettings = net.settings_from_env(os.environ)
        except ValueError as exc:
            raise CannotRun(str(exc)) from None
        self.slots = slots(jobs, targets)
        self.bound = threading.BoundedSemaphore(self.slots)
        self.engine: warm.Engine | None = None
        self.note = ""
        self._helper: Outcome | None = None  # config-helper's answer, while its token lasts
        self._helper_lock = threading.Lock()
        if engine == "process":
            if early is not None:
                early.discard()
        else:
            self.engine, self.note = start_warm(engine, self.env, self.slots, early)

    def source(self, planned: Sequence[Check], journey_steps: object = None) -> Shared:
        """A target's source; its gcloud commands are queued in the engine at once (as `runner.live` does)."""
        steps, argvs = steps_of(planned, journey_steps), commands_of(planned)
        running = Shared(self, steps)
        if self.engine is not None:
            for argv in dict.fromkeys(a for a in argvs if a[0] == "gcloud"):
                self.engine.submit(argv, self.timeout)
        running.start_reads(argvs)
        return running

    def config_helper(self, argv: tuple[str, ...]) -> Outcome:
        """`gcloud config config-helper` for the metrics reads of every target: run once, and again when its
        token is near its expiry; a failure is not kept (the next target asks again)."""
        with self._helper_lock:
            if self._helper is None or _expiring(self._helper):
                outcome = self.engine.run(argv, self.timeout) if self.engine is not None else \
                    gcloud.run(argv, self.timeout, self.env)
                if outcome.error is not None:
                    return outcome
                self._helper = outcome
            return self._helper

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def _expiring(helper: Outcome) -> bool:
    try:
        expiry = metrics.credentials(helper.document).expiry
    except metrics.SettingsError:
        return True
    return expiry is not None and expiry - dt.datetime.now(dt.timezone.utc) < TOKEN_MARGIN


def out_of_time(bound: float) -> Callable[[tuple[str, ...]], Outcome]:
    """The outcome of a target's command still out when the target's time bound ran out."""

    def lapse(argv: tuple[str, ...]) -> Outcome:
        return Outcome(argv, None, bound, error=CommandError(
            ErrorKind.TIMEOUT, f"not finished when the target's time bound ({bound:g} s) ran out"))

    return lapse
