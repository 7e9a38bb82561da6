"""Many targets: a fleet run (`diagnose --targets`, `record --targets`), the targets a selection and a shard
leave (`infracheck targets`), and the shards' fleet reports put back together (`infracheck merge`); docs/fleet.md.

A fleet run judges each target exactly as a single-target run of its flags
would (pipeline.prepare and pipeline.run, the same functions), through one
gcloud (runner/fleet.py's Pool), a few targets at a time, each under its own
time bound. A target that cannot be judged (its recording missing, its
profile broken, its project out of reach) is a member UNKNOWN by name: it
never stops the others and is never dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus
from infracheck.pipeline import Options

if TYPE_CHECKING:
    from infracheck import redact
    from infracheck.catalog.targets import Shard, Target
    from infracheck.report.output import Output
    from infracheck.judge.fleet import Fleet, Member
    from infracheck.runner.fleet import Pool

# A target's run may take this many --timeout by default (--target-timeout): its commands run `jobs` at a
# time, each within --timeout, so a few rounds of them; past it, what is still out is a timeout of that
# target alone.
TARGET_TIMEOUTS = 3


def diagnose(options: Options, record_dir: Path | None = None) -> int:
    """`diagnose --targets` (and `record --targets` with `record_dir`): every selected target of this shard
    judged, one fleet report printed (and written), the exit code the worst target's verdict."""
    from infracheck import redact
    from infracheck.report import console

    secrets = redact.Secrets()  # every target's secret values: whatever leaves the run is scrubbed of them
    with console.guard(secrets.scrub):
        return errors.handled(lambda: _diagnose(options, record_dir, secrets))


def _diagnose(options: Options, record_dir: Path | None, secrets: redact.Secrets) -> int:
    from infracheck.judge import fleet
    from infracheck.report import fleet as fleet_report
    from infracheck.report import output
    from infracheck.report.console import can_encode, use_color
    from infracheck.runner import recording

    asked = _start(options)
    pool = _pool(options, len(asked.mine))
    try:
        members = _judge_all(options, asked.mine, pool, secrets, record_dir, asked.baselines)
    finally:
        if pool is not None:
            pool.close()
    if members is None:
        return ExitStatus.INTERRUPTED
    result = fleet.gather(asked.selected, asked.which, members,
                          generated_at=recording.clock().isoformat(timespec="seconds"))
    color, ascii_only = use_color(options.color, sys.stdout), not can_encode(sys.stdout)
    sys.stdout.write(fleet_report.render_as(options.fmt, result, color=color, ascii_only=ascii_only))
    sys.stdout.flush()
    for out in asked.files:
        output.write(out.path, secrets.scrub(fleet_report.render_as(out.fmt, result)))
    if options.fmt == "github":
        output.append_summary(fleet_report.step_summary(result), os.environ, secrets.scrub)
    if record_dir is not None:
        recorded = sum(1 for m in members if (record_dir / m.target.name / recording.META).is_file())
        click.echo(f"infracheck: recorded {recorded} of {len(members)} targets into {record_dir}/<target>/", err=True)
    return ExitStatus.OK if options.report_only else ExitStatus.of(fleet.status(result))


def watch(options: Options) -> int:
    """`watch --targets`: the whole fleet judged every interval; each target's verdict change printed (text),
    or one fleet document per cycle (json: JSON Lines), until the fleet is HEALTHY (--until healthy) or
    --max-wait; the exit code the last cycle's verdict."""
    from infracheck import redact
    from infracheck.report import console

    secrets = redact.Secrets()
    with console.guard(secrets.scrub):
        return errors.handled(lambda: _watch(options, secrets))


