"""`infracheck discover`: find the fleet's targets and write a targets file (docs/fleet.md, "Discovery").

Source 1, for --organization or --folder: one Cloud Asset search of the
stack's resource types in that scope, then the ids of the projects it names
by number. Source 2, when Cloud Asset is not available there (its API
disabled, the search permission denied) and always for --filter: the
Resource Manager project list, each project with the regions given
(--region, else the profile's). stderr says which source answered, which
permission it needed, and why it fell back.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus

if TYPE_CHECKING:
    from infracheck.catalog.discover import Discovery
    from infracheck.catalog.profile import Values

# Cloud Asset is "not available" when the scope denies it or its API is off: the project list may still
# answer. Anything else (not signed in, the network, a quota) would fail the project list the same way.
_FALLBACK = {"PERMISSION_DENIED", "API_DISABLED", "NOT_FOUND", "NOT_FOUND_OR_DENIED"}  # ErrorKind names
_ID = re.compile(r"[0-9]{1,25}")


def discover(organization: str | None, folder: str | None, expression: str | None, regions: Sequence[str],
             output: Path | None, force: bool, record_dir: Path | None, replay_dir: Path | None,
             timeout: float) -> int:
    """Write the targets file; exit 0, 1 (WARNING) when something found could not become a target, 3 on failure."""
    return errors.handled(lambda: _discover(organization, folder, expression, regions, output, force,
                                            record_dir, replay_dir, timeout))


def _discover(organization: str | None, folder: str | None, expression: str | None, regions: Sequence[str],
              output: Path | None, force: bool, record_dir: Path | None, replay_dir: Path | None,
              timeout: float) -> int:
    from infracheck import default_dir
    from infracheck.catalog import discover as found, profile
    from infracheck.runner import inventory, recording

    given = [(flag, value) for flag, value in (("--organization", organization), ("--folder", folder),
                                               ("--filter", expression)) if value is not None]
    if len(given) != 1:
        raise CannotRun("give one of --organization ORG, --folder FOLDER or --filter EXPR"
                        + (f" (not {' and '.join(flag for flag, _ in given)})" if given else ""))
    flag, value = given[0]
    values = profile.values(default_dir())
    wanted = tuple(dict.fromkeys(_region(values, r) for r in regions))
    if record_dir is not None and replay_dir is not None:
        raise CannotRun("--record and --replay do not go together (a replay runs no gcloud to record)")
    if output is not None:
        _check_output(output, force)
    if replay_dir is not None:
        recording.check_folder(replay_dir)
    if record_dir is not None:
        recording.prepare(record_dir, force)
    reader = inventory.Reader(replay_dir, timeout, dict(os.environ))

    def check(name: str, raw: object) -> str | None:
        try:
            values.check(name, raw, name)
        except CannotRun as exc:
            return str(exc)
        return None

    def listed(expr: str, permission: str) -> tuple[found.Project, ...]:
        outcome = reader.read(inventory.projects_argv(expr))
        if outcome.error is not None:
            raise CannotRun(f"gcloud projects list --filter={expr} failed (it needs {permission}): "
                            f"{outcome.error.message}")
        return found.projects(outcome.document)

    try:
        if flag == "--filter":
            scope = None
            expr = _expression(value)
            _say(f"source: Resource Manager, gcloud projects list --filter={expr} (needs resourcemanager.projects.list;"
                 " --filter is a gcloud projects list filter, so Cloud Asset is not asked)")
        else:
            kind = "organization" if flag == "--organization" else "folder"
            scope = f"{kind}s/{_number(flag, value, kind)}"
            expr = f"parent.type={kind} AND parent.id={scope.split('/')[1]}"
        discovery = None
        source = "projects"
        if scope is not None:
            searched = reader.read(inventory.search_argv(scope))
            if searched.error is None:
                _say(f"source: Cloud Asset, gcloud asset search-all-resources --scope={scope} (needs "
                     f"cloudasset.assets.searchAllResources on {scope}); project ids from gcloud projects list "
                     "(needs resourcemanager.projects.get on each project)")
                resources = found.resources(searched.document)
                known: list[found.Project] = []
                for argv in inventory.numbers_argvs(found.numbers(resources)):
                    known += listed(argv[3].removeprefix("--filter="), "resourcemanager.projects.get on each project")
                discovery = found.from_assets(resources, known, wanted, check)
                source = "asset"
            elif searched.error.kind.name in _FALLBACK:
                _say(f"Cloud Asset is not available for {scope} ({searched.error.message}); falling back")
                _say(f"source: Resource Manager, gcloud projects list --filter={expr} (needs "
                     "resourcemanager.projects.list; "
                     + ("only projects directly in the folder, not in its subfolders; " if scope.startswith("folders/")
                        else "only projects directly under the organization, not in its folders; ")
                     + "Cloud Asset needs cloudasset.assets.searchAllResources on " + scope + ")")
            else:
                raise CannotRun(f"gcloud asset search-all-resources --scope={scope} failed: {searched.error.message}")
        if discovery is None:
            if not wanted:
                wanted = (str(values.defaults["region"]),)
                _say(f"regions: none said which regions hold the stack; every project gets the profile's region "
                     f"{wanted[0]} (--region REGION, repeatable, to choose)")
            discovery = found.from_projects(listed(expr, "resourcemanager.projects.list"), wanted)
    finally:
        if record_dir is not None and reader.outcomes:
            written = reader.save(record_dir, {"recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds"), "discover": f"{flag} {value}"})
            _say(f"recorded {written} files into {record_dir}")
    for line in discovery.notes:
        _say(line, "warning")
    for line in discovery.left_out:
        _say(f"left out: {line}", "warning")
    if not discovery.targets:
        where = f" in {', '.join(wanted)}" if wanted else ""
        raise CannotRun((f"Cloud Asset found no VPC connector, Cloud SQL instance or Cloud Run service in {scope}{where}"
                         if source == "asset" else f"gcloud projects list --filter={expr} listed no project")
                        + ": no targets file written"
                        + ("; " + "; ".join(discovery.left_out) if discovery.left_out else ""))
    command = " ".join(["infracheck discover", f"{flag} {value}", *(f"--region {r}" for r in regions)])
    text = found.render(discovery, [f"Written by `{command}` ({_source(discovery)}).",
                                    "Each target is what `infracheck diagnose --project P --region R` judges; "
                                    "docs/fleet.md says how to edit it."])
    _loads(text)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CannotRun(f"cannot write {output}: {exc.strerror}") from None
        _say(f"wrote {len(discovery.targets)} targets to {output}")
    return ExitStatus.WARNING if discovery.left_out else ExitStatus.OK


def _number(flag: str, value: str, kind: str) -> str:
    number = value.removeprefix(f"{kind}s/")
    if not _ID.fullmatch(number):
        raise CannotRun(f"{flag} {value}: not an {kind} id; give its number (e.g. 123456789012 or "
                        f"{kind}s/123456789012; gcloud {kind}s list shows it)" if kind == "organization" else
                        f"{flag} {value}: not a folder id; give its number (e.g. 123456789012 or folders/123456789012;"
                        " gcloud resource-manager folders list shows it)")
    return number


def _expression(value: str) -> str:
    if not value.strip():
        raise CannotRun("--filter: an empty filter (e.g. --filter 'labels.team=platform')")
    if value.startswith("-"):
        raise CannotRun(f"--filter {value}: a value may not start with '-'")
    if any(ord(ch) < 32 for ch in value):
        raise CannotRun(f"--filter {value!r}: control characters are not allowed")
    return value


def _region(values: Values, raw: str) -> str:
    return str(values.check("region", raw, f"--region {raw}"))


def _check_output(output: Path, force: bool) -> None:
    if output.is_dir():
        raise CannotRun(f"--output {output}: is a folder; give a file name (e.g. targets.toml)")
    if output.exists() and not force:
        raise CannotRun(f"--output {output}: the file exists (--force replaces it)")
    if not output.parent.is_dir():
        raise CannotRun(f"--output {output}: no such folder {output.parent}")


def _source(discovery: Discovery) -> str:
    from infracheck.catalog import discover as found

    sources = {dict(t.tags).get("source") for t in discovery.targets}
    return "from Cloud Asset" if sources == {found.ASSET} else "from the project list"


def _loads(text: str) -> None:
    """The text loads as a targets file (catalog/targets.py), or this is our bug, said in one line."""
    from infracheck.catalog import targets

    with tempfile.TemporaryDirectory(prefix="infracheck-discover-") as folder:
        path = Path(folder) / "targets.toml"
        path.write_text(text, encoding="utf-8")
        try:
            targets.load(path)
        except CannotRun as exc:
            raise CannotRun(f"the targets file discovery wrote does not load ({exc}); "
                            f"{errors.REPORT_TO}") from None


def _say(line: str, level: str = "") -> None:
    click.echo(f"infracheck: {level + ': ' if level else ''}discover: {line}", err=True)
