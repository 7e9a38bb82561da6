"""Load and validate the check catalog (`commands/*.toml`) into concrete Checks.

The catalog is data: a profile of names (the stack under diagnosis) and one
file per area. Loading substitutes the profile into every command, so a
substituted value is always exactly one argv token and never reaches a shell.
Everything a typo can break fails here, naming the file and the check.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import ipaddress
import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infracheck import default_dir, escalation, metrics
from infracheck import rules as _rules
from infracheck.environment import PREFIX as ENV_PREFIX
from infracheck.environment import VARIABLES  # INFRACHECK_* that are not profile names
from infracheck.model import (
    JSON_TYPES, Area, Catalog, CatalogError, Category, Check, Dependency, Escalation, Fix, Missing, NotJudged, Rule,
    Severity, Shape,
)

PROFILE_FILE = "profile.toml"
ESCALATION_FILE = "escalation.toml"  # the issue update's data (plan section 4), not an area

# Profile names whose values never reach an argv and are validated by their
# own engine (the journey's JMESPath and JSON bodies hold spaces by nature).
OWN_VALIDATION = frozenset({"journey"})

# Profile names whose command-line flag is spelled otherwise.
_FLAG_OF = {"metrics_window": "window"}

# Names a message may use that are only known once a rule has been judged.
RUNTIME_NAMES = frozenset({"actual", "value", "expected"})

_AREA_KEYS = {"id", "order", "title", "ok", "fail", "summary", "missing", "api"}
_CHECK_KEYS = {
    "id", "title", "why", "command", "foreach", "select", "missing", "sensitive",
    "role", "rule", "resource", "with", "class", "depends_on", "context", "not_judged", "shape",
}
_SHAPE_KEYS = {"type", "required"}
_SHAPE_KINDS = ("object", "list")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_/.-]*$")
_RULE_KEYS = {
    "id", "title", "why", "path", "op", "value", "severity", "message", "remedy",
    "when", "expected", "if_absent", "fix", "class", "depends_on", "detail",
}
_FIX_KEYS = {"command", "auto", "wait", "when", "manual", "changes", "requires", "vars"}
# A value fix mode puts on a gcloud command line from a document: one plain token.
_VAR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MISSING_KEYS = {"severity", "message", "remedy"}
_DEPENDENCY_KEYS = {"on", "resource"}
_NOT_JUDGED_KEYS = {"path", "message", "remedy", "depends_on"}
_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
# `{services:or}`: a list as the alternatives of a Cloud Logging filter,
# '"a" OR "b"' (each value one quoted string).
_OR_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):or\}")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)+$")


__all__ = ["Catalog", "CatalogError", "Values", "default_dir", "load", "values"]


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
    catalog's profile.toml. Every value, whatever its source, goes through the
    same checks, and a refusal names that source (file and key, flag, or
    variable). Every expression compiles and every operator exists once this
    returns (`rules.validate`), so no later stage meets a catalog typo.
    """
    directory = directory or default_dir()
    if not (directory / PROFILE_FILE).is_file():
        raise CatalogError(f"{directory}: no {PROFILE_FILE} (is this a catalog folder?)")
    builtin = directory / PROFILE_FILE
    defaults, spec = _read_profile(builtin)
    retired = defaults.pop("retired", {})
    if not isinstance(retired, dict):
        raise CatalogError(f"{PROFILE_FILE}: [retired] must be a table of name = what replaced it")
    env = os.environ if environ is None else environ
    _refuse_retired(retired, profile_file, overrides or {}, env)
    profile: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def accept(name: str, raw: Any, origin: str) -> None:
        profile[name] = _coerce(name, raw, defaults[name], origin)
        origins[name] = origin

    for name, value in defaults.items():
        accept(name, value, f"{builtin.name}: {name}")
    business: dict[str, Any] = {}
    if profile_file is not None:
        extra, extra_spec = _read_profile(profile_file, known=defaults)
        business = _escalation_override(profile_file, extra.pop("escalation", {}))
        spec.update(extra_spec)
        for name, value in extra.items():
            accept(name, value, f"{profile_file}: {name}")
    for name in defaults:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            accept(name, raw, f"${ENV_PREFIX}{name.upper()}")
    given = [(f"--set {name}", name, raw) for name, raw in (overrides or {}).items()]
    given += [(f"--{_FLAG_OF.get(name, name)}", name, raw) for name, raw in (flags or {}).items()]
    for origin, name, raw in given:
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise CatalogError(f"{origin}: unknown profile name '{name}' (known: {known})")
        accept(name, raw, origin)
    for name, value in profile.items():
        if name not in OWN_VALIDATION:
            _validate_value(name, value, spec, origins[name])
    _validate_ranges(profile, origins)
    warnings = tuple(_unknown_variables(env, defaults)) + _names_of_another_project(
        profile, defaults, origins, f"{builtin.name}: "
    )

    areas: list[tuple[int, Area]] = []
    checks: list[Check] = []
    seen_ids: set[str] = set()
    # url_map unset: the run finds it from the domains (discovery.py) and loads again with it; until
    # then (list, explain) the checks read its name as a placeholder, never as the empty string.
    named = {**profile, "url_map": profile.get("url_map") or "<url_map>"} if "url_map" in profile else profile
    for path in sorted(directory.glob("*.toml")):
        if path.name in (PROFILE_FILE, ESCALATION_FILE):
            continue
        data = _read_toml(path)
        area_order, area, api = _read_area(path, data)
        areas.append((area_order, area))
        for raw in data.get("check", []):
            if not isinstance(raw, dict):
                raise CatalogError(f"{path.name}: [[check]] entries must be tables")
            check_id = _require(path, raw, "id", "check")
            if check_id in seen_ids:
                raise CatalogError(f"{path.name}: check '{check_id}' is defined twice")
            seen_ids.add(check_id)
            checks.extend(_expand(path, area, api, raw, named))
        unknown = set(data) - {"area", "check"}
        if unknown:
            raise CatalogError(f"{path.name}: unknown top-level key(s) {sorted(unknown)}")
    _same_shape_per_command(checks)
    ordered = tuple(a for _, a in sorted(areas, key=lambda pair: pair[0]))
    rank = {a.id: i for i, a in enumerate(ordered)}
    checks.sort(key=lambda c: rank[c.area])
    _rules.validate(checks)
    return Catalog(profile=profile, areas=ordered, checks=_link(checks),
                   escalation=_read_escalation(directory / ESCALATION_FILE, named, business), warnings=warnings)


