"""The command line's options: the groups commands share, their help texts, and the value types (a number
of seconds, a duration, an address to listen on), each refusing what would hang or crash later (nan, inf,
out of range) with click's one-line usage error."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from infracheck.environment import VARIABLES
from infracheck.report import FORMATTERS


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


class Address(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """HOST:PORT, [IPv6]:PORT, or a bare PORT on 127.0.0.1."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int]:
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        host = (host if sep else "127.0.0.1").strip("[]")
        if not port.isdigit() or not 0 <= int(port) <= 65535 or not host or (":" in host and "[" not in text):
            self.fail(f"'{value}' is not HOST:PORT (e.g. 127.0.0.1:9847, [::1]:9847, 0.0.0.0:9847)", param, ctx)
        return host, int(port)


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

# The longer epilogs of `serve` and `discover`, kept here beside the other help texts.
SERVE_HELP = """\b
Endpoints (the last complete run; a request never starts or waits for a cycle):
  /metrics      Prometheus exposition: infracheck_up, infracheck_verdict,
                infracheck_rule_status, infracheck_rule_value, age and staleness
  /healthz      200 while the last run is HEALTHY (and WARNING with
                --warning-is-healthy) and not stale; 503 otherwise
  /report.json  the last report, as diagnose --format json prints it
SIGTERM or Ctrl-C stops it (exit 0 after SIGTERM, 130 after Ctrl-C).
Recipes (systemd, Kubernetes, Cloud Run): docs/monitor.md."""

DISCOVER_HELP = """\b
Sources (stderr says which one answered, and why it fell back):
  --organization/--folder  gcloud asset search-all-resources (needs
                           cloudasset.assets.searchAllResources on the scope),
                           then gcloud projects list for the projects' ids
  fallback, and --filter   gcloud projects list (needs resourcemanager.projects.list);
                           regions from --region or the profile
Exit code: 0 written, 1 written but something found was left out (said on
stderr), 3 nothing written. See docs/fleet.md, "Discovery"."""


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


# Shared by the commands that run gcloud: diagnose, record, watch, serve (run_options) and parity.
timeout_option = click.option("--timeout", default=60.0, show_default=True, type=Seconds(1, 3600),
                              help="Seconds before a command is killed (with its children).")
engine_option = click.option(
    "--engine", type=click.Choice(["auto", "warm", "process"]), default="auto", show_default=True,
    help="How gcloud runs: 'warm' loads gcloud once and forks each command from it (same output, a fraction of "
         "the CPU); 'process' starts one gcloud per command; 'auto' is warm where it can start, else process.")


def targets_file_option(required: bool, more: str = ".") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--targets FILE (the targets file, catalog/targets.py), with what the command does with it."""
    return click.option("--targets", "targets_file", required=required, metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="TOML file of [[target]] tables: name, project, region, profile, [target.set], tags"
                             + more)


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--include", multiple=True, metavar="GLOB",
                     help="Only rules whose id, check id or area matches (repeatable, commas allowed)."),
        click.option("--exclude", multiple=True, metavar="GLOB",
                     help="Skip rules whose id, check id or area matches, e.g. 'network*'."),
        click.option("--jobs", default=8, show_default=True, type=click.IntRange(1, 64),
                     help="Commands run at the same time."),
        timeout_option,
        engine_option,
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


def _targets(required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that choose a fleet's targets: required by `targets`, the fleet mode of diagnose and record."""
    def add(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            targets_file_option(required, "." if required else "; judge each (a fleet report). See docs/fleet.md."),
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
        if not required:
            options.append(click.option(
                "--target-timeout", type=Seconds(1, 86400), metavar="SECONDS",
                help="With --targets: seconds one target's run may take (default: 3 x --timeout); what is still "
                     "out then times out for that target alone."))
        for option in reversed(options):
            func = option(func)
        return func
    return add


# `infracheck targets`: the selection alone. diagnose and record: --targets turns them into a fleet run.
target_options = _targets(required=True)
fleet_options = _targets(required=False)


def discover_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--organization", metavar="ORG",
                     help="Search this organization (its number, or organizations/NUMBER) with Cloud Asset."),
        click.option("--folder", metavar="FOLDER",
                     help="Search this folder (its number, or folders/NUMBER) with Cloud Asset, subfolders included."),
        click.option("--filter", "expression", metavar="EXPR",
                     help="The projects `gcloud projects list --filter EXPR` lists (e.g. 'labels.team=platform')."),
        click.option("--region", "regions", multiple=True, metavar="REGION",
                     help="Only these regions (repeatable); from the project list (no Cloud Asset), each project "
                          "gets each of them (default: the profile's region)."),
        click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                     help="Write the targets file here instead of stdout; an existing file needs --force."),
        click.option("--force", is_flag=True, help="Replace the --output file and an earlier --record folder."),
        click.option("--record", "record_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                     help="Also save what gcloud printed into DIR, for --replay."),
        click.option("--replay", "replay_dir", type=click.Path(path_type=Path), metavar="DIR",
                     help="Read what gcloud printed from DIR (written by --record) instead of running gcloud."),
        click.option("--timeout", default=120.0, show_default=True, type=Seconds(1, 3600),
                     help="Seconds before a gcloud command is killed (with its children)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def without(*names: str) -> Callable[[click.Command], click.Command]:
    """Drop shared options a command has no use for (serve prints no report: no --format, --output...)."""
    def strip(command: click.Command) -> click.Command:
        command.params = [p for p in command.params if p.name not in names]
        return command
    return strip


def stream_formats(command: click.Command) -> click.Command:
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
