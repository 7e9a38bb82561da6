"""The issue update (plan section 4.1) as GitHub-flavoured Markdown, filled from the run.

The plan's own template nests ``` fences inside a ```markdown block, which
GitHub closes at the first inner fence; here every fence is longer than any
backtick run it encloses and nothing is nested, so the update renders as one
document. A hidden marker (MARKER) lets a script find its earlier comment
and edit it in place. Messages never hold a secret value (rules.py only
describes them), and every text from a finding is escaped, so a value like
`<script>` or `|` cannot change the document's structure.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from infracheck import __version__
from infracheck.judge import causes, escalation, verdict
from infracheck.model import Changes, Escalation, Finding, Mute, Overall, Report, Severity, Status

MARKER = "<!-- infracheck:issue-update project={project} -->"

_TITLE = {
    Overall.CRITICAL: ("🚨", "INFRASTRUCTURE ESCALATION"),
    Overall.UNKNOWN: ("❓", "INFRASTRUCTURE STATUS UNKNOWN"),
    Overall.WARNING: ("⚠️", "INFRASTRUCTURE WARNINGS"),
    Overall.HEALTHY: ("✅", "INFRASTRUCTURE HEALTHY"),
}
_STATUS_LINE = {
    Overall.CRITICAL: "ESCALATED TO INFRASTRUCTURE TEAM",
    Overall.UNKNOWN: "INCOMPLETE - some checks could not run",
    Overall.WARNING: "DEGRADED - configuration warnings",
    Overall.HEALTHY: "INFRASTRUCTURE HEALTHY - focus on the application layer",
}
_STATE_MARK = {escalation.State.CRITICAL: "🔴", escalation.State.WARNING: "🟡", escalation.State.COULD_NOT_CHECK: "🟣",
               escalation.State.OK: "🟢", escalation.State.NOT_CHECKED: "⚪"}

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the
# ones that can start or end structure inside a line (emphasis, links, HTML,
# code, table cells, strikethrough, autolinks).
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!&])")


def escape(text: str) -> str:
    """A finding's text as literal Markdown on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: str) -> str:
    """Inline code that survives backticks inside `text` (CommonMark: a longer delimiter run)."""
    text = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(lines: Iterable[str], info: str = "bash") -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside it."""
    body = list(lines)
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


def command_line(argv: tuple[str, ...]) -> str:
    return shlex.join(argv)


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    c = verdict.counts(report.findings)
    prio = escalation.priority(report)
    mark, title = _TITLE[report.status]
    issue = f" - Issue #{report.issue}" if report.issue else ""
    heading = " ".join(p for p in ((mark if not ascii_only else ""), prio, title) if p)
    env = f" - {report.escalation.environment}" if report.escalation and report.escalation.environment else ""
    hidden = verdict.muted(c)  # in the heading: a mute must never turn an outage green unnoticed
    out = [MARKER.format(project=report.project),
           f"## {heading}{issue}{env}: {report.status.name}" + (f", {hidden}" if hidden else ""), ""]
    esc = report.escalation or Escalation()
    # The plan's business context is for a run that has something to escalate.
    escalated = report.status is not Overall.HEALTHY

    out += [
        # A trailing backslash is CommonMark's hard line break: one line each, as the plan shows them.
        f"**Status:** {_STATUS_LINE[report.status]}\\",
        f"**Priority:** {prio + ' ' if prio else ''}{report.status.name}\\",
        *([f"**Business Impact:** {escape(esc.business_impact)}\\"] if escalated and esc.business_impact else []),
        f"**Verdict:** {c['critical']} critical, {c['warning']} warning, {c['error']} could not check, "
        + (f"{c['muted']} muted, " if c.get("muted") else "") + f"{c['passed']} passed\\",
        f"**Checked:** project {code(report.project)}, region {code(report.region)}, "
        f"{len(report.outcomes)} commands"
        + (f", as of {report.generated_at.isoformat(timespec='seconds')}" if report.generated_at else ""),
    ]
    labels = escalation.labels(report)
    if labels:
        out[-1] += "\\"
        out += [f"**Labels:** {' '.join(code(label) for label in labels)}"]
    if report.incomplete:
        out += ["", "> **Incomplete:** the run was interrupted; only the checks that finished are below."]

    if report.changes is not None:
        out += ["", "### Since the last update", ""]
        out += _changes(report.changes)

    out += ["", "### Root Cause Analysis", ""]
    out += _root_causes(report)

    out += ["", "### Components", "", "| Component | Status | Problems | Checked |", "|---|---|---:|---:|"]
    states = escalation.components(report)
    for st in states:
        mark = "" if ascii_only else _STATE_MARK[st.state] + " "
        out.append(f"| {escape(st.component.name)} | {mark}{st.state.value} | {len(st.problems)} | {st.checked} |")

    out += ["", "### Infrastructure Team Action Items"]
    for number, st in enumerate(states, 1):
        out += _action_item(number, st, report)

    if escalated and esc.timeline:
        out += ["", "### Expected Resolution Timeline", ""]
        out += _timeline(report)

    out += ["", "### Validation Criteria (plan 5.3)", ""]
    out += _criteria(report)

    out += ["", "### Next Steps", ""]
    out += [f"{i}. {escape(a)}" for i, a in enumerate(verdict.next_actions(report.findings, report.incomplete), 1)]

    if escalated and esc.justification:
        out += ["", "### Business Justification", ""]
        out += [f"- **{escape(name)}:** {escape(text)}" for name, text in esc.justification]

    out += ["", "### Commands infracheck ran", ""]
    out += _commands(report)

    rerun = ["infracheck", "diagnose", f"--project={report.project}", f"--region={report.region}"]
    if report.issue:
        rerun += ["--issue", report.issue]
    out += ["", "---", ""]
    if escalated and esc.contacts:
        out += [f"**{escape(name)}:** {escape(text)}\\" for name, text in esc.contacts]
        out[-1] = out[-1].removesuffix("\\")
        out.append("")
    out += [f"_Written by infracheck {__version__} from this run's findings; to refresh: "
            f"{code(command_line(tuple(rerun + ['--format', 'markdown'])))}_"]
    return "\n".join(out) + "\n"


def _timeline(report: Report) -> list[str]:
    """The plan's phases with what this run has done of them (escalation.timeline)."""
    states = escalation.timeline(report)
    lines = ["| Phase | Duration | Responsibility | Status |", "|---|---|---|---|"]
    for st in states:
        status = f"done ({escape(st.why)})" if st.done else "ahead"
        lines.append(f"| {escape(st.phase.name)} | {escalation.hours(st.phase.hours)} | {escape(st.phase.owner)} "
                     f"| {status} |")
    owners = list(dict.fromkeys(st.phase.owner for st in states))
    total = escalation.hours(sum(st.phase.hours for st in states))
    left = escalation.hours(sum(st.phase.hours for st in states if not st.done))
    lines.append(f"| **Total** | **{total}** | **{escape(owners[0]) if len(owners) == 1 else 'Joint effort'}** "
                 f"| **{left} left** |")
    return lines


