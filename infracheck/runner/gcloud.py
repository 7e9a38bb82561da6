"""Run one gcloud argv through `sh` and classify how it failed.

With warm.py, the only importer of `sh` (imported when a gcloud runs).
Classification follows what gcloud 528 really does (measured against a fake
API; docs/gcloud.md, "Exit codes and stderr"): exit 2 is a usage error; exit 1 with
`ERROR: (gcloud.x) STATUS: msg` is an API answer; `gcloud crashed (...)` is
transport trouble; list commands print `[]` *and* exit 1, so the exit code is
read before the output; compute list commands exit 0 on API failures and say
`WARNING: Some requests did not succeed.`, which counts as a failure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from infracheck.model import CannotRun, CommandError, ErrorKind, Outcome
from infracheck.runner import quota

# gcloud waits 300 s per HTTP attempt and retries 5xx up to five times; keep
# each attempt well under our own timeout so gcloud reports the failure itself.
_HTTP_TIMEOUT_SHARE = 0.3

_ALWAYS_ENV = {
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    # Without this gcloud copies --format=json output, a secret's base64
    # included, into its own log file under the config folder.
    "CLOUDSDK_CORE_DISABLE_FILE_LOGGING": "1",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    "CLOUDSDK_CORE_SHOW_STRUCTURED_LOGS": "never",
}

# gcloud keeps its configuration and credentials in SQLite files under the config folder
# (default_configs.db, access_tokens.db, credentials.db). A gcloud that finds one held by another
# gcloud sharing that folder gives up after sqlite's wait (1 s, 5 s) and crashes with this line
# (exit 1). A read is safe to run again: a few times, a moment apart, inside its timeout.
_LOCKED = re.compile(r"^ERROR: gcloud crashed \(OperationalError\): database is locked", re.MULTILINE)
LOCKED_RETRIES = 3
_LOCKED_PAUSE = (0.5, 1.5)  # s, drawn at random: runs that collided once should not collide again
_MIN_ATTEMPT = 2.0  # s left in the timeout for a run to be worth starting (gcloud starts in ~1 s)

# A read answered 429 is run again after a pause shared by its API, within a budget per API shared
# by the whole run (quota.py); gcloud itself sends it once (docs/gcloud.md, "429 RESOURCE_EXHAUSTED").
_BUDGET = quota.Budget()
_TIMED_OUT = re.compile(r"^timed out after [\d.]+ s")

_RUNNING: set[int] = set()  # process group ids of the gcloud runs in flight
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()


class GcloudMissing(CannotRun):
    """gcloud is not on PATH: infracheck cannot run live at all."""


def executable() -> str:
    path = shutil.which("gcloud")
    if path is None:
        raise GcloudMissing(
            "gcloud is not installed or not on PATH; install the Google Cloud CLI "
            "(https://cloud.google.com/sdk/docs/install) or use --replay DIR"
        )
    return path


def environment(timeout: float, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The user's environment (their CLOUDSDK_* settings work) plus our safety settings."""
    env = dict(os.environ if base is None else base)
    env.update(_ALWAYS_ENV)
    env.setdefault("CLOUDSDK_CORE_HTTP_TIMEOUT", str(max(1, int(timeout * _HTTP_TIMEOUT_SHARE))))
    return env


def run(argv: tuple[str, ...], timeout: float, env: Mapping[str, str], *, expect_json: bool = True) -> Outcome:
    """Run argv (argv[0] == 'gcloud') with a hard timeout; never raises for its failures.

    A read that crashed on gcloud's locked config database, or was answered 429, runs again
    (`retrying`); a change (expect_json=False) does not: its failure is reported, and fix mode's
    re-check sees what happened.
    """
    if not expect_json:
        return run_once(argv, timeout, env, expect_json=False)
    return retrying(lambda left: run_once(argv, left, env), timeout, argv)


def new_budget(retries: int = quota.RETRIES, first_pause: float = quota.FIRST_PAUSE,
               max_pause: float = quota.MAX_PAUSE) -> None:
    """Start a new budget of 429 retries per API (and forget the pauses): the pipeline calls it once per
    diagnosis, fleet run, or watch/serve cycle; every command of it, whatever its target, shares it."""
    global _BUDGET
    _BUDGET = quota.Budget(retries, first_pause, max_pause)


