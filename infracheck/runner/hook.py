"""Run the --on-change hook: one argv (no shell), bounded by a timeout, its failure returned as a line.

With gcloud.py and warm.py, the only importer of `sh`. The hook is the
user's command (`gh issue comment`, a chat webhook, a pager): infracheck
owns none of their APIs, only the call and its limit.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from infracheck import redact


def check(argv: Sequence[str]) -> str | None:
    """Why argv cannot run (empty, not found), or None: said before the watch starts."""
    if not argv:
        return "no command given"
    if shutil.which(argv[0]) is None:
        return f"'{argv[0]}' is not an executable file or on PATH"
    return None


def run(argv: Sequence[str], timeout: float, extra_env: Mapping[str, str]) -> str | None:
    """Run argv to its end or `timeout`; None when it exits 0, else one line saying what went wrong."""
    import sh  # here: a watch without --on-change never loads it

    try:
        command = sh.Command(argv[0])
    except sh.CommandNotFound:
        return f"'{argv[0]}' is not found"
    # Its own session, so a timeout kills the hook and whatever it started (curl, gh), and a
    # terminal's Ctrl-C stays ours.
    proc = command(*argv[1:], _env={**os.environ, **extra_env}, _bg=True, _bg_exc=False, _new_session=True,
                   _tty_out=False, _in="", _ok_code=list(range(256)), _encoding="utf-8", _decode_errors="replace")
    try:
        proc.wait(timeout=timeout)
        proc.process.wait()
    except sh.TimeoutException:
        _stop(proc)
        return f"timed out after {timeout:g} s (stopped)"
    except sh.SignalException as exc:
        return f"killed by a signal ({exc})"
    except BaseException:  # Ctrl-C while it runs: the hook goes with the watch
        _stop(proc)
        raise
    code = proc.exit_code
    if code == 0:
        return None
    stderr = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else str(proc.stderr)
    said = redact.excerpt(stderr, 200)
    return f"exit {code}" + (f": {said}" if said else "")


def _stop(proc: Any) -> None:
    """Kill the hook's whole process group (the session leader's pid is its id) and reap it."""
    import sh

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait()
    except (sh.ErrorReturnCode, sh.SignalException, sh.TimeoutException):
        pass


__all__ = ["check", "run"]
