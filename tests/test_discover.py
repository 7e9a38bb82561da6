"""`infracheck discover` as a user runs it: replays of what real gcloud printed (fixtures/discover/, recorded by
tests/contract/test_discover.py), the targets file it writes, what stderr says, bad input, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infracheck.catalog import targets
from infracheck.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "discover"
ORG = "987654321098"


def test_the_cloud_asset_recording_gives_a_targets_file_that_loads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "targets.toml"
    assert main(["discover", "--organization", ORG, "--replay", str(FIXTURES / "asset"), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"infracheck: discover: source: Cloud Asset, gcloud asset search-all-resources --scope=organizations/{ORG}"
            f" (needs cloudasset.assets.searchAllResources on organizations/{ORG})") in err
    assert ("warning: discover: target 'netra-production-us-west1': 2 Cloud SQL instances (netra-prod-db, "
            "netra-prod-replica): sql_instance not set, choose one in [target.set]") in err
    loaded = {t.name: t for t in targets.load(out)}
    assert sorted(loaded) == ["netra-production-europe-west1", "netra-production-us-west1", "netra-staging"]
    staging = loaded["netra-staging"]
    assert staging.flags() == ("--project", "netra-staging", "--region", "us-central1",
                               "--set", "connector=staging-connector",
                               "--set", "services=auth-staging,netra-backend-staging",
                               "--set", "sql_instance=netra-staging-db")
    assert dict(staging.tags) == {"env": "staging", "region": "us-central1", "source": "cloud-asset"}


def test_without_cloud_asset_it_falls_back_to_the_project_list_and_says_why(tmp_path: Path, capsys) -> None:
    code = main(["discover", "--organization", f"organizations/{ORG}", "--replay", str(FIXTURES / "fallback"),
                 "--region", "us-central1", "--region", "us-west1"])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"infracheck: discover: Cloud Asset is not available for organizations/{ORG} (permission denied:" in err
    assert (f"source: Resource Manager, gcloud projects list --filter=parent.type=organization AND parent.id={ORG} "
            "(needs resourcemanager.projects.list; only projects directly under the organization") in err
    path = tmp_path / "t.toml"
    path.write_text(out)
    assert [(t.name, t.region, dict(t.tags)["source"]) for t in targets.load(path)] == [
        ("netra-production-us-central1", "us-central1", "projects-list"),
        ("netra-production-us-west1", "us-west1", "projects-list"),
        ("netra-staging-us-central1", "us-central1", "projects-list"),
        ("netra-staging-us-west1", "us-west1", "projects-list"),
    ]


def test_the_output_file_is_not_overwritten_without_force(tmp_path: Path, capsys) -> None:
    out = tmp_path / "targets.toml"
    out.write_text("# mine\n")
    args = ["discover", "--organization", ORG, "--replay", str(FIXTURES / "asset"), "--output", str(out)]
    assert main(args) == 3
    assert capsys.readouterr().err == f"infracheck: error: --output {out}: the file exists (--force replaces it)\n"
    assert out.read_text() == "# mine\n"
    assert main([*args, "--force"]) == 0
    assert "[[target]]" in out.read_text()


@pytest.mark.parametrize("args, said", [
    (["--organization", "acme"], "--organization acme: not an organization id; give its number"),
    (["--organization", "folders/12"], "--organization folders/12: not an organization id"),
    (["--folder", "-1"], "--folder -1: not a folder id; give its number"),
    (["--filter", "-labels.env=prod"], "--filter -labels.env=prod: a value may not start with '-'"),
    (["--filter", " "], "--filter: an empty filter"),
    ([], "give one of --organization ORG, --folder FOLDER or --filter EXPR"),
    (["--organization", "1", "--folder", "2"], "give one of --organization ORG, --folder FOLDER or --filter EXPR "
                                                "(not --organization and --folder)"),
    (["--filter", "x", "--region", "Mars"], "--region Mars: invalid region 'Mars'"),
    (["--filter", "x", "--record", "a", "--replay", "b"], "--record and --replay do not go together"),
], ids=["org-name", "org-of-folder", "folder-dash", "filter-dash", "filter-empty", "none", "two", "region",
        "record-replay"])
def test_bad_input_is_one_line_and_exit_3(args: list[str], said: str, capsys) -> None:
    assert main(["discover", *args]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"infracheck: error: {said}") and err.count("\n") == 1 and "Traceback" not in err


def test_a_replay_of_another_scope_says_what_it_lacks(capsys) -> None:
    assert main(["discover", "--folder", "55", "--replay", str(FIXTURES / "asset")]) == 3
    err = capsys.readouterr().err
    assert "holds no recording of `gcloud asset search-all-resources --scope=folders/55" in err


def test_a_project_whose_id_is_unknown_is_named_and_the_exit_code_warns(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "rec"
    shutil.copytree(FIXTURES / "asset", folder)
    search = next(folder.glob("gcloud_asset_search-all-resources*.json"))
    # A third project's resource, in a project the project list does not show (another team's, or being deleted).
    search.write_text(search.read_text().replace(
        '"project": "projects/123456789012"', '"project": "projects/345678901234"', 1))
    listed = folder / "gcloud_projects_list_--filter=projectNumber_123456789012_234567890123.json"
    listed.rename(folder / "gcloud_projects_list_--filter=projectNumber_123456789012_234567890123_345678901234.json")
    assert main(["discover", "--organization", ORG, "--replay", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert ("infracheck: warning: discover: left out: project number 345678901234 (1 resource): gcloud projects list"
            " does not show it") in err
    assert 'name = "netra-staging"' in out  # its other resources still make the target


def test_record_refuses_a_folder_that_is_not_a_recording(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["discover", "--filter", "x", "--record", str(tmp_path)]) == 3
    assert "the folder is not empty" in capsys.readouterr().err


def test_the_page_shows_what_discover_prints(tmp_path: Path, capsys, monkeypatch) -> None:
    """docs/fleet.md, "Discovery": its example run, the file it wrote and the errors it shows."""
    import re

    page = (FIXTURES.parent.parent / "docs" / "fleet.md").read_text(encoding="utf-8")
    section = page[page.index("## Discovery"):page.index("## Recipes")]
    console, toml, text = (re.search(rf"^```{kind}\n(.*?)^```$", section, re.S | re.M).group(1)  # type: ignore[union-attr]
                           for kind in ("console", "toml", "text"))
    command, *said = console.splitlines()
    monkeypatch.chdir(tmp_path)
    args = command.removeprefix("$ infracheck ").split()
    assert main([*args, "--replay", str(FIXTURES / "asset")]) == 0
    assert capsys.readouterr().err.splitlines() == said
    assert (tmp_path / "targets.toml").read_text() == toml
    assert main(["discover", "--organization", "acme"]) == 3
    assert main([*args, "--replay", str(FIXTURES / "asset")]) == 3
    assert capsys.readouterr().err == text


def test_a_scope_without_the_stack_writes_nothing_and_says_so(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "rec"
    shutil.copytree(FIXTURES / "asset", folder)
    next(folder.glob("gcloud_asset_search-all-resources*.json")).write_text("[]\n")
    out = tmp_path / "targets.toml"
    assert main(["discover", "--organization", ORG, "--replay", str(folder), "--output", str(out)]) == 3
    assert capsys.readouterr().err.endswith(
        f"infracheck: error: Cloud Asset found no VPC connector, Cloud SQL instance or Cloud Run service in "
        f"organizations/{ORG}: no targets file written\n")
    assert not out.exists()
