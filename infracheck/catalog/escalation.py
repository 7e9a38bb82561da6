"""commands/escalation.toml (plan section 4) read into model.Escalation, validated like the rest of the catalog.

The file holds the issue update's data: priority, labels, components, the
5.3 checklist, the timeline and the business context (which a profile's
[escalation] table may replace). judge/escalation.py derives from it what a
finished run says; this module only reads and validates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infracheck.catalog.profile import read_toml
from infracheck.catalog.templates import Substituter
from infracheck.model import CatalogError, Component, Criterion, Escalation, Extended, LabelRule, Overall, Phase

FILE = "escalation.toml"  # the issue update's data, not an area

_TOP_KEYS = {"priority", "label", "component", "criterion", "business_impact", "timeline", "justification",
             "contact", "recipients", "extended"}
# What a profile's [escalation] table may replace: the business context, not the rules.
OVERRIDABLE = {"business_impact", "timeline", "justification", "contact", "recipients", "extended"}
_PHASE_KEYS = {"phase", "short", "hours", "owner", "done_when", "passing"}
_EXTENDED_KEYS = {"after_hours", "recipients", "actions"}
_DONE_WHEN = {"", "verdict", "fixed"}
_NAMED_KEYS = {"name", "text"}
_LABEL_KEYS = {"name", "status", "failing"}
_COMPONENT_KEYS = {"area", "name", "resource", "expected"}
_CRITERION_KEYS = {"group", "text", "verified_by", "verdict", "manual", "requires"}



def override(path: Path, raw: Any) -> dict[str, Any]:
    """A profile's [escalation] table: its own business context in place of the plan's (escalation.toml)."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: [escalation] must be a table")
    unknown = set(raw) - OVERRIDABLE
    if unknown:
        raise CatalogError(f"{path}: [escalation] sets {sorted(unknown)}; a profile may set "
                           f"{', '.join(sorted(OVERRIDABLE))}")
    return raw


def read(path: Path, profile: Mapping[str, Any], business: Mapping[str, Any]) -> Escalation:
    """escalation.toml is optional: a catalog without it gets no labels and a bare checklist.

    `business` (a profile's [escalation] table) replaces the file's business context key by key.
    """
    if not path.is_file() and not business:
        return Escalation(environment=str(profile.get("environment", "")))
    sub = Substituter(path, "escalation", profile)
    data = read_toml(path) if path.is_file() else {}
    return parse({**data, **business}, str(profile.get("environment", "")), sub.text)


