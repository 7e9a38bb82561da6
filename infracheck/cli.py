"""The command line: help, options and commands in; pipeline.py runs the stages; an exit code out.

Every command imports the stages it uses when it runs: `--help` loads click
and this module only, `list` and `explain` the catalog cache, a replay no
gcloud or probe code (tests/test_startup.py holds it to that; start-up is
paid by every invocation and every watch cycle). Errors become exit codes in
errors.py; click's own usage errors exit 3 here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import __version__
from infracheck.environment import VARIABLES
from infracheck.errors import ExitStatus, handled
from infracheck.params import Address, Duration, Seconds
from infracheck.report import FORMATTERS

if TYPE_CHECKING:
    from infracheck.pipeline import Options

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
        click.option("--window", "metrics_window", metavar="DURATION",
                     help="How far back load is read from Cloud Monitoring (default 30m)."),
        click.option("--trend", metavar="DAYS",
                     help="Read daily peaks over this period (e.g. 7d) and project when limits are reached."),
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
    from infracheck import pipeline

    sys.exit(pipeline.diagnose(_options(options), confirm=lambda question: click.confirm(question, default=False,
                                                                                          err=True)))


@cli.command(epilog="Secret payloads are masked (letters to x, digits to 0, shape kept) so a replay "
             "gives the same verdicts without the values.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_profile_options
@_run_options
@click.option("--force", is_flag=True,
              help="Replace an earlier recording in DIRECTORY (only a folder holding recording.json).")
def record(directory: Path, force: bool, **options: Any) -> None:
    """Run live and save every command's output into DIRECTORY for --replay."""
    from infracheck import pipeline

    sys.exit(pipeline.record(_options(options), directory, force))


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
@click.option("--escalation-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the escalation clock (commands/escalation.toml): write the stakeholder message and issue "
                   "update at the start, the extended escalation once after [extended] after_hours, a note on each "
                   "verdict or phase change, and the resolution summary with each phase's measured time, into DIR.")
@click.option("--on-change", metavar="CMD",
              help="With --escalation-dir: run CMD (split like a shell would, run without one) with the path of "
                   "each file the clock writes appended, e.g. 'gh issue comment 1278 --body-file'.")
@click.option("--on-change-timeout", default=60.0, show_default=True, type=Seconds(1, 3600),
              help="Seconds before the --on-change command is stopped.")
def watch_command(**options: Any) -> None:
    """Re-run the diagnosis on an interval and print only what changed, until healthy.

    The first cycle runs everything and prints the state; later cycles re-run
    what is failing or could not be checked and print each change with its
    time. --format json prints one report per cycle, one per line (JSON Lines).
    """
    from infracheck.pipeline import cycles

    sys.exit(cycles.watch(_options(options)))


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
    from infracheck.errors import CannotRun

    text = _views(options)["explain"].get(rule_id)
    if text is None:
        raise CannotRun(f"no rule or check '{rule_id}' (see infracheck list)")
    click.echo(text, nl=False)


@cli.command(name="alerts", epilog="The same policies and uptime checks `diagnose --fix-mode` proposes; "
             "docs/monitoring.md says what each watches and why.")
@click.option("--output", "output_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (created if missing; files of the same name are replaced).")
@_profile_options
def alerts_command(output_dir: Path, **options: Any) -> None:
    """Write the stack's alert policies (AlertPolicy JSON) and uptime checks, built from the profile's
    thresholds, and a commands.sh that creates them: for teams who keep monitoring in Terraform or Git."""
    from infracheck import pipeline

    sys.exit(pipeline.alerts(_options(options), output_dir))


def _without(*names: str) -> Callable[[click.Command], click.Command]:
    """Drop shared options a command has no use for (serve prints no report: no --format, --output...)."""
    def strip(command: click.Command) -> click.Command:
        command.params = [p for p in command.params if p.name not in names]
        return command
    return strip


@_without("fmt", "outputs", "color", "baseline_file")
@cli.command(epilog="""\b
Endpoints (the last complete run; a request never starts or waits for a cycle):
  /metrics      Prometheus exposition: infracheck_up, infracheck_verdict,
                infracheck_rule_status, infracheck_rule_value, age and staleness
  /healthz      200 while the last run is HEALTHY (and WARNING with
                --warning-is-healthy) and not stale; 503 otherwise
  /report.json  the last report, as diagnose --format json prints it
SIGTERM or Ctrl-C stops it (exit 0 after SIGTERM, 130 after Ctrl-C).
Recipes (systemd, Kubernetes, Cloud Run): docs/monitor.md.""")
@_profile_options
@_run_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud (every cycle replays it).")
@click.option("--listen", default="127.0.0.1:9847", show_default=True, type=Address(), metavar="HOST:PORT",
              help="Where to serve; 0.0.0.0:PORT to be reached from other hosts (a container), port 0: any free port.")
