"""Run many gcloud commands from one loaded gcloud (the warm engine's driver).

This file is not imported by infracheck: infracheck/warm.py starts it as a
script under the Python the `gcloud` on PATH would use, so it may import only
the standard library and the Cloud SDK (never infracheck or its dependencies).

    PYTHON [CLOUDSDK_PYTHON_ARGS] warm_driver.py SDK_ROOT JOBS

How it works. The process ("zygote") does what gcloud's own entry point
does (lib/gcloud.py: sys.path set-up, then googlecloudsdk.gcloud_main and
CreateCLI) once, then forks one child per command. The child points file
descriptors 0/1/2 at /dev/null and two pipes and runs gcloud_main.main() on
the loaded CLI, then exits with gcloud's exit code: a child is a gcloud
process that skipped start-up, so its exit code, stdout and stderr are those
of a separate process, byte for byte, and no flag, property or cache of one
command can reach the next (each starts from the zygote's untouched state).

Import cost is paid once per command path, not once per command: a child reports
the modules its command imported, first when it opens its first connection
(by then it has loaded its command and API client) and again at exit; the
zygote imports them too, so the next children start warm while the first one
is still waiting for the API. The regular expressions the child compiled come
with that report: the zygote compiles them into `re`'s cache, so the next
children do not compile them again. One command at a time "learns" for each top
surface (compute, sql, ...): the surface's other commands wait for its first
report, the ones of the same command path then start warm at once, and the
next new path becomes the next learner, so seven `compute ... list` commands
import compute's API client once, not seven times in parallel (a command
path that is warm says little: `compute networks vpc-access` loads another
API than `compute url-maps`). A learner that sits idle for ANSWER_WAIT (a
slow or hung API) releases its surface.

Protocol: JSON lines. stdin: {"id": N, "argv": [...], "timeout": s} (argv
without the leading "gcloud"); closing stdin ends the driver once the
commands in flight are done. stdout: {"ready": pid} once loaded, or
{"failed": "why"} and exit 3; {"started": id, "pid": p} when a command's
process exists (its process group, for infracheck to kill on Ctrl-C);
{"id": N, "code": c, "stdout": b64, "stderr": b64} when it exits,
{"id": N, "timeout": true} when it was killed at its deadline, {"id": N,
"signal": s} when it died of a signal (infracheck re-runs it as a process).
"""

from __future__ import annotations  # annotations only: gcloud runs on Python 3.8+

import base64
import gc
import importlib
import itertools
import json
import os
import re
import select
import signal
import sys
import time
import warnings
from typing import IO, Any

_LOAD_FAILED = 3
_EXITING_POLL = 0.01  # s
# s a surface's other commands wait for its first one (and the modules it
# imported: ~0.5-1 s of CPU) before they start cold. A slow or hung API does
# not hold them: a first command idle for ANSWER_WAIT releases them.
LEARN_WAIT = 60.0  # a backstop: the wait ends sooner once that command sits idle
ANSWER_WAIT = 1.5  # s without CPU: the first command is waiting on its API, not importing
_IDLE_POLL = 0.25  # s between looks at that command's CPU time


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: warm_driver.py SDK_ROOT JOBS\n")
        return 2
    sdk_root, jobs = argv[1], max(1, int(argv[2]))
    # The protocol gets private descriptors; 0 and 1 become /dev/null so that
    # nothing gcloud prints while loading can corrupt it.
    requests_fd, replies_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    replies = os.fdopen(replies_fd, "w", buffering=1)
    try:
        entry, gcloud_main, cli = _load(sdk_root)
    except BaseException as exc:  # any failure means: use one process per command
        replies.write(json.dumps({"failed": "%s: %s" % (type(exc).__name__, exc)}) + "\n")
        return _LOAD_FAILED
    global _PRCTL
    _PRCTL = _find_prctl()
    # Long-lived objects out of the collector's way: children would otherwise
    # copy every page the collector touches.
    gc.collect()
    gc.freeze()
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    Zygote(entry, gcloud_main, cli, jobs, requests_fd, replies).serve()
    return 0