@dataclasses.dataclass(frozen=True)
class Values:
    """The built-in profile's names, defaults and patterns, to check a value from elsewhere (a targets
    file) exactly as `load` checks a --set, and a profile file as `load` checks --profile."""

    defaults: Mapping[str, Any]
    spec: _Spec
    retired: Mapping[str, Any]

    def check(self, name: str, raw: Any, origin: str) -> Any:
        """`raw` in the default's type, validated; CatalogError naming `origin` otherwise."""
        if name in self.retired:
            raise CatalogError(f"{origin}: '{name}' is no longer read: {self.retired[name]}")
        if name not in self.defaults:
            raise CatalogError(f"{origin}: unknown profile name '{name}' (known: {', '.join(sorted(self.defaults))})")
        value = _coerce(name, raw, self.defaults[name], origin)
        if name not in OWN_VALIDATION:
            _validate_value(name, value, self.spec, origin)
        return value

    def check_file(self, path: Path) -> None:
        """Every value of a --profile file, as `load` would check it (its own [patterns] included)."""
        extra, extra_spec = _read_profile(path, known=self.defaults)
        extra.pop("escalation", None)  # its own schema, checked by the escalation loader on the run
        spec = _Spec(dict(self.spec.patterns), dict(self.spec.words), set(self.spec.cidr))
        spec.update(extra_spec)
        for name, raw in extra.items():
            if name in self.retired:
                raise CatalogError(f"{path}: '{name}' is no longer read: {self.retired[name]}")
            value = _coerce(name, raw, self.defaults[name], f"{path}: {name}")
            if name not in OWN_VALIDATION:
                _validate_value(name, value, spec, f"{path}: {name}")


