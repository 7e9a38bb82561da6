"""The parity report (`infracheck parity`): text, JSON (schema `infracheck/parity/v1`) and Markdown.

A difference not declared intended is a WARNING naming both values; an
intended one is listed apart with its reason, so a reader sees what was
silenced and why. Values are settings and env variable NAMES with where their
value comes from (judge/parity.py): never a secret's value.
"""

from __future__ import annotations

import json
from typing import Any

from infracheck.judge.parity import Difference, Result

SCHEMA = "infracheck/parity/v1"


def as_dict(result: Result) -> dict[str, Any]:
    def one(d: Difference) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": d.path, "what": d.what, result.a: d.a, result.b: d.b,
                                 "values": {"a": d.a, "b": d.b}}
        if d.ignored is not None:
            entry["ignored"] = {"reason": d.ignored.reason, "by": d.ignored.path, "where": d.ignored.origin}
        return entry

    return {
        "schema": SCHEMA,
        "status": "WARNING" if result.findings else "HEALTHY",
        "targets": {"a": result.a, "b": result.b},
        "compared": result.compared,
        "differences": [one(d) for d in result.differences if d.ignored is None],
        "intended": [one(d) for d in result.differences if d.ignored is not None],
    }


def render_json(result: Result) -> str:
    return json.dumps(as_dict(result), indent=2) + "\n"


def render_text(result: Result) -> str:
    findings = result.findings
    intended = [d for d in result.differences if d.ignored is not None]
    lines = [f"Parity {result.a} vs {result.b}: {'WARNING' if findings else 'HEALTHY'} - "
             f"{len(findings)} difference{'' if len(findings) == 1 else 's'}, {len(intended)} intended, "
             f"{result.compared} settings compared", ""]
    for d in findings:
        lines.append(f"  [WARNING] {d.what}: {result.a} {_q(d.a)} vs {result.b} {_q(d.b)}  ({d.path})")
    if intended:
        lines += ["", "Intended (not findings):"]
        for d in intended:
            assert d.ignored is not None
            lines.append(f"  {d.what}: {result.a} {_q(d.a)} vs {result.b} {_q(d.b)}  ({d.path}: {d.ignored.reason})")
    return "\n".join(lines) + "\n"


def render_markdown(result: Result) -> str:
    findings = result.findings
    intended = [d for d in result.differences if d.ignored is not None]
    lines = [f"## Parity `{result.a}` vs `{result.b}`: {'WARNING' if findings else 'HEALTHY'}", "",
             f"{len(findings)} difference(s), {len(intended)} intended, {result.compared} settings compared.", ""]
    if findings:
        lines += [f"| Setting | Path | {_cell(result.a)} | {_cell(result.b)} |", "|---|---|---|---|"]
        lines += [f"| {_cell(d.what)} | `{_cell(d.path)}` | {_cell(d.a)} | {_cell(d.b)} |" for d in findings]
        lines.append("")
    if intended:
        lines += ["### Intended", "", f"| Setting | {_cell(result.a)} | {_cell(result.b)} | Reason |", "|---|---|---|---|"]
        lines += [f"| {_cell(d.what)} | {_cell(d.a)} | {_cell(d.b)} | {_cell(d.ignored.reason if d.ignored else '')} |"
                  for d in intended]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _q(text: str) -> str:
    return json.dumps(text)
