"""From findings to the overall verdict, the counts and the next actions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from infracheck.model import Finding, Overall, Report, Severity, Status

if TYPE_CHECKING:  # only for annotations: verdict stays free of the run stage's imports
    from infracheck.plan import Plan
    from infracheck.runner import Result


# A status that says something is wrong with what was checked, muted or not.
PROBLEM = frozenset({Status.FAIL, Status.ERROR})


def counted(f: Finding) -> bool:
    """A counted failure: failed and not muted (what the verdict, the counts and fix mode weigh)."""
    return f.status is Status.FAIL and f.muted is None


def muted_failure(f: Finding) -> bool:
    """A failure a mute accepts: shown and counted apart, never in the verdict."""
    return f.status is Status.FAIL and f.muted is not None


def problem(f: Finding) -> bool:
    """Failed or could not be checked, muted or not (what a baseline compares and causes explain)."""
    return f.status in PROBLEM


def open_problem(f: Finding) -> bool:
    """A failure nobody has accepted, or a check that could not run (what escalation and CI annotate)."""
    return counted(f) or f.status is Status.ERROR


def planned(base: Report, plan: "Plan") -> Report:
    """The report before anything ran: what is planned, and what the selection left out."""
    return dataclasses.replace(
        base, status=Overall.UNKNOWN, planned=tuple((c.area, c.resource) for c in plan.checks),
        notes=base.notes + plan.notes,
    )


def unfinished(plan: "Plan", result: "Result") -> tuple[str, ...]:
    """Areas with a planned check that was never judged (the run was interrupted)."""
    return tuple(dict.fromkeys(c.area for i, c in enumerate(plan.checks) if i not in result.findings))


def overall(findings: Iterable[Finding], incomplete: bool = False) -> Overall:
    """Worst first: CRITICAL > UNKNOWN > WARNING > HEALTHY; a muted finding does not count.

    A run that judged no rule, or was interrupted, is never better than
    UNKNOWN: HEALTHY means every planned rule was judged and passed.
    """
    worst = Overall.UNKNOWN if incomplete else Overall.HEALTHY
    judged = False
    for f in findings:
        judged = judged or f.status is not Status.SKIP
        if counted(f):
            worst = max(worst, Overall.CRITICAL if f.severity is Severity.CRITICAL else Overall.WARNING)
        elif f.status is Status.ERROR:
            worst = max(worst, Overall.UNKNOWN)
    return worst if judged else max(worst, Overall.UNKNOWN)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings by outcome; a muted failure counts as `muted` (and `muted_<severity>`), not at its severity."""
    result = {"critical": 0, "warning": 0, "error": 0, "muted": 0, "muted_critical": 0, "muted_warning": 0,
              "passed": 0, "skipped": 0}
    for f in findings:
        if muted_failure(f):
            result["muted"] += 1
            result["muted_critical" if f.severity is Severity.CRITICAL else "muted_warning"] += 1
        elif f.status is Status.FAIL:
            result["critical" if f.severity is Severity.CRITICAL else "warning"] += 1
        elif f.status is Status.ERROR:
            result["error"] += 1
        elif f.status is Status.PASS:
            result["passed"] += 1
        else:
            result["skipped"] += 1
    return result


def muted(c: dict[str, int]) -> str:
    """What the mutes hide, said beside the verdict in every format ("2 critical findings muted"); '' if nothing.

    A mute may accept a critical failure, so a HEALTHY verdict must carry how
    many it accepted: it never turns an outage green unnoticed.
    """
    total, critical = c["muted"], c["muted_critical"]
    if not total:
        return ""
    noun = "finding" if total == 1 else "findings"
    if critical == total:
        return f"{total} critical {noun} muted"
    return f"{total} {noun} muted, " + (f"{critical} of them critical" if critical else "none critical")


def next_actions(findings: Iterable[Finding], incomplete: bool = False) -> list[str]:
    """The seed's NEXT ACTIONS (section 3.2), plus what to do about unknowns."""
    findings = tuple(findings)
    c = counts(findings)
    actions = []
    if c["critical"]:
        actions += [
            "IMMEDIATE: Fix critical infrastructure failures",
            "ESCALATE: Notify infrastructure team of P0 outage",
        ]
    if c["error"]:
        actions.append(
            f"INVESTIGATE: {c['error']} check(s) could not be evaluated - fix access or retry, then re-run"
        )
    if incomplete:
        actions.append("RE-RUN: the diagnosis was interrupted before every check finished")
    actions += _warning_actions(findings)
    if not incomplete and not (c["critical"] or c["warning"] or c["error"] or c["passed"] or c["muted"]):
        actions.append("SELECT: nothing was checked - re-run with a narrower --exclude or a wider --include")
    elif not actions:
        actions.append("MONITOR: Infrastructure is healthy - focus on application layer")
    return actions


def _warning_actions(findings: Iterable[Finding]) -> list[str]:
    """What to do about the warnings: the seed's words for the stack's settings, its own line for load.

    A load warning (the capacity area, read from Cloud Monitoring) is no
    configuration to correct: it is headroom running out, an outage to come.
    """
    areas = {f.area for f in findings if f.status is Status.FAIL and f.muted is None
             and f.severity is Severity.WARNING}
    actions = []
    if areas - {"capacity"}:
        actions.append("MEDIUM: Address configuration warnings")
    if "capacity" in areas:
        actions.append("MEDIUM: Address capacity warnings before they become an outage")
    return actions


def merge(findings: Iterable[Finding], fresh: Iterable[Finding]) -> tuple[Finding, ...]:
    """`findings` with the findings of every re-run check replaced, in place, by `fresh`."""
    by_check: dict[tuple[str, str], list[Finding]] = {}
    for f in fresh:
        by_check.setdefault((f.check, f.resource), []).append(f)
    merged: list[Finding] = []
    for f in findings:
        key = (f.check, f.resource)
        if key not in by_check:
            merged.append(f)
        elif by_check[key]:
            merged.extend(by_check.pop(key))
            by_check[key] = []  # the rest of this check's old findings are replaced too
    return tuple(merged + [f for group in by_check.values() for f in group])