def budget() -> quota.Budget:
    """This run's budget of 429 retries per API (the Cloud Monitoring reads of metrics.py draw on it too)."""
    return _BUDGET


def retrying(attempt: Callable[[float], Outcome], timeout: float, argv: tuple[str, ...] = ()) -> Outcome:
    """attempt(seconds left), run again while gcloud crashed on its locked config database or its API
    answered 429 (quota or rate limit exceeded).

    Locked: at most LOCKED_RETRIES more runs, each after a short random pause. 429: after the
    pause of argv's API, while the run's budget for that API lasts (quota.py); a command of an API
    paused by another command's 429 waits that pause before its first run too. All inside `timeout`,
    and Ctrl-C ends a pause at once. The Outcome counts the runs after the first (`retries`), lasts
    as long as all of them, and when it still failed says how many runs it took and why no more.
    """
    started = time.monotonic()
    latest = started + timeout - _MIN_ATTEMPT  # the last moment a run is worth starting
    budget, api = _BUDGET, quota.api_of(argv)
    # Another command found this API over its quota: wait out its pause, as far as the timeout
    # allows (a check always asks once).
    paused = max(0.0, min(budget.resume_at(api), latest) - started)
    if _STOPPING.wait(paused):
        return _failed(argv, None, started, ErrorKind.INTERRUPTED, "interrupted before it started")
    left = timeout - paused  # its own timeout, to the digit, when nothing paused it (the message says it)
    retries = locked_retries = 0
    why_not = ""
    while True:
        since = time.monotonic()
        outcome = attempt(left)
        if exhausted(outcome):
            resume, why_not = budget.throttled(api, since, latest)
        elif locked(outcome) and locked_retries < LOCKED_RETRIES:
            resume = time.monotonic() + random.uniform(*_LOCKED_PAUSE)
            why_not = ""
        else:
            if outcome.error is None:
                budget.answered(api)
            break
        if resume is None or resume > latest:
            if not why_not:
                why_not = f"its {timeout:g} s timeout left no room for another"
            break
        if _STOPPING.wait(max(0.0, resume - time.monotonic())):  # Ctrl-C during the pause: no new run
            break
        retries += 1
        if locked(outcome):
            locked_retries += 1
        left = started + timeout - time.monotonic()
    if outcome.error is not None and outcome.error.kind is ErrorKind.TIMEOUT and left != timeout:
        # Its last run had what the pauses left of the timeout: the command as a whole had its --timeout.
        outcome = dataclasses.replace(outcome, error=CommandError(ErrorKind.TIMEOUT, _TIMED_OUT.sub(
            f"timed out after {timeout:g} s", outcome.error.message, count=1)))
    if not retries and not why_not:
        return outcome
    if (locked(outcome) or exhausted(outcome)) and outcome.error is not None:
        runs = f"ran {retries + 1} times" if retries else "ran once"
        if why_not:
            runs += f"; {why_not}"
        outcome = dataclasses.replace(outcome, error=CommandError(
            outcome.error.kind, f"{outcome.error.message} ({runs})"))
    return dataclasses.replace(outcome, duration_s=time.monotonic() - started, retries=retries)


def locked(outcome: Outcome) -> bool:
    """gcloud crashed because another gcloud held its config folder's database."""
    return outcome.error is not None and outcome.error.kind is ErrorKind.CONFIG_LOCKED


def exhausted(outcome: Outcome) -> bool:
    """The API answered 429: a quota or rate limit exceeded (RESOURCE_EXHAUSTED)."""
    return outcome.error is not None and outcome.error.kind is ErrorKind.QUOTA


