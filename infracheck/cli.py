"""The command line: options in, stages in order, an exit code out.

catalog.load -> plan.make -> runner.run (rules.evaluate per check) -> console / report.FORMATTERS[fmt]
-> output.write / recording.save -> exit code

Every command imports the stages it uses when it runs: `--help` loads click
and this module only, `list` and `explain` the catalog, a replay no gcloud or
probe code (tests/test_startup.py holds it to that; start-up is paid by every
invocation and every watch cycle).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import __version__
from infracheck.environment import VARIABLES
from infracheck.exitcodes import ExitStatus
from infracheck.report import FORMATTERS, MACHINE

if TYPE_CHECKING:
    from infracheck import fix, plan, redact, runner
    from infracheck.model import Catalog, Check, Cycle, Finding, Mute, Outcome, Report

EXIT_HELP = """\b
Exit codes (monitoring-plugin convention):
  0  HEALTHY    every rule passed
  1  WARNING    a warning-level rule failed
  2  CRITICAL   a critical rule failed (wins over everything else)
  3  UNKNOWN    a check could not be evaluated, or infracheck could not run
                (usage error, bad catalog, gcloud missing)
  130           interrupted (Ctrl-C); the partial report is printed
With --report-only the exit code is 0 unless infracheck itself failed; `record`
exits with the verdict too."""


def _environment_help() -> str:
    names = [("INFRACHECK_<NAME>", "any profile name, e.g. INFRACHECK_SQL_INSTANCE=prod-db (names: infracheck list)")]
    names += sorted(VARIABLES.items())
    names += [("NO_COLOR", "no colour, whatever --color says"),
              ("TERM=dumb", "no colour and no progress line"),
              ("CLOUDSDK_*", "gcloud's own settings (account, config, proxy) pass through")]
    width = max(len(n) for n, _ in names) + 2
    lines = ["\b", "Environment:"] + [f"  {n:{width}}{text}" for n, text in names]
    lines += ["", "\b", "Shell completion (click's):",
              '  bash  eval "$(_INFRACHECK_COMPLETE=bash_source infracheck)"   (in ~/.bashrc)',
              '  zsh   eval "$(_INFRACHECK_COMPLETE=zsh_source infracheck)"    (in ~/.zshrc)',
              "  fish  _INFRACHECK_COMPLETE=fish_source infracheck | source"]
    return "\n".join(lines)


ENVIRONMENT_HELP = _environment_help()


class Failure(click.ClickException):
    """infracheck cannot run at all: one line on stderr, exit 3."""

    exit_code = ExitStatus.UNKNOWN

    def show(self, file: Any = None) -> None:
        click.echo(f"infracheck: error: {self.format_message()}", err=True)


class Seconds(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A finite number of seconds in [low, high]; every number option uses it.

    click's FloatRange lets nan through (every comparison with nan is false)
    and float() reads "inf": both would reach a timeout or a sleep.
    """

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        return _in_range(self, value, seconds, self.low, self.high, "a number of seconds", param, ctx)


def _in_range(kind: Seconds | Duration, value: Any, seconds: float, low: float, high: float, what: str,
              param: click.Parameter | None, ctx: click.Context | None) -> float:
    if not (math.isfinite(seconds) and low <= seconds <= high):
        kind.fail(f"'{value}' is not {what} between {_seconds(low)} and {_seconds(high)}", param, ctx)
    return seconds


