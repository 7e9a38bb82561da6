"""The command line: help and commands in (options: params.py); pipeline/ runs the stages; an exit code out.

Every command imports the stages it uses when it runs: `--help` loads click
and this module only, `list` and `explain` the catalog cache, a replay no
gcloud or probe code (tests/test_startup.py holds it to that; start-up is
paid by every invocation and every watch cycle). Errors become exit codes in
errors.py; click's own usage errors exit 3 here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infracheck import __version__
from infracheck.errors import ExitStatus, handled
from infracheck.params import (DISCOVER_HELP, ENVIRONMENT_HELP, EXIT_HELP, SERVE_HELP, Address, Duration, Seconds,
                               discover_options, engine_option, fleet_options, profile_options, run_options,
                               stream_formats, target_options, targets_file_option, timeout_option, without)
from infracheck.report import FORMATTERS

if TYPE_CHECKING:
    from infracheck.pipeline import Options


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
@profile_options
@run_options
@fleet_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud (with --targets: DIR/<target>/).")
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
@profile_options
@run_options
@fleet_options
@click.option("--force", is_flag=True,
              help="Replace an earlier recording in DIRECTORY (only a folder holding recording.json; with "
                   "--targets, only recordings).")
def record(directory: Path, force: bool, **options: Any) -> None:
    """Run live and save every command's output into DIRECTORY for --replay (with --targets: one folder per
    target, DIRECTORY/<target name>/)."""
    from infracheck import pipeline

    sys.exit(pipeline.record(_options(options), directory, force))


@cli.command(name="watch", epilog=EXIT_HELP + """

\b
With --until healthy: exit 0 as soon as the stack is HEALTHY (a partial
re-check that looks healthy is confirmed by a full run first); with
--max-wait, exit with the verdict of the last cycle when time runs out.""")
@profile_options
@run_options
@fleet_options
@click.option("--replay", type=click.Path(path_type=Path), metavar="DIR",
              help="Read recorded gcloud output from DIR instead of running gcloud (with --targets: DIR/<target>/).")
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
    With --targets, every cycle judges the whole fleet and prints each target's
    verdict change.
    """
    from infracheck.pipeline import cycles

    sys.exit(cycles.watch(_options(options)))


stream_formats(watch_command)


@cli.command(name="list")
@profile_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown: the page docs/checks.md (each check and rule with its title and why).")
def list_checks(fmt: str, **options: Any) -> None:
    """Every check and rule: id, severity, the exact command it runs."""
    click.echo(_views(options)["list"][fmt], nl=False)


@cli.command()
@click.argument("rule_id")
@profile_options
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
@profile_options
def alerts_command(output_dir: Path, **options: Any) -> None:
    """Write the stack's alert policies (AlertPolicy JSON) and uptime checks, built from the profile's
    thresholds, and a commands.sh that creates them: for teams who keep monitoring in Terraform or Git."""
    from infracheck import pipeline

    sys.exit(pipeline.alerts(_options(options), output_dir))


@without("fmt", "outputs", "color", "baseline_file")
@cli.command(epilog=SERVE_HELP)
@profile_options
@run_options
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


@cli.command(name="targets", epilog="--format json is one line: a GitHub Actions matrix "
             "(strategy.matrix: ${{ fromJSON(...) }}) of at most 256 jobs. See docs/fleet.md.")
@target_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def targets_command(targets_file: Path, target_names: tuple[str, ...], tags: tuple[str, ...], shard: str | None,
                    shards: int | None, fmt: str) -> None:
    """The targets a fleet run selects (after --target, --tag and this shard)."""
    from infracheck.pipeline import fleet

    sys.exit(fleet.targets(targets_file, target_names, tags, shard, shards, fmt))


@cli.command(epilog=DISCOVER_HELP)
@discover_options
def discover(organization: str | None, folder: str | None, expression: str | None, regions: tuple[str, ...],
             output: Path | None, force: bool, record_dir: Path | None, replay_dir: Path | None,
             timeout: float) -> None:
    """Find the stacks of an organization, a folder or a project filter and write a targets file."""
    from infracheck.pipeline import discover as discover_stage

    sys.exit(discover_stage.discover(organization, folder, expression, regions, output, force, record_dir,
                                     replay_dir, timeout))


@cli.command(epilog="Exit code: the merged fleet's verdict (0 HEALTHY, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="text", show_default=True,
              help="Any report format, each naming the target of every finding; github also appends the Markdown "
                   "report to $GITHUB_STEP_SUMMARY.")
def merge(files: tuple[Path, ...], fmt: str) -> None:
    """Put the shards' fleet reports (JSON) together into the report one unsharded run gives.

    A missing shard, or one given twice, leaves its targets UNKNOWN by name.
    """
    from infracheck.pipeline import fleet

    sys.exit(fleet.merge(files, fmt))


@cli.command(epilog="Exit code: 0 no difference (or only intended ones), 1 WARNING: differences, 3 could not compare. "
             "Intended differences: [[parity.ignore]] path/reason tables in a target's profile. See docs/fleet.md.")
@targets_file_option(required=True)
@click.option("--replay", "replay_dir", metavar="DIR", type=click.Path(path_type=Path),
              help="Read recordings instead of running gcloud, one folder per target: DIR/<target name>/ "
                   "(as `infracheck record --targets` writes them).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@timeout_option
@engine_option
@click.argument("name_a", metavar="NAME_A")
@click.argument("name_b", metavar="NAME_B")
def parity(targets_file: Path, replay_dir: Path | None, fmt: str, timeout: float, engine: str, name_a: str,
           name_b: str) -> None:
    """Compare two targets' configuration resource by resource: connector, Cloud SQL, Cloud Run services
    (env variable names and secret references, never values), certificates of their domains."""
    from infracheck.pipeline import parity as parity_stage

    sys.exit(parity_stage.parity(targets_file, name_a, name_b, replay_dir, fmt, timeout, engine))


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
