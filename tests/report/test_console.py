"""The console (report/console.py) as a user meets it: a terminal gets colour, progress and emoji, TERM=dumb
and LC_ALL=C do not, and a machine format owns stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tty
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = str(ROOT / "fixtures" / "outage")
HEALTHY = str(ROOT / "fixtures" / "healthy")


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_make_diagnose_with_json_prints_only_json():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    done = subprocess.run(["make", "diagnose", f"ARGS=--format json --replay {HEALTHY}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "HEALTHY"  # nothing but the report on stdout


def on_a_terminal(extra: dict[str, str]) -> str:
    """What a user sees on a terminal (stdout and stderr on one pty, raw mode: \\r only if the program writes it)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "LC_ALL", "LC_CTYPE", "LANG", "TERM")}
    proc = subprocess.Popen([sys.executable, "-m", "infracheck", "diagnose", "--replay", OUTAGE],
                            stdin=slave, stdout=slave, stderr=slave, env={**env, **extra}, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 2
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_real_terminal_gets_colour_progress_and_emoji():
    seen = on_a_terminal({"TERM": "xterm-256color", "LANG": "C.UTF-8"})
    assert "\x1b[31m" in seen and "\r\x1b[K" in seen and "❌" in seen


def test_term_dumb_gets_no_colour_and_no_progress_line():
    seen = on_a_terminal({"TERM": "dumb", "LANG": "C.UTF-8"})
    assert "\x1b[" not in seen and "\r" not in seen
    assert "Overall Status: CRITICAL" in seen


def test_lc_all_c_gets_no_emoji_even_on_a_terminal():
    seen = on_a_terminal({"TERM": "xterm", "LC_ALL": "C"})
    assert not any(ord(ch) > 127 for ch in seen)
    assert "[X] Found 2 VPC connector issues" in seen
