"""The targets file (many stacks in one fleet): load and validate it, select targets, and cut this shard's slice.

A target is what one single-target run is given: `infracheck diagnose
--project P --region R [--profile F] [--set NAME=VALUE ...]`, under a name
(which becomes a folder name) and tags to select it by. Every value is
checked here as the profile checks a flag (commands/profile.toml's
[patterns]), so a typo in target 40 of 200 is one line naming the file and
line before anything runs.

Shards split the selected targets between machines: by `--shard I/N`, or
by the engine's own variables (Cloud Run Jobs: CLOUD_RUN_TASK_INDEX and
CLOUD_RUN_TASK_COUNT; Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX with
`--shards N`). The slice depends only on the sorted names and I/N, so a
retried task (CLOUD_RUN_TASK_ATTEMPT > 0) redoes exactly the same targets.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infracheck.errors import CannotRun

if TYPE_CHECKING:  # the catalog loads only when a file is read: `targets --help` stays light
    from infracheck.catalog.profile import Values

Where = Callable[..., str]  # where(key=None) -> "FILE:LINE: target 'NAME'", for messages

# A DNS label (RFC 1123): the name becomes a folder (record DIR/<name>/) and a CI job name.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_KEYS = ("name", "project", "region", "profile", "set", "tags")
# The names a target sets with its own keys, never through [target.set].
_OWN = ("project", "region")
# GitHub Actions runs at most 256 jobs from one matrix.
MATRIX_MAX = 256


@dataclasses.dataclass(frozen=True)
class Target:
    """One stack of the fleet, as a single-target run would be given it."""

    name: str
    project: str
    region: str
    profile: Path | None = None  # resolved against the targets file's folder
    settings: tuple[tuple[str, str], ...] = ()  # [target.set] as --set NAME=VALUE text (lists: commas)
    tags: tuple[tuple[str, str], ...] = ()
    line: int = 0  # of its [[target]] header, for messages
    profile_as_written: str = ""  # the same on every machine, unlike the resolved path

    def flags(self) -> tuple[str, ...]:
        """The options of the single-target run that judges exactly this target."""
        argv = ["--project", self.project, "--region", self.region]
        if self.profile is not None:
            argv += ["--profile", str(self.profile)]
        for name, value in self.settings:
            argv += ["--set", f"{name}={value}"]
        return tuple(argv)

    def identity(self) -> dict[str, Any]:
        """What the target is, as text: the fleet's fingerprint is made of these."""
        return {"name": self.name, "project": self.project, "region": self.region,
                "profile": self.profile_as_written or None,
                "set": dict(self.settings), "tags": dict(self.tags)}