def _load(sdk_root: str) -> tuple[Any, Any, Any]:
    """gcloud's entry point up to the point where it would execute argv."""
    lib = os.path.join(sdk_root, "lib")
    if not os.path.isfile(os.path.join(lib, "gcloud.py")):
        raise RuntimeError("no lib/gcloud.py under %s" % sdk_root)
    sys.path.insert(0, lib)
    entry: Any = importlib.import_module("gcloud")  # the SDK's lib/gcloud.py: sets sys.path up

    sys.path = entry.reorder_sys_path(sys.path)
    entry._fix_google_module()
    gcloud_main = entry._import_gcloud_main()
    cli = gcloud_main.CreateCLI([])
    sys.argv = [entry.__file__]
    return entry, gcloud_main, cli


class Zygote:
    def __init__(self, entry: Any, gcloud_main: Any, cli: Any, jobs: int, requests_fd: int,
                 replies: IO[str]) -> None:
        self.entry, self.gcloud_main, self.cli = entry, gcloud_main, cli
        self.jobs = jobs
        self.requests_fd = requests_fd
        self.replies = replies
        self.pending: list[dict[str, Any]] = []  # requests not started, in arrival order
        self.running: dict[int, _Child] = {}  # pid -> _Child
        self.warm: set[tuple[str, ...]] = set()  # command paths whose modules the zygote has imported
        self.learners: dict[str, _Child] = {}  # top surface -> its command that has not reported yet
        self.learned: dict[str, _Learned] = {}  # top surface -> what its learners reported, not imported yet
        self.buffer = b""
        self.open = True

    def serve(self) -> None:
        while self.open or self.pending or self.running:
            self._start_what_fits()
            self._wait()
            self._import_learned()

    # ---- scheduling

    def _start_what_fits(self) -> None:
        while self.pending and len(self.running) < self.jobs:
            request = self._next()
            if request is None:
                return
            self.pending.remove(request)
            self._fork(request)

    def _next(self) -> dict[str, Any] | None:
        """What to fork next, or None to wait for a surface to warm up.

        A command that will learn for its surface comes first: the rest of that
        surface waits on it. Then commands whose path is warm. Then the rest of
        a surface whose learner sits idle on its API (slow or hung): they start
        cold rather than wait for it.
        """
        for request in self.pending:
            top = request["path"][0]
            if request["path"] not in self.warm and top not in self.learners and top not in self.learned:
                return request
        for request in self.pending:
            if request["path"] in self.warm:
                return request
        now = time.monotonic()
        for request in self.pending:
            learner = self.learners.get(request["path"][0])
            if learner is not None and (now >= learner.started + LEARN_WAIT or self._idle(learner, now)):
                return request
        if not self.running and not self._importing():  # nothing left to learn from: run it cold
            return self.pending[0]
        return None

    def _importing(self) -> str | None:
        """A surface whose learned modules a waiting command needs (the zygote imports them first)."""
        waiting = {request["path"][0] for request in self.pending}
        return next((top for top in self.learned if top in waiting), None)

    def _wait(self) -> None:
        readable = [child.out for child in self.running.values()]
        readable += [child.err for child in self.running.values()]
        readable += [child.modules for child in self.running.values()]
        if self.open:
            readable.append(self.requests_fd)
        now = time.monotonic()
        deadlines = [child.deadline - now for child in self.running.values()]
        # A child closes its pipes a moment before waitpid can see it exit:
        # poll briefly for those instead of sleeping until their deadline.
        deadlines += [_EXITING_POLL for child in self.running.values() if child.drained]
        if self.pending and len(self.running) < self.jobs:  # commands waiting for a surface to warm up
            deadlines += [learner.started + LEARN_WAIT - now for learner in self.learners.values()]
            deadlines += [_IDLE_POLL for _ in self.learners]
        if self._importing():  # look at the pipes between two imports, never block on them
            deadlines.append(0.0)
        timeout = max(0.0, min(deadlines)) if deadlines else None
        ready, _, _ = select.select([fd for fd in readable if fd is not None], [], [], timeout)
        for fd in ready:
            if fd == self.requests_fd:
                self._read_requests()
            else:
                self._drain(fd)
        self._reap()

    def _read_requests(self) -> None:
        data = os.read(self.requests_fd, 65536)
        if not data:
            self.open = False
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                request = json.loads(line)
                request["path"] = _command_path(request["argv"])
                self.pending.append(request)

    def _drain(self, fd: int) -> None:
        for child in self.running.values():
            for name in ("out", "err", "modules"):
                if getattr(child, name) == fd:
                    data = os.read(fd, 65536)
                    if data:
                        getattr(child, name + "_data").append(data)
                    else:
                        os.close(fd)
                        setattr(child, name, None)
                    if name == "modules":
                        self._learn(child)
                    return

    def _learn(self, child: _Child) -> None:
        """Each complete module report (names, then an empty line) is learned for the child's surface.

        The zygote imports them once a command of that surface is waiting:
        the modules of a surface with no other command are never imported.
        """
        data = b"".join(child.modules_data)
        *reports, rest = data.split(b"\n\n")
        child.modules_data = [rest] if rest else []
        if not reports:
            return
        top = child.request["path"][0]
        learned = self.learned.setdefault(top, _Learned())
        for report in reports:
            for line in report.decode("utf-8", "replace").splitlines():
                if line.startswith(_PATTERN):
                    pattern = _decode_pattern(line[len(_PATTERN):])
                    if pattern is not None:
                        learned.patterns.append(pattern)
                elif line.strip():
                    learned.modules.append(line.strip())
        learned.paths.add(child.request["path"])
        if self.learners.get(top) is child:
            del self.learners[top]

    def _reap(self) -> None:
        now = time.monotonic()
        for pid, child in list(self.running.items()):
            if child.deadline <= now and child.status is None and not child.timed_out:
                _kill_group(pid)
                child.timed_out = True
                # Its output no longer matters, and a descendant that left its
                # group could hold the pipes open for ever.
                for name in ("out", "err", "modules"):
                    fd = getattr(child, name)
                    if fd is not None:
                        os.close(fd)
                        setattr(child, name, None)
            if child.status is None:
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if done:
                    child.status = status
                    child.cpu = usage.ru_utime + usage.ru_stime
            # Reply once the process is gone and its pipes are drained.
            if child.status is not None and child.drained:
                del self.running[pid]
                self._reply(child, child.status)

    def _reply(self, child: _Child, status: int) -> None:
        if self.learners.get(child.request["path"][0]) is child:
            del self.learners[child.request["path"][0]]  # gone untold (timed out, crashed): the next one learns
        reply: dict[str, Any] = {"id": child.request["id"], "cpu": round(child.cpu, 3)}
        if child.timed_out:
            reply["timeout"] = True
        elif os.WIFSIGNALED(status):
            reply["signal"] = os.WTERMSIG(status)
        else:
            reply["code"] = os.WEXITSTATUS(status)
            reply["stdout"] = base64.b64encode(b"".join(child.out_data)).decode("ascii")
            reply["stderr"] = base64.b64encode(b"".join(child.err_data)).decode("ascii")
        self.replies.write(json.dumps(reply) + "\n")

    def _idle(self, child: _Child, now: float) -> bool:
        """Has this learner used no CPU for ANSWER_WAIT (blocked on the API)?"""
        cpu = _cpu_seconds(child.pid)
        if cpu is None:  # no /proc: wall time only
            return now - child.started >= ANSWER_WAIT
        if cpu != child.cpu_seen:
            child.cpu_seen, child.idle_since = cpu, now
        return now - child.idle_since >= ANSWER_WAIT

    def _import_learned(self) -> None:
        """Import the next learned module a waiting command needs (one per turn: replies never wait long).

        Imports only: executing a module's top level is what the next command
        would do first thing anyway, with the same environment.
        """
        top = self._importing()
        if top is None:
            return
        learned = self.learned[top]
        while learned.modules:
            name = learned.modules.pop(0)
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
            except BaseException:  # a module that imports only in context stays cold
                pass
            if learned.modules:
                return
        for pattern, flags in learned.patterns:
            _compile_quietly(pattern, flags)
        del self.learned[top]
        self.warm.update(learned.paths)
        gc.freeze()

    # ---- one command

    def _preload(self, argv: list[str]) -> None:
        """Load a warm command's calliope element the way parsing argv would, once, before forking it."""
        top = self.cli._TopElement()
        path: list[str] = []
        for word in argv:
            if word.startswith("-") or not top.IsValidSubPath(path + [word]):
                break
            path.append(word)
        if path:
            top.LoadSubElementByPath(path)

    def _fork(self, request: dict[str, Any]) -> None:
        path = request["path"]
        # Not for a learner: it loads its own surface while the zygote serves
        # the others (the zygote learns those modules from its report).
        if path in self.warm:
            try:
                self._preload(request["argv"])
            except Exception:  # the child will meet (and report) whatever went wrong
                pass
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mod_r, mod_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns
            os.close(out_r)
            os.close(err_r)
            os.close(mod_r)
            _run_child(self, request, out_w, err_w, mod_w)
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first
        except OSError:
            pass
        os.close(out_w)
        os.close(err_w)
        os.close(mod_w)
        self.replies.write(json.dumps({"started": request["id"], "pid": pid}) + "\n")
        child = _Child(request, pid, out_r, err_r, mod_r)
        self.running[pid] = child
        if path not in self.warm and path[0] not in self.learners:
            self.learners[path[0]] = child


