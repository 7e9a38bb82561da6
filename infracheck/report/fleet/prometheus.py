"""A fleet in the Prometheus exposition format: each target's families labelled target, project and region,
and the fleet's verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import Fleet
from infracheck.report.fleet import members
from infracheck.model import Overall


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """Each target's families labelled `target`, `project`, `region`; the fleet's verdict; who was not checked."""
    from infracheck import __version__
    from infracheck.report.prometheus import _number as number
    from infracheck.report.prometheus import exposition, gauge, labelled

    where = ["target", "project", "region"]
    overall = fleet_stage.status(fleet)
    fleet_verdict = labelled("infracheck_fleet_verdict",
                             "The fleet's verdict (its worst target's): 1 for it, 0 for the others.", ["verdict"])
    targets = labelled("infracheck_fleet_targets", "The fleet's targets by verdict.", ["verdict"])
    for o in Overall:
        fleet_verdict.add_metric([o.name], 1.0 if overall is o else 0.0)
        targets.add_metric([o.name], float(sum(1 for m in fleet.members if m.status is o)))
    not_checked = labelled("infracheck_target_not_checked", "A target that could not be checked (always 1), and why.",
                           [*where, "reason"])
    up = labelled("infracheck_up", "1 when the target's run finished and judged every planned check.", where)
    verdict_family = labelled("infracheck_verdict",
                              "Each target's verdict: 1 for the verdict it gave, 0 for the others.",
                              [*where, "verdict"])
    counts = labelled("infracheck_findings", "Each target's findings by outcome (critical, warning, error = could "
                      "not check, muted, passed, skipped).", [*where, "outcome"])
    status = labelled("infracheck_rule_status",
                      "Each rule on each resource of each target: 1 for its status, 0 for the others.",
                      [*where, "area", "rule", "resource", "severity", "status"])
    muted = labelled("infracheck_rule_muted", "A failing rule accepted by a mute.",
                     [*where, "area", "rule", "resource"])
    values = labelled("infracheck_rule_value",
                      "The number a rule read; never a value a secrets check read (its report holds none).",
                      [*where, "area", "rule", "resource"])
    info = labelled("infracheck_info", "Which infracheck judged which target (always 1).",
                    ["version", *where, "engine", "issue"])
    for m in fleet.members:
        report = members.report_of(m)
        labels = [m.target.name, m.target.project, m.target.region]
        if m.reason:
            not_checked.add_metric([*labels, m.reason], 1.0)
        up.add_metric(labels, 0.0 if m.reason or report.get("incomplete") else 1.0)
        for o in Overall:
            verdict_family.add_metric([*labels, o.name], 1.0 if m.status is o else 0.0)
        for outcome, count in (report.get("counts") or {}).items():
            counts.add_metric([*labels, str(outcome)], float(count))
        for f in _one_per_series(members.findings_of(m)):
            identity = [*labels, str(f.get("area")), str(f.get("rule")), str(f.get("resource"))]
            for state in ("pass", "fail", "error", "skip"):
                status.add_metric([*identity, str(f.get("severity") or ""), state],
                                  1.0 if f.get("status") == state else 0.0)
            if f.get("status") == "fail" and f.get("muted"):
                muted.add_metric(identity, 1.0)
            read = number(f.get("actual"))
            if read is not None:
                values.add_metric(identity, read)
        info.add_metric([__version__, *labels, str(report.get("engine") or ""), str(report.get("issue") or "")], 1.0)
    timed = []
    try:
        at = dt.datetime.fromisoformat(fleet.generated_at) if fleet.generated_at else None
    except ValueError:
        at = None
    if at is not None:
        timed.append(gauge("infracheck_last_run_timestamp_seconds",
                           "When the fleet was judged (Unix time; a merge's is its latest shard's).", at.timestamp()))
    return exposition([*timed, fleet_verdict, targets, not_checked, up, verdict_family, counts, status, muted, values,
                       info])


_RANK = {"skip": 0, "pass": 1, "error": 2, "fail": 3}


def _one_per_series(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One finding per (area, rule, resource), the worst: a scrape with two samples of one series is refused."""
    chosen: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for f in findings:
        key = (str(f.get("area")), str(f.get("rule")), str(f.get("resource")))
        if key not in chosen or _RANK.get(str(f.get("status")), 0) > _RANK.get(str(chosen[key].get("status")), 0):
            chosen[key] = f
    return list(chosen.values())

