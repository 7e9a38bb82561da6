"""Profile names into catalog text: `{name}`, `{item.key}`, `{name:or}`; an unknown name is an error.

A substituted value is always exactly one argv token (commands are split
before substitution), so it never reaches a shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infracheck.model import CatalogError

# Names a message may use that are only known once a rule has been judged.
RUNTIME_NAMES = frozenset({"actual", "value", "expected"})

_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
# `{services:or}`: a list as the alternatives of a Cloud Logging filter,
# '"a" OR "b"' (each value one quoted string).
_OR_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):or\}")


class Substituter:
    """Fills `{name}` / `{item.key}` from the profile; unknown names are errors."""

    def __init__(self, path: Path, where: str, ctx: Mapping[str, Any]):
        self.path, self.where, self.ctx = path, where, ctx

    def lookup(self, name: str) -> Any:
        head, _, key = name.partition(".")
        if head not in self.ctx:
            raise CatalogError(f"{self.path.name}: {self.where}: unknown name '{{{name}}}'")
        value = self.ctx[head]
        if key:
            if not isinstance(value, dict) or key not in value:
                raise CatalogError(f"{self.path.name}: {self.where}: unknown name '{{{name}}}'")
            value = value[key]
        return value

    def text(self, template: str, runtime: bool = False, late: frozenset[str] | set[str] = RUNTIME_NAMES) -> str:
        def repl(m: re.Match[str]) -> str:
            if runtime and m.group(1) in late:
                return m.group(0)
            value = self.lookup(m.group(1))
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

        def alternatives(m: re.Match[str]) -> str:
            value = self.lookup(m.group(1))
            # An empty list is one empty string: a filter that matches nothing, not one that matches all.
            values = (value or [""]) if isinstance(value, list) else [value]
            return " OR ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)

        return _TEMPLATE.sub(repl, _OR_TEMPLATE.sub(alternatives, template))

    def jmespath(self, template: str) -> str:
        """Substitute into a JMESPath expression, escaped for a raw string literal."""

        def repl(m: re.Match[str]) -> str:
            return str(self.lookup(m.group(1))).replace("\\", "\\\\").replace("'", "\\'")

        return _TEMPLATE.sub(repl, template)

    def value(self, raw: Any) -> Any:
        """A value that is exactly `{name}` keeps the profile's type (number, list)."""
        if isinstance(raw, str):
            whole = _TEMPLATE.fullmatch(raw)
            if whole:
                return self.lookup(whole.group(1))
            return self.text(raw)
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        return raw
