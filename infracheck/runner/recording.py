"""Recorded outcomes on disk: replay a scenario folder, or record a live run into one.

A scenario folder holds, per command, what gcloud printed:
`NAME.json` (stdout, verbatim), and for a command that failed `NAME.stderr`
and `NAME.exit`. NAME is derived from the argv (see `name_for`), so a folder
is readable and greppable. Secret payloads are masked on the way in so that a
replay gives the same verdicts without the value ever touching the disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import binascii
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infracheck import __version__, redact
from infracheck.rules.values import each_leaf
from infracheck.timeutil import parse_rfc3339
from infracheck.model import CannotRun, CommandError, ErrorKind, Outcome, Report

if TYPE_CHECKING:
    from infracheck.plan import Plan

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


# Failures that produced no output to replay (a missing journey credential is the environment's, not the stack's).
_NOTHING_PRINTED = (ErrorKind.TIMEOUT, ErrorKind.INTERRUPTED, ErrorKind.MISSING_CREDENTIAL, ErrorKind.NOT_RECORDED)


class RecordingError(CannotRun):
    """A scenario folder that cannot be read or written."""


def name_for(argv: tuple[str, ...]) -> str:
    """A stable, readable file stem for argv (`--format=json` is implied)."""
    tokens = [t for t in argv if t != "--format=json"]
    stem = _UNSAFE.sub("_", " ".join(tokens)).strip("_")
    if len(stem) > 180:
        digest = hashlib.sha256(" ".join(argv).encode()).hexdigest()[:12]
        stem = f"{stem[:160]}_{digest}"
    return stem


def check_folder(directory: Path) -> None:
    """Refuse what is not a readable recording folder before anything runs."""
    if directory.is_file():
        raise RecordingError(f"replay folder '{directory}' is a file; --replay takes the folder `record` wrote")
    if not directory.is_dir():
        raise RecordingError(f"replay folder '{directory}' does not exist")
    for entry in directory.iterdir():
        if not (_regular(entry) or entry.is_dir()):  # reading a FIFO would wait forever
            raise RecordingError(f"replay folder '{directory}' holds '{entry.name}', which is not a regular file")


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode) or (path.is_symlink() and path.is_file())
    except OSError:
        return False


META = "recording.json"


def metadata(directory: Path) -> dict[str, Any]:
    """The folder's recording.json (when, what project, which selection), or {} if it has none."""
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def recorded_at(directory: Path) -> dt.datetime | None:
    """When the folder was recorded (dates are judged as of then), if it says."""
    try:
        return parse_rfc3339(metadata(directory)["recorded_at"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def recorded_selection(directory: Path) -> tuple[list[str], list[str]]:
    """The --include/--exclude globs the folder was recorded with (a replay uses them by default)."""
    meta = metadata(directory)
    globs = [meta.get(key) for key in ("include", "exclude")]
    include, exclude = ([str(g) for g in value] if isinstance(value, list) else [] for value in globs)
    return include, exclude


def check_project(directory: Path, project: str, region: str | None = None) -> None:
    """A recording answers only for the project (and region) it was recorded from: say so once, not once per command."""
    meta = metadata(directory)
    recorded = meta.get("project")
    if isinstance(recorded, str) and recorded != project:
        raise RecordingError(
            f"'{directory}' is a recording of project {recorded}, so it has nothing for project {project}; "
            f"replay it without --project, or record {project}"
        )
    # Its regional commands carry its region in their argv: another region's would find only
    # the global ones (a mixed verdict of one region's load balancer and nothing else).
    recorded = meta.get("region")
    if region is not None and isinstance(recorded, str) and recorded != region:
        raise RecordingError(
            f"'{directory}' is a recording of region {recorded}, so it has nothing for region {region}; "
            f"replay it without --region, or record {region}"
        )


def prepare(directory: Path, force: bool, fleet: bool = False) -> None:
    """Refuse, before a live run, a folder a recording could not cleanly replace.

    `fleet`: the folder of a fleet's recordings, one per target (DIRECTORY/<target>/); with --force,
    everything in it must be an earlier recording.
    """
    if directory.exists() and not directory.is_dir():
        raise RecordingError(f"cannot record into '{directory}': it is a file")
    if not directory.is_dir() or not any(directory.iterdir()):
        return
    if not force:
        raise RecordingError(f"cannot record into '{directory}': the folder is not empty "
                             f"(--force replaces {'earlier recordings' if fleet else 'an earlier recording'})")
    for entry in directory.iterdir() if fleet else (directory,):
        if not (entry / META).is_file():
            what = f"'{entry.name}' is not a recording" if fleet else f"it holds no {META}, so it is not a recording"
            raise RecordingError(f"cannot record into '{directory}': {what} --force may replace"
                                 + (" (a fleet's folder holds one recording per target)" if fleet else ""))


def clock(replay_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> dt.datetime:
    """The time a run is judged as of: INFRACHECK_NOW (tests, reproducing a past run) > a replay's recording time > now."""
    env = os.environ if environ is None else environ
    pinned = env.get("INFRACHECK_NOW")
    if pinned:
        try:
            return parse_rfc3339(pinned)
        except ValueError:
            raise CannotRun(f"INFRACHECK_NOW '{pinned}' is not an ISO 8601 time") from None
    recorded = recorded_at(replay_dir) if replay_dir is not None else None
    return recorded or dt.datetime.now(dt.timezone.utc)


def replay(directory: Path, argv: tuple[str, ...]) -> tuple[int | None, str, str] | None:
    """(exit code, stdout, stderr) as recorded for argv, or None if never recorded."""
    stem = directory / name_for(argv)
    out, err, code = (stem.with_name(stem.name + s) for s in (".json", ".stderr", ".exit"))
    if not (out.exists() or err.exists() or code.exists()):
        return None
    for path in (out, err, code):
        if path.exists() and not path.is_file():
            raise RecordingError(f"{path}: not a regular file")
    try:
        stdout = out.read_text(encoding="utf-8") if out.exists() else ""
        stderr = err.read_text(encoding="utf-8") if err.exists() else ""
        exit_code = int(code.read_text().strip()) if code.exists() else 0
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{stem}: unreadable recording: {exc}") from None
    return exit_code, stdout, stderr


def not_recorded(directory: Path, argv: tuple[str, ...], metrics_read: bool = True) -> Outcome:
    """What a replay says of an argv the folder lacks; `metrics_read` False: the folder holds no metrics
    query at all (it was recorded before infracheck read Cloud Monitoring), which is no failure of the stack."""
    if not metrics_read:
        return Outcome(argv, None, 0.0, error=CommandError(
            ErrorKind.NOT_RECORDED, f"not in this recording ({directory} holds no Cloud Monitoring reads)"))
    return Outcome(argv, None, 0.0, error=CommandError(
        ErrorKind.API_ERROR,
        f"no recording in {directory} (expected {name_for(argv)}.json); record it with infracheck record",
    ))


def save(
    directory: Path,
    report: Report,
    sensitive: Iterable[tuple[str, ...]],
    now: dt.datetime,
    selection: tuple[Sequence[str], Sequence[str]] = ((), ()),
    tracks: Mapping[str, str] | None = None,
    *,
    scrub: Callable[[str], str],
) -> int:
    """Record a finished run into a folder `prepare` accepted, replacing an earlier recording whole.

    The selection (--include/--exclude) is kept, so a replay judges what was recorded, and so are the
    release tracks gcloud's commands ran on (tracks.py), so a replay asks for the same argv.
    Every file's text goes through `scrub` (the run's secret values).
    """
    meta: dict[str, Any] = {"recorded_at": now.isoformat(timespec="seconds"), "infracheck": __version__,
                            "project": report.project, "region": report.region}
    if tracks:
        meta["tracks"] = dict(sorted(tracks.items()))
    include, exclude = selection
    if include:
        meta["include"] = list(include)
    if exclude:
        meta["exclude"] = list(exclude)
    try:
        if (directory / META).is_file():
            shutil.rmtree(directory)  # prepare() allowed it: an earlier recording, replaced whole
        return record(directory, report.outcomes, set(sensitive), meta, scrub)
    except OSError as exc:
        raise RecordingError(f"cannot record into {directory}: {exc.strerror}") from None


def record(
    directory: Path,
    outcomes: Iterable[Outcome],
    sensitive: set[tuple[str, ...]],
    meta: dict[str, Any],
    scrub: Callable[[str], str] = str,
) -> int:
    """Write each outcome; secret payloads masked, texts `scrub`bed. Returns the number of files written."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written = 1
    for outcome in outcomes:
        if outcome.error is not None and outcome.error.kind in _NOTHING_PRINTED:
            continue  # nothing gcloud printed; a replay would lie about it
        stem = directory / name_for(outcome.argv)
        for suffix in (".json", ".stderr", ".exit"):
            stem.with_name(stem.name + suffix).unlink(missing_ok=True)
        if outcome.document is not None:
            document = mask_document(outcome.document) if outcome.argv in sensitive else outcome.document
            if outcome.argv[:3] == LOG_READ:
                document = redact_log_entries(document)
            # gcloud's --format=json: two-space indent, keys sorted.
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            if outcome.argv not in sensitive:
                # A masked payload is already no value; when a value is its own mask (a
                # recording of a recording replayed live), scrubbing it would break the replay.
                text = scrub(text)
            stem.with_name(stem.name + ".json").write_text(text, encoding="utf-8")
            written += 1
        # A failure's stderr is what a replay classifies; a success's is kept
        # (compute's warnings) except for secrets, where nothing extra is kept.
        if outcome.error is not None or (outcome.stderr and outcome.argv not in sensitive):
            stem.with_name(stem.name + ".stderr").write_text(scrub(outcome.stderr), encoding="utf-8")
            written += 1
        if outcome.exit_code not in (0, None):
            stem.with_name(stem.name + ".exit").write_text(f"{outcome.exit_code}\n")
            written += 1
    return written


# --- masking -----------------------------------------------------------------

# Shapes that rules recognise and that carry no secret themselves.
_PREFIXES = ("sk-ant-", "sk-proj-", "sk-", "GOCSPX-")
_SUFFIXES = (".apps.googleusercontent.com",)
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*://)")


def mask(value: str) -> str:
    """Replace every letter and digit by one of its class, keeping the value's shape.

    Kept: punctuation, length, URL schemes, and known key prefixes/suffixes, so
    a valid `postgresql+asyncpg://user:pass@host/db` stays valid and a
    32-character JWT secret stays 32 characters long.
    """
    head = next((p for p in _PREFIXES if value.startswith(p)), "")
    tail = next((s for s in _SUFFIXES if value.endswith(s) and len(value) > len(head) + len(s)), "")
    middle = value[len(head): len(value) - len(tail)]
    parts = _SCHEME.split(middle)
    masked = "".join(p if i % 2 else _mask_chars(p) for i, p in enumerate(parts))
    return head + masked + tail


def _mask_chars(text: str) -> str:
    return "".join(
        "0" if c.isdigit() else "x" if c.islower() else "X" if c.isupper() else c for c in text
    )


# `gcloud logging read` prints what the services wrote, which may be a secret.
LOG_READ = ("gcloud", "logging", "read")
# The fields of a LogEntry that carry the application's own text.
_LOG_TEXT_FIELDS = ("textPayload", "jsonPayload", "protoPayload", "httpRequest", "labels")


def redact_log_entries(document: Any) -> Any:
    """Log entries with every secret-shaped string of their payloads redacted (names and times kept).

    A message keeps only its first line, which is all a rule shows (a stack
    trace's later lines can quote anything); replays judge the same.
    """
    if not isinstance(document, list):
        return document
    entries = []
    for entry in document:
        if isinstance(entry, dict):
            entry = {k: each_leaf(v, _redact_string) if k in _LOG_TEXT_FIELDS else v for k, v in entry.items()}
            if isinstance(entry.get("textPayload"), str):
                entry["textPayload"] = _first_line(entry["textPayload"])
            payload = entry.get("jsonPayload")
            if isinstance(payload, dict) and isinstance(payload.get("message"), str):
                entry["jsonPayload"] = {**payload, "message": _first_line(payload["message"])}
        entries.append(entry)
    return entries


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def mask_document(document: Any) -> Any:
    """A `secrets versions access` document with its payload masked and CRC redone."""
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        return document
    payload = dict(document["payload"])
    data = payload.get("data")
    if isinstance(data, str):
        try:
            raw = base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "==")
            masked = mask(raw.decode("utf-8")).encode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            masked = b"x" * 16  # binary payload: nothing rules could read anyway
        payload["data"] = base64.urlsafe_b64encode(masked).decode("ascii")
        payload["dataCrc32c"] = str(crc32c(masked))
    return {**document, "payload": payload}


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Secret Manager's dataCrc32c carries it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _redact_string(value: Any) -> Any:
    return redact.redact(value) if isinstance(value, str) else value


def recorded_only(planned: Plan, directory: Path) -> Plan:
    """A folder recorded before infracheck read Cloud Monitoring has no load to replay: its load checks are
    left out with one note, not reported as failures of the stack nor as one skip each. So are the
    monitoring area's checks (uptime checks, alert policies) in a folder recorded before that area existed."""
    from infracheck import plan
    from infracheck.catalog.monitoring import QUERY

    if not any(directory.glob(name_for(QUERY) + "*")):
        planned = plan.without(planned, lambda c: any(s[:2] == QUERY for s in c.sources),
                               "Load (Cloud Monitoring) not judged: this recording holds none of its reads")
    watched = [c for c in planned.checks if c.area == "monitoring"]
    if watched and not any(replay(directory, s) is not None for c in watched for s in c.sources):
        planned = plan.without(planned, lambda c: c.area == "monitoring",
                               "Monitoring in place not judged: this recording holds no uptime checks "
                               "or alert policies")
    return planned
