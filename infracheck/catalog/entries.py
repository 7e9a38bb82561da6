"""The catalog's entries: an area file's [area] and its [[check]] tables into concrete Checks.

Each check is expanded once per `foreach` item with the profile substituted
(templates.py), and every key is checked: a typo fails here, naming the file
and the check.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infracheck.catalog import monitoring
from infracheck.catalog.templates import RUNTIME_NAMES, Substituter
from infracheck.model import (
    JSON_TYPES, Area, CatalogError, Category, Check, Dependency, Fix, Missing, NotJudged, Rule, Severity, Shape,
)

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
_RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)+$")


def read_area(path: Path, data: dict[str, Any]) -> tuple[int, Area, str]:
    raw = data.get("area")
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: missing [area] table")
    _no_unknown(path, raw, _AREA_KEYS, "[area]")
    area = Area(
        id=require(path, raw, "id", "[area]"),
        title=require(path, raw, "title", "[area]"),
        ok=require(path, raw, "ok", "[area]"),
        fail=require(path, raw, "fail", "[area]"),
        summary=raw.get("summary", ""),
        missing=raw.get("missing", ""),
    )
    return int(raw.get("order", 99)), area, raw.get("api", "")


def expand(
    path: Path, area: Area, api: str, raw: dict[str, Any], profile: Mapping[str, Any]
) -> list[Check]:
    check_id = require(path, raw, "id", "check")
    where = f"check '{check_id}'"
    _no_unknown(path, raw, _CHECK_KEYS, where)
    if not _RULE_ID.match(check_id) or not check_id.startswith(area.id + "."):
        raise CatalogError(f"{path.name}: {where}: id must be '{area.id}.<slug>'")
    tokens = _tokens(path, where, require(path, raw, "command", where))
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
        sub = Substituter(path, where, ctx)
        rules = tuple(_rule(path, check_id, r, sub) for r in rules_raw)
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise CatalogError(f"{path.name}: {where}: duplicate rule id")
        missing = None
        m = _subtable(path, raw, "missing", _MISSING_KEYS, where)
        if m is not None:
            missing = Missing(
                severity=_severity(path, where, m.get("severity", "critical")),
                message=sub.text(require(path, m, "message", f"{where} missing")),
                remedy=sub.text(m.get("remedy", "")),
            )
        not_judged = None
        nj = _subtable(path, raw, "not_judged", _NOT_JUDGED_KEYS, where)
        if nj is not None:
            not_judged = NotJudged(
                path=sub.jmespath(require(path, nj, "path", f"{where} not_judged")),
                message=sub.text(require(path, nj, "message", f"{where} not_judged"), runtime=True),
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
            if source[:2] == monitoring.QUERY:
                try:
                    monitoring.parse(source)
                except monitoring.QueryError as exc:
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


def same_shape_per_command(checks: Iterable[Check]) -> None:
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


def _rule(path: Path, check_id: str, raw: dict[str, Any], sub: Substituter) -> Rule:
    rule_id = require(path, raw, "id", f"check '{check_id}' rule")
    where = f"check '{check_id}' rule '{rule_id}'"
    _no_unknown(path, raw, _RULE_KEYS, where)
    if not _RULE_ID.match(rule_id):
        raise CatalogError(f"{path.name}: {where}: id must look like 'area.slug'")
    op = require(path, raw, "op", where)
    value = raw.get("value")
    return Rule(
        id=rule_id,
        path=sub.jmespath(require(path, raw, "path", where)),
        op=op,
        value=sub.value(value) if value is not None else None,
        # A severity may come from the profile: severity = "{log_finding_severity}".
        severity=_severity(path, where, sub.text(str(raw.get("severity", "critical")))),
        message=sub.text(require(path, raw, "message", where), runtime=True),
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


def _fix(path: Path, where: str, raw: Any, sub: Substituter) -> Fix:
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


def _dependencies(path: Path, where: str, raw: Any, sub: Substituter) -> tuple[Dependency, ...]:
    """`depends_on = [{ on = ["vpc.state"], resource = "<JMESPath>" }, ...]`; `on` may be one string."""
    if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
        raise CatalogError(f"{path.name}: {where}: depends_on must be a list of tables {{ on = [...], resource = ... }}")
    deps = []
    for entry in raw:
        _no_unknown(path, entry, _DEPENDENCY_KEYS, f"{where} depends_on")
        on = require(path, entry, "on", f"{where} depends_on")
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


def require(path: Path, raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] in ("", None):
        raise CatalogError(f"{path.name}: {where}: missing '{key}'")
    return raw[key]


def _subtable(path: Path, raw: Mapping[str, Any], key: str, allowed: set[str], where: str) -> Mapping[str, Any] | None:
    """A check's optional table (`missing`, `not_judged`), its keys checked; None when absent."""
    if key not in raw:
        return None
    table = raw[key]
    if not isinstance(table, dict):
        raise CatalogError(f"{path.name}: {where}: '{key}' must be a table")
    _no_unknown(path, table, allowed, f"{where} {key}")
    return table


def _no_unknown(path: Path, raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogError(f"{path.name}: {where}: unknown key(s) {sorted(unknown)}")
