"""The escalation (plan section 4) from a finished run: labels, priority, action items, the 5.3 checklist.

The data comes from commands/escalation.toml (catalog/escalation.py reads
it into model.Escalation); these functions derive what the issue update,
the labels and the stakeholder message say from a finished Report.
Pure functions over data: no processes, no output.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
from collections.abc import Iterable, Mapping, Sequence

from infracheck.judge import verdict
from infracheck.model import (
    Component, Criterion, Escalation, Finding, Phase, Report, Severity, Status, StepKind, StepOutcome,
)

# --- deriving from a finished run ----------------------------------------------

def matches(finding: Finding, globs: Iterable[str]) -> bool:
    """A glob matches the rule id, the check id, the area, or `rule@resource`."""
    names = (finding.rule, finding.check, finding.area, f"{finding.rule}@{finding.resource}")
    return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)


def priority(report: Report) -> str:
    """The verdict's priority label (P0 when CRITICAL), or '' when it has none."""
    esc = report.escalation or Escalation()
    return dict(esc.priority).get(report.status.name, "")


def labels(report: Report) -> tuple[str, ...]:
    """The issue's labels (plan 4.2), derived from this run: priority first, then catalog order."""
    esc = report.escalation or Escalation()
    fails = [f for f in report.findings if verdict.counted(f)]
    result = [priority(report)] if priority(report) else []
    for rule in esc.labels:
        hit = report.status.name in rule.status or any(matches(f, rule.failing) for f in fails)
        if hit and rule.name not in result:
            result.append(rule.name)
    return tuple(result)


class State(enum.Enum):
    """An action item's one-word state, as the issue update prints it."""

    CRITICAL = "CRITICAL"
    WARNING = "WARNING"
    COULD_NOT_CHECK = "COULD NOT CHECK"
    OK = "OK"
    NOT_CHECKED = "NOT CHECKED"


@dataclasses.dataclass(frozen=True)
class ComponentState:
    """An action item: its component, its findings (no passes, no skips) and a one-word state."""

    component: Component
    state: State
    problems: tuple[Finding, ...]
    checked: int  # findings that were evaluated (pass, fail or error)
    muted: tuple[Finding, ...] = ()  # failures accepted by a mute: shown, not counted


def components(report: Report) -> list[ComponentState]:
    """One action item per area, in the report's area order; areas without a component use the area title."""
    esc = report.escalation or Escalation()
    named = {c.area: c for c in esc.components}
    result = []
    for area in report.areas:
        comp = named.get(area.id) or Component(area=area.id, name=area.title.removeprefix("Checking ").rstrip("."))
        mine = [f for f in report.findings if f.area == area.id and f.status is not Status.SKIP]
        problems = tuple(f for f in mine if verdict.open_problem(f))
        muted = tuple(f for f in mine if verdict.muted_failure(f))
        result.append(ComponentState(comp, _state(mine), problems, len(mine), muted))
    return result


def _state(findings: Sequence[Finding]) -> State:
    if not findings:
        return State.NOT_CHECKED
    fails = [f for f in findings if verdict.counted(f)]
    if any(f.severity is Severity.CRITICAL for f in fails):
        return State.CRITICAL
    if any(f.status is Status.ERROR for f in findings):
        return State.COULD_NOT_CHECK
    if fails:
        return State.WARNING
    return State.OK


@dataclasses.dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    met: bool
    why: str  # what the run showed, or why a person must check it


def criteria(report: Report) -> list[CriterionResult]:
    """The plan's 5.3 checklist judged from this run; unverifiable items are never ticked."""
    esc = report.escalation or Escalation()
    return [_judge(c, report) for c in esc.criteria]


