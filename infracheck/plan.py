"""Plan a run: which checks run, which rules are skipped and why, each command once.

The plan is decided before any command starts, so a run and its report agree
on what was asked for: counts are of what was planned, and a skipped rule is
listed with the selection that removed it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence

from infracheck.model import CannotRun, Catalog, Check, Finding, Rule, Status

Argv = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """The checks that run (catalog order), the rules each skips, and the findings for skipped rules."""

    checks: tuple[Check, ...]
    skipped: tuple[frozenset[str], ...]  # per entry of `checks`: rule ids not judged
    skip_findings: tuple[Finding, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()  # why checks were left out after selection (a replay that lacks their source)

    @property
    def sources(self) -> tuple[Argv, ...]:
        """Every distinct command, once, in the order the checks need them."""
        return tuple(self.users)

    @property
    def users(self) -> Mapping[Argv, tuple[int, ...]]:
        """For each distinct command, the indexes of the checks that read it."""
        users: dict[Argv, list[int]] = {}
        for index, check in enumerate(self.checks):
            for argv in check.sources:
                users.setdefault(argv, []).append(index)
        return {argv: tuple(indexes) for argv, indexes in users.items()}

    def planned(self, area: str) -> int:
        """How many checks of an area this run judges."""
        return sum(1 for c in self.checks if c.area == area)

    @property
    def selection(self) -> str:
        """The options that chose this plan, as the user typed them."""
        parts = [f"--include {','.join(self.include)}"] if self.include else []
        parts += [f"--exclude {','.join(self.exclude)}"] if self.exclude else []
        return " ".join(parts)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the report says about the selection: nothing selected, or what was skipped and why."""
        if not self.checks:
            return (f"Nothing was selected: {self.selection} left no check to run",) + self.dropped
        if not self.skip_findings:
            return self.dropped
        total: dict[str, int] = {}
        for f in self.skip_findings:
            total[f.area] = total.get(f.area, 0) + 1
        whole = [area for area in total if self.planned(area) == 0]
        partly = list(dict.fromkeys(f.rule for f in self.skip_findings if f.area not in whole))
        shown = [f"all of {area}" for area in whole] + partly[:5]
        if len(partly) > 5:
            shown.append(f"and {len(partly) - 5} more")
        count = len(dict.fromkeys(f.rule for f in self.skip_findings))
        noun = "check" if count == 1 else "checks"
        return (f"{count} {noun} skipped ({self.selection}): {', '.join(shown)}",) + self.dropped

    @property
    def sensitive(self) -> frozenset[Argv]:
        """Commands whose document holds a secret."""
        return frozenset(c.argv for c in self.checks if c.sensitive)


def globs(values: Iterable[str]) -> list[str]:
    """--include/--exclude values: repeatable, and each may hold comma-separated globs."""
    return [g.strip() for v in values for g in v.split(",") if g.strip()]


def is_selected(check: Check, rule_id: str, include: list[str], exclude: list[str]) -> bool:
    """A rule runs when it matches some include (or none are given) and no exclude.

    A glob matches a rule id, its check id, or its area, so `--exclude
    'network*'` drops the whole network area as gcpdiag's filters do.
    """
    names = [n for n in (rule_id, check.id, check.area) if n]

    def hit(globs: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)

    return (not include or hit(include)) and not hit(exclude)


def make(cat: Catalog, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Plan:
    """Select the rules `include`/`exclude` leave; a check runs when any of its rules (or its existence test) does."""
    include, exclude = list(include), list(exclude)
    checks, skipped, skip_findings = [], [], []
    for check in cat.checks:
        off = frozenset(r.id for r in check.rules if not is_selected(check, r.id, include, exclude))
        runs = len(off) < len(check.rules) or (
            check.missing is not None and is_selected(check, f"{check.id}.exists", include, exclude)
        )
        skip_findings += [skipped_finding(check, r) for r in check.rules if r.id in off]
        if runs:
            checks.append(check)
            skipped.append(off)
    if include and not checks:
        if exclude and any(is_selected(c, r.id, include, []) for c in cat.checks for r in c.rules):
            removers = [g for g in exclude if any(
                is_selected(c, r.id, include, []) and not is_selected(c, r.id, [], [g])
                for c in cat.checks for r in c.rules)]
            raise CannotRun(f"--exclude {','.join(removers)} removes every check that --include "
                            f"{','.join(include)} selects")
        raise CannotRun(f"no check or rule matches --include {','.join(include)} (see infracheck list)")
    return Plan(tuple(checks), tuple(skipped), tuple(skip_findings), tuple(include), tuple(exclude))


def without(full: Plan, drop: Callable[[Check], bool], why: str) -> Plan:
    """The plan without the checks `drop` names, saying `why` once (nothing dropped: the plan as it was)."""
    index = [i for i, c in enumerate(full.checks) if not drop(c)]
    if len(index) == len(full.checks):
        return full
    return dataclasses.replace(full, checks=tuple(full.checks[i] for i in index),
                               skipped=tuple(full.skipped[i] for i in index), dropped=full.dropped + (why,))


def subset(full: Plan, keep: Iterable[tuple[str, str]]) -> Plan:
    """The same plan narrowed to the checks named by (check id, resource): a re-check, a watch cycle."""
    wanted = set(keep)
    index = [i for i, c in enumerate(full.checks) if (c.id, c.resource) in wanted]
    return dataclasses.replace(full, checks=tuple(full.checks[i] for i in index),
                               skipped=tuple(full.skipped[i] for i in index), skip_findings=())


__all__ = ["Argv", "Plan", "globs", "make", "skipped_finding", "subset", "without"]


def skipped_finding(check: Check, rule: Rule) -> Finding:
    """A rule `--include`/`--exclude` left out: shown as excluded, never counted."""
    return Finding(
        check=check.id, rule=rule.id, area=check.area, status=Status.SKIP,
        severity=rule.severity, resource=check.resource, message="excluded",
    )
