"""The judge stage as one step: a run's findings -> the report (causes, mutes, baseline, verdict).

diagnose and every watch cycle report through `judge`, so a cycle's report is
the one diagnose would give for the same state (every format, --output).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from infracheck.judge import causes, mutes, verdict
from infracheck.model import Engine, Finding, Mute, Report

if TYPE_CHECKING:  # annotations only: the judge reads what the run produced, it runs nothing
    from infracheck.judge.baseline import Baseline
    from infracheck.plan import Plan
    from infracheck.runner import Result


def judge(
    base: Report, the_plan: Plan, result: Result, findings: Sequence[Finding], accepted: Sequence[Mute],
    now: dt.datetime, since: Baseline | None, engine: tuple[Engine, str | None],
) -> Report:
    """`base` (what was planned) filled with the run's judged `findings`: grouped by cause, muted as
    `accepted` says, compared with `since`, and given its verdict; `engine` is how gcloud ran and its note."""
    findings = causes.analyse(findings)  # order and grouping only: the verdict reads the same findings
    applied = mutes.apply(findings, accepted, now, complete=not result.incomplete, areas=[a.id for a in base.areas])
    findings, changes = (applied.findings, None)
    if since:
        from infracheck.judge import baseline  # only a run with --baseline reads one

        findings, changes = baseline.compare(applied.findings, since)
    return dataclasses.replace(base, status=verdict.overall(findings, result.incomplete), findings=findings,
                               outcomes=result.outcomes, incomplete=result.incomplete,
                               unfinished=verdict.unfinished(the_plan, result),
                               stale_mutes=applied.stale, changes=changes, engine=engine[0], engine_note=engine[1])