def _judge(criterion: Criterion, report: Report) -> CriterionResult:
    if criterion.verdict:
        hidden = verdict.muted(verdict.counts(report.findings))
        # A verdict reached by muting failures is not the evidence the item asks for.
        met = report.status.name == criterion.verdict and not report.incomplete and not hidden
        why = f"overall status {report.status.name}" + (" (interrupted)" if report.incomplete else "")
        return CriterionResult(criterion, met, why + (f", but {hidden}" if hidden else ""))
    relevant = [
        f for f in report.findings
        if f.status is not Status.SKIP and criterion.verified_by and matches(f, criterion.verified_by)
    ]
    if not relevant:
        why = criterion.manual or "not checked in this run (excluded or not configured)"
        return CriterionResult(criterion, False, why)
    bad = [f for f in relevant if f.status is not Status.PASS]
    if not bad:
        for glob in criterion.requires:
            judged = [f for f in report.findings if f.status is not Status.SKIP and matches(f, [glob])]
            if not judged:
                said = next((f.message for f in report.findings if f.status is Status.SKIP
                             and matches(f, [glob, *criterion.verified_by])), "not read in this run")
                return CriterionResult(criterion, False, f"{glob} not judged: {said}")
        return CriterionResult(criterion, True, f"{len(relevant)} check(s) passed")
    check_of = {(f.rule, f.resource): f.check for f in report.findings}
    not_run = sum(1 for f in bad if verdict.counted(f) and _not_run(f, check_of))
    failed = sum(1 for f in bad if verdict.counted(f)) - not_run
    muted = sum(1 for f in bad if verdict.muted_failure(f))
    errors = len(bad) - failed - not_run - muted
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{not_run} not run"] if not_run else []
    parts += [f"{muted} failed but muted"] if muted else []
    parts += [f"{errors} could not be checked"] if errors else []
    first = next((f for f in bad if verdict.open_problem(f)), bad[0])
    return CriterionResult(criterion, False, f"{', '.join(parts)} of {len(relevant)}: {first.message}")


def _not_run(finding: Finding, check_of: Mapping[tuple[str, str], str]) -> bool:
    """A step of a sequence (the journey) that never ran: its cause is an earlier step of the same check."""
    return any(check_of.get(cause) == finding.check for cause in finding.caused_by)


@dataclasses.dataclass(frozen=True)
class PhaseState:
    phase: Phase
    done: bool
    why: str  # what the run showed: "verdict CRITICAL", "fix mode applied 3 steps", or "" when still ahead


def timeline(report: Report) -> list[PhaseState]:
    """The plan's resolution timeline with what this run has done of it.

    Validation is done once a run has a verdict (not an interrupted one);
    remediation once fix mode applied its steps (--fix-mode --yes). Nothing
    else is known from a run, so the rest stays ahead.
    """
    esc = report.escalation or Escalation()
    applied = [s for s in report.fixes if s.outcome in (StepOutcome.APPLIED, StepOutcome.WAITED)]
    states = []
    for phase in esc.timeline:
        if phase.done_when == "verdict" and not report.incomplete:
            states.append(PhaseState(phase, True, f"verdict {report.status.name}"))
        elif phase.done_when == "fixed" and report.before is not None:
            manual = sum(1 for s in report.fixes if s.kind is StepKind.MANUAL)
            states.append(PhaseState(phase, True, f"fix mode applied {len(applied)} step(s)"
                                     + (f", {manual} manual step(s) for a person" if manual else "")))
        else:
            states.append(PhaseState(phase, False, ""))
    return states


def hours(value: float) -> str:
    """1.0 -> "1 hour", 2.5 -> "2.5 hours"."""
    return f"{value:g} hour" + ("" if value == 1 else "s")


def expected_resolution(report: Report) -> str:
    """The message's EXPECTED RESOLUTION: what is left of the timeline, e.g. "4 hours (2h remediation + ...)"."""
    states = timeline(report)
    ahead = [s.phase for s in states if not s.done]
    if not states:
        return ""
    if not ahead:
        return "every phase of the timeline is done"
    parts = " + ".join(f"{p.hours:g}h {p.short}" for p in ahead)
    done = [s.phase.short for s in states if s.done]
    left = f"{hours(sum(p.hours for p in ahead))} ({parts})"
    return f"{left} left; done: {', '.join(done)}" if done else left


__all__ = [
    "ComponentState", "CriterionResult", "PhaseState", "State", "components", "criteria", "expected_resolution", "hours",
    "labels", "matches", "priority", "timeline",
]
