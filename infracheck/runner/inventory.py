"""The gcloud documents discovery reads: one Cloud Asset search, or Resource Manager's project list.

Each runs live through gcloud.run (which classifies its failure) or is
replayed from a folder, and a live read can be recorded into one: the same
files as every recording (recording.py), so `discover --replay DIR` answers
exactly as the run that wrote DIR did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infracheck import __version__
from infracheck.catalog.discover import ASSET_TYPES
from infracheck.model import CannotRun, Outcome
from infracheck.runner import recording

# The Cloud Asset API answers at most 500 results a page; gcloud asks for 20 unless told (one request per
# 20 resources, measured on the wire).
PAGE_SIZE = 500
# Project numbers per `gcloud projects list --filter=projectNumber:(...)`: gcloud turns the list into
# `projectNumber:N1 OR projectNumber:N2 ...` in the request's URL, which must stay short.
NUMBERS_PER_LIST = 100


def search_argv(scope: str) -> tuple[str, ...]:
    """The one Cloud Asset search of the stack's resource types in `scope` (organizations/N, folders/N)."""
    return ("gcloud", "asset", "search-all-resources", f"--scope={scope}",
            f"--asset-types={','.join(ASSET_TYPES)}", f"--page-size={PAGE_SIZE}", "--format=json")


def projects_argv(expression: str) -> tuple[str, ...]:
    """`gcloud projects list --filter=EXPR` (gcloud sends what it can of EXPR to the API, ANDed with
    lifecycleState:ACTIVE)."""
    return ("gcloud", "projects", "list", f"--filter={expression}", "--format=json")


def numbers_argvs(numbers: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The project lists that name these project numbers' ids, NUMBERS_PER_LIST at a time."""
    return tuple(projects_argv(f"projectNumber:({' '.join(numbers[i:i + NUMBERS_PER_LIST])})")
                 for i in range(0, len(numbers), NUMBERS_PER_LIST))


@dataclasses.dataclass
class Reader:
    """Reads argv live (gcloud.run) or from `replay`; keeps every outcome so `save` can record them."""

    replay: Path | None = None
    timeout: float = 120.0
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)

    def read(self, argv: tuple[str, ...]) -> Outcome:
        from infracheck.runner import gcloud

        if self.replay is not None:
            found = recording.replay(self.replay, argv)
            if found is None:
                raise CannotRun(f"{self.replay} holds no recording of `{' '.join(argv)}` "
                                f"(expected {recording.name_for(argv)}.json); record it with infracheck discover "
                                "--record DIR")
            outcome = gcloud.interpret(argv, *found, 0.0)
        else:
            gcloud.executable()  # gcloud missing: one line, before anything else
            outcome = gcloud.run(argv, self.timeout, gcloud.environment(self.timeout, self.environ))
        self.outcomes.append(outcome)
        return outcome

    def save(self, directory: Path, meta: Mapping[str, Any]) -> int:
        """Record every read into `directory` (recording.prepare accepted it); the number of files written."""
        import shutil

        try:
            if (directory / recording.META).is_file():
                shutil.rmtree(directory)  # an earlier recording, replaced whole (prepare allowed it)
            return recording.record(directory, self.outcomes, set(), {"infracheck": __version__, **meta})
        except OSError as exc:
            raise recording.RecordingError(f"cannot record into {directory}: {exc.strerror}") from None
