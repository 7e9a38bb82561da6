"""Monitoring in place through the real gcloud: the track gcloud 528 has policies on, the generated
policies and uptime checks accepted by gcloud and sent as generated (checked on the wire), and
--yes creating what was missing until the re-check finds the stack watched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infracheck import alerts
from infracheck.catalog import loader
from infracheck.runner import tracks
from tests.contract.conftest import ROOT, environment, infracheck

pytestmark = pytest.mark.contract

NONE = ROOT / "fixtures" / "api" / "monitoring-none"
POLICIES = "monitoring.test/v3/projects/netra-staging/alertPolicies"
UPTIME = "monitoring.test/v3/projects/netra-staging/uptimeCheckConfigs"
CHANNEL = "projects/netra-staging/notificationChannels/4815162342"


def test_the_detected_track_is_the_one_gcloud_answers_on(api, gcloud_config):
    found = tracks.detect(shutil.which("gcloud"))
    env = environment(api, gcloud_config)
    for group, track in found.items():
        words = group.split()
        on = ["gcloud"] + ([] if track == "ga" else [track]) + words + ["--help"]
        assert subprocess.run(on, env=env, capture_output=True, timeout=60).returncode == 0, on
        if track != "ga":  # and the more stable track does not have it (exit 2: invalid choice)
            assert subprocess.run(["gcloud", *words, "--help"], env=env, capture_output=True,
                                  timeout=60).returncode == 2, group
    assert "monitoring policies" in found


def test_gcloud_creates_the_written_policy_file_as_written(api, gcloud_config, tmp_path):
    api.allow_fixes()
    profile = loader.load().profile
    written = alerts.write(tmp_path, profile, tracks.detect(shutil.which("gcloud")))
    policy_file = next(p for p in written if p.name.startswith("alert-connector-saturated"))
    command = [line for line in (tmp_path / "commands.sh").read_text().splitlines() if policy_file.name in line]
    assert len(command) == 1
    done = subprocess.run(command[0], shell=True, cwd=tmp_path, env=environment(api, gcloud_config),  # noqa: S602
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    posted = [c for c in api.changes if c.route == POLICIES]
    assert len(posted) == 1 and posted[0].method == "POST" and posted[0].status == 200
    assert posted[0].body == json.loads(policy_file.read_text())


def test_yes_creates_the_missing_monitoring_and_the_recheck_finds_the_stack_watched(api, gcloud_config):
    api.set_scenario(NONE)
    api.allow_fixes()
    run = infracheck("diagnose", "--fix-mode", "--yes", "--include", "monitoring*", "--format", "json",
                     "--set", f"alert_channels={CHANNEL}", env=environment(api, gcloud_config), timeout=600)
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["status_before_fixes"], report["status"]) == ("WARNING", "HEALTHY")
    profile = dict(loader.load(overrides={"alert_channels": CHANNEL}).profile)
    posted = [c.body for c in api.changes if c.route == POLICIES]
    # Exactly the generated policies (the database's limit: the profile's, its instance was not read).
    assert posted == [p.body for p in alerts.policies(profile)]
    assert all(body["notificationChannels"] == [CHANNEL] for body in posted)
    created = [c.body for c in api.changes if c.route == UPTIME]
    assert [(b["monitoredResource"]["labels"]["host"], b["httpCheck"]["path"], b["httpCheck"]["useSsl"])
            for b in created] == [("staging.netrasystems.ai", "/", True),
                                  ("api-staging.netrasystems.ai", "/health", True),
                                  ("staging.netrasystems.ai", "/auth/health", True)]
    assert {c.status for c in api.changes} == {200}


def test_yes_adds_the_profiles_channel_to_a_policy_without_one(api, gcloud_config):
    api.set_scenario(ROOT / "fixtures" / "api" / "monitoring-no-channel")
    api.allow_fixes()
    run = infracheck("diagnose", "--fix-mode", "--yes", "--include", "monitoring*", "--format", "json",
                     "--set", f"alert_channels={CHANNEL}", env=environment(api, gcloud_config), timeout=600)
    assert run.code == 0, run.stderr
    assert (run.json()["status_before_fixes"], run.json()["status"]) == ("WARNING", "HEALTHY")
    patched = [c for c in api.changes if c.method == "PATCH"]
    # The two database policies, each given the channel and nothing else changed.
    assert len(patched) == 2 and {c.status for c in patched} == {200}
    assert all(c.body["notificationChannels"] == [CHANNEL] and "updateMask=notification_channels" in c.query
               for c in patched)
    assert not [c for c in api.changes if c.method == "POST"]


def test_a_channel_is_a_manual_step_naming_the_command(api, gcloud_config):
    api.set_scenario(NONE)
    run = infracheck("diagnose", "--fix-mode", "--include", "monitoring*", "--format", "json",
                     env=environment(api, gcloud_config))
    assert run.code == 1, run.stderr
    steps = run.json()["fixes"]
    manual = [s for s in steps if s["kind"] == "manual"]
    assert len(manual) == 1 and manual[0]["argv"][:5] == ["gcloud", "beta", "monitoring", "channels", "create"]
    assert "email_address=ADDRESS" in " ".join(manual[0]["argv"])
    assert api.mutations == []


def test_denied_is_could_not_check_naming_the_role(api, gcloud_config):
    api.set_scenario(ROOT / "fixtures" / "api" / "monitoring-denied")
    run = infracheck("diagnose", "--include", "monitoring*", "--format", "json", env=environment(api, gcloud_config))
    assert run.code == 3, run.stderr
    findings = [f for f in run.json()["findings"] if f["area"] == "monitoring"]
    assert len(findings) == 7 and {f["status"] for f in findings} == {"error"}
    assert all("roles/monitoring.viewer" in f["remedy"] for f in findings)


@pytest.fixture(autouse=True)
def _no_stray_files(tmp_path: Path) -> None:
    """alerts.write goes only where it is told."""
    assert not (ROOT / "commands.sh").exists()
