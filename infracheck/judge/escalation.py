"""The escalation (plan section 4) from a run: labels, priority, action items, the 5.3 checklist.

`parse` reads commands/escalation.toml (already substituted with the
profile) into model.Escalation; the other functions derive what the issue
update, the labels and the stakeholder message say from a finished Report.
Pure functions over data: no processes, no output.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from infracheck.model import (
    Component, Criterion, Escalation, Finding, LabelRule, Overall, Phase, Report, Severity, Status,
)

_TOP_KEYS = {"priority", "label", "component", "criterion", "business_impact", "timeline", "justification",
             "contact", "recipients"}
# What a profile's [escalation] table may replace: the business context, not the rules.
OVERRIDABLE = {"business_impact", "timeline", "justification", "contact", "recipients"}
_PHASE_KEYS = {"phase", "short", "hours", "owner", "done_when"}
_DONE_WHEN = {"", "verdict", "fixed"}
_NAMED_KEYS = {"name", "text"}
_LABEL_KEYS = {"name", "status", "failing"}
_COMPONENT_KEYS = {"area", "name", "resource", "expected"}
_CRITERION_KEYS = {"group", "text", "verified_by", "verdict", "manual"}


class EscalationError(ValueError):
    """A mistake in escalation.toml, worded for the person who edits it."""


def parse(data: Mapping[str, Any], environment: str, text: Callable[[str], str]) -> Escalation:
    """Validate the file's tables; `text` substitutes profile names into a string."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise EscalationError(f"unknown top-level key(s) {sorted(unknown)}")
    priority = data.get("priority", {})
    if not isinstance(priority, dict) or set(priority) - set(Overall.__members__):
        raise EscalationError(f"[priority] maps verdicts ({', '.join(Overall.__members__)}) to a label")
    labels = tuple(
        LabelRule(
            name=text(_str(raw, "name", "[[label]]")),
            status=_statuses(raw),
            failing=_strings(raw, "failing", "[[label]]"),
        )
        for raw in _tables(data, "label", _LABEL_KEYS)
    )
    components = tuple(
        Component(
            area=_str(raw, "area", "[[component]]"),
            name=text(_str(raw, "name", "[[component]]")),
            resource=text(str(raw.get("resource", ""))),
            expected=text(str(raw.get("expected", ""))),
        )
        for raw in _tables(data, "component", _COMPONENT_KEYS)
    )
    criteria = []
    for raw in _tables(data, "criterion", _CRITERION_KEYS):
        criterion = Criterion(
            group=_str(raw, "group", "[[criterion]]"),
            text=_str(raw, "text", "[[criterion]]"),
            verified_by=_strings(raw, "verified_by", "[[criterion]]"),
            verdict=str(raw.get("verdict", "")),
            manual=str(raw.get("manual", "")),
        )
        if criterion.verdict and criterion.verdict not in Overall.__members__:
            raise EscalationError(f"[[criterion]] '{criterion.text}': verdict must be one of {list(Overall.__members__)}")
        if not (criterion.verified_by or criterion.verdict or criterion.manual):
            raise EscalationError(f"[[criterion]] '{criterion.text}': needs verified_by, verdict or manual")
        criteria.append(criterion)
    impact = data.get("business_impact", "")
    if not isinstance(impact, str):
        raise EscalationError("'business_impact' must be a string")
    return Escalation(
        environment=environment,
        priority=tuple((k, text(str(v))) for k, v in priority.items()),
        labels=labels,
        components=components,
        criteria=tuple(criteria),
        business_impact=text(impact),
        timeline=tuple(_phase(raw, text) for raw in _tables(data, "timeline", _PHASE_KEYS)),
        justification=tuple((_str(raw, "name", "[[justification]]"), text(_str(raw, "text", "[[justification]]")))
                            for raw in _tables(data, "justification", _NAMED_KEYS)),
        contacts=tuple((_str(raw, "name", "[[contact]]"), text(_str(raw, "text", "[[contact]]")))
                       for raw in _tables(data, "contact", _NAMED_KEYS)),
        recipients=tuple(text(r) for r in _strings(data, "recipients", "'recipients'")),
    )


def _phase(raw: Mapping[str, Any], text: Callable[[str], str]) -> Phase:
    name = _str(raw, "phase", "[[timeline]]")
    hours = raw.get("hours")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours < 1000:
        raise EscalationError(f"[[timeline]] '{name}': 'hours' must be a number of hours above 0")
    done_when = raw.get("done_when", "")
    if done_when not in _DONE_WHEN:
        raise EscalationError(f"[[timeline]] '{name}': 'done_when' is \"verdict\" or \"fixed\", not {done_when!r}")
    return Phase(name=text(name), short=text(str(raw.get("short") or name.lower())), hours=float(hours),
                 owner=text(_str(raw, "owner", f"[[timeline]] '{name}'")), done_when=done_when)


