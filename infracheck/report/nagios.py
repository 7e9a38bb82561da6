"""One line in the Monitoring Plugins convention: status, summary, performance data.

`INFRACHECK CRITICAL - 6 critical, 2 warning, 0 unknown | critical=6;;;0 ...`
(https://www.monitoring-plugins.org/doc/guidelines.html#AEN200); the exit
code already follows the same convention.
"""

from __future__ import annotations

from infracheck.judge import verdict
from infracheck.model import Overall, Report

# The plugin convention calls a healthy service OK.
_STATE = {Overall.HEALTHY: "OK", Overall.WARNING: "WARNING", Overall.CRITICAL: "CRITICAL", Overall.UNKNOWN: "UNKNOWN"}


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    c = verdict.counts(report.findings)
    summary = f"{c['critical']} critical, {c['warning']} warning, {c['error']} unknown"
    if c["muted"]:  # an OK that hides critical findings says so on the line a pager shows
        summary += f"; {verdict.muted(c)}"
    if report.incomplete:
        summary += " (interrupted)"
    # label=value;warn;crit;min: no thresholds (the verdict is the threshold), minimum 0.
    perf = " ".join(
        f"{label}={c[key]};;;0"
        for label, key in (("critical", "critical"), ("warning", "warning"), ("unknown", "error"),
                           ("muted", "muted"), ("muted_critical", "muted_critical"), ("passed", "passed"),
                           ("skipped", "skipped"))
    )
    return f"INFRACHECK {_STATE[report.status]} - {summary} | {perf}\n"
