"""Small fakes and helpers shared by the tests: a fake `gcloud` executable on PATH, the CLI in-process."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

# The fake reads its behaviour from a JSON spec: the first entry whose `match`
# is a substring of the joined argv decides stdout, stderr, exit code, sleep,
# and whether to leave a child process behind (to prove group kills). An entry
# with `times` answers only the first that many runs of the same argv.
_SCRIPT = r'''#!{python}
import json, os, subprocess, sys, time
argv = " ".join(sys.argv[1:])
spec = json.load(open(os.environ["FAKE_GCLOUD_SPEC"]))
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "start": time.time(), "pid": os.getpid()}}) + "\n")
with open(os.environ["FAKE_GCLOUD_LOG"]) as log:
    before = sum(1 for x in log if x.strip() and "start" in json.loads(x)
                 and json.loads(x)["argv"] == sys.argv[1:]) - 1
for entry in spec:
    if entry["match"] in argv and before < entry.get("times", before + 1):
        break
else:
    entry = {{"stdout": "", "stderr": "ERROR: (gcloud) fake: no spec for " + argv + "\n", "exit": 1}}
if entry.get("child"):
    child = subprocess.Popen(["sleep", "300"])
    open(os.environ["FAKE_GCLOUD_LOG"] + ".children", "a").write(str(child.pid) + "\n")
time.sleep(entry.get("sleep", 0))
sys.stdout.write(entry.get("stdout", ""))
sys.stderr.write(entry.get("stderr", ""))
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "end": time.time(), "pid": os.getpid()}}) + "\n")
sys.exit(entry.get("exit", 0))
'''


class FakeGcloud:
    """A `gcloud` on PATH that answers from a spec and logs every call."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.spec_file = directory / "spec.json"
        self.log_file = directory / "calls.log"
        self.log_file.write_text("")
        exe = self.bin / "gcloud"
        exe.write_text(_SCRIPT.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.set([])

    def set(self, spec: list[dict[str, Any]]) -> None:
        self.spec_file.write_text(json.dumps(spec))

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["FAKE_GCLOUD_SPEC"] = str(self.spec_file)
        env["FAKE_GCLOUD_LOG"] = str(self.log_file)
        return env

    def calls(self) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in self.log_file.read_text().splitlines() if x.strip()]
        return [x for x in lines if "start" in x]

    def intervals(self) -> list[tuple[float, float]]:
        lines = [json.loads(x) for x in self.log_file.read_text().splitlines() if x.strip()]
        starts = {x["pid"]: x["start"] for x in lines if "start" in x}
        return [(starts[x["pid"]], x["end"]) for x in lines if "end" in x]

    def children(self) -> list[int]:
        path = Path(str(self.log_file) + ".children")
        return [int(x) for x in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def replay_folder(tmp: Path, scenario: Path, documents: dict[str, Any] | None = None,
                  raw: dict[str, str] | None = None) -> Path:
    """A copy of a recorded scenario in tmp, with some recordings replaced.

    `documents` maps a recording's file name, or a prefix naming one file (e.g.
    "gcloud_compute_health-checks"), to the JSON document to record instead; `raw` to the exact text.
    """
    folder = tmp / scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    for path in scenario.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    replacements = {k: json.dumps(v, indent=2) for k, v in (documents or {}).items()} | (raw or {})
    for prefix, text in replacements.items():
        exact = folder / prefix
        [target] = [exact] if exact.is_file() else [
            p for p in folder.iterdir() if p.name.startswith(prefix) and p.suffix == ".json"]
        target.write_text(text, encoding="utf-8")
    return folder


def diagnose_in_process(folder: Path, *args: str) -> tuple[int, str, str]:
    """`infracheck diagnose --replay FOLDER --format json ARGS` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from infracheck.cli import main

    # A UTF-8 stdout that refuses what a real one refuses (a lone surrogate), unlike StringIO.
    raw_out = io.BytesIO()
    out = io.TextIOWrapper(raw_out, encoding="utf-8", errors="strict")
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["diagnose", "--replay", str(folder), "--format", "json", "--color", "never", *args])
    out.flush()
    return code, raw_out.getvalue().decode("utf-8"), err.getvalue()


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    """infracheck's CLI in-process: exit code, stdout, stderr."""
    from infracheck.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
