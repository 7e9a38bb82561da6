"""Discovery's pure half: Cloud Asset results and project lists -> targets -> a targets file that loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infracheck.catalog import discover, targets
from infracheck.errors import CannotRun

STAGING, PROD = "123456789012", "234567890123"


def asset(kind: str, name: str, number: str, location: str) -> dict[str, Any]:
    full = {"connector": f"//vpcaccess.googleapis.com/projects/p/locations/{location}/connectors/{name}",
            "sql": f"//cloudsql.googleapis.com/projects/p/instances/{name}",
            "run": f"//run.googleapis.com/projects/p/locations/{location}/services/{name}"}[kind]
    types = {"connector": "vpcaccess.googleapis.com/Connector", "sql": "sqladmin.googleapis.com/Instance",
             "run": "run.googleapis.com/Service"}
    return {"name": full, "assetType": types[kind], "project": f"projects/{number}", "location": location}


def project(pid: str, number: str, **labels: str) -> dict[str, Any]:
    return {"projectId": pid, "projectNumber": number, "lifecycleState": "ACTIVE", "labels": labels,
            "parent": {"type": "organization", "id": "987654321098"}}


PROJECTS = discover.projects([project("netra-staging", STAGING, env="staging"),
                              project("netra-production", PROD, env="prod")])


def loads(tmp_path: Path, found: discover.Discovery) -> tuple[targets.Target, ...]:
    path = tmp_path / "targets.toml"
    path.write_text(discover.render(found, ["header"]))
    return targets.load(path)


def test_a_target_per_project_and_region_named_by_project_id_with_region_only_when_needed(tmp_path: Path) -> None:
    found = discover.resources([
        asset("connector", "staging-connector", STAGING, "us-central1"),
        asset("run", "api", STAGING, "us-central1"),
        asset("run", "api", PROD, "us-west1"),
        asset("sql", "prod-db", PROD, "us-east1-b"),  # a zone counts for its region
        asset("run", "edge", PROD, "global"),  # no region: no target
    ])
    loaded = loads(tmp_path, discover.from_assets(found, PROJECTS))
    assert [(t.name, t.project, t.region) for t in loaded] == [
        ("netra-production-us-east1", "netra-production", "us-east1"),
        ("netra-production-us-west1", "netra-production", "us-west1"),
        ("netra-staging", "netra-staging", "us-central1"),
    ]
    staging = loaded[-1]
    assert dict(staging.tags) == {"env": "staging", "region": "us-central1", "source": "cloud-asset"}
    assert dict(staging.settings) == {"connector": "staging-connector", "services": "api"}


def test_two_instances_of_a_kind_are_a_choice_for_a_person_never_a_guess() -> None:
    found = discover.resources([asset("sql", "db-a", STAGING, "us-central1"),
                                asset("sql", "db-b", STAGING, "us-central1")])
    result = discover.from_assets(found, PROJECTS)
    assert dict(result.targets[0].settings) == {}
    assert result.notes == ("target 'netra-staging': 2 Cloud SQL instances (db-a, db-b): sql_instance not set, "
                            "choose one in [target.set]",)


def test_a_project_number_no_project_list_shows_is_said_never_silently_dropped() -> None:
    found = discover.resources([asset("run", "api", "345678901234", "us-central1"),
                                asset("run", "web", "345678901234", "us-central1"),
                                asset("run", "api", STAGING, "us-central1")])
    result = discover.from_assets(found, PROJECTS)
    assert [t.name for t in result.targets] == ["netra-staging"]
    assert result.left_out == ("project number 345678901234 (2 resources): gcloud projects list does not show it "
                               "(not ACTIVE, or no resourcemanager.projects.get on it), so its id is unknown",)


def test_regions_narrow_the_asset_targets() -> None:
    found = discover.resources([asset("run", "api", PROD, "us-west1"), asset("run", "api", PROD, "us-east1")])
    assert [t.name for t in discover.from_assets(found, PROJECTS, ["us-east1"]).targets] == ["netra-production"]


def test_a_value_the_profile_refuses_is_left_out_with_the_reason() -> None:
    found = discover.resources([asset("connector", "a-connector-name-far-too-long-for-gcp", STAGING, "us-central1")])
    result = discover.from_assets(found, PROJECTS, check=lambda name, value: "too long" if len(value) > 25 else None)
    assert dict(result.targets[0].settings) == {}
    assert result.notes == ("target 'netra-staging': connector not set: too long",)


def test_names_stay_unique_when_a_project_id_ends_like_another_projects_region(tmp_path: Path) -> None:
    known = discover.projects([project("webshop-us-east1", "1"), project("webshop", "2")])
    found = discover.resources([asset("run", "a", "1", "us-east1"), asset("run", "a", "2", "us-east1"),
                                asset("run", "a", "2", "us-west1")])
    names = [t.name for t in loads(tmp_path, discover.from_assets(found, known))]
    assert len(set(names)) == 3 and "webshop-us-west1" in names
    assert names == [t.name for t in loads(tmp_path, discover.from_assets(found, known))]  # the same every time


def test_from_the_project_list_every_project_gets_each_region_given(tmp_path: Path) -> None:
    one = loads(tmp_path, discover.from_projects(PROJECTS, ["us-central1"]))
    assert [(t.name, dict(t.tags)["source"]) for t in one] == [("netra-production", "projects-list"),
                                                                ("netra-staging", "projects-list")]
    two = loads(tmp_path, discover.from_projects(PROJECTS, ["us-central1", "us-west1"]))
    assert [t.name for t in two] == ["netra-production-us-central1", "netra-production-us-west1",
                                     "netra-staging-us-central1", "netra-staging-us-west1"]


def test_a_label_that_is_no_tag_value_is_not_a_tag() -> None:
    known = discover.projects([project("netra-staging", STAGING, env="")])
    assert dict(discover.from_projects(known, ["us-central1"]).targets[0].tags) == {
        "region": "us-central1", "source": "projects-list"}


@pytest.mark.parametrize("document", [{"results": []}, "text", None])
def test_a_document_of_the_wrong_shape_is_one_line(document: Any) -> None:
    with pytest.raises(CannotRun, match="printed no list"):
        discover.resources(document)
    with pytest.raises(CannotRun, match="printed no list"):
        discover.projects(document)
