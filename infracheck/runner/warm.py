"""The warm engine: many gcloud commands from one loaded gcloud, each with a process's result.

A gcloud process spends ~1.6 CPU-s starting Python and importing its
surface for a command that then costs 0.02-0.15 s. The driver
(warm_driver.py, run under gcloud's own Python) loads gcloud once and forks
a child per command, so each command still ends as a separate gcloud process
would: its exit code, stdout and stderr come back byte for byte, and
`gcloud.interpret` classifies them exactly as for the per-process engine.

Never a dead end: `launch` says why the driver cannot run here (no SDK
layout it knows, a `gcloud` that is not the Cloud CLI), `Engine` raises
`Unavailable` when the driver fails to load gcloud, and a command whose
child dies of a signal, or whose driver died, is re-run by `gcloud.run` as
its own process.
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
import os
import platform
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any

import sh

from infracheck.runner import gcloud
from infracheck.model import CommandError, ErrorKind, Outcome

DRIVER = Path(__file__).with_name("warm_driver.py")
READY_TIMEOUT = 120.0  # s for the driver to load gcloud: ~1 s on a quiet machine, far more on a loaded one
_STOP_GRACE = 5.0  # s for the driver to exit after its last command
# A driver that says nothing for a command's whole timeout and this much more has stopped serving
# (stopped, or stuck in an import): the commands it holds run as their own processes.
SILENCE_GRACE = 15.0
_SILENCE_POLL = 0.5  # s between two looks at a driver's silence

# bin/gcloud's order when CLOUDSDK_PYTHON is unset and no bundled Python works.
_PYTHONS = ("python3", "python3.12", "python3.13", "python3.11", "python3.10", "python3.9",
            "python3.8", "python")


class Unavailable(Exception):
    """The driver cannot run gcloud here: use one process per command."""


@dataclass(frozen=True)
class Launch:
    """How to start the driver the way bin/gcloud starts gcloud."""

    python: str
    args: tuple[str, ...]
    root: str  # the SDK root (the folder above bin/)
    env: Mapping[str, str] = field(repr=False)


def launch(env: Mapping[str, str]) -> Launch:
    """Find the SDK behind the `gcloud` on PATH and the Python its wrapper would choose."""
    found = shutil.which("gcloud", path=env.get("PATH", os.defpath))
    if found is None:
        raise Unavailable("gcloud is not on PATH")
    real = Path(os.path.realpath(found))
    root = real.parent.parent
    if real.parent.name != "bin" or not (root / "lib" / "gcloud.py").is_file() \
            or not (root / "lib" / "googlecloudsdk" / "gcloud_main.py").is_file():
        raise Unavailable(f"{found} is not a Google Cloud CLI layout this engine knows "
                          "(bin/gcloud beside lib/gcloud.py and lib/googlecloudsdk)")
    out = dict(env)
    python = out.get("CLOUDSDK_PYTHON", "")
    bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
    if not python and os.access(bundled, os.X_OK) and platform.machine() == "x86_64":
        python = str(bundled)
        out["CLOUDSDK_PYTHON_SITEPACKAGES"] = "1"
    if not python:
        python = next((p for p in _PYTHONS if shutil.which(p, path=out.get("PATH"))), "python")
        out["CLOUDSDK_PYTHON"] = python
    else:
        out["CLOUDSDK_PYTHON"] = python
    out.pop("PYTHONHOME", None)
    args = out.get("CLOUDSDK_PYTHON_ARGS", "").split()
    if not out.get("CLOUDSDK_PYTHON_SITEPACKAGES") and not out.get("VIRTUAL_ENV"):
        if "-S" not in args:
            args.append("-S")
        out.pop("CLOUDSDK_PYTHON_SITEPACKAGES", None)
    else:
        args = [a for a in args if a != "-S"]
        out.setdefault("CLOUDSDK_PYTHON_SITEPACKAGES", "1")
    encoding = out.get("CLOUDSDK_ENCODING") or out.get("PYTHONIOENCODING") or "UTF-8"
    out.update({
        "CLOUDSDK_ROOT_DIR": str(root),
        "CLOUDSDK_PYTHON_ARGS": " ".join(args),
        "CLOUDSDK_ENCODING": encoding,
        "PYTHONIOENCODING": encoding,
    })
    out.setdefault("CLOUDSDK_GSUTIL_PYTHON", python)
    out.setdefault("CLOUDSDK_BQ_PYTHON", python)
    return Launch(python, tuple(args), str(root), out)


class Ended(enum.Enum):
    """How a warm command ended."""

    DONE = "done"  # code, stdout and stderr as printed
    TIMEOUT = "timeout"  # killed at its deadline
    CRASHED = "crashed"  # its child died of a signal
    LOST = "lost"  # the driver died first
    INTERRUPTED = "interrupted"  # Ctrl-C


@dataclass(frozen=True)
class Reply:
    """How a warm command ended (`kind`), and when DONE what it printed."""

    kind: Ended
    code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    seconds: float = 0.0


@dataclass
class _Pending:
    argv: tuple[str, ...]
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    started: float | None = None
    pid: int | None = None  # the command's process group while it runs
    finished: float | None = None
    reply: dict[str, Any] | None = None


_ENGINES: set[Engine] = set()
_ENGINES_LOCK = threading.Lock()


class Engine:
    """One driver process; `run` is thread-safe and blocks until its command is done."""

    def __init__(self, how: Launch, jobs: int, env: Mapping[str, str], *, wait: bool = True) -> None:
        """Start the driver; with `wait`, block until it has loaded gcloud (else call `wait_ready`).

        Commands may be submitted before then: they wait in its pipe.
        """
        self._env = dict(env)  # for commands re-run as their own process
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._by_argv: dict[tuple[str, ...], _Pending] = {}
        self._children: set[int] = set()
        self._ready = threading.Event()
        self._failure = ""
        self._dead = False
        self._stderr: list[str] = []
        self._heard = time.monotonic()  # the driver's last message
        self._requests: Queue[str | None] = Queue()
        self.ran_as_process = 0  # commands that fell back to their own process
        if gcloud.stopping():
            raise Unavailable("interrupted")
        try:
            command = sh.Command(how.python)
        except sh.CommandNotFound:
            raise Unavailable(f"gcloud's Python {how.python} was not found") from None
        self._proc = command(
            *how.args, str(DRIVER), how.root, str(max(1, jobs)),
            _env=dict(how.env), _in=self._requests, _out=self._on_line,
            _err=self._on_stderr, _done=self._on_exit, _bg=True, _bg_exc=False,
            _new_session=True, _tty_out=False, _ok_code=list(range(256)),
            _encoding="utf-8", _decode_errors="replace",
        )
        self.pid: int = self._proc.pid
        with _ENGINES_LOCK:
            _ENGINES.add(self)
            if gcloud.stopping():
                self.kill()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the driver has loaded gcloud; Unavailable, and nothing left running, if it cannot."""
        try:
            ready = self._ready.wait(READY_TIMEOUT)
        except BaseException:  # Ctrl-C while gcloud loads: leave nothing running
            self.kill()
            raise
        if not ready or self._failure:
            self.kill()
            with _ENGINES_LOCK:
                _ENGINES.discard(self)
            raise Unavailable(self._failure or f"the driver did not load gcloud in {READY_TIMEOUT:g} s")

    # ---- the driver's side of the pipe (sh's threads)

    def _on_line(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return  # not ours: the driver writes nothing else to this pipe
        self._heard = time.monotonic()
        if "ready" in message:
            self._ready.set()
        elif "failed" in message:
            self._failure = f"the driver could not load gcloud: {message['failed']}"
            self._ready.set()
        elif "started" in message:
            with self._lock:
                self._children.add(int(message["pid"]))
                pending = self._pending.get(int(message["started"]))
                if pending is not None:
                    pending.started = time.monotonic()
                    pending.pid = int(message["pid"])
                if gcloud.stopping():
                    _kill_group(int(message["pid"]))
        elif "id" in message:
            with self._lock:
                pending = self._pending.pop(int(message["id"]), None)
                if pending is not None and pending.pid is not None:
                    self._children.discard(pending.pid)  # gone: its pid may be reused
            if pending is not None:
                pending.finished = time.monotonic()
                pending.reply = message
                pending.done.set()

    def _on_stderr(self, line: str) -> None:
        if len(self._stderr) < 20:  # the driver's own trouble only; children have their own pipes
            self._stderr.append(line.rstrip())

    def _on_exit(self, *_: Any) -> None:
        with self._lock:
            self._dead = True
            left = list(self._pending.values())
            self._pending.clear()
        if not self._ready.is_set():
            detail = next((ln for ln in reversed(self._stderr) if ln), "no message")
            self._failure = f"the driver exited while loading gcloud: {detail}"
            self._ready.set()
        for pending in left:
            pending.done.set()  # no reply: the command is re-run as a process

    # ---- commands

    def submit(self, argv: tuple[str, ...], timeout: float) -> None:
        """Queue argv now (so the driver can plan); `run` later collects the result."""
        with self._lock:
            if argv in self._by_argv:
                return
            pending = _Pending(argv, timeout)
            self._by_argv[argv] = pending
            if self._dead:
                pending.done.set()
                return
            ident = next(self._ids)
            self._pending[ident] = pending
        self._requests.put(json.dumps({"id": ident, "argv": list(argv[1:]), "timeout": timeout}) + "\n")

    def reply(self, argv: tuple[str, ...], timeout: float) -> Reply:
        """What argv's child printed, or why there is nothing (blocks until then)."""
        queued = time.monotonic()
        self.submit(argv, timeout)
        pending = self._by_argv[argv]
        # Nothing else bounds this wait: the driver kills a command at its timeout, but a driver that
        # stops serving (stopped, stuck in an import) would hold this command, and a watch cycle with
        # it, for ever. Silence for the command's timeout and a grace (its own messages or any other
        # command's count) ends the driver; what it held is run as its own process (`run`).
        while not pending.done.wait(_SILENCE_POLL):
            if time.monotonic() - max(self._heard, queued) > timeout + SILENCE_GRACE:
                self._abandon()
        with self._lock:  # consumed: running argv again (a watch cycle) runs it again
            if self._by_argv.get(argv) is pending:
                del self._by_argv[argv]
        message = pending.reply
        seconds = (pending.finished or time.monotonic()) - (pending.started or queued)
        if gcloud.stopping():
            return Reply(Ended.INTERRUPTED, seconds=seconds)
        if message is None:
            return Reply(Ended.LOST, seconds=seconds)
        if "signal" in message:
            return Reply(Ended.CRASHED, seconds=seconds)
        if message.get("timeout"):
            return Reply(Ended.TIMEOUT, seconds=seconds)
        return Reply(Ended.DONE, int(message["code"]), base64.b64decode(message["stdout"]),
                     base64.b64decode(message["stderr"]), seconds)

    def run(self, argv: tuple[str, ...], timeout: float) -> Outcome:
        """argv (argv[0] == 'gcloud') run warm; the same Outcome `gcloud.run` would give.

        Retried like `gcloud.run` when gcloud crashed on its locked config database or was answered 429.
        """
        return gcloud.retrying(lambda left: self._run_once(argv, left), timeout, argv)

    def _run_once(self, argv: tuple[str, ...], timeout: float) -> Outcome:
        reply = self.reply(argv, timeout)
        if reply.kind is Ended.INTERRUPTED:
            return Outcome(argv, None, reply.seconds,
                           error=CommandError(ErrorKind.INTERRUPTED, "interrupted"))
        if reply.kind in (Ended.LOST, Ended.CRASHED):
            # The driver died, or this command's child did: never a lost check.
            with self._lock:
                self.ran_as_process += 1
            return gcloud.run_once(argv, timeout, self._env)  # `run` retries the whole attempt
        if reply.kind is Ended.TIMEOUT:
            return Outcome(argv, None, reply.seconds, error=CommandError(
                ErrorKind.TIMEOUT, f"timed out after {timeout:g} s (gcloud and its children were stopped)"))
        return gcloud.interpret(argv, reply.code, reply.stdout.decode("utf-8", "replace"),
                                reply.stderr.decode("utf-8", "replace"), reply.seconds)

    def close(self) -> None:
        """No more commands: the driver exits when its last command is done."""
        self._requests.put(None)
        try:
            self._proc.wait(timeout=_STOP_GRACE)
        except (sh.TimeoutException, sh.ErrorReturnCode, sh.SignalException):
            self.kill()
        with _ENGINES_LOCK:
            _ENGINES.discard(self)

    def _abandon(self) -> None:
        """The driver stopped serving: end it; every command it holds is released as lost (re-run as a process)."""
        self.kill()
        self._on_exit()

    def kill(self) -> None:
        """Stop the driver and every command it started, at once."""
        with self._lock:
            children = list(self._children)
        _kill_group(self.pid)
        for pid in children:
            _kill_group(pid)
        self._requests.put(None)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all() -> None:
    """Ctrl-C: stop every driver and its commands; waiting commands return INTERRUPTED.

    Called after gcloud.kill_all(), whose stop (cleared by gcloud.reset()) this engine shares."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES)
    for engine in engines:
        engine.kill()
