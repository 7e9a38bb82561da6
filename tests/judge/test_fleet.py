"""The fleet report and `infracheck merge`: shards run side by side (as Cloud Run Job tasks, one of them a
retry) merge into exactly the report one unsharded run gives; a target that could not be checked, a
missing or a duplicated shard is UNKNOWN by name, never a smaller fleet.

Each target is judged from a recording (fixtures/healthy, the seed's outage, fixtures/denied: a project
whose every Google API answered 403); each shard is an `infracheck diagnose --targets --replay` process
given its slice by the Cloud Run Job variables, as a task of the docs/fleet.md recipe is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infracheck.catalog import targets
from infracheck.judge import fleet
from infracheck.cli import main
from infracheck.model import Overall
from infracheck.report import fleet as fleet_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"

# target name -> (recording, tags); "gone" has no recording folder.
FLEET = {
    "healthy": ("healthy", {"env": "staging"}),
    "outage": ("outage", {"env": "staging"}),
    "outage-b": ("outage", {"env": "prod"}),
    "denied": ("denied", {"env": "dev"}),
    "gone": (None, {"env": "old"}),
}
# Sorted names dealt round-robin: shard 0 gets denied and outage, 1 gone and outage-b, 2 healthy.
SHARDS = {0: ["denied", "outage"], 1: ["gone", "outage-b"], 2: ["healthy"]}
DENIED = "permission denied: every gcloud command was refused (23)"
GONE = "no recording of it: recordings/gone/ is missing"


def _targets_file(folder: Path, names: dict[str, tuple[str | None, dict[str, str]]]) -> Path:
    text = ""
    for name, (_, tags) in names.items():
        tag_text = ", ".join(f'{k} = "{v}"' for k, v in tags.items())
        text += (f'[[target]]\nname = "{name}"\nproject = "netra-staging"\nregion = "us-central1"\n'
                 f"tags = {{ {tag_text} }}\n\n")
    path = folder / "targets.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A targets file and one recording folder per target, DIR/<name>/, as `record --targets` will write them."""
    folder = tmp_path_factory.mktemp("fleet")
    _targets_file(folder, FLEET)
    for name, (recording, _) in FLEET.items():
        if recording:
            shutil.copytree(FIXTURES / recording, folder / "recordings" / name)
    return folder