def run_once(argv: tuple[str, ...], timeout: float, env: Mapping[str, str], *,
             expect_json: bool = True) -> Outcome:
    """One gcloud process for argv, no retry."""
    import sh  # here, not at the top: a replay or `--help` never pays for it

    started = time.monotonic()
    if _STOPPING.is_set():
        return _failed(argv, None, started, ErrorKind.INTERRUPTED, "interrupted before it started")
    try:
        command = sh.Command(argv[0])
    except sh.CommandNotFound:
        return _failed(argv, None, started, ErrorKind.NOT_INSTALLED,
                       "gcloud is not installed or not on PATH")
    # A new session puts gcloud's wrapper shell and its Python in one process
    # group we can kill as a whole, and keeps a terminal's Ctrl-C for us.
    proc = command(
        *argv[1:],
        _env=dict(env),
        _bg=True,
        _bg_exc=False,
        _new_session=True,
        _tty_out=False,
        _in="",
        _ok_code=list(range(256)),
        _encoding="utf-8",
        _decode_errors="replace",
    )
    with _RUNNING_LOCK:
        _RUNNING.add(proc.pid)
        if _STOPPING.is_set():  # Ctrl-C landed between the check above and the start
            _signal_group(proc.pid)
    try:
        try:
            proc.wait(timeout=timeout)
            # sh's timed wait only polls for the exit; this joins the threads
            # still draining stdout/stderr, or the output comes back short.
            proc.process.wait()
        except sh.TimeoutException:
            _kill(proc)
            return _failed(argv, None, started, ErrorKind.TIMEOUT,
                           f"timed out after {timeout:g} s (gcloud and its children were stopped)")
        except sh.SignalException:
            pass  # killed by kill_all(); reported as interrupted below
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc.pid)
    code = proc.exit_code
    stdout = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else str(proc.stdout)
    stderr = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else str(proc.stderr)
    if _STOPPING.is_set() and (code is None or code < 0):
        return _failed(argv, code, started, ErrorKind.INTERRUPTED, "interrupted")
    if not expect_json:  # a change (fix mode): success is the exit code, stdout is gcloud's prose
        error = classify(code, stderr)
        return Outcome(argv, code, time.monotonic() - started, error=error, stderr=stderr)
    return interpret(argv, code, stdout, stderr, time.monotonic() - started)


def interpret(
    argv: tuple[str, ...], exit_code: int | None, stdout: str, stderr: str, duration_s: float
) -> Outcome:
    """Turn what gcloud printed into an Outcome (shared with replay)."""
    error = classify(exit_code, stderr)
    if error is None:
        try:
            document = json.loads(stdout, parse_constant=_not_json, parse_float=_finite) if stdout.strip() else None
        except ValueError:
            # Never echo stdout: for `secrets versions access` it is the secret.
            error = CommandError(ErrorKind.INVALID_JSON, "gcloud printed output that is not JSON")
        else:
            if document is not None:
                return Outcome(argv, exit_code, duration_s, document=document, stderr=stderr)
            error = CommandError(ErrorKind.INVALID_JSON, "gcloud printed nothing")
    return Outcome(argv, exit_code, duration_s, error=error, stderr=stderr)


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (and gcloud) has neither.
    raise ValueError(constant)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        raise ValueError(text)
    return number


# Ordered: the first pattern that matches stderr decides.
_CLASSES: tuple[tuple[ErrorKind, re.Pattern[str], str], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE | re.MULTILINE), advice)
    for kind, pattern, advice in (
        # First: gcloud crashed on its own files, whatever else stderr holds.
        (ErrorKind.CONFIG_LOCKED, _LOCKED.pattern,
         "another gcloud held gcloud's config folder database (parallel runs sharing one "
         "CLOUDSDK_CONFIG): give each parallel run its own copy of the config folder "
         "(CLOUDSDK_CONFIG=DIR) or run them one after another"),
        (ErrorKind.NOT_AUTHENTICATED,
         r"do not currently have an active account|UNAUTHENTICATED|Reauthentication|"
         r"problem refreshing your current auth tokens|invalid_grant|auth login",
         "not authenticated: run gcloud auth login"),
        (ErrorKind.API_DISABLED,
         r"SERVICE_DISABLED|has not been used in project|API has not been used|it is disabled",
         "the API is disabled in this project"),
        (ErrorKind.NOT_FOUND_OR_DENIED,
         r"There was no instance found at .* or you are not authorized",
         "not found, or you are not allowed to see it (a disabled Cloud SQL Admin API "
         "reads the same)"),
        (ErrorKind.PERMISSION_DENIED,
         r"PERMISSION_DENIED|does not have permission|Required '[^']+' permission|"
         r"Permission '[^']+' denied|HTTPError 403|"
         r"forbidden",
         "permission denied"),
        (ErrorKind.NOT_FOUND,
         r"NOT_FOUND|HTTPError 404|Cannot find service|was not found|does not exist",
         "not found"),
        (ErrorKind.QUOTA,
         r"RESOURCE_EXHAUSTED|HTTPError 429|Quota exceeded|rateLimitExceeded|Too Many Requests",
         "quota or rate limit exceeded: retry in a minute"),
        (ErrorKind.SERVER,
         r"HttpError accessing|HTTPError 5\d\d|UNAVAILABLE|INTERNAL:|backendError|"
         r"Internal error encountered|Backend Error|service is currently unavailable",
         "Google API server error: retry in a minute"),
        (ErrorKind.INVALID_JSON,
         r"InvalidDataFromServerError|Error decoding response",
         "the API answered with data gcloud could not decode: retry"),
        (ErrorKind.TRANSPORT,
         r"gcloud crashed \((?:ProxyError|ConnectionError|ReadTimeout|ConnectTimeout|"
         r"SSLError|NameResolutionError|Timeout)|"
         # infracheck's own Monitoring reads (metrics.py) say so in gcloud's words.
         r"^ERROR: \(monitoring\.timeSeries\.list\) ConnectionError",
         "could not reach Google APIs (network, proxy or DNS trouble): check connectivity and retry"),
    )
)


