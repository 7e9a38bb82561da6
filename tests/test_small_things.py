"""#7 section 5: smaller things a user hit, each as the user hit it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from tests.tools.fakes import run

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = str(ROOT / "fixtures" / "outage")
HEALTHY = str(ROOT / "fixtures" / "healthy")


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_explain_shows_the_role_and_the_api(capsys):
    code, out, _ = run(capsys, "explain", "secrets.min-length")
    assert code == 0
    assert "role:     roles/secretmanager.secretAccessor" in out
    assert "gcloud services enable secretmanager.googleapis.com --project=netra-staging" in out
    code, out, _ = run(capsys, "explain", "vpc.connector")
    assert "roles/vpcaccess.viewer" in out and "vpcaccess.googleapis.com" in out


def test_list_shows_the_role_and_the_api(capsys):
    code, out, _ = run(capsys, "list", "--format", "json")
    checks = {c["check"]: c for c in json.loads(out)}
    assert checks["cloudsql.instance"]["role"] == "roles/cloudsql.viewer"
    assert checks["cloudsql.instance"]["api"] == "sqladmin.googleapis.com"
    assert all(c["role"] and c["api"] for c in checks.values() if c["commands"][0].startswith("gcloud "))
    code, out, _ = run(capsys, "list")
    assert "needs: role roles/run.viewer, API run.googleapis.com" in out


def test_make_diagnose_with_json_prints_only_json():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    done = subprocess.run(["make", "diagnose", f"ARGS=--format json --replay {HEALTHY}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "HEALTHY"  # nothing but the report on stdout


def test_another_project_says_where_resource_names_come_from(capsys):
    code, _, err = run(capsys, "list", "--project", "netra-production")
    assert code == 0
    [line] = err.splitlines()
    assert line.startswith("infracheck: warning: --project netra-production: resource names (connector "
                           "staging-connector, sql_instance netra-staging-db, ...) still come from the built-in profile")
    code, _, err = run(capsys, "list", "--project", "netra-production", "--set", "sql_instance=prod-db")
    assert err == ""  # names given for this stack: nothing to say
    readme = (ROOT / "README.md").read_text()
    example = next(line for line in readme.splitlines() if "diagnose --project netra-production" in line)
    assert "--profile" in example


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


def test_help_lists_the_environment_and_shell_completion(capsys):
    for args in (["--help"], ["diagnose", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0
        for name in ("INFRACHECK_<NAME>", "INFRACHECK_NOW", "INFRACHECK_CA_BUNDLE", "INFRACHECK_RESOLVE",
                     "NO_COLOR", "TERM=dumb", 'eval "$(_INFRACHECK_COMPLETE=bash_source infracheck)"'):
            assert name in out, (args, name)


def test_the_documented_completion_works():
    env = {**os.environ, "_INFRACHECK_COMPLETE": "bash_complete", "COMP_WORDS": "infracheck diagnose --rep",
           "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-m", "infracheck"], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert "--replay" in done.stdout


def test_no_machine_path_and_no_unshipped_doc_in_tracked_files():
    machine_paths = ("/" + "work/", "/" + "root/")  # spelt apart so this file does not match itself
    unshipped = "GCLOUD" + ".md"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".toml", ".cfg", ".txt") and path.name != "Makefile":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not any(p in text for p in machine_paths), name
        assert unshipped not in text, name  # the project's own gcloud notes are docs/gcloud.md
    assert (ROOT / "docs" / "gcloud.md").is_file()
