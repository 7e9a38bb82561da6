"""Fleet runs through the real gcloud against the fake API: every target through one warm gcloud, each
target's findings those its single run gives, `record --targets` replayed to the same verdicts, live
parity."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.conftest import ROOT, environment, infracheck

pytestmark = pytest.mark.contract

# The probes read the network, not the fake: left out, as in test_live.py.
EXCLUDE = "network*"


def _targets(folder: Path, *names: str) -> Path:
    path = folder / "targets.toml"
    path.write_text("".join(f'[[target]]\nname = "{n}"\nproject = "netra-staging"\nregion = "us-central1"\n\n'
                            for n in names))
    return path


def verdicts(report: dict) -> set[tuple[str, str, str, str]]:
    return {(f["rule"], f["resource"], f["status"], f["message"]) for f in report["findings"]}


def test_a_live_fleet_gives_each_target_its_single_runs_findings_and_replays_the_same(
        api, gcloud_config, tmp_path):
    targets = _targets(tmp_path, "blue", "green")
    env = environment(api, gcloud_config)
    recorded = tmp_path / "recorded"
    fleet = infracheck("record", str(recorded), "--targets", str(targets), "--exclude", EXCLUDE, "--format", "json",
                       env=env)
    assert fleet.code == 0, fleet.stderr
    doc = fleet.json()
    assert doc["status"] == "HEALTHY" and [t["target"] for t in doc["targets"]] == ["blue", "green"]
    assert {t["engine"] for t in doc["targets"]} == {"warm"}  # one loaded gcloud served both
    assert "recorded 2 of 2 targets" in fleet.stderr

    single = infracheck("diagnose", "--exclude", EXCLUDE, "--format", "json", env=env)
    assert single.code == 0, single.stderr
    for target in doc["targets"]:
        assert verdicts(target) == verdicts(single.json()), target["target"]

    assert sorted(p.name for p in recorded.iterdir()) == ["blue", "green"]
    replayed = infracheck("diagnose", "--targets", str(targets), "--replay", str(recorded), "--format", "json",
                          env=env)
    assert replayed.code == 0, replayed.stderr
    for live, again in zip(doc["targets"], replayed.json()["targets"]):
        assert verdicts(live) == verdicts(again)


def test_live_parity_reads_both_targets_through_gcloud(api, gcloud_config, tmp_path):
    targets = _targets(tmp_path, "blue", "green")
    run = infracheck("parity", "--targets", str(targets), "blue", "green", "--format", "json",
                     env=environment(api, gcloud_config))
    assert run.code == 0, run.stderr  # one project compared with itself: no difference
    result = run.json()
    assert result["status"] == "HEALTHY" and result["differences"] == [] and result["compared"] > 30
    reads = {(r.host, r.path) for r in api.requests}
    assert any("connectors" in path for _, path in reads) and any("instances" in path for _, path in reads)
    assert not api.mutations


# Three projects on one fake, each its own model: the demo fleet, live.
PROJECTS = {"netra-web": "healthy", "netra-prod": "outage", "netra-dev": "denied"}
# The seed's outage holds no Cloud Monitoring data (test_live.py leaves the same reads out).
LIVE_EXCLUDE = "network*,capacity*,monitoring*,loadbalancer.requests"


def _fleet_file(folder: Path, projects: dict[str, str]) -> Path:
    path = folder / "targets.toml"
    path.write_text("".join(f'[[target]]\nname = "{p.removeprefix("netra-")}"\nproject = "{p}"\n'
                            f'region = "us-central1"\n\n' for p in projects))
    return path


@pytest.fixture
def projects(api):
    api.set_projects(PROJECTS)
    yield api
    api.set_projects(None)


def test_a_live_fleet_of_three_projects_is_critical_with_the_denied_one_named(projects, gcloud_config, tmp_path):
    targets = _fleet_file(tmp_path, {**PROJECTS, "netra-old": "(in no map: a project that does not exist)"})
    env = environment(projects, gcloud_config)
    run = infracheck("diagnose", "--targets", str(targets), "--exclude", LIVE_EXCLUDE, "--format", "json", env=env)
    assert run.code == 2, run.stderr
    doc = run.json()
    by_name = {t["target"]: t for t in doc["targets"]}
    assert doc["status"] == "CRITICAL"
    assert {n: t["status"] for n, t in by_name.items()} == {"dev": "UNKNOWN", "old": "UNKNOWN", "prod": "CRITICAL",
                                                             "web": "HEALTHY"}
    assert by_name["dev"]["not_checked"].startswith("permission denied: every gcloud command was refused")
    assert by_name["old"]["not_checked"].startswith(
        "project not found: compute answers \"The resource 'projects/netra-old' was not found\"")
    assert by_name["prod"]["project"] == "netra-prod"  # each target read its own project
    assert {t["engine"] for t in doc["targets"]} == {"warm"}
    assert "Traceback" not in run.stderr
    # The built-in profile's names on other projects: said once for the fleet, not once per target.
    [warning] = [line for line in run.stderr.splitlines() if "still come from the built-in profile" in line]
    assert "each target's project" in warning and warning.endswith("(targets dev, old, prod, web)")

    text = infracheck("diagnose", "--targets", str(targets), "--exclude", LIVE_EXCLUDE, "--color", "never", env=env)
    assert text.code == 2
    assert "2/4 targets checked; 2 could not be checked: dev (permission denied: every gcloud command was refused" \
        in text.stdout
    assert "old (project not found: compute answers" in text.stdout


def test_one_projects_hung_api_costs_that_target_alone(projects, gcloud_config, tmp_path):
    projects.set_projects({"netra-a": "healthy", "netra-b": "healthy"})
    projects.fault("sql.test/sql/v1beta4/projects/netra-b/instances/netra-staging-db", "hang")
    targets = _fleet_file(tmp_path, {"netra-a": "", "netra-b": ""})
    run = infracheck("diagnose", "--targets", str(targets), "--exclude", "network*", "--format", "json",
                     "--timeout", "60", "--target-timeout", "10", env=environment(projects, gcloud_config))
    by_name = {t["target"]: t for t in run.json()["targets"]}
    assert run.code == 3, run.stderr
    assert by_name["a"]["status"] == "HEALTHY"
    assert by_name["b"]["status"] == "UNKNOWN"
    lapsed = [c for c in by_name["b"]["commands"] if c["error_kind"] == "timeout"]
    assert lapsed and all("netra-staging-db" in c["argv"] for c in lapsed)
    assert run.seconds < 45  # the target's bound and the engine's stop, not the hung command's 60 s


def test_live_parity_between_two_projects_names_the_differences(projects, gcloud_config, tmp_path):
    targets = _fleet_file(tmp_path, PROJECTS)
    run = infracheck("parity", "--targets", str(targets), "web", "prod", "--format", "json",
                     env=environment(projects, gcloud_config))
    assert run.code == 1, run.stderr
    paths = {d["path"] for d in run.json()["differences"]}
    assert {"connector.minInstances", "cloudsql.sslMode", "cloudrun.auth-staging.vpcEgress"} <= paths
