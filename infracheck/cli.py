"""The command line: options in, stages in order, an exit code out.

catalog.load -> plan.make -> runner.run (rules.evaluate per check) -> console / report.FORMATTERS[fmt]
-> output.write / recording.save -> exit code
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from infracheck import __version__, baseline, catalog, console, mutes, output, plan, recording, rules, runner, verdict
from infracheck.catalog import Catalog
from infracheck.model import CannotRun, Check, ExitStatus, Report, Rule
from infracheck.report import FORMATTERS

EXIT_HELP = """\b
Exit codes (monitoring-plugin convention):
  0  HEALTHY    every rule passed
  1  WARNING    a warning-level rule failed
  2  CRITICAL   a critical rule failed (wins over everything else)
  3  UNKNOWN    a check could not be evaluated, or infracheck could not run
                (usage error, bad catalog, gcloud missing)
  130           interrupted (Ctrl-C); the partial report is printed
With --report-only the exit code is 0 unless infracheck itself failed."""


class Failure(click.ClickException):
    """infracheck cannot run at all: one line on stderr, exit 3."""

    exit_code = ExitStatus.UNKNOWN

    def show(self, file: Any = None) -> None:
        click.echo(f"infracheck: error: {self.format_message()}", err=True)


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
        click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
                     help="Seconds before a command is killed (with its children)."),
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="infracheck")
def cli() -> None:
    """Diagnose a Google Cloud stack (VPC connector, Cloud SQL, secrets, Cloud Run,
    load balancer, DNS/TLS/HTTP/WebSocket) in one command.

    Start with `infracheck diagnose --replay fixtures/outage` (no cloud needed),
    then `infracheck diagnose` in Cloud Shell.
    """


@cli.command(epilog=EXIT_HELP)
@_profile_options
@_run_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud.")
@click.option("--report-only", is_flag=True, help="Print only the final report; exit 0 unless infracheck failed.")
def diagnose(**options: Any) -> None:
    """Run every check and report HEALTHY / WARNING / CRITICAL / UNKNOWN."""
    sys.exit(_diagnose(options, record_dir=None))


@cli.command(epilog="Secret payloads are masked (letters to x, digits to 0, shape kept) so a replay "
             "gives the same verdicts without the values.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_profile_options
@_run_options
def record(directory: Path, **options: Any) -> None:
    """Run live and save every command's output into DIRECTORY for --replay."""
    options.update(replay=None, report_only=False)
    sys.exit(_diagnose(options, record_dir=directory))


@cli.command(name="list")
@_profile_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_checks(fmt: str, **options: Any) -> None:
    """Every check and rule: id, severity, the exact command it runs."""
    cat = _load(options)
    groups: dict[str, list[Check]] = {}
    for check in cat.checks:
        groups.setdefault(check.id, []).append(check)
    if fmt == "json":
        out = [
            {
                "check": cid, "area": checks[0].area, "title": checks[0].title,
                "commands": list(dict.fromkeys(shlex.join(c.argv) for c in checks)),
                "foreach": checks[0].foreach,
                "rules": [{"id": r.id, "severity": r.severity.name.lower(), "fails_with": _sample(r, checks)}
                          for r in checks[0].rules],
                "missing": checks[0].missing.message if checks[0].missing else None,
            }
            for cid, checks in groups.items()
        ]
        click.echo(json.dumps(out, indent=2))
        return
    areas = {a.id: a for a in cat.areas}
    current = None
    for cid, checks in groups.items():
        if checks[0].area != current:
            current = checks[0].area
            click.echo(f"\n[{current}] {areas[current].title}")
        click.echo(f"  {cid}" + (f"   (for each {checks[0].foreach})" if checks[0].foreach else ""))
        for command in dict.fromkeys(shlex.join(c.argv) for c in checks):
            click.echo(f"      $ {command}")
        for _, extra in checks[0].extras:
            click.echo(f"      $ {shlex.join(extra)}")
        if checks[0].missing:
            click.echo(f"      {cid + '.exists':38} {checks[0].missing.severity.name.lower():8}  {checks[0].missing.message}")
        for r in checks[0].rules:
            click.echo(f"      {r.id:38} {r.severity.name.lower():8}  {_sample(r, checks)}")


def _sample(rule: Rule, checks: Sequence[Check]) -> str:
    """The failure message as the first item the rule applies to would read it."""
    check = next((c for c in checks if rules.applies(rule, c)), checks[0])
    message = next(r for r in check.rules if r.id == rule.id).message
    return message.replace("{actual}", "…").replace("{value}", str(rule.value)).replace("{expected}", rule.expected)


