"""Discovery (issue 21): what Cloud Asset or Resource Manager answered -> targets -> a targets file's text.

Pure: gcloud's `--format=json` documents in, frozen targets and TOML text
out; runner/inventory.py reads the documents and pipeline/discover.py says
which source answered. The text is the format catalog/targets.py loads.

Cloud Asset names a resource's project by number (`project:
projects/NUMBER`), so a second document, `gcloud projects list
--filter=projectNumber:(...)`, gives the ids and labels. A target is one
(project, region) holding any of the stack's resources; its [target.set]
names the connector and the Cloud SQL instance when the region holds exactly
one of each (two are a choice for a person, never a guess), and every Cloud
Run service found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from infracheck.errors import CannotRun

# Cloud Asset's type -> the profile name its resource fills (commands/profile.toml).
ASSET_TYPES: Mapping[str, str] = {
    "vpcaccess.googleapis.com/Connector": "connector",
    "sqladmin.googleapis.com/Instance": "sql_instance",
    "run.googleapis.com/Service": "services",
}
_WHAT = {"connector": "VPC connector", "sql_instance": "Cloud SQL instance", "services": "Cloud Run service"}

ASSET = "cloud-asset"
PROJECTS = "projects-list"

_NUMBER = re.compile(r"projects/([0-9]+)")
# Cloud Asset's location is global, a region (us-east1) or a zone (us-west1-b): a zone belongs to its region.
_ZONE = re.compile(r"([a-z]+(?:-[a-z]+)+[0-9]+)-[a-z]")
_REGION = re.compile(r"[a-z]+(?:-[a-z]+)+[0-9]+")
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

Check = Callable[[str, Any], str | None]  # (profile name, value) -> why it is refused, or None


@dataclasses.dataclass(frozen=True)
class Resource:
    """One search result: which of the stack's resources, its short name, its project's number and region."""

    kind: str  # a value of ASSET_TYPES
    name: str
    project_number: str
    location: str  # as Cloud Asset says it (global, a region, a zone)

    @property
    def region(self) -> str | None:
        zone = _ZONE.fullmatch(self.location)
        if zone:
            return zone.group(1)
        return self.location if _REGION.fullmatch(self.location) else None


@dataclasses.dataclass(frozen=True)
class Project:
    """One project of `gcloud projects list` (only ACTIVE ones: gcloud adds lifecycleState:ACTIVE itself)."""

    id: str
    number: str
    labels: tuple[tuple[str, str], ...] = ()
    parent: str = ""  # "organization/123", "folder/456"


@dataclasses.dataclass(frozen=True)
class Found:
    """One target to write: as targets.Target, plus a comment saying what was found."""

    name: str
    project: str
    region: str
    settings: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    comment: str = ""


@dataclasses.dataclass(frozen=True)
class Discovery:
    """The targets, and what was found but could not become one (a fleet never shrinks silently)."""

    targets: tuple[Found, ...]
    left_out: tuple[str, ...] = ()  # whole projects or resources not written
    notes: tuple[str, ...] = ()  # a value not set, the target written without it


# --- documents -----------------------------------------------------------------------

def resources(document: Any) -> tuple[Resource, ...]:
    """The stack's resources in `gcloud asset search-all-resources --format=json` output (a list)."""
    if not isinstance(document, list):
        raise CannotRun("gcloud asset search-all-resources printed no list of results")
    found = []
    for item in document:
        if not isinstance(item, dict):
            continue
        kind = ASSET_TYPES.get(str(item.get("assetType", "")))
        number = _NUMBER.fullmatch(str(item.get("project", "")))
        full = str(item.get("name", ""))
        if kind is None or number is None or not full:
            continue  # another type, or not in a project: nothing a target could judge
        # The full resource name: //run.googleapis.com/projects/P/locations/R/services/NAME.
        found.append(Resource(kind, full.rstrip("/").rsplit("/", 1)[-1], number.group(1),
                              str(item.get("location", ""))))
    return tuple(sorted(set(found), key=lambda r: (r.project_number, r.location, r.kind, r.name)))


def projects(document: Any) -> tuple[Project, ...]:
    """The projects of `gcloud projects list --format=json` output (a list)."""
    if not isinstance(document, list):
        raise CannotRun("gcloud projects list printed no list of projects")
    found = []
    for item in document:
        if not isinstance(item, dict) or not isinstance(item.get("projectId"), str):
            continue
        labels = item["labels"] if isinstance(item.get("labels"), dict) else {}
        parent = item["parent"] if isinstance(item.get("parent"), dict) else {}
        found.append(Project(item["projectId"], str(item.get("projectNumber", "")),
                             tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                             f"{parent.get('type', '')}/{parent.get('id', '')}" if parent else ""))
    return tuple(sorted(set(found), key=lambda p: p.id))


def numbers(found: Iterable[Resource]) -> tuple[str, ...]:
    """The project numbers to look up, each once, in order."""
    return tuple(sorted({r.project_number for r in found}, key=int))


# --- targets -------------------------------------------------------------------------

