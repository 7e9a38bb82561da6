"""The seed's report layout (section 3.2): header, one block per area, summary.

Split in three so the CLI can stream area blocks as results arrive; `render`
joins them for a finished report. The only importer of colorama.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from colorama import Fore, Style

from infracheck.judge import causes, verdict
from infracheck.model import Area, Changes, Cycle, Finding, Mute, Overall, Report, Severity, Status, StepKind, StepOutcome

RULE = "=" * 70

_EMOJI = {"start": "🚀", "check": "🔍", "ok": "✅", "fail": "❌", "warn": "⚠️ ", "stats": "📊", "next": "📋",
          "mute": "🔇", "new": "🆕", "resolved": "✔️ ", "fix": "🔧", "root": "🎯", "arrow": "→", "info": "ℹ️ "}
_ASCII = {"start": ">>", "check": "[..]", "ok": "[OK]", "fail": "[X]", "warn": "[!]", "stats": "[#]", "next": "[*]",
          "mute": "[m]", "new": "[+]", "resolved": "[-]", "fix": "[fix]", "root": "[>]", "arrow": "->", "info": "[i]"}

_STATUS_COLOR = {
    Overall.HEALTHY: Fore.GREEN,
    Overall.WARNING: Fore.YELLOW,
    Overall.UNKNOWN: Fore.MAGENTA,
    Overall.CRITICAL: Fore.RED,
}


class _Style:
    def __init__(self, color: bool, ascii_only: bool):
        self.color = color
        self.marks = _ASCII if ascii_only else _EMOJI

    def paint(self, text: str, fore: str) -> str:
        return f"{fore}{text}{Style.RESET_ALL}" if self.color else text

    def bold(self, text: str) -> str:
        return f"{Style.BRIGHT}{text}{Style.RESET_ALL}" if self.color else text


def header(report: Report, *, color: bool, ascii_only: bool = False) -> str:
    s = _Style(color, ascii_only)
    target = f"Issue #{report.issue}" if report.issue else f"{report.project} ({report.region})"
    lines = [s.bold(f"{s.marks['start']} Starting Complete Infrastructure Validation for {target}")]
    if report.issue:
        lines.append(f"   project {report.project}, region {report.region}")
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def area_block(
    area: Area,
    findings: Sequence[Finding],
    *,
    color: bool,
    ascii_only: bool = False,
    planned: Sequence[str] | None = None,
    finished: bool = True,
) -> str:
    """One area: the seed's one-line verdict, or what is wrong with it.

    `planned` are the resources of the area's planned checks (counts are of
    what was planned, not of what finished); `finished` is False for an area
    an interruption cut short.
    """
    s = _Style(color, ascii_only)
    mine = [f for f in findings if f.area == area.id and f.status is not Status.SKIP]
    lines = [f"{s.marks['check']} {area.title}"]
    # What a check leaves to another tool (a `not_judged` skip, no data to judge) is said, not hidden like an
    # --exclude; the same sentence for many checks (a replay without their source) once.
    said = list(dict.fromkeys(f"   {s.marks['info']} {f.message}" for f in findings
                              if f.area == area.id and f.status is Status.SKIP and f.rule.endswith(".not-judged")))
    if not finished:
        lines.append(s.paint(f"   {s.marks['warn']} Not finished: interrupted before every check of this area "
                             "was judged", Fore.MAGENTA))
    elif not mine:
        lines += said or ["   (no checks selected)"]
        return "\n".join(lines) + "\n"
    fails = [f for f in mine if verdict.counted(f)]
    muted = [f for f in mine if verdict.muted_failure(f)]
    errors = [f for f in mine if f.status is Status.ERROR]
    if area.summary:
        resources = list(dict.fromkeys(list(planned or ()) + [f.resource for f in mine]))
        bad = {f.resource for f in fails + errors}
        judged = {f.resource for f in mine}
        valid = sum(1 for r in resources if r in judged and r not in bad)
        lines.append(f"   {s.marks['stats']} " + area.summary.format(valid=valid, total=len(resources)))
    missing = [f for f in fails if f.rule.endswith(".exists")] if area.missing else []
    others = [f for f in fails if f not in missing]
    if missing:
        names = ", ".join(dict.fromkeys(f.resource for f in missing))
        lines.append(s.paint(f"   {s.marks['fail']} " + area.missing.format(names=names), Fore.RED))
    if others:
        # An area that counts resources (secrets) counts resources, not failed rules.
        count = len({f.resource for f in others}) if area.summary else len(others)
        lines.append(s.paint(f"   {s.marks['fail']} " + area.fail.format(count=count), Fore.RED))
    for f in errors:
        lines.append(s.paint(f"   {s.marks['warn']} Could not check: {f.message}", Fore.MAGENTA))
    if finished and not fails and not errors:
        lines.append(s.paint(f"   {s.marks['ok']} {area.ok}", Fore.GREEN))
    if muted:
        lines.append(f"   {s.marks['mute']} {len(muted)} muted (see MUTED below)")
    lines += said
    return "\n".join(lines) + "\n"


def planned_in(report: Report, area: Area) -> list[str] | None:
    """The resources the report planned in an area (None: a report without a plan)."""
    if not report.planned:
        return None
    return [resource for area_id, resource in report.planned if area_id == area.id]


def summary(report: Report, *, color: bool, ascii_only: bool = False) -> str:
    s = _Style(color, ascii_only)
    findings = report.findings
    c = verdict.counts(findings)
    status = s.paint(report.status.name, _STATUS_COLOR[report.status])
    lines = ["", RULE, s.bold(f"{s.marks['stats']} INFRASTRUCTURE VALIDATION SUMMARY"), RULE]
    lines += root_causes(report, s)
    if report.incomplete:
        lines.append(s.paint("INCOMPLETE: interrupted; the checks below are those that finished", Fore.YELLOW))
    lines += [s.paint(note, Fore.YELLOW) for note in report.notes]
    hidden = verdict.muted(c)  # beside the verdict: a mute must never turn an outage green unnoticed
    lines += [f"Overall Status: {status}" + (f", {hidden}" if hidden else ""), f"Critical Failures: {c['critical']}",
              f"Warnings: {c['warning']}"]
    if c["error"]:
        lines.append(f"Could Not Check: {c['error']}")
    if c["muted"]:
        lines.append(f"Muted: {c['muted']}" + (f" ({c['muted_critical']} critical)" if c["muted_critical"] else ""))
    if report.load_balancer:  # which chain the load balancer checks judged, and why
        lines.append(report.load_balancer)
    if report.changes:
        lines += _changes(report.changes, s)

    def section(title: str, items: list[Finding], fore: str) -> None:
        if not items:
            return
        lines.append("")
        lines.append(s.paint(title, fore))
        for f in items:
            lines.append(f"   - {f.message}")
            if f.detail:
                lines.append(f"     detail: {f.detail}")
            if f.remedy:
                lines.append(f"     fix: {f.remedy}")
            if f.caused_by:
                lines.append("     caused by: " + _names(f.caused_by))

    fails = [f for f in findings if verdict.counted(f)]
    section(f"{s.marks['fail']} CRITICAL FAILURES:", [f for f in fails if f.severity is Severity.CRITICAL], Fore.RED)
    section(f"{s.marks['warn']} WARNINGS:", [f for f in fails if f.severity is Severity.WARNING], Fore.YELLOW)
    section(f"{s.marks['warn']} COULD NOT CHECK:", [f for f in findings if f.status is Status.ERROR], Fore.MAGENTA)
    lines += _muted([f for f in findings if verdict.muted_failure(f)], s)
    lines += _stale(report.stale_mutes, s)
    lines += ["", f"{s.marks['next']} NEXT ACTIONS:"]
    lines += [f"   - {a}" for a in verdict.next_actions(findings, report.incomplete)]
    return "\n".join(lines) + "\n" + (fixes(report, color=color, ascii_only=ascii_only) if report.fixes else "")


_KIND = {StepKind.WAIT: "WAIT", StepKind.APPLY: "AUTO", StepKind.MANUAL: "MANUAL", StepKind.CONSEQUENCE: "FOLLOWS"}
_DONE = {StepOutcome.APPLIED: Fore.GREEN, StepOutcome.WAITED: Fore.GREEN, StepOutcome.FAILED: Fore.RED,
         StepOutcome.TIMED_OUT: Fore.RED, StepOutcome.BLOCKED: Fore.YELLOW, StepOutcome.NOT_RUN: Fore.YELLOW,
         StepOutcome.INTERRUPTED: Fore.RED, StepOutcome.MANUAL: Fore.YELLOW, StepOutcome.CONSEQUENCE: Fore.YELLOW,
         StepOutcome.PLANNED: Fore.CYAN}


def fixes(report: Report, *, color: bool, ascii_only: bool = False) -> str:
    """Fix mode's plan, or what applying it did, after the summary."""
    s = _Style(color, ascii_only)
    applied = report.before is not None
    changes = sum(1 for f in report.fixes if f.kind is StepKind.APPLY)
    waits = sum(1 for f in report.fixes if f.kind is StepKind.WAIT)
    lines = ["", RULE]
    if applied:
        lines.append(s.bold(f"{s.marks['fix']} FIXES APPLIED"))
    else:
        lines.append(s.bold(f"{s.marks['fix']} FIX PLAN (nothing was changed)"))
    lines.append(RULE)
    for step in report.fixes:
        head = f"{step.number:2}. {_KIND[step.kind]:6} "
        if step.kind is StepKind.WAIT:
            head += step.title
        elif step.argv:
            head += "$ " + shlex.join(step.argv)
        else:
            head += step.title
        if applied or step.outcome not in (StepOutcome.PLANNED, StepOutcome.MANUAL, StepOutcome.CONSEQUENCE):
            head += "  " + s.paint(f"[{step.outcome.value}]", _DONE.get(step.outcome, ""))
        lines.append(head)
        pad = " " * 11
        if step.kind is not StepKind.WAIT:
            lines.append(f"{pad}fixes: {step.title}" + (f" (+{len(step.fixes) - 1} more)" if len(step.fixes) > 1 else ""))
        lines += [f"{pad}changes: {c}" for c in step.changes]
        if step.kind is StepKind.MANUAL:
            if step.instruction:
                lines.append(f"{pad}do: {step.instruction}")
            lines.append(f"{pad}why by hand: {step.reason}")
        elif step.kind is StepKind.CONSEQUENCE:
            lines.append(f"{pad}{step.reason}; if it does not, then: {step.instruction}" if step.instruction
                         else f"{pad}{step.reason}")
        elif step.reason:
            lines.append(f"{pad}{step.reason}")
        if step.message and step.outcome in (StepOutcome.FAILED, StepOutcome.TIMED_OUT, StepOutcome.BLOCKED, StepOutcome.INTERRUPTED):
            lines.append(s.paint(f"{pad}{step.message}", Fore.RED))
        if step.after:
            lines.append(f"{pad}after: " + ", ".join(f"{rule} {status}" for (rule, _), status in zip(step.fixes, step.after)))
    lines.append("")
    if applied and report.incomplete:  # Ctrl-C while applying: nothing was re-checked
        lines.append(s.paint(f"INTERRUPTED: not re-checked; the findings above are the diagnosis "
                             f"({report.before.name if report.before else report.status.name}): "
                             "re-run infracheck diagnose", Fore.YELLOW))
    elif applied:
        assert report.before is not None
        lines.append(f"Overall Status after fixes: {s.paint(report.status.name, _STATUS_COLOR[report.status])}"
                     f" (was {report.before.name})")
    elif changes or waits:
        lines.append(f"--yes applies {changes} change(s) and {waits} wait(s) in this order, stopping at the "
                     "first failure; manual steps are never run")
    else:
        lines.append("Every step needs a person: nothing for --yes to apply")
    return "\n".join(lines) + "\n"


