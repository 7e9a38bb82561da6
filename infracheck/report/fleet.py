"""The fleet report: schema `infracheck/fleet/v1` (docs/fleet.md) and its text summary.

One function makes the document (`as_dict`), for a live fleet run, a shard
and `merge` alike, so a merge of shards is the single run's document but
for timings. Each target is a v1 report (report/json.py) with its `target`
name, `tags`, and `not_checked` (why it could not be checked, or null).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import FLEET_SCHEMA, Fleet, Member
from infracheck.model import Finding, Overall, Report, Status


# The rule of the one finding of a target nothing ran for (its v1 report's could-not-check).
UNCHECKED_RULE = "target.checked"


def as_dict(fleet: Fleet) -> dict[str, Any]:
    checked = [m for m in fleet.members if not m.reason]
    by_status = {o.name: sum(1 for m in fleet.members if m.status is o) for o in reversed(Overall)}
    return {
        "schema": FLEET_SCHEMA,
        "status": fleet_stage.status(fleet).name,
        "generated_at": fleet.generated_at,
        "selection": {
            "fingerprint": fleet.fingerprint,
            "targets": [{"target": t.name, "project": t.project, "region": t.region, "tags": dict(t.tags)}
                        for t in fleet.selection],
        },
        "shard": None if fleet.shard is None else {
            "index": fleet.shard.index, "count": fleet.shard.count, "attempt": fleet.shard.attempt,
            "source": fleet.shard.source,
        },
        "counts": {"targets": len(fleet.members), "checked": len(checked),
                   "not_checked": len(fleet.members) - len(checked), **by_status},
        "not_checked": [{"target": m.target.name, "reason": m.reason} for m in fleet.members if m.reason],
        "shared_root_causes": [
            {"rule": s.rule, "status": s.status, "severity": s.severity,
             "targets": [{"target": t, "resource": r, "message": msg} for t, r, msg in s.targets]}
            for s in fleet_stage.shared_causes(fleet)
        ],
        "targets": [_entry(m) for m in fleet.members],
    }


def _entry(m: Member) -> dict[str, Any]:
    report = m.report if m.report is not None else _unchecked_report(m)
    return {"target": m.target.name, "tags": dict(m.target.tags), "not_checked": m.reason, **report}


def _unchecked_report(m: Member) -> Mapping[str, Any]:
    """The v1 report of a target nothing ran for: one could-not-check finding naming the reason."""
    from infracheck.report import json as json_report

    reason = m.reason or "no report"
    finding = Finding(check="target", rule=UNCHECKED_RULE, area="target", status=Status.ERROR, severity=None,
                      resource=m.target.name, message=f"Target {m.target.name} could not be checked: {reason}")
    report = Report(m.target.project, m.target.region, Overall.UNKNOWN, (), (finding,), ())
    return json_report.as_dict(report)


def render_as(fmt: str, fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The fleet in format `fmt` (a name of report.FORMATTERS)."""
    if fmt == "json":
        return render(fleet)
    if fmt == "text":
        return render_text(fleet, color=color, ascii_only=ascii_only)
    from infracheck.errors import CannotRun

    raise CannotRun(f"--format {fmt}: a fleet report is text or json")


def step_summary(fleet: Fleet) -> str:
    """What a fleet run appends to $GITHUB_STEP_SUMMARY."""
    return render_text(fleet)


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    return json.dumps(as_dict(fleet), indent=2) + "\n"


def render_text(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The summary first (a line per target, shared root causes, what was checked), then each target."""
    overall = fleet_stage.status(fleet)
    total = len(fleet.members)
    where = f", shard {fleet.shard} of {len(fleet.selection)} selected" if fleet.shard is not None else ""
    lines = [f"FLEET {overall.name}: {total} target{'s' * (total != 1)}{where}", ""]
    width = max([len(m.target.name) for m in fleet.members] + [4])
    for m in fleet.members:
        causes = fleet_stage.root_causes(m)
        if m.reason:
            said = f"not checked: {m.reason}"
        elif causes:
            said = (f"{len(causes)} root cause{'s' * (len(causes) != 1)}, first: "
                    f"{fleet_stage.first_line(str(causes[0].get('message') or ''))}")
        else:
            said = "no root cause"
        lines.append(f"  {m.status.name:<8}  {m.target.name:<{width}}  {m.target.project} {m.target.region}  {said}")
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        lines.append("")
    for s in shared:
        found = ", ".join(f"{t} ({r})" for t, r, _ in s.targets)
        lines.append(f"the same root cause in {len(s.targets)} targets: {s.rule} ({s.severity or s.status}): "
                     f"{found} - e.g. {fleet_stage.first_line(s.targets[0][2])}")
    skipped = [m for m in fleet.members if m.reason]
    line = f"{total - len(skipped)}/{total} targets checked"
    if skipped:
        named = ", ".join(f"{m.target.name} ({m.reason})" for m in skipped)
        line += f"; {len(skipped)} could not be checked: {named}"
    lines += ["", line]
    for m in fleet.members:
        lines += ["", *_target_text(m)]
    return "\n".join(lines) + "\n"


def _target_text(m: Member) -> list[str]:
    """One target's part: its verdict and counts, each root cause with its remedy, its next actions."""
    head = f"== {m.target.name} ({m.target.project}, {m.target.region}): {m.status.name}"
    # The document's v1 report, so a live run and a merge of its shards print the same text.
    report = m.report if m.report is not None else _unchecked_report(m)
    counts = report.get("counts") or {}
    lines = [head, "  " + ", ".join(f"{counts.get(k, 0)} {label}" for k, label in
                                    (("critical", "critical"), ("warning", "warning"),
                                     ("error", "could not be checked"), ("passed", "passed")))]
    if m.reason:
        lines.append(f"  not checked: {m.reason}")
    remedies = {(f.get("rule"), f.get("resource")): f.get("remedy") for f in report.get("findings") or ()}
    # A target nothing ran for has one could-not-check, its reason, said on the line above.
    # A target nothing ran for has one could-not-check, its reason, said on the line above.
    causes = [c for c in report.get("root_causes") or () if c.get("rule") != UNCHECKED_RULE]
    shown = causes[:3] if m.reason else causes  # a target out of reach: every check says the same
    for cause in shown:
        label = (cause.get("severity") or cause.get("status") or "").upper()
        explains = len(cause.get("explains") or ())
        more = f" (explains {explains} more)" if explains else ""
        lines.append(f"  [{label}] {fleet_stage.first_line(str(cause.get('message') or ''))}{more}")
        remedy = remedies.get((cause.get("rule"), cause.get("resource")))
        if remedy:
            lines.append(f"      fix: {fleet_stage.first_line(str(remedy))}")
    if len(shown) < len(causes):
        lines.append(f"  ... and {len(causes) - len(shown)} more could-not-checks like these")
    for action in report.get("next_actions") or ():
        lines.append(f"  next: {action}")
    return lines
