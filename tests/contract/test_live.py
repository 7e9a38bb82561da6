"""Every catalog command through the real gcloud: it exists, its flags exist, and what
it prints drives the rules to the verdicts the committed recordings give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contract.conftest import ROOT, environment, infracheck
from tests.tools.seed import SEED_CRITICAL, SEED_WARNINGS

pytestmark = pytest.mark.contract



def verdicts(report: dict) -> set[tuple[str, str, str, str]]:
    return {(f["rule"], f["resource"], f["status"], f["message"]) for f in report["findings"]}


# The seed's outage was recorded before infracheck read Cloud Monitoring (its replay says so); its live
# load reads (the load balancer's 5xx share too) and monitoring lists are compared nowhere, so they are left
# out of this comparison.
@pytest.mark.parametrize("scenario,status,code,exclude", [("healthy", "HEALTHY", 0, "network*"),
                                                          ("outage", "CRITICAL", 2, "network*,capacity*,monitoring*,loadbalancer.requests")])
def test_live_run_matches_the_recording(api, gcloud_config, tmp_path, scenario, status, code, exclude):
    """One live `record` per scenario: verdicts equal the replay's, files equal the committed ones."""
    api.set_scenario(ROOT / "fixtures" / "api" / scenario)
    out = tmp_path / "recorded"
    live = infracheck("record", str(out), "--format", "json", "--exclude", exclude,
                      env=environment(api, gcloud_config))
    assert live.code == code, live.stderr  # record exits with the verdict, like diagnose
    live_report = live.json()
    assert live_report["status"] == status

    replay = infracheck("diagnose", "--replay", str(ROOT / "fixtures" / scenario), "--format", "json",
                        "--exclude", exclude, env=environment(api, gcloud_config))
    assert replay.code == code
    assert verdicts(live_report) == verdicts(replay.json())

    # No command was refused by gcloud (exit 2 = unknown command or flag) or failed
    # unexpectedly: only the outage's two missing secrets exit non-zero.
    failed = {arg for c in live_report["commands"] if c["exit_code"] != 0 for arg in c["argv"] if arg.startswith("--secret=")}
    assert failed == ({"--secret=database-url", "--secret=jwt-secret-staging"} if scenario == "outage" else set())
    assert all(c["error_kind"] in (None, "not-found") for c in live_report["commands"])

    # Identical commands ran once: one request per distinct route, and nothing mutating.
    routes = [(r.method, r.host, r.path, r.query) for r in api.requests]
    assert len(routes) == len(set(routes)) == len(live_report["commands"])
    assert not api.mutations

    # The committed recording is byte for byte what gcloud prints today.
    committed = ROOT / "fixtures" / scenario
    for path in sorted(out.iterdir()):
        if path.name == "recording.json":  # the committed one also holds the probes, so it drops the exclude
            live_meta = json.loads(path.read_text())
            assert live_meta.pop("exclude") == exclude.split(",")
            assert live_meta == json.loads((committed / path.name).read_text())
            continue
        assert path.read_text() == (committed / path.name).read_text(), path.name


def test_seed_outage_text_report_through_real_gcloud(api, gcloud_config):
    api.set_scenario(ROOT / "fixtures" / "api" / "outage")
    run = infracheck("diagnose", "--exclude", "network*", "--issue", "1278", "--color", "never",
                     env=environment(api, gcloud_config))
    assert run.code == 2, run.stderr
    for line in SEED_CRITICAL + SEED_WARNINGS + ["Overall Status: CRITICAL", "Critical Failures: 6", "Warnings: 2",
                                                 "Secret validation: 8/10 valid"]:
        assert line in run.stdout
    assert "Traceback" not in run.stderr


def test_gcloud_writes_no_log_file(api, gcloud_config):
    """gcloud copies --format=json output (a secret's base64) to its log unless told not to."""
    run = infracheck("diagnose", "--include", "secrets.*", "--format", "json", env=environment(api, gcloud_config))
    assert run.code == 0, run.stderr
    assert not (gcloud_config / "logs").exists()