def _watch(options: Options, secrets: redact.Secrets) -> int:
    from infracheck.judge import fleet
    from infracheck.model import Overall
    from infracheck.report import fleet as fleet_report
    from infracheck.report import output
    from infracheck.report.console import can_encode, use_color
    from infracheck.runner import recording

    if options.escalation_dir is not None or options.on_change is not None:
        raise CannotRun("--escalation-dir keeps one incident's clock: watch the target the incident is about "
                        "(infracheck watch --project P --region R --escalation-dir DIR)")
    asked = _start(options)
    color, ascii_only = use_color(options.color, sys.stdout), not can_encode(sys.stdout)
    deadline = None if options.max_wait is None else time.monotonic() + options.max_wait
    pool = _pool(options, len(asked.mine))
    last: Fleet | None = None
    number = 0
    try:
        while True:
            number += 1
            from infracheck.runner import gcloud

            gcloud.new_budget()  # each cycle its own 429 retries per API, shared by the fleet's targets
            bound = bound_of(options)
            if deadline is not None:  # --max-wait holds for a cycle in flight too
                bound = max(0.1, min(bound, deadline - time.monotonic()))
            members = _judge_all(dataclasses.replace(options, target_timeout=bound), asked.mine, pool, secrets, None,
                                 asked.baselines, progress=sys.stderr.isatty() and number == 1)
            if members is None:
                return ExitStatus.INTERRUPTED
            at = recording.clock()
            now = fleet.gather(asked.selected, asked.which, members, generated_at=at.isoformat(timespec="seconds"))
            if options.fmt == "text":
                sys.stdout.write(fleet_report.cycle_text(number, at.strftime("%H:%M:%S"), now, last,
                                                         color=color, ascii_only=ascii_only))
            elif options.fmt == "json":
                sys.stdout.write(json.dumps({**fleet_report.as_dict(now), "watch": {"cycle": number}},
                                            separators=(",", ":")) + "\n")
            else:
                sys.stdout.write(fleet_report.render_as(options.fmt, now, ascii_only=ascii_only))
            sys.stdout.flush()
            last = now
            status = fleet.status(now)
            if options.until_healthy and status is Overall.HEALTHY:
                break
            if deadline is not None and time.monotonic() + options.interval >= deadline:
                break
            time.sleep(options.interval)
    except KeyboardInterrupt:
        from infracheck import runner

        runner.stop()
        click.echo(f"infracheck: interrupted; last complete cycle: {number - 1}", err=True)
        return ExitStatus.INTERRUPTED
    finally:
        if pool is not None:
            pool.close()
    for out in asked.files:
        output.write(out.path, secrets.scrub(fleet_report.render_as(out.fmt, last)))
    return ExitStatus.of(status)


@dataclasses.dataclass(frozen=True)
class Asked:
    """A fleet command's targets and files, read and checked before anything runs."""

    selected: tuple[Target, ...]  # the whole selection (every shard's targets)
    which: Shard | None
    mine: tuple[Target, ...]  # this shard's
    files: tuple[Output, ...]  # --output
    baselines: Mapping[str, str] | None  # --baseline: each target's v1 report in it, by name


def _start(options: Options) -> Asked:
    """The targets file, the selection and this shard's slice, the --output files and the baseline."""
    from infracheck.catalog import targets as targets_file_
    from infracheck.report import output

    _refuse(options)
    assert options.targets_file is not None
    selected = targets_file_.select(targets_file_.load(options.targets_file), options.target_names, options.tags)
    which = targets_file_.shard(options.shard, options.shards, os.environ)
    mine = targets_file_.slice_of(selected, which)
    files = output.parse(options.outputs, options.fmt)
    output.check(files, options.replay)
    baselines = _baselines(options.baseline_file) if options.baseline_file is not None else None
    if baselines is not None:
        lacking = [t.name for t in mine if t.name not in baselines]
        if lacking:
            click.echo(f"infracheck: warning: baseline {options.baseline_file} holds no checked report of "
                       f"{', '.join(lacking)}: not compared", err=True)
    return Asked(tuple(selected), which, tuple(mine), tuple(files), baselines)


def _pool(options: Options, targets: int) -> Pool | None:
    """The gcloud engine every target shares (none for a replay)."""
    if options.replay is not None:
        return None
    from infracheck.runner.fleet import Pool

    return Pool(options.engine, options.jobs, options.timeout, targets)