def _changes(changes: Changes, s: _Style) -> list[str]:
    """RESOLVED and NEW since the baseline, first: what an on-call asks every 20 minutes."""
    since = changes.since or "the baseline"
    lines = ["", s.paint(f"{s.marks['resolved']} RESOLVED since {since}: {len(changes.resolved)}", Fore.GREEN)]
    lines += [f"   - {f.message}" for f in changes.resolved]
    lines += ["", s.paint(f"{s.marks['new']} NEW since {since}: {len(changes.new)}", Fore.RED)]
    lines += [f"   - {f.message}" + (" (muted)" if f.muted else "") for f in changes.new]
    lines.append(f"Still failing since {since}: {len(changes.still)}")
    return lines


def _muted(findings: Sequence[Finding], s: _Style) -> list[str]:
    """Each muted finding once: what it says, and who accepted it, why, until when."""
    items = [line for f in findings if f.muted is not None for line in (
        f"   - {f.message}", f"     muted: {f.muted.reason} ({_who(f.muted)}, until {f.muted.expires})")]
    return _mute_block("MUTED (not counted):", items, s)


def _stale(mutes: Sequence[Mute], s: _Style) -> list[str]:
    items = [f"   - {m.file}:{m.line} {m.rule + (f' on {m.resource}' if m.resource else '')} "
             f"({_who(m)}, until {m.expires}): {m.reason}" for m in mutes]
    return _mute_block("STALE MUTES (match no finding; remove them):", items, s)