def from_assets(found: Sequence[Resource], known: Sequence[Project], regions: Sequence[str] = (),
                check: Check | None = None) -> Discovery:
    """A target per (project, region) that holds any of the stack's resources; `regions`: only these."""
    by_number = {p.number: p for p in known}
    left_out: list[str] = []
    groups: dict[tuple[str, str], list[Resource]] = {}
    unmapped: dict[str, int] = {}
    for resource in found:
        region = resource.region
        if region is None or (regions and region not in regions):
            continue  # global, or another region than asked
        if resource.project_number not in by_number:
            unmapped[resource.project_number] = unmapped.get(resource.project_number, 0) + 1
            continue
        groups.setdefault((by_number[resource.project_number].id, region), []).append(resource)
    for number, count in sorted(unmapped.items(), key=lambda item: int(item[0])):
        left_out.append(f"project number {number} ({_count(count, 'resource')}): gcloud projects list does not "
                        "show it (not ACTIVE, or no resourcemanager.projects.get on it), so its id is unknown")
    ids = {p.id: p for p in known}
    places = [(ids[project], region) for project, region in sorted(groups)]
    notes: list[str] = []
    targets = []
    for (project, region), name in zip(places, _names(places)):
        settings, said = _settings(groups[(project.id, region)], check)
        notes += [f"target '{name}': {line}" for line in said]
        targets.append(Found(name, project.id, region, settings, _tags(project, region, ASSET),
                             _found(groups[(project.id, region)])))
    return Discovery(tuple(targets), tuple(left_out), tuple(notes))


def from_projects(known: Sequence[Project], regions: Sequence[str]) -> Discovery:
    """A target per project and region given: nothing says which regions hold the stack (no Cloud Asset)."""
    places = [(p, region) for p in known for region in regions]
    comment = "from the project list only: whether this region holds the stack is not known"
    return Discovery(tuple(Found(name, p.id, region, (), _tags(p, region, PROJECTS), comment)
                           for (p, region), name in zip(places, _names(places))))


def _names(places: Sequence[tuple[Project, str]]) -> list[str]:
    """The project id, with -REGION when the project has several regions; a DNS label, unique in the file.

    A project id (6-30 of a-z, 0-9, -) is already a DNS label, and with a region it stays under 63.
    """
    per_project: dict[str, int] = {}
    for project, _ in places:
        per_project[project.id] = per_project.get(project.id, 0) + 1
    names = [project.id if per_project[project.id] == 1 else f"{project.id}-{region}" for project, region in places]
    taken: dict[str, int] = {}
    for name in names:
        taken[name] = taken.get(name, 0) + 1
    # "a-us-east1" (one region) and "a" in us-east1 and another region: keep both, each told apart by a hash of
    # what it is, so the same fleet always gets the same names.
    return [name if taken[name] == 1 else _short(name, f"{project.id}/{region}")
            for name, (project, region) in zip(names, places)]


def _short(name: str, identity: str) -> str:
    digest = hashlib.sha256(identity.encode()).hexdigest()[:6]
    return f"{name[:56].rstrip('-')}-{digest}"


def _settings(found: Sequence[Resource], check: Check | None
              ) -> tuple[tuple[tuple[str, str | tuple[str, ...]], ...], list[str]]:
    settings: list[tuple[str, str | tuple[str, ...]]] = []
    said = []
    for key in ("connector", "sql_instance", "services"):
        names = sorted({r.name for r in found if r.kind == key})
        if not names:
            continue
        value: str | tuple[str, ...]
        if key == "services":
            value = tuple(names)
        elif len(names) == 1:
            value = names[0]
        else:
            said.append(f"{len(names)} {_WHAT[key]}s ({', '.join(names)}): {key} not set, choose one in "
                        f"[target.set]")
            continue
        refused = check(key, ",".join(value) if isinstance(value, tuple) else value) if check else None
        if refused:
            said.append(f"{key} not set: {refused}")
            continue
        settings.append((key, value))
    return tuple(settings), said


def _tags(project: Project, region: str, source: str) -> tuple[tuple[str, str], ...]:
    tags = {"region": region, "source": source}
    env = dict(project.labels).get("env")
    if env and _LABEL.fullmatch(env):  # a label's value may be empty; a tag's may not
        tags["env"] = env
    return tuple(sorted(tags.items()))


def _found(found: Sequence[Resource]) -> str:
    parts = []
    for key in ("connector", "sql_instance", "services"):
        count = sum(1 for r in found if r.kind == key)
        if count:
            parts.append(_count(count, _WHAT[key]))
    return "found " + ", ".join(parts)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


# --- text ------------------------------------------------------------------------------

def render(discovery: Discovery, header: Sequence[str]) -> str:
    """The targets file: `header` as comments, then one [[target]] table per target, sorted by name."""
    lines = [f"# {line}" for line in header]
    for target in sorted(discovery.targets, key=lambda t: t.name):
        lines += ["", "[[target]]"]
        if target.comment:
            lines.append(f"# {target.comment}")
        lines += [f"name = {_text(target.name)}", f"project = {_text(target.project)}",
                  f"region = {_text(target.region)}"]
        if target.tags:
            lines.append("tags = { " + ", ".join(f"{k} = {_text(v)}" for k, v in target.tags) + " }")
        if target.settings:
            lines += ["", "[target.set]"]
            for key, value in target.settings:
                shown = "[" + ", ".join(_text(v) for v in value) + "]" if isinstance(value, tuple) else _text(value)
                lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    # A TOML basic string: JSON's escapes are TOML's for these (names, regions, label values).
    return json.dumps(value, ensure_ascii=False)
