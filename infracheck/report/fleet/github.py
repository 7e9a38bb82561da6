"""A fleet as GitHub Actions workflow commands: one annotation per finding, the target in its title, then the
fleet's notice."""

from __future__ import annotations

from infracheck.judge.fleet import Fleet
from infracheck.report.fleet import members


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """`::error title=infracheck critical in TARGET: rule (resource)::message`, then the fleet's `::notice`."""
    from infracheck.report.github import command

    lines = []
    for m in fleet.members:
        shown, hidden = members.problems_of(m)
        for f in shown:
            if f.get("muted"):
                continue  # accepted: no annotation, its count is in the notice
            kind = members.kind_of(f)
            name = "error" if kind == "critical" else "warning"
            if f.get("rule") == members.UNCHECKED_RULE:
                more = f" ({hidden} more check{'s' * (hidden != 1)} could not run for it)" if hidden else ""
                lines.append(command(name, f"{f.get('message')}{more}",
                                     title=f"infracheck could not check target {m.target.name}"))
                continue
            message = str(f.get("message") or "") + (f"\nfix: {f.get('remedy')}" if f.get("remedy") else "")
            lines.append(command(name, message,
                                 title=f"infracheck {kind} in {m.target.name}: {f.get('rule')} ({f.get('resource')})"))
    hidden_muted = members.muted_line(members.counts_of(fleet))
    interrupted = [m.target.name for m in fleet.members if members.report_of(m).get("incomplete")]
    muted = f", {hidden_muted}" if hidden_muted else ""
    summary = (f"{members.headline(fleet)}{muted}: {members.verdicts_line(fleet)}; "
               f"{members.checked_line(fleet)}")
    if interrupted:
        summary += f"; interrupted: {', '.join(interrupted)}"
    lines.append(command("notice", summary, title="infracheck fleet"))
    return "\n".join(lines) + "\n"