class _Learned:
    """Modules the learners of a surface imported, the patterns they compiled, and the command paths they make warm."""

    def __init__(self) -> None:
        self.modules: list[str] = []
        self.patterns: list[tuple[Any, int]] = []  # (str or bytes pattern, flags)
        self.paths: set[tuple[str, ...]] = set()


class _Child:
    def __init__(self, request: dict[str, Any], pid: int, out: int, err: int, modules: int) -> None:
        self.request = request
        self.pid = pid
        self.started = time.monotonic()
        self.cpu_seen: float | None = None
        self.idle_since = self.started
        self.deadline = time.monotonic() + float(request["timeout"])
        # A descriptor is None once drained to its end.
        self.out: int | None = out
        self.err: int | None = err
        self.modules: int | None = modules
        self.out_data: list[bytes] = []
        self.err_data: list[bytes] = []
        self.modules_data: list[bytes] = []
        self.status: int | None = None
        self.timed_out = False
        self.cpu = 0.0  # s, user + system, once reaped

    @property
    def drained(self) -> bool:
        return self.out is None and self.err is None and self.modules is None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process, from /proc (None where there is none)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _command_path(argv: list[str]) -> tuple[str, ...]:
    """The words before the first flag (`compute url-maps list`, `secrets versions access latest`).

    Commands of one path load the same modules. It may include a positional
    argument (`sql instances describe DB`): without gcloud's command tree
    (whose loading is the cost being saved) the two cannot be told apart, and
    a path with a different argument only learns again, cheaply, from warm
    modules.
    """
    words = []
    for word in argv:
        if word.startswith("-"):
            break
        words.append(word)
    return tuple(words) or ("",)


