"""The operators a rule compares with: (actual, value[, now]) -> bool.

They follow Cloud Custodian's value filter where they overlap, plus what this
domain needs (version at least, CIDR equal, days ahead). A present value of
the wrong type raises values.Mistyped (the rule is not judged); an absent one
fails the rule unless its `if_absent` says otherwise.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

from infracheck import timeutil
from infracheck.rules.values import Mistyped, number


def _num(value: Any) -> float | None:
    return None if value is None else number(value)


def _ordered(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    # An absent number fails the rule (if_absent = "pass" says otherwise);
    # a present one of the wrong type is not judged at all.
    def judge(actual: Any, expected: Any) -> bool:
        found = _num(actual)
        return found is not None and compare(found, number(expected))

    return judge


def version(value: Any) -> tuple[str, tuple[int, ...]]:
    """POSTGRES_14 -> ('POSTGRES', (14,)); MYSQL_8_0_31 -> ('MYSQL', (8, 0, 31))."""
    # [0-9], not \\d: int() reads Arabic-Indic digits too, so POSTGRES_١٤ would be 14.
    match = re.fullmatch(r"([A-Z]+)((?:_[0-9]+)+)", value) if isinstance(value, str) else None
    if not match:
        raise Mistyped(value, "a database version like POSTGRES_14")
    return match.group(1), tuple(int(p) for p in match.group(2).strip("_").split("_"))


def _version_gte(actual: Any, expected: Any) -> bool:
    engine, number = version(actual)
    want_engine, want = version(expected)
    return engine == want_engine and number >= want


def _cidr_eq(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    try:
        if not isinstance(actual, str):
            raise ValueError
        network = ipaddress.ip_network(actual, strict=False)
    except ValueError:
        raise Mistyped(actual, "a CIDR range like 10.8.0.0/28") from None
    return network == ipaddress.ip_network(str(expected), strict=False)


def _days_ahead_gte(actual: Any, expected: Any, now: dt.datetime) -> bool:
    if actual is None:
        return False
    try:
        if not isinstance(actual, str):
            raise ValueError
        when = timeutil.parse_rfc3339(actual)
    except ValueError:
        raise Mistyped(actual, "an RFC 3339 time like 2027-02-14T09:12:33Z") from None
    try:
        ahead = (when - now).total_seconds()
    except OverflowError:  # year 1 or 9999 in another time zone
        ahead = -math.inf if when.year < 2000 else math.inf
    return ahead >= number(expected) * 86400


def _regex(actual: Any, pattern: Any) -> bool:
    if actual is None:
        return False
    if not isinstance(actual, str):
        raise Mistyped(actual, "a string")
    return re.search(pattern, actual) is not None


def _contains(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list) or isinstance(actual, str) and isinstance(expected, str):
        return expected in actual
    raise Mistyped(actual, "a list" if not isinstance(expected, str) else "a string or a list")


def _empty(actual: Any) -> bool:
    return actual in (None, "", [], {})


def _same(actual: Any, expected: Any) -> bool:
    # Python's True == 1: a boolean never equals a number here.
    return actual == expected and isinstance(actual, bool) == isinstance(expected, bool)


# Each takes (actual, value); those in NEEDS_NOW also the time the run is judged as of.
OPERATORS: dict[str, Callable[..., bool]] = {
    "eq": _same,
    "ne": lambda a, v: not _same(a, v),
    "in": lambda a, v: any(_same(a, x) for x in v),
    "not-in": lambda a, v: not any(_same(a, x) for x in v),
    "gt": _ordered(lambda a, v: a > v),
    "gte": _ordered(lambda a, v: a >= v),
    "lt": _ordered(lambda a, v: a < v),
    "lte": _ordered(lambda a, v: a <= v),
    "regex": _regex,
    "contains": _contains,
    "present": lambda a, v: a is not None,
    "absent": lambda a, v: a is None,
    "empty": lambda a, v: _empty(a),
    "not-empty": lambda a, v: not _empty(a),
    "true": lambda a, v: a is True or a == "true" or a == "True",
    "version-gte": _version_gte,
    "cidr-eq": _cidr_eq,
    "days-ahead-gte": _days_ahead_gte,
}


NO_VALUE = {"present", "absent", "empty", "not-empty", "true"}


NEEDS_NOW = {"days-ahead-gte"}
