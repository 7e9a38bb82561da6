"""Cloud Monitoring time series as source documents: `monitoring timeseries --project=P ...` -> Outcome.

gcloud has no command that reads time series (`gcloud monitoring` is
dashboards, snoozes, uptime), so this reader borrows gcloud's identity and
settings: `gcloud config config-helper --format=json`, run by the run stage's
own engine like every gcloud command (file logging off: with it on, gcloud
copies the token into its log file), gives the access token and the effective
properties; infracheck then calls Monitoring v3 `projects.timeSeries.list`
itself, honouring exactly those: `api_endpoint_overrides.monitoring`,
`proxy.*` and `core.custom_ca_certs_file`.

The HTTP client is the standard library's urllib: it tunnels HTTPS through an
HTTP proxy (CONNECT), takes an SSL context for the CA file, and adds neither a
dependency nor import time to runs that read no metric (one GET per page is
all a query needs; httpx or requests would bring connection pools we would not
use).

The token is a secret like a secret's value: it lives in `Credentials` (its
repr hides it), goes only into the Authorization header, and nothing here
quotes a request header. A failed call becomes what gcloud would have printed
(`ERROR: (monitoring.timeSeries.list) STATUS: message`, exit 1), so
`gcloud.classify` judges it, `record` writes it and a replay reads it back the
same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from infracheck import __version__
from infracheck.catalog.monitoring import QUERY, Query, QueryError, describe, parse, seconds
from infracheck.model import CommandError, ErrorKind, Outcome

CONFIG_HELPER = ("gcloud", "config", "config-helper", "--format=json")
DEFAULT_ENDPOINT = "https://monitoring.googleapis.com/"
METHOD = "monitoring.timeSeries.list"  # how gcloud would name the call in its errors

# gcloud (apitools) retries 5xx answers with exponential backoff; so do we, within the deadline. A 429
# (docs/gcloud.md, "429 RESOURCE_EXHAUSTED") waits the Monitoring API's pause and draws on the run's
# budget of retries per API, as a gcloud command's does (quota.py): a fleet's hundreds of reads of one
# throttled API retry ten times in all, not three times each.
_RETRY_STATUS = {500, 502, 503, 504}
_ATTEMPTS = 3
_BACKOFF_S = 1.0
_API = "monitoring"
_MIN_ATTEMPT = 1.0  # s a retry needs before the deadline to be worth sending
# Reads in flight at once: a run's ~20 reads are far from Monitoring's per-minute read quota, and
# each waits mostly on the network.
MAX_CONCURRENT = 8


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What config-helper said: the token (never shown) and where and how to call the API."""

    token: str = dataclasses.field(repr=False)
    expiry: dt.datetime | None
    endpoint: str
    proxy: str | None  # http://[user:pass@]host:port, or None for a direct connection
    cafile: str | None

    def __str__(self) -> str:  # an f-string of this object must never print the token
        return f"Credentials(endpoint={self.endpoint}, proxy={'set' if self.proxy else 'none'})"


class SettingsError(Exception):
    """config-helper's answer cannot be used; the message names why (never the token)."""


def credentials(document: Any) -> Credentials:
    """Credentials from `gcloud config config-helper --format=json`'s document."""
    if not isinstance(document, dict):
        raise SettingsError("gcloud config config-helper printed no object")
    credential = document.get("credential") or {}
    token = credential.get("access_token") if isinstance(credential, dict) else None
    if not isinstance(token, str) or not token:
        raise SettingsError("gcloud has no access token: run gcloud auth login")
    properties = (document.get("configuration") or {}).get("properties") or {}
    endpoint = (properties.get("api_endpoint_overrides") or {}).get("monitoring") or DEFAULT_ENDPOINT
    if not str(endpoint).startswith(("http://", "https://")):
        raise SettingsError(f"api_endpoint_overrides/monitoring '{endpoint}' is not an http(s) URL")
    proxy = _proxy(properties.get("proxy") or {})
    cafile = (properties.get("core") or {}).get("custom_ca_certs_file") or None
    expiry = None
    raw_expiry = credential.get("token_expiry")
    if isinstance(raw_expiry, str):
        try:
            expiry = dt.datetime.fromisoformat(raw_expiry.replace("Z", "+00:00"))
        except ValueError:
            expiry = None
    return Credentials(token=token, expiry=expiry, endpoint=str(endpoint), proxy=proxy, cafile=cafile)