def _root_causes(report: Report) -> list[str]:
    """The roots of the dependency chain (causes.py) and their infrastructure / configuration split."""
    names = {st.component.area: st.component.name for st in escalation.components(report)}
    # causes.py already leaves muted failures out: a muted finding is listed under its component.
    roots = list(causes.root_causes(report.findings))
    if not roots:
        return ["No infrastructure failure found: every check that ran passed."]
    split = causes.split(roots)
    judged = split.infrastructure + split.configuration
    share = (f" - {round(100 * split.infrastructure / judged)}% infrastructure, "
             f"{round(100 * split.configuration / judged)}% configuration") if judged else ""
    lines = [f"**Root causes: {split.total}** ({split.words()}){share}. Fix these first; "
             "the findings each one explains are listed under it.", ""]
    for number, root in enumerate(roots, 1):
        f = root.finding
        lines.append(f"{number}. **{escape(causes.kind(f))}** - {_where(f, names)}: {escape(f.message)}")
        if root.explains:
            explained = ", ".join(f"{code(e.rule)} ({code(e.resource)})" for e in root.explains)
            lines.append(f"   - explains {len(root.explains)}: {explained}")
    return lines


def _where(f: Finding, names: dict[str, str]) -> str:
    return f"**{escape(names.get(f.area, f.area))}** {code(f.resource)}"


