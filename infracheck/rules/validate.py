"""What the catalog asks of its rules before anything runs, and which items a rule judges.

`validate` compiles every expression and checks every operator and its value
once, at load time, so no later stage meets a catalog typo; `applies` says
whether a rule with `when` judges a foreach item (the listing and evaluation ask).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from infracheck.model import CatalogError, Check, Rule
from infracheck.rules import dialect
from infracheck.rules.operators import NO_VALUE, OPERATORS, version
from infracheck.rules.values import Mistyped, number


def validate(checks: Iterable[Check]) -> None:
    """Compile every expression and check every operator, once, before anything runs."""
    seen: set[tuple[str, str]] = set()
    for check in checks:
        where = f"check '{check.id}'"
        for expr in filter(None, [check.select]):
            dialect.check_compiles(where + " select", expr)
        if check.not_judged is not None:
            dialect.check_compiles(where + " not_judged", check.not_judged.path)
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
            if rule.op not in NO_VALUE and rule.value is None:
                raise CatalogError(f"{rwhere}: operator '{rule.op}' needs a 'value'")
            if rule.op == "regex":
                try:
                    re.compile(rule.value)
                except re.error as exc:
                    raise CatalogError(f"{rwhere}: regex does not compile: {exc}") from None
            _check_value(rwhere, rule)
            if check.sensitive and "{actual}" in rule.message + rule.title:
                raise CatalogError(f"{rwhere}: a sensitive check may not print {{actual}}")
            dialect.check_compiles(rwhere + " path", rule.path)
            if rule.when:
                dialect.check_compiles(rwhere + " when", rule.when)
            if rule.fix is not None:
                expressions = [("when", rule.fix.when or "")] + list(rule.fix.vars)
                for name, expr in expressions:
                    if expr:
                        dialect.check_compiles(f"{rwhere} fix {name}", expr)
                if check.sensitive and "{actual}" in rule.fix.changes + " ".join(rule.fix.argv):
                    raise CatalogError(f"{rwhere}: a sensitive check's fix may not use {{actual}}")
            for dep in rule.depends_on or ():
                if dep.resource:
                    dialect.check_compiles(rwhere + " depends_on resource", dep.resource)
            if rule.detail:
                if check.sensitive:
                    raise CatalogError(f"{rwhere}: a sensitive check may not have a detail")
                dialect.check_compiles(rwhere + " detail", rule.detail)
        for dep in check.depends_on:
            if dep.resource:
                dialect.check_compiles(where + " depends_on resource", dep.resource)


def _check_value(where: str, rule: Rule) -> None:
    """A rule's own value must be what its operator compares with: the document gets the blame otherwise."""
    parse: dict[str, Callable[[Any], Any]] = {
        "gt": number, "gte": number, "lt": number, "lte": number, "days-ahead-gte": number,
        "version-gte": version,
        "cidr-eq": lambda v: ipaddress.ip_network(str(v), strict=False),
    }
    if rule.op in ("in", "not-in") and not isinstance(rule.value, list):
        raise CatalogError(f"{where}: operator '{rule.op}' needs a list value, not {rule.value!r}")
    if rule.op in parse:
        try:
            parse[rule.op](rule.value)
        except (Mistyped, ValueError):
            raise CatalogError(f"{where}: value {rule.value!r} does not suit operator '{rule.op}'") from None


def applies(rule: Rule, check: Check) -> bool:
    """A rule with `when` judges only the foreach items the condition selects."""
    return not rule.when or bool(dialect.search(rule.when, check.item))
