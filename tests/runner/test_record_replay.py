"""#7 section 4: record and replay keep their promise.

`record` runs against a fake gcloud on PATH (tests/tools/fakes.py), one command per
run (--include vpc), so these tests cost no real gcloud process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infracheck.runner import gcloud
from infracheck.cli import main
from tests.tools.fakes import FakeGcloud

ROOT = Path(__file__).resolve().parents[2]
GONE = {"match": "", "exit": 1, "stderr": "ERROR: (gcloud.compute.networks.vpc-access.connectors.describe) "
        "NOT_FOUND: Resource 'projects/p/locations/r/connectors/staging-connector' was not found.\n"}
DENIED = {"match": "", "exit": 1, "stderr": "ERROR: (gcloud.compute.networks.vpc-access.connectors.describe) "
          "PERMISSION_DENIED: Permission 'vpcaccess.connectors.get' denied.\n"}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    gcloud.reset()
    fake = FakeGcloud(tmp_path / "fake")
    fake.set([GONE])
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    for name in list(os.environ):
        if name.startswith("INFRACHECK_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("INFRACHECK_NOW", "2026-11-27T00:00:00Z")
    return fake


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_record_refuses_a_folder_that_is_not_empty(fake, capsys, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("mine\n")
    code, out, err = run(capsys, "record", str(folder), "--include", "vpc")
    assert code == 3 and out == "" and "not empty" in err and "--force" in err
    code, out, err = run(capsys, "record", str(folder), "--include", "vpc", "--force")
    assert code == 3 and "not a recording" in err  # --force replaces recordings only
    assert [p.name for p in folder.iterdir()] == ["todo.txt"] and not fake.calls()  # refused before running


def test_record_force_replaces_an_earlier_recording_whole(fake, capsys, tmp_path):
    folder = tmp_path / "rec"
    assert run(capsys, "record", str(folder), "--include", "vpc")[0] == 2
    (folder / "stale_command.json").write_text("[]\n")  # as an older recording's file would be
    code, _, err = run(capsys, "record", str(folder), "--include", "vpc", "--force")
    assert code == 2, err
    assert not (folder / "stale_command.json").exists()
    assert json.loads((folder / "recording.json").read_text())["include"] == ["vpc"]


def test_record_exits_with_the_verdict(fake, capsys, tmp_path):
    fake.set([DENIED])
    code, out, _ = run(capsys, "record", str(tmp_path / "rec"), "--include", "vpc", "--color", "never")
    assert code == 3 and "Overall Status: UNKNOWN" in out


def test_a_replay_uses_the_recorded_selection_and_says_so(fake, capsys, tmp_path):
    folder = tmp_path / "rec"
    assert run(capsys, "record", str(folder), "--include", "vpc")[0] == 2
    code, out, err = run(capsys, "diagnose", "--replay", str(folder), "--color", "never")
    assert code == 2 and "no recording" not in out
    assert "VPC connector 'staging-connector' does not exist" in out
    assert "replaying with the recording's selection --include vpc" in err
    code, out, err = run(capsys, "diagnose", "--replay", str(folder), "--include", "cloudsql", "--color", "never")
    assert code == 3 and "no recording" in out and "recording's selection" not in err  # an explicit choice wins


def test_a_recording_of_another_region_is_refused_like_another_project(capsys):
    """Not a mixed verdict of the recording's global resources and nothing regional (issue 17)."""
    code, out, err = run(capsys, "diagnose", "--replay", str(ROOT / "fixtures" / "healthy"),
                         "--region", "europe-west1", "--format", "json")
    assert code == 3 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("infracheck: error:")]
    assert errors == [f"infracheck: error: '{ROOT / 'fixtures' / 'healthy'}' is a recording of region us-central1, "
                      "so it has nothing for region europe-west1; replay it without --region, or record europe-west1"]


def test_a_recording_of_another_project_is_said_once(capsys):
    code, out, err = run(capsys, "diagnose", "--replay", str(ROOT / "fixtures" / "healthy"),
                         "--project", "netra-production")
    assert code == 3 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("infracheck: error:")]
    assert errors == [f"infracheck: error: '{ROOT / 'fixtures' / 'healthy'}' is a recording of project netra-staging, "
                      "so it has nothing for project netra-production; replay it without --project, "
                      "or record netra-production"]