def _proxy(settings: dict[str, Any]) -> str | None:
    address, port = settings.get("address"), settings.get("port")
    if not address:
        return None
    kind = str(settings.get("type") or "http")
    if kind not in ("http", "http_no_tunnel"):
        # gcloud speaks SOCKS through PySocks; the standard library does not.
        raise SettingsError(f"proxy/type {kind} is not supported for Monitoring reads (only http)")
    user, password = settings.get("username"), settings.get("password")
    auth = ""
    if user:
        auth = urllib.parse.quote(str(user), safe="") + (":" + urllib.parse.quote(str(password), safe="")
                                                         if password else "") + "@"
    return f"http://{auth}{address}:{port or 80}"


# --- the client ---------------------------------------------------------------------------------

GcloudRun = Callable[[tuple[str, ...]], Outcome]


class Reader:
    """Answers metrics queries for one run: config-helper once (again when the token expires), then HTTP.

    `run_gcloud` runs a gcloud argv the way the run stage runs every command
    (warm engine or process); `clock` is the time windows end at;
    `sleep` waits between retries (tests pass a fake).
    """

    def __init__(self, run_gcloud: GcloudRun, timeout: float, clock: Callable[[], dt.datetime],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._run_gcloud, self._timeout, self._clock, self._sleep = run_gcloud, timeout, clock, sleep
        self._lock = threading.Lock()
        self._settings_lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._failure: Outcome | None = None
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        self._started: dict[tuple[str, ...], tuple[threading.Event, list[Outcome]]] = {}

    def start(self, argvs: Sequence[tuple[str, ...]]) -> None:
        """Begin these reads now, beside the gcloud commands: the run's workers only collect them.

        Each read is consumed once (a watch cycle that asks again reads again);
        daemon threads, so Ctrl-C never waits on a read.
        """
        for argv in dict.fromkeys(argvs):
            with self._lock:
                if argv in self._started:
                    continue
                done = threading.Event()
                box: list[Outcome] = []
                self._started[argv] = (done, box)
            threading.Thread(target=self._background, args=(argv, done, box), daemon=True,
                             name="infracheck-metrics").start()

    def _background(self, argv: tuple[str, ...], done: threading.Event, box: list[Outcome]) -> None:
        try:
            box.append(self._read_now(argv))
        except Exception as exc:  # a bug of ours costs this read, never the run
            box.append(Outcome(argv, None, 0.0, error=CommandError(
                ErrorKind.API_ERROR, f"internal error: {type(exc).__name__}")))
        finally:
            done.set()

    def _settings(self, argv: tuple[str, ...]) -> Credentials | Outcome:
        with self._settings_lock:  # one config-helper for every query of the run
            now = dt.datetime.now(dt.timezone.utc)
            fresh = self._credentials is not None and (
                self._credentials.expiry is None or self._credentials.expiry - now > dt.timedelta(minutes=1))
            if fresh:
                assert self._credentials is not None
                return self._credentials
            if self._failure is not None:
                return dataclasses.replace(self._failure, argv=argv)
            outcome = self._run_gcloud(CONFIG_HELPER)
            if outcome.error is not None:
                # gcloud's own classification (not authenticated, timeout...); its stdout is never kept.
                self._failure = Outcome(argv, outcome.exit_code, outcome.duration_s, error=CommandError(
                    outcome.error.kind, f"gcloud config config-helper: {outcome.error.message}"),
                    stderr=outcome.stderr)
                return dataclasses.replace(self._failure, argv=argv)
            try:
                self._credentials = credentials(outcome.document)
            except SettingsError as exc:
                self._failure = Outcome(argv, 1, outcome.duration_s, error=CommandError(
                    ErrorKind.NOT_AUTHENTICATED if "auth login" in str(exc) else ErrorKind.USAGE, str(exc)),
                    stderr=f"ERROR: (gcloud.config.config-helper) {exc}\n")
                return dataclasses.replace(self._failure, argv=argv)
            return self._credentials

    def __call__(self, argv: tuple[str, ...]) -> Outcome:
        with self._lock:
            started_early = self._started.pop(argv, None)
        if started_early is not None:
            done, box = started_early
            done.wait()
            return box[0]
        return self._read_now(argv)

    def _read_now(self, argv: tuple[str, ...]) -> Outcome:
        started = time.monotonic()
        deadline = started + self._timeout
        try:
            query = parse(argv)
        except QueryError as exc:
            return Outcome(argv, None, 0.0, error=CommandError(ErrorKind.USAGE, str(exc)))
        settings = self._settings(argv)
        if isinstance(settings, Outcome):
            return settings
        with self._slots:
            return self._read(argv, query, settings, started, deadline)

    def _read(self, argv: tuple[str, ...], query: Query, creds: Credentials, started: float,
              deadline: float) -> Outcome:
        base = creds.endpoint.rstrip("/") + f"/v3/projects/{urllib.parse.quote(query.project)}/timeSeries"
        params = query.params(self._clock())
        series: list[Any] = []
        token = ""
        retried: list[float] = []
        while True:
            page = params + ([("pageToken", token)] if token else [])
            url = base + "?" + urllib.parse.urlencode(page)
            answer = self._get(url, creds, deadline, retried)
            if isinstance(answer, str):
                return dataclasses.replace(self._failed(argv, started, answer), retries=len(retried))
            status, body = answer
            if status != 200:
                stderr = _gcloud_error(status, body)
                if status == 429 and len(retried):
                    stderr = stderr.rstrip("\n") + f" (ran {len(retried) + 1} times)\n"
                return dataclasses.replace(_interpret(argv, 1, "", stderr, time.monotonic() - started),
                                           retries=len(retried))
            if not isinstance(body, dict):
                return _interpret(argv, 1, "", f"ERROR: ({METHOD}) Error decoding response\n",
                                        time.monotonic() - started)
            series += body.get("timeSeries") or []
            token = str(body.get("nextPageToken") or "")
            if not token:
                break
        # The API's own shape, pages joined: `timeSeries` absent when nothing matched.
        document = {"timeSeries": series} if series else {}
        stdout = json.dumps(document)
        return dataclasses.replace(_interpret(argv, 0, stdout, "", time.monotonic() - started), retries=len(retried))

    def _failed(self, argv: tuple[str, ...], started: float, why: str) -> Outcome:
        if why == "timeout":
            return Outcome(argv, None, time.monotonic() - started, error=CommandError(
                ErrorKind.TIMEOUT, f"timed out after {self._timeout:g} s"))
        return _interpret(argv, 1, "", f"ERROR: ({METHOD}) {why}\n", time.monotonic() - started)

    def _get(self, url: str, creds: Credentials, deadline: float, retried: list[float]) -> tuple[int, Any] | str:
        """(status, decoded body), or a one-line transport failure ("timeout" when out of time); each 429
        retry the budget granted is appended to `retried` (the read's Outcome counts them)."""
        import ssl  # here: a replay, `list` and `--help` never load the HTTP stack
        import urllib.error
        import urllib.request

        handlers: list[Any] = [
            urllib.request.ProxyHandler({"http": creds.proxy, "https": creds.proxy} if creds.proxy else {})]
        if url.startswith("https://"):
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=creds.cafile)))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, headers={
            "Authorization": f"Bearer {creds.token}", "Accept": "application/json",
            "User-Agent": f"infracheck/{__version__}"})
        from infracheck.runner import gcloud  # the run's shared budget; `list` never loads the run stage

        budget = gcloud.budget()
        attempt = 0
        while True:
            attempt += 1
            # A read that starts while another's 429 paused the API waits that pause (a retry already has).
            held = budget.resume_at(_API) - time.monotonic() if attempt == 1 else 0.0
            if held > 0:
                if time.monotonic() + held >= deadline:
                    return "timeout"
                self._sleep(held)
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            sent = time.monotonic()
            try:
                with opener.open(request, timeout=left) as response:
                    status, raw = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, raw = exc.code, exc.read()
            except (TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                    return "timeout"
                # urllib's reason names the host and the socket error, never a header.
                return f"ConnectionError: could not reach {urllib.parse.urlsplit(url).hostname}: {reason}"
            if status == 429:
                resume, _ = budget.throttled(_API, sent, deadline - _MIN_ATTEMPT)
                if resume is not None:
                    retried.append(resume)
                    self._sleep(max(0.0, resume - time.monotonic()))
                    continue
            else:
                budget.answered(_API)
            if status in _RETRY_STATUS and attempt < _ATTEMPTS:
                pause = _BACKOFF_S * 2 ** (attempt - 1)
                if time.monotonic() + pause < deadline:
                    self._sleep(pause)
                    continue
            try:
                return status, json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return status, None


def _interpret(argv: tuple[str, ...], code: int, stdout: str, stderr: str, duration_s: float) -> Outcome:
    from infracheck.runner import gcloud  # the run stage's classifier; `list` never loads it

    return gcloud.interpret(argv, code, stdout, stderr, duration_s)


def _gcloud_error(status: int, body: Any) -> str:
    """The line gcloud prints for an API error, from Google's JSON error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"ERROR: ({METHOD}) HTTPError {status}\n"
    message = " ".join(str(error.get("message", "")).split())
    code = error.get("status")
    return f"ERROR: ({METHOD}) {code}: {message}\n" if code else f"ERROR: ({METHOD}) HTTPError {status}: {message}\n"




__all__ = ["CONFIG_HELPER", "QUERY", "Credentials", "Query", "QueryError", "Reader", "credentials", "describe",
           "parse", "seconds"]
