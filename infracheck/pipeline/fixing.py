"""Fix mode's part of diagnose (pipeline/__init__.py): the plan a diagnosis gives, the question before
anything changes, and applying it (fix.py) with the re-check of what it touched, judged again."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from infracheck.report import MACHINE

if TYPE_CHECKING:
    from infracheck import fix, redact, runner
    from infracheck.model import Catalog, Finding, Mute, Report
    from infracheck.pipeline import Options
    from infracheck.plan import Plan


def plan(report: Report, result: runner.Result, the_plan: Plan, cat: Catalog,
         ran_on: Mapping[str, str]) -> tuple[fix.FixPlan, Report]:
    """The fix plan of a finished diagnosis (the monitoring steps from the profile's thresholds), and the
    report with its rows."""
    from infracheck import fix

    outcomes = {o.argv: o for o in result.outcomes}
    fix_plan = fix.plan(the_plan.checks, report.findings, outcomes)
    if any(f.area == "monitoring" for s in fix_plan.steps for f in s.findings):
        from infracheck import alerts as generated

        fix_plan = generated.fix_steps(fix_plan, the_plan.checks, outcomes, cat.profile, ran_on)
    return fix_plan, dataclasses.replace(report, fixes=fix.rows(fix_plan))


def confirm(fix_plan: fix.FixPlan, fmt: str, confirm: Callable[[str], bool]) -> bool:
    """On a terminal, ask before changing anything; never ask a pipe or a machine format."""
    if fmt in MACHINE or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return confirm(f"Apply the {len(fix_plan.automatic)} automatic step(s) now?")


def apply(report: Report, fix_plan: fix.FixPlan, the_plan: Plan, options: Options, live: Sequence[Mute],
          secrets: redact.Secrets) -> Report:
    """Apply the plan through gcloud, re-check what it touched (and what still failed), judge again."""
    from infracheck import fix, plan, runner
    from infracheck.judge import causes, mutes, verdict
    from infracheck.rules.evaluate import evaluate
    from infracheck.runner import recording

    source = runner.live(options.timeout)

    def recheck(keys: Sequence[tuple[str, str]]) -> list[Finding]:
        result = runner.run(plan.subset(the_plan, keys), source, options.jobs, recording.clock(), secrets=secrets,
                            evaluate=evaluate)
        if result.incomplete:
            raise KeyboardInterrupt  # Ctrl-C landed inside the re-check: the step was interrupted
        return [mutes.mute(f, live) for i in sorted(result.findings) for f in result.findings[i]]

    def progress(message: str) -> None:
        if sys.stderr.isatty():
            click.echo(f"  {message}"[:160], err=True)

    results = fix.apply(fix_plan, run_command=lambda argv: runner.command(argv, options.fix_timeout),
                        recheck=lambda checks: recheck([(c.id, c.resource) for c in checks]),
                        timeout=options.fix_timeout, poll_interval=options.fix_poll, progress=progress)
    if fix.interrupted(results):
        runner.stop()  # the gcloud a step was running, and its children
        click.echo(fix.interrupted_line(results), err=True)
        # Nothing is re-checked after Ctrl-C: the report is the diagnosis with what the steps did.
        return dataclasses.replace(report, before=report.status, incomplete=True, fixes=fix.rows(fix_plan, results))
    for line in fix.failure_lines(results):
        click.echo(line, err=True)
    try:
        fresh = recheck(fix.affected(fix_plan, results, report.findings))
    except KeyboardInterrupt:
        runner.stop()
        click.echo("infracheck: interrupted while re-checking after the fixes; every automatic step ran: "
                   "re-run infracheck diagnose to see the state now", err=True)
        return dataclasses.replace(report, before=report.status, incomplete=True, fixes=fix.rows(fix_plan, results))
    findings = causes.reanalyse(verdict.merge(report.findings, fresh))
    return dataclasses.replace(report, findings=findings, status=verdict.overall(findings), before=report.status,
                               fixes=fix.rows(fix_plan, results, findings))
