"""The stages in order, once: diagnose and record over one typed set of options (cycles.py runs them on an
interval: watch and serve; fleet.py: many targets).

    catalog.cache.load -> plan.make -> runner.run (rules/evaluate.py per check, as its commands come in)
    -> judge.stage.judge -> report.console / report.FORMATTERS -> report.output / runner.recording -> exit code

diagnose and each watch cycle share the judge step (judge/stage.py). Every
function imports the stages it uses when it runs: the CLI imports this module
only for a command that runs something (tests/test_startup.py).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus
from infracheck.report import FORMATTERS, MACHINE

if TYPE_CHECKING:
    import datetime as dt

    from infracheck import redact, runner
    from infracheck.judge.baseline import Baseline
    from infracheck.model import Catalog, Finding, Mute, Outcome, Report
    from infracheck.plan import Plan
    from infracheck.runner.discovery import Binder


# Profile names set by a flag of their own (cli.py's list and explain read them too).
FLAGS = ("project", "region", "metrics_window", "trend")


@dataclasses.dataclass(frozen=True)
class Options:
    """What a command was asked to do: every option of diagnose, record and watch, parsed and checked."""

    # the catalog and its profile
    catalog_dir: Path | None = None
    profile_file: Path | None = None
    overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)  # --set NAME=VALUE
    project: str | None = None
    region: str | None = None
    # the run
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    jobs: int = 8
    timeout: float = 60.0
    engine: str = "auto"
    replay: Path | None = None
    # the report
    fmt: str = "text"
    outputs: tuple[str, ...] = ()
    issue: str | None = None
    color: str = "auto"
    report_only: bool = False
    mute_file: Path | None = None
    baseline_file: Path | None = None
    # fix mode
    fix_mode: bool = False
    yes: bool = False
    fix_timeout: float = 900.0
    fix_poll: float = 10.0
    # load read from Cloud Monitoring
    metrics_window: str | None = None  # --window
    trend: str | None = None
    # watch
    interval: float = 60.0
    until_healthy: bool = False
    max_wait: float | None = None
    full_every: int = 10
    escalation_dir: Path | None = None
    on_change: str | None = None
    on_change_timeout: float = 60.0
    # serve
    listen: tuple[str, int] = ("127.0.0.1", 9847)
    stale_after: float | None = None
    warning_is_healthy: bool = False
    # many targets (catalog/targets.py): --targets FILE and what selects among them
    targets_file: Path | None = None
    target_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    shard: str | None = None
    shards: int | None = None
    target_timeout: float | None = None  # seconds one target may take; None: fleet.TARGET_TIMEOUTS x timeout

    @property
    def flags(self) -> dict[str, str]:
        """The profile names given as flags of their own (--project, --region, --window, --trend)."""
        return {name: str(getattr(self, name)) for name in FLAGS if getattr(self, name) is not None}


def load(options: Options, warn: bool = True) -> Catalog:
    """The validated catalog (from the cache when it can); its warnings said on stderr (once a run)."""
    from infracheck.catalog import cache

    cat = cache.load(options.catalog_dir, options.overrides, profile_file=options.profile_file, flags=options.flags)
    if warn:
        _warn(cat.warnings)
    return cat


def views(options: Options) -> dict[str, Any]:
    """What `list` and `explain` print for this catalog (listing.py), kept beside the cached catalog."""
    from infracheck.catalog import cache

    shown = cache.views(options.catalog_dir, options.overrides, profile_file=options.profile_file, flags=options.flags)
    _warn(shown["warnings"])
    return shown


def diagnose(options: Options, record_dir: Path | None = None, confirm: Callable[[str], bool] = lambda _: False) -> int:
    """Run every planned check once and report; the exit code. `confirm(question)` asks before fix mode changes
    anything (the CLI asks on a terminal); with `record_dir`, every command's output is saved there."""
    from infracheck import redact, runner
    from infracheck.report import console
    from infracheck.runner import gcloud

    gcloud.new_budget()  # this run's 429 retries per API (fix mode's re-checks too; shared by a fleet's targets)
    if options.targets_file is not None:
        from infracheck.pipeline import fleet

        return fleet.diagnose(options, record_dir)
    if selects_targets(options):
        return errors.handled(needs_targets)
    # The secret values this run reads (in memory only): whatever leaves the run (stdout, stderr,
    # report files, the recording, an error) is scrubbed of them.
    secrets = redact.Secrets()
    # gcloud loads in the warm engine while the catalog is read and the run planned.
    early = None if options.replay else runner.warm_up(options.engine, options.jobs, options.timeout)
    try:
        with console.guard(secrets.scrub):
            return errors.handled(lambda: _diagnose(options, record_dir, early, secrets, confirm))
    finally:
        if early is not None:
            early.discard()  # not taken by the run: an error came first, or no gcloud command was planned


