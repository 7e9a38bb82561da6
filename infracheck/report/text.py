"""The seed's report layout (section 3.2): header, one block per area, summary.

Split in three so the CLI can stream area blocks as results arrive; `render`
joins them for a finished report. The only importer of colorama.
"""

from __future__ import annotations

from collections.abc import Sequence

from colorama import Fore, Style

from infracheck import verdict
from infracheck.model import Area, Changes, Finding, Mute, Overall, Report, Severity, Status

RULE = "=" * 70

_EMOJI = {"start": "🚀", "check": "🔍", "ok": "✅", "fail": "❌", "warn": "⚠️ ", "stats": "📊", "next": "📋",
          "mute": "🔇", "new": "🆕", "resolved": "✔️ "}
_ASCII = {"start": ">>", "check": "[..]", "ok": "[OK]", "fail": "[X]", "warn": "[!]", "stats": "[#]", "next": "[*]",
          "mute": "[m]", "new": "[+]", "resolved": "[-]"}

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


def area_block(area: Area, findings: Sequence[Finding], *, color: bool, ascii_only: bool = False) -> str:
    """One area: the seed's one-line verdict, or what is wrong with it."""
    s = _Style(color, ascii_only)
    mine = [f for f in findings if f.area == area.id and f.status is not Status.SKIP]
    lines = [f"{s.marks['check']} {area.title}"]
    if not mine:
        lines.append("   (no checks selected)")
        return "\n".join(lines) + "\n"
    fails = [f for f in mine if f.status is Status.FAIL and f.muted is None]
    muted = [f for f in mine if f.status is Status.FAIL and f.muted is not None]
    errors = [f for f in mine if f.status is Status.ERROR]
    if area.summary:
        resources = list(dict.fromkeys(f.resource for f in mine))
        bad = {f.resource for f in fails + errors}
        valid = sum(1 for r in resources if r not in bad)
        lines.append(f"   {s.marks['stats']} " + area.summary.format(valid=valid, total=len(resources)))
    missing = [f for f in fails if f.rule.endswith(".exists")] if area.missing else []
    others = [f for f in fails if f not in missing]
    if missing:
        names = ", ".join(dict.fromkeys(f.resource for f in missing))
        lines.append(s.paint(f"   {s.marks['fail']} " + area.missing.format(names=names), Fore.RED))
    if others:
        lines.append(s.paint(f"   {s.marks['fail']} " + area.fail.format(count=len(others)), Fore.RED))
    for f in errors:
        lines.append(s.paint(f"   {s.marks['warn']} Could not check: {f.message}", Fore.MAGENTA))
    if not fails and not errors:
        lines.append(s.paint(f"   {s.marks['ok']} {area.ok}", Fore.GREEN))
    if muted:
        lines.append(f"   {s.marks['mute']} {len(muted)} muted (see MUTED below)")
    return "\n".join(lines) + "\n"


def summary(report: Report, *, color: bool, ascii_only: bool = False) -> str:
    s = _Style(color, ascii_only)
    findings = report.findings
    c = verdict.counts(findings)
    status = s.paint(report.status.name, _STATUS_COLOR[report.status])
    lines = ["", RULE, s.bold(f"{s.marks['stats']} INFRASTRUCTURE VALIDATION SUMMARY"), RULE]
    if report.incomplete:
        lines.append(s.paint("INCOMPLETE: interrupted; the checks below are those that finished", Fore.YELLOW))
    lines += [f"Overall Status: {status}", f"Critical Failures: {c['critical']}", f"Warnings: {c['warning']}"]
    if c["error"]:
        lines.append(f"Could Not Check: {c['error']}")
    if c["muted"]:
        lines.append(f"Muted: {c['muted']}")
    if report.changes:
        lines += _changes(report.changes, s)

    def section(title: str, items: list[Finding], fore: str) -> None:
        if not items:
            return
        lines.append("")
        lines.append(s.paint(title, fore))
        for f in items:
            lines.append(f"   - {f.message}")
            if f.remedy:
                lines.append(f"     fix: {f.remedy}")

    fails = [f for f in findings if f.status is Status.FAIL and f.muted is None]
    section(f"{s.marks['fail']} CRITICAL FAILURES:", [f for f in fails if f.severity is Severity.CRITICAL], Fore.RED)
    section(f"{s.marks['warn']} WARNINGS:", [f for f in fails if f.severity is Severity.WARNING], Fore.YELLOW)
    section(f"{s.marks['warn']} COULD NOT CHECK:", [f for f in findings if f.status is Status.ERROR], Fore.MAGENTA)
    lines += _muted([f for f in findings if f.status is Status.FAIL and f.muted is not None], s)
    lines += _stale(report.stale_mutes, s)
    lines += ["", f"{s.marks['next']} NEXT ACTIONS:"]
    lines += [f"   - {a}" for a in verdict.next_actions(findings, report.incomplete)]
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
    if not findings:
        return []
    lines = ["", s.paint(f"{s.marks['mute']} MUTED (not counted):", Fore.CYAN)]
    for f in findings:
        if f.muted is not None:
            lines.append(f"   - {f.message}")
            lines.append(f"     muted: {f.muted.reason} ({_who(f.muted)}, until {f.muted.expires})")
    return lines


def _stale(mutes: Sequence[Mute], s: _Style) -> list[str]:
    if not mutes:
        return []
    lines = ["", s.paint(f"{s.marks['mute']} STALE MUTES (match no finding; remove them):", Fore.CYAN)]
    for m in mutes:
        target = m.rule + (f" on {m.resource}" if m.resource else "")
        lines.append(f"   - {m.file}:{m.line} {target} ({_who(m)}, until {m.expires}): {m.reason}")
    return lines


def _who(m: Mute) -> str:
    return m.owner or "no owner given"


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    blocks = [header(report, color=color, ascii_only=ascii_only)]
    blocks += [area_block(a, report.findings, color=color, ascii_only=ascii_only) for a in report.areas]
    blocks.append(summary(report, color=color, ascii_only=ascii_only))
    return "".join(blocks)
