"""`diagnose --targets`: one fleet report over recordings, each target judged as its own run would judge it;
a target that cannot be judged (no recording, out of time, a broken profile) is UNKNOWN by name and never
costs the others; mutes by target; fleet baselines; what a fleet run refuses."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from infracheck import runner
from tests.tools.fakes import run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
DEMO = FIXTURES / "fleet.toml"


def _targets(folder: Path, *names: str, extra: str = "") -> Path:
    path = folder / "targets.toml"
    path.write_text("".join(f'[[target]]\nname = "{n}"\nproject = "netra-staging"\nregion = "us-central1"\n{extra}\n'
                            for n in names))
    return path


def _recordings(folder: Path, **copies: str) -> Path:
    """DIR/<target>/ for each target, copied from fixtures/<recording>."""
    place = folder / "recordings"
    for name, recording in copies.items():
        shutil.copytree(FIXTURES / recording, place / name)
    return place


def _doc(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)
    assert doc["schema"] == "infracheck/fleet/v1"
    return doc


def _by_target(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in doc["targets"]}


def _sql_hangs(monkeypatch: pytest.MonkeyPatch, only: str | None = None) -> threading.Event:
    """Replays whose Cloud SQL reads never answer (all, or only folder `only`'s) until the event is set."""
    real = runner.replay
    released = threading.Event()

    def replay(directory: Path) -> runner.Source:
        source = real(directory)
        if only is not None and directory.name != only:
            return source

        def hang(argv: tuple[str, ...]) -> Any:
            if argv[0] == "gcloud" and "sql" in argv:
                released.wait(30)  # an API that never answers (released when the test ends)
            return source(argv)

        return hang

    monkeypatch.setattr(runner, "replay", replay)
    return released


def test_the_demo_fleet_is_critical_with_the_denied_project_named(capsys):
    code, out, err = run(capsys, "diagnose", "--targets", str(DEMO), "--replay", str(FIXTURES), "--color", "never")
    assert code == 2
    assert out.startswith("FLEET CRITICAL: 3 targets")
    summary = out.split("\n\n")[1].splitlines()
    assert [line.split()[:2] for line in summary] == [["UNKNOWN", "denied"], ["HEALTHY", "healthy"],
                                                      ["CRITICAL", "outage"]]
    assert ("2/3 targets checked; 1 could not be checked: denied (permission denied: every gcloud command was "
            "refused (23))") in out
    assert "[CRITICAL] VPC connector state is 'CREATING', expected 'READY'" in out  # the outage's own part
    assert "Traceback" not in err and "] outage CRITICAL" in err  # progress: a line per target as it ends


def test_each_target_is_the_report_its_single_run_gives(capsys):
    code, out, _ = run(capsys, "diagnose", "--targets", str(DEMO), "--replay", str(FIXTURES), "--format", "json")
    fleet = _by_target(_doc(out))
    assert code == 2 and fleet["denied"]["not_checked"] and fleet["healthy"]["not_checked"] is None
    for name in ("healthy", "outage", "denied"):
        single_code, single_out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / name), "--format", "json")
        single = json.loads(single_out)
        member = {k: v for k, v in fleet[name].items() if k not in ("target", "tags", "not_checked")}
        for doc in (single, member):
            doc.pop("generated_at", None)
            for command in doc["commands"]:
                command.pop("duration_s")
        assert member == single, name


def test_a_missing_or_empty_recording_folder_is_unknown_by_name(tmp_path, capsys):
    place = _recordings(tmp_path, healthy="healthy")
    (place / "empty").mkdir()
    targets = _targets(tmp_path, "healthy", "empty", "gone")
    code, out, _ = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--color", "never")
    assert code == 3  # never HEALTHY while a target could not be checked
    assert out.startswith("FLEET UNKNOWN: 3 targets")
    assert (f"1/3 targets checked; 2 could not be checked: empty (no recording of it: {place}/empty/ is empty), "
            f"gone (no recording of it: {place}/gone/ is missing)") in out