def _action_item(number: int, st: escalation.ComponentState, report: Report) -> list[str]:
    comp = st.component
    name = escape(comp.name) + (f" {code(comp.resource)}" if comp.resource else "")
    lines = ["", f"#### {number}. {name}", ""]
    if st.state is escalation.State.OK:
        summary = f"{st.checked} check(s) passed"
    elif st.state is escalation.State.NOT_CHECKED:
        summary = "no check of this component ran"
    else:
        kinds = [f for f in st.problems]
        crit = sum(1 for f in kinds if f.status is Status.FAIL and f.severity is Severity.CRITICAL)
        warn = sum(1 for f in kinds if f.status is Status.FAIL and f.severity is Severity.WARNING)
        err = sum(1 for f in kinds if f.status is Status.ERROR)
        parts = [f"{n} {w}" for n, w in ((crit, "critical"), (warn, "warning"), (err, "could not check")) if n]
        summary = ", ".join(parts)
    lines.append(f"**Status:** {st.state.value} - {summary}")
    if st.problems:
        lines.append("")
        for f in st.problems:
            kind = "could not check" if f.status is Status.ERROR else (f.severity.name.lower() if f.severity else "")
            lines.append(f"- **{kind}** {code(f.resource)}: {escape(f.message)}")
            if f.remedy:
                lines.append(f"  - Fix: {escape(f.remedy)}")
    if st.muted:
        lines += ["", "Muted (accepted, not counted):", ""]
        lines += [f"- {code(f.resource)}: {escape(f.message)} - {_mute(f.muted)}" for f in st.muted if f.muted]
    commands = _validation_commands(st, report)
    if commands:
        lines += ["", "**Validation command:**", ""]
        lines += fenced(commands)
    if comp.expected:
        lines += ["", f"**Expected state:** {escape(comp.expected)}"]
    return lines


def _validation_commands(st: escalation.ComponentState, report: Report) -> list[str]:
    """The exact gcloud commands that judged this component: those of its problems, else all of its checks."""
    mine = [c for c in report.checks if c.area == st.component.area]
    bad = {(f.check, f.resource) for f in st.problems}
    chosen = [c for c in mine if (c.id, c.resource) in bad] or mine
    argvs = dict.fromkeys(a for c in chosen for a in c.sources if a and a[0] == "gcloud")
    return [command_line(a) for a in argvs]


def _mute(m: Mute) -> str:
    owner = f" by {escape(m.owner)}" if m.owner else ""
    return f"muted{owner} until {m.expires.isoformat()}: {escape(m.reason)}"


def _changes(changes: Changes) -> list[str]:
    """Against the baseline (--baseline): what was fixed, what broke, what is still broken."""
    since = f" (since {escape(changes.since)})" if changes.since else ""
    lines = [f"Compared with the previous run{since}: {len(changes.resolved)} resolved, "
             f"{len(changes.new)} new, {len(changes.still)} still failing.", ""]
    for title, items in (("Resolved", changes.resolved), ("New", changes.new), ("Still failing", changes.still)):
        lines.append(f"**{title}:**" + ("" if items else " none"))
        if items:
            lines.append("")
            lines += [f"- {code(f.resource)}: {escape(f.message)}" + (" (muted)" if f.muted else "") for f in items]
        lines.append("")
    return lines[:-1]


def _criteria(report: Report) -> list[str]:
    results = escalation.criteria(report)
    if not results:
        return ["_No validation criteria in the catalog (commands/escalation.toml)._"]
    lines: list[str] = []
    group = None
    for r in results:
        if r.criterion.group != group:
            group = r.criterion.group
            lines += ([""] if lines else []) + [f"**{escape(group)}:**", ""]
        box = "x" if r.met else " "
        lines.append(f"- [{box}] {escape(r.criterion.text)} - {escape(r.why)}")
    return lines


def _commands(report: Report) -> list[str]:
    argvs = [o.argv for o in report.outcomes]
    gcloud = [command_line(a) for a in argvs if a and a[0] == "gcloud"]
    probes = [a for a in argvs if a and a[0] == "probe"]
    # infracheck's own Cloud Monitoring reads (metrics.py): the metric each read, once.
    reads = dict.fromkeys(a[i][len("--metric="):] for a in argvs if a[:2] == ("monitoring", "timeseries")
                          for i in range(2, len(a)) if a[i].startswith("--metric="))
    lines: list[str] = []
    if gcloud:
        lines += fenced(gcloud)
    if probes:
        lines += ["", "infracheck's own probes (no gcloud): "
                  + ", ".join(f"{escape(a[1])} {code(' '.join(a[2:]))}" for a in probes)]
    if reads:
        lines += ["", "infracheck's own Cloud Monitoring reads (timeSeries.list with gcloud's credentials): "
                  + ", ".join(code(m) for m in reads)]
    if not lines:
        lines = ["_No command ran._"]
    return lines
