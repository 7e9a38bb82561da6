"""Mutes: a mute file (TOML) in, findings marked as accepted out (judge stage).

A mute accepts a known failing finding for a stated reason until a date, so
the team sees it (muted, with why and until when) without it setting the
verdict. It never outlives its date silently: once expired it stops applying
and becomes a WARNING of its own. It never hides a could-not-check.

    [[mute]]
    rule = "vpc.min-instances"        # a rule id or glob
    resource = "staging-connector"    # optional: a resource name or glob
    reason = "one instance on purpose until the January load test"
    owner = "platform-team"           # optional
    expires = 2027-01-31              # at most MAX_DAYS after the run's clock
    target = "staging"                # optional, fleet runs (--targets): a target name or glob

A mute naming a target applies to that target of a fleet run only: in a
single-target run nothing names the stack, so it is left out, never applied
to whichever project the run is on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infracheck.judge import verdict
from infracheck.model import CannotRun, Category, Finding, Mute, Severity, Status

DEFAULT_FILE = ".infracheck-mute.toml"
MAX_DAYS = 90
KEYS = ("rule", "resource", "reason", "owner", "expires", "target")
EXPIRED_RULE = "mute.expired"

# Rule ids are `<area>.<slug>` ([a-z0-9] words joined by '.' or '-'). A rule glob
# that matches all of these, ids as unlike each other as ids can be, matches
# every rule there is or will be ('*', '**', '*.*', '?*', '[a-z0-9]*'...): a mute
# of the whole stack, which would turn any outage HEALTHY.
_ANY_RULES = ("0.0", "a.b-c", "z9-x.y.q", "m.n", "q-1.2-z", "b.x", "k-7.w", "x.0")


class MuteError(CannotRun):
    """A mute file infracheck cannot trust: 'FILE:LINE: what is wrong'."""


@dataclasses.dataclass(frozen=True)
class Applied:
    """Findings with the mutes applied (plus one WARNING per expired mute), and the stale mutes."""

    findings: tuple[Finding, ...]
    stale: tuple[Mute, ...]


def default_file(directory: Path) -> Path | None:
    """The working directory's mute file, when there is one."""
    path = directory / DEFAULT_FILE
    return path if path.is_file() else None


def find(path: Path | None, directory: Path, now: dt.datetime) -> tuple[Mute, ...]:
    """The mutes of `path` (--mute), else of the directory's .infracheck-mute.toml, else none."""
    chosen = path or default_file(directory)
    return load(chosen, now) if chosen is not None else ()