def _seconds(value: float) -> str:
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("h", 3600)):
        if value >= size and value % size == 0:
            count = int(value // size)
            return f"{count} {unit}" if unit == "h" else f"a {unit}" if count == 1 else f"{count} {unit}s"
    return f"{value:g} s"


def _profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--project", metavar="ID", help="GCP project id (default from the profile: netra-staging)."),
        click.option("--region", metavar="REGION", help="Region of the connector, Cloud SQL and Cloud Run (default us-central1)."),
        click.option("--set", "settings", metavar="NAME=VALUE", multiple=True,
                     help="Override a profile name, e.g. --set sql_instance=prod-db; lists take commas."),
        click.option("--profile", "profile_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="A TOML file of profile values to use over the built-in one."),
        click.option("--catalog", "catalog_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Use another catalog folder instead of the built-in commands/."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--include", multiple=True, metavar="GLOB",
                     help="Only rules whose id, check id or area matches (repeatable, commas allowed)."),
        click.option("--exclude", multiple=True, metavar="GLOB",
                     help="Skip rules whose id, check id or area matches, e.g. 'network*'."),
        click.option("--jobs", default=8, show_default=True, type=click.IntRange(1, 64),
                     help="Commands run at the same time."),
        click.option("--timeout", default=60.0, show_default=True, type=Seconds(1, 3600),
                     help="Seconds before a command is killed (with its children)."),
        click.option("--engine", type=click.Choice(["auto", "warm", "process"]), default="auto", show_default=True,
                     help="How gcloud runs: 'warm' loads gcloud once and forks each command from it (same "
                          "output, a fraction of the CPU); 'process' starts one gcloud per command; 'auto' "
                          "is warm where it can start, else process."),
        click.option("--format", "fmt", default="text", show_default=True, type=click.Choice(sorted(FORMATTERS)),
                     help="Report format; machine formats own stdout."),
        click.option("--output", "outputs", multiple=True, metavar="[FORMAT=]PATH",
                     help="Also write the final report (no color) to PATH, in FORMAT if given (repeatable: "
                          "--output junit=infracheck.xml --output markdown=update.md); a bare PATH gets --format."),
        click.option("--issue", metavar="N", help="Name the incident issue in the report header."),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Color on a terminal; NO_COLOR in the environment always turns it off."),
        click.option("--mute", "mute_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                     help="TOML file of [[mute]] entries (rule, resource, reason, owner, expires) accepting known "
                          "findings until a date; default: ./.infracheck-mute.toml when present."),
        click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False, path_type=Path),
                     metavar="REPORT.json",
                     help="An earlier --format json report of this project: mark each finding new, still or "
                          "resolved since then."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=ENVIRONMENT_HELP)
@click.version_option(__version__, prog_name="infracheck")
def cli() -> None:
    """Diagnose a Google Cloud stack (VPC connector, Cloud SQL, secrets, Cloud Run,
    load balancer, DNS/TLS/HTTP/WebSocket) in one command.

    Start with `infracheck diagnose --replay fixtures/outage` (no cloud needed),
    then `infracheck diagnose` in Cloud Shell.
    """


@cli.command(epilog=EXIT_HELP + "\n\n" + ENVIRONMENT_HELP)
@_profile_options
@_run_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud.")
@click.option("--report-only", is_flag=True, help="Print only the final report; exit 0 unless infracheck failed.")
@click.option("--fix-mode", is_flag=True,
              help="After the diagnosis, print the fix plan: waits, gcloud commands and manual steps, causes "
                   "first. Changes nothing unless confirmed (--yes, or a yes on a terminal).")
@click.option("--yes", "-y", is_flag=True, help="With --fix-mode: apply the automatic steps without asking.")
@click.option("--fix-timeout", default=900.0, show_default=True, type=Seconds(10, 7200),
              help="With --fix-mode: seconds each change (or wait for GCP) may take.")
@click.option("--fix-poll", default=10.0, type=Seconds(0.1, 600), hidden=True,
              help="Seconds between two looks at a resource a wait step watches.")
def diagnose(**options: Any) -> None:
    """Run every check and report HEALTHY / WARNING / CRITICAL / UNKNOWN."""
    sys.exit(_diagnose(options, record_dir=None))


