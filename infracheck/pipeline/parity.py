"""`infracheck parity`: two targets of a targets file, their configuration read and compared (judge/parity.py).

Each target's documents are read live (the four reads of both targets at
once, through one warm gcloud: runner.live), or from recordings, one folder
per target (`--replay DIR` with `DIR/<target name>/`, as `record --targets`
writes them); the catalog, loaded with the target's project, region and
settings, says which gcloud command each resource comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus

if TYPE_CHECKING:
    from infracheck.catalog.targets import Target
    from infracheck.judge.parity import Side
    from infracheck.model import Catalog

# A read of one command: its document, or None and why it could not be read (gcloud's last stderr line).
Read = Callable[[tuple[str, ...]], tuple[Any, str | None]]

# The catalog checks whose documents parity compares (commands/*.toml).
_SOURCES = {"connector": "vpc.connector", "sql": "cloudsql.instance", "services": "cloudrun.service",
            "certificates": "loadbalancer.certificate"}


def parity(targets_file: Path, name_a: str, name_b: str, replay: Path | None, fmt: str, timeout: float = 60.0,
           engine: str = "auto") -> int:
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
        targets = [by_name[name] for name in (name_a, name_b)]
        catalogs = [_catalog(t, None if replay is None else replay / t.name) for t in targets]
        if replay is None:
            reads = _live([(t, c) for t, c in zip(targets, catalogs)], timeout, engine)
        else:
            reads = [_recorded(t, replay / t.name) for t in targets]
        sides = [_side(t, c, r) for t, c, r in zip(targets, catalogs, reads)]
        result = judge.compare(sides[0], sides[1], ignores)
        render = {"json": report.render_json, "markdown": report.render_markdown}.get(fmt, report.render_text)
        click.echo(render(result), nl=False)
        return ExitStatus.WARNING if result.findings else ExitStatus.OK

    return errors.handled(run)


def _catalog(target: Target, folder: Path | None) -> Catalog:
    """The target's catalog, on the release tracks its reads ran (live: the installed gcloud's) on."""
    from infracheck.catalog import loader
    from infracheck.runner import recording, tracks

    if folder is not None:
        if not folder.is_dir() or not any(folder.iterdir()):
            raise CannotRun(f"target '{target.name}': no recording in {folder} "
                            f"(record it with: infracheck record {folder} {' '.join(target.flags())})")
        recording.check_folder(folder)
        recording.check_project(folder, target.project, target.region)
    catalog = loader.load(overrides={"project": target.project, "region": target.region, **dict(target.settings)},
                          profile_file=target.profile, environ={})
    return tracks.resolve(catalog, tracks.for_run(folder))


def _commands(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """The argv each compared resource is read by (the catalog's check of it)."""
    argv = {c.id: c.argv for c in catalog.checks}
    for key, check in _SOURCES.items():
        if check not in argv:
            raise CannotRun(f"the catalog has no check '{check}' to read the {key} from")
    return {key: argv[check] for key, check in _SOURCES.items()}


def _recorded(target: Target, folder: Path) -> Read:
    """Reads from the target's recording folder."""
    from infracheck.runner import recording

    def read(command: tuple[str, ...]) -> tuple[Any, str | None]:
        found = recording.replay(folder, command)
        if found is None:
            raise CannotRun(f"target '{target.name}': {folder} holds no {recording.name_for(command)}.json; "
                            "record it again with infracheck record")
        code, stdout, stderr = found
        if code != 0:
            lines = stderr.strip().splitlines()
            return None, lines[-1] if lines else f"gcloud exited {code}"
        try:
            return json.loads(stdout), None
        except ValueError:
            raise CannotRun(f"{folder}/{recording.name_for(command)}.json: not JSON") from None

    return read


def _live(pairs: list[tuple[Target, Catalog]], timeout: float, engine: str) -> list[Read]:
    """Both targets' reads run at once through one gcloud (warm when it can), then read from memory."""
    from infracheck import runner

    from infracheck.runner import gcloud

    argvs = list(dict.fromkeys(argv for _, catalog in pairs for argv in _commands(catalog).values()))
    gcloud.executable()  # GcloudMissing (a CannotRun) when it is not installed
    source = runner.live(timeout, engine=engine, argvs=argvs)
    try:
        outcomes = {o.argv: o for o in runner.collect(argvs, source, len(argvs))}
    except KeyboardInterrupt:
        runner.stop()
        raise
    finally:
        runner.close(source)

    def read(command: tuple[str, ...]) -> tuple[Any, str | None]:
        outcome = outcomes[command]
        if outcome.error is not None:
            return None, outcome.error.message
        return outcome.document, None

    return [read for _ in pairs]


def _side(target: Target, catalog: Catalog, fetch: Read) -> Side:
    """One target's documents, read by the argv the catalog gives for each."""
    from infracheck.judge.parity import Side

    commands = _commands(catalog)
    unread: list[tuple[str, str]] = []

    def read(key: str, resource: str) -> Any:
        document, why = fetch(commands[key])
        if why is not None:
            unread.append((resource, why))
        return document

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
