"""The fleet report: schema `infracheck/fleet/v1` (docs/fleet.md), its text summary, and every other format.

One function makes the document (`as_dict`), for a live fleet run, a shard
and `merge` alike, so a merge of shards is the single run's document but
for timings. Each target is a v1 report (report/json.py) with its `target`
name, `tags`, and `not_checked` (why it could not be checked, or null).
`render_as` gives the fleet in any format of FORMATTERS from those v1
reports alone (docs/fleet.md#formats); the format modules it borrows from
are imported when their format is asked for, as report/__init__.py does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from infracheck.errors import CannotRun, ExitStatus
from infracheck.judge import fleet as fleet_stage
from infracheck.judge import verdict
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


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    return json.dumps(as_dict(fleet), indent=2) + "\n"


def render_text(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The summary first (a line per target, shared root causes, what was checked), then each target."""
    lines = [_headline(fleet), ""]
    width = max([len(m.target.name) for m in fleet.members] + [4])
    for m in fleet.members:
        lines.append(f"  {m.status.name:<8}  {m.target.name:<{width}}  {m.target.project} {m.target.region}  "
                     f"{_said(m)}")
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        lines.append("")
    for s in shared:
        found = ", ".join(f"{t} ({r})" for t, r, _ in s.targets)
        lines.append(f"the same root cause in {len(s.targets)} targets: {s.rule} ({s.severity or s.status}): "
                     f"{found} - e.g. {fleet_stage.first_line(s.targets[0][2])}")
    lines += ["", _checked_line(fleet)]
    for m in fleet.members:
        lines += ["", *_target_text(m)]
    return "\n".join(lines) + "\n"


def _headline(fleet: Fleet) -> str:
    """`FLEET CRITICAL: 5 targets`, and which shard of how many selected targets this is."""
    total = len(fleet.members)
    where = f", shard {fleet.shard} of {len(fleet.selection)} selected" if fleet.shard is not None else ""
    return f"FLEET {fleet_stage.status(fleet).name}: {total} target{'s' * (total != 1)}{where}"


def _said(m: Member) -> str:
    """A target's part of the summary: why it was not checked, or its root causes and the first of them."""
    causes = fleet_stage.root_causes(m)
    if m.reason:
        return f"not checked: {m.reason}"
    if causes:
        return (f"{len(causes)} root cause{'s' * (len(causes) != 1)}, first: "
                f"{fleet_stage.first_line(str(causes[0].get('message') or ''))}")
    return "no root cause"


def _checked_line(fleet: Fleet) -> str:
    """`12/14 targets checked; 2 could not be checked: name (reason), ...`: every target out of reach, by name."""
    total = len(fleet.members)
    skipped = [m for m in fleet.members if m.reason]
    line = f"{total - len(skipped)}/{total} targets checked"
    if skipped:
        named = ", ".join(f"{m.target.name} ({m.reason})" for m in skipped)
        line += f"; {len(skipped)} could not be checked: {named}"
    return line


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


# --- every other format ------------------------------------------------------------
#
# Each is the single-target format's convention with the target named beside
# every finding, drawn from the members' v1 reports alone: a live fleet run
# and a merge of its shards render the same. A target that could not be
# checked is named with its reason in each one, and the verdict is the fleet's.