def _tables(data: Mapping[str, Any], key: str, allowed: set[str]) -> list[dict[str, Any]]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise EscalationError(f"'{key}' must be an array of tables ([[{key}]])")
    for table in raw:
        unknown = set(table) - allowed
        if unknown:
            raise EscalationError(f"[[{key}]]: unknown key(s) {sorted(unknown)}")
    return raw


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise EscalationError(f"{where}: missing '{key}'")
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EscalationError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _statuses(raw: Mapping[str, Any]) -> tuple[str, ...]:
    statuses = _strings(raw, "status", "[[label]]")
    bad = [s for s in statuses if s not in Overall.__members__]
    if bad:
        raise EscalationError(f"[[label]] '{raw.get('name')}': unknown status {bad}")
    return statuses


# --- deriving from a finished run ----------------------------------------------

def matches(finding: Finding, globs: Iterable[str]) -> bool:
    """A glob matches the rule id, the check id, the area, or `rule@resource`."""
    names = (finding.rule, finding.check, finding.area, f"{finding.rule}@{finding.resource}")
    return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)


def is_problem(f: Finding) -> bool:
    """A failure nobody has accepted (not muted), or a check that could not run."""
    return (f.status is Status.FAIL and f.muted is None) or f.status is Status.ERROR


def priority(report: Report) -> str:
    """The verdict's priority label (P0 when CRITICAL), or '' when it has none."""
    esc = report.escalation or Escalation()
    return dict(esc.priority).get(report.status.name, "")


def labels(report: Report) -> tuple[str, ...]:
    """The issue's labels (plan 4.2), derived from this run: priority first, then catalog order."""
    esc = report.escalation or Escalation()
    fails = [f for f in report.findings if is_problem(f) and f.status is Status.FAIL]
    result = [priority(report)] if priority(report) else []
    for rule in esc.labels:
        hit = report.status.name in rule.status or any(matches(f, rule.failing) for f in fails)
        if hit and rule.name not in result:
            result.append(rule.name)
    return tuple(result)


@dataclasses.dataclass(frozen=True)
class ComponentState:
    """An action item: its component, its findings (no passes, no skips) and a one-word state."""

    component: Component
    state: str  # CRITICAL, WARNING, COULD NOT CHECK, OK, NOT CHECKED
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
        problems = tuple(f for f in mine if is_problem(f))
        muted = tuple(f for f in mine if f.status is Status.FAIL and f.muted is not None)
        result.append(ComponentState(comp, _state(mine), problems, len(mine), muted))
    return result


def _state(findings: Sequence[Finding]) -> str:
    if not findings:
        return "NOT CHECKED"
    fails = [f for f in findings if f.status is Status.FAIL and f.muted is None]
    if any(f.severity is Severity.CRITICAL for f in fails):
        return "CRITICAL"
    if any(f.status is Status.ERROR for f in findings):
        return "COULD NOT CHECK"
    if fails:
        return "WARNING"
    return "OK"


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
        from infracheck.judge import verdict  # the judge's counts; verdict imports nothing of this module

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
        return CriterionResult(criterion, True, f"{len(relevant)} check(s) passed")
    check_of = {(f.rule, f.resource): f.check for f in report.findings}
    not_run = sum(1 for f in bad if f.status is Status.FAIL and f.muted is None and _not_run(f, check_of))
    failed = sum(1 for f in bad if f.status is Status.FAIL and f.muted is None) - not_run
    muted = sum(1 for f in bad if f.status is Status.FAIL and f.muted is not None)
    errors = len(bad) - failed - not_run - muted
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{not_run} not run"] if not_run else []
    parts += [f"{muted} failed but muted"] if muted else []
    parts += [f"{errors} could not be checked"] if errors else []
    first = next((f for f in bad if is_problem(f)), bad[0])
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
    applied = [s for s in report.fixes if s.outcome in ("applied", "waited")]
    states = []
    for phase in esc.timeline:
        if phase.done_when == "verdict" and not report.incomplete:
            states.append(PhaseState(phase, True, f"verdict {report.status.name}"))
        elif phase.done_when == "fixed" and report.before is not None:
            manual = sum(1 for s in report.fixes if s.kind == "manual")
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
    "ComponentState", "CriterionResult", "EscalationError", "OVERRIDABLE", "PhaseState", "components", "criteria",
    "expected_resolution", "hours", "is_problem", "labels", "matches", "parse", "priority", "timeline",
]