def _mute_block(title: str, items: list[str], s: _Style) -> list[str]:
    return ["", s.paint(f"{s.marks['mute']} {title}", Fore.CYAN), *items] if items else []


def _who(m: Mute) -> str:
    return m.owner or "no owner given"


def root_causes(report: Report, s: _Style) -> list[str]:
    """The summary's first block: what to fix first, the split, and what each root explains."""
    roots = causes.root_causes(report.findings)
    if not roots:
        return []
    split = causes.split(roots)
    lines = [s.bold(f"{s.marks['root']} ROOT CAUSES"), f"Root causes: {split.total} ({split.words()})"]
    for number, root in enumerate(roots, 1):
        f = root.finding
        lines.append(f"   {number}. [{causes.kind(f)}] {f.message}")
        if f.detail:
            lines.append(f"      detail: {f.detail}")
        if root.explains:
            count = len(root.explains)
            lines.append(f"      {s.marks['arrow']} explains {count} finding{'s' if count != 1 else ''}: "
                         + _names((e.rule, e.resource) for e in root.explains))
    lines.append("")
    return lines


def _names(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{rule} ({resource})" for rule, resource in pairs)


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    blocks = [header(report, color=color, ascii_only=ascii_only)]
    blocks += [area_block(a, report.findings, color=color, ascii_only=ascii_only, planned=planned_in(report, a),
                          finished=a.id not in report.unfinished) for a in report.areas]
    blocks.append(summary(report, color=color, ascii_only=ascii_only))
    return "".join(blocks)



def cycle(c: Cycle, *, color: bool, ascii_only: bool = False) -> str:
    """A watch cycle as lines stamped with its time: the state at first, then only what changed."""
    s = _Style(color, ascii_only)
    stamp = c.at[11:19]  # HH:MM:SS of the RFC 3339 time
    status = s.paint(c.report.status.name, _STATUS_COLOR[c.report.status])
    lines = []
    if c.previous is None:
        counts = verdict.counts(c.report.findings)
        lines.append(f"{stamp} {status}: {counts['critical']} critical, {counts['warning']} warning, "
                     f"{counts['error']} could not check ({c.commands} commands)")
        for f in c.report.findings:
            if verdict.problem(f):
                lines.append(f"   {_mark(s, f)} {f.message}")
        return "\n".join(lines) + "\n"
    for change in c.changes:
        after, before = change.after, change.before
        if after is None:
            continue
        was = ""
        if before is not None:
            was = (_display(before.actual) if before.status is Status.FAIL and before.actual is not None
                   else {Status.PASS: "passing", Status.FAIL: "failing", Status.ERROR: "could not check"}.get(
                       before.status, before.status.value))
        lines.append(f"{stamp} {_mark(s, after)} {after.message}" + (f" (was {was})" if was else ""))
    if c.previous is not c.report.status:
        lines.append(f"{stamp} Overall Status: {status} (was {c.previous.name})")
    return "\n".join(lines) + ("\n" if lines else "")


def _mark(s: _Style, f: Finding) -> str:
    if f.status is Status.PASS:
        return s.paint(s.marks["ok"], Fore.GREEN)
    if f.status is Status.ERROR:
        return s.paint(s.marks["warn"].strip(), Fore.MAGENTA)
    return s.paint(s.marks["fail"] if f.severity is Severity.CRITICAL else s.marks["warn"].strip(),
                   Fore.RED if f.severity is Severity.CRITICAL else Fore.YELLOW)


def _display(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
