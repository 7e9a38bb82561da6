"""#7 section 3: inputs checked before anything runs, one line naming the source, exit 3.

Each case is a reproduction from the issue; a refusal never starts a command
(all run as replays, and a refused run prints nothing on stdout).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infracheck.catalog import loader
from infracheck.cli import main
from infracheck.catalog.loader import CatalogError

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = str(ROOT / "fixtures" / "healthy")


pytestmark = pytest.mark.usefixtures("clean_environment")


def refused(capsys, *args: str) -> str:
    code = main(["diagnose", "--replay", HEALTHY, *args])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("infracheck: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_timeout_must_be_a_number_of_seconds(capsys, value):
    assert "--timeout" in refused(capsys, "--timeout", value)


def test_a_profile_file_value_is_checked_like_a_flag(capsys, tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text('connector_min_instances = "two"\n')
    line = refused(capsys, "--profile", str(profile))
    assert line == f"infracheck: error: {profile}: connector_min_instances: takes a whole number, not 'two'"
    profile.write_text('services = 5\n')  # a number where a list belongs
    assert "services: takes a list" in refused(capsys, "--profile", str(profile))
    profile.write_text('connector_range = "10.0.0.0/99"\n')
    assert f"{profile}: connector_range: invalid connector_range" in refused(capsys, "--profile", str(profile))


@pytest.mark.parametrize("args,line", [
    (["--set", "connector_min_instances=two"], "--set connector_min_instances: takes a whole number, not 'two'"),
    (["--set", "connector_min_instances=-3"], "--set connector_min_instances: must be 0 or more, not -3"),
    (["--set", "connector_range=999.1.0.0/99"],
     "--set connector_range: invalid connector_range '999.1.0.0/99': not a CIDR range (e.g. 10.8.0.0/28)"),
    (["--set", "connector_max_instances=1"],
     "--set connector_max_instances: connector_max_instances 1 is below connector_min_instances 2"),
    (["--project", "Netra_Staging"],
     "--project: invalid project 'Netra_Staging': a project id is 6 to 30 lowercase letters, digits or hyphens, "
     "starting with a letter and not ending with a hyphen (e.g. netra-staging)"),
])
def test_values_that_cannot_exist_are_refused_naming_the_source(capsys, args, line):
    assert refused(capsys, *args).startswith("infracheck: error: " + line)


def test_no_raw_regex_in_any_pattern_error():
    text = (ROOT / "commands" / "profile.toml").read_text()
    import tomllib
    data = tomllib.loads(text)
    assert set(data["describe"]) == set(data["patterns"])  # every pattern has its words
    with pytest.raises(CatalogError) as err:
        loader.load(flags={"project": "x"}, environ={})
    assert "(?:" not in str(err.value) and "[a-z]" not in str(err.value)


def test_the_environment_is_checked_like_a_flag(capsys, monkeypatch):
    monkeypatch.setenv("INFRACHECK_CONNECTOR_MIN_INSTANCES", "-1")
    assert refused(capsys) == "infracheck: error: $INFRACHECK_CONNECTOR_MIN_INSTANCES: must be 0 or more, not -1"


def test_a_misspelt_variable_is_warned_about(capsys, monkeypatch):
    monkeypatch.setenv("INFRACHECK_SQL_INSTACE", "prod-db")
    monkeypatch.setenv("INFRACHECK_NOW", "2026-11-27T00:00:00Z")  # a real setting: no warning
    code = main(["diagnose", "--replay", HEALTHY, "--include", "vpc", "--color", "never"])
    _, err = capsys.readouterr()
    assert code == 0
    assert err.strip().splitlines() == [
        "infracheck: warning: INFRACHECK_SQL_INSTACE is not an infracheck setting and is ignored "
        "(did you mean INFRACHECK_SQL_INSTANCE?)"]


def test_an_include_removed_by_an_exclude_names_the_exclude(capsys):
    assert refused(capsys, "--include", "vpc", "--exclude", "vpc") == (
        "infracheck: error: --exclude vpc removes every check that --include vpc selects")


def test_replay_of_a_file_says_it_is_a_file(capsys):
    line = refused(capsys, "--replay", str(ROOT / "README.md"))
    assert "is a file" in line and "does not exist" not in line


def test_a_fifo_in_a_replay_folder_is_refused_not_waited_on(capsys, tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    for path in Path(HEALTHY).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    victim = next(p for p in folder.iterdir() if p.name.startswith("gcloud_compute_ssl"))
    victim.unlink()
    os.mkfifo(victim)
    # In a child process with a deadline: were the FIFO opened, the run would wait forever.
    done = subprocess.run([sys.executable, "-m", "infracheck", "diagnose", "--replay", str(folder)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 3 and done.stdout == ""
    assert f"holds '{victim.name}', which is not a regular file" in done.stderr


def test_output_into_a_missing_folder_is_refused_before_the_run(capsys, tmp_path):
    line = refused(capsys, "--output", str(tmp_path / "nope" / "report.txt"))
    assert "does not exist" in line
    assert "is a folder" in refused(capsys, "--output", str(tmp_path))


def test_output_inside_the_replay_folder_is_refused(capsys, tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    for path in Path(HEALTHY).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    target = folder / "gcloud_sql_instances_describe_netra-staging-db_--project=netra-staging.json"
    assert target.name in before
    line = refused(capsys, "--replay", str(folder), "--output", str(target))
    assert "inside the replay folder" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the recording is untouched


def test_output_is_atomic_and_replaces_a_symlink_not_its_target(capsys, tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    link = tmp_path / "report.txt"
    link.symlink_to(target)
    code = main(["diagnose", "--replay", HEALTHY, "--output", str(link), "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert target.read_text() == "precious\n"
    assert not link.is_symlink() and link.read_text() == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "report.txt"]  # no temporary left
