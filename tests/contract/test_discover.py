"""Issue 21, discovery: `infracheck discover` through the real gcloud against the fake Cloud Asset and Resource
Manager APIs (fixtures/api/discover-asset: a SearchAllResourcesResponse for organization 987654321098 and a
ListProjectsResponse; no scenario.toml, as `make fixtures` records diagnoses, not discoveries).

What gcloud puts on the wire is asserted, and what it printed is recorded and compared with the committed
recordings under fixtures/discover/, which tests/test_discover.py replays: to re-record them, run
`python -m infracheck discover --organization 987654321098 --record fixtures/discover/asset --force` (and the
fallback with Cloud Asset answering 403: see below) against `tests/tools/fakeapi.py --scenario
fixtures/api/discover-asset`.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from infracheck.catalog import targets
from tests.contract.conftest import API, ROOT, environment, infracheck

pytestmark = pytest.mark.contract

ORG = "987654321098"
COMMITTED = ROOT / "fixtures" / "discover"


def files(folder: Path) -> dict[str, str]:
    """A recording's files and texts, but for when it was made."""
    found = {p.name: p.read_text() for p in folder.iterdir()}
    meta = json.loads(found.pop("recording.json"))
    meta.pop("recorded_at")
    return {**found, "recording.json": json.dumps(meta, sort_keys=True)}


@pytest.fixture
def scenario(api):
    api.set_scenario(API / "discover-asset")
    yield api


def test_one_cloud_asset_search_then_one_project_list_recorded_as_gcloud_printed_them(scenario, gcloud_config,
                                                                                       tmp_path):
    out = tmp_path / "targets.toml"
    run = infracheck("discover", "--organization", ORG, "--record", str(tmp_path / "rec"), "--output", str(out),
                     env=environment(scenario, gcloud_config))
    assert run.code == 0, run.stderr
    assert f"needs cloudasset.assets.searchAllResources on organizations/{ORG}" in run.stderr
    search, listed = [r for r in scenario.requests]
    assert search.route == f"cloudasset.test/v1/organizations/{ORG}:searchAllResources"
    assert search.params["assetTypes"] == ["vpcaccess.googleapis.com/Connector", "sqladmin.googleapis.com/Instance",
                                           "run.googleapis.com/Service"]
    assert search.params["pageSize"] == ["500"]  # gcloud's own default is 20 a page
    # gcloud rewrites projectNumber:(A B) into an OR the API understands, and only ever lists ACTIVE projects.
    assert listed.route == "cloudresourcemanager.test/v1/projects"
    assert parse_qs(listed.query)["filter"] == [
        "lifecycleState:ACTIVE AND (( projectNumber:123456789012 OR projectNumber:234567890123 ))"]
    assert [t.name for t in targets.load(out)] == ["netra-production-europe-west1", "netra-production-us-west1",
                                                   "netra-staging"]
    assert files(tmp_path / "rec") == files(COMMITTED / "asset")
    assert not scenario.mutations
    replayed = infracheck("discover", "--organization", ORG, "--replay", str(tmp_path / "rec"),
                          env=environment(scenario, gcloud_config))
    assert (replayed.code, replayed.stdout) == (0, out.read_text())


@pytest.mark.parametrize("fault, why", [("403", "permission denied"), ("disabled", "the API is disabled")])
def test_cloud_asset_denied_or_disabled_falls_back_to_the_project_list(scenario, gcloud_config, tmp_path, fault,
                                                                       why):
    scenario.fault("cloudasset.test/*", fault)
    run = infracheck("discover", "--organization", ORG, "--region", "us-central1", "--region", "us-west1",
                     "--record", str(tmp_path / "rec"), env=environment(scenario, gcloud_config))
    assert run.code == 0, run.stderr
    assert f"Cloud Asset is not available for organizations/{ORG} ({why}" in run.stderr
    assert "(needs resourcemanager.projects.list;" in run.stderr
    listed = scenario.requests[-1]
    assert parse_qs(listed.query)["filter"] == [f"lifecycleState:ACTIVE AND (parent.type=organization AND "
                                                f"parent.id={ORG})"]
    path = tmp_path / "targets.toml"
    path.write_text(run.stdout)
    assert len(targets.load(path)) == 4
    if fault == "403":
        recorded = files(tmp_path / "rec")
        # --organization as written is part of the metadata; the committed one was given organizations/N.
        assert {k: v for k, v in recorded.items() if k != "recording.json"} == {
            k: v for k, v in files(COMMITTED / "fallback").items() if k != "recording.json"}
