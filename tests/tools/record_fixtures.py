"""Re-record fixtures/<scenario>/ from fixtures/api/<scenario>/ through the real gcloud.

For every scenario folder of REST bodies, start the fake Google API on it, run
`infracheck record` (real gcloud, real argv) against it, then copy the
scenario's probe documents (network probes can't reach the internet here).
So the committed recordings are always in the shape gcloud really prints.

    python tests/tools/record_fixtures.py [SCENARIO ...]      # default: all
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.tools.fakeapi import FakeGoogleAPI  # noqa: E402

API = ROOT / "fixtures" / "api"


def chain(scenario: Path) -> list[Path]:
    """The scenario folder, then its bases."""
    folders = [scenario]
    while True:
        meta_file = folders[-1] / "scenario.toml"
        base = tomllib.loads(meta_file.read_text()).get("base") if meta_file.exists() else None
        if not base:
            return folders
        folders.append(API / base)


def record(name: str) -> None:
    scenario = API / name
    target = ROOT / "fixtures" / name
    if target.exists():
        shutil.rmtree(target)
    with FakeGoogleAPI(scenario, API) as fake, tempfile.TemporaryDirectory() as config:
        meta_file = scenario / "scenario.toml"
        meta = tomllib.loads(meta_file.read_text()) if meta_file.exists() else {}
        # `record_set`: profile values for the recording run only (a chain only the network probes can pick);
        # `record_args`: any other options of the recording run.
        sets = [arg for value in meta.get("record_set", []) for arg in ("--set", value)]
        cmd = [sys.executable, "-m", "infracheck", "record", str(target), "--exclude", "network*",
               "--color", "never", *sets, *meta.get("record_args", [])]
        done = subprocess.run(cmd, env=fake.run_env(Path(config)), cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        # record exits with the verdict; 3 is UNKNOWN (a scenario of could-not-check) or a failure (nothing written)
        if done.returncode not in (0, 1, 2) and not (done.returncode == 3 and (target / "recording.json").is_file()):
            sys.exit(f"{name}: infracheck record failed ({done.returncode}):\n{done.stderr}")
        if fake.mutations:
            sys.exit(f"{name}: gcloud tried to change something: {fake.mutations}")
    copied = set()
    for folder in chain(scenario):
        for probe in sorted((folder / "probes").glob("*.json")):
            if probe.name not in copied:
                shutil.copy(probe, target / probe.name)
                copied.add(probe.name)
    # The probes' answers complete the recording, so it no longer stands for the --exclude it was made with.
    meta_file = target / "recording.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if copied:
        meta.pop("exclude", None)
    meta_file.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    files = sorted(p.name for p in target.iterdir())
    print(f"{name}: {len(files)} files in {target.relative_to(ROOT)}")


def main(names: list[str]) -> None:
    if shutil.which("gcloud") is None:
        sys.exit("record_fixtures: gcloud is not installed; the fixtures can only be recorded through it")
    scenarios = names or sorted(p.name for p in API.iterdir() if (p / "scenario.toml").exists())
    for name in scenarios:
        record(name)


if __name__ == "__main__":
    main(sys.argv[1:])