@click.option("--interval", default=60.0, show_default=True, type=Seconds(0.1, 86400),
              help="Seconds from one cycle's start to the next's (a longer cycle is followed at once).")
@click.option("--stale-after", type=Duration(), metavar="DURATION",
              help="The last run counts for this long (900, 15m, 1h); default: three intervals, or an interval "
                   "and two --timeout, whichever is longer.")
@click.option("--warning-is-healthy", is_flag=True, help="/healthz answers 200 for a WARNING run too.")
def serve(**options: Any) -> None:
    """Re-run the diagnosis on an interval and serve its last complete run to Prometheus and health checks."""
    from infracheck.pipeline import cycles

    sys.exit(cycles.serve(_options(options)))


def _target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--targets", "targets_file", required=True, metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file of [[target]] tables: name, project, region, profile, [target.set], tags."),
        click.option("--target", "target_names", multiple=True, metavar="NAME",
                     help="Only this target (repeatable)."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
                     help="Only targets with this tag (repeatable; every key must match, any of a key's values)."),
        click.option("--shard", metavar="I/N",
                     help="Only shard I of N (from 0) of the selection; default from CLOUD_RUN_TASK_INDEX/"
                          "CLOUD_RUN_TASK_COUNT, or JOB_COMPLETION_INDEX with --shards."),
        click.option("--shards", type=click.IntRange(1, 100000), metavar="N",
                     help="The count of shards when JOB_COMPLETION_INDEX (Kubernetes Indexed Job) gives the index."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command(name="targets", epilog="--format json is one line: a GitHub Actions matrix "
             "(strategy.matrix: ${{ fromJSON(...) }}) of at most 256 jobs. See docs/fleet.md.")
@_target_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def targets_command(targets_file: Path, target_names: tuple[str, ...], tags: tuple[str, ...], shard: str | None,
                    shards: int | None, fmt: str) -> None:
    """The targets a fleet run selects (after --target, --tag and this shard)."""
    from infracheck.pipeline import fleet

    sys.exit(fleet.targets(targets_file, target_names, tags, shard, shards, fmt))


@cli.command(epilog="Exit code: the merged fleet's verdict (0 HEALTHY, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def merge(files: tuple[Path, ...], fmt: str) -> None:
    """Put the shards' fleet reports (JSON) together into the report one unsharded run gives.

    A missing shard, or one given twice, leaves its targets UNKNOWN by name.
    """
    from infracheck.pipeline import fleet

    sys.exit(fleet.merge(files, fmt))


def _overrides(settings: Sequence[str]) -> dict[str, str]:
    """--set NAME=VALUE, each."""
    overrides: dict[str, str] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--set")
        overrides[name.strip()] = value
    return overrides


def _options(given: dict[str, Any]) -> Options:
    """click's options as the pipeline's one typed, frozen Options."""
    from infracheck.pipeline import Options

    given = dict(given)
    until = given.pop("until", None)
    known = {name: value for name, value in given.items() if name in Options.__dataclass_fields__}
    return Options(**{**known, "overrides": _overrides(given.get("settings") or ()), "until_healthy": until == "healthy",
                      "include": tuple(given.get("include") or ()), "exclude": tuple(given.get("exclude") or ()),
                      "outputs": tuple(given.get("outputs") or ())})


# The profile names with a flag of their own (pipeline.FLAGS; not imported from there: list and explain
# never load the pipeline).
FLAGS = ("project", "region", "metrics_window", "trend")


def _views(options: dict[str, Any]) -> dict[str, Any]:
    """What `list` and `explain` print for this catalog, from the cache (neither the catalog nor the model is
    loaded when it holds them: this path does not go through the pipeline and its dataclasses)."""
    from infracheck.catalog import cache

    flags = {name: options[name] for name in FLAGS if options.get(name) is not None}
    shown: dict[str, Any] = cache.views(options.get("catalog_dir"), _overrides(options.get("settings") or ()),
                                        profile_file=options.get("profile_file"), flags=flags)
    for warning in shown["warnings"]:
        click.echo(f"infracheck: warning: {warning}", err=True)
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors to exit codes (errors.handled); click's own usage errors exit 3 (UNKNOWN), not click's 2."""
    return handled(lambda: _click(argv))


def _click(argv: Sequence[str] | None) -> int:
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
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
