"""Judge documents with JMESPath rules: (Check, Outcome, now) -> [Finding].

Every expression goes through the typed dialect (dialect.py), every
comparison through operators.py; a document of another shape than the check
declares, or a value of the wrong type, is a finding that says so (an error),
never a crash and never a PASS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from infracheck import timeutil
from infracheck.model import (
    Category, Check, CommandError, Dependency, ErrorKind, Finding, Need, NotJudged, Outcome, Rule, Status,
)
from infracheck.rules import dialect
from infracheck.rules.dialect import search
from infracheck.rules.operators import NEEDS_NOW, NO_VALUE, OPERATORS
from infracheck.rules.shapes import shape_problem
from infracheck.rules.validate import applies
from infracheck.rules.values import display, reportable


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
    with dialect.as_of(now):
        return _evaluate(check, outcome, skipped, extras or {}, now)


def _evaluate(
    check: Check,
    outcome: Outcome,
    skipped: frozenset[str],
    extras: Mapping[tuple[str, ...], Outcome],
    now: dt.datetime,
) -> list[Finding]:
    if outcome.error is not None:
        # Compute's 404 for the project itself is not this resource missing: nothing could be checked.
        if (outcome.error.kind is ErrorKind.NOT_FOUND and check.missing is not None
                and not outcome.error.project_gone):
            return [_missing(check)]
        if outcome.error.kind is ErrorKind.NOT_RECORDED:
            return [_not_judged(check, NotJudged("", outcome.error.message[:1].upper() + outcome.error.message[1:]), None)]
        return [_error(check, outcome.error)]
    document = outcome.document
    if check.shape is not None:
        problem = shape_problem(check.shape, document)
        if problem:
            return [_error(check, CommandError(
                ErrorKind.INVALID_JSON, f"unexpected document from `{_command(check.argv)}`: {problem}"))]
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
        try:
            if check.select:
                document["resource"] = search(check.select, document)
            selected = document["resource"]
            reason = search(check.not_judged.path, document) if check.not_judged is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure here is the document's, reported once
            return [_error(check, CommandError(ErrorKind.INVALID_JSON, dialect.cannot("select", check.select or "", exc, check.sensitive)))]
    else:
        try:
            if check.select:
                document = search(check.select, document)
            selected = document
            reason = search(check.not_judged.path, document) if check.not_judged is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure here is the document's, reported once
            return [_error(check, CommandError(ErrorKind.INVALID_JSON, dialect.cannot("select", check.select or "", exc, check.sensitive)))]
    if check.not_judged is not None and reason not in (None, False, "", [], {}):
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


def _judge(check: Check, rule: Rule, document: Any, now: dt.datetime,
           context: Mapping[str, Any] | None = None) -> Finding:
    try:
        actual = search(rule.path, document)
        if actual is None and rule.if_absent == "pass":
            ok = True
        else:
            operator = OPERATORS[rule.op]
            ok = operator(actual, rule.value, now) if rule.op in NEEDS_NOW else operator(actual, rule.value)
    except Exception as exc:  # noqa: BLE001 - one rule that cannot be judged never stops the run
        message = dialect.cannot(f"judge {rule.id}", rule.path, exc, check.sensitive, document)
        return _error(check, CommandError(ErrorKind.INVALID_JSON, message), rule.id)
    shown = None if check.sensitive else reportable(actual)
    expected = rule.expected or _describe_expected(rule)
    said = _date_of(shown) if rule.op in NEEDS_NOW else shown
    message = _fill(rule.title if ok and rule.title else rule.message, said, rule, expected)
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
    # None also where it cannot be read, e.g. join() over a condition without a message: nothing stated.
    found = dialect.lookup(expression, {**context, "item": check.item, "document": document, "actual": actual})
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
            # None where a document of another shape names nothing to depend on.
            found = dialect.lookup(dep.resource, {"item": check.item, "document": document, "actual": actual})
            names = found if isinstance(found, list) else [found]
        needs += [Need(dep.on, str(name), dep.checks) for name in names if isinstance(name, str) and name]
    return tuple(needs)


def _command(argv: tuple[str, ...]) -> str:
    """The command as a person would recognise it: its words, without the flags."""
    return " ".join(a for a in argv if not a.startswith("--"))


def _date_of(value: Any) -> Any:
    """A time a message states as its day, as written ("expires 2026-11-20"); `actual` keeps the instant."""
    if isinstance(value, str):
        try:
            return timeutil.parse_rfc3339(value).date().isoformat()
        except ValueError:
            pass
    return value


def _fill(template: str, actual: Any, rule: Rule, expected: str) -> str:
    for name, val in (("actual", display(actual)), ("value", display(rule.value)), ("expected", expected)):
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
        message=not_judged.message.replace("{actual}", display(reason)),
        actual=reason,
        expected="not judged",
        remedy=not_judged.remedy.replace("{actual}", display(reason)),
        needs=_needs(check, not_judged.depends_on, None, reason),
    )


def _error(check: Check, error: CommandError, rule_id: str | None = None) -> Finding:
    remedy = ""
    if error.kind is ErrorKind.PERMISSION_DENIED and check.role:
        remedy = f"Grant {check.role} to the account running infracheck: {check.grant_role(check.project())}"
    elif error.kind is ErrorKind.API_DISABLED and check.api:
        remedy = check.enable_api(check.project())
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
    if rule.op in NO_VALUE:
        return rule.op
    return f"{rule.op} {display(rule.value)}"
