"""warm.py and warm_driver.py against a fake SDK tree (tests/tools/fakesdk.py): the driver's
mechanics (byte-exact output, isolation, timeouts, crashes, Ctrl-C, fallback) without
the real gcloud. The contract suite (tests/contract/test_engines.py) does it with it."""

from __future__ import annotations

import ast
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infracheck.runner import gcloud, warm
from infracheck.model import ErrorKind
from tests.tools.fakesdk import make_sdk, sdk_env

PYTHON = sys.executable


@pytest.fixture
def sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    gcloud.reset()
    bin_dir = make_sdk(tmp_path / "sdk")
    env = sdk_env(bin_dir, PYTHON)
    monkeypatch.setenv("PATH", env["PATH"])  # gcloud.run (the fallback) finds gcloud on our PATH
    return bin_dir, env


@pytest.fixture
def engine(sdk: tuple[Path, dict[str, str]]) -> Iterator[warm.Engine]:
    _, env = sdk
    started = warm.Engine(warm.launch(env), 2, env)
    yield started
    started.kill()
    started.close()
    gcloud.reset()


def as_process(env: dict[str, str], *args: str) -> tuple[int, bytes, bytes]:
    done = subprocess.run(["gcloud", *args], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return done.returncode, done.stdout, done.stderr


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


# ---- where the driver runs


def test_launch_follows_the_wrapper(sdk: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = sdk
    how = warm.launch(env)
    assert how.python == PYTHON
    assert how.root == str(bin_dir.parent)
    assert how.args == ("-S",)  # no site packages asked for: bin/gcloud adds -S
    assert how.env["CLOUDSDK_ROOT_DIR"] == str(bin_dir.parent)
    assert how.env["PYTHONIOENCODING"] == "UTF-8"

    with_site = warm.launch({**env, "CLOUDSDK_PYTHON_SITEPACKAGES": "1", "CLOUDSDK_PYTHON_ARGS": "-S -B"})
    assert with_site.args == ("-B",)


def test_launch_resolves_a_symlinked_gcloud(sdk: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = sdk
    links = tmp_path / "usr-bin"
    links.mkdir()
    (links / "gcloud").symlink_to(bin_dir / "gcloud")
    assert warm.launch({**env, "PATH": str(links)}).root == str(bin_dir.parent)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="bin/gcloud uses its bundled Python on x86_64 only")
def test_launch_prefers_the_bundled_python(sdk: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = sdk
    bundled = bin_dir.parent / "platform" / "bundledpythonunix" / "bin"
    bundled.mkdir(parents=True)
    (bundled / "python3").symlink_to(PYTHON)
    del env["CLOUDSDK_PYTHON"]
    how = warm.launch(env)
    assert how.python == str(bundled / "python3")
    assert how.args == () and how.env["CLOUDSDK_PYTHON_SITEPACKAGES"] == "1"


def test_a_gcloud_that_is_not_the_cloud_cli_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gcloud").write_text("#!/bin/sh\necho '[]'\n")
    (tmp_path / "gcloud").chmod(0o755)
    with pytest.raises(warm.Unavailable, match="not a Google Cloud CLI layout"):
        warm.launch({"PATH": str(tmp_path)})
    with pytest.raises(warm.Unavailable, match="not on PATH"):
        warm.launch({"PATH": str(tmp_path / "nothing")})


def test_an_sdk_the_driver_cannot_import_is_unavailable(tmp_path: Path) -> None:
    bin_dir = make_sdk(tmp_path / "sdk", broken=True)
    env = sdk_env(bin_dir, PYTHON)
    with pytest.raises(warm.Unavailable, match="could not load gcloud: ImportError: No module named googlecloudsdk"):
        warm.Engine(warm.launch(env), 2, env)


def test_the_driver_imports_only_the_standard_library() -> None:
    tree = ast.parse(warm.DRIVER.read_text(encoding="utf-8"))
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    # The SDK's own lib/gcloud.py is imported by name through importlib.
    assert names and names <= set(sys.stdlib_module_names) | {"__future__", "googlecloudsdk"}, names


# ---- what a command gives back


ARGVS = [
    ("echo", "hello", "world"),
    ("fail", "1", "NOT_FOUND: Secret [x] not found."),
    ("fail", "2", "unrecognized arguments: --bogus"),
    ("bytes",),
    ("nosuchverb",),
]


def test_each_command_gives_what_its_own_process_would(engine: warm.Engine, sdk: tuple[Path, dict[str, str]]) -> None:
    _, env = sdk
    for argv in ARGVS:
        engine.submit(("gcloud", *argv), 20)
    for argv in ARGVS:
        reply = engine.reply(("gcloud", *argv), 20)
        assert reply.kind is warm.Ended.DONE
        assert (reply.code, reply.stdout, reply.stderr) == as_process(env, *argv), argv


def test_outcomes_are_classified_as_for_a_process(engine: warm.Engine) -> None:
    ok = engine.run(("gcloud", "echo", '{"a":', "1}"), 20)
    assert ok.error is None and ok.document == {"a": 1} and ok.exit_code == 0
    missing = engine.run(("gcloud", "fail", "1", "NOT_FOUND: Secret [x] not found."), 20)
    assert missing.error is not None and missing.error.kind is ErrorKind.NOT_FOUND
    assert missing.stderr == "ERROR: (gcloud.fail) NOT_FOUND: Secret [x] not found.\n"


def test_no_state_reaches_the_next_command(sdk: tuple[Path, dict[str, str]]) -> None:
    """One worker, commands interleaved: each starts from the state a new process has."""
    _, env = sdk
    single = warm.Engine(warm.launch(env), 1, env)
    try:
        seen = [single.reply(("gcloud", "state", *args), 20).stdout for args in
                [("set", "project-a"), ("get",), ("set", "project-b"), ("set", "region-1"), ("get",)]]
    finally:
        single.close()
    assert seen == [b"initial\n"] * 5


def test_a_command_past_its_timeout_is_killed_with_its_children(engine: warm.Engine, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    reply = engine.reply(("gcloud", "spawn", str(pidfile)), 2)
    assert reply.kind is warm.Ended.TIMEOUT
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)
    outcome = engine.run(("gcloud", "spawn", str(tmp_path / "again.pid")), 1)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.TIMEOUT
    assert outcome.error.message == "timed out after 1 s (gcloud and its children were stopped)"
    # The driver goes on: later commands still run warm.
    assert engine.reply(("gcloud", "echo", "after"), 20).stdout == b"after\n"


def test_a_command_that_crashes_the_driver_runs_as_its_own_process(engine: warm.Engine) -> None:
    outcome = engine.run(("gcloud", "crash-warm", '["ok"]'), 20)
    assert engine.ran_as_process == 1
    assert outcome.error is None and outcome.exit_code == 0
    assert engine.reply(("gcloud", "echo", "still", "warm"), 20).stdout == b"still warm\n"


def test_commands_of_a_dead_driver_run_as_processes(engine: warm.Engine) -> None:
    engine.kill()  # not Ctrl-C: the driver just died
    time.sleep(0.5)
    outcome = engine.run(("gcloud", "echo", "[1]"), 20)
    assert outcome.document == [1] and engine.ran_as_process == 1


def test_a_driver_that_stops_serving_is_ended_and_its_command_runs_as_a_process(
    engine: warm.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A watch once waited its whole --max-wait on a command the driver never answered (issue 17):
    # nothing bounded that wait. A frozen driver stands for any driver that stops serving.
    monkeypatch.setattr(warm, "SILENCE_GRACE", 1.0)
    os.kill(engine.pid, signal.SIGSTOP)
    got: list[Any] = []
    asked = threading.Thread(target=lambda: got.append(engine.run(("gcloud", "echo", "[2]"), 2)), daemon=True)
    asked.start()
    asked.join(30)  # its timeout and the grace, not for ever: a regression fails here, it does not hang
    if asked.is_alive():
        os.kill(engine.pid, signal.SIGKILL)
    assert got and got[0].document == [2] and engine.ran_as_process == 1


def test_ctrl_c_stops_the_driver_and_its_commands(engine: warm.Engine, sdk: tuple[Path, dict[str, str]]) -> None:
    results = []
    waiting = threading.Thread(target=lambda: results.append(engine.run(("gcloud", "sleep", "60"), 120)))
    waiting.start()
    deadline = time.monotonic() + 10
    while not engine._children and time.monotonic() < deadline:  # the command has started
        time.sleep(0.05)
    children = set(engine._children)
    assert children
    sent = time.monotonic()
    gcloud.kill_all()
    warm.kill_all()
    waiting.join(5)
    assert time.monotonic() - sent < 1.5
    assert results and results[0].error is not None and results[0].error.kind is ErrorKind.INTERRUPTED
    time.sleep(0.3)
    assert not any(alive(pid) for pid in children | {engine.pid})
    with pytest.raises(warm.Unavailable, match="interrupted"):
        warm.Engine(warm.launch(sdk[1]), 1, sdk[1])  # refused until reset


def test_identical_argvs_submitted_together_share_a_run_and_a_later_ask_runs_again(engine: warm.Engine, tmp_path: Path) -> None:
    argv = ("gcloud", "state", "set", "x")
    engine.submit(argv, 20)
    engine.submit(argv, 20)
    assert engine.reply(argv, 20).stdout == engine.reply(argv, 20).stdout == b"initial\n"


def test_a_hung_first_command_does_not_hold_back_its_surface(engine: warm.Engine) -> None:
    """The others of a surface wait for its first command only briefly, not until it times out."""
    hung, quick = ("gcloud", "sleep", "90"), ("gcloud", "sleep", "0")
    engine.submit(hung, 120)
    engine.submit(quick, 120)
    assert engine.reply(quick, 120).stdout == b"slept\n"
    assert engine._by_argv[hung].reply is None  # still sleeping: the quick one did not wait for it


def test_each_new_command_path_of_a_surface_is_learned_once(engine: warm.Engine) -> None:
    """A surface being warm says little about a path it has not run (`compute networks vpc-access` loads
    another API than `compute url-maps`): that path's first command imports, the others wait for it."""
    light = ("gcloud", "load", "light")
    heavy = [("gcloud", "load", "heavy", f"--n={n}") for n in range(3)]
    for argv in (light, *heavy):
        engine.submit(argv, 20)
    assert engine.reply(light, 20).stdout == b"light\n"
    assert sorted(engine.reply(argv, 20).stdout for argv in heavy) == [b"cold\n", b"warm\n", b"warm\n"]


def test_a_pattern_a_command_compiled_is_compiled_once_unless_it_warns(
        engine: warm.Engine, sdk: tuple[Path, dict[str, str]]) -> None:
    """The zygote compiles the patterns its learner reported into `re`'s cache, except one whose
    compiling warns: each command must print that warning as its own process does."""
    quiet = [("gcloud", "regex", pattern, f"--n={n}") for pattern in ("ab+c", "lazy+") for n in range(3)]
    warns = [("gcloud", "regex", "[[a]", f"--n={n}") for n in range(3)]  # FutureWarning: Possible nested set
    for argv in (*quiet, *warns):
        engine.submit(argv, 20)
    # ("lazy+": gcloud's re.compile gives a stand-in for it, compiled on first use: the zygote compiles it for real)
    assert sorted(engine.reply(argv, 20).stdout for argv in quiet) == [b"cached\n"] * 4 + [b"compiled\n"] * 2
    for argv in warns:  # (the fake's process names its file by another path: compare the warning)
        reply = engine.reply(argv, 20)
        assert reply.stdout == b"compiled\n" and b"FutureWarning: Possible nested set at position 1" in reply.stderr
        assert b"FutureWarning: Possible nested set at position 1" in as_process(sdk[1], *argv[1:])[2]


def test_a_command_crashed_on_the_locked_config_database_is_run_again_warm(engine, tmp_path):
    runs = tmp_path / "runs"
    outcome = engine.run(("gcloud", "locked", "1", str(runs)), 20)
    assert outcome.error is None and outcome.document == {"runs": 2}
    assert outcome.retries == 1 and engine.ran_as_process == 0  # both runs warm


def test_a_config_database_locked_every_time_is_a_could_not_check_warm(engine, tmp_path):
    runs = tmp_path / "runs"
    outcome = engine.run(("gcloud", "locked", "99", str(runs)), 30)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CONFIG_LOCKED
    assert "CLOUDSDK_CONFIG" in outcome.error.message
    assert outcome.retries == gcloud.LOCKED_RETRIES and len(runs.read_text()) == gcloud.LOCKED_RETRIES + 1