def _refuse(options: Options) -> None:
    """What a fleet run cannot be asked: one stack's flags, or changes to one project."""
    if options.project is not None or options.region is not None:
        raise CannotRun("--project and --region name one stack: with --targets, each target names its own "
                        "(the targets file's project and region)")
    if options.fix_mode or options.yes:
        raise CannotRun("--fix-mode changes one project: run it on one target "
                        "(infracheck diagnose --project P --region R --fix-mode)")


def bound_of(options: Options) -> float:
    """Seconds one target's run may take."""
    return options.target_timeout if options.target_timeout is not None else TARGET_TIMEOUTS * options.timeout


def _judge_all(options: Options, mine: Sequence[Target], pool: Pool | None, secrets: redact.Secrets,
               record_dir: Path | None, baselines: Mapping[str, str] | None,
               progress: bool = True) -> list[Member] | None:
    """Each target judged on a worker thread (a few at once), progress on stderr as each ends (unless
    --report-only, or not `progress`); None after Ctrl-C (every command stopped)."""
    from infracheck import runner
    from infracheck.runner.fleet import TARGETS_AT_ONCE

    pending: queue.Queue[Target] = queue.Queue()
    done: queue.Queue[tuple[Member, tuple[str, ...], float]] = queue.Queue()
    for target in mine:
        pending.put(target)

    def work() -> None:
        while True:
            try:
                target = pending.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            member, warnings = judge_target(options, target, pool, secrets, record_dir, baselines)
            done.put((member, warnings, time.monotonic() - started))

    for _ in range(min(len(mine), TARGETS_AT_ONCE)):
        threading.Thread(target=work, daemon=True, name="infracheck-target").start()
    members: list[Member] = []
    # A catalog warning once for every target it is about; one naming the target's project is the same
    # warning for each target's project (the built-in profile's names used on another project).
    said: dict[str, tuple[str, list[str]]] = {}
    try:
        while len(members) < len(mine):
            try:
                member, warnings, seconds = done.get(timeout=0.2)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                continue
            members.append(member)
            for warning in warnings:
                alike = warning.replace(member.target.project, "each target's project")
                said.setdefault(alike, (warning, []))[1].append(member.target.name)
            if progress and not options.report_only:
                why = f": {member.reason}" if member.reason else ""
                click.echo(f"infracheck: [{len(members)}/{len(mine)}] {member.target.name} {member.status.name} "
                           f"({seconds:.1f} s){why}", err=True)
    except KeyboardInterrupt:
        runner.stop()
        click.echo(f"infracheck: interrupted after {len(members)} of {len(mine)} targets; no fleet report", err=True)
        return None
    for alike, (first, names) in said.items():
        shown = first if len(names) == 1 else alike
        which = f" (targets {', '.join(sorted(names))})" if len(mine) > 1 else ""
        click.echo(f"infracheck: warning: {shown}{which}", err=True)
    return members


def judge_target(options: Options, target: Target, pool: Pool | None, secrets: redact.Secrets,
                 record_dir: Path | None = None, baselines: Mapping[str, str] | None = None,
                 ) -> tuple[Member, tuple[str, ...]]:
    """One target judged as its single-target run would judge it, and its catalog's warnings; what stops it
    (a CannotRun, or a bug) makes it a member that could not be checked, naming why."""
    from infracheck import pipeline, runner
    from infracheck.judge import fleet
    from infracheck.report import json as json_report
    from infracheck.runner import recording

    own = for_target(options, target)
    if own.replay is not None:
        if not own.replay.is_dir():
            return fleet.unchecked(target, f"no recording of it: {own.replay}/ is missing"), ()
        if not any(own.replay.iterdir()):
            return fleet.unchecked(target, f"no recording of it: {own.replay}/ is empty"), ()
    try:
        prepared = pipeline.prepare(own, target.name, warn=False)
        if baselines is not None and target.name in baselines:
            from infracheck.judge import baseline

            since = baseline.parse(baselines[target.name], f"{options.baseline_file} (target {target.name})",
                                   target.project, target.region)
            prepared = dataclasses.replace(prepared, since=since)
        source: runner.Source
        if pool is not None:
            source = pool.source(prepared.plan.checks, prepared.cat.profile.get("journey"))
        else:
            source = runner.source(prepared.plan.checks, own.timeout, own.replay, prepared.cat.profile.get("journey"))
        if record_dir is not None:
            recording.prepare(record_dir / target.name, force=True)  # the folder as a whole was checked first
        report, result, _, the_plan = pipeline.run(prepared, source, own.jobs, secrets, bound=bound_of(options))
        if record_dir is not None and not result.incomplete:
            pipeline.save(record_dir / target.name, report, prepared, the_plan, secrets)
        return fleet.member(target, json_report.as_dict(report)), tuple(prepared.cat.warnings)
    except CannotRun as exc:
        return fleet.unchecked(target, str(exc)), ()
    except Exception as exc:  # a bug judging one target must not cost the others
        return fleet.unchecked(target, f"internal error: {type(exc).__name__}: {exc}"), ()


