"""One shard of a fleet run over recordings, as a process: what `diagnose --targets` will do, built from today's parts.

    python tests/fleet_shard.py TARGETS.toml RECORDINGS_DIR OUT.json [--shard I/N] [--shards N]

Selects the targets (this shard's slice from --shard or the engine's
variables, as `infracheck targets` does), judges each with a single-target
`infracheck diagnose --replay RECORDINGS_DIR/<name> <its flags> --format
json`, writes the fleet document to OUT.json and exits with the fleet's
verdict. A target whose recording folder is missing is not checked, by name.
Until `diagnose --targets` exists (issue 21), tests/test_fleet.py runs the
shards of its merge test through this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infracheck.catalog import targets  # noqa: E402
from infracheck.judge import fleet  # noqa: E402
from infracheck.errors import ExitStatus  # noqa: E402
from infracheck.report import fleet as fleet_report  # noqa: E402


def judge(target: targets.Target, recordings: Path) -> fleet.Member:
    folder = (recordings / target.name).absolute()
    if not folder.is_dir():
        return fleet.unchecked(target, f"recording folder missing: {folder.name}/")
    done = subprocess.run([sys.executable, "-m", "infracheck", "diagnose", "--replay", str(folder),
                           *target.flags(), "--format", "json", "--report-only"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["infracheck failed"])[-1]
        return fleet.unchecked(target, said.removeprefix("infracheck: error: "))
    return fleet.member(target, json.loads(done.stdout))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets_file", type=Path)
    parser.add_argument("recordings", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--shard")
    parser.add_argument("--shards", type=int)
    args = parser.parse_args()
    every = targets.load(args.targets_file)
    selected = targets.select(every)
    which = targets.shard(args.shard, args.shards, os.environ)
    members = [judge(t, args.recordings) for t in targets.slice_of(selected, which)]
    result = fleet.gather(selected, which, members, generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    args.out.write_text(fleet_report.render(result), encoding="utf-8")
    return int(ExitStatus.of(fleet.status(result)))


if __name__ == "__main__":
    sys.exit(main())