def _shard(place: Path, out: str, **environ: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUD_RUN_", "JOB_COMPLETION", "INFRACHECK_"))}
    return subprocess.Popen([sys.executable, "-m", "infracheck", "diagnose", "--targets", "targets.toml",
                             "--replay", "recordings", "--format", "json", "--output", out],
                            cwd=place, env={**env, **environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> int:
    out, err = process.communicate(timeout=120)
    assert process.returncode in (0, 1, 2, 3) and "Traceback" not in err, err
    assert json.loads(out)["schema"] == "infracheck/fleet/v1"  # stdout and --output: the same document
    return process.returncode


@pytest.fixture(scope="module")
def runs(place: Path) -> dict[str, int]:
    """The unsharded run and the shards, all side by side; shard 1 ran twice (attempt 0, then its retry)."""
    started = {
        "all.json": _shard(place, "all.json"),
        **{f"shard-{i}.json": _shard(place, f"shard-{i}.json", CLOUD_RUN_TASK_INDEX=str(i), CLOUD_RUN_TASK_COUNT="3")
           for i in (0, 2)},
        "shard-1-attempt-0.json": _shard(place, "shard-1-attempt-0.json", CLOUD_RUN_TASK_INDEX="1",
                                         CLOUD_RUN_TASK_COUNT="3", CLOUD_RUN_TASK_ATTEMPT="0"),
        "shard-1.json": _shard(place, "shard-1.json", CLOUD_RUN_TASK_INDEX="1", CLOUD_RUN_TASK_COUNT="3",
                               CLOUD_RUN_TASK_ATTEMPT="1"),
    }
    return {name: _finish(process) for name, process in started.items()}


def _read(place: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((place / name).read_text())
    return data


def _without_timings(doc: dict[str, Any]) -> dict[str, Any]:
    """The document but for when it was made and how long commands took."""
    doc = json.loads(json.dumps(doc))
    doc.pop("generated_at", None)
    for target in doc["targets"]:
        for command in target["commands"]:
            command.pop("duration_s", None)
    return doc


def _merge(capsys: pytest.CaptureFixture[str], place: Path, *names: str, fmt: str = "json") -> tuple[int, Any, str]:
    code = main(["merge", *(str(place / n) for n in names), "--format", fmt])
    out, err = capsys.readouterr()
    return code, json.loads(out) if fmt == "json" and out else out, err


def test_one_fleet_report_names_every_target_with_its_verdict(place: Path, runs: dict[str, int]) -> None:
    doc = _read(place, "all.json")
    assert runs["all.json"] == 2  # the worst target's verdict
    assert doc["schema"] == "infracheck/fleet/v1" and doc["status"] == "CRITICAL" and doc["shard"] is None
    verdicts = {t["target"]: (t["status"], t["not_checked"]) for t in doc["targets"]}
    assert verdicts == {"denied": ("UNKNOWN", DENIED), "gone": ("UNKNOWN", GONE), "healthy": ("HEALTHY", None),
                        "outage": ("CRITICAL", None), "outage-b": ("CRITICAL", None)}
    assert doc["counts"] == {"targets": 5, "checked": 3, "not_checked": 2, "CRITICAL": 2, "UNKNOWN": 2,
                             "WARNING": 0, "HEALTHY": 1}
    assert doc["not_checked"] == [{"target": "denied", "reason": DENIED}, {"target": "gone", "reason": GONE}]
    assert [t["target"] for t in doc["selection"]["targets"]] == sorted(FLEET)
    shared = {s["rule"]: [t["target"] for t in s["targets"]] for s in doc["shared_root_causes"]}
    assert shared["vpc.state"] == ["outage", "outage-b"] and shared["cloudsql.state"] == ["outage", "outage-b"]
    assert {t["target"]: t["tags"] for t in doc["targets"]} == {n: tags for n, (_, tags) in FLEET.items()}


def test_each_target_is_the_v1_report_its_single_run_gives(place: Path, runs: dict[str, int],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    doc = _read(place, "all.json")
    for name in ("outage", "healthy", "denied"):
        assert main(["diagnose", "--replay", str(FIXTURES / FLEET[name][0]), "--format", "json",  # type: ignore[operator]
                     "--project", "netra-staging", "--region", "us-central1"]) in (0, 2, 3)
        single = json.loads(capsys.readouterr().out)
        [entry] = [t for t in doc["targets"] if t["target"] == name]
        assert {k: v for k, v in entry.items() if k not in ("target", "tags", "not_checked")} == single
    [gone] = [t for t in doc["targets"] if t["target"] == "gone"]
    assert gone["schema"] == "infracheck/report/v1" and gone["counts"]["error"] == 1
    assert gone["findings"][0]["message"] == f"Target gone could not be checked: {GONE}"


def test_shards_side_by_side_merge_into_the_single_run(place: Path, runs: dict[str, int],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for i, names in SHARDS.items():
        shard = _read(place, f"shard-{i}.json")
        assert [t["target"] for t in shard["targets"]] == names
        assert shard["shard"]["index"] == i and shard["shard"]["count"] == 3
        assert shard["selection"] == _read(place, "all.json")["selection"]
    assert _read(place, "shard-1.json")["shard"]["attempt"] == 1
    code, merged, err = _merge(capsys, place, "shard-2.json", "shard-0.json", "shard-1.json")
    assert _without_timings(merged) == _without_timings(_read(place, "all.json"))
    assert code == runs["all.json"] == 2
    assert err == ""


def test_a_retry_replaces_its_earlier_attempt(place: Path, runs: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    code, merged, err = _merge(capsys, place, "shard-0.json", "shard-1-attempt-0.json", "shard-1.json", "shard-2.json")
    assert _without_timings(merged) == _without_timings(_read(place, "all.json")) and code == 2
    assert "shard-1-attempt-0.json: shard 1/3 attempt 0 replaced by attempt 1" in err


def test_a_missing_shard_is_its_targets_unknown_by_name_never_a_smaller_fleet(
        place: Path, runs: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    code, merged, _ = _merge(capsys, place, "shard-0.json", "shard-1.json")
    assert merged["counts"]["targets"] == 5 and code == 2
    [healthy] = [t for t in merged["targets"] if t["target"] == "healthy"]
    assert healthy["status"] == "UNKNOWN"
    assert healthy["not_checked"] == "shard 2/3 missing: no fleet report of it was given"
    # Without the outage's shards, the fleet is UNKNOWN, never HEALTHY.
    code, merged, _ = _merge(capsys, place, "shard-2.json")
    assert (merged["status"], code) == ("UNKNOWN", 3)
    assert [t["target"] for t in merged["not_checked"]] == ["denied", "gone", "outage", "outage-b"]
    code, text, _ = _merge(capsys, place, "shard-2.json", fmt="text")
    assert ("1/5 targets checked; 4 could not be checked: denied (shard 0/3 missing: no fleet report of it was "
            "given), gone (shard 1/3 missing") in text


def test_a_shard_given_twice_is_its_targets_unknown_by_name(place: Path, runs: dict[str, int],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(place / "shard-0.json", place / "shard-0-copy.json")
    code, merged, _ = _merge(capsys, place, "shard-0.json", "shard-0-copy.json", "shard-1.json", "shard-2.json")
    reasons = {t["target"]: t["reason"] for t in merged["not_checked"]}
    assert set(reasons) == {"denied", "outage", "gone"}
    assert reasons["outage"].startswith("shard 0/3 given twice (") and merged["counts"]["targets"] == 5
    assert code == 2  # outage-b still CRITICAL


def test_the_text_summary_comes_first(place: Path, runs: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = _merge(capsys, place, "all.json", fmt="text")
    lines = text.splitlines()
    assert code == 2 and lines[0] == "FLEET CRITICAL: 5 targets"
    assert lines[2].split()[:2] == ["UNKNOWN", "denied"] and lines[2].endswith(f"not checked: {DENIED}")
    assert lines[5].split()[:2] == ["CRITICAL", "outage"]
    assert "8 root causes, first: VPC connector state is 'CREATING', expected 'READY'" in lines[5]
    assert ("the same root cause in 2 targets: vpc.state (critical): outage (staging-connector), "
            "outage-b (staging-connector)") in text
    assert f"3/5 targets checked; 2 could not be checked: denied ({DENIED}), gone ({GONE})" in text
    assert text.index("targets checked") < text.index("== denied")  # the summary, then each target


@pytest.mark.parametrize("content, said", [
    ("{", "not JSON"),
    ('{"schema": "infracheck/report/v1", "status": "HEALTHY"}', "not an infracheck fleet report (schema "
                                                                  "'infracheck/report/v1'"),
    ('{"schema": "infracheck/fleet/v1"}', "not a complete infracheck fleet report"),
])
def test_merge_refuses_what_is_not_a_fleet_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  content: str, said: str) -> None:
    (tmp_path / "x.json").write_text(content)
    assert main(["merge", str(tmp_path / "x.json")]) == 3
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_merge_refuses_shards_of_another_selection(place: Path, runs: dict[str, int], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    other = {**FLEET, "extra": (None, {"env": "new"})}
    _targets_file(tmp_path, other)
    (tmp_path / "recordings").mkdir()
    process = _shard(tmp_path, "other.json", CLOUD_RUN_TASK_INDEX="1", CLOUD_RUN_TASK_COUNT="3")
    _finish(process)
    shutil.copy(tmp_path / "other.json", place / "other-1.json")
    assert main(["merge", str(place / "shard-0.json"), str(place / "other-1.json")]) == 3
    assert "a shard of another selection" in capsys.readouterr().err
    assert main(["merge", str(place / "all.json"), str(place / "all.json")]) == 3
    assert "2 unsharded fleet reports" in capsys.readouterr().err


def test_the_fleet_is_never_healthy_while_a_target_is_unknown() -> None:
    listed = [fleet.Listed(n, "netra-staging", "us-central1") for n in ("a", "b")]
    healthy = {"status": "HEALTHY", "commands": [{"argv": ["gcloud", "x"], "error_kind": None}], "root_causes": []}

    def made(*members: fleet.Member) -> fleet.Fleet:
        return fleet.Fleet(tuple(members), tuple(listed), "sha256:x")

    assert fleet.status(made(fleet.member(listed[0], healthy), fleet.member(listed[1], healthy))) is Overall.HEALTHY
    assert fleet.status(made(fleet.member(listed[0], healthy), fleet.unchecked(listed[1], "project not found"))) \
        is Overall.UNKNOWN
    assert fleet.status(made()) is Overall.UNKNOWN  # nothing checked is no evidence
    # A report that says HEALTHY while every gcloud command was refused is not a checked target.
    refused = {**healthy, "commands": [{"argv": ["gcloud", "x"], "error_kind": "permission-denied"}]}
    assert fleet.member(listed[0], refused).status is Overall.UNKNOWN
    assert fleet.not_checked({**healthy, "commands": [{"argv": ["gcloud", "x"], "error_kind": "not-found"}]}) == \
        "project not found: every gcloud command failed (1)"


def test_gather_names_a_target_without_a_report(tmp_path: Path) -> None:
    every = [targets.Target(n, "netra-staging", "us-central1") for n in ("a", "b", "c")]
    result = fleet.gather(every, targets.Shard(0, 2, "--shard"), [])
    assert [(m.target.name, m.reason) for m in result.members] == [("a", "no report was made for it"),
                                                                   ("c", "no report was made for it")]
    doc = fleet_report.as_dict(result)
    assert doc["status"] == "UNKNOWN" and doc["shard"] == {"index": 0, "count": 2, "attempt": 0, "source": "--shard"}


def test_a_live_fleet_and_the_merge_of_its_document_print_the_same(place: Path, runs: dict[str, int]) -> None:
    """A target nothing ran for reads the same before and after its report went through JSON."""
    every = targets.load(place / "targets.toml")
    doc = _read(place, "all.json")
    members = [fleet.member(t, {k: v for k, v in e.items() if k not in ("target", "tags", "not_checked")})
               for t in every for e in doc["targets"] if e["target"] == t.name and t.name != "gone"]
    live = fleet.gather(every, None, members + [fleet.unchecked(next(t for t in every if t.name == "gone"), GONE)],
                        generated_at=doc["generated_at"])
    merged, _ = fleet.merge([("all.json", fleet_report.as_dict(live))])
    assert fleet_report.render_text(merged) == fleet_report.render_text(live)
    assert fleet_report.as_dict(merged) == fleet_report.as_dict(live) == doc