def values(directory: Path | None = None) -> Values:
    """The checker of profile values for the catalog in `directory` (default: the built-in one)."""
    builtin = (directory or default_dir()) / PROFILE_FILE
    if not builtin.is_file():
        raise CatalogError(f"{builtin.parent}: no {PROFILE_FILE} (is this a catalog folder?)")
    defaults, spec = _read_profile(builtin)
    retired = defaults.pop("retired", {})
    return Values(defaults, spec, retired if isinstance(retired, dict) else {})


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


# --- profile ---------------------------------------------------------------

def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What valid profile values look like: a regex and its wording, and which names are CIDR ranges."""

    patterns: dict[str, str]
    words: dict[str, str]
    cidr: set[str]

    def update(self, other: "_Spec") -> None:
        self.patterns.update(other.patterns)
        self.words.update(other.words)
        self.cidr.update(other.cidr)


def _read_profile(path: Path, known: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], _Spec]:
    data = _read_toml(path)
    tables = {}
    for table in ("patterns", "describe"):
        tables[table] = data.pop(table, {})
        if not isinstance(tables[table], dict):
            raise CatalogError(f"{path.name}: [{table}] must be a table")
    cidr = data.pop("cidr", [])
    if not isinstance(cidr, list):
        raise CatalogError(f"{path.name}: 'cidr' must be a list of names")
    if known is not None:
        unknown = set(data) - set(known) - {"escalation"}
        if unknown:
            raise CatalogError(f"{path}: unknown profile name(s) {sorted(unknown)}")
    for name, pattern in tables["patterns"].items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CatalogError(f"{path.name}: pattern for '{name}' does not compile: {exc}") from None
    return dict(data), _Spec(dict(tables["patterns"]), dict(tables["describe"]), set(map(str, cidr)))


def _refuse_retired(
    retired: Mapping[str, Any],
    profile_file: Path | None,
    overrides: Mapping[str, str],
    env: Mapping[str, str],
) -> None:
    """A retired profile name is an error that says what replaced it, never silently ignored."""
    if not retired:
        return
    given: list[tuple[str, str]] = [(f"--set {n}", n) for n in overrides if n in retired]
    given += [(f"${ENV_PREFIX}{n.upper()}", n) for n in retired if ENV_PREFIX + n.upper() in env]
    if profile_file is not None:
        given += [(str(profile_file), n) for n in _read_toml(profile_file) if n in retired]
    if given:
        origin, name = given[0]
        raise CatalogError(f"{origin}: '{name}' is no longer read: {retired[name]}")


def _coerce(name: str, raw: Any, default: Any, origin: str) -> Any:
    """A value from any source in the default's type; text from a flag or the environment is parsed."""
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "0", "false", "no"):
            return raw.strip().lower() in ("1", "true", "yes")
        raise CatalogError(f"{origin}: takes true or false, not {_shown(raw)}")
    if isinstance(default, int):
        value = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", raw):
            value = int(raw)
        if value is None:
            raise CatalogError(f"{origin}: takes a whole number, not {_shown(raw)}")
        if value < 0:  # every number in the profile is a count, a size or a duration
            raise CatalogError(f"{origin}: must be 0 or more, not {value}")
        return value
    if isinstance(default, list):
        tables = bool(default) and all(isinstance(v, dict) for v in default)
        if isinstance(raw, list):
            if not default:  # an empty built-in list (e.g. journey) says nothing of its items' kind
                if not (all(isinstance(v, str) for v in raw) or all(isinstance(v, dict) for v in raw)):
                    raise CatalogError(f"{origin}: takes a list of text values or of tables, not a mix")
                return list(raw)
            if tables and not all(isinstance(v, dict) for v in raw):
                raise CatalogError(f"{origin}: takes a list of tables like the built-in profile's")
            if not tables and not all(isinstance(v, str) for v in raw):
                raise CatalogError(f"{origin}: takes a list of text values, not {_shown(raw)}")
            return list(raw)
        if isinstance(raw, str):
            if tables:
                raise CatalogError(f"{origin}: is a list of tables; set it in a --profile file instead")
            return [part.strip() for part in raw.split(",") if part.strip()]
        raise CatalogError(f"{origin}: takes a list, not {_shown(raw)}")
    if not isinstance(raw, str):
        raise CatalogError(f"{origin}: takes text, not {_shown(raw)}")
    return raw


