"""The pipeline run on an interval: one cycle function (plan and source made once, each cycle judged as
`diagnose` judges), and the two commands that loop over it: watch (what changed, until healthy) and serve
(the last complete run, for Prometheus and health checks)."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from infracheck import errors
from infracheck.errors import ExitStatus
from infracheck.pipeline import Options, base, baseline, binder, load, needs_targets, plan_for, selects_targets
from infracheck.report import FORMATTERS

if TYPE_CHECKING:
    from infracheck import redact, runner
    from infracheck.model import Check, Cycle, Finding, Outcome, Report
    from infracheck.plan import Plan

# diagnose(checks, or None for every check) -> the whole stack's report as known after that cycle.
Diagnose = Callable[["Sequence[Check] | None"], "Report"]


def cycles(options: Options, secrets: redact.Secrets,
           deadline: float | None = None) -> tuple[Plan, runner.Source, Diagnose]:
    """What watch and serve run on every cycle: the plan and the source made once (a warm gcloud is kept
    between cycles; the caller closes it with runner.close), and the cycle function. A partial cycle merges
    what it re-ran into what the last one knew; `deadline` (time.monotonic()) stops a cycle's commands as
    Ctrl-C would (watch's --max-wait)."""
    from infracheck import plan, runner
    from infracheck.judge import verdict
    from infracheck.judge.mutes import find, for_target
    from infracheck.judge.stage import judge
    from infracheck.rules.evaluate import evaluate
    from infracheck.runner import recording, tracks

    replay_dir = options.replay
    ran_on = tracks.for_run(replay_dir)
    cat = tracks.resolve(load(options), ran_on)
    the_plan = plan_for(options, cat)
    source = runner.source(the_plan.checks, options.timeout, replay_dir, cat.profile.get("journey"),
                           options.engine, options.jobs)
    lb = binder(options, cat, the_plan, ran_on)
    lb.upfront(source, options.jobs)
    cat, the_plan = lb.cat, lb.plan
    accepted = for_target(find(options.mute_file, Path("."), recording.clock(replay_dir)), None)
    since = baseline(options, cat)
    # What the last cycle left: the rules' findings (before mutes and causes) and every command's outcome.
    known: tuple[Finding, ...] = ()
    outcomes: dict[tuple[str, ...], Outcome] = {}

    def diagnose_cycle(subset: Sequence[Check] | None) -> Report:
        nonlocal known
        narrowed = the_plan if subset is None else plan.subset(the_plan, [(c.id, c.resource) for c in subset])
        now = recording.clock(replay_dir)
        result = runner.run(narrowed, source, options.jobs, now, secrets=secrets, deadline=deadline,
                            evaluate=evaluate)
        fresh = tuple(f for i in sorted(result.findings) for f in result.findings[i])
        known = fresh + the_plan.skip_findings + lb.findings if subset is None else verdict.merge(known, fresh)
        outcomes.update((o.argv, o) for o in result.outcomes)
        order = {argv: i for i, argv in enumerate(the_plan.users)}
        merged = tuple(sorted(outcomes.values(), key=lambda o: order.get(o.argv, len(order))))
        return judge(base(cat, the_plan, options, now, lb.line), narrowed,
                     dataclasses.replace(result, outcomes=merged), known, accepted, now, since,
                     runner.engine_of(source))

    return the_plan, source, diagnose_cycle


def watch(options: Options) -> int:
    """Re-run the diagnosis every interval, printing what changed, until healthy or --max-wait."""
    from infracheck import redact
    from infracheck.report import console

    if options.targets_file is not None:
        from infracheck.pipeline import fleet

        return fleet.watch(options)
    if selects_targets(options):
        return errors.handled(needs_targets)
    secrets = redact.Secrets()  # every cycle's secret values, scrubbed from every cycle's output
    with console.guard(secrets.scrub):
        return errors.handled(lambda: _watch(options, secrets))


def _watch(options: Options, secrets: redact.Secrets) -> int:
    from infracheck import runner
    from infracheck import watch as watching
    from infracheck.clock import keeper as escalation_clock
    from infracheck.report import json as json_report
    from infracheck.report import output
    from infracheck.report import text as text_report
    from infracheck.report.console import can_encode, use_color

    # --escalation-dir: checked before anything runs; its clock starts now.
    keeper = escalation_clock(options.escalation_dir, options.on_change, options.on_change_timeout, options.interval,
                              lambda line: click.echo(line, err=True))
    fmt = options.fmt
    files = output.parse(options.outputs, fmt)
    output.check(files, options.replay)
    color = use_color(options.color, sys.stdout)
    ascii_only = not can_encode(sys.stdout)
    # --max-wait holds even for a cycle in flight: its commands are stopped at the deadline.
    deadline = None if options.max_wait is None else time.monotonic() + options.max_wait
    the_plan, source, diagnose_cycle = cycles(options, secrets, deadline)

    def emit(cycle: Cycle) -> None:
        if fmt == "json":
            sys.stdout.write(json_report.cycle_line(cycle))
        elif fmt != "text":  # nagios: one status line per cycle
            sys.stdout.write(FORMATTERS[fmt](cycle.report, color=False, ascii_only=ascii_only))
        else:
            sys.stdout.write(text_report.cycle(cycle, color=color, ascii_only=ascii_only))
            if not cycle.changes and cycle.previous is not None and sys.stderr.isatty():
                click.echo(f"{cycle.at[11:19]} no change ({cycle.commands} commands)", err=True)
        sys.stdout.flush()
        if keeper is not None:
            keeper(cycle, secrets.scrub)

    try:
        last = watching.loop(diagnose_cycle, the_plan.checks, interval=options.interval, emit=emit,
                             until_healthy=options.until_healthy, max_wait=options.max_wait,
                             full_every=options.full_every)
    except KeyboardInterrupt as exc:
        runner.stop()
        cycle: Cycle | None = getattr(exc, "cycle", None)
        if cycle is None and deadline is not None and time.monotonic() >= deadline:
            click.echo("infracheck: --max-wait ran out before the first cycle finished", err=True)
            return ExitStatus.UNKNOWN
        if cycle is None:
            click.echo("infracheck: interrupted before the first cycle finished", err=True)
        else:
            click.echo(f"infracheck: interrupted; last complete cycle ({cycle.number}) at {cycle.at}: "
                       f"{cycle.report.status.name}", err=True)
            if fmt == "text":
                sys.stdout.write(text_report.summary(cycle.report, color=color, ascii_only=ascii_only))
        return ExitStatus.INTERRUPTED
    finally:
        runner.close(source)
    output.write_all(files, last.report, secrets.scrub)  # the last cycle's state, in every format asked for
    return ExitStatus.of(last.report.status)


def serve(options: Options) -> int:
    """Re-run the diagnosis every interval and serve its last complete run (serve.py) until SIGTERM or Ctrl-C."""
    from infracheck import redact
    from infracheck.report import console

    secrets = redact.Secrets()  # every cycle's secret values, scrubbed from everything served or logged
    with console.guard(secrets.scrub):
        return errors.handled(lambda: _serve(options, secrets))


def _serve(options: Options, secrets: redact.Secrets) -> int:
    from infracheck import runner
    from infracheck import serve as serving

    interval, timeout = options.interval, options.timeout
    stale_after = options.stale_after or max(3 * interval, interval + 2 * timeout)
    if stale_after <= interval:
        raise errors.CannotRun(f"--stale-after: {stale_after:g} s is not longer than --interval {interval:g} s: every "
                               "run would be stale before the next one could finish")
    settings = serving.Settings(interval, stale_after, warning_ok=options.warning_is_healthy)
    _, source, diagnose_cycle = cycles(options, secrets)
    try:
        host, port = options.listen
        return serving.run(lambda: diagnose_cycle(None), host, port, settings, scrub=secrets.scrub,
                           stop_commands=runner.stop, log=lambda line: click.echo(f"infracheck: {line}", err=True))
    finally:
        runner.close(source)
