"""Judge documents with JMESPath rules: (Check, Outcome) -> [Finding].

The only importer of `jmespath`. Operators follow Cloud Custodian's value
filter where they overlap, plus what this domain needs (version at least, CIDR
equal, days ahead). A few JMESPath functions cover what gcloud's JSON needs
and JMESPath lacks: base64 payloads, resource paths, set difference, a log
line cut short with its secrets redacted.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as dt
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath import functions

from infracheck import redact
from infracheck.model import (
    CatalogError, Category, Check, CommandError, Dependency, ErrorKind, Finding, Need, NotJudged, Outcome, Rule,
    Severity, Status,
)


# The time the check being evaluated is judged as of, for since() and age_minutes().
_NOW: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("infracheck_now", default=None)


def _age(timestamp: str | None) -> dt.timedelta | None:
    if not timestamp:
        return None
    try:
        when = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (_NOW.get() or dt.datetime.now(dt.timezone.utc)) - when


def duration(delta: dt.timedelta) -> str:
    """'3 d 4 h', '1 h 50 min', '12 min': how long, to the precision a person reads."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {mins} min" if mins else f"{hours} h"
    else:
        text = f"{mins} min"
    return text if delta.total_seconds() >= 0 else f"{text} in the future"


class _Functions(functions.Functions):
    """Extra JMESPath functions; each returns null rather than raising on bad input."""

    @functions.signature({"types": ["string", "null"]})
    def _func_b64decode(self, value: str | None) -> str | None:
        # Secret Manager payloads are base64; gcloud re-encodes them urlsafe.
        if value is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "==")
            return raw.decode("utf-8")
        except (binascii.Error, ValueError):
            return None

    @functions.signature({"types": ["string", "null"]})
    def _func_basename(self, value: str | None) -> str | None:
        # Resource references come as bare names, paths or full URLs.
        return None if value is None else value.rstrip("/").rsplit("/", 1)[-1]

    @functions.signature({"types": ["array", "null"]}, {"types": ["array", "null"]})
    def _func_difference(self, left: list[Any] | None, right: list[Any] | None) -> list[Any]:
        right = right or []
        return [v for v in (left or []) if v not in right]

    @functions.signature({"types": ["string", "null"]})
    def _func_from_json(self, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None

    @functions.signature({"types": ["array-number"]})
    def _func_product(self, values: list[float]) -> float:
        # JMESPath has sum() but no multiplication (start-up window = threshold x period).
        result = 1.0
        for v in values:
            result *= v
        return int(result) if result == int(result) else result

    @functions.signature({"types": ["array", "null"]}, {"types": ["string"]})
    def _func_covers(self, names: list[Any] | None, host: str) -> bool:
        # A certificate name covers a host exactly or as a one-label wildcard
        # (*.example.com covers api.example.com, not example.com or a.b.example.com).
        host = host.lower()
        for name in names or []:
            name = str(name).lower()
            if name == host or (name.startswith("*.") and host.split(".", 1)[-1] == name[2:] and "." in host):
                return True
        return False

    @functions.signature({"types": ["string", "null"]})
    def _func_host(self, value: str | None) -> str | None:
        # The DNS name a URL is served on: what its DNS and certificate findings are about.
        if not value:
            return None
        try:
            return urllib.parse.urlsplit(value).hostname
        except ValueError:
            return None

    @functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_capture(self, value: str | None, pattern: str) -> str | None:
        # The first group of a regex: what GCP names inside a message (the secret a revision failed on).
        if value is None:
            return None
        match = re.search(pattern, value)
        return match.group(1) if match and match.groups() else None

    @functions.signature({"types": ["string", "null"]})
    def _func_since(self, timestamp: str | None) -> str | None:
        # How long ago an RFC 3339 time was, as of the run's clock: "1 h 50 min".
        age = _age(timestamp)
        return None if age is None else duration(age)

    @functions.signature({"types": ["string", "null"]})
    def _func_age_minutes(self, timestamp: str | None) -> float | None:
        # Minutes since an RFC 3339 time, as of the run's clock (negative: after it).
        age = _age(timestamp)
        return None if age is None else age.total_seconds() / 60

    @functions.signature({"types": []}, {"types": ["number"]})
    def _func_excerpt(self, value: Any, limit: float) -> str:
        # Application text (a log line) shown in a finding: its first line,
        # anything shaped like a secret redacted, cut short.
        if value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return redact.excerpt(text, int(limit))

    @functions.signature({"types": ["array", "null"]}, {"types": ["string"]}, {"types": ["array", "null"]})
    def _func_where_in(self, objects: list[Any] | None, key: str, values: list[Any] | None) -> list[Any]:
        # JMESPath cannot reach the root from inside a filter, so following a
        # reference from one list into another (the proxies a forwarding rule
        # targets, the certificates a proxy serves) needs a join: the objects
        # whose `key` is one of `values`, in the objects' order.
        wanted = values or []
        return [o for o in objects or [] if isinstance(o, dict) and o.get(key) in wanted]

    @functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_split(self, value: str | None, sep: str) -> list[str]:
        return [] if not value else value.split(sep)


_OPTIONS = jmespath.Options(custom_functions=_Functions())


def search(expression: str, document: Any) -> Any:
    return jmespath.search(expression, document, options=_OPTIONS)


def lookup(expression: str, document: Any) -> Any:
    """Like search, but a document of the wrong shape gives None instead of raising."""
    try:
        return search(expression, document)
    except jmespath.exceptions.JMESPathError:
        return None


# --- operators ---------------------------------------------------------------

def _num(value: Any) -> float:
    # int64 fields arrive as JSON strings and annotations are strings too.
    return float(value)


def _version(value: Any) -> tuple[str, tuple[int, ...]]:
    """POSTGRES_14 -> ('POSTGRES', (14,)); MYSQL_8_0_31 -> ('MYSQL', (8, 0, 31))."""
    match = re.fullmatch(r"([A-Z]+)((?:_\d+)+)", str(value))
    if not match:
        raise ValueError(f"not a database version: {value!r}")
    return match.group(1), tuple(int(p) for p in match.group(2).strip("_").split("_"))


def _version_gte(actual: Any, expected: Any) -> bool:
    engine, number = _version(actual)
    want_engine, want = _version(expected)
    return engine == want_engine and number >= want


def _cidr_eq(actual: Any, expected: Any) -> bool:
    return ipaddress.ip_network(str(actual), strict=False) == ipaddress.ip_network(str(expected), strict=False)


def _days_ahead_gte(actual: Any, expected: Any, now: dt.datetime) -> bool:
    when = dt.datetime.fromisoformat(str(actual).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - now).total_seconds() >= float(expected) * 86400


def _empty(actual: Any) -> bool:
    return actual in (None, "", [], {})


# Each takes (actual, value); those in _NEEDS_NOW also the time the run is judged as of.
OPERATORS: dict[str, Callable[..., bool]] = {
    "eq": lambda a, v: a == v,
    "ne": lambda a, v: a != v,
    "in": lambda a, v: a in v,
    "not-in": lambda a, v: a not in v,
    "gt": lambda a, v: _num(a) > _num(v),
    "gte": lambda a, v: _num(a) >= _num(v),
    "lt": lambda a, v: _num(a) < _num(v),
    "lte": lambda a, v: _num(a) <= _num(v),
    "regex": lambda a, v: isinstance(a, str) and re.search(v, a) is not None,
    "contains": lambda a, v: a is not None and v in a,
    "present": lambda a, v: a is not None,
    "absent": lambda a, v: a is None,
    "empty": lambda a, v: _empty(a),
    "not-empty": lambda a, v: not _empty(a),
    "true": lambda a, v: a is True or a == "true" or a == "True",
    "version-gte": _version_gte,
    "cidr-eq": _cidr_eq,
    "days-ahead-gte": _days_ahead_gte,
}
_NO_VALUE = {"present", "absent", "empty", "not-empty", "true"}
_NEEDS_NOW = {"days-ahead-gte"}


def validate(checks: Iterable[Check]) -> None:
    """Compile every expression and check every operator, once, before anything runs."""
    seen: set[tuple[str, str]] = set()
    for check in checks:
        where = f"check '{check.id}'"
        for expr in filter(None, [check.select]):
            _compile(where + " select", expr)
        if check.not_judged is not None:
            _compile(where + " not_judged", check.not_judged.path)
        for rule in check.rules:
            key = (check.id, rule.id)
            if key in seen:
                continue
            seen.add(key)
            rwhere = f"{where} rule '{rule.id}'"
            if rule.op not in OPERATORS:
                raise CatalogError(
                    f"{rwhere}: unknown operator '{rule.op}' (known: {', '.join(sorted(OPERATORS))})"
                )
            if rule.op not in _NO_VALUE and rule.value is None:
                raise CatalogError(f"{rwhere}: operator '{rule.op}' needs a 'value'")
            if rule.op == "regex":
                try:
                    re.compile(rule.value)
                except re.error as exc:
                    raise CatalogError(f"{rwhere}: regex does not compile: {exc}") from None
            if check.sensitive and "{actual}" in rule.message + rule.title:
                raise CatalogError(f"{rwhere}: a sensitive check may not print {{actual}}")
            _compile(rwhere + " path", rule.path)
            if rule.when:
                _compile(rwhere + " when", rule.when)
            if rule.fix is not None:
                expressions = [("when", rule.fix.when or "")] + list(rule.fix.vars)
                for name, expr in expressions:
                    if expr:
                        _compile(f"{rwhere} fix {name}", expr)
                if check.sensitive and "{actual}" in rule.fix.changes + " ".join(rule.fix.argv):
                    raise CatalogError(f"{rwhere}: a sensitive check's fix may not use {{actual}}")
            for dep in rule.depends_on or ():
                if dep.resource:
                    _compile(rwhere + " depends_on resource", dep.resource)
            if rule.detail:
                if check.sensitive:
                    raise CatalogError(f"{rwhere}: a sensitive check may not have a detail")
                _compile(rwhere + " detail", rule.detail)
        for dep in check.depends_on:
            if dep.resource:
                _compile(where + " depends_on resource", dep.resource)


def _compile(where: str, expression: str) -> None:
    try:
        jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        message = str(exc).splitlines()[0]
        raise CatalogError(f"{where}: JMESPath does not compile: {expression!r}: {message}") from None


# --- evaluation --------------------------------------------------------------

def evaluate(
    check: Check,
    outcome: Outcome,
    skipped: frozenset[str] = frozenset(),
    extras: Mapping[tuple[str, ...], Outcome] | None = None,
    *,
    now: dt.datetime | None = None,
) -> list[Finding]:
    """Judge one check against the outcome of its command (and of its `with` sources).

    Dates are judged as of `now` (a replay judges as of its recording); None
    means the real time.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    token = _NOW.set(now)
    try:
        return _evaluate(check, outcome, skipped, extras or {}, now)
    finally:
        _NOW.reset(token)


def _evaluate(
    check: Check,
    outcome: Outcome,
    skipped: frozenset[str],
    extras: Mapping[tuple[str, ...], Outcome],
    now: dt.datetime,
) -> list[Finding]:
    if outcome.error is not None:
        if outcome.error.kind is ErrorKind.NOT_FOUND and check.missing is not None:
            return [_missing(check)]
        return [_error(check, outcome.error)]
    document = outcome.document
    if check.extras:
        # `select` and the rules see one document: the command's output as
        # `resource` beside each `with` source, so a selection can follow a
        # reference into another list (a proxy's certificates).
        document = {"resource": document}
        for name, argv in check.extras:
            extra = extras.get(argv)
            if extra is None or extra.error is not None:
                error = extra.error if extra is not None else None
                return [_error(check, error or CommandError(ErrorKind.API_ERROR, "source did not run"))]
            document[name] = extra.document
        if check.select:
            document["resource"] = search(check.select, document)
        selected = document["resource"]
    else:
        if check.select:
            document = search(check.select, document)
        selected = document
    if check.not_judged is not None:
        reason = search(check.not_judged.path, document)
        if reason not in (None, False, "", [], {}):
            return [_not_judged(check, check.not_judged, reason)]
    if selected is None:
        if check.missing is not None:
            return [_missing(check)]
        if check.select:
            return []  # nothing selected and no `missing`: another check reports the absence
        return [_error(check, CommandError(ErrorKind.INVALID_JSON, "the command returned no document"))]

    # A context source that failed or did not run leaves its name null: it only adds detail.
    context = {name: getattr(extras.get(argv), "document", None) for name, argv in check.context}
    findings = []
    for rule in check.rules:
        if rule.id in skipped:
            continue
        if not applies(rule, check):
            continue
        findings.append(_judge(check, rule, document, now, context))
    return findings


def applies(rule: Rule, check: Check) -> bool:
    """A rule with `when` judges only the foreach items the condition selects."""
    return not rule.when or bool(search(rule.when, check.item))


def _judge(check: Check, rule: Rule, document: Any, now: dt.datetime,
           context: Mapping[str, Any] | None = None) -> Finding:
    try:
        actual = search(rule.path, document)
    except jmespath.exceptions.JMESPathError as exc:
        # A type error inside an expression (e.g. length(null)) is the document's shape,
        # not a failure of the resource.
        return _error(check, CommandError(ErrorKind.INVALID_JSON, f"rule {rule.id}: {exc}"), rule.id)
    if actual is None and rule.if_absent == "pass":
        ok = True
    else:
        try:
            operator = OPERATORS[rule.op]
            ok = operator(actual, rule.value, now) if rule.op in _NEEDS_NOW else operator(actual, rule.value)
        except (TypeError, ValueError):
            ok = False  # a value of the wrong shape fails the rule rather than crashing the run
    shown = None if check.sensitive else actual
    expected = rule.expected or _describe_expected(rule)
    message = _fill(rule.title if ok and rule.title else rule.message, shown, rule, expected)
    return Finding(
        check=check.id,
        rule=rule.id,
        area=check.area,
        status=Status.PASS if ok else Status.FAIL,
        severity=rule.severity,
        resource=check.resource,
        message=message,
        actual=shown,
        expected=expected,
        remedy="" if ok else rule.remedy,
        category=rule.category or check.category,
        needs=() if ok else _needs(check, check.depends_on if rule.depends_on is None else rule.depends_on,
                                   document, shown),
        detail="" if ok or not rule.detail else _detail(rule.detail, check, document, shown, context or {}),
    )


def _detail(expression: str, check: Check, document: Any, actual: Any, context: Mapping[str, Any]) -> str:
    """What GCP itself says about the failure, as one line; empty when the document says nothing."""
    try:
        found = search(expression, {**context, "item": check.item, "document": document, "actual": actual})
    except jmespath.exceptions.JMESPathError:
        return ""  # e.g. join() over a condition without a message: nothing stated
    if not isinstance(found, str):
        return ""
    return " ".join(found.split())


def _needs(check: Check, deps: tuple[Dependency, ...], document: Any, actual: Any) -> tuple[Need, ...]:
    """Resolve the catalog's edges to the resources this finding depends on, from its own data."""
    needs = []
    for dep in deps:
        if dep.resource is None:
            names: list[Any] = [check.resource]
        else:
            try:
                found = search(dep.resource, {"item": check.item, "document": document, "actual": actual})
            except jmespath.exceptions.JMESPathError:
                found = None  # a document of another shape names nothing to depend on
            names = found if isinstance(found, list) else [found]
        needs += [Need(dep.on, str(name), dep.checks) for name in names if isinstance(name, str) and name]
    return tuple(needs)


def _fill(template: str, actual: Any, rule: Rule, expected: str) -> str:
    for name, val in (("actual", _display(actual)), ("value", _display(rule.value)), ("expected", expected)):
        template = template.replace("{" + name + "}", val)
    return template


def _missing(check: Check) -> Finding:
    assert check.missing is not None
    return Finding(
        check=check.id,
        rule=f"{check.id}.exists",
        area=check.area,
        status=Status.FAIL,
        severity=check.missing.severity,
        resource=check.resource,
        message=check.missing.message,
        expected="exists",
        remedy=check.missing.remedy,
        category=Category.INFRASTRUCTURE,  # a resource that does not exist
        needs=_needs(check, check.depends_on, None, None),
    )


def _not_judged(check: Check, not_judged: NotJudged, reason: Any) -> Finding:
    """What infracheck does not judge, said plainly: a skip that is shown, never counted."""
    return Finding(
        check=check.id,
        rule=f"{check.id}.not-judged",
        area=check.area,
        status=Status.SKIP,
        severity=None,
        resource=check.resource,
        message=not_judged.message.replace("{actual}", _display(reason)),
        actual=reason,
        expected="not judged",
        remedy=not_judged.remedy.replace("{actual}", _display(reason)),
    )


def _error(check: Check, error: CommandError, rule_id: str | None = None) -> Finding:
    remedy = ""
    project = next((a.split("=", 1)[1] for a in check.argv if a.startswith("--project=")), "")
    if error.kind is ErrorKind.PERMISSION_DENIED and check.role:
        remedy = (
            f"Grant {check.role} to the account running infracheck: gcloud projects "
            f"add-iam-policy-binding {project} --member=user:EMAIL --role={check.role}"
        )
    elif error.kind is ErrorKind.API_DISABLED and check.api:
        remedy = f"gcloud services enable {check.api} --project={project}"
    elif error.kind is ErrorKind.NOT_AUTHENTICATED:
        remedy = "gcloud auth login (or gcloud auth activate-service-account in CI)"
    return Finding(
        check=check.id,
        rule=rule_id or check.id,
        area=check.area,
        status=Status.ERROR,
        severity=None,
        resource=check.resource,
        message=f"{check.title}: {error.message}",
        remedy=remedy,
        needs=_needs(check, check.depends_on, None, None),
    )


def _describe_expected(rule: Rule) -> str:
    if rule.op in _NO_VALUE:
        return rule.op
    return f"{rule.op} {_display(rule.value)}"


def display(value: Any) -> str:
    """A value as a message shows it."""
    return _display(value)


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def skipped_finding(check: Check, rule: Rule) -> Finding:
    return Finding(
        check=check.id, rule=rule.id, area=check.area, status=Status.SKIP,
        severity=rule.severity, resource=check.resource, message="excluded",
    )


__all__ = ["OPERATORS", "applies", "display", "evaluate", "lookup", "search", "skipped_finding", "validate"]