def _shown(raw: Any) -> str:
    return f"'{raw}'" if isinstance(raw, str) else json.dumps(raw, default=str)


def _validate_value(name: str, value: Any, spec: _Spec, origin: str) -> None:
    """Refuse values that are malformed, could not exist, or would read as a flag to gcloud."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                for key, sub in item.items():
                    _validate_value(f"{name}.{key}", sub, spec, origin)
            else:
                _validate_value(name, item, spec, origin)
        return
    if not isinstance(value, str):
        return
    if value.startswith("-"):
        raise CatalogError(f"{origin}: invalid {name} '{value}': a value may not start with '-'")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise CatalogError(f"{origin}: invalid {name} {value!r}: spaces and control characters are not allowed")
    if name in spec.cidr:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise CatalogError(f"{origin}: invalid {name} '{value}': not a CIDR range (e.g. 10.8.0.0/28)") from None
    pattern = spec.patterns.get(name)
    if pattern and not re.fullmatch(pattern, value):
        words = spec.words.get(name) or f"does not have the form {name} takes"
        raise CatalogError(f"{origin}: invalid {name} '{value}': {words}")


def _validate_ranges(profile: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """A maximum may not be below its minimum (names X_max_Y and X_min_Y pair up)."""
    for high in profile:
        low = high.replace("_max_", "_min_")
        if low == high or low not in profile:
            continue
        if isinstance(profile[high], int) and isinstance(profile[low], int) and profile[high] < profile[low]:
            raise CatalogError(
                f"{origins[high]}: {high} {profile[high]} is below {low} {profile[low]} (from {origins[low]})"
            )


def _names_of_another_project(
    profile: Mapping[str, Any], defaults: Mapping[str, Any], origins: Mapping[str, str], builtin: str
) -> tuple[str, ...]:
    """Say once when another project is diagnosed with the built-in profile's resource names."""
    if profile.get("project") == defaults.get("project"):
        return ()
    names = [n for n, v in profile.items() if n not in ("project", "region") and isinstance(v, (str, list))]
    if any(not origins[n].startswith(builtin) for n in names):
        return ()  # some names were given for this stack: the user knows where names come from
    return (f"{origins['project']} {profile['project']}: resource names (connector {profile.get('connector')}, "
            f"sql_instance {profile.get('sql_instance')}, ...) still come from the built-in profile, written for "
            f"{defaults['project']}; give --profile FILE with your stack's names",)


