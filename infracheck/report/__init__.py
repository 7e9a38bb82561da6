"""Renderers: one module per format, each `render(report, *, color, ascii_only) -> str`.

A renderer's module is imported the first time its format is asked for:
`infracheck --help` names every format without loading any of them, and a
run loads only the ones it prints.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:  # annotations only: `--help` imports this module and must not load the model
    from infracheck.model import Report


class Renderer(Protocol):
    """What every format module's `render` is: a finished report in, the text to print or write out."""

    def __call__(self, report: "Report", *, color: bool = False, ascii_only: bool = False) -> str: ...

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
        return cast(Renderer, module.render)

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


FORMATTERS: Mapping[str, Renderer] = _Renderers()

if TYPE_CHECKING:  # mypy holds every format's render to the Protocol; nothing is imported at run time
    from infracheck.report import github, json, junit, labels, markdown, message, nagios, text

    _CHECKED: tuple[Renderer, ...] = (text.render, json.render, markdown.render, labels.render, message.render,
                                      junit.render, nagios.render, github.render)

# Formats a program reads or that are pasted whole: nothing but the report may
# go to stdout (no streamed text blocks, no banners).
MACHINE = frozenset(_MODULES) - {"text"}

__all__ = ["FORMATTERS", "MACHINE", "Renderer"]