def _run_child(zygote: Zygote, request: dict[str, Any], out_w: int, err_w: int, mod_w: int) -> None:
    code = 70
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        os.close(zygote.requests_fd)
        os.close(zygote.replies.fileno())
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        report = _ModuleReport(mod_w, patterns=request["path"] not in zygote.warm)
        code = _execute(zygote.entry, zygote.gcloud_main, zygote.cli, request["argv"])
        report.send()
    finally:
        os._exit(code)


class _ModuleReport:
    """Tells the zygote which modules this child imported (at its first connection, and at exit),
    and with `patterns`, which regular expressions it compiled."""

    def __init__(self, fd: int, patterns: bool) -> None:
        import socket

        self.fd = fd
        # A count, not a copy of sys.modules' names: building that set wrote to the page of each of
        # its ~4,000 names (reference counts), ~480 copy-on-write page faults and ~1.5 ms of CPU in
        # every child, measured on gcloud 528. New modules are the last ones sys.modules holds.
        self.known = len(sys.modules)
        # Only a command whose path is not warm yet: copying the ~200 keys of re's cache costs
        # ~150 page copies and ~0.5 ms (measured), and a warm path's patterns were reported by its first.
        self.patterns = set(_regex_cache()) if patterns else None
        self.connected = False
        connect = socket.socket.connect
        report = self

        def first_connect_reports(sock: Any, *args: Any, **kwargs: Any) -> Any:
            if not report.connected:
                report.connected = True
                report.send()
            return connect(sock, *args, **kwargs)

        socket.socket.connect = first_connect_reports  # type: ignore[method-assign]

    def send(self) -> None:
        lines = self._new_modules()
        if self.patterns is not None:
            patterns = [key for key in _regex_cache() if key not in self.patterns]
            self.patterns.update(patterns)
            lines += [_PATTERN + _encode_pattern(pattern, flags) for _, pattern, flags in patterns]
        data = ("\n".join(lines) + "\n\n").encode("utf-8")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:  # the zygote gave up on this child (timeout): nothing to tell
            pass

    def _new_modules(self) -> list[str]:
        """The modules imported since the last report: sys.modules keeps insertion order.

        A module removed meanwhile hides as many new ones from the report: it is advice (the
        zygote skips what it has), and a module it misses is only imported by each child.
        """
        count = len(sys.modules)
        new: list[str] = []
        if count > self.known:
            try:
                new = list(itertools.islice(reversed(sys.modules), count - self.known))[::-1]
            except RuntimeError:  # another thread imported meanwhile: tell the rest next time
                return []
        self.known = count
        return new


