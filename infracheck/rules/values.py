"""A document value as the rules read and show it: its JSON type, as a number, as a message prints it.

Base of the rules package (the dialect, operators and evaluation use it, and
so do the catalog's listing and fix mode): no JMESPath here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any


class Mistyped(Exception):
    """A document value of a type a rule cannot work with: the rule is not judged.

    `field` names where the value came from once known (the interpreter and
    `_judge` fill it in); `item` names the list element it was found in.
    """

    def __init__(self, value: Any, expected: str, field: str = "", item: str = "", problem: str = ""):
        super().__init__(expected)
        self.value, self.expected, self.field, self.item = value, expected, field, item
        self.problem = problem  # what is wrong, when the type alone does not say (never the value)

    def describe(self, sensitive: bool) -> str:
        got = kind_of(self.value) if sensitive else f"{kind_of(self.value)} ({preview(self.value)})"
        where = f"`{self.field}`" if self.field else "the value"
        item = f" in {self.item}" if self.item else ""
        if self.problem:
            return f"{where}{item} {self.problem}"
        return f"{where}{item} is {got}, expected {self.expected}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(value: Any) -> float:
    """A number, or a string holding one: int64 fields and annotations are strings."""
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise Mistyped(value, "a finite number")
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
    raise Mistyped(value, "a number")


TYPE_WORDS = {
    "string": "a string", "number": "a number", "boolean": "a boolean", "array": "a list", "list": "a list",
    "object": "an object", "null": "null", "array-number": "a list of numbers",
    "array-string": "a list of strings", "expref": "an expression",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "unknown"


def kind_of(value: Any) -> str:
    return TYPE_WORDS.get(json_type(value), "a value")


def preview(value: Any) -> str:
    """A value as a message shows it: JSON, short, printable."""
    return clip(printable(json.dumps(reportable(value), ensure_ascii=False)))


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(display, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return printable(json.dumps(reportable(value), sort_keys=True, ensure_ascii=False))
    if isinstance(value, int) and value.bit_length() > _BIG_BITS:
        return _huge(value)
    return printable(str(value))


# Python refuses str() of an int over 4300 digits; a document can't hold one,
# but product() or sum() of two can make one.
_BIG_BITS = 13000  # about 3900 digits


def _huge(value: int) -> str:
    return f"{'-' if value < 0 else ''}a number of about {int(value.bit_length() * 0.30103)} digits"


def each_leaf(value: Any, change: Callable[[Any], Any]) -> Any:
    """A JSON value with `change` applied to every value that is not a list or an object."""
    if isinstance(value, list):
        return [each_leaf(v, change) for v in value]
    if isinstance(value, dict):
        return {k: each_leaf(v, change) for k, v in value.items()}
    return change(value)


def reportable(value: Any) -> Any:
    """`actual` as a strict JSON report can carry it: no NaN/Infinity, no int JSON can't print."""
    return each_leaf(value, _reportable_leaf)


def _reportable_leaf(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _BIG_BITS:
        return _huge(value)
    return value


def printable(text: str) -> str:
    # A document's text reaches a terminal: control characters (an ANSI escape
    # could rewrite the screen), bidi overrides and lone surrogates (a UTF-8
    # stdout refuses them) are shown escaped.
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in text)


def item_name(element: Any, within: list[Any]) -> str:
    name = element.get("name") if isinstance(element, dict) else None
    if isinstance(name, str) and name:
        return f"'{clip(printable(name.rsplit('/', 1)[-1]))}'"
    return f"item {next(i for i, x in enumerate(within) if x is element) + 1}"


def covers(names: Iterable[Any], host: str) -> bool:
    """A certificate's or a host rule's name covers a host exactly or as a one-label wildcard
    (*.example.com covers api.example.com, not example.com or a.b.example.com); what is not text covers nothing."""
    host = host.lower()
    for name in names:
        if not isinstance(name, str):
            continue
        name = name.lower()
        if name == host or (name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]):
            return True
    return False


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expression_text(node: Any) -> str:
    """An AST back to (close to) the JMESPath it was parsed from."""
    kind, kids = node["type"], node.get("children", [])
    if kind == "field":
        name = str(node["value"])
        return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)
    if kind == "subexpression":
        return ".".join(expression_text(k) for k in kids)
    if kind == "index_expression":
        return "".join(expression_text(k) for k in kids)
    if kind == "index":
        return f"[{node['value']}]"
    if kind in ("current", "identity"):
        return "@" if kind == "current" else ""
    if kind == "literal":
        return f"`{json.dumps(node['value'])}`"
    if kind == "flatten":
        return expression_text(kids[0]) + "[]"
    if kind == "projection":
        rest = expression_text(kids[1])
        return expression_text(kids[0]) + ("[*]" if kids[0]["type"] != "flatten" else "") + ("." + rest if rest else "")
    if kind == "filter_projection":
        rest = expression_text(kids[1])
        return f"{expression_text(kids[0])}[?{expression_text(kids[2])}]" + ("." + rest if rest else "")
    if kind == "function_expression":
        return f"{node['value']}({', '.join(expression_text(k) for k in kids)})"
    if kind == "expref":
        return "&" + expression_text(kids[0])
    if kind == "multi_select_list":
        return "[" + ", ".join(expression_text(k) for k in kids) + "]"
    if kind == "not_expression":
        return "!" + expression_text(kids[0])
    operators = {"or_expression": "||", "and_expression": "&&", "pipe": "|"}
    if kind in operators:
        return f" {operators[kind]} ".join(expression_text(k) for k in kids)
    if kind == "comparator":
        symbol = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[node["value"]]
        return f"{expression_text(kids[0])} {symbol} {expression_text(kids[1])}"
    return "…"