def load(path: Path, now: dt.datetime) -> tuple[Mute, ...]:
    """Read and validate a mute file; `now` is the run's clock (the 90-day limit counts from it)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MuteError(f"{path}: cannot read the mute file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MuteError(f"{path}: the mute file is not UTF-8 text") from None
    return parse(source, str(path), now)


def parse(source: str, name: str, now: dt.datetime) -> tuple[Mute, ...]:
    """Validate the text of a mute file called `name`; every error names the file and the line."""
    import tomllib  # only when there is a mute file to read

    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line L, column C)"; put the line first like every other error.
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = match.group(1) if match else "1"
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) if match else str(exc)
        raise MuteError(f"{name}:{where}: not valid TOML: {problem}") from None
    lines = _Lines(source, name)
    for key in data:
        if key != "mute":
            raise lines.error(lines.top_key(key), f"unknown key '{key}' (a mute file holds [[mute]] entries only)")
    entries = data.get("mute", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise lines.error(lines.top_key("mute"), "'mute' must be a list of tables: write each entry under [[mute]]")
    return tuple(_entry(entry, index, lines, now) for index, entry in enumerate(entries))


def _entry(entry: dict[str, Any], index: int, lines: "_Lines", now: dt.datetime) -> Mute:
    line = lines.entry(index)

    def fail(key: str | None, problem: str) -> MuteError:
        at = lines.key(index, key) if key else line
        return lines.error(at, f"mute entry {index + 1}: {problem}")

    for key in entry:
        if key not in KEYS:
            raise fail(key, f"unknown key '{key}' (allowed: {', '.join(KEYS)})")
    for key in ("rule", "reason", "expires"):
        if key not in entry:
            raise fail(None, f"'{key}' is required")
    for key in ("rule", "resource", "reason", "owner", "target"):
        if key in entry and not isinstance(entry[key], str):
            raise fail(key, f"'{key}' must be a string")
        if key in ("rule", "resource", "reason", "target") and key in entry and not entry[key].strip():
            raise fail(key, f"'{key}' must not be empty")
    rule = entry["rule"].strip()
    if all(fnmatch.fnmatchcase(probe, rule) for probe in _ANY_RULES):
        raise fail("rule", f"rule '{rule}' matches every rule; a mute accepts known findings, not the whole "
                           "stack: name a rule or an area (e.g. 'vpc.*')")
    expires = _date(entry["expires"])
    if expires is None:
        written = lines.value(index, "expires") or repr(entry["expires"])
        raise fail("expires", f"'expires' is not a date: {written} (write it as 2027-01-31)")
    latest = _utc_date(now) + dt.timedelta(days=MAX_DAYS)
    if expires > latest:
        raise fail("expires", f"'expires' {expires} is more than {MAX_DAYS} days after the run's clock "
                              f"({_utc_date(now)}); the latest allowed is {latest}")
    return Mute(
        rule=rule,
        reason=entry["reason"].strip(),
        expires=expires,
        resource=entry["resource"].strip() if "resource" in entry else None,
        owner=entry.get("owner", "").strip(),
        file=lines.name,
        line=line,
        target=entry["target"].strip() if "target" in entry else None,
    )


def _date(value: Any) -> dt.date | None:
    """A TOML date (or an ISO date in quotes); a date with a time of day is ambiguous, so not."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _utc_date(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.timezone.utc).date() if now.tzinfo else now.date()


class _Lines:
    """Line numbers for what tomllib parsed: it gives them for syntax errors only."""

    _HEADER = re.compile(r"\s*\[\[\s*mute\s*\]\]")
    _TABLE = re.compile(r"\s*\[")

    def __init__(self, source: str, name: str):
        self.name = name
        self.text = source.splitlines()
        self.headers = [n for n, text in enumerate(self.text, 1) if self._HEADER.match(text)]

    def error(self, line: int, problem: str) -> MuteError:
        return MuteError(f"{self.name}:{line}: {problem}")

    def entry(self, index: int) -> int:
        """The line of the entry's [[mute]] header (or of the `mute` key for an inline list)."""
        return self.headers[index] if index < len(self.headers) else self.top_key("mute")

    def key(self, index: int, key: str) -> int:
        """The line where entry `index` sets `key`; its header line if it cannot be found."""
        start = self.entry(index)
        pattern = re.compile(rf"""\s*(["']?){re.escape(key)}\1\s*=""")
        for number in range(start + 1, len(self.text) + 1):
            text = self.text[number - 1]
            if self._TABLE.match(text):
                break  # the next table: the key is not on a line of its own
            if pattern.match(text):
                return number
        return start

    def value(self, index: int, key: str) -> str:
        """The value of `key` in entry `index` as the file writes it (a date-time, not its Python repr)."""
        number = self.key(index, key)
        name, sep, rest = self.text[number - 1].partition("=")
        if not sep or key not in name:
            return ""
        rest = rest.strip()
        if rest[:1] in ('"', "'"):
            end = rest.find(rest[0], 1)
            return rest[: end + 1] if end > 0 else rest
        return rest.split("#", 1)[0].strip()

    def top_key(self, key: str) -> int:
        pattern = re.compile(rf"""\s*(\[+\s*)?(["']?){re.escape(key)}\2\s*(=|\])""")
        return next((n for n, text in enumerate(self.text, 1) if pattern.match(text)), 1)


