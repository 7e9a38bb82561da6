"""What a run produces and a report holds: command outcomes, findings, mutes, changes, fix steps, the report,
watch cycles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from typing import Any

from infracheck.model.catalog import Area, Category, Check, Engine, ErrorKind, Escalation, Need, Overall, Severity, Status


@dataclasses.dataclass(frozen=True)
class CommandError:
    """A classified failure: `message` is one actionable line for a person."""

    kind: ErrorKind
    message: str

    @property
    def project_gone(self) -> bool:
        """Compute's 404 for the project itself (it does not exist, or this account cannot see it at all):
        nothing in it could be checked, and no resource of it is missing."""
        return self.kind is ErrorKind.NOT_FOUND and _NO_PROJECT.search(self.message) is not None


_NO_PROJECT = re.compile(r"The resource 'projects/[^/']+' was not found")



@dataclasses.dataclass(frozen=True)
class Outcome:
    """What running one argv produced (live, probed or replayed)."""

    argv: tuple[str, ...]
    exit_code: int | None
    duration_s: float
    document: Any = None
    error: CommandError | None = None
    # Kept only so `record` can save it; never rendered (it may name accounts).
    stderr: str = dataclasses.field(default="", repr=False)
    retries: int = 0  # runs after the first (gcloud crashed on its locked config database)



class Change(enum.Enum):
    """A finding against a baseline report (identity: rule + resource)."""

    NEW = "new"  # a problem now that was not one then
    STILL = "still"  # the same problem then and now
    RESOLVED = "resolved"  # a problem then that passes now



@dataclasses.dataclass(frozen=True)
class Mute:
    """One [[mute]] entry: a known finding accepted, with a reason, until a date."""

    rule: str  # a rule id or a glob over rule ids
    reason: str
    expires: dt.date  # applies through this day (UTC), not after
    resource: str | None = None  # a resource name or glob; None: any resource
    owner: str = ""
    file: str = ""  # where it was written, for the stale and expired messages
    line: int = 0
    target: str | None = None  # a fleet target's name or glob; None: every target (and a single-target run)



@dataclasses.dataclass(frozen=True)
class Finding:
    check: str
    rule: str
    area: str
    status: Status
    severity: Severity | None
    resource: str
    message: str
    actual: Any = None
    expected: str = ""
    remedy: str = ""
    muted: Mute | None = None  # a FAIL accepted by a mute: shown, not counted
    change: Change | None = None  # set when the run is compared with a baseline
    category: Category | None = None  # None for a pass-through error or skip: neither class
    detail: str = ""  # what GCP says about the failure (reason, message, since when)
    needs: tuple[Need, ...] = ()  # what its failure may be explained by (from the catalog)
    # (rule, resource) of the root findings that explain this one; () for a root
    # cause, a pass or a skip. Filled by the judge (causes.py).
    caused_by: tuple[tuple[str, str], ...] = ()



@dataclasses.dataclass(frozen=True)
class Changes:
    """What changed since a baseline report."""

    since: str | None  # the baseline's generated_at as it wrote it; None if it had none
    new: tuple[Finding, ...]
    still: tuple[Finding, ...]
    resolved: tuple[Finding, ...]  # as the baseline reported them


REPORT_SCHEMA = "infracheck/report/v1"  # the JSON report's schema; a baseline must carry it



class StepKind(enum.Enum):
    """What a fix step does."""

    WAIT = "wait"  # poll the check until GCP's operation has finished
    APPLY = "apply"  # run a gcloud command (only with --yes)
    MANUAL = "manual"  # a person does it; printed with the command to use
    CONSEQUENCE = "consequence"  # nothing of its own: fixing its cause clears it



class StepOutcome(enum.Enum):
    """What happened to a step when the plan was applied."""

    APPLIED = "applied"
    WAITED = "waited"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    BLOCKED = "blocked"  # a rule it requires still fails
    MANUAL = "manual"
    CONSEQUENCE = "consequence"
    NOT_RUN = "not-run"  # an earlier step failed, or Ctrl-C came first
    INTERRUPTED = "interrupted"  # Ctrl-C while it ran: it may or may not have taken effect
    PLANNED = "planned"  # not applied (yet): the plan as printed



@dataclasses.dataclass(frozen=True)
class FixStep:
    """One step of fix mode's plan as the report shows it, planned or carried out."""

    number: int
    kind: StepKind
    title: str  # the finding it fixes, as the diagnosis worded it
    fixes: tuple[tuple[str, str], ...]  # (rule, resource) of every finding it fixes
    argv: tuple[str, ...] = ()  # the exact command (apply, and manual steps that have one)
    instruction: str = ""  # manual: the remedy to follow
    reason: str = ""  # manual: why not automatic; apply: why it is blocked
    changes: tuple[str, ...] = ()  # before -> after, as a person reads it
    outcome: StepOutcome = StepOutcome.PLANNED
    exit_code: int | None = None
    message: str = ""  # what happened (the classified error when it failed)
    after: tuple[str, ...] = ()  # the fixed findings' status after the re-check, e.g. "pass"



@dataclasses.dataclass(frozen=True)
class Report:
    """Everything a renderer needs; built once the run is over (or interrupted)."""

    project: str
    region: str
    status: Overall
    areas: tuple[Area, ...]
    findings: tuple[Finding, ...]
    outcomes: tuple[Outcome, ...]
    issue: str | None = None
    incomplete: bool = False
    # The checks that ran, so the issue update can quote each one's exact command.
    checks: tuple[Check, ...] = ()
    escalation: Escalation | None = None
    generated_at: dt.datetime | None = None  # the run's clock (the `now` rules judged dates by)
    stale_mutes: tuple[Mute, ...] = ()  # mutes that matched no finding
    changes: Changes | None = None  # with --baseline
    fixes: tuple[FixStep, ...] = ()  # fix mode: the plan, or what applying it did
    before: Overall | None = None  # fix mode with --yes: the verdict before the fixes
    engine: Engine | None = None  # how gcloud ran
    engine_note: str | None = None  # why auto used processes, or commands the warm engine handed back

    # (area id, resource) of every planned check: counts are of what was planned, not of what finished.
    planned: tuple[tuple[str, str], ...] = ()
    unfinished: tuple[str, ...] = ()  # areas whose planned checks were not all judged (interrupted)
    notes: tuple[str, ...] = ()  # one-line statements about the run itself (what was skipped and why)
    load_balancer: str | None = None  # which chain the load balancer checks judged, and why (discovery.py)



@dataclasses.dataclass(frozen=True)
class Transition:
    """One finding whose outcome changed between two watch cycles (None: not judged then)."""

    before: Finding | None
    after: Finding | None

    @property
    def key(self) -> tuple[str, str]:
        f = self.after or self.before
        assert f is not None
        return f.rule, f.resource



@dataclasses.dataclass(frozen=True)
class Cycle:
    """One watch cycle: the whole stack as known after it, and what changed."""

    number: int
    at: str  # RFC 3339, when the cycle finished
    report: Report
    full: bool  # every selected check ran (else only what was failing)
    commands: int  # distinct commands the cycle ran
    changes: tuple[Transition, ...]
    previous: Overall | None  # the verdict before this cycle
