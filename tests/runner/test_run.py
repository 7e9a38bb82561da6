"""runner.py: identical commands run once, distinct ones concurrently within --jobs,
and a hung command costs only its own checks."""

from __future__ import annotations

import sys
import time

import pytest

from infracheck import runner
from infracheck.runner import gcloud
from infracheck.model import Engine, ErrorKind
from infracheck.rules.evaluate import evaluate
from tests.tools.fakes import FakeGcloud, alive


@pytest.fixture
def fake(tmp_path):
    gcloud.reset()
    return FakeGcloud(tmp_path)


def argv(fake: FakeGcloud, *words: str) -> tuple[str, ...]:
    return (str(fake.bin / "gcloud"), *words)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_identical_commands_run_once(fake):
    fake.set([{"match": "", "stdout": "{}"}])
    same = argv(fake, "sql", "instances", "describe", "db")
    outcomes = list(runner.collect([same, same, argv(fake, "other"), same], runner.live(10, fake.env()), jobs=4))
    assert len(outcomes) == 2
    assert len(fake.calls()) == 2


def test_distinct_commands_run_concurrently_within_jobs(fake):
    # Each sleeps long enough that the third starts before the first ends even when a loaded
    # machine takes seconds to start a process.
    fake.set([{"match": "", "stdout": "[]", "sleep": 4}])
    commands = [argv(fake, "cmd", str(i)) for i in range(6)]
    outcomes = list(runner.collect(commands, runner.live(60, fake.env()), jobs=3))
    assert len(outcomes) == 6 and all(o.error is None for o in outcomes)
    # Concurrent, and never more than --jobs: read from the commands' own start and end times,
    # not from a wall-clock total that a loaded machine stretches.
    assert max_overlap(fake.intervals()) == 3


def test_hung_command_is_killed_and_the_others_finish(fake):
    fake.set([{"match": "hang", "sleep": 120, "child": True}, {"match": "", "stdout": '{"ok": true}'}])
    commands = [argv(fake, "hang"), argv(fake, "a"), argv(fake, "b")]
    started = time.monotonic()
    outcomes = {o.argv[1]: o for o in runner.collect(commands, runner.live(2, fake.env()), jobs=3)}
    assert time.monotonic() - started < 60  # killed at its 2 s timeout, long before its 120 s sleep
    assert outcomes["hang"].error.kind is ErrorKind.TIMEOUT
    assert outcomes["a"].document == {"ok": True} and outcomes["b"].document == {"ok": True}
    time.sleep(0.3)
    assert not any(alive(pid) for pid in fake.children())


def test_a_crashing_source_costs_only_its_own_command():
    def source(command):
        if command == ("boom",):
            raise RuntimeError("bug")
        from infracheck.model import Outcome
        return Outcome(command, 0, 0.0, document={})

    outcomes = {o.argv: o for o in runner.collect([("boom",), ("fine",)], source, jobs=2)}
    assert outcomes[("boom",)].error.kind is ErrorKind.API_ERROR and "bug" in outcomes[("boom",)].error.message
    assert outcomes[("fine",)].error is None


def test_replay_reads_recorded_failures_like_live_ones(tmp_path):
    stem = "gcloud_secrets_versions_access_latest_--secret=x"
    (tmp_path / f"{stem}.stderr").write_text("ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [x] not found\n")
    (tmp_path / f"{stem}.exit").write_text("1\n")
    [outcome] = runner.collect([("gcloud", "secrets", "versions", "access", "latest", "--secret=x", "--format=json")],
                               runner.replay(tmp_path), jobs=1)
    assert outcome.error.kind is ErrorKind.NOT_FOUND


def test_run_judges_each_check_once_its_sources_are_in_and_streams_by_area():
    import datetime as dt

    from infracheck import plan
    from infracheck.catalog import loader
    from infracheck.model import Outcome

    cat = loader.load(environ={})
    the_plan = plan.make(cat, include=["vpc", "cloudsql"])
    seen: list[tuple[str, ...]] = []
    snapshots = []

    def source(argv):
        return Outcome(argv, None, 0.0, error=None, document=None)

    result = runner.run(the_plan, source, 2, dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc),
                        lambda o: seen.append(o.argv), lambda found, remaining: snapshots.append(dict(remaining)),
                        evaluate=evaluate)
    assert sorted(seen) == sorted(the_plan.sources)  # every command once
    assert set(result.findings) == set(range(len(the_plan.checks)))  # every check judged
    assert [o.argv for o in result.outcomes] == list(the_plan.sources)  # outcomes in plan order
    assert snapshots[-1] == {"vpc": 0, "cloudsql": 0} and not result.incomplete


def test_run_interrupted_returns_what_finished_marked_incomplete():
    import datetime as dt

    from infracheck import plan
    from infracheck.catalog import loader
    from infracheck.model import Outcome

    the_plan = plan.make(loader.load(environ={}))
    seen = []

    def on_outcome(outcome):  # Ctrl-C arrives while the third command is reported
        seen.append(outcome)
        if len(seen) == 3:
            raise KeyboardInterrupt

    result = runner.run(the_plan, lambda argv: Outcome(argv, 0, 0.0, document={}), 1,
                        dt.datetime.now(dt.timezone.utc), on_outcome, evaluate=evaluate)
    assert result.incomplete and len(result.outcomes) == 2 < len(the_plan.sources)


