"""A fleet as one Nagios plugin line: the fleet's state and who is critical or not checked, perfdata per target."""

from __future__ import annotations

import re

from infracheck.errors import ExitStatus
from infracheck.judge import fleet as fleet_stage
from infracheck.judge.fleet import Fleet
from infracheck.report.fleet import members
from infracheck.model import Overall


_NAGIOS = {Overall.HEALTHY: "OK", Overall.WARNING: "WARNING", Overall.CRITICAL: "CRITICAL",
           Overall.UNKNOWN: "UNKNOWN"}


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
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
    hidden = members.muted_line(members.counts_of(fleet))
    if hidden:
        summary += f"; {hidden}"
    summary = " ".join(summary.replace("|", "/").split())
    perf = [f"targets={len(fleet.members)};;;0", f"not_checked={len(skipped)};;;0",
            *(f"{_NAGIOS[o].lower()}_targets={len(by[o])};;;0" for o in reversed(Overall))]
    for m in fleet.members:
        c = members.report_of(m).get("counts") or {}
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

