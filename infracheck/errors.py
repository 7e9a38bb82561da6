"""How infracheck fails, and every failure's exit code, in one place.

A user-facing refusal is one exception type, CannotRun (a catalog or profile
mistake is its CatalogError), whose message is the one line a person reads:
it exits 3 (UNKNOWN). Ctrl-C exits 130. Anything else is a bug of ours: it
exits 3 too, with "internal error" and where to report it, never a bare
traceback. `handled` applies that to a command; the CLI calls it around each
one (tests/test_startup.py: this module stays small, so `--help` loads nothing else).
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infracheck.model import Overall

REPORT_TO = "please report it, with the command you ran, to the infracheck maintainers"


class CannotRun(Exception):
    """infracheck cannot run as asked; the message is the one line a person reads."""


class CatalogError(CannotRun):
    """A catalog or profile problem, worded for the person who edits the file."""


class ExitStatus(enum.IntEnum):
    """Exit codes (the monitoring-plugin convention): 0 HEALTHY, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (or
    infracheck could not run), 130 Ctrl-C."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3  # also: usage errors, infracheck itself unable to run
    INTERRUPTED = 130  # SIGINT, as a shell reports it

    @classmethod
    def of(cls, overall: Overall) -> ExitStatus:
        """The exit code of a verdict (HEALTHY is OK; the other names are the same)."""
        return cls.OK if overall.name == "HEALTHY" else cls[overall.name]


def handled(command: Callable[[], int]) -> int:
    """Run `command`; its exit code, or the code of what stopped it, said on stderr in one line.

    Inside a run's console guard, what is said here is scrubbed of the run's secrets like all its output.
    """
    try:
        return command()
    except CannotRun as exc:
        _say(f"infracheck: error: {exc}")
        return ExitStatus.UNKNOWN
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # `infracheck diagnose | head` closed the pipe: not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
    except Exception as exc:  # noqa: BLE001 - a bug: said as one, with where it happened
        import traceback  # only for a bug: --help stays as light as it was

        where = traceback.extract_tb(exc.__traceback__)[-1]
        said = " ".join(str(exc).split())  # one line, whatever the exception holds
        _say(f"infracheck: internal error: {type(exc).__name__}: {said} "
             f"({os.path.basename(where.filename)}:{where.lineno}); {REPORT_TO}")
        return ExitStatus.UNKNOWN


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
