"""The stakeholder message (plan 4.3) as plain text: a subject line, then impact,
root cause, actions required and what infracheck checked.

At most MAX_LINES lines, no colour, no emoji: it is pasted into mail and chat.
Long lists are cut with a pointer to the issue update, which has everything.
"""

from __future__ import annotations

import shlex

from infracheck.judge import causes, escalation, verdict
from infracheck.model import Escalation, Finding, Overall, Report, Severity, Status

MAX_LINES = 40
_LIST = 5  # items per list before "... and N more"

_HEADLINE = {
    Overall.CRITICAL: "IMMEDIATE ACTION REQUIRED: {prio} infrastructure issue",
    Overall.UNKNOWN: "ACTION REQUIRED: infrastructure checks could not run",
    Overall.WARNING: "FOR ATTENTION: infrastructure configuration warnings",
    Overall.HEALTHY: "FOR INFORMATION: infrastructure checks pass",
}


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    c = verdict.counts(report.findings)
    prio = escalation.priority(report)
    env = report.escalation.environment if report.escalation else ""
    issue = f"Issue #{report.issue} " if report.issue else ""
    where = f"{env} environment" if env else f"project {report.project}"
    subject = " ".join(p for p in (prio, "Infrastructure", _word(report.status), "-", issue + where) if p)
    hidden = verdict.muted(c)  # in the subject: a mute must never turn an outage green unnoticed
    esc = report.escalation or Escalation()
    escalated = report.status is not Overall.HEALTHY
    lines = [f"Subject: {subject} ({report.status.name}{', ' + hidden if hidden else ''})"]
    if esc.recipients:
        lines.append(f"To: {', '.join(esc.recipients)}")
    lines += ["", _HEADLINE[report.status].format(prio=prio or report.status.name), ""]

    states = escalation.components(report)
    broken = [st.component.name for st in states if st.state not in (escalation.State.OK, escalation.State.NOT_CHECKED)]
    lines.append("IMPACT:")
    lines.append(f"- Overall status {report.status.name}: {c['critical']} critical failure(s), "
                 f"{c['warning']} warning(s), {c['error']} check(s) could not run")
    if escalated and esc.business_impact:
        lines.append(f"- Business impact: {_one_line(esc.business_impact)}")
    if broken:
        lines.append(f"- Affected: {', '.join(broken)}")
    if c.get("muted"):
        lines.append(f"- {hidden} (accepted until their expiry), not counted")
    if report.changes is not None:
        ch = report.changes
        lines.append(f"- Since the last update: {len(ch.resolved)} resolved, {len(ch.new)} new, "
                     f"{len(ch.still)} still failing")
    if report.incomplete:
        lines.append("- The run was interrupted: only the checks that finished are counted")

    fails = [f for f in report.findings if verdict.counted(f)]
    critical = [f for f in fails if f.severity is Severity.CRITICAL]
    errors = [f for f in report.findings if f.status is Status.ERROR]
    roots = list(causes.root_causes(report.findings))
    if roots:
        split = causes.split(roots)
        lines += ["", "ROOT CAUSE:", f"- {split.total} root cause(s): {split.words()}"]
        lines += _bullets([r.finding.message + (f" (explains {len(r.explains)} more)" if r.explains else "")
                           for r in roots], "- ")

    # Fix the roots; what they explain should clear with them (the issue update lists those).
    actions = [r.finding for r in roots] or [f for f in critical + errors + [f for f in fails if f not in critical]]
    lines += ["", "ACTIONS REQUIRED:"]
    if actions:
        lines += _bullets([_action(f) for f in actions], "{n}. ")
    else:
        lines += [f"- {a}" for a in verdict.next_actions(report.findings, report.incomplete)]

    resolution = escalation.expected_resolution(report) if escalated else ""
    if resolution:
        lines += ["", f"EXPECTED RESOLUTION: {resolution}"]

    ran = sum(1 for f in report.findings if f.status is not Status.SKIP)
    checked = ", ".join(st.component.name for st in states if st.checked)
    lines += ["", "WHAT INFRACHECK CHECKED:",
              f"- {ran} rule(s) over {len(report.outcomes)} command(s) in project {report.project} "
              f"({report.region}): {checked or 'nothing'}"]
    rerun = ["infracheck", "diagnose", f"--project={report.project}", f"--region={report.region}"]
    if report.issue:
        rerun += ["--issue", report.issue]
    lines.append(f"- Re-run: {shlex.join(rerun)}")
    if report.issue:
        lines.append(f"- Full findings, fixes and validation commands: the update on issue #{report.issue}")
    return "\n".join(_fit(lines)) + "\n"


def _word(status: Overall) -> str:
    return {Overall.CRITICAL: "Escalation", Overall.UNKNOWN: "Check Incomplete",
            Overall.WARNING: "Warnings", Overall.HEALTHY: "Healthy"}[status]


def _action(f: Finding) -> str:
    """What to do, named by resource: the root cause above already says what is wrong."""
    if f.remedy:
        return f"{f.resource}: {f.remedy}"
    return f"{f.resource}: could not check - {f.message}" if f.status is Status.ERROR else f"{f.resource}: {f.message}"


def _bullets(items: list[str], prefix: str) -> list[str]:
    shown = items[:_LIST]
    out = [prefix.format(n=i) + _one_line(item) for i, item in enumerate(shown, 1)]
    if len(items) > len(shown):
        out.append(f"... and {len(items) - len(shown)} more (see the issue update)")
    return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fit(lines: list[str]) -> list[str]:
    """Never more than MAX_LINES: the lists are already short, this is the last guard."""
    if len(lines) <= MAX_LINES:
        return lines
    return lines[: MAX_LINES - 1] + ["... (cut; the issue update has the rest)"]
