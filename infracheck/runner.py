"""Run each distinct source once, concurrently, and yield outcomes as they finish.

Sources are argv tuples: `gcloud ...` goes to `gcloud.run`, `probe ...` to
`probes.run`; in replay both are read from a scenario folder instead. Workers
are daemon threads so that Ctrl-C never waits on a hung command.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from infracheck import gcloud, probes, recording
from infracheck.model import CommandError, ErrorKind, Outcome

Source = Callable[[tuple[str, ...]], Outcome]


def live(timeout: float, env: Mapping[str, str], settings: probes.ProbeSettings | None = None) -> Source:
    """Run gcloud for real and probe the network for real."""

    def run(argv: tuple[str, ...]) -> Outcome:
        if argv[0] == "probe":
            return probes.run(argv, timeout, settings)
        return gcloud.run(argv, timeout, env)

    return run


def replay(directory: Path) -> Source:
    """Read what a scenario folder recorded; classified exactly as a live run would be."""
    recording.check_folder(directory)

    def run(argv: tuple[str, ...]) -> Outcome:
        recorded = recording.replay(directory, argv)
        if recorded is None:
            return recording.not_recorded(directory, argv)
        exit_code, stdout, stderr = recorded
        return gcloud.interpret(argv, exit_code, stdout, stderr, 0.0)

    return run


def collect(argvs: Iterable[tuple[str, ...]], source: Source, jobs: int) -> Iterator[Outcome]:
    """Yield one Outcome per distinct argv, in completion order, at most `jobs` at once."""
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
    try:
        for _ in distinct:
            while True:
                try:
                    yield done.get(timeout=0.2)  # a timeout keeps Ctrl-C responsive
                    break
                except queue.Empty:
                    continue
    finally:
        # Interrupted (KeyboardInterrupt, generator closed early): drop what
        # has not started; `stop()` ends what has.
        while True:
            try:
                pending.get_nowait()
            except queue.Empty:
                break


def stop() -> None:
    """Kill every running gcloud; queued commands return INTERRUPTED at once."""
    gcloud.kill_all()
