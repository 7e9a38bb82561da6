"""The typed JMESPath dialect: the only importer of `jmespath`.

Rules, `select`/`when`/`detail`, the journey's `expect`/`wait_for` and fix
mode's `vars` all evaluate here. Stock JMESPath raises a bare TypeError on
`5 > "5"`, yields null on `5 > true` and names no field when a function gets
the wrong type; this interpreter raises values.Mistyped naming the field.
A few functions cover what gcloud's JSON needs and JMESPath lacks: base64
payloads, resource paths, set difference, a log line cut short with its
secrets redacted, times as of the run's clock (`as_of`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import datetime as dt
import functools
import json
import math
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath import functions, visitor

from infracheck import redact, timeutil
from infracheck.rules import monitoring, watching
from infracheck.model import CatalogError
from infracheck.rules.values import TYPE_WORDS, Mistyped, covers, expression_text, is_number, item_name, kind_of, number, preview


# The time the check being evaluated is judged as of, for since() and age_minutes().
_NOW: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("infracheck_now", default=None)


@contextlib.contextmanager
def as_of(now: dt.datetime) -> Iterator[None]:
    """Evaluate as of `now` (the run's clock: a replay judges as of its recording)."""
    token = _NOW.set(now)
    try:
        yield
    finally:
        _NOW.reset(token)


def _age(timestamp: str | None) -> dt.timedelta | None:
    if not timestamp:
        return None
    try:
        when = timeutil.parse_rfc3339(timestamp)
    except ValueError:
        return None
    return (_NOW.get() or dt.datetime.now(dt.timezone.utc)) - when


class _Functions(functions.Functions):
    """Extra JMESPath functions; each returns null rather than raising on bad input (b64decode says why it cannot decode)."""

    @functions.signature({"types": ["string", "null"]})
    def _func_b64decode(self, value: str | None) -> str | None:
        # Secret Manager payloads are base64; gcloud re-encodes them urlsafe. A
        # payload that does not decode to text cannot be judged: the rule says
        # why (a could-not-check), never "does not match" or "whitespace".
        if value is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError):
            raise Mistyped(value, "base64", problem="is not valid base64") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Mistyped(value, "base64 of UTF-8 text",
                            problem="decodes to bytes that are not UTF-8 text (binary data)") from None

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
        result: float = 1
        for v in values:
            result = number(v) * result
        if isinstance(result, float) and not math.isfinite(result):
            raise Mistyped(values, "numbers whose product is finite")
        return result

    @functions.signature({"types": []})
    def _func_to_number(self, value: Any) -> float | None:
        # JMESPath's to_number turns "abc" (and "nan", "inf") into a number or
        # null silently; an annotation that is not a number is a document to
        # report, not a value to judge as zero.
        return None if value is None else number(value)

    @functions.signature({"types": ["array", "null"]}, {"types": ["string"]})
    def _func_covers(self, names: list[Any] | None, host: str) -> bool:
        return covers(names or [], host)

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
        return None if age is None else timeutil.duration(age)

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

    # --- Cloud Monitoring: alert policies and uptime checks (watching.py), time series (monitoring.py) ---

    @functions.signature({"types": ["array", "null"]}, {"types": ["object"]}, {"types": ["array"]})
    def _func_alert_gap(self, policies: list[Any] | None, wanted: dict[str, Any], required: list[Any]) -> str | None:
        # null when an enabled policy with a channel watches the series `wanted` names (and its filter names
        # each key of `required`); else what is missing.
        return watching.gap(policies, {str(k): str(v) for k, v in wanted.items() if v is not None},
                            [str(k) for k in required])

    @functions.signature({"types": ["array", "null"]}, {"types": ["string"]})
    def _func_uptime_checks(self, configs: list[Any] | None, url: str) -> list[Any]:
        return watching.uptime_checks(configs, url)  # the uptime checks (UptimeCheckConfig) that probe this URL

    @functions.signature({"types": ["array", "null"]})
    def _func_values(self, series: list[Any] | None) -> list[float]:
        return monitoring.values(series)

    @functions.signature({"types": ["array-number"]}, {"types": ["number", "string"]})
    def _func_count_at_least(self, found: list[float], limit: Any) -> int:
        return monitoring.count_at_least(found, limit)

    @functions.signature({"types": ["number", "null"]}, {"types": ["number", "string", "null"]})
    def _func_percent(self, part: float | None, whole: Any) -> float | None:
        return monitoring.percent(part, whole)

    @functions.signature({"types": ["array-number"]}, {"types": ["number"]})
    def _func_percentile(self, found: list[float], rank: float) -> float | None:
        return monitoring.percentile(found, rank)

    @functions.signature({"types": ["number", "null"]}, {"types": ["array"]})
    def _func_step(self, value: float | None, table: list[Any]) -> Any:
        return monitoring.step(value, table)

    @functions.signature({"types": ["string", "null"]})
    def _func_tier_memory_gb(self, tier: str | None) -> float | None:
        return monitoring.tier_memory_gb(tier) if tier else None

    @functions.signature({"types": ["array", "null"]})
    def _func_fit(self, series: list[Any] | None) -> dict[str, Any] | None:
        return monitoring.fit(series or [])

    @functions.signature({"types": ["object", "null"]}, {"types": ["number", "string", "null"]})
    def _func_days_until(self, fitted: dict[str, Any] | None, limit: Any) -> float | None:
        return monitoring.days_until(fitted, limit)


