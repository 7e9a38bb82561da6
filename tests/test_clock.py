"""The escalation clock (plan 5.1, 5.2, 4.1's timeline): a watch over hours, on a fake clock.

The watch loop runs for real (watch.loop) with a fake clock and a fake sleep
that advance simulated time; nothing here waits.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from infracheck import clock, watch
from infracheck.catalog import loader
from infracheck.judge import verdict
from infracheck.cli import main
from infracheck.model import Check, Cycle, Finding, Report, Severity, Status

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OUTAGE = str(FIXTURES / "outage")
ESCALATION = loader.load().escalation  # the plan's timeline (1 h / 2 h / 1 h / 1 h) and 5.2's 2 hours

START = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)
CHECKS = tuple(Check(id=f"{area}.x", area=area, title=area, argv=("gcloud", area), rules=(), resource=area)
               for area in ("vpc", "cloudsql", "cloudrun", "network"))
MESSAGES = {
    "vpc": "VPC connector state is 'ERROR', expected 'READY'",
    "cloudsql": "Cloud SQL instance is RUNNABLE",
    "cloudrun": "Service netra-backend is not Ready",
    "network": "https://api.staging.example answered 503",
}
OK, BAD = Status.PASS, Status.FAIL


class Simulation:
    """Simulated time: each cycle takes a minute, each sleep its interval; the stack follows a script."""

    def __init__(self, script: Sequence[dict[str, Status]], areas: Sequence[str] = ("vpc", "cloudsql", "cloudrun",
                                                                                      "network")):
        self.t = 0.0
        self.script, self.areas, self.calls = script, areas, 0

    def now(self) -> dt.datetime:
        return START + dt.timedelta(seconds=self.t)

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def diagnose(self, subset: Sequence[Check] | None) -> Report:
        state = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        self.t += 60
        findings = tuple(
            Finding(f"{a}.x", f"{a}.state", a, state.get(a, OK),
                    Severity.WARNING if a == "network" else Severity.CRITICAL, a,
                    MESSAGES[a] if state.get(a, OK) is BAD else f"{a} passes")
            for a in self.areas)
        return Report("netra-staging", "us-central1", verdict.overall(findings), (), findings, (),
                      escalation=ESCALATION)


def _run(sim: Simulation, interval: float = 1800, max_wait: float | None = None) -> list[clock.Event]:
    keeper = clock.Clock(START, interval)
    events: list[clock.Event] = []

    def emit(cycle: Cycle) -> None:
        events.extend(keeper.observe(cycle))

    watch.loop(sim.diagnose, CHECKS, interval=interval, emit=emit, until_healthy=max_wait is None, full_every=1,
               max_wait=max_wait,
               clock=lambda: sim.t, now=sim.now, sleep=sim.sleep)
    return events


def _outage_script() -> list[dict[str, Status]]:
    outage = {"vpc": BAD, "cloudrun": BAD, "network": BAD}
    return ([outage] * 5  # 10:01 .. 12:05: the connector still broken
            + [{"cloudrun": BAD, "network": BAD}]  # 12:36 the connector is fixed
            + [{"network": BAD}]  # 13:07 the services are redeployed
            + [{}])  # 13:38 the stack answers again


def test_a_watch_over_four_hours_writes_the_0h_and_2h_messages_and_a_measured_resolution_summary():
    events = _run(Simulation(_outage_script()))
    assert [e.kind for e in events] == ["start", "extended", "change", "change", "resolved"]
    start, extended, fixed, redeployed, resolved = events

    # 0 h (plan 5.1): at the first verdict, the issue update and the stakeholder message.
    assert start.at == START + dt.timedelta(minutes=1)
    (update_name, update), (message_name, message) = start.files
    assert update_name.endswith("-01-start-issue-update.md") and message_name.endswith("-02-start-message.txt")
    assert "**Business Impact:** $500K+ ARR staging environment offline" in update
    assert message.startswith("Subject: P0 Infrastructure Escalation - staging environment (CRITICAL)\n")
    assert "IMMEDIATE ACTION REQUIRED: P0 infrastructure issue" in message

    # 2 h (plan 5.2): the first cycle at or past two hours after the start, once.
    assert extended.at == dt.datetime(2026, 11, 27, 12, 5, tzinfo=dt.timezone.utc)
    (name, text), = extended.files
    assert name.endswith("-03-extended-escalation.txt")
    assert text.splitlines()[:2] == [
        "Subject: P0 Extended Escalation - staging environment not HEALTHY after 2 hours (CRITICAL)",
        "To: Engineering Leadership, VP Engineering (if needed), Infrastructure Team Lead, Platform Engineering Team"]
    assert "- Open since 2026-11-27 10:00:00 UTC (2 h 5 min); status now CRITICAL" in text
    assert "2. Consider external GCP support engagement" in text
    assert "- vpc: VPC connector state is 'ERROR', expected 'READY'" in text
    assert "- validation: plan 1 hour, took 1 min, ended 2026-11-27 10:01:00 UTC" in text
    assert ("- remediation: plan 2 hours, running for 2 h 4 min (since 2026-11-27 10:01:00 UTC), "
            "over plan by 4 min") in text
    assert "- redeployment: plan 1 hour, ahead" in text

    # Each phase change is an event of its own, for --on-change.
    assert fixed.line == "escalation clock: verdict still CRITICAL; remediation ended"
    assert redeployed.line == "escalation clock: verdict WARNING (was CRITICAL); redeployment ended"
    assert fixed.files[0][1].startswith("## Escalation clock: verdict still CRITICAL; remediation ended\n")
    assert "| remediation | plan 2 hours | took 2 h 35 min, ended 2026-11-27 12:36:00 UTC |" in fixed.files[0][1]
    assert "## 🚨 P0 INFRASTRUCTURE ESCALATION - staging: CRITICAL" in fixed.files[0][1]  # then the issue update

    # Recovery: each phase's measured time against the plan's.
    (name, summary), = resolved.files
    assert name.endswith("-06-resolution.md")
    assert resolved.at == dt.datetime(2026, 11, 27, 13, 38, tzinfo=dt.timezone.utc)
    assert "**Status:** HEALTHY at 2026-11-27 13:38:00 UTC (was CRITICAL at the first verdict)" in summary
    assert "**Extended escalation:** due and written at 2026-11-27 12:05:00 UTC" in summary
    rows = [line for line in summary.splitlines() if line.startswith("| ")][1:]
    assert rows == [
        "| Infrastructure Validation | 1 hour | 1 min | within | 2026-11-27 10:00:00 UTC | 2026-11-27 10:01:00 UTC "
        "| from the start to the first verdict |",
        "| Component Remediation | 2 hours | 2 h 35 min | over by 35 min | 2026-11-27 10:01:00 UTC "
        "| 2026-11-27 12:36:00 UTC | until every vpc, cloudsql, secrets, loadbalancer finding passed |",
        "| Service Redeployment | 1 hour | 31 min | within | 2026-11-27 12:36:00 UTC | 2026-11-27 13:07:00 UTC "
        "| until every cloudrun finding passed |",
        "| End-to-End Validation | 1 hour | 31 min | within | 2026-11-27 13:07:00 UTC | 2026-11-27 13:38:00 UTC "
        "| until every network, journey, logs finding passed |",
        "| **Total** | **5 hours** | **3 h 38 min** | **within** | 2026-11-27 10:00:00 UTC | 2026-11-27 13:38:00 UTC "
        "| the start to the first HEALTHY verdict |",
    ]
    assert "- 2026-11-27 12:36:00 UTC CRITICAL" not in summary  # verdicts list changes only
    assert summary.count("\n- 2026-11-27") == 3  # CRITICAL, WARNING, HEALTHY


def test_a_phase_with_nothing_to_measure_it_is_not_observed_and_one_already_passing_takes_no_time():
    # No reachability checks ran (excluded), and the services were fine all along.
    script = [{"vpc": BAD}, {"vpc": BAD}, {}]
    events = _run(Simulation(script, areas=("vpc", "cloudsql", "cloudrun")), interval=600)
    assert [e.kind for e in events] == ["start", "resolved"]
    summary = events[-1].files[0][1]
    assert ("| Service Redeployment | 1 hour | 0 s | within | 2026-11-27 10:23:00 UTC | 2026-11-27 10:23:00 UTC "
            "| already passing when the phase before it ended |") in summary
    assert ("| End-to-End Validation | 1 hour | not observed | | | | no finding of its areas was evaluated |"
            in summary)
    assert "**Extended escalation:** not needed (resolved within 2 hours)" in summary


def test_healthy_from_the_start_escalates_nothing_and_a_relapse_opens_the_clock_at_the_last_healthy_look():
    script = [{}, {}, {"cloudrun": BAD}, {}]
    events = _run(Simulation(script), interval=600, max_wait=2400)  # --max-wait: a HEALTHY cycle does not end it
    assert [e.kind for e in events] == ["healthy", "start", "resolved"]
    assert events[0].files == ()
    summary = events[-1].files[0][1]
    # Last HEALTHY look at 10:12 (cycle 2), the relapse seen at 10:23, healthy again at 10:34.
    assert "**Clock:** 22 min from 2026-11-27 10:12:00 UTC to the first HEALTHY verdict" in summary


def test_no_extended_escalation_before_its_threshold():
    script = [{"vpc": BAD}] * 4 + [{}]  # failing until 11:28, HEALTHY at 11:57: 3 min short of 2 h
    events = _run(Simulation(script), interval=1800 - 120)
    assert "extended" not in [e.kind for e in events]


# --- delivering: files, the hook, secrets ------------------------------------

def _hook(tmp_path: Path, body: str = 'echo "$INFRACHECK_EVENT $INFRACHECK_STATUS $*" >> "{log}"') -> tuple[str, Path]:
    log = tmp_path / "hook.log"
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n" + body.format(log=log) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def test_each_event_is_written_scrubbed_and_the_hook_gets_its_first_file(tmp_path):
    from infracheck import redact

    secret = "postgres://app:hunter2-very-secret@10.0.0.3/db"
    secrets = redact.Secrets()
    secrets.add(secret)
    events = _run(Simulation(_outage_script()))
    leaky = clock.Event("change", events[0].at, events[0].status, "escalation clock: x",
                        (("leak.md", f"the url was {secret}\n"),))
    script, log = _hook(tmp_path)
    said: list[str] = []
    out = tmp_path / "esc"
    out.mkdir()
    clock.deliver([*events, leaky], out, ("sh", script, "--body-file"), 10, secrets.scrub, said.append)
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["start", "extended", "change", "change", "resolved", "change"]
    assert calls[0] == f"start CRITICAL --body-file {out / events[0].files[0][0]}"
    assert calls[4] == f"resolved HEALTHY --body-file {out / events[4].files[0][0]}"
    assert sorted(p.name for p in out.iterdir()) == sorted([n for e in events for n, _ in e.files] + ["leak.md"])
    assert "hunter2" not in (out / "leak.md").read_text()
    assert said[0] == (f"10:01:00 {events[0].line}: {out / events[0].files[0][0]}, {out / events[0].files[1][0]}")


def test_a_failing_or_hanging_hook_is_said_and_the_watch_goes_on(tmp_path):
    events = _run(Simulation([{"vpc": BAD}, {}]), interval=60)
    failing, _ = _hook(tmp_path, 'echo "no token for gh" >&2; exit 4')
    said: list[str] = []
    clock.deliver(events, tmp_path, ("sh", failing), 10, lambda s: s, said.append)
    failures = [line for line in said if "--on-change" in line]
    assert len(failures) == 2 and all("exit 4: no token for gh (the watch goes on)" in f for f in failures)

    hanging, _ = _hook(tmp_path, "sleep 30")
    said.clear()
    began = time.monotonic()
    clock.deliver(events[:1], tmp_path, ("sh", hanging), 1, lambda s: s, said.append)
    assert time.monotonic() - began < 10
    assert "timed out after 1 s (stopped)" in said[-1]


# --- the command line ----------------------------------------------------------

def test_watch_writes_the_start_and_extended_messages_and_runs_the_hook_on_each(tmp_path, capsys):
    profile = tmp_path / "profile.toml"
    # 0.0001 h is 0.36 s: the extended escalation without waiting two hours (due by the second cycle).
    profile.write_text('[escalation.extended]\nafter_hours = 0.0001\nrecipients = ["cto@example.com"]\n'
                       'actions = ["Call GCP support"]\n')
    script, log = _hook(tmp_path)
    out = tmp_path / "esc"
    code = main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--interval", "1", "--max-wait", "4",
                 "--profile", str(profile), "--escalation-dir", str(out), "--on-change", f"sh {script}",
                 "--color", "never"])
    err = capsys.readouterr().err
    assert code == 2
    names = sorted(p.name for p in out.iterdir())
    assert [n.split("-", 2)[2] for n in names] == ["start-issue-update.md", "start-message.txt",
                                                  "extended-escalation.txt"]
    assert "To: cto@example.com" in (out / names[2]).read_text()
    assert "1. Call GCP support" in (out / names[2]).read_text()
    assert [line.split()[:2] for line in log.read_text().splitlines()] == [["start", "CRITICAL"],
                                                                           ["extended", "CRITICAL"]]
    assert log.read_text().splitlines()[0].endswith(str(out / names[0]))
    assert "escalation clock: CRITICAL at the first verdict" in err
    assert err.count("the extended escalation is due (plan 5.2)") == 1


@pytest.mark.parametrize("args, words", [
    (["--on-change", "true"], "--on-change needs --escalation-dir DIR"),
    (["--escalation-dir", "{tmp}", "--on-change", "no-such-hook-anywhere --x"],
     "--on-change: 'no-such-hook-anywhere' is not an executable file or on PATH"),
    (["--escalation-dir", "{tmp}", "--on-change", "gh 'unclosed"], "--on-change: cannot split"),
])
def test_a_bad_hook_is_refused_in_one_line_before_anything_runs(tmp_path, capsys, args, words):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["watch", "--replay", OUTAGE, "--include", "vpc*", "--max-wait", "1", *args])
    err = capsys.readouterr().err
    assert code == 3 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