def classify(exit_code: int | None, stderr: str) -> CommandError | None:
    """None when the command succeeded; else the kind and one actionable line."""
    partial = re.search(r"^WARNING: Some requests did not succeed", stderr, re.MULTILINE)
    if exit_code == 0 and not partial:
        return None
    detail = _detail(stderr)
    if exit_code == 2:
        return CommandError(ErrorKind.USAGE,
                            f"gcloud rejected the command line (exit 2; gcloud too old?): {detail}")
    for kind, pattern, advice in _CLASSES:
        if pattern.search(stderr):
            return CommandError(kind, f"{advice}: {detail}" if detail else advice)
    if partial:
        return CommandError(ErrorKind.API_ERROR, f"some requests did not succeed: {detail}")
    return CommandError(ErrorKind.API_ERROR, f"gcloud failed (exit {exit_code}): {detail or 'no message'}")


# gcloud's lines and sentences that say nothing a user must act on (docs/gcloud.md, "Messages worth knowing").
_NOISE_LINE = re.compile(r"^WARNING: The following filter keys were not present in any resource")
_NOISE_SENTENCE = re.compile(r"[ \t]*This command is authenticated (?:with|as) [^\n]*")


def _detail(stderr: str) -> str:
    """gcloud's own message in one short line, without the command prefix or gcloud's boilerplate."""
    stderr = _NOISE_SENTENCE.sub("", stderr)
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not _NOISE_LINE.match(ln.strip())]
    picked = next((ln for ln in lines if ln.startswith("ERROR:")), None)
    partial = next((i for i, ln in enumerate(lines) if ln.startswith("WARNING: Some requests")), None)
    if picked is None and partial is not None:
        picked = " ".join(ln.lstrip("- ") for ln in lines[partial + 1:partial + 3])
    if picked is None:
        picked = lines[0] if lines else ""
    picked = re.sub(r"^ERROR:\s*(\(gcloud[.\w-]*\)\s*)?", "", picked)
    # Bodies echoed back by a decoding error could carry a payload: cut them.
    picked = re.sub(r'Error decoding response ".*', "Error decoding response", picked)
    return picked if len(picked) <= 240 else picked[:237] + "..."


def _failed(argv: tuple[str, ...], code: int | None, started: float, kind: ErrorKind, msg: str) -> Outcome:
    return Outcome(argv, code, time.monotonic() - started, error=CommandError(kind, msg))


def _signal_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)  # the session leader's pid is the group id
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc: Any) -> None:
    import sh

    _signal_group(proc.pid)
    try:
        proc.wait()
    except (sh.ErrorReturnCode, sh.SignalException, sh.TimeoutException):
        pass


def kill_all() -> None:
    """Stop every running gcloud and refuse new ones (Ctrl-C)."""
    _STOPPING.set()
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for pgid in running:
        _signal_group(pgid)


def stopping() -> bool:
    """Ctrl-C was pressed: nothing new may start (shared with the warm engine)."""
    return _STOPPING.is_set()


def reset() -> None:
    """Allow runs again after kill_all (tests, watch loops)."""
    _STOPPING.clear()