def render_as(fmt: str, fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The fleet report in a format of FORMATTERS (text, json, markdown, junit, ...)."""
    try:
        renderer = _FORMATS[fmt]
    except KeyError:
        raise CannotRun(f"unknown report format '{fmt}' (one of {', '.join(_FORMATS)})") from None
    return renderer(fleet, color=color, ascii_only=ascii_only)


def step_summary(fleet: Fleet) -> str:
    """What `--format github` appends to $GITHUB_STEP_SUMMARY: the Markdown fleet report, as the single run does."""
    return render_markdown(fleet)


def _report(m: Member) -> Mapping[str, Any]:
    return m.report if m.report is not None else _unchecked_report(m)


def _findings(m: Member) -> list[Mapping[str, Any]]:
    """The target's findings; a target that could not be checked first has one `target.checked` naming why."""
    own = [f for f in _report(m).get("findings") or () if f.get("rule") != UNCHECKED_RULE]
    return [_unchecked_report(m)["findings"][0], *own] if m.reason else own


def _problems(m: Member) -> tuple[list[Mapping[str, Any]], int]:
    """What to show of a target: its open problems and muted failures, and how many could-not-checks are left out.

    Of a target out of reach only `target.checked` stands for its could-not-checks
    (each says the same denial, as the text report's "... and N more"); a
    failure its probes found is still shown.
    """
    shown, hidden = [], 0
    for f in _findings(m):
        if f.get("status") not in ("fail", "error"):
            continue
        if m.reason and f.get("status") == "error" and f.get("rule") != UNCHECKED_RULE:
            hidden += 1
            continue
        shown.append(f)
    return shown, hidden


def _kind(f: Mapping[str, Any]) -> str:
    """critical, warning or could not check: what a finding is, as every report says it."""
    if f.get("status") == "error":
        return "could not check"
    return str(f.get("severity") or "failed")


def _counts(fleet: Fleet) -> dict[str, int]:
    """The members' finding counts added up (a muted total needs them all)."""
    total: dict[str, int] = {}
    for m in fleet.members:
        for key, number in (_report(m).get("counts") or {}).items():
            total[key] = total.get(key, 0) + int(number)
    return total


def _muted(counts: Mapping[str, int]) -> str:
    """verdict.muted over counts that may lack a key (a report of an older version)."""
    return verdict.muted({"muted": counts.get("muted", 0), "muted_critical": counts.get("muted_critical", 0)})


def _verdicts(fleet: Fleet) -> str:
    """`1 CRITICAL, 1 UNKNOWN, 0 WARNING, 1 HEALTHY`: targets by verdict, worst first."""
    return ", ".join(f"{sum(1 for m in fleet.members if m.status is o)} {o.name}" for o in reversed(Overall))


def _worst_first(fleet: Fleet) -> list[Member]:
    return sorted(fleet.members, key=lambda m: (-m.status, m.target.name))


def _first_cause(m: Member) -> Mapping[str, Any] | None:
    causes = [c for c in fleet_stage.root_causes(m) if c.get("rule") != UNCHECKED_RULE]
    return causes[0] if causes else None


def _remedy(m: Member, cause: Mapping[str, Any]) -> str:
    for f in _findings(m):
        if (f.get("rule"), f.get("resource")) == (cause.get("rule"), cause.get("resource")):
            return str(f.get("remedy") or "")
    return ""


# --- markdown: the summary table, shared root causes, then a findings table per target

FLEET_MARKER = "<!-- infracheck:fleet-update -->"


def render_markdown(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """GitHub-flavoured Markdown: every text from a report escaped (markdown.escape), as the issue update is."""
    from infracheck import __version__
    from infracheck.report.markdown import _TITLE, code, escape

    overall = fleet_stage.status(fleet)
    mark = "" if ascii_only else _TITLE[overall][0] + " "
    hidden = _muted(_counts(fleet))
    out = [FLEET_MARKER, f"## {mark}{escape(_headline(fleet))}" + (f", {hidden}" if hidden else ""), "",
           f"**Verdict:** {overall.name}, the worst target's: {_verdicts(fleet)}\\",
           f"**Checked:** {escape(_checked_line(fleet))}", "",
           "| Target | Project | Region | Verdict | Root causes | First root cause |", "|---|---|---|---|---:|---|"]
    for m in fleet.members:
        causes = [c for c in fleet_stage.root_causes(m) if c.get("rule") != UNCHECKED_RULE]
        first = _first_cause(m)
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
        out += ["", *_target_markdown(m, escape, code)]
    out += ["", "---", "", f"_Written by infracheck {__version__} from the targets' reports._"]
    return "\n".join(out) + "\n"


def _target_markdown(m: Member, escape: Callable[[str], str], code: Callable[[str], str]) -> list[str]:
    report = _report(m)
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
    shown, hidden = _problems(m)
    if not shown:
        lines += ["", "No problem found: every check that ran passed."]
        return lines
    lines += ["", "| Target | Finding | Rule | Resource | Message | Fix |", "|---|---|---|---|---|---|"]
    for f in shown:
        kind = f"muted {_kind(f)}" if f.get("muted") else _kind(f)
        lines.append(f"| {escape(m.target.name)} | {kind} | {code(str(f.get('rule')))} "
                     f"| {escape(str(f.get('resource')))} | {escape(str(f.get('message') or ''))} "
                     f"| {escape(str(f.get('remedy') or ''))} |")
    if hidden:
        lines += ["", f"... and {hidden} more check{'s' * (hidden != 1)} that could not run, for the reason above."]
    return lines


# --- junit: one testsuite per target ----------------------------------------------

def render_junit(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """One <testsuite> per target (properties project, region, verdict, not_checked); one case per finding.

    A case's classname is `infracheck.<target>.<area>`, so a CI page that shows
    only class and name still says which target failed; a target that could
    not be checked has an errored `target.checked [<target>]` naming why.
    """
    from infracheck.report.junit import _clean as clean

    root = ET.Element("testsuites", name="infracheck fleet")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for m in fleet.members:
        suite = ET.SubElement(root, "testsuite", name=clean(m.target.name))
        props = ET.SubElement(suite, "properties")
        for key, value in (("project", m.target.project), ("region", m.target.region), ("verdict", m.status.name),
                           ("not_checked", m.reason or "")):
            if value:
                ET.SubElement(props, "property", name=key, value=clean(value))
        counts = dict.fromkeys(totals, 0)
        for f in _findings(m):
            counted = _junit_case(suite, m, f)
            counts["tests"] += 1
            if counted:
                counts[counted] += 1
        seconds = sum(float(o.get("duration_s") or 0.0) for o in _report(m).get("commands") or ())
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{seconds:.3f}")
        for key in totals:
            totals[key] += counts[key]
        total_time += seconds
    root.attrib.update({k: str(v) for k, v in totals.items()})
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_case(suite: ET.Element, m: Member, f: Mapping[str, Any]) -> str | None:
    """One finding as a testcase of its target's suite; which count it adds to (None: a pass)."""
    from infracheck.report.junit import _clean as clean

    def details(*pairs: tuple[str, str]) -> str:  # junit._details, of a finding read back
        return clean("\n".join([message] + [f"{k}: {v}" for k, v in pairs if v]))

    case = ET.SubElement(suite, "testcase", classname=clean(f"infracheck.{m.target.name}.{f.get('area')}"),
                         name=clean(f"{f.get('rule')} [{f.get('resource')}]"))
    message = str(f.get("message") or "")
    status, mute = f.get("status"), f.get("muted")
    if status == "fail" and mute:
        owner = f" by {mute.get('owner')}" if mute.get("owner") else ""
        ET.SubElement(case, "skipped", message=clean(f"muted {f.get('severity') or 'failed'} finding{owner} until "
                                                     f"{mute.get('expires')}: {mute.get('reason')}"))
        return "skipped"
    if status == "fail":
        actual = f.get("actual")
        node = ET.SubElement(case, "failure", message=clean(message), type=str(f.get("severity") or "failure"))
        node.text = details(("expected", str(f.get("expected") or "")),
                            ("actual", "" if actual is None else json.dumps(actual)), ("fix", str(f.get("remedy") or "")))
        return "failures"
    if status == "error":
        node = ET.SubElement(case, "error", message=clean(message), type="could-not-check")
        node.text = details(("fix", str(f.get("remedy") or "")))
        return "errors"
    if status == "skip":
        ET.SubElement(case, "skipped", message=clean(message or "excluded"))
        return "skipped"
    return None


# --- github: one workflow command per finding, the target in its title ------------

def render_github(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """`::error title=infracheck critical in TARGET: rule (resource)::message`, then the fleet's `::notice`."""
    from infracheck.report.github import command

    lines = []
    for m in fleet.members:
        shown, hidden = _problems(m)
        for f in shown:
            if f.get("muted"):
                continue  # accepted: no annotation, its count is in the notice
            kind = _kind(f)
            name = "error" if kind == "critical" else "warning"
            if f.get("rule") == UNCHECKED_RULE:
                more = f" ({hidden} more check{'s' * (hidden != 1)} could not run for it)" if hidden else ""
                lines.append(command(name, f"{f.get('message')}{more}",
                                     title=f"infracheck could not check target {m.target.name}"))
                continue
            message = str(f.get("message") or "") + (f"\nfix: {f.get('remedy')}" if f.get("remedy") else "")
            lines.append(command(name, message,
                                 title=f"infracheck {kind} in {m.target.name}: {f.get('rule')} ({f.get('resource')})"))
    hidden_muted = _muted(_counts(fleet))
    interrupted = [m.target.name for m in fleet.members if _report(m).get("incomplete")]
    summary = (f"{_headline(fleet)}{', ' + hidden_muted if hidden_muted else ''}: {_verdicts(fleet)}; "
               f"{_checked_line(fleet)}")
    if interrupted:
        summary += f"; interrupted: {', '.join(interrupted)}"
    lines.append(command("notice", summary, title="infracheck fleet"))
    return "\n".join(lines) + "\n"


# --- nagios: one status line for the fleet, perfdata per target --------------------

_NAGIOS = {Overall.HEALTHY: "OK", Overall.WARNING: "WARNING", Overall.CRITICAL: "CRITICAL",
           Overall.UNKNOWN: "UNKNOWN"}


def render_nagios(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """`INFRACHECK CRITICAL - 3 targets: 1 critical, 1 unknown, 0 warning, 1 ok; ... | perfdata`.

    One line (what a pager shows), naming the targets that are critical and
    those not checked with why; `|` in a reason would start the perfdata, so
    it is written `/`. Perfdata: the fleet's targets by verdict, then each
    target's `<name>_state` (0 OK .. 3 UNKNOWN, the plugin's codes) and counts.
    """
    overall = fleet_stage.status(fleet)
    by = {o: [m for m in fleet.members if m.status is o] for o in Overall}
    summary = (f"{len(fleet.members)} target{'s' * (len(fleet.members) != 1)}: "
               + ", ".join(f"{len(by[o])} {_NAGIOS[o].lower()}" for o in reversed(Overall)))
    for o in (Overall.CRITICAL, Overall.WARNING):
        if by[o]:
            summary += f"; {o.name.lower()}: {', '.join(m.target.name for m in by[o])}"
    skipped = [m for m in fleet.members if m.reason]
    if skipped:
        summary += f"; not checked: {', '.join(f'{m.target.name} ({m.reason})' for m in skipped)}"
    unknown = [m for m in by[Overall.UNKNOWN] if not m.reason]
    if unknown:
        summary += f"; unknown: {', '.join(m.target.name for m in unknown)}"
    hidden = _muted(_counts(fleet))
    if hidden:
        summary += f"; {hidden}"
    summary = " ".join(summary.replace("|", "/").split())
    perf = [f"targets={len(fleet.members)};;;0", f"not_checked={len(skipped)};;;0",
            *(f"{_NAGIOS[o].lower()}_targets={len(by[o])};;;0" for o in reversed(Overall))]
    for m in fleet.members:
        c = _report(m).get("counts") or {}
        perf.append(f"{_perf_label(m.target.name + '_state')}={int(ExitStatus.of(m.status))};1;2;0;3")
        perf += [f"{_perf_label(f'{m.target.name}_{label}')}={int(c.get(key, 0))};;;0"
                 for label, key in (("critical", "critical"), ("warning", "warning"), ("unknown", "error"),
                                    ("muted", "muted"), ("passed", "passed"))]
    return f"INFRACHECK {_NAGIOS[overall]} - {summary} | {' '.join(perf)}\n"


def _perf_label(label: str) -> str:
    """A perfdata label: quoted when it holds more than letters, digits, `_.-` (the guidelines' rule)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", label):
        return label
    return "'" + label.replace("=", "_").replace("'", "''") + "'"


# --- prometheus: the single-target families with a target label, and the fleet's ---

def render_prometheus(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
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
                              "Each target's verdict: 1 for the verdict it gave, 0 for the others.", [*where, "verdict"])
    counts = labelled("infracheck_findings", "Each target's findings by outcome (critical, warning, error = could "
                      "not check, muted, passed, skipped).", [*where, "outcome"])
    status = labelled("infracheck_rule_status",
                      "Each rule on each resource of each target: 1 for its status, 0 for the others.",
                      [*where, "area", "rule", "resource", "severity", "status"])
    muted = labelled("infracheck_rule_muted", "A failing rule accepted by a mute.", [*where, "area", "rule", "resource"])
    values = labelled("infracheck_rule_value",
                      "The number a rule read; never a value a secrets check read (its report holds none).",
                      [*where, "area", "rule", "resource"])
    info = labelled("infracheck_info", "Which infracheck judged which target (always 1).",
                    ["version", *where, "engine", "issue"])
    for m in fleet.members:
        report = _report(m)
        labels = [m.target.name, m.target.project, m.target.region]
        if m.reason:
            not_checked.add_metric([*labels, m.reason], 1.0)
        up.add_metric(labels, 0.0 if m.reason or report.get("incomplete") else 1.0)
        for o in Overall:
            verdict_family.add_metric([*labels, o.name], 1.0 if m.status is o else 0.0)
        for outcome, count in (report.get("counts") or {}).items():
            counts.add_metric([*labels, str(outcome)], float(count))
        for f in _one_per_series(_findings(m)):
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


# --- labels and message: the plan's escalation for a fleet ------------------------

def _priority(fleet: Fleet) -> str:
    """The fleet's priority label: the one its worst targets' reports carry (P0 when CRITICAL), or ''.

    A report's labels start with its verdict's priority when the catalog gives
    that verdict one (escalation.labels), and the catalog's priorities are the
    same for every target (a profile cannot change them): so the priorities
    are read from the reports, and the fleet has its worst verdict's.
    """
    return _priorities(fleet).get(fleet_stage.status(fleet).name, "")


def _priorities(fleet: Fleet) -> dict[str, str]:
    """verdict name -> its priority label, as the members' reports show them (a HEALTHY one has none)."""
    found: dict[str, str] = {}
    for m in fleet.members:
        report = m.report
        if report is None or report.get("status") == "HEALTHY" or not report.get("labels"):
            continue
        found.setdefault(str(report.get("status")), str(report["labels"][0]))
    return found


def render_labels(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """One comma-separated line for the fleet's one issue: its priority, then every target's other labels.

    A union, not a line per target: `gh issue edit --add-label` takes one list,
    and an issue with both P0 and P2 would say nothing, so only the fleet's
    (worst) priority stays. No label names a target: gh refuses a label the
    repository does not have, and the catalog's labels already carry each
    target's environment (`prod-outage`).
    """
    priorities = set(_priorities(fleet).values())
    first = _priority(fleet)
    labels = [first] if first else []
    for m in _worst_first(fleet):
        for label in (m.report or {}).get("labels") or ():
            if label not in priorities and label not in labels:
                labels.append(str(label))
    return ",".join(labels) + "\n"


def render_message(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """The stakeholder message (plan 4.3) of a fleet: which targets are not healthy, why, and what to do first.

    The same shape and limits as the single-target message (message.py: a
    subject, IMPACT, ROOT CAUSE, ACTIONS REQUIRED, what was checked; at most
    MAX_LINES plain lines). Every target that could not be checked is named
    with its reason in IMPACT, before anything a long fleet can cut.
    """
    from infracheck.report import message

    overall = fleet_stage.status(fleet)
    prio = _priority(fleet)
    total = len(fleet.members)
    hidden = _muted(_counts(fleet))
    word = {Overall.CRITICAL: "Escalation", Overall.UNKNOWN: "Check Incomplete", Overall.WARNING: "Warnings",
            Overall.HEALTHY: "Healthy"}[overall]
    subject = " ".join(p for p in (prio, "Infrastructure", word, "-", f"fleet of {total} target{'s' * (total != 1)}")
                       if p)
    lines = [f"Subject: {subject} ({overall.name}{', ' + hidden if hidden else ''})", "",
             message._HEADLINE[overall].format(prio=prio or overall.name), "", "IMPACT:",
             f"- Fleet status {overall.name} (its worst target's): {_verdicts(fleet)}",
             f"- {_checked_line(fleet)}"]
    if hidden:
        lines.append(f"- {hidden} (accepted until their expiry), not counted")
    interrupted = [m.target.name for m in fleet.members if _report(m).get("incomplete")]
    if interrupted:
        lines.append(f"- Interrupted, only the checks that finished are counted: {', '.join(interrupted)}")
    troubled = [m for m in _worst_first(fleet) if m.status is not Overall.HEALTHY]
    healthy = [m.target.name for m in fleet.members if m.status is Overall.HEALTHY]
    if troubled:
        lines += ["", "TARGETS NOT HEALTHY:"]
        lines += message._bullets([f"{m.target.name} ({m.target.project}, {m.target.region}): {m.status.name} - "
                                  f"{_said(m)}" for m in troubled], "- ")
    if healthy:
        lines += ["", f"HEALTHY: {', '.join(healthy)}"]
    shared = fleet_stage.shared_causes(fleet)
    if shared:
        lines += ["", "ROOT CAUSE SHARED BY SEVERAL TARGETS:"]
        lines += message._bullets([f"{s.rule} ({s.severity or s.status}) in {len(s.targets)} targets: "
                                  f"{', '.join(t for t, _, _ in s.targets)} - {s.targets[0][2]}" for s in shared], "- ")
    actions = []
    for m in troubled:
        cause = _first_cause(m)
        if m.reason:
            actions.append(f"{m.target.name}: make it checkable ({m.reason}), then re-run")
        elif cause is not None:
            fix = _remedy(m, cause) or str(cause.get("message") or "")
            actions.append(f"{m.target.name}: {cause.get('resource')}: {fix}")
    lines += ["", "ACTIONS REQUIRED:"]
    if actions:
        lines += message._bullets(actions, "{n}. ")
    else:  # an empty shard (more shards than targets) is UNKNOWN with nothing to do
        lines.append("- None: every target is healthy." if fleet.members else "- None: this report holds no target.")
    commands = sum(len(_report(m).get("commands") or ()) for m in fleet.members)
    projects = sorted({m.target.project for m in fleet.members})
    lines += ["", "WHAT INFRACHECK CHECKED:",
              f"- {commands} command(s) over {total} target(s) in {len(projects)} project(s): "
              + ", ".join(projects[:message._LIST]) + (" ..." if len(projects) > message._LIST else "")]
    return "\n".join(message._fit(lines)) + "\n"


_FORMATS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "json": render,
    "markdown": render_markdown,
    "labels": render_labels,
    "message": render_message,
    "junit": render_junit,
    "nagios": render_nagios,
    "github": render_github,
    "prometheus": render_prometheus,
}


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