def _unknown_variables(environ: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """Warnings for INFRACHECK_* variables that name no setting (a typo is otherwise silently ignored)."""
    known = {ENV_PREFIX + n.upper() for n in names} | set(VARIABLES)
    warnings = []
    for variable in sorted(v for v in environ if v.startswith(ENV_PREFIX) and v not in known):
        guess = difflib.get_close_matches(variable, sorted(known), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else " (see infracheck --help)"
        warnings.append(f"{variable} is not an infracheck setting and is ignored{hint}")
    return warnings


# --- the escalation ---------------------------------------------------------

def _escalation_override(path: Path, raw: Any) -> dict[str, Any]:
    """A profile's [escalation] table: its own business context in place of the plan's (escalation.toml)."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: [escalation] must be a table")
    unknown = set(raw) - escalation.OVERRIDABLE
    if unknown:
        raise CatalogError(f"{path}: [escalation] sets {sorted(unknown)}; a profile may set "
                           f"{', '.join(sorted(escalation.OVERRIDABLE))}")
    return raw


def _read_escalation(path: Path, profile: Mapping[str, Any], business: Mapping[str, Any]) -> Escalation:
    """escalation.toml is optional: a catalog without it gets no labels and a bare checklist.

    `business` (a profile's [escalation] table) replaces the file's business context key by key.
    """
    if not path.is_file() and not business:
        return Escalation(environment=str(profile.get("environment", "")))
    sub = _Substituter(path, "escalation", profile)
    try:
        data = _read_toml(path) if path.is_file() else {}
        return escalation.parse({**data, **business}, str(profile.get("environment", "")), sub.text)
    except escalation.EscalationError as exc:
        raise CatalogError(f"{path.name}: {exc}") from None


# --- areas and checks ------------------------------------------------------

def _read_area(path: Path, data: dict[str, Any]) -> tuple[int, Area, str]:
    raw = data.get("area")
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: missing [area] table")
    _no_unknown(path, raw, _AREA_KEYS, "[area]")
    area = Area(
        id=_require(path, raw, "id", "[area]"),
        title=_require(path, raw, "title", "[area]"),
        ok=_require(path, raw, "ok", "[area]"),
        fail=_require(path, raw, "fail", "[area]"),
        summary=raw.get("summary", ""),
        missing=raw.get("missing", ""),
    )
    return int(raw.get("order", 99)), area, raw.get("api", "")


def _expand(
    path: Path, area: Area, api: str, raw: dict[str, Any], profile: Mapping[str, Any]
) -> list[Check]:
    check_id = _require(path, raw, "id", "check")
    where = f"check '{check_id}'"
    _no_unknown(path, raw, _CHECK_KEYS, where)
    if not _RULE_ID.match(check_id) or not check_id.startswith(area.id + "."):
        raise CatalogError(f"{path.name}: {where}: id must be '{area.id}.<slug>'")
    tokens = _tokens(path, where, _require(path, raw, "command", where))
    extras_raw = raw.get("with", {})
    if not isinstance(extras_raw, dict):
        raise CatalogError(f"{path.name}: {where}: 'with' must be a table of name = command")
    extra_tokens = {name: _tokens(path, f"{where} with.{name}", cmd) for name, cmd in extras_raw.items()}
    context_raw = raw.get("context", {})
    if not isinstance(context_raw, dict):
        raise CatalogError(f"{path.name}: {where}: 'context' must be a table of name = command")
    context_tokens = {name: _tokens(path, f"{where} context.{name}", cmd) for name, cmd in context_raw.items()}
    rules_raw = raw.get("rule", [])
    if not isinstance(rules_raw, list) or not rules_raw and "missing" not in raw:
        raise CatalogError(f"{path.name}: {where}: needs at least one [[check.rule]] or a 'missing'")

    shape = _shape(path, where, raw["shape"]) if "shape" in raw else None
    foreach = raw.get("foreach")
    if foreach is None:
        items: list[Any] = [None]
    else:
        items = profile.get(foreach)  # type: ignore[assignment]
        if not isinstance(items, list):
            raise CatalogError(f"{path.name}: {where}: foreach '{foreach}' is not a list in the profile")

    if "class" not in raw and any("class" not in r for r in rules_raw if isinstance(r, dict)):
        raise CatalogError(
            f"{path.name}: {where}: every rule needs a class ('infrastructure' or 'configuration'), "
            "on the rule or as the check's default"
        )
    checks = []
    for item in items:
        ctx = dict(profile)
        if item is not None:
            ctx["item"] = item
        sub = _Substituter(path, where, ctx)
        rules = tuple(_rule(path, check_id, r, sub) for r in rules_raw)
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise CatalogError(f"{path.name}: {where}: duplicate rule id")
        missing = None
        if "missing" in raw:
            m = raw["missing"]
            if not isinstance(m, dict):
                raise CatalogError(f"{path.name}: {where}: 'missing' must be a table")
            _no_unknown(path, m, _MISSING_KEYS, f"{where} missing")
            missing = Missing(
                severity=_severity(path, where, m.get("severity", "critical")),
                message=sub.text(_require(path, m, "message", f"{where} missing")),
                remedy=sub.text(m.get("remedy", "")),
            )
        not_judged = None
        if "not_judged" in raw:
            nj = raw["not_judged"]
            if not isinstance(nj, dict):
                raise CatalogError(f"{path.name}: {where}: 'not_judged' must be a table")
            _no_unknown(path, nj, _NOT_JUDGED_KEYS, f"{where} not_judged")
            not_judged = NotJudged(
                path=sub.jmespath(_require(path, nj, "path", f"{where} not_judged")),
                message=sub.text(_require(path, nj, "message", f"{where} not_judged"), runtime=True),
                remedy=sub.text(nj.get("remedy", ""), runtime=True),
                depends_on=_dependencies(path, f"{where} not_judged", nj.get("depends_on", []), sub),
            )
        default_resource = "{item}" if isinstance(item, str) else ("{item.name}" if item else check_id)
        checks.append(
            Check(
                id=check_id,
                area=area.id,
                title=sub.text(raw.get("title", check_id)),
                argv=tuple(sub.text(t) for t in tokens),
                rules=rules,
                resource=sub.text(raw.get("resource", default_resource)),
                select=sub.jmespath(raw["select"]) if "select" in raw else None,
                missing=missing,
                sensitive=bool(raw.get("sensitive", False)),
                item=item,
                foreach=foreach,
                role=raw.get("role", ""),
                api=api,
                why=raw.get("why", "").strip(),
                extras=tuple((n, tuple(sub.text(t) for t in toks)) for n, toks in extra_tokens.items()),
                context=tuple((n, tuple(sub.text(t) for t in toks)) for n, toks in context_tokens.items()),
                category=_category(path, where, raw.get("class")),
                depends_on=_dependencies(path, where, raw.get("depends_on", []), sub) or (),
                not_judged=not_judged,
                shape=shape,
            )
        )
        for source in checks[-1].sources:
            if source[:2] == metrics.QUERY:
                try:
                    metrics.parse(source)
                except metrics.QueryError as exc:
                    raise CatalogError(f"{path.name}: {where}: {exc}") from None
    return checks


def _shape(path: Path, where: str, raw: Any) -> Shape:
    """`shape = { type = "object"|"list", required = { field = "string|null", ... } }`."""
    where = f"{path.name}: {where}: shape"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table like {{ type = \"object\", required = {{ state = \"string\" }} }}")
    unknown = set(raw) - _SHAPE_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)} (known: required, type)")
    kind = raw.get("type")
    if kind not in _SHAPE_KINDS:
        raise CatalogError(f"{where}: type must be 'object' or 'list', not {kind!r}")
    required = raw.get("required", {})
    if not isinstance(required, dict):
        raise CatalogError(f"{where}: required must be a table of field = \"type\"")
    fields = []
    for field, types in required.items():
        # A dotted key in TOML nests tables: `settings.tier = "string"` arrives as {settings: {tier: ...}}.
        if isinstance(types, dict):
            raise CatalogError(f"{where}: quote a dotted field: \"{field}.{next(iter(types), '')}\" = ...")
        if not _FIELD.match(field) or "" in field.split("."):
            raise CatalogError(f"{where}: {field!r} is not a field name (dotted for nested fields)")
        names = tuple(str(types).split("|")) if isinstance(types, str) else ()
        bad = [n for n in names if n not in JSON_TYPES] or ([] if names else [repr(types)])
        if bad:
            raise CatalogError(
                f"{where}: field '{field}': unknown type {', '.join(bad)} "
                f"(known: {', '.join(JSON_TYPES)}; join alternatives with |)"
            )
        fields.append((field, names))
    return Shape(kind=kind, required=tuple(fields))


def _same_shape_per_command(checks: Iterable[Check]) -> None:
    """Checks that share a command share its document, so they must expect the same shape."""
    first: dict[tuple[str, ...], Check] = {}
    for check in checks:
        other = first.setdefault(check.argv, check)
        if other.shape != check.shape:
            raise CatalogError(
                f"check '{check.id}': runs the same command as '{other.id}' but declares another "
                "shape; a command's document has one shape"
            )


def _tokens(path: Path, where: str, command: Any) -> list[str]:
    """Split like a shell would, before substitution: a value stays one token."""
    try:
        tokens = shlex.split(str(command))
    except ValueError as exc:
        raise CatalogError(f"{path.name}: {where}: command does not parse: {exc}") from None
    if not tokens or tokens[0] not in ("gcloud", "probe", "monitoring"):
        raise CatalogError(f"{path.name}: {where}: command must start with 'gcloud', 'probe' or 'monitoring'")
    return tokens


def _rule(path: Path, check_id: str, raw: dict[str, Any], sub: "_Substituter") -> Rule:
    rule_id = _require(path, raw, "id", f"check '{check_id}' rule")
    where = f"check '{check_id}' rule '{rule_id}'"
    _no_unknown(path, raw, _RULE_KEYS, where)
    if not _RULE_ID.match(rule_id):
        raise CatalogError(f"{path.name}: {where}: id must look like 'area.slug'")
    op = _require(path, raw, "op", where)
    value = raw.get("value")
    return Rule(
        id=rule_id,
        path=sub.jmespath(_require(path, raw, "path", where)),
        op=op,
        value=sub.value(value) if value is not None else None,
        # A severity may come from the profile: severity = "{log_finding_severity}".
        severity=_severity(path, where, sub.text(str(raw.get("severity", "critical")))),
        message=sub.text(_require(path, raw, "message", where), runtime=True),
        remedy=sub.text(raw.get("remedy", "")),
        title=sub.text(raw.get("title", ""), runtime=True),
        why=raw.get("why", "").strip(),
        when=raw.get("when"),
        expected=sub.text(raw.get("expected", "")),
        if_absent=_if_absent(path, where, raw.get("if_absent", "fail")),
        fix=_fix(path, where, raw["fix"], sub) if "fix" in raw else None,
        category=_category(path, where, raw.get("class")),
        depends_on=_dependencies(path, where, raw["depends_on"], sub) if "depends_on" in raw else None,
        detail=sub.jmespath(raw["detail"]) if raw.get("detail") else None,
    )


def _fix(path: Path, where: str, raw: Any, sub: "_Substituter") -> Fix:
    """A rule's fix: a gcloud command (profile values substituted now, vars at plan time)."""
    where = f"{where} fix"
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: {where}: must be a table")
    _no_unknown(path, raw, _FIX_KEYS, where)
    variables = raw.get("vars", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and _VAR_NAME.match(k) and isinstance(v, str) for k, v in variables.items()
    ):
        raise CatalogError(f"{path.name}: {where}: vars must be a table of name = JMESPath")
    late = RUNTIME_NAMES | set(variables)
    argv: tuple[str, ...] = ()
    if "command" in raw:
        tokens = _tokens(path, where, raw["command"])
        if tokens[0] != "gcloud":
            raise CatalogError(f"{path.name}: {where}: a fix runs gcloud")
        argv = tuple(sub.text(t, runtime=True, late=late) for t in tokens)
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise CatalogError(f"{path.name}: {where}: requires must be a list of rule ids")
    fix = Fix(
        argv=argv,
        auto=_flag(path, where, raw, "auto"),
        wait=_flag(path, where, raw, "wait"),
        when=sub.jmespath(raw["when"]) if "when" in raw else None,
        manual=sub.text(str(raw.get("manual", "")), runtime=True, late=late),
        changes=sub.text(str(raw.get("changes", "")), runtime=True, late=late),
        requires=tuple(requires),
        vars=tuple((k, sub.jmespath(v)) for k, v in variables.items()),
    )
    if fix.auto and not fix.argv:
        raise CatalogError(f"{path.name}: {where}: auto needs a command")
    if fix.wait and fix.argv:
        raise CatalogError(f"{path.name}: {where}: a wait has no command (it re-runs the check)")
    if not (fix.argv or fix.wait or fix.manual):
        raise CatalogError(f"{path.name}: {where}: needs a command, wait = true or a manual reason")
    return fix


def _flag(path: Path, where: str, raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise CatalogError(f"{path.name}: {where}: {key} must be true or false")
    return value


def _category(path: Path, where: str, raw: Any) -> Category | None:
    if raw is None:
        return None
    try:
        return Category(raw)
    except ValueError:
        raise CatalogError(
            f"{path.name}: {where}: class must be 'infrastructure' or 'configuration', not '{raw}'"
        ) from None


def _dependencies(path: Path, where: str, raw: Any, sub: "_Substituter") -> tuple[Dependency, ...]:
    """`depends_on = [{ on = ["vpc.state"], resource = "<JMESPath>" }, ...]`; `on` may be one string."""
    if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
        raise CatalogError(f"{path.name}: {where}: depends_on must be a list of tables {{ on = [...], resource = ... }}")
    deps = []
    for entry in raw:
        _no_unknown(path, entry, _DEPENDENCY_KEYS, f"{where} depends_on")
        on = _require(path, entry, "on", f"{where} depends_on")
        on = [on] if isinstance(on, str) else on
        if not isinstance(on, list) or not on or not all(isinstance(o, str) and o for o in on):
            raise CatalogError(f"{path.name}: {where}: depends_on 'on' must be a rule id or a list of them")
        resource = entry.get("resource")
        if resource is not None and not isinstance(resource, str):
            raise CatalogError(f"{path.name}: {where}: depends_on 'resource' must be a JMESPath string")
        deps.append(Dependency(on=tuple(on), resource=sub.jmespath(resource) if resource else None))
    return tuple(deps)


def _if_absent(path: Path, where: str, raw: Any) -> str:
    if raw not in ("pass", "fail"):
        raise CatalogError(f"{path.name}: {where}: if_absent must be 'pass' or 'fail', not '{raw}'")
    return str(raw)


def _severity(path: Path, where: str, raw: Any) -> Severity:
    try:
        return Severity[str(raw).upper()]
    except KeyError:
        raise CatalogError(f"{path.name}: {where}: severity must be 'critical' or 'warning', not '{raw}'") from None


def _require(path: Path, raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] in ("", None):
        raise CatalogError(f"{path.name}: {where}: missing '{key}'")
    return raw[key]


def _no_unknown(path: Path, raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogError(f"{path.name}: {where}: unknown key(s) {sorted(unknown)}")


class _Substituter:
    """Fills `{name}` / `{item.key}` from the profile; unknown names are errors."""

    def __init__(self, path: Path, where: str, ctx: Mapping[str, Any]):
        self.path, self.where, self.ctx = path, where, ctx

    def lookup(self, name: str) -> Any:
        head, _, key = name.partition(".")
        if head not in self.ctx:
            raise CatalogError(f"{self.path.name}: {self.where}: unknown name '{{{name}}}'")
        value = self.ctx[head]
        if key:
            if not isinstance(value, dict) or key not in value:
                raise CatalogError(f"{self.path.name}: {self.where}: unknown name '{{{name}}}'")
            value = value[key]
        return value

    def text(self, template: str, runtime: bool = False, late: frozenset[str] | set[str] = RUNTIME_NAMES) -> str:
        def repl(m: re.Match[str]) -> str:
            if runtime and m.group(1) in late:
                return m.group(0)
            value = self.lookup(m.group(1))
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

        def alternatives(m: re.Match[str]) -> str:
            value = self.lookup(m.group(1))
            # An empty list is one empty string: a filter that matches nothing, not one that matches all.
            values = (value or [""]) if isinstance(value, list) else [value]
            return " OR ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)

        return _TEMPLATE.sub(repl, _OR_TEMPLATE.sub(alternatives, template))

    def jmespath(self, template: str) -> str:
        """Substitute into a JMESPath expression, escaped for a raw string literal."""

        def repl(m: re.Match[str]) -> str:
            return str(self.lookup(m.group(1))).replace("\\", "\\\\").replace("'", "\\'")

        return _TEMPLATE.sub(repl, template)

    def value(self, raw: Any) -> Any:
        """A value that is exactly `{name}` keeps the profile's type (number, list)."""
        if isinstance(raw, str):
            whole = _TEMPLATE.fullmatch(raw)
            if whole:
                return self.lookup(whole.group(1))
            return self.text(raw)
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        return raw
