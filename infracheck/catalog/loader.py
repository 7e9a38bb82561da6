"""Load and validate the check catalog (`commands/*.toml`) into concrete Checks.

The catalog is data: a profile of names (the stack under diagnosis,
profile.py) and one file per area (entries.py), plus the issue update's
escalation.toml (escalation.py). Loading substitutes the profile into every
command, so a substituted value is always exactly one argv token and never
reaches a shell. Everything a typo can break fails here, naming the file and
the check.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path

from infracheck import default_dir
from infracheck.catalog import entries, escalation, profile as _profile
from infracheck.model import Area, Catalog, CatalogError, Check, Dependency
from infracheck.rules.validate import validate

PROFILE_FILE = _profile.FILE
ESCALATION_FILE = escalation.FILE

__all__ = ["Catalog", "CatalogError", "default_dir", "load"]


def load(
    directory: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    profile_file: Path | None = None,
    flags: Mapping[str, str] | None = None,
) -> Catalog:
    """Read the profile and every area file; returns concrete, validated checks.

    Precedence of a profile value: `flags` (--project, --region) and
    `overrides` (--set) > `environ` (INFRACHECK_NAME) > `profile_file` > the
    catalog's profile.toml (profile.py). Every expression compiles and every
    operator exists once this returns (`rules/validate.py`), so no later stage
    meets a catalog typo.
    """
    directory = directory or default_dir()
    if not (directory / PROFILE_FILE).is_file():
        raise CatalogError(f"{directory}: no {PROFILE_FILE} (is this a catalog folder?)")
    env = os.environ if environ is None else environ
    profile, business, warnings = _profile.read(directory, profile_file, overrides or {}, env, flags or {},
                                                escalation.override)
    areas: list[tuple[int, Area]] = []
    checks: list[Check] = []
    seen_ids: set[str] = set()
    # url_map unset: the run finds it from the domains (runner/discovery.py) and loads again with it; until
    # then (list, explain) the checks read its name as a placeholder, never as the empty string.
    named = {**profile, "url_map": profile.get("url_map") or "<url_map>"} if "url_map" in profile else profile
    for path in sorted(directory.glob("*.toml")):
        if path.name in (PROFILE_FILE, ESCALATION_FILE):
            continue
        data = _profile.read_toml(path)
        area_order, area, api = entries.read_area(path, data)
        areas.append((area_order, area))
        for raw in data.get("check", []):
            if not isinstance(raw, dict):
                raise CatalogError(f"{path.name}: [[check]] entries must be tables")
            check_id = entries.require(path, raw, "id", "check")
            if check_id in seen_ids:
                raise CatalogError(f"{path.name}: check '{check_id}' is defined twice")
            seen_ids.add(check_id)
            checks.extend(entries.expand(path, area, api, raw, named))
        unknown = set(data) - {"area", "check"}
        if unknown:
            raise CatalogError(f"{path.name}: unknown top-level key(s) {sorted(unknown)}")
    entries.same_shape_per_command(checks)
    ordered = tuple(a for _, a in sorted(areas, key=lambda pair: pair[0]))
    rank = {a.id: i for i, a in enumerate(ordered)}
    checks.sort(key=lambda c: rank[c.area])
    validate(checks)
    return Catalog(profile=profile, areas=ordered, checks=_link(checks),
                   escalation=escalation.read(directory / ESCALATION_FILE, named, business), warnings=warnings)


def _link(checks: list[Check]) -> tuple[Check, ...]:
    """Point every dependency at the checks its rules belong to; a pattern that matches no rule is an error."""
    owners: dict[str, str] = {}
    for check in checks:
        owners.update({rule.id: check.id for rule in check.rules})
        if check.missing is not None:
            owners[f"{check.id}.exists"] = check.id

    def link(deps: tuple[Dependency, ...], where: str) -> tuple[Dependency, ...]:
        linked = []
        for dep in deps:
            found = {owners[r] for pattern in dep.on for r in owners if fnmatch.fnmatchcase(r, pattern)}
            for pattern in dep.on:
                if not any(fnmatch.fnmatchcase(r, pattern) for r in owners):
                    raise CatalogError(f"{where}: depends_on '{pattern}' matches no rule of the catalog")
            linked.append(dataclasses.replace(dep, checks=tuple(sorted(found))))
        return tuple(linked)

    result = []
    for check in checks:
        where = f"check '{check.id}'"
        rules = tuple(
            r if r.depends_on is None else dataclasses.replace(r, depends_on=link(r.depends_on, f"{where} rule '{r.id}'"))
            for r in check.rules
        )
        not_judged = check.not_judged and dataclasses.replace(
            check.not_judged, depends_on=link(check.not_judged.depends_on, f"{where} not_judged"))
        result.append(dataclasses.replace(check, rules=rules, depends_on=link(check.depends_on, where),
                                          not_judged=not_judged))
    return tuple(result)