# A report's line for a compiled pattern; no module name has a space.
_PATTERN = "re "
# re.compile as the standard library has it: gcloud replaces it (core/util/lazy_regex.py) with one
# that returns an uncompiled stand-in for the patterns it lists, compiled by each child on first use.
_COMPILE = re.compile


def _regex_cache() -> list[tuple[Any, Any, int]]:
    """The keys of `re`'s cache of compiled patterns, (type, pattern, flags), as CPython 3.8-3.13 keep them."""
    cache = getattr(re, "_cache", None)
    if not isinstance(cache, dict):
        return []
    return [key for key in list(cache)
            if isinstance(key, tuple) and len(key) == 3 and key[0] in (str, bytes) and isinstance(key[2], int)]


def _encode_pattern(pattern: str | bytes, flags: int) -> str:
    if isinstance(pattern, bytes):
        return json.dumps(["bytes", pattern.decode("latin-1"), flags])
    return json.dumps(["str", pattern, flags])


def _decode_pattern(text: str) -> tuple[str | bytes, int] | None:
    try:
        kind, pattern, flags = json.loads(text)
        return (pattern.encode("latin-1") if kind == "bytes" else pattern), int(flags)
    except (ValueError, TypeError, UnicodeEncodeError):
        return None


def _compile_quietly(pattern: str | bytes, flags: int) -> None:
    """Put a pattern a child compiled into `re`'s cache, so the next children find it there.

    Each warm gcloud 528 child compiled ~15 patterns (its parser's, its printer's, its resource
    parser's): ~2 ms of its ~33 ms of CPU, measured. Compiling is pure (the same pattern object,
    nothing printed), except where the pattern warns (FutureWarning "Possible nested set"): the
    command must print that warning itself, so such a pattern is left out, and `warnings.warn`
    is swapped rather than its filters changed (changing them would reset the registries that
    keep a warning to once per place, in the children too).
    """

    def refuse(*_: Any, **__: Any) -> None:
        raise _Warned()

    saved = warnings.warn
    warnings.warn = refuse
    try:
        _COMPILE(pattern, flags)
    except Exception:  # _Warned, or a pattern that only compiles in its context: the child compiles it
        pass
    finally:
        warnings.warn = saved


class _Warned(Exception):
    pass


def _execute(entry: Any, gcloud_main: Any, cli: Any, argv: list[str]) -> int:
    """What `gcloud ARGV` does after start-up, ending as the process would end."""
    import atexit
    import traceback

    sys.argv = [entry.__file__] + list(argv)
    code = 0
    try:
        try:
            # lib/gcloud.py: sys.exit(gcloud_main.main()); gcloud_main's
            # __main__ turns a KeyboardInterrupt into its own message.
            try:
                code = _exit_code(gcloud_main.main(gcloud_cli=cli))
            except KeyboardInterrupt:
                from googlecloudsdk.core.util import keyboard_interrupt

                keyboard_interrupt.HandleInterrupt()
        except SystemExit as exc:
            code = _exit_code(exc.code)
        atexit._run_exitfuncs()
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return code


def _exit_code(value: object) -> int:
    """The process exit status Python gives sys.exit(value)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    sys.stderr.write("%s\n" % (value,))
    return 1


def _find_prctl() -> Any:
    """Linux's prctl, found once in the zygote: each child searching libc for it cost ~0.2 ms (measured)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL: Any = None


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the zygote dies, so no command outlives a kill."""
    if _PRCTL is None:  # not Linux
        return
    pr_set_pdeathsig = 1
    _PRCTL(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the zygote died before prctl took effect
        os._exit(137)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
