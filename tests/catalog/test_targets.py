"""The targets file, --target/--tag selection, shards and `infracheck targets`: what a user types and reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infracheck.catalog import targets
from infracheck.cli import main
from infracheck.errors import CannotRun

GOOD = """\
[[target]]
name = "staging"
project = "netra-staging"
region = "us-central1"
tags = { env = "staging", team = "platform" }

[[target]]
name = "production"
project = "netra-production"
region = "us-west1"
profile = "prod.toml"
tags = { env = "prod", team = "platform" }

[target.set]
sql_instance = "netra-prod-db"
services = ["netra-backend", "auth"]
connector_min_instances = 3
"""

HEAD = '[[target]]\nname = "a"\nproject = "netra-staging"\nregion = "us-central1"\n'


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    (tmp_path / "prod.toml").write_text('connector = "prod-connector"\n')
    path = tmp_path / "targets.toml"
    path.write_text(GOOD)
    return path


def test_a_target_is_the_flags_of_the_single_run_that_judges_it(good: Path) -> None:
    production, staging = targets.load(good)
    assert production.flags() == ("--project", "netra-production", "--region", "us-west1",
                                  "--profile", str(good.parent / "prod.toml"),
                                  "--set", "connector_min_instances=3", "--set", "services=netra-backend,auth",
                                  "--set", "sql_instance=netra-prod-db")
    assert staging.flags() == ("--project", "netra-staging", "--region", "us-central1")
    assert dict(staging.tags) == {"env": "staging", "team": "platform"}
    assert (production.line, staging.line) == (7, 1)


# (file text, what the one-line error says); every one names the file, most the line.
BAD = [
    (HEAD + 'zone = "x"\n', "targets.toml:5: target 'a' unknown key 'zone'"),
    (HEAD + 'prfile = "p.toml"\n', "did you mean 'profile'?"),
    (HEAD.replace("netra-staging", "Netra"), "targets.toml:3: target 'a' project: invalid project 'Netra': a project id is"),
    (HEAD.replace('"us-central1"', '"-us-central1"'), "targets.toml:4: target 'a' region: invalid region '-us-central1': "
                                                    "a value may not start with '-'"),
    (HEAD.replace('"us-central1"', '"uscentral"'), "invalid region 'uscentral': a region is lowercase words"),
    (HEAD + HEAD, "targets.toml:5: target 'a' is defined twice (first at line 1)"),
    (HEAD + '[target.set]\nsql_instance = "-x"\n', "targets.toml:6: target 'a' set.sql_instance: invalid sql_instance "
                                                  "'-x': a value may not start with '-'"),
    (HEAD + '[target.set]\nnope = "x"\n', "targets.toml:6: target 'a' set.nope: unknown profile name 'nope'"),
    (HEAD + '[target.set]\nproject = "netra-other"\n', "set.project: give the target's own 'project' key instead"),
    (HEAD + '[target.set]\nconnector_min_instances = "many"\n', "set.connector_min_instances: takes a whole number"),
    (HEAD + '[target.set]\nurl_map_filter = "x"\n', "'url_map_filter' is no longer read"),
    (HEAD.replace('"a"', '"Prod_1"'), "invalid name 'Prod_1': a target name is 1 to 63 lowercase letters"),
    (HEAD.replace('"a"', '"-a"'), "invalid name '-a': a value may not start with '-'"),
    (HEAD.replace('name = "a"\n', ""), "missing 'name'"),
    (HEAD.replace('region = "us-central1"\n', ""), "target 'a' missing 'region'"),
    (HEAD.replace('"netra-staging"', "7"), "project takes text, not 7"),
    ('[[target]\nname = "a"\n', "targets.toml:1: not valid TOML"),
    ('version = 2\n' + HEAD, "targets.toml:1: unknown top-level key 'version'"),
    ("", "targets.toml: no targets: write one [[target]] table per stack"),
    (HEAD + 'profile = "nope.toml"\n', "target 'a' profile 'nope.toml': no such file"),
    (HEAD + 'profile = "-p.toml"\n', "invalid profile '-p.toml': a value may not start with '-'"),
    (HEAD + 'tags = { env = 3 }\n', "targets.toml:5: target 'a' tag env takes text, not 3"),
    (HEAD + 'tags = { env = "-prod" }\n', "tag env '-prod': a value may not start with '-'"),
    (HEAD + 'tags = { "a=b" = "x" }\n', "invalid tag key 'a=b'"),
    (HEAD + 'tags = "prod"\n', "tags takes a table"),
]


@pytest.mark.parametrize("text, said", BAD, ids=[said[:40] for _, said in BAD])
def test_a_broken_targets_file_is_one_line_naming_file_line_and_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                       text: str, said: str) -> None:
    (tmp_path / "targets.toml").write_text(text)
    code = main(["targets", "--targets", str(tmp_path / "targets.toml")])
    err = capsys.readouterr().err
    assert code == 3
    assert said in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_target_profile_is_checked_like_profile(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('sql_instance = "BAD"\n')
    (tmp_path / "t.toml").write_text(HEAD + 'profile = "p.toml"\n')
    with pytest.raises(CannotRun, match=r"t.toml:5: target 'a' profile 'p.toml': .*invalid sql_instance 'BAD'"):
        targets.load(tmp_path / "t.toml")


def test_a_missing_or_unreadable_targets_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match="no such targets file"):
        targets.load(tmp_path / "nope.toml")
    with pytest.raises(CannotRun, match="is a folder"):
        targets.load(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[[target]]")
    with pytest.raises(CannotRun, match="cannot read"):
        targets.load(tmp_path / "bin.toml")


@pytest.mark.parametrize("names, tags, chosen", [
    ((), (), ["production", "staging"]),
    (("staging",), (), ["staging"]),
    ((), ("env=prod",), ["production"]),
    ((), ("team=platform",), ["production", "staging"]),
    ((), ("team=platform", "env=staging"), ["staging"]),  # AND across keys
    ((), ("env=prod", "env=staging"), ["production", "staging"]),  # any value of one key
    (("staging", "production"), ("env=prod",), ["production"]),  # both narrow
])
def test_selection(good: Path, names: tuple[str, ...], tags: tuple[str, ...], chosen: list[str]) -> None:
    assert [t.name for t in targets.select(targets.load(good), names, tags)] == chosen


@pytest.mark.parametrize("names, tags, said", [
    (("stagin",), (), "--target stagin: no such target in the targets file (did you mean 'staging'?)"),
    ((), ("env=dev",), "--tag env=dev: no target matches (tags in the file: env=prod, env=staging, team=platform)"),
    ((), ("env",), "--tag env: not KEY=VALUE"),
    (("staging",), ("env=prod",), "--target staging --tag env=prod: no target matches"),
])
def test_a_selection_that_names_nothing_is_an_error_not_an_empty_fleet(good: Path, names: tuple[str, ...],
                                                                       tags: tuple[str, ...], said: str) -> None:
    with pytest.raises(CannotRun) as caught:
        targets.select(targets.load(good), names, tags)
    assert said in str(caught.value)


@pytest.mark.parametrize("option, shards, environ, expected", [
    (None, None, {}, None),
    ("1/3", None, {}, (1, 3, "--shard", 0)),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "4"},
     (2, 4, "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT", 0)),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "4", "CLOUD_RUN_TASK_ATTEMPT": "1"},
     (2, 4, "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT", 1)),
    (None, 5, {"JOB_COMPLETION_INDEX": "4"}, (4, 5, "JOB_COMPLETION_INDEX/--shards", 0)),
    ("0/2", None, {"CLOUD_RUN_TASK_INDEX": "1", "CLOUD_RUN_TASK_COUNT": "2"}, (0, 2, "--shard", 0)),  # the flag wins
])
def test_the_shard_comes_from_the_flag_or_the_engines_variables(option: str | None, shards: int | None,
                                                               environ: dict[str, str], expected: object) -> None:
    which = targets.shard(option, shards, environ)
    assert (which if which is None else (which.index, which.count, which.source, which.attempt)) == expected


@pytest.mark.parametrize("option, shards, environ, said", [
    ("3/3", None, {}, "--shard 3/3: index 3 is not below the count 3 (shards count from 0: 0/3 to 2/3)"),
    ("1", None, {}, "--shard 1: not I/N"),
    ("a/b", None, {}, "the index and the count are whole numbers"),
    ("0/0", None, {}, "the count of shards is 1 or more"),
    ("-1/3", None, {}, "the index and the count are whole numbers"),
    ("0/2", 2, {}, "leave out --shards"),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "1"}, "CLOUD_RUN_TASK_INDEX is set without its pair"),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "x", "CLOUD_RUN_TASK_COUNT": "2"}, "CLOUD_RUN_TASK_INDEX=x"),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "2", "CLOUD_RUN_TASK_ATTEMPT": "-1"},
     "CLOUD_RUN_TASK_ATTEMPT=-1: not a whole number"),
    (None, None, {"JOB_COMPLETION_INDEX": "1"}, "JOB_COMPLETION_INDEX=1 is set (a Kubernetes Indexed Job): give --shards N"),
    (None, 2, {"JOB_COMPLETION_INDEX": "2"}, "JOB_COMPLETION_INDEX=2 --shards 2: index 2 is not below the count 2"),
    (None, 3, {}, "--shards N needs JOB_COMPLETION_INDEX"),
])
def test_a_bad_shard_is_a_clear_error(option: str | None, shards: int | None, environ: dict[str, str], said: str) -> None:
    with pytest.raises(CannotRun) as caught:
        targets.shard(option, shards, environ)
    assert said in str(caught.value)


def _many(n: int) -> list[targets.Target]:
    return [targets.Target(f"t{i:03d}", "netra-staging", "us-central1") for i in range(n)]


def test_shards_split_the_selection_exactly_once_whatever_order_or_attempt() -> None:
    every = _many(10)
    slices = [targets.slice_of(every, targets.Shard(i, 3, "--shard")) for i in range(3)]
    names = [t.name for s in slices for t in s]
    assert sorted(names) == [t.name for t in every] and len(set(names)) == 10
    assert [len(s) for s in slices] == [4, 3, 3]
    # A retry (another attempt, the targets listed in another order) redoes the very same slice.
    again = targets.slice_of(list(reversed(every)), targets.Shard(1, 3, "CLOUD_RUN_TASK_INDEX", attempt=2))
    assert again == slices[1]
    assert targets.names_of_shard([t.name for t in every], 1, 3) == tuple(t.name for t in slices[1])
    # More shards than targets: some shards are empty, none is refused.
    assert targets.slice_of(_many(2), targets.Shard(3, 4, "--shard")) == ()


def test_the_fingerprint_changes_with_any_definition_and_not_with_order() -> None:
    every = _many(3)
    assert targets.fingerprint(every) == targets.fingerprint(list(reversed(every)))
    changed = [every[0], every[1], targets.Target("t002", "netra-staging", "us-west1")]
    assert targets.fingerprint(changed) != targets.fingerprint(every)


def test_targets_json_is_one_line_a_github_actions_matrix_of_this_shard(good: Path, capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "1")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "2")
    assert main(["targets", "--targets", str(good), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # fits `echo "matrix=$(...)" >> "$GITHUB_OUTPUT"`
    assert json.loads(out) == {"include": [{"target": "staging", "project": "netra-staging", "region": "us-central1",
                                            "tags": {"env": "staging", "team": "platform"}, "shard": "1/2"}]}


def test_each_matrix_job_is_the_shard_of_exactly_its_target() -> None:
    """So each job's fleet report is a shard of one fleet, and merge puts them together."""
    every = _many(7)
    for part in range(2):  # two matrices, as --shard 0/2 and 1/2 cut them
        mine = targets.slice_of(every, targets.Shard(part, 2, "--shard"))
        for job in targets.matrix(every, mine)["include"]:
            index, count = job["shard"].split("/")
            assert targets.slice_of(every, targets.Shard(int(index), int(count), "--shard")) == \
                tuple(t for t in every if t.name == job["target"])


def test_targets_text_lists_the_selection(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "--targets", str(good), "--tag", "team=platform", "--shard", "0/2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 of 2 targets, shard 0/2 (from --shard)"
    assert out[1].split() == ["NAME", "PROJECT", "REGION", "PROFILE", "TAGS"]
    assert out[2].split() == ["production", "netra-production", "us-west1", "prod.toml", "env=prod", "team=platform"]


def test_a_matrix_above_256_jobs_is_refused_with_how_to_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "targets.toml"
    path.write_text("".join(f'[[target]]\nname = "t{i}"\nproject = "netra-staging"\nregion = "us-central1"\n'
                            for i in range(300)))
    assert main(["targets", "--targets", str(path), "--format", "json"]) == 3
    err = capsys.readouterr().err
    assert ("300 targets: a GitHub Actions matrix runs at most 256 jobs; split it into 2 matrices with "
            "--shard 0/2 ... --shard 1/2") in err
    assert main(["targets", "--targets", str(path), "--format", "json", "--shard", "1/2"]) == 0
    assert len(json.loads(capsys.readouterr().out)["include"]) == 150
