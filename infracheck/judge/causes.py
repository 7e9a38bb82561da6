"""Root causes along the dependency chain: findings -> findings with `caused_by`, and the roots.

A judge-stage module: it reads only findings. Each finding carries the
catalog's dependency edges already resolved to resources (`needs`, filled
when the rule was evaluated from the document, e.g. the connector a service's
annotation names). A failing or could-not-check finding with a failing or
could-not-check dependency is a consequence; following consequences upstream
ends at root causes, possibly several (a URL needs its domain's DNS and its
certificate). Nothing is dropped and no severity changes: the verdict is
computed from the same findings, this only orders and groups them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from infracheck.judge import verdict
from infracheck.model import Category, Finding, Need, Severity, Status



@dataclasses.dataclass(frozen=True)
class RootCause:
    """A finding no other failure explains, and the consequences it explains."""

    finding: Finding
    explains: tuple[Finding, ...]


@dataclasses.dataclass(frozen=True)
class Split:
    """Root causes counted by class; a could-not-check is neither and counted apart."""

    infrastructure: int
    configuration: int
    unchecked: int

    @property
    def total(self) -> int:
        return self.infrastructure + self.configuration + self.unchecked

    def words(self) -> str:
        """'2 infrastructure, 1 configuration, 1 could not be checked': the split as every format says it."""
        parts = [f"{self.infrastructure} infrastructure", f"{self.configuration} configuration"]
        return ", ".join(parts + ([f"{self.unchecked} could not be checked"] if self.unchecked else []))


def resource_key(name: str) -> str:
    """One spelling per resource, however a check or a document names it.

    GCP references come as bare names, `projects/P/.../NAME` paths or
    https://www.googleapis.com/... links: all are the last segment. A URL the
    stack serves names itself (without a trailing slash); a DNS name drops
    its trailing dot. Case never matters.
    """
    text = name.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        if not parts.hostname or not parts.hostname.endswith("googleapis.com"):
            return text.rstrip("/")
    text = text.rstrip("/")
    if "/" in text:
        return text.rsplit("/", 1)[-1]
    return text.rstrip(".")


def analyse(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """The same findings, in the same order, each failing one with the roots that explain it."""
    bad = [i for i, f in enumerate(findings) if verdict.problem(f)]
    by_resource: dict[str, list[int]] = {}
    for i in bad:
        by_resource.setdefault(resource_key(findings[i].resource), []).append(i)

    direct: dict[int, set[int]] = {}
    for i in bad:
        direct[i] = {
            j
            for need in findings[i].needs
            for j in by_resource.get(resource_key(need.resource), ())
            if j != i and _matches(need, findings[j])
        }

    reach = {i: _reachable(i, direct) for i in bad}

    def terminal(i: int) -> bool:
        # Nothing upstream of it fails, or only failures that lead back to it (a
        # cycle explains nothing: each of its members stays a root).
        return all(i in reach[j] for j in reach[i])

    # A skip whose check says what would explain it (not_judged's depends_on) is a consequence
    # of that failure when it fails; never a root, and nothing depends on it.
    explained = [i for i, f in enumerate(findings) if f.status is Status.SKIP and f.needs]
    for i in explained:
        direct[i] = {j for need in findings[i].needs for j in by_resource.get(resource_key(need.resource), ())
                     if _matches(need, findings[j])}
        reach[i] = _reachable(i, direct)

    out = list(findings)
    for i in explained:
        found = sorted(j for j in reach[i] if terminal(j))
        if found:
            out[i] = dataclasses.replace(
                findings[i], caused_by=tuple((findings[j].rule, findings[j].resource) for j in found))
    for i in bad:
        if terminal(i):
            continue
        found = sorted(j for j in reach[i] if terminal(j))
        out[i] = dataclasses.replace(
            findings[i], caused_by=tuple((findings[j].rule, findings[j].resource) for j in found)
        )
    return tuple(out)


def reanalyse(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """analyse() over findings some of which were judged again (a watch cycle, a re-check after fixes).

    The roots named before are forgotten first: a cause fixed since explains nothing now.
    """
    return analyse([dataclasses.replace(f, caused_by=()) if f.caused_by else f for f in findings])


def _reachable(start: int, direct: dict[int, set[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(direct[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(direct[node])
    return seen


def _matches(need: Need, finding: Finding) -> bool:
    if any(fnmatch.fnmatchcase(finding.rule, pattern) for pattern in need.on):
        return True
    # A check that could not run at all reports one error under its own id.
    return finding.status is Status.ERROR and finding.check in need.checks


def root_causes(findings: Iterable[Finding]) -> tuple[RootCause, ...]:
    """Roots of an analysed run, worst first: critical, warning, then could-not-check."""
    # A muted failure is accepted: shown once, as muted, and not counted here either.
    items = [f for f in findings if f.muted is None]
    roots = [f for f in items if verdict.problem(f) and not f.caused_by]
    rank = {Severity.CRITICAL: 0, Severity.WARNING: 1}

    def order(f: Finding) -> int:
        return rank.get(f.severity, 2) if f.status is Status.FAIL and f.severity else 2

    roots.sort(key=order)  # stable: catalog order within a rank
    return tuple(
        RootCause(root, tuple(f for f in items if (root.rule, root.resource) in f.caused_by)) for root in roots
    )


def kind(f: Finding) -> str:
    """A root's label: its class and severity ('infrastructure, critical'), or 'could not check'."""
    if f.status is Status.FAIL and f.category is not None:
        return f"{f.category.value}, {f.severity.name.lower()}" if f.severity else f.category.value
    return "could not check"


def split(roots: Iterable[RootCause]) -> Split:
    """How many root causes are infrastructure, configuration, or could not be checked."""
    kinds = [r.finding.category if r.finding.status is Status.FAIL else None for r in roots]
    return Split(
        infrastructure=kinds.count(Category.INFRASTRUCTURE),
        configuration=kinds.count(Category.CONFIGURATION),
        unchecked=sum(1 for k in kinds if k is None),
    )


__all__ = ["RootCause", "Split", "analyse", "kind", "resource_key", "root_causes", "split"]
