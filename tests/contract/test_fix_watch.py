"""Fix mode and watch through the real gcloud: the plan changes nothing, --yes sends exactly the
changes the plan shows (checked on the wire), and watch follows a stack that heals by itself.

Scenario `fixable`: the connector still CREATING and below the plan's maximum, the backend off
its connector, auth's egress limited to private ranges. Only the vpc and cloudrun areas are
selected: each live run costs a few gcloud processes, not the catalog.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import sigint_restored
from tests.contract.conftest import ROOT, environment, infracheck

pytestmark = pytest.mark.contract

SCENARIO = ROOT / "fixtures" / "api" / "fixable"
CONNECTOR = "vpcaccess.test/v1/projects/netra-staging/locations/us-central1/connectors/staging-connector"
SERVICES = "us-central1-run.test/apis/serving.knative.dev/v1/namespaces/netra-staging/services"
SELECT = ("--include", "vpc*,cloudrun*")


def connector(state: str) -> dict[str, Any]:
    body = json.loads((SCENARIO / f"{CONNECTOR}.json").read_text())
    body["state"] = state
    return body


def test_the_plan_changes_nothing(api, gcloud_config):
    api.set_scenario(SCENARIO)
    run = infracheck("diagnose", "--fix-mode", *SELECT, "--format", "json", env=environment(api, gcloud_config))
    assert run.code == 2, run.stderr
    steps = run.json()["fixes"]
    assert [(s["kind"], [f["rule"] for f in s["fixes"]]) for s in steps] == [
        ("wait", ["vpc.state"]),
        ("apply", ["vpc.max-instances"]),
        ("apply", ["cloudrun.vpc-connector"]),
        ("apply", ["cloudrun.vpc-egress"]),
    ]
    assert steps[1]["argv"] == [
        "gcloud", "compute", "networks", "vpc-access", "connectors", "update", "staging-connector",
        "--region=us-central1", "--min-instances=2", "--max-instances=10", "--project=netra-staging"]
    assert steps[1]["changes"] == ["max instances 3 -> 10"]
    assert {s["outcome"] for s in steps} == {"planned"}
    assert api.mutations == []


def test_yes_applies_the_plan_in_order_and_the_recheck_is_healthy(api, gcloud_config):
    api.set_scenario(SCENARIO)
    api.allow_fixes()
    # The diagnosis sees CREATING; GCP has finished by the wait step's first look.
    api.set_sequence(CONNECTOR, [connector("CREATING"), connector("READY")])
    run = infracheck("diagnose", "--fix-mode", "--yes", *SELECT, "--format", "json", "--fix-poll", "0.5",
                     env=environment(api, gcloud_config), timeout=900)
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["status_before_fixes"], report["status"]) == ("CRITICAL", "HEALTHY")
    assert [s["outcome"] for s in report["fixes"]] == ["waited", "applied", "applied", "applied"]
    assert all(s["after"] == ["pass"] for s in report["fixes"])

    # Exactly these changes reached the API, in this order, with these bodies.
    changes = api.changes
    assert [(c.method, c.route, c.status) for c in changes] == [
        ("PATCH", CONNECTOR, 200),
        ("PUT", f"{SERVICES}/netra-backend-staging", 200),
        ("PUT", f"{SERVICES}/auth-staging", 200),
    ]
    assert changes[0].query == "alt=json&updateMask=maxInstances%2CminInstances"
    assert changes[0].body == {"maxInstances": 10, "minInstances": 2}
    for change in changes[1:]:
        template = change.body["spec"]["template"]["metadata"]["annotations"]
        assert template["run.googleapis.com/vpc-access-connector"] == "staging-connector"
        assert template["run.googleapis.com/vpc-access-egress"] == "all-traffic"
    assert [r.method for r in api.mutations] == ["PATCH", "PUT", "PUT"]


def test_a_refused_change_stops_the_plan_with_a_clear_message(api, gcloud_config):
    api.set_scenario(SCENARIO)
    api.allow_fixes(faults={CONNECTOR: "403"})
    api.set_sequence(CONNECTOR, [connector("CREATING"), connector("READY")])
    run = infracheck("diagnose", "--fix-mode", "--yes", *SELECT, "--color", "never", "--fix-poll", "0.5",
                     env=environment(api, gcloud_config), timeout=900)
    assert run.code == 2, run.stderr
    assert "fix step 2 failed: permission denied" in run.stderr
    assert "the steps after it were not run" in run.stderr
    assert "[failed]" in run.stdout and run.stdout.count("[not-run]") == 2
    assert "Overall Status after fixes: CRITICAL (was CRITICAL)" in run.stdout
    assert [c.method for c in api.changes] == ["PATCH"]
    assert "Traceback" not in run.stderr


def test_watch_until_healthy_follows_the_connector_to_ready(api, gcloud_config):
    api.set_scenario(SCENARIO)
    api.set_sequence(CONNECTOR, [connector("CREATING"), connector("CREATING"), connector("READY")])
    # Three reads reach READY in ~3 s (30 s on a loaded 2-core machine): a watch that misses it
    # fails at --max-wait, in about a minute, not after ten, and says what each cycle saw.
    run = infracheck("watch", "--include", "vpc.state", "--until", "healthy", "--interval", "0.2",
                     "--max-wait", "60", "--format", "json", env=environment(api, gcloud_config), timeout=120)
    cycles = [json.loads(line) for line in run.stdout.splitlines()]
    seen = [(c["status"], c["watch"]["full"], c["engine"], [f["message"] for f in c["findings"]
                                                           if f["status"] not in ("pass", "skip")]) for c in cycles]
    assert run.code == 0, (run.stderr, len(api.requests), seen[:6], seen[-3:])
    assert [(c["status"], c["watch"]["full"]) for c in cycles] == [
        ("CRITICAL", True), ("CRITICAL", False), ("HEALTHY", False), ("HEALTHY", True)]
    # After the first cycle only the failing check runs: one gcloud call a cycle.
    assert [c["watch"]["commands"] for c in cycles] == [1, 1, 1, 1]
    assert cycles[2]["watch"]["changed"] == [
        {"rule": "vpc.state", "resource": "staging-connector", "before": "fail", "after": "pass"}]
    assert api.mutations == []


def test_ctrl_c_while_fixing_says_which_steps_ran_and_prints_the_partial_report(api, gcloud_config):
    api.set_scenario(SCENARIO)
    api.allow_fixes()
    api.set_sequence(CONNECTOR, [connector("CREATING")])  # never READY: step 1 waits until Ctrl-C
    proc = subprocess.Popen(
        [sys.executable, "-m", "infracheck", "diagnose", "--fix-mode", "--yes", *SELECT, "--color", "never",
         "--fix-poll", "0.5"], env=environment(api, gcloud_config), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_restored)
    try:
        deadline = time.monotonic() + 120
        # The diagnosis read the connector once; a second read is the wait step's first look.
        while time.monotonic() < deadline and sum(r.route == CONNECTOR for r in api.requests) < 2:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted during fix step 1" in err and "steps run: none; not run: 2, 3, 4" in err
    # The partial report: the diagnosis, then every step with what happened to it.
    assert "Overall Status: CRITICAL" in out
    assert " 1. WAIT   until VPC connector is READY (staging-connector)  [interrupted]" in out
    assert out.count("[not-run]") == 3 and "interrupted (Ctrl-C) before it ran" not in err
    assert "INTERRUPTED: not re-checked; the findings above are the diagnosis (CRITICAL)" in out
    assert "Traceback" not in err
    assert api.changes == []