def alerts(options: Options, directory: Path) -> int:
    """`infracheck alerts`: the stack's alert policies and uptime checks written into `directory`."""
    from infracheck import alerts as generated
    from infracheck.runner import tracks

    def write() -> int:
        try:
            for path in generated.write(directory, load(options).profile, tracks.for_run(None)):
                click.echo(str(path))
        except OSError as exc:
            raise CannotRun(f"cannot write into {directory}: {exc.strerror or exc}") from None
        return ExitStatus.OK

    return errors.handled(write)


def record(options: Options, directory: Path, force: bool) -> int:
    """Run live and save every command's output into `directory` for --replay."""
    from infracheck.runner import recording

    # With --targets, one folder per target in it, each prepared as its target is recorded.
    recording.prepare(directory, force, fleet=options.targets_file is not None)
    return diagnose(dataclasses.replace(options, replay=None, report_only=False), record_dir=directory)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One stack's run before anything runs: its catalog and plan, the load balancer's discovery, and
    what judges it (the run's clock, the mutes, the baseline); `partial` is its report so far."""

    cat: Catalog
    plan: Plan
    ran_on: Mapping[str, str]  # gcloud's release track per group (runner/tracks.py)
    lb: Binder
    now: dt.datetime
    accepted: tuple[Mute, ...]  # every mute of the file, for the judge (stale, expired)
    live: tuple[Mute, ...]  # the active ones, for what streams
    expired: tuple[Finding, ...]
    since: Baseline | None
    partial: Report


def prepare(options: Options, target: str | None = None, warn: bool = True) -> Prepared:
    """load -> plan, and read the mute file and the baseline, before anything runs (a bad file is exit 3 at
    once, not after the run). `target`: a fleet's target, whose mutes are those for it (judge/mutes.py)."""
    from infracheck.judge import mutes
    from infracheck.runner import recording, tracks

    ran_on = tracks.for_run(options.replay)
    cat = tracks.resolve(load(options, warn), ran_on)
    the_plan = plan_for(options, cat)
    lb = binder(options, cat, the_plan, ran_on)
    now = recording.clock(options.replay)
    accepted = mutes.for_target(mutes.find(options.mute_file, Path("."), now), target)
    return Prepared(cat, the_plan, ran_on, lb, now, accepted, mutes.active(accepted, now),
                    mutes.expired(accepted, now, [a.id for a in cat.areas]), baseline(options, cat),
                    base(cat, the_plan, options, now, lb.line))


def run(prepared: Prepared, source: runner.Source, jobs: int, secrets: redact.Secrets,
        on_outcome: Callable[[Outcome], None] | None = None,
        on_judged: Callable[[Mapping[int, Sequence[Finding]], Mapping[str, int]], None] | None = None,
        bound: float | None = None) -> tuple[Report, runner.Result, Catalog, Plan]:
    """Run the plan (judging as it goes) and judge the report; the load balancer's checks as they were
    judged, anchored on the chain found (or not judged, and why), and the catalog and plan they came from.

    `bound`: seconds this stack's run may take; what is still out then is a timeout (a fleet's target).
    """
    from infracheck import runner
    from infracheck.judge.stage import judge
    from infracheck.rules.evaluate import evaluate

    lapse, deadline = None, None
    if bound is not None:
        from infracheck.runner import fleet

        lapse, deadline = fleet.out_of_time(bound), time.monotonic() + bound
    result = runner.run(prepared.plan, source, jobs, prepared.now, on_outcome, on_judged, secrets=secrets,
                        late=prepared.lb.late(), deadline=deadline, evaluate=evaluate, lapse=lapse)
    cat, the_plan = prepared.lb.cat, prepared.lb.plan
    partial = dataclasses.replace(prepared.partial, checks=the_plan.checks, escalation=cat.escalation,
                                  load_balancer=prepared.lb.line)
    findings = tuple(f for i in sorted(result.findings) for f in result.findings[i]) + the_plan.skip_findings
    report = judge(partial, the_plan, result, findings, prepared.accepted, prepared.now, prepared.since,
                   runner.engine_of(source))
    return report, result, cat, the_plan


def save(record_dir: Path, report: Report, prepared: Prepared, the_plan: Plan, secrets: redact.Secrets) -> int:
    """Write the run's commands into `record_dir` for --replay; the number of files written."""
    from infracheck.runner import recording, tracks

    return recording.save(record_dir, report, the_plan.sensitive, recording.clock(),
                          (the_plan.include, the_plan.exclude),
                          prepared.ran_on if tracks.ran(prepared.ran_on, the_plan.sources) else None,
                          scrub=secrets.scrub)


def _diagnose(options: Options, record_dir: Path | None, early: runner.Early | None, secrets: redact.Secrets,
              confirm: Callable[[str], bool]) -> int:
    """prepare -> run (judging as it goes, shown on the console) -> report -> files -> exit code."""
    # Not fix, baseline or the text renderer: only the options that use them import them.
    from infracheck import runner
    from infracheck.judge import mutes
    from infracheck.report import console, output

    replay_dir = options.replay
    if options.yes and not options.fix_mode:
        raise CannotRun("--yes goes with --fix-mode")
    if options.yes and replay_dir is not None:
        raise CannotRun("--yes changes a live project: with --replay, --fix-mode only prints the plan "
                        "for the recorded state")
    prepared = prepare(options)
    cat, the_plan = prepared.cat, prepared.plan
    source = runner.source(the_plan.checks, options.timeout, replay_dir, cat.profile.get("journey"),
                           options.engine, options.jobs, early)
    live, expired = prepared.live, prepared.expired
    fmt, report_only = options.fmt, options.report_only
    files = output.parse(options.outputs, fmt)
    output.check(files, replay_dir)

    progress = console.Progress(len(the_plan.sources),
                                sys.stderr.isatty() and not report_only and not console.dumb_terminal())
    screen = console.Console(sys.stdout, cat.areas, fmt, report_only=report_only,
                             color=console.use_color(options.color, sys.stdout),
                             ascii_only=not console.can_encode(sys.stdout), progress=progress)
    screen.start(prepared.partial)
    try:
        report, result, cat, the_plan = run(
            prepared, source, options.jobs, secrets, screen.outcome,
            lambda results, remaining: screen.judged(mutes.mute_all(results, live, expired), remaining))
    finally:
        runner.close(source)

    fix_plan = None
    if options.fix_mode and not result.incomplete:
        from infracheck.pipeline import fixing

        fix_plan, report = fixing.plan(report, result, the_plan, cat, prepared.ran_on)
    live_fix = fix_plan is not None and bool(fix_plan.automatic) and replay_dir is None
    # A machine format prints one document: with --yes, the one after the fixes.
    screen.finish(mutes.mute_all(result.findings, live, expired), report,
                  quiet=live_fix and options.yes and fmt in MACHINE)
    if fix_plan is not None and live_fix:
        from infracheck.pipeline import fixing

        if options.yes or fixing.confirm(fix_plan, fmt, confirm):
            report = fixing.apply(report, fix_plan, the_plan, options, live, secrets)
            if fmt in MACHINE:
                sys.stdout.write(FORMATTERS[fmt](report, color=False, ascii_only=screen.ascii_only))
            else:
                from infracheck.report import text as text_report

                sys.stdout.write(text_report.fixes(report, color=screen.color, ascii_only=screen.ascii_only))
            sys.stdout.flush()
    output.write_all(files, report, secrets.scrub)
    if report.incomplete and not result.incomplete:  # Ctrl-C while the fixes were applied
        return ExitStatus.INTERRUPTED
    if fmt == "github" and not result.incomplete:
        output.append_step_summary(report, os.environ, secrets.scrub)
    if record_dir is not None and not result.incomplete:
        written = save(record_dir, report, prepared, the_plan, secrets)
        click.echo(f"infracheck: recorded {len(report.outcomes)} commands ({written} files) into {record_dir}",
                   err=True)
    if result.incomplete:
        return ExitStatus.INTERRUPTED
    if report_only:
        return ExitStatus.OK
    return ExitStatus.of(report.status)


def selects_targets(options: Options) -> bool:
    """An option that chooses among a fleet's targets was given (without --targets, an error)."""
    return bool(options.target_names or options.tags or options.shard or options.shards or options.target_timeout)


def needs_targets() -> int:
    raise CannotRun("--target, --tag, --shard, --shards and --target-timeout choose among the targets of "
                    "--targets FILE: give it")


def base(cat: Catalog, the_plan: Plan, options: Options, now: dt.datetime, load_balancer: str | None = None) -> Report:
    """The report before anything ran: what diagnose streams into, and what each watch cycle fills."""
    from infracheck.judge import verdict
    from infracheck.model import Overall, Report

    return verdict.planned(Report(str(cat.profile["project"]), str(cat.profile["region"]), Overall.UNKNOWN,
                                  cat.areas, (), (), issue=options.issue, checks=the_plan.checks,
                                  escalation=cat.escalation, generated_at=now,
                                  load_balancer=load_balancer), the_plan)


def baseline(options: Options, cat: Catalog) -> Baseline | None:
    """--baseline: an earlier report of this run's project and region (of another, refused)."""
    if options.baseline_file is None:
        return None
    from infracheck.judge import baseline

    return baseline.load(options.baseline_file, str(cat.profile["project"]), str(cat.profile["region"]))


def plan_for(options: Options, cat: Catalog) -> Plan:
    """The checks --include/--exclude select; a replay checks its folder first, keeps the selection it was
    recorded with when given neither, and leaves out what it holds no reads of."""
    from infracheck import plan
    from infracheck.runner import recording

    include, exclude = plan.globs(options.include), plan.globs(options.exclude)
    replay_dir = options.replay
    if replay_dir is not None:
        recording.check_folder(replay_dir)
        recording.check_project(replay_dir, str(cat.profile["project"]), str(cat.profile["region"]))
        if not include and not exclude:
            include, exclude = recording.recorded_selection(replay_dir)
            if include or exclude:
                chosen = " ".join([f"--include {','.join(include)}"] * bool(include) +
                                  [f"--exclude {','.join(exclude)}"] * bool(exclude))
                click.echo(f"infracheck: replaying with the recording's selection {chosen} "
                           "(give --include or --exclude to choose)", err=True)
    return _selected(options, cat, include, exclude)


def _selected(options: Options, cat: Catalog, include: Sequence[str], exclude: Sequence[str]) -> Plan:
    """plan.make, less what a replay's folder holds no reads of."""
    from infracheck import plan
    from infracheck.runner import recording

    the_plan = plan.make(cat, include, exclude)
    return recording.recorded_only(the_plan, options.replay) if options.replay is not None else the_plan


def binder(options: Options, cat: Catalog, the_plan: Plan, ran_on: Mapping[str, str]) -> Binder:
    """The load balancer's discovery for this run: a chain it finds anchors the catalog loaded again with its names.

    `ran_on` is the run's release tracks (runner/tracks.py): the catalog loaded again is resolved on them too,
    so its checks read the same argv."""
    from infracheck.runner import tracks
    from infracheck.runner.discovery import Binder

    def anchor(url_map: str, lb_scope: str) -> tuple[Catalog, Plan]:
        named = dataclasses.replace(options, overrides={**options.overrides, "url_map": url_map, "lb_scope": lb_scope})
        anchored = tracks.resolve(load(named, warn=False), ran_on)  # its warnings were said when the run loaded it
        return anchored, _selected(options, anchored, the_plan.include, the_plan.exclude)

    return Binder(cat, the_plan, anchor)


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        click.echo(f"infracheck: warning: {warning}", err=True)
