"""The machine-readable report, schema `infracheck/report/v1` (documented in the README)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from infracheck.judge import causes, escalation, verdict
from infracheck.model import REPORT_SCHEMA, Cycle, Finding, FixStep, Mute, Report, Status

SCHEMA = REPORT_SCHEMA


def _class(finding: Finding) -> str | None:
    # A could-not-check (and a skip) is neither infrastructure nor configuration.
    judged = finding.status in (Status.PASS, Status.FAIL)
    return finding.category.value if judged and finding.category else None


def as_dict(report: Report) -> dict[str, Any]:
    roots = causes.root_causes(report.findings)
    return {
        "schema": SCHEMA,
        "status": report.status.name,
        "project": report.project,
        "region": report.region,
        "issue": report.issue,
        "incomplete": report.incomplete,
        "generated_at": report.generated_at.isoformat(timespec="seconds") if report.generated_at else None,
        "engine": report.engine.value if report.engine else None,
        "engine_note": report.engine_note,
        "unfinished_areas": list(report.unfinished),
        "notes": list(report.notes),
        "load_balancer": report.load_balancer,
        "counts": verdict.counts(report.findings),
        "labels": list(escalation.labels(report)),
        "findings": [
            {
                "check": f.check,
                "rule": f.rule,
                "area": f.area,
                "status": f.status.value,
                "severity": f.severity.name.lower() if f.severity else None,
                "resource": f.resource,
                "message": f.message,
                "actual": f.actual,
                "expected": f.expected,
                "remedy": f.remedy,
                "muted": _mute(f.muted) if f.muted else None,
                "change": f.change.value if f.change else None,
                "class": _class(f),
                "detail": f.detail,
                "caused_by": [{"rule": rule, "resource": resource} for rule, resource in f.caused_by],
            }
            for f in report.findings
        ],
        "root_causes": [
            {
                "rule": root.finding.rule,
                "resource": root.finding.resource,
                "status": root.finding.status.value,
                "severity": root.finding.severity.name.lower() if root.finding.severity else None,
                "class": _class(root.finding),
                "message": root.finding.message,
                "explains": [{"rule": f.rule, "resource": f.resource} for f in root.explains],
            }
            for root in roots
        ],
        "root_cause_split": dataclasses.asdict(causes.split(roots)),
        "stale_mutes": [_mute(m) for m in report.stale_mutes],
        "changes": {
            "since": report.changes.since,
            "new": [_identity(f) for f in report.changes.new],
            "still": [_identity(f) for f in report.changes.still],
            "resolved": [_identity(f) for f in report.changes.resolved],
        } if report.changes else None,
        "commands": [
            {
                "argv": list(o.argv),
                "exit_code": o.exit_code,
                "duration_s": round(o.duration_s, 3),
                "error": o.error.message if o.error else None,
                "error_kind": o.error.kind.value if o.error else None,
                **({"retries": o.retries} if o.retries else {}),
            }
            for o in report.outcomes
        ],
        "next_actions": verdict.next_actions(report.findings, report.incomplete),
        **({"fixes": [_fix(f) for f in report.fixes]} if report.fixes else {}),
        **({"status_before_fixes": report.before.name} if report.before is not None else {}),
    }


def _fix(step: FixStep) -> dict[str, Any]:
    return {
        "step": step.number,
        "kind": step.kind.value,
        "fixes": [{"rule": rule, "resource": resource} for rule, resource in step.fixes],
        "argv": list(step.argv),
        "changes": list(step.changes),
        "instruction": step.instruction,
        "reason": step.reason,
        "outcome": step.outcome.value,
        "exit_code": step.exit_code,
        "message": step.message,
        "after": list(step.after),
    }


def _mute(m: Mute) -> dict[str, Any]:
    return {"rule": m.rule, "resource": m.resource, "reason": m.reason, "owner": m.owner or None,
            "expires": m.expires.isoformat(), "file": m.file, "line": m.line, "target": m.target}


def _identity(f: Finding) -> dict[str, Any]:
    """A finding in `changes`: enough to find it, and what it said."""
    return {"rule": f.rule, "resource": f.resource, "status": f.status.value,
            "severity": f.severity.name.lower() if f.severity else None, "message": f.message}


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"


def cycle_line(c: Cycle) -> str:
    """One watch cycle as one line of JSON Lines: the report plus where the cycle stands."""
    data = as_dict(c.report)
    data["watch"] = {
        "cycle": c.number,
        "at": c.at,
        "full": c.full,
        "commands": c.commands,
        "changed": [{"rule": ch.key[0], "resource": ch.key[1],
                     "before": ch.before.status.value if ch.before else None,
                     "after": ch.after.status.value if ch.after else None} for ch in c.changes],
    }
    return json.dumps(data, separators=(",", ":")) + "\n"