def for_target(mutes: Iterable[Mute], target: str | None) -> tuple[Mute, ...]:
    """The mutes for a fleet's `target` (those naming no target, and those naming it or a glob matching it);
    for a single-target run (None), those naming no target."""
    return tuple(m for m in mutes if m.target is None or
                 (target is not None and fnmatch.fnmatchcase(target, m.target)))


def matches(mute: Mute, finding: Finding) -> bool:
    """The rule id (or glob) matches, and the resource when the mute names one."""
    if not fnmatch.fnmatchcase(finding.rule, mute.rule):
        return False
    return mute.resource is None or fnmatch.fnmatchcase(finding.resource, mute.resource)


def active(mutes: Iterable[Mute], now: dt.datetime) -> tuple[Mute, ...]:
    """The mutes that still apply at `now`: through their `expires` day, not after."""
    today = _utc_date(now)
    return tuple(m for m in mutes if today <= m.expires)


def mute(finding: Finding, mutes: Sequence[Mute]) -> Finding:
    """The finding, muted by the first mute that matches it if it failed (never an ERROR)."""
    if not verdict.counted(finding):
        return finding
    for candidate in mutes:
        if matches(candidate, finding):
            return dataclasses.replace(finding, muted=candidate)
    return finding


def expired(mutes: Iterable[Mute], now: dt.datetime, areas: Iterable[str] = ()) -> tuple[Finding, ...]:
    """One WARNING per mute past its date, in the area its rule id names (`<area>.<slug>`), else 'mute'.

    Known before anything runs, so the streamed area blocks and the final
    report show the same findings.
    """
    today = _utc_date(now)
    known = set(areas)
    return tuple(_expired(m, m.rule.split(".", 1)[0] if m.rule.split(".", 1)[0] in known else "mute")
                 for m in mutes if today > m.expires)


def mute_all(
    results: Mapping[int, Sequence[Finding]], mutes: Sequence[Mute], extra: Sequence[Finding] = ()
) -> dict[int, list[Finding]]:
    """Findings by check index with `mutes` (the active ones) applied, plus `extra` (the expired
    mutes' warnings) under index -1: what is shown while a run goes."""
    shown = {index: [mute(f, mutes) for f in found] for index, found in results.items()}
    return {-1: list(extra), **shown} if extra else shown


def apply(
    findings: Iterable[Finding], mutes: Sequence[Mute], now: dt.datetime, *, complete: bool = True,
    areas: Iterable[str] = (),
) -> Applied:
    """Mute what the active mutes match, add a WARNING per expired mute, list the stale ones.

    A mute is stale when it matches no failing finding; one that matches a
    check that could not run or was not selected may still be needed, and in
    an interrupted run (`complete` False) nothing can be called stale.
    """
    live = active(mutes, now)
    result = tuple(mute(f, live) for f in findings)
    stale = () if not complete else tuple(
        m for m in live if not any(matches(m, f) for f in result if f.status is not Status.PASS)
    )
    return Applied(result + expired(mutes, now, areas), stale)


def _expired(m: Mute, area: str) -> Finding:
    """An expired mute is a WARNING of its own: who accepted what, why, and since when it no longer does.

    It belongs to the area of what it muted, so every format shows it there.
    """
    target = m.rule + (f" on {m.resource}" if m.resource else "")
    who = m.owner or "no owner given"
    return Finding(
        check="mute",
        rule=EXPIRED_RULE,
        area=area,
        status=Status.FAIL,
        severity=Severity.WARNING,
        category=Category.CONFIGURATION,  # a setting in the mute file, not a state of the stack
        resource=f"{m.file}:{m.line}",
        message=f"Mute of {target} expired on {m.expires} ({who}: {m.reason}); its findings count again",
        expected="a mute whose expires is on or after the run's date",
        remedy=f"Fix what it muted, or set a new 'expires' (at most {MAX_DAYS} days ahead) in {m.file} line {m.line}",
    )