@cli.command()
@click.argument("rule_id")
@_profile_options
def explain(rule_id: str, **options: Any) -> None:
    """Why a rule exists, what it reads, and how to fix what it finds."""
    cat = _load(options)
    for check in cat.checks:
        if rule_id in (check.id, f"{check.id}.exists"):
            click.echo(f"{check.id}: {check.title}\narea: {check.area}\n")
            if check.why:
                click.echo(check.why + "\n")
            click.echo(f"command: {shlex.join(check.argv)}")
            if check.missing:
                click.echo(f"when missing: {check.missing.severity.name.lower()}: {check.missing.message}")
                if check.missing.remedy:
                    click.echo(f"remedy: {check.missing.remedy}")
            click.echo("rules: " + ", ".join(r.id for r in check.rules))
            return
        for rule in check.rules:
            if rule.id != rule_id or not rules.applies(rule, check):
                continue  # show the first item the rule judges, not one it skips
            click.echo(f"{rule.id}: {rule.title or rule.message}")
            click.echo(f"area: {check.area}   severity: {rule.severity.name.lower()}   check: {check.id}\n")
            if rule.why:
                click.echo(rule.why + "\n")
            click.echo(f"command:  {shlex.join(check.argv)}")
            for name, extra in check.extras:
                click.echo(f"with {name}: {shlex.join(extra)}")
            if check.select:
                click.echo(f"select:   {check.select}")
            if rule.when:
                click.echo(f"applies:  when {rule.when}")
            click.echo(f"reads:    {rule.path}")
            click.echo(f"expects:  {rule.expected or rule.op + ' ' + json.dumps(rule.value)}")
            click.echo(f"message:  {rule.message}")
            if rule.remedy:
                click.echo(f"remedy:   {rule.remedy}")
            return
    raise Failure(f"no rule or check '{rule_id}' (see infracheck list)")


# --- the pipeline ------------------------------------------------------------

def _load(options: dict[str, Any]) -> Catalog:
    overrides: dict[str, str] = {}
    for item in options.get("settings") or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--set")
        overrides[name.strip()] = value
    for name in ("project", "region"):
        if options.get(name) is not None:
            overrides[name] = options[name]
    try:
        return catalog.load(options.get("catalog_dir"), overrides, profile_file=options.get("profile_file"))
    except CannotRun as exc:
        raise Failure(str(exc)) from None


def _diagnose(options: dict[str, Any], record_dir: Path | None) -> int:
    try:
        return _stages(options, record_dir)
    except CannotRun as exc:
        raise Failure(str(exc)) from None


def _stages(options: dict[str, Any], record_dir: Path | None) -> int:
    """load -> plan -> run (judging as it goes, shown on the console) -> report -> files -> exit code."""
    cat = _load(options)
    the_plan = plan.make(cat, plan.globs(options["include"]), plan.globs(options["exclude"]))
    replay_dir: Path | None = options.get("replay")
    source = runner.source(the_plan.checks, options["timeout"], replay_dir)
    now = recording.clock(replay_dir)
    project = str(cat.profile["project"])
    # Both files are read before anything runs: a bad one is exit 3 at once, not after the run.
    accepted = mutes.find(options.get("mute_file"), Path("."), now)
    live = mutes.active(accepted, now)
    since = baseline.load(options["baseline_file"], project) if options.get("baseline_file") else None
    fmt, report_only = options["fmt"], options["report_only"]
    files = output.parse(options["outputs"], fmt)
    output.check(files)

    partial = Report(project, str(cat.profile["region"]), verdict.overall([]), cat.areas,
                     (), (), issue=options.get("issue"), checks=the_plan.checks, escalation=cat.escalation,
                     generated_at=now)
    progress = console.Progress(len(the_plan.sources), sys.stderr.isatty() and not report_only)
    screen = console.Console(sys.stdout, cat.areas, fmt, report_only=report_only,
                             color=console.use_color(options["color"], sys.stdout),
                             ascii_only=not console.can_encode(sys.stdout), progress=progress)
    screen.start(partial)
    result = runner.run(the_plan, source, options["jobs"], now, screen.outcome,
                        lambda results, remaining: screen.judged(mutes.mute_all(results, live), remaining))

    findings = tuple(f for i in sorted(result.findings) for f in result.findings[i]) + the_plan.skip_findings
    applied = mutes.apply(findings, accepted, now, complete=not result.incomplete)
    findings, changes = baseline.compare(applied.findings, since) if since else (applied.findings, None)
    report = dataclasses.replace(partial, status=verdict.overall(findings), findings=findings,
                                 outcomes=result.outcomes, incomplete=result.incomplete,
                                 stale_mutes=applied.stale, changes=changes)
    screen.finish(mutes.mute_all(result.findings, live), report)
    output.write_all(files, report)
    if fmt == "github" and not result.incomplete:
        output.append_step_summary(report, os.environ)
    if record_dir is not None and not result.incomplete:
        written = recording.save(record_dir, report, the_plan.sensitive, recording.clock())
        click.echo(f"infracheck: recorded {len(report.outcomes)} commands ({written} files) into {record_dir}",
                   err=True)
    if result.incomplete:
        return ExitStatus.INTERRUPTED
    if report_only or record_dir is not None:
        return ExitStatus.OK
    return ExitStatus.of(report.status)


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
