"""`infracheck parity`: two targets of a targets file, their configuration read and compared (judge/parity.py).

This first version reads each target's documents from a recording, one
folder per target (`--replay DIR` with `DIR/<target name>/`, as `record`
writes for a single target); the catalog, loaded with the target's project,
region and settings, says which gcloud command each resource comes from.
Live parity (through the runner) is the next step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus

if TYPE_CHECKING:
    from infracheck.catalog.targets import Target
    from infracheck.judge.parity import Side

# The catalog checks whose documents parity compares (commands/*.toml).
_SOURCES = {"connector": "vpc.connector", "sql": "cloudsql.instance", "services": "cloudrun.service",
            "certificates": "loadbalancer.certificate"}


def parity(targets_file: Path, name_a: str, name_b: str, replay: Path, fmt: str) -> int:
    """Print the differences between two targets; exit 1 when any is not declared intended, 0 when none."""
    from infracheck.catalog import targets as targets_file_
    from infracheck.judge import parity as judge
    from infracheck.report import parity as report

    def run() -> int:
        if name_a == name_b:
            raise CannotRun(f"parity compares two different targets (both are '{name_a}')")
        every = targets_file_.load(targets_file)
        by_name = {t.name: t for t in every}
        for name in (name_a, name_b):
            if name not in by_name:
                raise CannotRun(f"{targets_file}: no target '{name}' (targets: {', '.join(by_name)})")
        # Each profile's intended differences count, whichever side declares them; read first, so a
        # malformed entry is named before any recording is.
        ignores: list[judge.Ignore] = []
        for name in (name_a, name_b):
            profile = by_name[name].profile
            if profile is not None:
                ignores.extend(judge.read_ignores(profile))
        sides = [_side(by_name[name], replay / name) for name in (name_a, name_b)]
        result = judge.compare(sides[0], sides[1], ignores)
        render = {"json": report.render_json, "markdown": report.render_markdown}.get(fmt, report.render_text)
        click.echo(render(result), nl=False)
        return ExitStatus.WARNING if result.findings else ExitStatus.OK

    return errors.handled(run)


def _side(target: Target, folder: Path) -> Side:
    """One target's documents, read from its recording folder by the argv the catalog gives for it."""
    from infracheck.catalog import loader
    from infracheck.judge.parity import Side
    from infracheck.runner import recording

    if not folder.is_dir() or not any(folder.iterdir()):
        raise CannotRun(f"target '{target.name}': no recording in {folder} "
                        f"(record it with: infracheck record {folder} {' '.join(target.flags())})")
    recording.check_folder(folder)
    recording.check_project(folder, target.project, target.region)
    catalog = loader.load(overrides={"project": target.project, "region": target.region, **dict(target.settings)},
                          profile_file=target.profile, environ={})
    argv = {c.id: c.argv for c in catalog.checks}
    unread: list[tuple[str, str]] = []

    def read(key: str, resource: str) -> Any:
        command = argv.get(_SOURCES[key])
        if command is None:
            raise CannotRun(f"the catalog has no check '{_SOURCES[key]}' to read the {resource} from")
        found = recording.replay(folder, command)
        if found is None:
            raise CannotRun(f"target '{target.name}': {folder} holds no {recording.name_for(command)}.json "
                            f"(the {resource}); record it again with infracheck record")
        code, stdout, stderr = found
        if code != 0:
            lines = stderr.strip().splitlines()
            unread.append((resource, lines[-1] if lines else f"gcloud exited {code}"))
            return None
        try:
            return json.loads(stdout)
        except ValueError:
            raise CannotRun(f"{folder}/{recording.name_for(command)}.json: not JSON") from None

    profile = catalog.profile
    connector, sql = read("connector", "connector"), read("sql", "cloudsql")
    listed = read("services", "cloudrun")
    by_name = {_dict(s.get("metadata")).get("name"): s for s in listed or [] if isinstance(s, dict)}
    names = [str(n) for n in profile.get("services") or []]
    if listed is None:
        unread += [(f"cloudrun.{n}", dict(unread)["cloudrun"]) for n in names]
    certificates = read("certificates", "certificates") or []
    return Side(target.name, connector, sql, tuple((n, by_name.get(n)) for n in names),
                tuple(str(d) for d in profile.get("domains") or []), certificates,
                connector_name=str(profile.get("connector") or ""), unread=tuple(unread))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
