"""The report as Prometheus metrics: gauges of one run, in the exposition format.

`--format prometheus` writes them for node_exporter's textfile collector
(with `--output prometheus=DIR/infracheck.prom`, replaced whole, so the
collector never reads half a file); `infracheck serve` exposes the same
families for its last complete run, with what only a long-running process
knows (age, staleness, the cycle in progress). The exposition is
prometheus_client's, the official client's: no format written by hand.

Every label value is the finding's identity (area, rule id, resource name),
passed through the run's `scrub`; a value read by a sensitive check (a
secret) is never a sample.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from infracheck import __version__
from infracheck.judge import verdict
from infracheck.model import Finding, Overall, Report, Status

# The worst status wins when two findings share area, rule and resource (one series each).
_RANK = {Status.SKIP: 0, Status.PASS: 1, Status.ERROR: 2, Status.FAIL: 3}
# A number as text (Cloud SQL's max_connections flag is the string "200"), nothing looser:
# '4Gi', '200-1000', a date or an address is not a value to graph.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def families(report: Report, scrub: Callable[[str], str] = str) -> list[Metric]:
    """The metric families of one report: verdict, counts, each rule's status, the numbers read, who ran it."""
    label = scrub
    verdict_family = GaugeMetricFamily(
        "infracheck_verdict", "The run's verdict: 1 for the verdict it gave, 0 for the others.", labels=["verdict"])
    for overall in Overall:
        verdict_family.add_metric([overall.name], 1.0 if report.status is overall else 0.0)

    counts = GaugeMetricFamily(
        "infracheck_findings",
        "Findings by outcome (critical, warning, error = could not check, muted, passed, skipped).",
        labels=["outcome"])
    for outcome, number in verdict.counts(report.findings).items():
        counts.add_metric([outcome], float(number))

    status = GaugeMetricFamily(
        "infracheck_rule_status",
        "Each rule on each resource: 1 for its status in the run (pass, fail, error, skip), 0 for the others.",
        labels=["area", "rule", "resource", "severity", "status"])
    muted = GaugeMetricFamily(
        "infracheck_rule_muted", "A failing rule accepted by a mute (shown, not counted in the verdict).",
        labels=["area", "rule", "resource"])
    values = GaugeMetricFamily(
        "infracheck_rule_value",
        "The number a rule read (an instance count, a connection limit, a latency, a measured load); "
        "never a value a secrets check read.",
        labels=["area", "rule", "resource"])
    # Only a check known not to be sensitive gives a sample: a report without its checks gives none.
    plain = {(c.id, c.resource) for c in report.checks if not c.sensitive}
    for f in _one_per_series(report.findings):
        identity = [label(f.area), label(f.rule), label(f.resource)]
        severity = f.severity.name.lower() if f.severity else ""
        for state in Status:
            status.add_metric(identity + [severity, state.value], 1.0 if f.status is state else 0.0)
        if f.status is Status.FAIL and f.muted is not None:
            muted.add_metric(identity, 1.0)
        read = _number(f.actual)
        if read is not None and (f.check, f.resource) in plain:
            values.add_metric(identity, read)

    info = GaugeMetricFamily("infracheck_info", "Which infracheck judged which project (always 1).",
                             labels=["version", "project", "region", "engine", "issue"])
    info.add_metric([__version__, label(report.project), label(report.region), report.engine.value if report.engine else "",
                     label(report.issue or "")], 1.0)
    return [verdict_family, counts, status, muted, values, info]


def _one_per_series(findings: Sequence[Finding]) -> Iterator[Finding]:
    """One finding per (area, rule, resource): a scrape with two samples of one series is refused."""
    chosen: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        key = (f.area, f.rule, f.resource)
        if key not in chosen or _RANK[f.status] > _RANK[chosen[key].status]:
            chosen[key] = f
    return iter(chosen.values())


def _number(actual: Any) -> float | None:
    """A finding's `actual` as a sample: an int or float (not a bool), or a number written as text."""
    if isinstance(actual, bool):
        return None
    if isinstance(actual, (int, float)):
        value = float(actual)
    elif isinstance(actual, str) and _NUMBER.fullmatch(actual.strip()):
        value = float(actual)
    else:
        return None
    return value if math.isfinite(value) else None


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def labelled(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    """A family of samples with these labels (the fleet's, report/fleet/prometheus.py: this module owns prometheus_client)."""
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class Fixed:
    """A collector of families computed once (prometheus_client's Collector protocol)."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = tuple(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def exposition(metrics: Sequence[Metric]) -> str:
    """The text exposition format (version 0.0.4) of these families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(metrics))
    return generate_latest(registry).decode("utf-8")


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    """One run's metrics; `infracheck_up` is 0 when the run was interrupted before every check was judged."""
    timed = [gauge("infracheck_up", "1 when the run finished and judged every planned check.",
                   0.0 if report.incomplete else 1.0)]
    if report.generated_at is not None:
        timed.append(gauge("infracheck_last_run_timestamp_seconds",
                           "When the run judged the stack (Unix time; a replay's is its recording's).",
                           report.generated_at.timestamp()))
    return exposition(timed + families(report))