def for_target(options: Options, target: Target) -> Options:
    """The options of the single-target run of `target`: its project, region, profile and settings (over the
    command line's --set), its recording folder DIR/<name>/ when replaying."""
    return dataclasses.replace(
        options, project=target.project, region=target.region,
        profile_file=target.profile if target.profile is not None else options.profile_file,
        overrides={**options.overrides, **dict(target.settings)},
        replay=None if options.replay is None else options.replay / target.name,
        baseline_file=None, targets_file=None, outputs=(), fmt="json")


def _baselines(path: Path) -> dict[str, str]:
    """--baseline with --targets: an earlier fleet report (diagnose --targets --format json); each target's v1
    report in it, as text for judge/baseline.py (which checks it is of the target's project and region)."""
    from infracheck.judge.fleet import FLEET_SCHEMA

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CannotRun(f"baseline {path}: cannot read it: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise CannotRun(f"baseline {path} is not an infracheck fleet report (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("schema") != FLEET_SCHEMA or not isinstance(doc.get("targets"), list):
        raise CannotRun(f"baseline {path}: with --targets, --baseline is an earlier fleet report "
                        f"(schema {FLEET_SCHEMA}: infracheck diagnose --targets FILE --format json)")
    return {entry["target"]: json.dumps(entry) for entry in doc["targets"]
            if isinstance(entry, dict) and isinstance(entry.get("target"), str) and not entry.get("not_checked")}


def targets(targets_file: Path, names: Sequence[str], tags: Sequence[str], shard: str | None,
            shards: int | None, fmt: str) -> int:
    """Print the selected targets of this shard: a table, or (json) one line that is a GitHub Actions matrix."""
    from infracheck.catalog import targets as targets_file_

    def show() -> int:
        every = targets_file_.load(targets_file)
        selected = targets_file_.select(every, names, tags)
        which = targets_file_.shard(shard, shards, os.environ)
        mine = targets_file_.slice_of(selected, which)
        if fmt == "json":
            click.echo(json.dumps(targets_file_.matrix(selected, mine), separators=(",", ":")))
        else:
            click.echo(targets_file_.table(mine, len(every), which), nl=False)
        return ExitStatus.OK

    return errors.handled(show)


def merge(files: Sequence[Path], fmt: str) -> int:
    """Print the merged fleet report of the shards' JSON files in any report format; the exit code is its verdict."""
    from infracheck.judge import fleet
    from infracheck.report import fleet as fleet_report

    def combine() -> int:
        documents = []
        for path in files:
            try:
                documents.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
            except OSError as exc:
                raise CannotRun(f"{path}: cannot read: {exc.strerror}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise CannotRun(f"{path}: not JSON: {exc}") from None
        merged, notes = fleet.merge(documents)
        for note in notes:
            click.echo(f"infracheck: warning: {note}", err=True)
        click.echo(fleet_report.render_as(fmt, merged), nl=False)
        if fmt == "github":
            from infracheck.report import output

            output.append_summary(fleet_report.step_summary(merged), os.environ, lambda text: text)
        return ExitStatus.of(fleet.status(merged))

    return errors.handled(combine)
