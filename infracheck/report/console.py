"""The report on the terminal: what stdout and stderr show while a run is going.

Text streams area by area as each area's checks are judged, so an on-call
engineer reads the first areas while the slow ones still run; machine formats
and --report-only print once, at the end. Progress is one self-overwriting
line on stderr, only on a terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from infracheck.model import Area, Finding, Outcome, Report
from infracheck.report import FORMATTERS, MACHINE

if TYPE_CHECKING:
    from types import ModuleType


def use_color(choice: str, stream: TextIO) -> bool:
    """--color auto|always|never; NO_COLOR always wins; auto is a terminal that is not TERM=dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not dumb_terminal()


def dumb_terminal() -> bool:
    """TERM=dumb (Emacs shells, some CI logs): no colour codes, no cursor movement."""
    return os.environ.get("TERM", "") == "dumb"


def can_encode(stream: TextIO) -> bool:
    """Whether the report's emoji reach the reader: the locale says UTF-8 and the stream can encode them.

    Python writes UTF-8 even under LC_ALL=C (its C-locale coercion), but a
    terminal set to the C locale shows mojibake; the locale decides first.
    """
    locale_name = next((os.environ[v] for v in ("LC_ALL", "LC_CTYPE", "LANG") if os.environ.get(v)), "")
    if locale_name and not re.search(r"utf-?8", locale_name, re.IGNORECASE):
        return False
    try:
        "🚀🔍✅❌⚠️📊📋".encode(stream.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


@dataclasses.dataclass
class Progress:
    """One self-overwriting line on stderr, only on a terminal."""

    total: int
    enabled: bool
    done: int = 0
    stream: TextIO | None = None

    def step(self, outcome: Outcome) -> None:
        self.done += 1
        if self.enabled:
            words = (a for a in outcome.argv if not a.startswith(("--project=", "--format=")))
            label = " ".join(words)[:70]
            self._write(f"\r\033[K  [{self.done}/{self.total}] done: {label}")

    def clear(self) -> None:
        if self.enabled and self.done:
            self._write("\r\033[K")

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line)
        stream.flush()


class Console:
    """Writes the report to `out` as the run goes: header, ready areas, then the summary or the whole format."""

    def __init__(
        self,
        out: TextIO,
        areas: Sequence[Area],
        fmt: str,
        *,
        report_only: bool,
        color: bool,
        ascii_only: bool,
        progress: Progress,
    ):
        self.out, self.areas, self.fmt = out, tuple(areas), fmt
        self.color, self.ascii_only, self.progress = color, ascii_only, progress
        self.streaming = fmt not in MACHINE and not report_only
        self.printed = 0
        self.planned: Report | None = None
        self.closed = False  # stdout's reader went away

    def start(self, partial: Report) -> None:
        self.planned = partial
        if self.streaming:
            self._emit(_text().header(partial, color=self.color, ascii_only=self.ascii_only))

    def outcome(self, outcome: Outcome) -> None:
        self.progress.step(outcome)

    def judged(self, results: Mapping[int, Sequence[Finding]], remaining: Mapping[str, int]) -> None:
        """Print every area, in report order, whose planned checks are all judged."""
        self._print_areas(results, remaining, everything=False)

    def finish(self, results: Mapping[int, Sequence[Finding]], report: Report, quiet: bool = False) -> None:
        """Print what is left; `quiet`: a machine format whose document comes later (fix mode)."""
        self.progress.clear()
        self.planned = report
        self._print_areas(results, {}, everything=True)
        if quiet and not self.streaming:
            return
        if self.streaming:
            self._emit(_text().summary(report, color=self.color, ascii_only=self.ascii_only))
        else:
            color = self.color and self.fmt == "text"
            self._emit(FORMATTERS[self.fmt](report, color=color, ascii_only=self.ascii_only))

    def _emit(self, chunk: str) -> None:
        """Write and flush; when the reader went away (`| head`), the rest of the output is discarded.

        The run still finishes and exits with its verdict, so `set -o pipefail`
        sees the truth rather than a broken pipe.
        """
        if self.closed:
            return
        try:
            self.out.write(chunk)
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            _discard(self.out)

    def _print_areas(
        self, results: Mapping[int, Sequence[Finding]], remaining: Mapping[str, int], everything: bool
    ) -> None:
        while self.streaming and self.printed < len(self.areas) and (
            everything or remaining.get(self.areas[self.printed].id, 0) == 0
        ):
            self.progress.clear()
            found = [f for i in sorted(results) for f in results[i]]
            self._emit("\n" if self.printed else "")
            area = self.areas[self.printed]
            planned = _text().planned_in(self.planned, area) if self.planned else None
            finished = self.planned is None or area.id not in self.planned.unfinished
            self._emit(_text().area_block(area, found, color=self.color, ascii_only=self.ascii_only,
                                       planned=planned, finished=finished))
            self.printed += 1


def _discard(stream: TextIO) -> None:
    """Point the stream's file descriptor at /dev/null so nothing buffered fails again at exit."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return  # not a real file (a test's StringIO): nothing will flush it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class Scrubbed:
    """A text stream that scrubs each chunk before it reaches the real one.

    Every writer here writes whole pieces (an area, a report, a line of
    progress, click's message with its newline), so a value is never split
    across two writes. There is deliberately no `buffer`: click then writes
    through this object instead of around it.
    """

    def __init__(self, stream: TextIO, scrub: Callable[[str], str]) -> None:
        self._stream, self._scrub = stream, scrub

    def write(self, text: str) -> int:
        self._stream.write(self._scrub(text))
        return len(text)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, errors...
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextlib.contextmanager
def guard(scrub: Callable[[str], str]) -> Iterator[None]:
    """While inside, whatever infracheck prints on stdout and stderr goes through `scrub` (a run's secret values)."""
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Scrubbed(real[0], scrub), Scrubbed(real[1], scrub)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = real


__all__ = ["Console", "Progress", "Scrubbed", "can_encode", "guard", "use_color"]


def _text() -> ModuleType:
    """The text renderer, imported only when a report is streamed as text (a machine format never needs it)."""
    from infracheck.report import text

    return text
