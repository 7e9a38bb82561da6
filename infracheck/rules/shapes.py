"""A command's document against the shape its check declares (`shape = {type, required}`)."""

from __future__ import annotations

from typing import Any

from infracheck.model import Shape
from infracheck.rules.values import TYPE_WORDS, item_name, json_type, kind_of


def shape_problem(shape: Shape, document: Any) -> str | None:
    """None when the document is the declared shape, else what differs, in words."""
    expects = _expects(shape)
    if shape.kind == "object":
        if not isinstance(document, dict):
            return f"expected {expects}, got {kind_of(document)}"
        problem = _fields_problem(shape, document, "")
        return f"expected {expects}; {problem}" if problem else None
    if not isinstance(document, list):
        return f"expected {expects}, got {kind_of(document)}"
    for position, item in enumerate(document, 1):
        if not isinstance(item, dict):
            return f"expected {expects}, got a list holding {kind_of(item)} (item {position})"
        problem = _fields_problem(shape, item, item_name(item, document))
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
        if json_type(value) not in types:
            return f"`{field}`{where} is {kind_of(value)}, expected {' or '.join(TYPE_WORDS[t] for t in types)}"
    return None


_ABSENT = object()


def _expects(shape: Shape) -> str:
    fields = ", ".join(f"`{f}`" for f, _ in shape.required)
    base = "an object" if shape.kind == "object" else "a list of objects"
    return f"{base} with {fields}" if fields else ("an object" if shape.kind == "object" else "a list")
