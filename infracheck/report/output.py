"""Report files (--output [FORMAT=]PATH): checked before the run, written whole after it.

Every file of one run is rendered from the same Report, so they agree with
each other and with the terminal. A path is checked before any command runs
(a typo costs nothing), and written through a temporary file in the same
folder and a rename, so a reader never sees half a report.

Only a regular file is replaced that way. A device, a FIFO or a socket (or a
link to one: `/dev/stdout`, `/dev/null`) is written in place: renaming a
file over it would, as root, put a regular file where the machine expects
its device node. The temporary file is made by `tempfile.mkstemp` (a random
name, created exclusively), so a link planted beside the target is never
written through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from infracheck.model import CannotRun, Report
from infracheck.report import FORMATTERS

_FORMAT_PREFIX = re.compile(r"^([a-z][a-z0-9-]*)=(.+)$")
_NO_PATH = re.compile(r"^([a-z][a-z0-9-]*)=$")


@dataclasses.dataclass(frozen=True)
class Output:
    fmt: str
    path: Path


def parse(values: Iterable[str], default_fmt: str) -> list[Output]:
    """`junit=report.xml` names its format; a bare path gets the --format (today's meaning)."""
    outputs = []
    for value in values:
        empty = _NO_PATH.match(value)
        if empty and empty.group(1) in FORMATTERS:
            # Else it would be a bare path: a file called 'json=' in the working directory.
            raise CannotRun(f"--output {value}: no file after '{value}' (write --output {value}PATH)")
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
    """Write one report file whole; a failure is one line naming the path.

    A regular file (or a new one) is replaced by a rename, so a reader never
    sees half a report; what is not a regular file is written in place.
    """
    try:
        if _in_place(path):
            _write_in_place(path, content)
        else:
            _replace(path, content)
    except OSError as exc:
        raise CannotRun(f"cannot write {path}: {exc.strerror}") from None


def _in_place(path: Path) -> bool:
    """What must be written through, never replaced: a device, FIFO or socket, a link to one, and a
    link to a file this process has open (`--output /dev/stdout` with stdout redirected to a file)."""
    try:
        own = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(own.st_mode):
        return False
    try:
        final = os.stat(path)
    except FileNotFoundError:
        return False  # a link to nothing: replace the link, never create what it points at
    if not stat.S_ISREG(final.st_mode):
        return True
    # A link to some other regular file is replaced, not followed: it may have been planted there.
    return (final.st_dev, final.st_ino) in _open_files()


def _open_files() -> set[tuple[int, int]]:
    """(device, inode) of every regular file this process has open (stdin, stdout, stderr at least)."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc (macOS): the three standard streams are what /dev/stdout and kin name
        descriptors = [0, 1, 2]
    found = set()
    for fd in descriptors:
        with contextlib.suppress(OSError):
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                found.add((info.st_dev, info.st_ino))
    return found


def _write_in_place(path: Path, content: str) -> None:
    """Open what exists (never create), as `cmd > /dev/stdout` would; a regular file is appended to,
    after what its other writer (the shell's redirection of stdout) has written."""
    flags = os.O_WRONLY | os.O_NOCTTY
    if stat.S_ISREG(os.stat(path).st_mode):
        flags |= os.O_APPEND
    with os.fdopen(os.open(path, flags), "w", encoding="utf-8") as handle:
        handle.write(content)


def _replace(path: Path, content: str) -> None:
    """A temporary file beside `path` (random name, created exclusively), then a rename over it."""
    import tempfile  # only when a report file is written

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
            # mkstemp makes it 0600; a report is shared like any file the user writes (umask decides).
            os.fchmod(out.fileno(), 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask (only readable by setting it; the run's threads are done by now)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def append_step_summary(report: Report, environ: Mapping[str, str], scrub: Callable[[str], str]) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page: append the issue update there."""
    if environ.get("GITHUB_STEP_SUMMARY"):
        append_summary(FORMATTERS["markdown"](report), environ, scrub)


def append_summary(markdown: str, environ: Mapping[str, str], scrub: Callable[[str], str]) -> None:
    """Append `markdown` to $GITHUB_STEP_SUMMARY when it is set (a fleet's summary, a report's issue update)."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(scrub(markdown) + "\n")
    except OSError as exc:
        raise CannotRun(f"cannot append to GITHUB_STEP_SUMMARY {target}: {exc.strerror}") from None


__all__ = ["Output", "append_step_summary", "append_summary", "check", "parse", "write", "write_all"]