def parse(data: Mapping[str, Any], environment: str, text: Callable[[str], str]) -> Escalation:
    """Validate the file's tables; `text` substitutes profile names into a string."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _refuse(f"unknown top-level key(s) {sorted(unknown)}")
    priority = data.get("priority", {})
    if not isinstance(priority, dict) or set(priority) - set(Overall.__members__):
        raise _refuse(f"[priority] maps verdicts ({', '.join(Overall.__members__)}) to a label")
    labels = tuple(
        LabelRule(
            name=text(_str(raw, "name", "[[label]]")),
            status=_statuses(raw),
            failing=_strings(raw, "failing", "[[label]]"),
        )
        for raw in _tables(data, "label", _LABEL_KEYS)
    )
    components = tuple(
        Component(
            area=_str(raw, "area", "[[component]]"),
            name=text(_str(raw, "name", "[[component]]")),
            resource=text(str(raw.get("resource", ""))),
            expected=text(str(raw.get("expected", ""))),
        )
        for raw in _tables(data, "component", _COMPONENT_KEYS)
    )
    criteria = []
    for raw in _tables(data, "criterion", _CRITERION_KEYS):
        criterion = Criterion(
            group=_str(raw, "group", "[[criterion]]"),
            text=_str(raw, "text", "[[criterion]]"),
            verified_by=_strings(raw, "verified_by", "[[criterion]]"),
            verdict=str(raw.get("verdict", "")),
            manual=str(raw.get("manual", "")),
            requires=_strings(raw, "requires", "[[criterion]]"),
        )
        if criterion.verdict and criterion.verdict not in Overall.__members__:
            raise _refuse(f"[[criterion]] '{criterion.text}': verdict must be one of {list(Overall.__members__)}")
        if not (criterion.verified_by or criterion.verdict or criterion.manual):
            raise _refuse(f"[[criterion]] '{criterion.text}': needs verified_by, verdict or manual")
        criteria.append(criterion)
    impact = data.get("business_impact", "")
    if not isinstance(impact, str):
        raise _refuse("'business_impact' must be a string")
    return Escalation(
        environment=environment,
        priority=tuple((k, text(str(v))) for k, v in priority.items()),
        labels=labels,
        components=components,
        criteria=tuple(criteria),
        business_impact=text(impact),
        timeline=tuple(_phase(raw, text) for raw in _tables(data, "timeline", _PHASE_KEYS)),
        justification=tuple((_str(raw, "name", "[[justification]]"), text(_str(raw, "text", "[[justification]]")))
                            for raw in _tables(data, "justification", _NAMED_KEYS)),
        contacts=tuple((_str(raw, "name", "[[contact]]"), text(_str(raw, "text", "[[contact]]")))
                       for raw in _tables(data, "contact", _NAMED_KEYS)),
        recipients=tuple(text(r) for r in _strings(data, "recipients", "'recipients'")),
        extended=_extended(data.get("extended"), text),
    )


def _extended(raw: Any, text: Callable[[str], str]) -> Extended | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _refuse("[extended] must be a table (after_hours, recipients, actions)")
    unknown = set(raw) - _EXTENDED_KEYS
    if unknown:
        raise _refuse(f"[extended]: unknown key(s) {sorted(unknown)}")
    after = raw.get("after_hours")
    if isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 < after < 1000:
        raise _refuse("[extended]: 'after_hours' must be a number of hours above 0")
    return Extended(after_hours=float(after),
                    recipients=tuple(text(r) for r in _strings(raw, "recipients", "[extended]")),
                    actions=tuple(text(a) for a in _strings(raw, "actions", "[extended]")))


def _phase(raw: Mapping[str, Any], text: Callable[[str], str]) -> Phase:
    name = _str(raw, "phase", "[[timeline]]")
    hours = raw.get("hours")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours < 1000:
        raise _refuse(f"[[timeline]] '{name}': 'hours' must be a number of hours above 0")
    done_when = raw.get("done_when", "")
    if done_when not in _DONE_WHEN:
        raise _refuse(f"[[timeline]] '{name}': 'done_when' is \"verdict\" or \"fixed\", not {done_when!r}")
    return Phase(name=text(name), short=text(str(raw.get("short") or name.lower())), hours=float(hours),
                 owner=text(_str(raw, "owner", f"[[timeline]] '{name}'")), done_when=done_when,
                 passing=_strings(raw, "passing", f"[[timeline]] '{name}'"))


def _tables(data: Mapping[str, Any], key: str, allowed: set[str]) -> list[dict[str, Any]]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise _refuse(f"'{key}' must be an array of tables ([[{key}]])")
    for table in raw:
        unknown = set(table) - allowed
        if unknown:
            raise _refuse(f"[[{key}]]: unknown key(s) {sorted(unknown)}")
    return raw


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise _refuse(f"{where}: missing '{key}'")
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _statuses(raw: Mapping[str, Any]) -> tuple[str, ...]:
    statuses = _strings(raw, "status", "[[label]]")
    bad = [s for s in statuses if s not in Overall.__members__]
    if bad:
        raise _refuse(f"[[label]] '{raw.get('name')}': unknown status {bad}")
    return statuses


def _refuse(message: str) -> CatalogError:
    """A mistake in escalation.toml, worded for the person who edits it (a profile's [escalation] included)."""
    return CatalogError(f"{FILE}: {message}")
