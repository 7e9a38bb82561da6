"""Small reports built by hand, with the real catalog's areas, checks and escalation data."""

from __future__ import annotations

import functools

from infracheck.catalog import loader
from infracheck.judge import verdict
from infracheck.catalog.loader import Catalog
from infracheck.model import Finding, Outcome, Report, Severity, Status


@functools.cache
def default_catalog() -> Catalog:
    return loader.load(environ={})


def finding(rule: str, status: Status = Status.PASS, severity: Severity | None = Severity.CRITICAL, *,
            check: str = "", resource: str = "", message: str = "", remedy: str = "") -> Finding:
    """A finding for a real rule id; its check is found in the catalog unless given."""
    cat = default_catalog()
    if not check:
        check = next(
            (c.id for c in cat.checks if any(r.id == rule for r in c.rules) or rule == f"{c.id}.exists"),
            rule.rsplit(".", 1)[0],
        )
    found = next((c for c in cat.checks if c.id == check and (not resource or c.resource == resource)), None)
    return Finding(
        check=check, rule=rule, area=check.split(".")[0], status=status,
        severity=severity if status is not Status.ERROR else None,
        resource=resource or (found.resource if found else check), message=message or f"{rule} says so",
        remedy=remedy,
    )


def report(*findings: Finding, issue: str | None = "1278", incomplete: bool = False) -> Report:
    cat = default_catalog()
    return Report(
        project=str(cat.profile["project"]), region=str(cat.profile["region"]),
        status=verdict.overall(findings), areas=cat.areas, findings=tuple(findings),
        outcomes=tuple(Outcome(argv=a, exit_code=0, duration_s=0.25)
                       for a in dict.fromkeys(src for c in cat.checks for src in c.sources)),
        issue=issue, incomplete=incomplete, checks=cat.checks, escalation=cat.escalation,
    )


CRIT = Status.FAIL, Severity.CRITICAL
WARN = Status.FAIL, Severity.WARNING
