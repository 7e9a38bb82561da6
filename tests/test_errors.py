"""errors.py: every way infracheck stops is an exit code and at most one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_closed_stdout_still_exits_with_the_verdict(fmt):
    # `| head -1` as a pipe whose reader is already gone: every write meets EPIPE, deterministically.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "infracheck", "diagnose", "--replay", str(FIXTURES / "outage"),
                               "--format", fmt], stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 2  # CRITICAL, so `set -o pipefail` sees the truth
    assert done.stderr == ""  # no traceback, no "Broken pipe"


def test_pipefail_with_head_sees_critical():
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m infracheck diagnose --replay "
                           f"{FIXTURES / 'outage'} | head -1"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and done.stderr == ""
    assert done.stdout.startswith("🚀 Starting Complete Infrastructure Validation")


def test_a_refusal_is_one_line_and_exit_3(capsys):
    def refuse() -> int:
        raise CannotRun("--output x: no such folder")

    assert errors.handled(refuse) == ExitStatus.UNKNOWN
    assert capsys.readouterr().err == "infracheck: error: --output x: no such folder\n"


def test_ctrl_c_is_130_and_says_nothing(capsys):
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert errors.handled(interrupted) == ExitStatus.INTERRUPTED
    assert capsys.readouterr().err == ""


def test_a_bug_is_an_internal_error_with_where_to_report_it_not_a_traceback(capsys):
    def bug() -> int:
        return {"a": 1}["b"]

    assert errors.handled(bug) == ExitStatus.UNKNOWN
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("infracheck: internal error: KeyError: 'b' (test_errors.py:")
    assert line.endswith(errors.REPORT_TO)
    assert "Traceback" not in line


@pytest.mark.parametrize("args,line", [
    (["explain", "no.such.rule"], "infracheck: error: no rule or check 'no.such.rule' (see infracheck list)"),
    (["diagnose", "--replay", str(FIXTURES / "healthy"), "--yes"], "infracheck: error: --yes goes with --fix-mode"),
])
def test_the_cli_says_a_refusal_in_one_line_and_exits_3(args, line):
    done = subprocess.run([sys.executable, "-m", "infracheck", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env={k: v for k, v in os.environ.items() if not k.startswith("INFRACHECK_")})
    assert done.returncode == 3
    assert done.stderr.splitlines() == [line]
