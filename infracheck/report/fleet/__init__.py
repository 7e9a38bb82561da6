"""The fleet report: schema `infracheck/fleet/v1` (docs/fleet.md), its text summary, and every other format.

One function makes the document (`as_dict`), for a live fleet run, a shard
and `merge` alike, so a merge of shards is the single run's document but
for timings. Each target is a v1 report (report/json.py) with its `target`
name, `tags`, and `not_checked` (why it could not be checked, or null).
`render_as` gives the fleet in any format of FORMATTERS from those v1
reports alone (docs/fleet.md#formats): text and json here, each other
format in its own module of this package (markdown.py, junit.py, ...),
imported when asked for as report/__init__.py imports the single-target
ones; members.py is what they all read of the members.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from infracheck.errors import CannotRun
from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import FLEET_SCHEMA, Fleet, Member
from infracheck.model import Overall
from infracheck.report.fleet import members
from infracheck.report.fleet.members import UNCHECKED_RULE

# format -> the module of this package that renders a fleet in it (imported when asked for, as
# report/__init__.py imports the single-target formats); text and json are here.


_MODULES = {name: name for name in ("markdown", "labels", "message", "junit", "nagios", "github", "prometheus")}
FORMATS = ("text", "json", *_MODULES)

__all__ = ["FORMATS", "UNCHECKED_RULE", "as_dict", "cycle_text", "render", "render_as", "render_text", "step_summary"]


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
    report = m.report if m.report is not None else members.unchecked_report(m)
    return {"target": m.target.name, "tags": dict(m.target.tags), "not_checked": m.reason, **report}


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    return json.dumps(as_dict(fleet), indent=2) + "\n"


def render_text(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The summary first (a line per target, shared root causes, what was checked), then each target."""
    lines = [members.headline(fleet), ""]
    width = max([len(m.target.name) for m in fleet.members] + [4])
    for m in fleet.members:
        lines.append(f"  {m.status.name:<8}  {m.target.name:<{width}}  {m.target.project} {m.target.region}  "
                     f"{members.said(m)}")
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        lines.append("")
    for s in shared:
        found = ", ".join(f"{t} ({r})" for t, r, _ in s.targets)
        lines.append(f"the same root cause in {len(s.targets)} targets: {s.rule} ({s.severity or s.status}): "
                     f"{found} - e.g. {fleet_stage.first_line(s.targets[0][2])}")
    lines += ["", members.checked_line(fleet)]
    for m in fleet.members:
        lines += ["", *_target_text(m)]
    return "\n".join(lines) + "\n"


def _target_text(m: Member) -> list[str]:
    """One target's part: its verdict and counts, each root cause with its remedy, its next actions."""
    head = f"== {m.target.name} ({m.target.project}, {m.target.region}): {m.status.name}"
    # The document's v1 report, so a live run and a merge of its shards print the same text.
    report = m.report if m.report is not None else members.unchecked_report(m)
    counts = report.get("counts") or {}
    lines = [head, "  " + ", ".join(f"{counts.get(k, 0)} {label}" for k, label in
                                    (("critical", "critical"), ("warning", "warning"),
                                     ("error", "could not be checked"), ("passed", "passed")))]
    if m.reason:
        lines.append(f"  not checked: {m.reason}")
    remedies = {(f.get("rule"), f.get("resource")): f.get("remedy") for f in report.get("findings") or ()}
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


def render_as(fmt: str, fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The fleet report in a format of FORMATTERS (text, json, markdown, junit, ...).

    Each is the single-target format's convention with the target named beside
    every finding, drawn from the members' v1 reports alone: a live fleet run
    and a merge of its shards render the same. A target that could not be
    checked is named with its reason in each one, and the verdict is the fleet's.
    """
    if fmt == "text":
        return render_text(fleet, color=color, ascii_only=ascii_only)
    if fmt == "json":
        return render(fleet)
    if fmt not in _MODULES:
        raise CannotRun(f"unknown report format '{fmt}' (one of {', '.join(FORMATS)})")
    module = importlib.import_module(f"{__name__}.{_MODULES[fmt]}")
    text: str = module.render(fleet, color=color, ascii_only=ascii_only)
    return text


def step_summary(fleet: Fleet) -> str:
    """What `--format github` appends to $GITHUB_STEP_SUMMARY: the Markdown fleet report, as the single run does."""
    from infracheck.report.fleet import markdown

    return markdown.render(fleet)


def cycle_text(number: int, at: str, fleet: Fleet, previous: Fleet | None, *, color: bool = False,
               ascii_only: bool = False) -> str:
    """What `watch --targets` prints for a cycle: the summary first, then each target's verdict change."""
    if previous is None:
        summary = render_text(fleet, color=color, ascii_only=ascii_only).split("\n== ", 1)[0]
        return f"{at} cycle {number}\n{summary.rstrip()}\n\n"
    before = {m.target.name: m for m in previous.members}
    lines = []
    for m in fleet.members:
        was = before.get(m.target.name)
        if was is None or was.status is m.status:
            continue
        causes = fleet_stage.root_causes(m)
        why = (f": {m.reason}" if m.reason else
               f": {fleet_stage.first_line(str(causes[0].get('message') or ''))}" if causes else "")
        lines.append(f"{at} {m.target.name} {was.status.name} -> {m.status.name}{why}")
    old, new = fleet_stage.status(previous), fleet_stage.status(fleet)
    if old is not new:
        lines.append(f"{at} FLEET {old.name} -> {new.name}")
    return "".join(line + "\n" for line in lines)

