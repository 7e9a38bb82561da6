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
import functools
import ipaddress
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath import functions, visitor

from infracheck import redact
from infracheck.model import (
    CatalogError, Category, Check, CommandError, Dependency, ErrorKind, Finding, Need, NotJudged, Outcome, Rule,
    Severity, Shape, Status,
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


class _Mistyped(Exception):
    """A document value of a type a rule cannot work with: the rule is not judged.

    `field` names where the value came from once known (the interpreter and
    `_judge` fill it in); `item` names the list element it was found in.
    """

    def __init__(self, value: Any, expected: str, field: str = "", item: str = "", problem: str = ""):
        super().__init__(expected)
        self.value, self.expected, self.field, self.item = value, expected, field, item
        self.problem = problem  # what is wrong, when the type alone does not say (never the value)

    def describe(self, sensitive: bool) -> str:
        got = _kind_of(self.value) if sensitive else f"{_kind_of(self.value)} ({_preview(self.value)})"
        where = f"`{self.field}`" if self.field else "the value"
        item = f" in {self.item}" if self.item else ""
        if self.problem:
            return f"{where}{item} {self.problem}"
        return f"{where}{item} is {got}, expected {self.expected}"


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
            raise _Mistyped(value, "base64", problem="is not valid base64") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Mistyped(value, "base64 of UTF-8 text",
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
            result = _number(v) * result
        if isinstance(result, float) and not math.isfinite(result):
            raise _Mistyped(values, "numbers whose product is finite")
        return result

    @functions.signature({"types": []})
    def _func_to_number(self, value: Any) -> float | None:
        # JMESPath's to_number turns "abc" (and "nan", "inf") into a number or
        # null silently; an annotation that is not a number is a document to
        # report, not a value to judge as zero.
        return None if value is None else _number(value)

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

    # --- Cloud Monitoring alert policies and uptime checks (watching.py) ---

    @functions.signature({"types": ["array", "null"]}, {"types": ["object"]}, {"types": ["array"]})
    def _func_alert_gap(self, policies: list[Any] | None, wanted: dict[str, Any], required: list[Any]) -> str | None:
        # null when an enabled policy with a channel watches the series `wanted` names (and its filter names
        # each key of `required`); else what is missing.
        from infracheck import watching

        return watching.gap(policies, {str(k): str(v) for k, v in wanted.items() if v is not None},
                            [str(k) for k in required])

    @functions.signature({"types": ["array", "null"]}, {"types": ["string"]})
    def _func_uptime_checks(self, configs: list[Any] | None, url: str) -> list[Any]:
        # The uptime checks (UptimeCheckConfig) that probe this URL.
        from infracheck import watching

        return watching.uptime_checks(configs, url)

    # --- Cloud Monitoring time series (metrics.py's documents) ---

    @functions.signature({"types": ["array", "null"]})
    def _func_values(self, series: list[Any] | None) -> list[float]:
        # Every point's value of a list of TimeSeries, as numbers, newest first
        # within each series as the API sends them: int64Value is a string in
        # JSON, doubleValue a number, an aligned distribution its mean.
        out: list[float] = []
        for one in series or []:
            for point in (one.get("points") or []) if isinstance(one, dict) else []:
                out.append(_point_value(point))
        return out

    @functions.signature({"types": ["array-number"]}, {"types": ["number", "string"]})
    def _func_count_at_least(self, values: list[float], limit: Any) -> int:
        # How many points reached a limit (a connector at its maxInstances); no limit is not judged.
        return sum(1 for v in values if v >= _number(limit))

    @functions.signature({"types": ["number", "null"]}, {"types": ["number", "string", "null"]})
    def _func_percent(self, part: float | None, whole: Any) -> float | None:
        # part as a percentage of whole, one decimal; null when either is unknown or whole is 0.
        if part is None or whole is None or _number(whole) == 0:
            return None
        return round(100 * _float(part) / _float(whole), 1)

    @functions.signature({"types": ["array-number"]}, {"types": ["number"]})
    def _func_percentile(self, values: list[float], rank: float) -> float | None:
        # Nearest-rank percentile of the window's points; null for no points.
        if not values:
            return None
        ordered = sorted(values)
        index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
        return ordered[min(index, len(ordered) - 1)]

    @functions.signature({"types": ["number", "null"]}, {"types": ["array"]})
    def _func_step(self, value: float | None, table: list[Any]) -> Any:
        # A step table [[from, result], ...] (ascending): the result of the last
        # row whose `from` is at most value (GCP's defaults by memory tier).
        if value is None:
            return None
        found = None
        for row in table:
            if not isinstance(row, list) or len(row) != 2:
                raise _Mistyped(row, "a [from, result] pair")
            if value >= _number(row[0]):
                found = row[1]
        return found

    @functions.signature({"types": ["string", "null"]})
    def _func_tier_memory_gb(self, tier: str | None) -> float | None:
        # A Cloud SQL machine tier's memory in GB (settings.tier): db-custom-CPUS-MB,
        # the shared-core db-f1-micro and db-g1-small, db-n1-standard-N and
        # db-n1-highmem-N (3.75 and 6.5 GB per vCPU); null for a tier not known here.
        return _tier_memory_gb(tier) if tier else None

    @functions.signature({"types": ["array", "null"]})
    def _func_fit(self, series: list[Any] | None) -> dict[str, Any] | None:
        # A least-squares line through the points of a series list, by day:
        # {points, per_day (growth a day), latest (the line's value at the
        # newest point)}; null for fewer than 3 points.
        return _fit(series or [])

    @functions.signature({"types": ["object", "null"]}, {"types": ["number", "string", "null"]})
    def _func_days_until(self, fitted: dict[str, Any] | None, limit: Any) -> float | None:
        # Days until a fitted line reaches limit; null when it does not grow (or nothing was fitted).
        if not fitted or limit is None:
            return None
        per_day, latest = _float(fitted.get("per_day")), _float(fitted.get("latest"))
        if per_day <= 0:
            return None
        days: float = round(max(0.0, (_float(limit) - latest) / per_day), 1)
        return days


def _float(value: Any) -> float:
    """_number as a float, for arithmetic (a share, a fit): an integer past a float's range is mistyped."""
    try:
        return float(_number(value))
    except OverflowError:
        raise _Mistyped(value, "a number within a float's range") from None


def _point_value(point: Any) -> float:
    value = point.get("value") if isinstance(point, dict) else None
    if not isinstance(value, dict):
        raise _Mistyped(point, "a point with a value")
    for key in ("int64Value", "doubleValue"):
        if key in value:
            return _number(value[key])
    if isinstance(value.get("distributionValue"), dict):
        return _number(value["distributionValue"].get("mean", 0))
    raise _Mistyped(value, "an int64Value, doubleValue or distributionValue")


_TIER_GB = {"db-f1-micro": 0.6, "db-g1-small": 1.7}
_TIER_PER_CPU_GB = {"standard": 3.75, "highmem": 6.5}


def _tier_memory_gb(tier: str) -> float | None:
    if tier in _TIER_GB:
        return _TIER_GB[tier]
    custom = re.fullmatch(r"db-(?:custom|perf-optimized-N)-([0-9]+)-([0-9]+)", tier)
    if custom:
        return int(custom.group(2)) / 1024
    n1 = re.fullmatch(r"db-n1-(standard|highmem)-([0-9]+)", tier)
    if n1:
        return _TIER_PER_CPU_GB[n1.group(1)] * int(n1.group(2))
    return None


def _fit(series: list[Any]) -> dict[str, Any] | None:
    points = []
    for one in series:
        for point in (one.get("points") or []) if isinstance(one, dict) else []:
            end = (point.get("interval") or {}).get("endTime") if isinstance(point, dict) else None
            try:
                when = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
            except ValueError:
                raise _Mistyped(end, "an RFC 3339 endTime") from None
            points.append((when.timestamp() / 86400, _float(_point_value(point))))
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    newest = max(x for x, _ in points)
    return {"points": n, "per_day": round(slope, 2), "latest": round(mean_y + slope * (newest - mean_x), 1)}


_FUNCTIONS = _Functions()
_OPTIONS = jmespath.Options(custom_functions=_FUNCTIONS)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Interpreter(visitor.TreeInterpreter):
    """JMESPath evaluation that raises _Mistyped, naming the field, instead of guessing.

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
        if _is_number(left) and _is_number(right) or isinstance(left, str) and isinstance(right, str):
            return self.COMPARATOR_FUNC[node["value"]](left, right)
        bad = 1 if _is_number(left) else 0  # ordering is for numbers: the side that is not one
        sides, values = node["children"], (left, right)
        if sides[bad]["type"] == "literal" and sides[1 - bad]["type"] != "literal":
            # `count > '5'`: the field is what the reader knows, the literal is what is off.
            raise _Mistyped(values[1 - bad], f"{_kind_of(values[bad])} to compare with {_preview(values[bad])}",
                            _field(sides[1 - bad], value))
        raise _Mistyped(values[bad], "a number", _field(sides[bad], value))

    def visit_function_expression(self, node: Any, value: Any) -> Any:
        args = [self.visit(child, value) for child in node["children"]]
        try:
            return _FUNCTIONS.call_function(node["value"], args)
        except jmespath.exceptions.JMESPathTypeError as exc:
            types = list(exc.expected_types)
            if not any(arg is exc.current_value for arg in args):
                # an element of a list argument (array-number): name the element's type
                types = [t.removeprefix("array-") for t in types]
            expected = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
            field = _culprit(node["children"], args, exc.current_value, value)
            raise _Mistyped(exc.current_value, expected, field) from None
        except _Mistyped as exc:
            if not exc.field:
                exc.field = _culprit(node["children"], args, exc.value, value) or _text(node)
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
            except _Mistyped as exc:
                exc.item = exc.item or _item_name(element, base)
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
        except (jmespath.exceptions.JMESPathError, _Mistyped, TypeError, ValueError):
            taken = True
        return _field(left if taken not in (None, False, "", [], {}) else node["children"][1], context)
    if kind in ("and_expression", "not_expression"):
        return _field(node["children"][-1], context)
    if kind == "literal":
        return ""
    return _text(node)


def _text(node: Any) -> str:
    """An AST back to (close to) the JMESPath it was parsed from."""
    kind, kids = node["type"], node.get("children", [])
    if kind == "field":
        name = str(node["value"])
        return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)
    if kind == "subexpression":
        return ".".join(_text(k) for k in kids)
    if kind == "index_expression":
        return "".join(_text(k) for k in kids)
    if kind == "index":
        return f"[{node['value']}]"
    if kind in ("current", "identity"):
        return "@" if kind == "current" else ""
    if kind == "literal":
        return f"`{json.dumps(node['value'])}`"
    if kind == "flatten":
        return _text(kids[0]) + "[]"
    if kind == "projection":
        rest = _text(kids[1])
        return _text(kids[0]) + ("[*]" if kids[0]["type"] != "flatten" else "") + ("." + rest if rest else "")
    if kind == "filter_projection":
        rest = _text(kids[1])
        return f"{_text(kids[0])}[?{_text(kids[2])}]" + ("." + rest if rest else "")
    if kind == "function_expression":
        return f"{node['value']}({', '.join(_text(k) for k in kids)})"
    if kind == "expref":
        return "&" + _text(kids[0])
    if kind == "multi_select_list":
        return "[" + ", ".join(_text(k) for k in kids) + "]"
    if kind == "not_expression":
        return "!" + _text(kids[0])
    operators = {"or_expression": "||", "and_expression": "&&", "pipe": "|"}
    if kind in operators:
        return f" {operators[kind]} ".join(_text(k) for k in kids)
    if kind == "comparator":
        symbol = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[node["value"]]
        return f"{_text(kids[0])} {symbol} {_text(kids[1])}"
    return "…"


def _item_name(element: Any, within: list[Any]) -> str:
    name = element.get("name") if isinstance(element, dict) else None
    if isinstance(name, str) and name:
        return f"'{_clip(_printable(name.rsplit('/', 1)[-1]))}'"
    return f"item {next(i for i, x in enumerate(within) if x is element) + 1}"


_TYPE_WORDS = {
    "string": "a string", "number": "a number", "boolean": "a boolean", "array": "a list", "list": "a list",
    "object": "an object", "null": "null", "array-number": "a list of numbers",
    "array-string": "a list of strings", "expref": "an expression",
}


def search(expression: str, document: Any) -> Any:
    """Evaluate; a value of the wrong type raises _Mistyped naming its field."""
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
    except _Mistyped as exc:
        raise ExpressionError(exc.describe(sensitive=True)) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise ExpressionError(str(exc).splitlines()[0]) from None


def lookup(expression: str, document: Any) -> Any:
    """Like search, but a document of the wrong shape gives None instead of raising."""
    try:
        return search(expression, document)
    except (jmespath.exceptions.JMESPathError, _Mistyped):
        return None


# --- operators ---------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float:
    """A number, or a string holding one: int64 fields and annotations are strings."""
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Mistyped(value, "a finite number")
        return value  # type: ignore[no-any-return]
    # ASCII digits only: int() also reads "١٢٣" and "1_000".
    if isinstance(value, str) and value.strip().isascii() and "_" not in value:
        for parse in (int, float):
            try:
                number = parse(value)
            except ValueError:
                continue
            if math.isfinite(number):
                return number
    raise _Mistyped(value, "a number")


def _num(value: Any) -> float | None:
    return None if value is None else _number(value)


def _ordered(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    # An absent number fails the rule (if_absent = "pass" says otherwise);
    # a present one of the wrong type is not judged at all.
    def judge(actual: Any, expected: Any) -> bool:
        number = _num(actual)
        return number is not None and compare(number, _number(expected))

    return judge


def _version(value: Any) -> tuple[str, tuple[int, ...]]:
    """POSTGRES_14 -> ('POSTGRES', (14,)); MYSQL_8_0_31 -> ('MYSQL', (8, 0, 31))."""
    # [0-9], not \\d: int() reads Arabic-Indic digits too, so POSTGRES_١٤ would be 14.
    match = re.fullmatch(r"([A-Z]+)((?:_[0-9]+)+)", value) if isinstance(value, str) else None
    if not match:
        raise _Mistyped(value, "a database version like POSTGRES_14")
    return match.group(1), tuple(int(p) for p in match.group(2).strip("_").split("_"))


def _version_gte(actual: Any, expected: Any) -> bool:
    engine, number = _version(actual)
    want_engine, want = _version(expected)
    return engine == want_engine and number >= want


def _cidr_eq(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    try:
        if not isinstance(actual, str):
            raise ValueError
        network = ipaddress.ip_network(actual, strict=False)
    except ValueError:
        raise _Mistyped(actual, "a CIDR range like 10.8.0.0/28") from None
    return network == ipaddress.ip_network(str(expected), strict=False)


def _days_ahead_gte(actual: Any, expected: Any, now: dt.datetime) -> bool:
    if actual is None:
        return False
    try:
        if not isinstance(actual, str):
            raise ValueError
        when = dt.datetime.fromisoformat(actual.replace("Z", "+00:00"))
    except ValueError:
        raise _Mistyped(actual, "an RFC 3339 time like 2027-02-14T09:12:33Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    try:
        ahead = (when - now).total_seconds()
    except OverflowError:  # year 1 or 9999 in another time zone
        ahead = -math.inf if when.year < 2000 else math.inf
    return ahead >= _number(expected) * 86400


def _regex(actual: Any, pattern: Any) -> bool:
    if actual is None:
        return False
    if not isinstance(actual, str):
        raise _Mistyped(actual, "a string")
    return re.search(pattern, actual) is not None


def _contains(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list) or isinstance(actual, str) and isinstance(expected, str):
        return expected in actual
    raise _Mistyped(actual, "a list" if not isinstance(expected, str) else "a string or a list")


def _empty(actual: Any) -> bool:
    return actual in (None, "", [], {})


def _same(actual: Any, expected: Any) -> bool:
    # Python's True == 1: a boolean never equals a number here.
    return actual == expected and isinstance(actual, bool) == isinstance(expected, bool)


# Each takes (actual, value); those in _NEEDS_NOW also the time the run is judged as of.
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
            _check_value(rwhere, rule)
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


def _check_value(where: str, rule: Rule) -> None:
    """A rule's own value must be what its operator compares with: the document gets the blame otherwise."""
    parse: dict[str, Callable[[Any], Any]] = {
        "gt": _number, "gte": _number, "lt": _number, "lte": _number, "days-ahead-gte": _number,
        "version-gte": _version,
        "cidr-eq": lambda v: ipaddress.ip_network(str(v), strict=False),
    }
    if rule.op in ("in", "not-in") and not isinstance(rule.value, list):
        raise CatalogError(f"{where}: operator '{rule.op}' needs a list value, not {rule.value!r}")
    if rule.op in parse:
        try:
            parse[rule.op](rule.value)
        except (_Mistyped, ValueError):
            raise CatalogError(f"{where}: value {rule.value!r} does not suit operator '{rule.op}'") from None


def _compile(where: str, expression: str) -> None:
    try:
        jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        message = str(exc).splitlines()[0]
        raise CatalogError(f"{where}: JMESPath does not compile: {expression!r}: {message}") from None


# --- evaluation --------------------------------------------------------------
_PROJECT_GONE = re.compile(r"The resource 'projects/[^/']+' was not found")


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
        # Compute's 404 for the project itself is not this resource missing: nothing could be checked.
        if (outcome.error.kind is ErrorKind.NOT_FOUND and check.missing is not None
                and not _PROJECT_GONE.search(outcome.error.message)):
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
            return [_error(check, CommandError(ErrorKind.INVALID_JSON, _cannot("select", check.select or "", exc, check)))]
    else:
        try:
            if check.select:
                document = search(check.select, document)
            selected = document
            reason = search(check.not_judged.path, document) if check.not_judged is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure here is the document's, reported once
            return [_error(check, CommandError(ErrorKind.INVALID_JSON, _cannot("select", check.select or "", exc, check)))]
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


def applies(rule: Rule, check: Check) -> bool:
    """A rule with `when` judges only the foreach items the condition selects."""
    return not rule.when or bool(search(rule.when, check.item))


def _judge(check: Check, rule: Rule, document: Any, now: dt.datetime,
           context: Mapping[str, Any] | None = None) -> Finding:
    try:
        actual = search(rule.path, document)
        if actual is None and rule.if_absent == "pass":
            ok = True
        else:
            operator = OPERATORS[rule.op]
            ok = operator(actual, rule.value, now) if rule.op in _NEEDS_NOW else operator(actual, rule.value)
    except Exception as exc:  # noqa: BLE001 - one rule that cannot be judged never stops the run
        message = _cannot(f"judge {rule.id}", rule.path, exc, check, document)
        return _error(check, CommandError(ErrorKind.INVALID_JSON, message), rule.id)
    shown = None if check.sensitive else _reportable(actual)
    expected = rule.expected or _describe_expected(rule)
    said = _date_of(shown) if rule.op in _NEEDS_NOW else shown
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
    try:
        found = search(expression, {**context, "item": check.item, "document": document, "actual": actual})
    except (jmespath.exceptions.JMESPathError, _Mistyped):
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
            except (jmespath.exceptions.JMESPathError, _Mistyped):
                found = None  # a document of another shape names nothing to depend on
            names = found if isinstance(found, list) else [found]
        needs += [Need(dep.on, str(name), dep.checks) for name in names if isinstance(name, str) and name]
    return tuple(needs)


def _cannot(what: str, expression: str, exc: Exception, check: Check, document: Any = None) -> str:
    """One line saying which value stopped a rule: its field, its type, what was expected."""
    if isinstance(exc, _Mistyped):
        if not exc.field:
            exc.field = _field(_parsed(expression), document)
        return f"cannot {what}: {exc.describe(check.sensitive)}"
    if isinstance(exc, jmespath.exceptions.JMESPathError):
        return f"cannot {what}: {str(exc).splitlines()[0]}"
    # A bug of ours, not the document's: still one finding, never a traceback.
    return f"cannot {what}: internal error {type(exc).__name__}"


# --- document shapes ---------------------------------------------------------

def shape_problem(shape: Shape, document: Any) -> str | None:
    """None when the document is the declared shape, else what differs, in words."""
    expects = _expects(shape)
    if shape.kind == "object":
        if not isinstance(document, dict):
            return f"expected {expects}, got {_kind_of(document)}"
        problem = _fields_problem(shape, document, "")
        return f"expected {expects}; {problem}" if problem else None
    if not isinstance(document, list):
        return f"expected {expects}, got {_kind_of(document)}"
    for position, item in enumerate(document, 1):
        if not isinstance(item, dict):
            return f"expected {expects}, got a list holding {_kind_of(item)} (item {position})"
        problem = _fields_problem(shape, item, _item_name(item, document))
        if problem:
            return f"expected {expects}: {problem}"
    return None


def _fields_problem(shape: Shape, document: dict[str, Any], item: str) -> str | None:
    where = f" in {item}" if item else ""
    for field, types in shape.required:
        value: Any = document
        for part in field.split("."):
            value = value.get(part, _ABSENT) if isinstance(value, dict) else _ABSENT
        if value is _ABSENT:
            return f"`{field}` is missing{where}"
        if _json_type(value) not in types:
            return f"`{field}`{where} is {_kind_of(value)}, expected {' or '.join(_TYPE_WORDS[t] for t in types)}"
    return None


_ABSENT = object()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "unknown"


def _kind_of(value: Any) -> str:
    return _TYPE_WORDS.get(_json_type(value), "a value")


def _expects(shape: Shape) -> str:
    fields = ", ".join(f"`{f}`" for f, _ in shape.required)
    base = "an object" if shape.kind == "object" else "a list of objects"
    return f"{base} with {fields}" if fields else ("an object" if shape.kind == "object" else "a list")


def _command(argv: tuple[str, ...]) -> str:
    """The command as a person would recognise it: its words, without the flags."""
    return " ".join(a for a in argv if not a.startswith("--"))


def _preview(value: Any) -> str:
    """A value as a message shows it: JSON, short, printable."""
    return _clip(_printable(json.dumps(_reportable(value), ensure_ascii=False)))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _date_of(value: Any) -> Any:
    """A time a message states as its day, as written ("expires 2026-11-20"); `actual` keeps the instant."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            pass
    return value


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
        needs=_needs(check, not_judged.depends_on, None, reason),
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
        return ", ".join(map(_display, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _printable(json.dumps(_reportable(value), sort_keys=True, ensure_ascii=False))
    if isinstance(value, int) and value.bit_length() > _BIG_BITS:
        return _huge(value)
    return _printable(str(value))


# Python refuses str() of an int over 4300 digits; a document can't hold one,
# but product() or sum() of two can make one.
_BIG_BITS = 13000  # about 3900 digits


def _huge(value: int) -> str:
    return f"{'-' if value < 0 else ''}a number of about {int(value.bit_length() * 0.30103)} digits"


def _reportable(value: Any) -> Any:
    """`actual` as a strict JSON report can carry it: no NaN/Infinity, no int JSON can't print."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _BIG_BITS:
        return _huge(value)
    if isinstance(value, list):
        return [_reportable(v) for v in value]
    if isinstance(value, dict):
        return {k: _reportable(v) for k, v in value.items()}
    return value


def _printable(text: str) -> str:
    # A document's text reaches a terminal: control characters (an ANSI escape
    # could rewrite the screen), bidi overrides and lone surrogates (a UTF-8
    # stdout refuses them) are shown escaped.
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in text)


def skipped_finding(check: Check, rule: Rule) -> Finding:
    return Finding(
        check=check.id, rule=rule.id, area=check.area, status=Status.SKIP,
        severity=rule.severity, resource=check.resource, message="excluded",
    )


__all__ = [
    "OPERATORS", "applies", "display", "evaluate", "lookup", "search", "shape_problem", "skipped_finding", "validate",
]
