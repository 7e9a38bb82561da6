"""Renderers: one module per format, each `render(report, *, color, ascii_only) -> str`.

A renderer's module is imported the first time its format is asked for:
`infracheck --help` names every format without loading any of them, and a
run loads only the ones it prints.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

Renderer = Callable[..., str]

# format name -> module under infracheck.report that renders it
_MODULES = {
    "text": "text",
    "json": "json",
    "markdown": "markdown",
    "labels": "labels",
    "message": "message",
    "junit": "junit",
    "nagios": "nagios",
    "github": "github",
    "prometheus": "prometheus",
}


class _Renderers(Mapping[str, Renderer]):
    """format name -> render function, importing the module on first use."""

    def __getitem__(self, name: str) -> Renderer:
        module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
        render: Renderer = module.render
        return render

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


FORMATTERS: Mapping[str, Renderer] = _Renderers()

# Formats a program reads or that are pasted whole: nothing but the report may
# go to stdout (no streamed text blocks, no banners).
MACHINE = frozenset(_MODULES) - {"text"}

__all__ = ["FORMATTERS", "MACHINE", "Renderer"]
