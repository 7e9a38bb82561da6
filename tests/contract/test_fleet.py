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
