"""The exit-code contract, in the monitoring-plugin (Nagios) convention.

Its own module so that every exit path of the CLI (`--help`, a usage error)
can name its code without loading the model.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infracheck.model import Overall


class ExitStatus(enum.IntEnum):
    """Exit codes: 0 HEALTHY, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (or infracheck could not run), 130 Ctrl-C."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3  # also: usage errors, infracheck itself unable to run
    INTERRUPTED = 130  # SIGINT, as a shell reports it

    @classmethod
    def of(cls, overall: Overall) -> ExitStatus:
        """The exit code of a verdict (HEALTHY is OK; the other names are the same)."""
        return cls.OK if overall.name == "HEALTHY" else cls[overall.name]
