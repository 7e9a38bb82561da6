"""Renderers: one module per format, each `render(report, *, color, ascii_only) -> str`."""

from collections.abc import Callable

from infracheck.model import Report
from infracheck.report import json, text

Renderer = Callable[..., str]

FORMATTERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json.render,
}

# Formats a machine reads: nothing but the report may go to stdout.
MACHINE = frozenset({"json"})

__all__ = ["FORMATTERS", "MACHINE", "Report"]
