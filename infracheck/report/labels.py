"""The issue's labels (plan 4.2), comma-separated for `gh issue edit N --add-label "$(...)"`.

Derived from this run's findings through the mapping in commands/escalation.toml;
an empty line when nothing calls for a label.
"""

from __future__ import annotations

from infracheck.judge import escalation
from infracheck.model import Report


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    return ",".join(escalation.labels(report)) + "\n"
