"""What every fleet format reads of the members' v1 reports: their findings and problems, the fleet's counts
and lines (the headline, the checked line, a target's summary), so that each format says them alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infracheck.judge import fleet as fleet_stage
from infracheck.judge import verdict
from infracheck.judge.fleet import Fleet, Member
from infracheck.model import Finding, Overall, Report, Status


# The rule of the one finding of a target nothing ran for (its v1 report's could-not-check).
UNCHECKED_RULE = "target.checked"


def unchecked_report(m: Member) -> Mapping[str, Any]:
    """The v1 report of a target nothing ran for: one could-not-check finding naming the reason."""
    from infracheck.report import json as json_report

    reason = m.reason or "no report"
    finding = Finding(check="target", rule=UNCHECKED_RULE, area="target", status=Status.ERROR, severity=None,
                      resource=m.target.name, message=f"Target {m.target.name} could not be checked: {reason}")
    report = Report(m.target.project, m.target.region, Overall.UNKNOWN, (), (finding,), ())
    return json_report.as_dict(report)


def report_of(m: Member) -> Mapping[str, Any]:
    return m.report if m.report is not None else unchecked_report(m)


def findings_of(m: Member) -> list[Mapping[str, Any]]:
    """The target's findings; a target that could not be checked first has one `target.checked` naming why."""
    own = [f for f in report_of(m).get("findings") or () if f.get("rule") != UNCHECKED_RULE]
    return [unchecked_report(m)["findings"][0], *own] if m.reason else own


def problems_of(m: Member) -> tuple[list[Mapping[str, Any]], int]:
    """What to show of a target: its open problems and muted failures, and how many could-not-checks are left out.

    Of a target out of reach only `target.checked` stands for its could-not-checks
    (each says the same denial, as the text report's "... and N more"); a
    failure its probes found is still shown.
    """
    shown, hidden = [], 0
    for f in findings_of(m):
        if f.get("status") not in ("fail", "error"):
            continue
        if m.reason and f.get("status") == "error" and f.get("rule") != UNCHECKED_RULE:
            hidden += 1
            continue
        shown.append(f)
    return shown, hidden


def kind_of(f: Mapping[str, Any]) -> str:
    """critical, warning or could not check: what a finding is, as every report says it."""
    if f.get("status") == "error":
        return "could not check"
    return str(f.get("severity") or "failed")


def counts_of(fleet: Fleet) -> dict[str, int]:
    """The members' finding counts added up (a muted total needs them all)."""
    total: dict[str, int] = {}
    for m in fleet.members:
        for key, number in (report_of(m).get("counts") or {}).items():
            total[key] = total.get(key, 0) + int(number)
    return total


def muted_line(counts: Mapping[str, int]) -> str:
    """verdict.muted over counts that may lack a key (a report of an older version)."""
    return verdict.muted({"muted": counts.get("muted", 0), "muted_critical": counts.get("muted_critical", 0)})


def verdicts_line(fleet: Fleet) -> str:
    """`1 CRITICAL, 1 UNKNOWN, 0 WARNING, 1 HEALTHY`: targets by verdict, worst first."""
    return ", ".join(f"{sum(1 for m in fleet.members if m.status is o)} {o.name}" for o in reversed(Overall))


def worst_first(fleet: Fleet) -> list[Member]:
    return sorted(fleet.members, key=lambda m: (-m.status, m.target.name))


def first_cause(m: Member) -> Mapping[str, Any] | None:
    causes = [c for c in fleet_stage.root_causes(m) if c.get("rule") != UNCHECKED_RULE]
    return causes[0] if causes else None


def remedy_of(m: Member, cause: Mapping[str, Any]) -> str:
    for f in findings_of(m):
        if (f.get("rule"), f.get("resource")) == (cause.get("rule"), cause.get("resource")):
            return str(f.get("remedy") or "")
    return ""


def headline(fleet: Fleet) -> str:
    """`FLEET CRITICAL: 5 targets`, and which shard of how many selected targets this is."""
    total = len(fleet.members)
    where = f", shard {fleet.shard} of {len(fleet.selection)} selected" if fleet.shard is not None else ""
    return f"FLEET {fleet_stage.status(fleet).name}: {total} target{'s' * (total != 1)}{where}"


def said(m: Member) -> str:
    """A target's part of the summary: why it was not checked, or its root causes and the first of them."""
    causes = fleet_stage.root_causes(m)
    if m.reason:
        return f"not checked: {m.reason}"
    if causes:
        return (f"{len(causes)} root cause{'s' * (len(causes) != 1)}, first: "
                f"{fleet_stage.first_line(str(causes[0].get('message') or ''))}")
    return "no root cause"


def checked_line(fleet: Fleet) -> str:
    """`12/14 targets checked; 2 could not be checked: name (reason), ...`: every target out of reach, by name."""
    total = len(fleet.members)
    skipped = [m for m in fleet.members if m.reason]
    line = f"{total - len(skipped)}/{total} targets checked"
    if skipped:
        named = ", ".join(f"{m.target.name} ({m.reason})" for m in skipped)
        line += f"; {len(skipped)} could not be checked: {named}"
    return line

