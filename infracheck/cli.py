"""The command line: options in, stages in order, an exit code out.

catalog.load -> runner.collect -> rules.evaluate -> report.FORMATTERS[fmt]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from infracheck import __version__, catalog, gcloud, probes, recording, rules, runner, verdict
from infracheck.catalog import Catalog, CatalogError
from infracheck.model import Check, ExitStatus, Finding, Outcome, Report, Rule, Status
from infracheck.report import FORMATTERS, MACHINE, text

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
        click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                     help="Also write the final report (no color) to this file."),
        click.option("--issue", metavar="N", help="Name the incident issue in the report header."),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Color on a terminal; NO_COLOR in the environment always turns it off."),
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
        cat = catalog.load(options.get("catalog_dir"), overrides, profile_file=options.get("profile_file"))
        rules.validate(cat.checks)
    except CatalogError as exc:
        raise Failure(str(exc)) from None
    return cat


def _globs(values: Sequence[str]) -> list[str]:
    return [g.strip() for v in values for g in v.split(",") if g.strip()]


@dataclasses.dataclass
class _Progress:
    """One self-overwriting line on stderr, only on a terminal."""

    total: int
    enabled: bool
    done: int = 0

    def step(self, outcome: Outcome) -> None:
        self.done += 1
        if self.enabled:
            words = (a for a in outcome.argv if not a.startswith(("--project=", "--format=")))
            label = " ".join(words)[:70]
            click.echo(f"\r\033[K  [{self.done}/{self.total}] done: {label}", err=True, nl=False)

    def clear(self) -> None:
        if self.enabled and self.done:
            click.echo("\r\033[K", err=True, nl=False)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The checks that run, the rules each skips, and the findings for skipped rules."""

    checks: tuple[Check, ...]
    skipped: tuple[frozenset[str], ...]
    skip_findings: tuple[Finding, ...]


def _plan(cat: Catalog, include: list[str], exclude: list[str]) -> _Plan:
    checks, skipped, skip_findings = [], [], []
    for check in cat.checks:
        off = frozenset(r.id for r in check.rules if not catalog.is_selected(check, r.id, include, exclude))
        runs = len(off) < len(check.rules) or (
            check.missing is not None and catalog.is_selected(check, f"{check.id}.exists", include, exclude)
        )
        skip_findings += [rules.skipped_finding(check, r) for r in check.rules if r.id in off]
        if runs:
            checks.append(check)
            skipped.append(off)
    if include and not checks:
        raise Failure(f"no check or rule matches --include {' '.join(include)} (see infracheck list)")
    return _Plan(tuple(checks), tuple(skipped), tuple(skip_findings))


def _diagnose(options: dict[str, Any], record_dir: Path | None) -> int:
    cat = _load(options)
    plan = _plan(cat, _globs(options["include"]), _globs(options["exclude"]))
    fmt, report_only = options["fmt"], options["report_only"]
    color = _use_color(options["color"], sys.stdout)
    ascii_only = not _can_encode(sys.stdout)
    source = _source(options, plan.checks)
    rules.use_clock(_clock(options.get("replay")))

    partial = Report(str(cat.profile["project"]), str(cat.profile["region"]), verdict.overall([]), cat.areas,
                     (), (), issue=options.get("issue"))
    # Text streams area by area; machine formats and --report-only print once, at the end.
    stream = fmt not in MACHINE and not report_only
    out = sys.stdout
    if stream:
        out.write(text.header(partial, color=color, ascii_only=ascii_only))
        out.flush()
    printed = 0
    progress = _Progress(len({a for c in plan.checks for a in c.sources}), sys.stderr.isatty() and not report_only)

    def print_ready_areas(results: dict[int, list[Finding]], remaining: dict[str, int], everything: bool) -> None:
        nonlocal printed
        while stream and printed < len(cat.areas) and (everything or remaining[cat.areas[printed].id] == 0):
            progress.clear()
            found = [f for i in sorted(results) for f in results[i]]
            out.write("\n" if printed else "")
            out.write(text.area_block(cat.areas[printed], found, color=color, ascii_only=ascii_only))
            out.flush()
            printed += 1

    results, outcomes, incomplete = _run(cat, plan, source, options["jobs"], progress, print_ready_areas)
    progress.clear()
    print_ready_areas(results, {}, everything=True)

    findings = tuple(f for i in sorted(results) for f in results[i]) + plan.skip_findings
    report = dataclasses.replace(
        partial, status=verdict.overall(findings), findings=findings, outcomes=tuple(outcomes),
        incomplete=incomplete,
    )
    if stream:
        out.write(text.summary(report, color=color, ascii_only=ascii_only))
    else:
        out.write(FORMATTERS[fmt](report, color=color and fmt == "text", ascii_only=ascii_only))
    out.flush()
    if options.get("output"):
        _write(options["output"], FORMATTERS[fmt](report, color=False, ascii_only=False))
    if record_dir is not None and not incomplete:
        _record(record_dir, report, plan)
    if incomplete:
        return ExitStatus.INTERRUPTED
    if report_only or record_dir is not None:
        return ExitStatus.OK
    return ExitStatus.of(report.status)