@dataclasses.dataclass(frozen=True)
class Shard:
    """This process's share of the selected targets: index I of N (from 0), and where that came from."""

    index: int
    count: int
    source: str  # "--shard", "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT" or "JOB_COMPLETION_INDEX/--shards"
    attempt: int = 0  # CLOUD_RUN_TASK_ATTEMPT: a retry redoes the same slice

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def load(path: Path, values: Values | None = None) -> tuple[Target, ...]:
    """Every [[target]] of the file, validated, sorted by name; CannotRun with file:line otherwise.

    `values` checks profile values (catalog.profile.values()); the built-in catalog's when None.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CannotRun(f"{path}: no such targets file") from None
    except IsADirectoryError:
        raise CannotRun(f"{path}: is a folder, not a targets file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CannotRun(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise CannotRun(f"{path}:{where.group(1)}: not valid TOML: {message}" if where
                        else f"{path}: not valid TOML: {exc}") from None
    lines = text.splitlines()
    headers = [i + 1 for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*target\s*\]\]", line)]
    unknown = sorted(set(data) - {"target"})
    if unknown:
        raise CannotRun(f"{path}:{_line_of(lines, 1, len(lines), unknown[0]) or 1}: unknown top-level key "
                        f"'{unknown[0]}' (a targets file holds [[target]] tables)")
    raw_targets = data.get("target")
    if not isinstance(raw_targets, list) or not raw_targets or not all(isinstance(t, dict) for t in raw_targets):
        raise CannotRun(f"{path}: no targets: write one [[target]] table per stack "
                        "(name, project, region; optional profile, [target.set], tags)")
    if values is None:
        from infracheck import default_dir
        from infracheck.catalog import profile

        values = profile.values(default_dir())
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_targets):
        start = headers[number] if len(headers) == len(raw_targets) else 0
        end = headers[number + 1] - 1 if start and number + 1 < len(headers) else len(lines)
        target = _target(path, raw, values, lines, start, end)
        if target.name in seen:
            first = f" (first at line {seen[target.name]})" if seen[target.name] else ""
            raise CannotRun(f"{path}:{target.line}: target '{target.name}' is defined twice{first}" if target.line
                            else f"{path}: target '{target.name}' is defined twice")
        seen[target.name] = target.line
        targets.append(target)
    return tuple(sorted(targets, key=lambda t: t.name))


def _line_of(lines: Sequence[str], start: int, end: int, key: str) -> int:
    """The line (1-based) in start..end where `key =` (or `[target.key]`) is written; 0 if not found."""
    pattern = re.compile(rf"""\s*(?:["']?{re.escape(key)}["']?\s*=|\[\s*target\.{re.escape(key)}\s*\])""")
    for number in range(max(start, 1), min(end, len(lines)) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return 0


def _target(path: Path, raw: Mapping[str, Any], values: Values, lines: Sequence[str], start: int, end: int) -> Target:
    name = raw.get("name")

    def where(key: str | None = None) -> str:
        line = (_line_of(lines, start, end, key) if key else 0) or start
        label = f" target '{name}'" if isinstance(name, str) and name else (f" [[target]]" if start else "")
        return f"{path}:{line}:{label}" if line else f"{path}:{label}"

    for key in raw:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(_KEYS)})"
            raise CannotRun(f"{where(key)} unknown key '{key}'{hint}")
    for key in ("name", "project", "region"):
        if key not in raw:
            raise CannotRun(f"{where()} missing '{key}'")
        if not isinstance(raw[key], str):
            raise CannotRun(f"{where(key)} {key} takes text, not {json.dumps(raw[key], default=str)}")
    assert isinstance(name, str)
    if name.startswith("-"):
        raise CannotRun(f"{where('name')} invalid name '{name}': a value may not start with '-'")
    if not _NAME.fullmatch(name):
        raise CannotRun(f"{where('name')} invalid name '{name}': a target name is 1 to 63 lowercase letters, "
                        "digits or hyphens, not starting or ending with a hyphen (it becomes a folder name)")
    project = _checked(values, "project", raw["project"], f"{where('project')} project")
    region = _checked(values, "region", raw["region"], f"{where('region')} region")
    profile = None
    if "profile" in raw:
        profile = _profile(path, raw["profile"], values, where("profile"))
    settings = _settings(raw.get("set", {}), values, where)
    tags = _tags(raw.get("tags", {}), where)
    return Target(name, project, region, profile, settings, tags, start, raw.get("profile", ""))


def _checked(values: Values, name: str, raw: str, origin: str) -> str:
    from infracheck.errors import CatalogError

    try:
        return str(values.check(name, raw, origin))
    except CatalogError as exc:
        raise CannotRun(str(exc)) from None


def _profile(path: Path, raw: Any, values: Values, origin: str) -> Path:
    from infracheck.errors import CatalogError

    if not isinstance(raw, str) or not raw.strip():
        raise CannotRun(f"{origin} profile takes the path of a TOML profile file, relative to {path.name}")
    if raw.startswith("-"):
        raise CannotRun(f"{origin} invalid profile '{raw}': a value may not start with '-'")
    if any(ch.isspace() or ord(ch) < 32 for ch in raw):
        raise CannotRun(f"{origin} invalid profile {raw!r}: spaces and control characters are not allowed")
    resolved = path.parent / raw
    if not resolved.is_file():
        raise CannotRun(f"{origin} profile '{raw}': no such file ({resolved})")
    try:
        values.check_file(resolved)
    except CatalogError as exc:
        raise CannotRun(f"{origin} profile '{raw}': {exc}") from None
    return resolved


def _settings(raw: Any, values: Values, where: Where) -> tuple[tuple[str, str], ...]:
    """[target.set]: each value checked as `--set NAME=VALUE` is, kept as that text."""
    if not isinstance(raw, dict):
        raise CannotRun(f"{where('set')} set takes a table of profile NAME = VALUE ([target.set])")
    settings = []
    for name, value in raw.items():
        origin = where(name)
        if name in _OWN:
            raise CannotRun(f"{origin} set.{name}: give the target's own '{name}' key instead")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            if any("," in v for v in value):
                raise CannotRun(f"{origin} set.{name}: a value may not hold a comma (lists are comma-separated)")
            text = ",".join(value)
        else:
            raise CannotRun(f"{origin} set.{name} takes text, a whole number, true/false or a list of text "
                            "(a list of tables goes in the target's profile file)")
        _checked(values, name, text, f"{origin} set.{name}")
        settings.append((name, text))
    return tuple(sorted(settings))


def _tags(raw: Any, where: Where) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise CannotRun(f"{where('tags')} tags takes a table of KEY = \"VALUE\" (e.g. tags = {{ env = \"prod\" }})")
    tags = []
    for key, value in raw.items():
        if not _TAG_KEY.fullmatch(key):
            raise CannotRun(f"{where('tags')} invalid tag key '{key}': letters, digits, '_', '.' or '-', "
                            "starting with a letter or digit")
        if not isinstance(value, str):
            raise CannotRun(f"{where('tags')} tag {key} takes text, not {json.dumps(value, default=str)}")
        if value.startswith("-"):
            raise CannotRun(f"{where('tags')} invalid tag {key} '{value}': a value may not start with '-'")
        if not value or any(ch.isspace() or ord(ch) < 32 for ch in value):
            raise CannotRun(f"{where('tags')} invalid tag {key} {value!r}: empty, or holds spaces or "
                            "control characters")
        tags.append((key, value))
    return tuple(sorted(tags))


# --- selection -----------------------------------------------------------------

def select(targets: Sequence[Target], names: Iterable[str] = (), tags: Iterable[str] = ()) -> tuple[Target, ...]:
    """The targets named by --target (any of them) and matching every --tag key (any value given for it).

    No --target and no --tag: every target. A name that is not in the file,
    or a selection that leaves nothing, is an error: a fleet never shrinks
    silently.
    """
    names, tags = list(names), list(tags)
    known = {t.name for t in targets}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise CannotRun(f"--target {name}: no such target in the targets file{hint}")
    wanted: dict[str, set[str]] = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CannotRun(f"--tag {item}: not KEY=VALUE (e.g. --tag env=prod)")
        wanted.setdefault(key, set()).add(value)
    chosen = [t for t in targets
              if (not names or t.name in names)
              and all(dict(t.tags).get(key) in accepted for key, accepted in wanted.items())]
    if not chosen:
        asked = " ".join([f"--target {n}" for n in names] + [f"--tag {t}" for t in tags])
        present = sorted({f"{k}={v}" for t in targets for k, v in t.tags})
        raise CannotRun(f"{asked}: no target matches" + (f" (tags in the file: {', '.join(present)})" if present else ""))
    return tuple(sorted(chosen, key=lambda t: t.name))


def fingerprint(selected: Sequence[Target]) -> str:
    """One short hash of the whole selection (names and definitions): shards of one fleet share it."""
    text = json.dumps([t.identity() for t in sorted(selected, key=lambda t: t.name)], sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- shards ------------------------------------------------------------------------

def shard(option: str | None, shards: int | None, environ: Mapping[str, str]) -> Shard | None:
    """This process's shard: --shard I/N, else the engine's variables; None when nothing says to shard.

    Cloud Run Jobs set CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT (and
    CLOUD_RUN_TASK_ATTEMPT, from 0); a Kubernetes Indexed Job sets
    JOB_COMPLETION_INDEX only, so its count comes from --shards N (the Job's
    `completions`).
    """
    attempt = _attempt(environ)
    if option is not None:
        if shards is not None:
            raise CannotRun("--shard I/N already says how many shards: leave out --shards")
        index_text, sep, count_text = option.partition("/")
        if not sep:
            raise CannotRun(f"--shard {option}: not I/N (e.g. --shard 0/3; shards count from 0)")
        return _made(index_text, count_text, "--shard", f"--shard {option}", attempt)
    run_index, run_count = environ.get("CLOUD_RUN_TASK_INDEX"), environ.get("CLOUD_RUN_TASK_COUNT")
    if run_index is not None or run_count is not None:
        if run_index is None or run_count is None:
            given = "CLOUD_RUN_TASK_INDEX" if run_index is not None else "CLOUD_RUN_TASK_COUNT"
            raise CannotRun(f"{given} is set without its pair (Cloud Run Jobs set CLOUD_RUN_TASK_INDEX and "
                            "CLOUD_RUN_TASK_COUNT together); give --shard I/N to choose")
        if shards is not None:
            raise CannotRun("--shards N goes with JOB_COMPLETION_INDEX (Kubernetes); on Cloud Run the count "
                            "comes from CLOUD_RUN_TASK_COUNT")
        return _made(run_index, run_count, "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT",
                     f"CLOUD_RUN_TASK_INDEX={run_index} CLOUD_RUN_TASK_COUNT={run_count}", attempt)
    job_index = environ.get("JOB_COMPLETION_INDEX")
    if job_index is not None:
        if shards is None:
            raise CannotRun(f"JOB_COMPLETION_INDEX={job_index} is set (a Kubernetes Indexed Job): give --shards N, "
                            "the Job's completions")
        return _made(job_index, str(shards), "JOB_COMPLETION_INDEX/--shards",
                     f"JOB_COMPLETION_INDEX={job_index} --shards {shards}", attempt)
    if shards is not None:
        raise CannotRun("--shards N needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job); "
                        "elsewhere give --shard I/N")
    return None


def _attempt(environ: Mapping[str, str]) -> int:
    text = environ.get("CLOUD_RUN_TASK_ATTEMPT")
    if text is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
        raise CannotRun(f"CLOUD_RUN_TASK_ATTEMPT={text}: not a whole number 0 or more")
    return int(text)


def _made(index_text: str, count_text: str, source: str, given: str, attempt: int) -> Shard:
    index_text, count_text = index_text.strip(), count_text.strip()
    if not re.fullmatch(r"[0-9]{1,9}", index_text) or not re.fullmatch(r"[0-9]{1,9}", count_text):
        raise CannotRun(f"{given}: the index and the count are whole numbers (e.g. 0/3; shards count from 0)")
    index, count = int(index_text), int(count_text)
    if count < 1:
        raise CannotRun(f"{given}: the count of shards is 1 or more")
    if index >= count:
        raise CannotRun(f"{given}: index {index} is not below the count {count} "
                        f"(shards count from 0: 0/{count} to {count - 1}/{count})")
    return Shard(index, count, source, attempt)


def slice_of(selected: Sequence[Target], which: Shard | None) -> tuple[Target, ...]:
    """The targets of one shard: every N-th of the names in sorted order, starting at I.

    Depends only on the sorted names and I/N (never on time, attempt or
    host), so every process agrees, a retry redoes the same targets, and
    `merge` can tell which targets a missing shard held.
    """
    ordered = sorted(selected, key=lambda t: t.name)
    if which is None:
        return tuple(ordered)
    return tuple(t for i, t in enumerate(ordered) if i % which.count == which.index)


def names_of_shard(names: Sequence[str], index: int, count: int) -> tuple[str, ...]:
    """The same assignment over bare names (what a fleet report records)."""
    return tuple(n for i, n in enumerate(sorted(names)) if i % count == index)


# --- listing -------------------------------------------------------------------------

def matrix(selected: Sequence[Target], mine: Sequence[Target]) -> dict[str, Any]:
    """A GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`): one job per target of `mine`.

    Each job's `shard` is "I/N" over the whole selection (N its size), whose
    slice is that one target: every job's fleet report is then a shard of
    one fleet, and `infracheck merge` puts them together, even across several
    matrices cut with --shard.
    """
    if len(mine) > MATRIX_MAX:
        parts = -(-len(mine) // MATRIX_MAX)
        raise CannotRun(f"{len(mine)} targets: a GitHub Actions matrix runs at most {MATRIX_MAX} jobs; "
                        f"split it into {parts} matrices with --shard 0/{parts} ... --shard {parts - 1}/{parts}, "
                        "or narrow it with --tag")
    index = {t.name: i for i, t in enumerate(sorted(selected, key=lambda t: t.name))}
    return {"include": [{"target": t.name, "project": t.project, "region": t.region, "tags": dict(t.tags),
                         "shard": f"{index[t.name]}/{len(selected)}"} for t in mine]}


def table(selected: Sequence[Target], total: int, which: Shard | None) -> str:
    """The selected targets, one line each: name, project, region, profile, tags."""
    rows = [("NAME", "PROJECT", "REGION", "PROFILE", "TAGS")]
    rows += [(t.name, t.project, t.region, t.profile.name if t.profile else "-",
              " ".join(f"{k}={v}" for k, v in t.tags) or "-") for t in selected]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(r)).rstrip() for r in rows]
    head = f"{len(selected)} of {total} targets"
    if which is not None:
        head += f", shard {which} (from {which.source}" + (f", attempt {which.attempt})" if which.attempt else ")")
    return head + "\n" + "\n".join(lines) + "\n"
