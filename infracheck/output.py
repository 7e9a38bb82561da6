"""Report files (--output [FORMAT=]PATH): checked before the run, written whole after it.

Every file of one run is rendered from the same Report, so they agree with
each other and with the terminal. A path is checked before any command runs
(a typo costs nothing), and written through a temporary file in the same
folder and a rename, so a reader never sees half a report.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from infracheck.model import CannotRun, Report
from infracheck.report import FORMATTERS

_FORMAT_PREFIX = re.compile(r"^([a-z][a-z0-9-]*)=(.+)$")


@dataclasses.dataclass(frozen=True)
class Output:
    fmt: str
    path: Path


def parse(values: Iterable[str], default_fmt: str) -> list[Output]:
    """`junit=report.xml` names its format; a bare path gets the --format (today's meaning)."""
    outputs = []
    for value in values:
        m = _FORMAT_PREFIX.match(value)
        if m and m.group(1) in FORMATTERS:
            fmt, path = m.group(1), m.group(2)
        elif m:
            # A bare path that looks like FORMAT=PATH is far more likely a typo; ./name=x is a path.
            raise CannotRun(f"--output {value}: unknown format '{m.group(1)}' (formats: {', '.join(sorted(FORMATTERS))}; "
                              f"for a file of that name write ./{value})")
        else:
            fmt, path = default_fmt, value
        outputs.append(Output(fmt, Path(path)))
    seen: dict[Path, str] = {}
    for out in outputs:
        key = out.path.resolve()
        if key in seen:
            raise CannotRun(f"--output: {out.path} is given twice ({seen[key]} and {out.fmt})")
        seen[key] = out.fmt
    return outputs


def check(outputs: Iterable[Output], replay_dir: Path | None = None) -> None:
    """Refuse, before anything runs, a path that cannot be written or would overwrite the recording being read."""
    for out in outputs:
        if replay_dir is not None and replay_dir.is_dir() and out.path.parent.resolve().is_relative_to(
                replay_dir.resolve()):
            raise CannotRun(f"--output {out.path}: inside the replay folder {replay_dir} being read")
        folder = out.path.parent
        if out.path.is_dir():
            raise CannotRun(f"--output {out.path}: is a folder")
        if not folder.is_dir():
            raise CannotRun(f"--output {out.path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (out.path.exists() and not os.access(out.path, os.W_OK)):
            raise CannotRun(f"--output {out.path}: not writable")


def write_all(outputs: Iterable[Output], report: Report, scrub: Callable[[str], str]) -> None:
    """Render each format once from this report (no colour), `scrub` it (a run's secrets), replace each file whole."""
    for out in outputs:
        write(out.path, scrub(FORMATTERS[out.fmt](report, color=False, ascii_only=False)))


def write(path: Path, content: str) -> None:
    """Write one report file whole (a temporary file, then a rename); a failure is one line naming the path."""
    # Not mkstemp: its files are 0600 whatever the umask; a report is shared like any file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CannotRun(f"cannot write {path}: {exc.strerror}") from None


def append_step_summary(report: Report, environ: Mapping[str, str], scrub: Callable[[str], str]) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page: append the issue update there."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(scrub(FORMATTERS["markdown"](report)) + "\n")
    except OSError as exc:
        raise CannotRun(f"cannot append to GITHUB_STEP_SUMMARY {target}: {exc.strerror}") from None


__all__ = ["Output", "append_step_summary", "check", "parse", "write", "write_all"]
