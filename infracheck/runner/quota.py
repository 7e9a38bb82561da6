"""Back off per API on 429 RESOURCE_EXHAUSTED, within a retry budget per API shared by a whole run.

gcloud 528 sends a read once and gives up on a 429 (docs/gcloud.md, "429 RESOURCE_EXHAUSTED"), so
gcloud.retrying runs it again. Quotas are counted per API (mostly per minute), and a fleet run sends
every target's commands to the same APIs at once from one process: the pause and the budget belong
to the API, not to the command. One command's 429 pauses every command of that API (none starts
before the pause is over); the pauses grow while the API keeps answering 429 (1, 2, 4... s, at most
MAX_PAUSE, each drawn between half and all of that so that the waiting commands do not all come back
at the same instant); a run gets at most RETRIES more runs per API in all, after which a 429 is
reported at once (and pauses nothing more). `gcloud.new_budget()` starts a new budget (a diagnosis,
a fleet run, a watch or serve cycle).

Pure bookkeeping: no process, no sleep (gcloud.retrying waits, so that Ctrl-C ends a pause at once).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable

# Retries per API per run. Read quotas are per minute: pauses of 1, 2, 4, 8, 16, then 20 s span
# about 100 s by the tenth retry, past a whole quota minute (and the default 60 s --timeout of
# each command), so a burst is ridden out; an API still answering 429 after that will not recover
# within the run, and more runs would only add load to a project that is over its limit. A single
# target sends at most 10 reads to one API (its secrets), so alone it can run each of them again once.
RETRIES = 10
FIRST_PAUSE = 1.0  # s
MAX_PAUSE = 20.0  # s: a third of the default --timeout, so a command can wait out more than one pause

# gcloud's command groups -> the API (service name in googleapis.com) their reads count against.
_APIS = {
    "sql": "sqladmin",
    "run": "run",
    "secrets": "secretmanager",
    "compute": "compute",
    "logging": "logging",
    "monitoring": "monitoring",
    "services": "serviceusage",
    "asset": "cloudasset",
    "projects": "cloudresourcemanager",
}
_TRACKS = ("alpha", "beta")


def api_of(argv: tuple[str, ...]) -> str:
    """The API a gcloud argv reads: its command group's (known before it runs, unlike the error text)."""
    words = [w for w in argv[1:] if not w.startswith("-")]
    if words and words[0] in _TRACKS:
        words = words[1:]
    if not words:
        return ""
    if words[:3] == ["compute", "networks", "vpc-access"]:
        return "vpcaccess"  # not compute: `gcloud compute networks vpc-access` reads vpcaccess.googleapis.com
    return _APIS.get(words[0], words[0])


@dataclasses.dataclass
class _Api:
    spent: int = 0  # retries granted this run
    level: int = 0  # pauses in a row with no answer in between: the next pause's exponent
    resume: float = 0.0  # monotonic time before which no command of this API starts
    paused_at: float = float("-inf")  # when the current pause began


class Budget:
    """One run's retries and pauses per API; thread-safe (every target's commands share it)."""

    def __init__(self, retries: int = RETRIES, first_pause: float = FIRST_PAUSE, max_pause: float = MAX_PAUSE,
                 *, clock: Callable[[], float] = time.monotonic,
                 draw: Callable[[float, float], float] = random.uniform) -> None:
        self.retries, self.first_pause, self.max_pause = retries, first_pause, max_pause
        self._clock, self._draw = clock, draw
        self._lock = threading.Lock()
        self._apis: dict[str, _Api] = {}

    def resume_at(self, api: str) -> float:
        """When a command of `api` may start (monotonic; in the past when the API is not paused)."""
        with self._lock:
            state = self._apis.get(api)
            return state.resume if state is not None else 0.0

    def throttled(self, api: str, since: float, latest: float) -> tuple[float | None, str]:
        """A run of `api` begun at `since` was answered 429: when to run it again, or None and why not.

        A 429 from a run begun after the API's current pause began means the API is still over its
        quota: a longer pause starts. One begun before it belongs to the wave that pause answers: it
        waits the same pause. A retry that could not start by `latest` is not spent.
        """
        with self._lock:
            state = self._apis.setdefault(api, _Api())
            if state.spent >= self.retries:
                # No new pause either: nothing will run again, and the commands not yet run would only
                # wait for the one request each makes anyway (a fleet's hundreds of them, one pause a wave).
                return None, f"the {self.retries} retries this run allows the {api} API were spent"
            now = self._clock()
            if since >= state.paused_at:
                state.level += 1
                step = min(self.max_pause, self.first_pause * 2 ** (state.level - 1))
                state.resume = max(state.resume, now + self._draw(step / 2, step))
                state.paused_at = now
            if state.resume > latest:
                return None, ""
            state.spent += 1
            return state.resume, ""

    def answered(self, api: str) -> None:
        """A run of `api` got its answer: the next 429 starts again from the first pause."""
        with self._lock:
            state = self._apis.get(api)
            if state is not None:
                state.level = 0

    def spent(self, api: str) -> int:
        """Retries of `api` granted so far this run."""
        with self._lock:
            state = self._apis.get(api)
            return state.spent if state is not None else 0