def test_a_run_past_its_deadline_stops_like_ctrl_c():
    # watch's --max-wait: a cycle whose command never answers (a stalled engine) must not
    # outlive the deadline; before, a cycle could wait for ever and --max-wait never came.
    import datetime as dt
    import threading

    from infracheck import plan
    from infracheck.catalog import loader
    from infracheck.model import Outcome

    the_plan = plan.subset(plan.make(loader.load(environ={})), [("vpc.connector", "staging-connector")])
    never = threading.Event()

    def hangs(argv: tuple[str, ...]) -> Outcome:
        never.wait(30)
        return Outcome(argv, 0, 0.0, document={})

    started = time.monotonic()
    try:
        result = runner.run(the_plan, hangs, 1, dt.datetime.now(dt.timezone.utc), deadline=started + 0.5,
                            evaluate=evaluate)
    finally:
        never.set()
        gcloud.reset()  # the deadline stops commands as Ctrl-C does
    assert result.incomplete and result.outcomes == ()
    assert time.monotonic() - started < 5


def test_live_builds_its_own_gcloud_environment_and_probe_settings(fake, monkeypatch):
    monkeypatch.setenv("INFRACHECK_RESOLVE", "not a host entry")
    from infracheck.model import CannotRun
    with pytest.raises(CannotRun, match="INFRACHECK_RESOLVE"):
        runner.live(10)
    monkeypatch.delenv("INFRACHECK_RESOLVE")
    fake.set([{"match": "", "stdout": "{}"}])
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    [outcome] = runner.collect([argv(fake, "x")], runner.live(10), jobs=1)
    assert outcome.document == {} and outcome.error is None


def test_replay_of_a_missing_folder_cannot_run(tmp_path):
    from infracheck.model import CannotRun
    with pytest.raises(CannotRun, match="does not exist"):
        runner.source((), 10, tmp_path / "nope")


# ---- the warm engine started before the catalog is read (runner.Early)


@pytest.fixture
def sdk_on_path(tmp_path, monkeypatch):
    """The fake Cloud SDK tree (tests/tools/fakesdk.py) as the gcloud on PATH; engines started are recorded."""
    from infracheck.runner import warm
    from tests.tools.fakesdk import make_sdk, sdk_env

    gcloud.reset()
    env = sdk_env(make_sdk(tmp_path / "sdk"), sys.executable)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("CLOUDSDK_PYTHON", env["CLOUDSDK_PYTHON"])
    started: list[warm.Engine] = []
    real_init = warm.Engine.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(warm.Engine, "__init__", recording_init)
    yield started
    for engine in started:
        engine.kill()
    gcloud.reset()


def test_live_adopts_the_engine_started_early_instead_of_a_second_one(sdk_on_path):
    early = runner.warm_up("auto", 2, 30)
    assert early is not None and len(sdk_on_path) == 1  # started, not waited for
    command = ("gcloud", "echo", '{"ran": "warm"}')
    source = runner.live(30, engine="auto", jobs=2, argvs=[command], early=early)
    try:
        assert source.engine is Engine.WARM
        assert source(command).document == {"ran": "warm"}
        assert len(sdk_on_path) == 1
    finally:
        runner.close(source)
    early.discard()  # nothing left to discard: live took it
    assert alive(sdk_on_path[0].pid) is False


def test_an_early_engine_a_plan_does_not_use_is_stopped(sdk_on_path):
    early = runner.warm_up("auto", 2, 30)
    source = runner.live(30, engine="auto", argvs=[("probe", "dns", "example.test")], early=early)
    assert source.engine is Engine.PROCESS  # no gcloud command: no engine
    time.sleep(0.2)
    assert not alive(sdk_on_path[0].pid)


def test_process_engine_starts_nothing_early(sdk_on_path):
    assert runner.warm_up("process", 2, 30) is None
    assert sdk_on_path == []


@pytest.mark.usefixtures("clean_environment")
def test_a_diagnose_that_fails_before_running_leaves_no_engine(sdk_on_path, capsys, tmp_path):
    from tests.tools.fakes import run as run_cli

    code, _, err = run_cli(capsys, "diagnose", "--set", "no_such_name=1", "--format", "json")
    assert code == 3 and "no_such_name" in err
    assert len(sdk_on_path) == 1  # it was started at once...
    time.sleep(0.2)
    assert not alive(sdk_on_path[0].pid)  # ...and stopped with the error


def test_nothing_is_shown_before_every_secret_is_read_and_each_value_is_learnt():
    import base64
    import datetime as dt

    from infracheck import plan, redact
    from infracheck.catalog import loader
    from infracheck.model import Outcome

    the_plan = plan.make(loader.load(environ={}), include=["vpc", "secrets"])
    value = "Tr0ub4dor&3-Mailer!"
    secrets = redact.Secrets()
    shown: list[int] = []  # how many secrets had been read each time the report could stream

    def source(argv):
        if argv in the_plan.sensitive:
            time.sleep(0.05)  # the secrets come in last: the VPC area is judged long before
            data = base64.b64encode(value.encode()).decode()
            return Outcome(argv, 0, 0.0, document={"name": "projects/1/secrets/s/versions/1", "payload": {"data": data}})
        return Outcome(argv, 0, 0.0, document={})

    runner.run(the_plan, source, 4, dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc),
               on_judged=lambda found, remaining: shown.append(sum(f.area == "secrets" for i in found for f in found[i])),
               secrets=secrets, evaluate=evaluate)
    assert shown and secrets.scrub(f"pw {value}") == "pw [redacted]"
    assert all(count >= len(the_plan.sensitive) for count in shown)  # no snapshot before the last secret
