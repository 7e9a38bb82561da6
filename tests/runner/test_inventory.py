"""Discovery's reads: the argv real gcloud is given, and a recording that replays the same answers and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from infracheck.errors import CannotRun
from infracheck.model import ErrorKind
from infracheck.runner import gcloud, inventory, recording

SEARCH = inventory.search_argv("organizations/987654321098")
DENIED = ("ERROR: (gcloud.asset.search-all-resources) [me@example.com] does not have permission to access "
          "organizations instance [987654321098:searchAllResources] (or it may not exist): Permission "
          "'cloudasset.assets.searchAllResources' denied on resource 'organizations/987654321098'.\n")


def test_one_search_of_the_stack_types_in_pages_of_500() -> None:
    assert SEARCH == ("gcloud", "asset", "search-all-resources", "--scope=organizations/987654321098",
                      "--asset-types=vpcaccess.googleapis.com/Connector,sqladmin.googleapis.com/Instance,"
                      "run.googleapis.com/Service", "--page-size=500", "--format=json")


def test_project_numbers_are_looked_up_a_hundred_per_list() -> None:
    argvs = inventory.numbers_argvs([str(n) for n in range(1000, 1250)])
    assert [len(a[3].split()) for a in argvs] == [100, 100, 50]
    assert argvs[0][:3] == ("gcloud", "projects", "list") and argvs[0][3].startswith("--filter=projectNumber:(1000 ")
    assert inventory.numbers_argvs([]) == ()


def test_a_recorded_answer_and_a_recorded_denial_replay_the_same(tmp_path: Path) -> None:
    live = inventory.Reader()
    live.outcomes += [gcloud.interpret(SEARCH, 1, "[]\n", DENIED, 1.0),
                      gcloud.interpret(inventory.projects_argv("parent.id=1"), 0, '[{"projectId": "p"}]', "", 1.0)]
    assert live.save(tmp_path / "rec", {"discover": "--organization 987654321098"}) == 4  # recording.json, .stderr, .exit, .json
    replay = inventory.Reader(replay=tmp_path / "rec")
    denied = replay.read(SEARCH)
    assert denied.error is not None and denied.error.kind is ErrorKind.PERMISSION_DENIED
    assert replay.read(inventory.projects_argv("parent.id=1")).document == [{"projectId": "p"}]
    assert recording.metadata(tmp_path / "rec")["discover"] == "--organization 987654321098"


def test_a_read_the_recording_lacks_names_the_file_it_expected(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match=r"holds no recording of `gcloud asset search-all-resources .*"
                                        r"expected gcloud_asset_search-all-resources"):
        inventory.Reader(replay=tmp_path).read(SEARCH)
