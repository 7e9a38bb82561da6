"""A fleet's issue labels (plan 4.2): its one priority, then every target's other labels."""

from __future__ import annotations

from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import Fleet
from infracheck.report.fleet import members


def priority(fleet: Fleet) -> str:
    """The fleet's priority label: the one its worst targets' reports carry (P0 when CRITICAL), or ''.

    A report's labels start with its verdict's priority when the catalog gives
    that verdict one (escalation.labels), and the catalog's priorities are the
    same for every target (a profile cannot change them): so the priorities
    are read from the reports, and the fleet has its worst verdict's.
    """
    return priorities(fleet).get(fleet_stage.status(fleet).name, "")


def priorities(fleet: Fleet) -> dict[str, str]:
    """verdict name -> its priority label, as the members' reports show them (a HEALTHY one has none)."""
    found: dict[str, str] = {}
    for m in fleet.members:
        report = m.report
        if report is None or report.get("status") == "HEALTHY" or not report.get("labels"):
            continue
        found.setdefault(str(report.get("status")), str(report["labels"][0]))
    return found


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """One comma-separated line for the fleet's one issue: its priority, then every target's other labels.

    A union, not a line per target: `gh issue edit --add-label` takes one list,
    and an issue with both P0 and P2 would say nothing, so only the fleet's
    (worst) priority stays. No label names a target: gh refuses a label the
    repository does not have, and the catalog's labels already carry each
    target's environment (`prod-outage`).
    """
    known = set(priorities(fleet).values())
    first = priority(fleet)
    labels = [first] if first else []
    for m in members.worst_first(fleet):
        for label in (m.report or {}).get("labels") or ():
            if label not in known and label not in labels:
                labels.append(str(label))
    return ",".join(labels) + "\n"

