"""Many targets: the targets a selection and a shard leave (`infracheck targets`), and the shards' fleet
reports put back together (`infracheck merge`); docs/fleet.md. `diagnose --targets` is the next step."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import click

from infracheck import errors
from infracheck.errors import CannotRun, ExitStatus


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
            _append_step_summary(fleet_report.step_summary(merged), os.environ.get("GITHUB_STEP_SUMMARY"))
        return ExitStatus.of(fleet.status(merged))

    return errors.handled(combine)


def _append_step_summary(markdown: str, path: str | None) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page: with --format github, the fleet's Markdown too."""
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        raise CannotRun(f"cannot append to GITHUB_STEP_SUMMARY {path}: {exc.strerror}") from None
