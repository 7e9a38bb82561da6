"""A fleet's stakeholder message (plan 4.3): which targets are not healthy, why, and what to do first."""

from __future__ import annotations

from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import Fleet
from infracheck.report.fleet import members
from infracheck.model import Overall
from infracheck.report.fleet.labels import priority


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The stakeholder message (plan 4.3) of a fleet: which targets are not healthy, why, and what to do first.

    The same shape and limits as the single-target message (message.py: a
    subject, IMPACT, ROOT CAUSE, ACTIONS REQUIRED, what was checked; at most
    MAX_LINES plain lines). Every target that could not be checked is named
    with its reason in IMPACT, before anything a long fleet can cut.
    """
    from infracheck.report import message

    overall = fleet_stage.status(fleet)
    prio = priority(fleet)
    total = len(fleet.members)
    hidden = members.muted_line(members.counts_of(fleet))
    word = {Overall.CRITICAL: "Escalation", Overall.UNKNOWN: "Check Incomplete", Overall.WARNING: "Warnings",
            Overall.HEALTHY: "Healthy"}[overall]
    subject = " ".join(p for p in (prio, "Infrastructure", word, "-", f"fleet of {total} target{'s' * (total != 1)}")
                       if p)
    lines = [f"Subject: {subject} ({overall.name}{', ' + hidden if hidden else ''})", "",
             message._HEADLINE[overall].format(prio=prio or overall.name), "", "IMPACT:",
             f"- Fleet status {overall.name} (its worst target's): {members.verdicts_line(fleet)}",
             f"- {members.checked_line(fleet)}"]
    if hidden:
        lines.append(f"- {hidden} (accepted until their expiry), not counted")
    interrupted = [m.target.name for m in fleet.members if members.report_of(m).get("incomplete")]
    if interrupted:
        lines.append(f"- Interrupted, only the checks that finished are counted: {', '.join(interrupted)}")
    troubled = [m for m in members.worst_first(fleet) if m.status is not Overall.HEALTHY]
    healthy = [m.target.name for m in fleet.members if m.status is Overall.HEALTHY]
    if troubled:
        lines += ["", "TARGETS NOT HEALTHY:"]
        lines += message._bullets([f"{m.target.name} ({m.target.project}, {m.target.region}): {m.status.name} - "
                                  f"{members.said(m)}" for m in troubled], "- ")
    if healthy:
        lines += ["", f"HEALTHY: {', '.join(healthy)}"]
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        lines += ["", "ROOT CAUSE SHARED BY SEVERAL TARGETS:"]
        lines += message._bullets([f"{s.rule} ({s.severity or s.status}) in {len(s.targets)} targets: "
                                  f"{', '.join(t for t, _, _ in s.targets)} - {s.targets[0][2]}" for s in shared], "- ")
    actions = []
    for m in troubled:
        cause = members.first_cause(m)
        if m.reason:
            actions.append(f"{m.target.name}: make it checkable ({m.reason}), then re-run")
        elif cause is not None:
            fix = members.remedy_of(m, cause) or str(cause.get("message") or "")
            actions.append(f"{m.target.name}: {cause.get('resource')}: {fix}")
    lines += ["", "ACTIONS REQUIRED:"]
    if actions:
        lines += message._bullets(actions, "{n}. ")
    else:  # an empty shard (more shards than targets) is UNKNOWN with nothing to do
        lines.append("- None: every target is healthy." if fleet.members else "- None: this report holds no target.")
    commands = sum(len(members.report_of(m).get("commands") or ()) for m in fleet.members)
    projects = sorted({m.target.project for m in fleet.members})
    lines += ["", "WHAT INFRACHECK CHECKED:",
              f"- {commands} command(s) over {total} target(s) in {len(projects)} project(s): "
              + ", ".join(projects[:message._LIST]) + (" ..." if len(projects) > message._LIST else "")]
    return "\n".join(message._fit(lines)) + "\n"

