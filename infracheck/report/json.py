"""The machine-readable report, schema `infracheck/report/v1` (documented in the README)."""

from __future__ import annotations

import json
from typing import Any

from infracheck import escalation, verdict
from infracheck.model import Report

SCHEMA = "infracheck/report/v1"


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "status": report.status.name,
        "project": report.project,
        "region": report.region,
        "issue": report.issue,
        "incomplete": report.incomplete,
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
            }
            for f in report.findings
        ],
        "commands": [
            {
                "argv": list(o.argv),
                "exit_code": o.exit_code,
                "duration_s": round(o.duration_s, 3),
                "error": o.error.message if o.error else None,
                "error_kind": o.error.kind.value if o.error else None,
            }
            for o in report.outcomes
        ],
        "next_actions": verdict.next_actions(report.findings, report.incomplete),
    }


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"
