"""Renderers: one module per format, each `render(report, *, color, ascii_only) -> str`."""

from collections.abc import Callable

from infracheck.model import Report
from infracheck.report import github, json, junit, labels, markdown, message, nagios, text

Renderer = Callable[..., str]

FORMATTERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json.render,
    "markdown": markdown.render,
    "labels": labels.render,
    "message": message.render,
    "junit": junit.render,
    "nagios": nagios.render,
    "github": github.render,
}

# Formats a program reads or that are pasted whole: nothing but the report may
# go to stdout (no streamed text blocks, no banners).
MACHINE = frozenset(FORMATTERS) - {"text"}

__all__ = ["FORMATTERS", "MACHINE", "Report"]