def test_one_targets_hung_commands_cost_that_target_only(tmp_path, capsys, monkeypatch):
    place = _recordings(tmp_path, healthy="healthy", stuck="healthy")
    targets = _targets(tmp_path, "healthy", "stuck")
    released = _sql_hangs(monkeypatch, "stuck")
    started = time.monotonic()
    try:
        code, out, _ = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json",
                           "--target-timeout", "2")
    finally:
        released.set()
    assert time.monotonic() - started < 15
    fleet = _by_target(_doc(out))
    assert code == 3 and fleet["healthy"]["status"] == "HEALTHY" and fleet["stuck"]["status"] == "UNKNOWN"
    lapsed = [c for c in fleet["stuck"]["commands"] if c["error_kind"] == "timeout"]
    assert lapsed and all("sql" in c["argv"] for c in lapsed)
    assert any("target's time bound (2 s) ran out" in f["message"] for f in fleet["stuck"]["findings"])
    # What answered in time was judged: its VPC connector, its secrets.
    assert any(f["rule"] == "vpc.state" and f["status"] == "pass" for f in fleet["stuck"]["findings"])


def test_a_target_its_recording_does_not_answer_for_is_unknown_and_spares_the_others(tmp_path, capsys):
    place = _recordings(tmp_path, healthy="healthy", prod="healthy")
    targets = tmp_path / "targets.toml"
    targets.write_text('[[target]]\nname = "healthy"\nproject = "netra-staging"\nregion = "us-central1"\n\n'
                       '[[target]]\nname = "prod"\nproject = "netra-prod"\nregion = "us-central1"\n')
    code, out, err = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json")
    fleet = _by_target(_doc(out))
    assert code == 3 and fleet["healthy"]["status"] == "HEALTHY" and fleet["prod"]["status"] == "UNKNOWN"
    assert "is a recording of project netra-staging, so it has nothing for project netra-prod" in \
        fleet["prod"]["not_checked"]
    assert "Traceback" not in err


def test_a_mute_naming_a_target_mutes_that_target_only(tmp_path, capsys):
    place = _recordings(tmp_path, a="outage", b="outage")
    targets = _targets(tmp_path, "a", "b")
    mute = tmp_path / "mute.toml"
    mute.write_text('[[mute]]\nrule = "vpc.state"\ntarget = "a"\nreason = "rebuilt this week"\n'
                    'expires = 2026-12-20\n')
    code, out, _ = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json",
                       "--mute", str(mute))
    fleet = _by_target(_doc(out))

    def vpc_state(name: str) -> dict[str, Any]:
        return next(f for f in fleet[name]["findings"] if f["rule"] == "vpc.state")

    assert vpc_state("a")["muted"]["reason"] == "rebuilt this week"
    assert vpc_state("b").get("muted") is None
    # A single-target run names no target: the mute is not applied to whichever project it is on.
    code, out, _ = run(capsys, "diagnose", "--replay", str(place / "a"), "--format", "json", "--mute", str(mute))
    assert next(f for f in json.loads(out)["findings"] if f["rule"] == "vpc.state").get("muted") is None


def test_a_fleet_baseline_compares_each_target_with_its_own_report(tmp_path, capsys):
    place = _recordings(tmp_path, a="healthy", b="outage")
    targets = _targets(tmp_path, "a", "b")
    before = tmp_path / "before.json"
    run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json",
        "--output", str(before))
    shutil.rmtree(place / "a")
    shutil.copytree(FIXTURES / "outage", place / "a")  # a broke since; b did not change
    code, out, _ = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json",
                       "--baseline", str(before))
    fleet = _by_target(_doc(out))
    assert code == 2
    assert fleet["a"]["changes"]["new"] and not fleet["b"]["changes"]["new"]
    code, _, err = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place),
                       "--baseline", str(FIXTURES / "healthy" / "recording.json"))
    assert code == 3 and "with --targets, --baseline is an earlier fleet report" in err


@pytest.mark.parametrize(("args", "said"), [
    (["--project", "netra-prod"], "--project and --region name one stack"),
    (["--fix-mode"], "--fix-mode changes one project"),
])
def test_what_a_fleet_run_refuses(capsys, args, said):
    code, out, err = run(capsys, "diagnose", "--targets", str(DEMO), "--replay", str(FIXTURES), *args)
    assert code == 3 and out == "" and said in err and "Traceback" not in err


