"""A fleet in Markdown: the summary table, shared root causes, then a findings table per target (GitHub-flavoured,
every text from a report escaped as the issue update escapes it)."""

from __future__ import annotations

from collections.abc import Callable

from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import Fleet, Member
from infracheck.report.fleet import members


FLEET_MARKER = "<!-- infracheck:fleet-update -->"


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """GitHub-flavoured Markdown: every text from a report escaped (markdown.escape), as the issue update is."""
    from infracheck import __version__
    from infracheck.report.markdown import _TITLE, code, escape

    overall = fleet_stage.status(fleet)
    mark = "" if ascii_only else _TITLE[overall][0] + " "
    hidden = members.muted_line(members.counts_of(fleet))
    out = [FLEET_MARKER, f"## {mark}{escape(members.headline(fleet))}" + (f", {hidden}" if hidden else ""), "",
           f"**Verdict:** {overall.name}, the worst target's: {members.verdicts_line(fleet)}\\",
           f"**Checked:** {escape(members.checked_line(fleet))}", "",
           "| Target | Project | Region | Verdict | Root causes | First root cause |", "|---|---|---|---|---:|---|"]
    for m in fleet.members:
        causes = [c for c in fleet_stage.root_causes(m) if c.get("rule") != members.UNCHECKED_RULE]
        first = members.first_cause(m)
        said = (f"not checked: {m.reason}" if m.reason else
                fleet_stage.first_line(str(first.get("message") or "")) if first else "")
        out.append(f"| **{escape(m.target.name)}** | {escape(m.target.project)} | {escape(m.target.region)} "
                   f"| {m.status.name} | {'-' if m.reason else len(causes)} | {escape(said)} |")
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        out += ["", "### The same root cause in several targets", ""]
        for s in shared:
            found = ", ".join(f"**{escape(t)}** ({escape(r)})" for t, r, _ in s.targets)
            out.append(f"- {code(s.rule)} ({escape(s.severity or s.status)}) in {len(s.targets)} targets: {found}"
                       f" - e.g. {escape(fleet_stage.first_line(s.targets[0][2]))}")
    for m in fleet.members:
        out += ["", *_target(m, escape, code)]
    out += ["", "---", "", f"_Written by infracheck {__version__} from the targets' reports._"]
    return "\n".join(out) + "\n"


def _target(m: Member, escape: Callable[[str], str], code: Callable[[str], str]) -> list[str]:
    report = members.report_of(m)
    c = report.get("counts") or {}
    counted = (f"{c.get('critical', 0)} critical, {c.get('warning', 0)} warning, "
               f"{c.get('error', 0)} could not check, " + (f"{c['muted']} muted, " if c.get("muted") else "")
               + f"{c.get('passed', 0)} passed")
    lines = [f"### Target {escape(m.target.name)} ({escape(m.target.project)}, {escape(m.target.region)}): "
             f"{m.status.name}", "", f"**Findings:** {counted}" + ("\\" if m.reason else "")]
    if m.reason:
        lines.append(f"**Not checked:** {escape(m.reason)}")
    if report.get("incomplete"):
        lines += ["", "> **Incomplete:** its run was interrupted; only the checks that finished are below."]
    shown, hidden = members.problems_of(m)
    if not shown:
        lines += ["", "No problem found: every check that ran passed."]
        return lines
    lines += ["", "| Target | Finding | Rule | Resource | Message | Fix |", "|---|---|---|---|---|---|"]
    for f in shown:
        kind = f"muted {members.kind_of(f)}" if f.get("muted") else members.kind_of(f)
        lines.append(f"| {escape(m.target.name)} | {kind} | {code(str(f.get('rule')))} "
                     f"| {escape(str(f.get('resource')))} | {escape(str(f.get('message') or ''))} "
                     f"| {escape(str(f.get('remedy') or ''))} |")
    if hidden:
        lines += ["", f"... and {hidden} more check{'s' * (hidden != 1)} that could not run, for the reason above."]
    return lines