@cli.command(epilog="Secret payloads are masked (letters to x, digits to 0, shape kept) so a replay "
             "gives the same verdicts without the values.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_profile_options
@_run_options
@click.option("--force", is_flag=True,
              help="Replace an earlier recording in DIRECTORY (only a folder holding recording.json).")
def record(directory: Path, force: bool, **options: Any) -> None:
    """Run live and save every command's output into DIRECTORY for --replay."""
    from infracheck.runner import recording
    from infracheck.model import CannotRun

    options.update(replay=None, report_only=False)
    try:
        recording.prepare(directory, force)
    except CannotRun as exc:
        raise Failure(str(exc)) from None
    sys.exit(_diagnose(options, record_dir=directory))


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """Seconds, or a number with s, m or h: 900, 15m, 1h."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        text = str(value).strip().lower()
        scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
        try:
            seconds = float(text[:-1] if scale else text) * (scale or 1)
        except ValueError:
            self.fail(f"'{value}' is not a duration (e.g. 900, 15m, 1h)", param, ctx)
        if seconds <= 0:  # "a duration" is never zero: --max-wait 0 would stop before the first look
            self.fail(f"'{value}' is not a duration between 1 s and a week", param, ctx)
        return _in_range(self, value, seconds, 1, 7 * 86400, "a duration", param, ctx)


@cli.command(name="watch", epilog=EXIT_HELP + """

\b
With --until healthy: exit 0 as soon as the stack is HEALTHY (a partial
re-check that looks healthy is confirmed by a full run first); with
--max-wait, exit with the verdict of the last cycle when time runs out.""")
@_profile_options
@_run_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud.")
@click.option("--interval", default=60.0, show_default=True, type=Seconds(0, 86400),
              help="Seconds between two cycles.")
@click.option("--until", type=click.Choice(["healthy"]), help="Stop, exit 0, once the stack is HEALTHY.")
@click.option("--max-wait", type=Duration(), metavar="DURATION",
              help="Stop after this long (900, 15m, 1h) with the last cycle's verdict as exit code.")
@click.option("--full-every", default=10, show_default=True, type=click.IntRange(1, 10000),
              help="Re-run every check every N cycles; the cycles between re-run only what fails.")
def watch_command(**options: Any) -> None:
    """Re-run the diagnosis on an interval and print only what changed, until healthy.

    The first cycle runs everything and prints the state; later cycles re-run
    what is failing or could not be checked and print each change with its
    time. --format json prints one report per cycle, one per line (JSON Lines).
    """
    from infracheck import redact
    from infracheck.report import console
    from infracheck.model import CannotRun

    secrets = redact.Secrets()  # every cycle's secret values, scrubbed from every cycle's output
    try:
        with console.guard(secrets.scrub):
            sys.exit(_watch(options, secrets))
    except CannotRun as exc:
        raise Failure(secrets.scrub(str(exc))) from None


def _stream_formats(command: click.Command) -> click.Command:
    """watch prints a stream: changes (text), one report per line (json), one status line (nagios).

    The other formats describe one state for a person or a CI system: --output
    writes them, for the last cycle, when the watch ends.
    """
    for param in command.params:
        if param.name == "fmt":
            param.type = click.Choice(["json", "nagios", "text"])
            param.help = ("What each cycle prints: text (what changed), json (the report, one per line: "
                          "JSON Lines), nagios (one status line); --output writes any format for the last cycle.")
    return command


_stream_formats(watch_command)


def _watch(options: dict[str, Any], secrets: redact.Secrets) -> int:
    import dataclasses
    import time

    from infracheck import plan, runner, watch
    from infracheck.judge import mutes, verdict
    from infracheck.report import console, output
    from infracheck.runner import recording
    from infracheck.exitcodes import ExitStatus
    from infracheck.model import Report
    from infracheck.report import json as json_report
    from infracheck.report import text as text_report

    cat = _load(options)
    replay_dir: Path | None = options.get("replay")
    if replay_dir is not None:
        recording.check_folder(replay_dir)
        recording.check_project(replay_dir, str(cat.profile["project"]))
    include, exclude = plan.globs(options["include"]), plan.globs(options["exclude"])
    the_plan = plan.make(cat, include, exclude)
    source = runner.source(the_plan.checks, options["timeout"], replay_dir, cat.profile.get("journey"),
                           options["engine"], options["jobs"])
    lb = _Discovery(options, cat, the_plan, include, exclude)
    lb.upfront(source)
    cat, the_plan = lb.cat, lb.plan
    fmt = options["fmt"]
    accepted = mutes.find(options.get("mute_file"), Path("."), recording.clock(replay_dir))
    since = None
    if options.get("baseline_file"):
        from infracheck.judge import baseline

        since = baseline.load(options["baseline_file"], str(cat.profile["project"]))
    files = output.parse(options["outputs"], fmt)
    output.check(files, replay_dir)
    color = console.use_color(options["color"], sys.stdout)
    ascii_only = not console.can_encode(sys.stdout)
    # What the last cycle left: the rules' findings (before mutes and causes) and every command's outcome.
    known: tuple[Finding, ...] = ()
    outcomes: dict[tuple[str, ...], Outcome] = {}

    def diagnose(subset: Sequence[Check] | None) -> Report:
        """One cycle: run the subset, merge it into what is known, and judge it all as diagnose does."""
        nonlocal known
        narrowed = the_plan if subset is None else plan.subset(the_plan, [(c.id, c.resource) for c in subset])
        now = recording.clock(replay_dir)
        result = runner.run(narrowed, source, options["jobs"], now, secrets=secrets, deadline=deadline)
        fresh = tuple(f for i in sorted(result.findings) for f in result.findings[i])
        known = fresh + the_plan.skip_findings + lb.findings if subset is None else verdict.merge(known, fresh)
        outcomes.update((o.argv, o) for o in result.outcomes)
        order = {argv: i for i, argv in enumerate(the_plan.users)}
        merged = tuple(sorted(outcomes.values(), key=lambda o: order.get(o.argv, len(order))))
        return _judge(_base(cat, the_plan, options, now, lb.line), narrowed,
                      dataclasses.replace(result, outcomes=merged), known, accepted, now, since, source)

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

    # --max-wait holds even for a cycle in flight: its commands are stopped at the deadline.
    deadline = None if options["max_wait"] is None else time.monotonic() + options["max_wait"]
    try:
        last = watch.loop(diagnose, the_plan.checks, interval=options["interval"], emit=emit,
                          until_healthy=options["until"] == "healthy", max_wait=options["max_wait"],
                          full_every=options["full_every"])
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


@cli.command(name="list")
@_profile_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown: the page docs/checks.md (each check and rule with its title and why).")
def list_checks(fmt: str, **options: Any) -> None:
    """Every check and rule: id, severity, the exact command it runs."""
    click.echo(_views(options)["list"][fmt], nl=False)


@cli.command()
@click.argument("rule_id")
@_profile_options
def explain(rule_id: str, **options: Any) -> None:
    """Why a rule exists, what it reads, and how to fix what it finds."""
    text = _views(options)["explain"].get(rule_id)
    if text is None:
        raise Failure(f"no rule or check '{rule_id}' (see infracheck list)")
    click.echo(text, nl=False)


# --- the pipeline ------------------------------------------------------------

def _load(options: dict[str, Any]) -> Catalog:
    from infracheck.catalog import cache

    cat: Catalog = _catalog(options, cache.load)
    _warn(cat.warnings)
    return cat


def _views(options: dict[str, Any]) -> dict[str, Any]:
    """What `list` and `explain` print for this catalog (listing.py), kept beside the cached catalog."""
    from infracheck.catalog import cache

    shown: dict[str, Any] = _catalog(options, cache.views)
    _warn(shown["warnings"])
    return shown


def _catalog(options: dict[str, Any], read: Callable[..., Any]) -> Any:
    """read(catalog folder, --set, --profile, --project/--region); a refusal is the CLI's one-line error."""
    from infracheck.errors import CannotRun

    overrides: dict[str, str] = {}
    for item in options.get("settings") or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--set")
        overrides[name.strip()] = value
    flags = {name: options[name] for name in ("project", "region") if options.get(name) is not None}
    try:
        return read(options.get("catalog_dir"), overrides, profile_file=options.get("profile_file"), flags=flags)
    except CannotRun as exc:
        raise Failure(str(exc)) from None


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        click.echo(f"infracheck: warning: {warning}", err=True)


def _diagnose(options: dict[str, Any], record_dir: Path | None) -> int:
    from infracheck import redact, runner
    from infracheck.report import console
    from infracheck.model import CannotRun

    # The secret values this run reads (in memory only): whatever leaves the
    # run (stdout, stderr, report files, the recording, an error) is scrubbed of them.
    secrets = redact.Secrets()
    # gcloud loads in the warm engine while the catalog is read and the run planned.
    early = None if options.get("replay") else runner.warm_up(options["engine"], options["jobs"], options["timeout"])
    try:
        with console.guard(secrets.scrub):
            return _stages(options, record_dir, early, secrets)
    except CannotRun as exc:
        raise Failure(secrets.scrub(str(exc))) from None
    finally:
        if early is not None:
            early.discard()  # not taken by the run: an error came first, or no gcloud command was planned


def _stages(
    options: dict[str, Any], record_dir: Path | None, early: runner.Early | None, secrets: redact.Secrets
) -> int:
    """load -> plan -> run (judging as it goes, shown on the console) -> report -> files -> exit code."""
    import dataclasses

    # Not fix, baseline or the text renderer: only the options that use them import them.
    from infracheck import plan, runner
    from infracheck.judge import mutes
    from infracheck.report import console, output
    from infracheck.runner import recording
    from infracheck.exitcodes import ExitStatus
    from infracheck.model import CannotRun

    cat = _load(options)
    replay_dir: Path | None = options.get("replay")
    if options.get("yes") and not options.get("fix_mode"):
        raise CannotRun("--yes goes with --fix-mode")
    if options.get("yes") and replay_dir is not None:
        raise CannotRun("--yes changes a live project: with --replay, --fix-mode only prints the plan "
                        "for the recorded state")
    include, exclude = plan.globs(options["include"]), plan.globs(options["exclude"])
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
    the_plan = plan.make(cat, include, exclude)
    source = runner.source(the_plan.checks, options["timeout"], replay_dir, cat.profile.get("journey"),
                           options["engine"], options["jobs"], early)
    lb = _Discovery(options, cat, the_plan, include, exclude)
    now = recording.clock(replay_dir)
    project = str(cat.profile["project"])
    # Both files are read before anything runs: a bad one is exit 3 at once, not after the run.
    accepted = mutes.find(options.get("mute_file"), Path("."), now)
    live = mutes.active(accepted, now)
    area_ids = [a.id for a in cat.areas]
    expired = mutes.expired(accepted, now, area_ids)
    since = None
    if options.get("baseline_file"):
        from infracheck.judge import baseline

        since = baseline.load(options["baseline_file"], project, str(cat.profile["region"]))
    fmt, report_only = options["fmt"], options["report_only"]
    files = output.parse(options["outputs"], fmt)
    output.check(files, replay_dir)

    partial = _base(cat, the_plan, options, now, lb.line)
    progress = console.Progress(len(the_plan.sources),
                                sys.stderr.isatty() and not report_only and not console.dumb_terminal())
    screen = console.Console(sys.stdout, cat.areas, fmt, report_only=report_only,
                             color=console.use_color(options["color"], sys.stdout),
                             ascii_only=not console.can_encode(sys.stdout), progress=progress)
    screen.start(partial)
    try:
        result = runner.run(the_plan, source, options["jobs"], now, screen.outcome,
                            lambda results, remaining: screen.judged(mutes.mute_all(results, live, expired), remaining),
                            secrets=secrets, late=lb.late())
    finally:
        runner.close(source)
    # The load balancer checks as they were judged: anchored on the chain found, or not judged and why.
    cat, the_plan = lb.cat, lb.plan
    partial = dataclasses.replace(partial, checks=the_plan.checks, escalation=cat.escalation, load_balancer=lb.line)

    findings = tuple(f for i in sorted(result.findings) for f in result.findings[i]) + the_plan.skip_findings
    report = _judge(partial, the_plan, result, findings, accepted, now, since, source)
    fix_plan = None
    if options.get("fix_mode") and not result.incomplete:
        from infracheck import fix

        fix_plan = fix.plan(the_plan.checks, report.findings, {o.argv: o for o in result.outcomes})
        report = dataclasses.replace(report, fixes=fix.rows(fix_plan))
    live_fix = fix_plan is not None and bool(fix_plan.automatic) and replay_dir is None
    # A machine format prints one document: with --yes, the one after the fixes.
    screen.finish(mutes.mute_all(result.findings, live, expired), report,
                  quiet=live_fix and bool(options.get("yes")) and fmt in MACHINE)
    if live_fix and (options.get("yes") or _confirm(fix_plan, fmt)):  # type: ignore[arg-type]
        assert fix_plan is not None
        report = _apply_fixes(report, fix_plan, the_plan, options, live, secrets)
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
        written = recording.save(record_dir, report, the_plan.sensitive, recording.clock(),
                                 (the_plan.include, the_plan.exclude), scrub=secrets.scrub)
        click.echo(f"infracheck: recorded {len(report.outcomes)} commands ({written} files) into {record_dir}",
                   err=True)
    if result.incomplete:
        return ExitStatus.INTERRUPTED
    if report_only:
        return ExitStatus.OK
    return ExitStatus.of(report.status)


def _base(cat: Catalog, the_plan: plan.Plan, options: dict[str, Any], now: Any,
          load_balancer: str | None = None) -> Report:
    """The report before anything ran: what diagnose streams into, and what each watch cycle fills."""
    from infracheck.judge import verdict
    from infracheck.model import Overall, Report

    return verdict.planned(Report(str(cat.profile["project"]), str(cat.profile["region"]), Overall.UNKNOWN,
                                  cat.areas, (), (), issue=options.get("issue"), checks=the_plan.checks,
                                  escalation=cat.escalation, generated_at=now,
                                  load_balancer=load_balancer), the_plan)


def _judge(
    base: Report, the_plan: plan.Plan, result: runner.Result, findings: Sequence[Finding], accepted: Sequence[Mute],
    now: Any, since: Any, source: object,
) -> Report:
    """The findings of a run (rules judged, skips added) -> the report: causes, mutes, baseline, verdict.

    diagnose and every watch cycle report through here, so a cycle's report is
    the one diagnose would give for the same state (every format, --output).
    """
    import dataclasses

    from infracheck.judge import causes, mutes, verdict

    findings = causes.analyse(findings)  # order and grouping only: the verdict reads the same findings
    applied = mutes.apply(findings, accepted, now, complete=not result.incomplete, areas=[a.id for a in base.areas])
    findings, changes = (applied.findings, None)
    if since:
        from infracheck.judge import baseline

        findings, changes = baseline.compare(applied.findings, since)
    return dataclasses.replace(base, status=verdict.overall(findings, result.incomplete), findings=findings,
                               outcomes=result.outcomes, incomplete=result.incomplete,
                               unfinished=verdict.unfinished(the_plan, result),
                               stale_mutes=applied.stale, changes=changes,
                               engine=_engine(source), engine_note=_engine_note(source))


class _Discovery:
    """The load balancer found by its domains (url_map unset), bound to the plan's load balancer checks.

    `late()` gives the run stage the commands discovery reads and a `bind`
    that, once they are in, anchors those checks on the chain found (the
    catalog loaded again with url_map and lb_scope; the same checks in the
    same order, only names filled in) or replaces them with the one finding
    that says why none is judged. `found` and `plan` are what bind decided.
    """

    def __init__(self, options: dict[str, Any], cat: Catalog, the_plan: Any,
                 include: Sequence[str], exclude: Sequence[str]) -> None:
        from infracheck.runner import discovery

        self.options, self.cat, self.plan = options, cat, the_plan
        self.include, self.exclude = include, exclude
        self.indexes = frozenset(i for i, c in enumerate(the_plan.checks) if c.area == discovery.AREA)
        self.found: Any = None
        if self.indexes and cat.profile.get("url_map"):
            url_map, scope = cat.profile["url_map"], cat.profile["lb_scope"]
            self.found = discovery.Found(str(url_map), str(scope),
                                         f"load balancer: URL map '{url_map}' ({scope}), as url_map names it")
        lb_sources = [argv for c in cat.checks if c.area == discovery.AREA for argv in c.sources]
        self.lists = discovery.sources(lb_sources)
        self.probes = discovery.dns_sources(the_plan.sources, [str(d) for d in cat.profile["domains"]])

    @property
    def line(self) -> str | None:
        return self.found.line if self.found is not None and self.found.line else None

    @property
    def findings(self) -> tuple[Any, ...]:
        return tuple(self.found.findings) if self.found is not None else ()

    def late(self) -> Any:
        """What the run stage needs (runner.Late), or None when nothing is to be found."""
        from infracheck import runner

        if not self.indexes or self.found is not None:
            return None
        return runner.Late(self.indexes, (*self.lists.values(), *self.probes.values()), self.bind)

    def bind(self, finished: Any) -> dict[int, Any]:
        from infracheck import plan
        from infracheck.catalog import cache
        from infracheck.runner import discovery
        from infracheck.errors import CannotRun

        self.found = discovery.find(self.cat.profile, {name: finished[argv] for name, argv in self.lists.items()},
                                    {domain: finished[argv] for domain, argv in self.probes.items()})
        if self.found.url_map:
            chosen = (*(self.options.get("settings") or ()),
                      f"url_map={self.found.url_map}", f"lb_scope={self.found.lb_scope}")
            try:
                cat = _catalog({**self.options, "settings": chosen}, cache.load)
            except (CannotRun, click.ClickException) as exc:  # a name GCP gave that the profile refuses
                self.found = discovery.Found(findings=(discovery.could_not(str(exc)),))
            else:
                anchored = plan.make(cat, self.include, self.exclude)
                # The same checks reading the same commands (the URL map's name is in no command).
                same = [(c.id, c.sources) for c in anchored.checks] == [(c.id, c.sources) for c in self.plan.checks]
                if same:
                    self.cat, self.plan = cat, anchored
                    return {i: anchored.checks[i] for i in self.indexes}
                self.found = discovery.Found(findings=(discovery.could_not("the plan changed with its name"),))
        first = min(self.indexes)
        return {i: self.found.findings if i == first else () for i in self.indexes}

    def upfront(self, source: Any) -> None:
        """Find it before anything else runs (watch, whose cycles re-run a fixed plan)."""
        import dataclasses

        from infracheck import runner

        late = self.late()
        if late is None:
            return
        done = {o.argv: o for o in runner.collect(late.needs, source, self.options["jobs"])}
        bound = self.bind(done)
        if self.found.url_map:
            return
        keep = [i for i in range(len(self.plan.checks)) if i not in bound]
        self.plan = dataclasses.replace(self.plan, checks=tuple(self.plan.checks[i] for i in keep),
                                        skipped=tuple(self.plan.skipped[i] for i in keep))


def _confirm(fix_plan: fix.FixPlan, fmt: str) -> bool:
    """On a terminal, ask before changing anything; never ask a pipe or a machine format."""
    if fmt in MACHINE or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return click.confirm(f"Apply the {len(fix_plan.automatic)} automatic step(s) now?", default=False, err=True)


def _apply_fixes(
    report: Report, fix_plan: fix.FixPlan, the_plan: plan.Plan, options: dict[str, Any], live: Sequence[Mute],
    secrets: redact.Secrets,
) -> Report:
    """Apply the plan through gcloud, re-check what it touched (and what still failed), judge again."""
    import dataclasses

    from infracheck import fix, plan, runner
    from infracheck.judge import causes, mutes, verdict
    from infracheck.runner import recording

    source = runner.live(options["timeout"])
    timeout = options["fix_timeout"]

    def recheck(keys: Sequence[tuple[str, str]]) -> list[Finding]:
        result = runner.run(plan.subset(the_plan, keys), source, options["jobs"], recording.clock(), secrets=secrets)
        if result.incomplete:
            raise KeyboardInterrupt  # Ctrl-C landed inside the re-check: the step was interrupted
        return [mutes.mute(f, live) for i in sorted(result.findings) for f in result.findings[i]]

    def progress(message: str) -> None:
        if sys.stderr.isatty():
            click.echo(f"  {message}"[:160], err=True)

    results = fix.apply(
        fix_plan,
        run_command=lambda argv: runner.command(argv, timeout),
        recheck=lambda checks: recheck([(c.id, c.resource) for c in checks]),
        timeout=timeout,
        poll_interval=options["fix_poll"],
        progress=progress,
    )
    if fix.interrupted(results):
        runner.stop()  # the gcloud a step was running, and its children
        ran = [str(n) for n, r in enumerate(results, 1) if r.outcome in (
            fix.StepOutcome.APPLIED, fix.StepOutcome.WAITED, fix.StepOutcome.FAILED, fix.StepOutcome.TIMED_OUT,
            fix.StepOutcome.BLOCKED)]
        stopped = next(n for n, r in enumerate(results, 1) if r.outcome is fix.StepOutcome.INTERRUPTED)
        not_run = [str(n) for n, r in enumerate(results, 1) if r.outcome is fix.StepOutcome.NOT_RUN]
        click.echo(f"infracheck: interrupted during fix step {stopped} (it may or may not have taken effect); "
                   f"steps run: {', '.join(ran) or 'none'}; not run: {', '.join(not_run) or 'none'}; "
                   "the findings are the diagnosis's: re-run infracheck diagnose to see the state now", err=True)
        # Nothing is re-checked after Ctrl-C: the report is the diagnosis with what the steps did.
        return dataclasses.replace(report, before=report.status, incomplete=True,
                                   fixes=fix.rows(fix_plan, results))
    for number, result in enumerate(results, 1):
        if result.outcome in (fix.StepOutcome.FAILED, fix.StepOutcome.TIMED_OUT):
            click.echo(f"infracheck: fix step {number} {result.outcome.value}: {result.message}; "
                       "the steps after it were not run", err=True)
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


def _engine(source: object) -> str:
    from infracheck import runner

    return source.engine if isinstance(source, runner.Live) else "replay"


def _engine_note(source: object) -> str | None:
    from infracheck import runner

    if not isinstance(source, runner.Live):
        return None
    if source.ran_as_process:
        return f"{source.ran_as_process} command(s) ran as their own process after the warm engine lost them"
    return source.note or None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: click's own usage errors exit 3 here (UNKNOWN), not click's 2."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="infracheck",
                        standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError):
            click.echo(f"infracheck: error: {exc.format_message()}", err=True)
            click.echo("Try 'infracheck --help'.", err=True)
        else:
            exc.show()
        return ExitStatus.UNKNOWN
    except click.exceptions.Abort:
        return ExitStatus.INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitStatus.UNKNOWN
    except BrokenPipeError:
        # `infracheck diagnose | head` closed the pipe: not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