_FUNCTIONS = _Functions()


_OPTIONS = jmespath.Options(custom_functions=_FUNCTIONS)




class _Interpreter(visitor.TreeInterpreter):
    """JMESPath evaluation that raises Mistyped, naming the field, instead of guessing.

    Stock jmespath raises a bare TypeError on `5 > "5"`, yields null (so a
    filter silently drops the item) on `5 > true`, and names no field when a
    function gets the wrong type.
    """

    def visit_comparator(self, node: Any, value: Any) -> Any:
        if node["value"] in ("eq", "ne"):
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        if left is None or right is None:
            return None  # absence is the rule's business (`|| default`, if_absent)
        if is_number(left) and is_number(right) or isinstance(left, str) and isinstance(right, str):
            return self.COMPARATOR_FUNC[node["value"]](left, right)
        bad = 1 if is_number(left) else 0  # ordering is for numbers: the side that is not one
        sides, values = node["children"], (left, right)
        if sides[bad]["type"] == "literal" and sides[1 - bad]["type"] != "literal":
            # `count > '5'`: the field is what the reader knows, the literal is what is off.
            raise Mistyped(values[1 - bad], f"{kind_of(values[bad])} to compare with {preview(values[bad])}",
                            _field(sides[1 - bad], value))
        raise Mistyped(values[bad], "a number", _field(sides[bad], value))

    def visit_function_expression(self, node: Any, value: Any) -> Any:
        args = [self.visit(child, value) for child in node["children"]]
        try:
            return _FUNCTIONS.call_function(node["value"], args)
        except jmespath.exceptions.JMESPathTypeError as exc:
            types = list(exc.expected_types)
            if not any(arg is exc.current_value for arg in args):
                # an element of a list argument (array-number): name the element's type
                types = [t.removeprefix("array-") for t in types]
            expected = " or ".join(TYPE_WORDS.get(t, t) for t in types)
            field = _culprit(node["children"], args, exc.current_value, value)
            raise Mistyped(exc.current_value, expected, field) from None
        except Mistyped as exc:
            if not exc.field:
                exc.field = _culprit(node["children"], args, exc.value, value) or expression_text(node)
            raise

    def visit_filter_projection(self, node: Any, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        collected = []
        for element in base:
            try:
                keep = _truthy(self.visit(node["children"][2], element))
                current = self.visit(node["children"][1], element) if keep else None
            except Mistyped as exc:
                exc.item = exc.item or item_name(element, base)
                raise
            if current is not None:
                collected.append(current)
        return collected


def _truthy(value: Any) -> bool:
    # JMESPath's falsy values (0 is true).
    return not (value is None or value is False or value in ("", [], {}))


@functools.lru_cache(maxsize=512)
def _parsed(expression: str) -> Any:
    return jmespath.compile(expression).parsed


def _culprit(children: list[Any], args: list[Any], bad: Any, context: Any) -> str:
    """The field (as text) of the argument that carried the bad value."""
    for child, arg in zip(children, args):
        if arg is bad:
            return _field(child, context)
    for child, arg in zip(children, args):
        if isinstance(arg, list) and any(x is bad for x in arg):
            if child["type"] == "multi_select_list":
                position = next(i for i, x in enumerate(arg) if x is bad)
                return _field(child["children"][position], context)
            return _field(child, context)
    for child in children:
        if child["type"] == "expref":  # sort_by's key: the value came from an element
            return _field(child["children"][0], None)
    return ""


def _field(node: Any, context: Any) -> str:
    """The document field an expression reads, for a message (`a || default` names a)."""
    kind = node["type"]
    if kind == "or_expression":
        left = node["children"][0]
        try:
            taken = _Interpreter(_OPTIONS).visit(left, context) if context is not None else True
        except (jmespath.exceptions.JMESPathError, Mistyped, TypeError, ValueError):
            taken = True
        return _field(left if taken not in (None, False, "", [], {}) else node["children"][1], context)
    if kind in ("and_expression", "not_expression"):
        return _field(node["children"][-1], context)
    if kind == "literal":
        return ""
    return expression_text(node)


def search(expression: str, document: Any) -> Any:
    """Evaluate; a value of the wrong type raises Mistyped naming its field."""
    return _Interpreter(_OPTIONS).visit(_parsed(expression), document)


class ExpressionError(ValueError):
    """An expression that cannot be evaluated over a document: one line, naming the field when a type is off."""


def compile_problem(expression: str) -> str | None:
    """None when the expression compiles, else JMESPath's one-line reason."""
    try:
        _parsed(expression)
    except jmespath.exceptions.JMESPathError as exc:
        return str(exc).splitlines()[0]
    return None


def query(expression: str, document: Any) -> Any:
    """search() for a caller outside the rules (the journey's assertions): every failure is an ExpressionError.

    Values are not quoted (the document may be an answer holding a token): the field and its type are.
    """
    try:
        return search(expression, document)
    except Mistyped as exc:
        raise ExpressionError(exc.describe(sensitive=True)) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise ExpressionError(str(exc).splitlines()[0]) from None


def lookup(expression: str, document: Any) -> Any:
    """Like search, but a document of the wrong shape gives None instead of raising."""
    try:
        return search(expression, document)
    except (jmespath.exceptions.JMESPathError, Mistyped):
        return None


def cannot(what: str, expression: str, exc: Exception, sensitive: bool, document: Any = None) -> str:
    """One line saying which value stopped a rule: its field, its type, what was expected."""
    if isinstance(exc, Mistyped):
        if not exc.field:
            exc.field = _field(_parsed(expression), document)
        return f"cannot {what}: {exc.describe(sensitive)}"
    if isinstance(exc, jmespath.exceptions.JMESPathError):
        return f"cannot {what}: {str(exc).splitlines()[0]}"
    # A bug of ours, not the document's: still one finding, never a traceback.
    return f"cannot {what}: internal error {type(exc).__name__}"


def check_compiles(where: str, expression: str) -> None:
    """A catalog expression that does not compile is a CatalogError naming where it is."""
    problem = compile_problem(expression)
    if problem is not None:
        raise CatalogError(f"{where}: JMESPath does not compile: {expression!r}: {problem}")
