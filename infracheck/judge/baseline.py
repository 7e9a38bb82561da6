"""What changed since an earlier run: a JSON report in, each finding marked new/still/resolved (judge stage).

A finding's identity is its rule and its resource. A problem is a failure or a
could-not-check: one now that was not one then is `new`, one then and now is
`still`, one then that passes now is `resolved` (as is a missing resource
whose check now passes a rule on it). A problem of the baseline that this
run skipped, or did not reach, is none of the three: nothing says it went
away.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infracheck.judge import verdict
from infracheck.model import REPORT_SCHEMA, CannotRun, Change, Changes, Finding, Severity, Status


class BaselineError(CannotRun):
    """A file that cannot serve as a baseline: one line saying why."""


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The parts of an earlier report that a comparison needs."""

    project: str
    generated_at: str | None
    findings: tuple[Finding, ...]




def load(path: Path, project: str, region: str | None = None) -> Baseline:
    """Read an infracheck JSON report of `project` (and `region`, when given); anything else is a BaselineError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"baseline {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"baseline {path} is not an infracheck JSON report (not UTF-8 text)") from None
    return parse(text, str(path), project, region)


def parse(text: str, name: str, project: str, region: str | None = None) -> Baseline:
    """Validate the text of a report called `name` as a baseline for a run on `project` in `region`."""
    not_report = f"baseline {name} is not an infracheck JSON report"
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise BaselineError(f"{not_report} (not JSON" + (f" at line {line})" if line else ")")) from None
    if not isinstance(data, dict) or "schema" not in data:
        raise BaselineError(f"{not_report} (no 'schema' key; make one with --format json)")
    if data["schema"] != REPORT_SCHEMA:
        raise BaselineError(f"baseline {name} has schema {json.dumps(data['schema'])}; "
                            f"this infracheck compares with {REPORT_SCHEMA} reports")
    if data.get("project") != project:
        raise BaselineError(f"baseline {name} is a report on project {json.dumps(data.get('project'))}, "
                            f"this run is on '{project}'")
    # The regional resources (connector, services) of another region are other resources:
    # comparing with them would call every finding new or resolved.
    if region is not None and data.get("region") != region:
        raise BaselineError(f"baseline {name} is a report on region {json.dumps(data.get('region'))}, "
                            f"this run is on '{region}'")
    generated_at = data.get("generated_at")
    if generated_at is not None and not isinstance(generated_at, str):
        raise BaselineError(f"{not_report} ('generated_at' is not a string)")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise BaselineError(f"{not_report} ('findings' is not a list)")
    parsed = []
    for number, item in enumerate(findings, 1):
        finding = _finding(item)
        if finding is None:
            raise BaselineError(f"{not_report} (finding {number} lacks a string rule, resource and message, "
                                f"or has an unknown status or severity)")
        parsed.append(finding)
    return Baseline(project, generated_at, tuple(parsed))


def _finding(item: Any) -> Finding | None:
    if not isinstance(item, dict):
        return None
    if not all(isinstance(item.get(key), str) for key in ("rule", "resource", "message", "status")):
        return None
    try:
        status = Status(item["status"])
        severity = Severity[item["severity"].upper()] if item.get("severity") is not None else None
    except (ValueError, KeyError, AttributeError):
        return None
    return Finding(
        check=str(item.get("check", "")), rule=item["rule"], area=str(item.get("area", "")), status=status,
        severity=severity, resource=item["resource"], message=item["message"],
        remedy=str(item.get("remedy") or ""),
    )


def compare(findings: Iterable[Finding], baseline: Baseline) -> tuple[tuple[Finding, ...], Changes]:
    """Each finding marked against the baseline, and the three lists (new and still from this run)."""
    before: dict[tuple[str, str], Status] = {}
    then: dict[tuple[str, str], Finding] = {}
    for f in baseline.findings:
        key = (f.rule, f.resource)
        if verdict.problem(f) and key not in then:
            then[key] = f
        # One identity, several findings (rare): a problem anywhere is the state to compare with.
        if key not in before or verdict.problem(f):
            before[key] = f.status
    marked = []
    resolved: set[tuple[str, str]] = set()
    for f in findings:
        key = (f.rule, f.resource)
        change = _change(before.get(key), f.status)
        if change is Change.RESOLVED:
            resolved.add(key)
        marked.append(dataclasses.replace(f, change=change))
    # A missing resource is a finding of its own (`<check>.exists`) that has no
    # passing twin once the resource exists: its check passing a rule on that
    # resource now is what says the problem went away.
    seen = {(f.rule, f.resource) for f in marked}
    passing = {(f.check, f.resource) for f in marked if f.status is Status.PASS}
    resolved |= {key for key, old in then.items() if key not in seen and (old.check, old.resource) in passing}
    return tuple(marked), Changes(
        since=baseline.generated_at,
        new=tuple(f for f in marked if f.change is Change.NEW),
        still=tuple(f for f in marked if f.change is Change.STILL),
        resolved=tuple(old for key, old in then.items() if key in resolved),  # in the baseline's order
    )


def _change(before: Status | None, now: Status) -> Change | None:
    if now in verdict.PROBLEM:
        return Change.STILL if before is now else Change.NEW
    if now is Status.PASS and before in verdict.PROBLEM:
        return Change.RESOLVED
    return None