@pytest.mark.parametrize("option", [["--target", "outage"], ["--tag", "env=prod"], ["--shard", "0/2"]])
def test_selecting_targets_needs_a_targets_file(capsys, option):
    code, _, err = run(capsys, "diagnose", "--replay", str(FIXTURES / "healthy"), *option)
    assert code == 3 and "give it" in err and "--targets FILE" in err


def test_record_into_a_folder_that_is_not_recordings_is_refused(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "record", str(tmp_path / "out"), "--targets", str(DEMO), "--force")
    assert code == 3 and "'notes.txt' is not a recording --force may replace" in err
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"



def test_watch_prints_each_targets_verdict_change_until_the_fleet_is_healthy(tmp_path, capsys, monkeypatch):
    from infracheck.pipeline import fleet

    place = _recordings(tmp_path, a="outage", b="healthy")
    targets = _targets(tmp_path, "a", "b")
    slept = []

    def sleep(seconds: float) -> None:  # between two cycles, the outage is fixed
        slept.append(seconds)
        shutil.rmtree(place / "a")
        shutil.copytree(FIXTURES / "healthy", place / "a")

    monkeypatch.setattr(fleet.time, "sleep", sleep)
    code, out, err = run(capsys, "watch", "--targets", str(targets), "--replay", str(place), "--interval", "5",
                         "--until", "healthy", "--color", "never", "--output", f"json={tmp_path / 'last.json'}")
    assert code == 0 and slept == [5.0]
    first, second = out.split("\n\n", 1)[0], out.rsplit("\n\n", 1)[1]
    assert "cycle 1\nFLEET CRITICAL: 2 targets" in first
    assert [line.split(" ", 1)[1] for line in second.splitlines()] == [
        "a CRITICAL -> HEALTHY", "FLEET CRITICAL -> HEALTHY"]
    assert _doc((tmp_path / "last.json").read_text())["status"] == "HEALTHY"  # --output: the last cycle


def test_watch_json_is_one_fleet_document_per_cycle(capsys):
    code, out, _ = run(capsys, "watch", "--targets", str(DEMO), "--replay", str(FIXTURES), "--format", "json",
                       "--interval", "0", "--max-wait", "1")
    lines = out.splitlines()
    assert code == 2 and lines
    assert [json.loads(line)["watch"]["cycle"] for line in lines] == list(range(1, len(lines) + 1))
    assert all(json.loads(line)["status"] == "CRITICAL" for line in lines)


def test_watch_keeps_the_escalation_clock_of_one_target_only(tmp_path, capsys):
    code, _, err = run(capsys, "watch", "--targets", str(DEMO), "--replay", str(FIXTURES),
                       "--escalation-dir", str(tmp_path / "esc"))
    assert code == 3 and "--escalation-dir keeps one incident's clock" in err


def test_a_project_that_does_not_exist_is_named_so(tmp_path, capsys):
    # fixtures/project-missing: compute answered 404 for the project itself, every other API 403.
    place = _recordings(tmp_path, healthy="healthy", old="project-missing")
    targets = _targets(tmp_path, "healthy", "old")
    code, out, _ = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--color", "never")
    assert code == 3
    assert ("1/2 targets checked; 1 could not be checked: old (project not found: compute answers \"The resource "
            "'projects/netra-staging' was not found\"; every gcloud command failed (") in out


def test_ctrl_c_stops_every_target_and_prints_no_fleet_report(tmp_path, capsys, monkeypatch):
    import os
    import signal

    place = _recordings(tmp_path, a="healthy", b="healthy")
    targets = _targets(tmp_path, "a", "b")
    released = _sql_hangs(monkeypatch)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        code, out, err = run(capsys, "diagnose", "--targets", str(targets), "--replay", str(place), "--format", "json")
    finally:
        released.set()
        timer.cancel()
        from infracheck.runner import gcloud

        gcloud.reset()  # Ctrl-C stopped every gcloud of this process: later tests start afresh
    assert code == 130 and out == ""
    assert "interrupted after 0 of 2 targets; no fleet report" in err and "Traceback" not in err