def _run(
    cat: Catalog,
    plan: _Plan,
    source: runner.Source,
    jobs: int,
    progress: _Progress,
    on_progress: Callable[[dict[int, list[Finding]], dict[str, int], bool], None],
) -> tuple[dict[int, list[Finding]], list[Outcome], bool]:
    """Run every source once; judge each check as soon as all its sources are in.

    Returns the findings by check index, the outcomes in catalog order, and
    whether the run was interrupted (Ctrl-C).
    """
    by_argv: dict[tuple[str, ...], list[int]] = {}
    for index, check in enumerate(plan.checks):
        for argv in check.sources:
            by_argv.setdefault(argv, []).append(index)
    waiting = {index: set(check.sources) for index, check in enumerate(plan.checks)}
    finished: dict[tuple[str, ...], Outcome] = {}
    results: dict[int, list[Finding]] = {}
    remaining = {a.id: sum(1 for c in plan.checks if c.area == a.id) for a in cat.areas}
    incomplete = False
    try:
        for outcome in runner.collect(by_argv, source, jobs):
            progress.step(outcome)
            finished[outcome.argv] = outcome
            for index in by_argv[outcome.argv]:
                waiting[index].discard(outcome.argv)
                if waiting[index]:
                    continue  # a `with` source of this check is still running
                check = plan.checks[index]
                results[index] = rules.evaluate(check, finished[check.argv], plan.skipped[index], finished)
                remaining[check.area] -= 1
            on_progress(results, remaining, False)
    except KeyboardInterrupt:
        runner.stop()
        incomplete = True
    order = {argv: i for i, argv in enumerate(by_argv)}
    return results, sorted(finished.values(), key=lambda o: order[o.argv]), incomplete


def _record(directory: Path, report: Report, plan: _Plan) -> None:
    meta = {"recorded_at": _now_text(), "infracheck": __version__, "project": report.project, "region": report.region}
    sensitive = {c.argv for c in plan.checks if c.sensitive}
    try:
        written = recording.record(directory, report.outcomes, sensitive, meta)
    except OSError as exc:
        raise Failure(f"cannot record into {directory}: {exc.strerror}") from None
    click.echo(f"infracheck: recorded {len(report.outcomes)} commands ({written} files) into {directory}", err=True)


def _source(options: dict[str, Any], planned: Sequence[Check]) -> runner.Source:
    if options.get("replay") is not None:
        try:
            return runner.replay(options["replay"])
        except recording.RecordingError as exc:
            raise Failure(str(exc)) from None
    if any(c.argv[0] == "gcloud" for c in planned):
        try:
            gcloud.executable()
        except gcloud.GcloudMissing as exc:
            raise Failure(str(exc)) from None
    try:
        settings = probes.settings_from_env(os.environ)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    return runner.live(options["timeout"], gcloud.environment(options["timeout"]), settings)


def _clock(replay_dir: Path | None) -> dt.datetime | None:
    """INFRACHECK_NOW (tests, reproducing a past run) > a replay's recording time > now."""
    pinned = os.environ.get("INFRACHECK_NOW")
    if pinned:
        try:
            return recording.parse_time(pinned)
        except ValueError:
            raise Failure(f"INFRACHECK_NOW '{pinned}' is not an ISO 8601 time") from None
    return recording.recorded_at(replay_dir) if replay_dir is not None else None


def _now_text() -> str:
    pinned = _clock(None)
    return (pinned or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror}") from None


def _use_color(choice: str, stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if choice != "auto":
        return choice == "always"
    return stream.isatty()


def _can_encode(stream: TextIO) -> bool:
    try:
        "🚀🔍✅❌⚠️📊📋".encode(stream.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


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
