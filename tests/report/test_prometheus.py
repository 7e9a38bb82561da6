"""--format prometheus: the gauges a Prometheus (or node_exporter's textfile collector) reads from one run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infracheck.cli import main
from infracheck.model import Mute, Status
from infracheck.report import prometheus
from tests.tools import realtools
from tests.report.sample import CRIT, finding, report

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value, as a scraper parses it."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def replay(scenario: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["diagnose", "--replay", str(ROOT / "fixtures" / scenario), "--format", "prometheus", *args])
    return code, capsys.readouterr().out


def test_the_outage_reads_critical(capsys):
    code, out = replay("outage", capsys)
    assert code == 2
    found = samples(out)
    assert value(found, "infracheck_up") == 1.0
    assert value(found, "infracheck_verdict", verdict="CRITICAL") == 1.0
    assert {value(found, "infracheck_verdict", verdict=v) for v in ("HEALTHY", "WARNING", "UNKNOWN")} == {0.0}
    state = dict(area="vpc", rule="vpc.state", resource="staging-connector", severity="critical")
    assert value(found, "infracheck_rule_status", **state, status="fail") == 1.0
    assert value(found, "infracheck_rule_status", **state, status="pass") == 0.0
    assert value(found, "infracheck_findings", outcome="critical") > 0
    # The run's clock: a replay is judged as of its recording.
    recorded = json.loads((ROOT / "fixtures" / "outage" / "recording.json").read_text())["recorded_at"]
    from infracheck.timeutil import parse_rfc3339 as parse_time

    assert value(found, "infracheck_last_run_timestamp_seconds") == parse_time(recorded).timestamp()


def test_the_numbers_read_are_values_and_nothing_else_is(capsys):
    code, out = replay("healthy", capsys)
    assert code == 0
    found = samples(out)
    assert value(found, "infracheck_verdict", verdict="HEALTHY") == 1.0
    at = dict(area="cloudsql", resource="netra-staging-db")
    # Cloud SQL writes its max_connections flag as the string "200": still the number read.
    assert value(found, "infracheck_rule_value", **at, rule="cloudsql.max-connections") == 200.0
    assert value(found, "infracheck_rule_value", area="vpc", resource="staging-connector",
                 rule="vpc.max-instances") == 10.0
    values = {dict(labels)["rule"] for name, labels in found if name == "infracheck_rule_value"}
    # '4Gi', '200-1000', True and a state are not numbers to graph; no secrets check gives one.
    assert not values & {"cloudrun.memory", "vpc.throughput", "cloudsql.ssl", "vpc.state"}
    assert not any(rule.startswith("secrets.") for rule in values)


def test_a_secrets_check_never_gives_a_value_nor_a_report_that_does_not_say_which_checks_ran():
    r = report(dataclasses.replace(finding("secrets.min-length", resource="jwt-secret-staging"), actual=4242),
               dataclasses.replace(finding("vpc.max-instances"), actual=4343))
    found = samples(prometheus.render(r))
    rules = {dict(labels)["rule"]: v for (name, labels), v in found.items() if name == "infracheck_rule_value"}
    assert rules == {"vpc.max-instances": 4343.0}
    assert "4242" not in prometheus.render(r)
    unknown = samples(prometheus.render(dataclasses.replace(r, checks=())))
    assert not [name for name, _ in unknown if name == "infracheck_rule_value"]


def test_one_series_per_rule_and_resource_the_worst_status_wins():
    r = report(finding("vpc.state"), finding("vpc.state", *CRIT))
    found = samples(prometheus.render(r))
    fail = [labels for (name, labels), v in found.items() if name == "infracheck_rule_status" and v == 1.0]
    assert len(fail) == 1 and ("status", "fail") in fail[0]


def test_an_interrupted_run_is_not_up():
    found = samples(prometheus.render(report(finding("vpc.state"), incomplete=True)))
    assert value(found, "infracheck_up") == 0.0
    assert value(found, "infracheck_verdict", verdict="UNKNOWN") is not None


def test_labels_are_scrubbed_and_escaped():
    r = report(dataclasses.replace(finding("network.health-status", *CRIT), resource='https://x/"a"\\b\nc',
                                   message="m"))
    found = samples(prometheus.render(r))
    resources = {dict(labels)["resource"] for name, labels in found if name == "infracheck_rule_status"}
    assert resources == {'https://x/"a"\\b\nc'}  # a quote, a backslash, a newline: one label, read back whole
    scrubbed = prometheus.families(r, scrub=lambda text: text.replace("https://x", "[redacted]"))
    text = prometheus.exposition(scrubbed)
    assert "https://x" not in text and "[redacted]" in text


def test_muted_failures_are_said():
    mute = Mute(rule="vpc.state", reason="known", expires=dt.date(2099, 1, 1))
    r = report(dataclasses.replace(finding("vpc.state", *CRIT), muted=mute))
    found = samples(prometheus.render(r))
    assert value(found, "infracheck_rule_muted", area="vpc", rule="vpc.state", resource="staging-connector") == 1.0
    assert value(found, "infracheck_verdict", verdict="HEALTHY") == 1.0
    assert value(found, "infracheck_findings", outcome="muted_critical") == 1.0


def test_the_textfile_is_replaced_whole_never_through_a_planted_link(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me\n")
    target = tmp_path / "textfile" / "infracheck.prom"
    target.parent.mkdir()
    target.symlink_to(elsewhere)
    code = main(["diagnose", "--replay", str(ROOT / "fixtures" / "healthy"), "--report-only", "--format", "nagios",
                 "--output", f"prometheus={target}"])
    assert code == 0
    assert elsewhere.read_text() == "keep me\n"
    assert not target.is_symlink()
    assert value(samples(target.read_text()), "infracheck_up") == 1.0
    assert sorted(p.name for p in target.parent.iterdir()) == ["infracheck.prom"]  # no temporary file left


@pytest.mark.parametrize("scenario", ["outage", "healthy"])
def test_promtool_accepts_the_exposition(scenario, capsys):
    promtool = realtools.binary("promtool")
    _, out = replay(scenario, capsys)
    done = subprocess.run([promtool, "check", "metrics"], input=out, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LC_ALL": "C"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # not even a lint warning


def test_status_values_cover_every_status():
    found = samples(prometheus.render(report(finding("vpc.state"))))
    statuses = {dict(labels)["status"] for name, labels in found if name == "infracheck_rule_status"}
    assert statuses == {s.value for s in Status}
