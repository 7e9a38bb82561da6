"""The catalog's data and the words every stage uses: severities, statuses, verdicts, checks and their rules,
areas, the escalation's data, the loaded catalog. No logic beyond ordering and the commands a check's own
data spells."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


class Severity(enum.IntEnum):
    """How bad a failed rule is; `max()` gives the worst."""

    WARNING = 1
    CRITICAL = 2



class Status(enum.Enum):
    """The outcome of one rule (or of a whole check that could not run)."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not be evaluated: the command failed, timed out...
    SKIP = "skip"  # excluded by --include/--exclude; never run, never counted



class Overall(enum.IntEnum):
    """Overall verdict, ordered so that `max()` is the worst.

    CRITICAL outranks UNKNOWN: a known outage is more actionable than a check
    that could not run.
    """

    HEALTHY = 0
    WARNING = 1
    UNKNOWN = 2
    CRITICAL = 3



class Engine(enum.Enum):
    """How gcloud ran for a report: loaded once and forked per command, one process per command, or not at all."""

    WARM = "warm"
    PROCESS = "process"
    REPLAY = "replay"



class Category(enum.Enum):
    """What kind of fix a failing rule needs (the plan's "70% infrastructure, 30% configuration").

    Infrastructure: a state, capacity, network, reachability, or a resource
    that does not exist. Configuration: a value, flag, setting or secret's
    contents. A finding that could not be checked has neither.
    """

    INFRASTRUCTURE = "infrastructure"
    CONFIGURATION = "configuration"



@dataclasses.dataclass(frozen=True)
class Dependency:
    """A catalog edge: this rule's failure may be explained by a failure of `on` on a resource.

    `resource` is a JMESPath expression over {"item", "document", "actual"}
    (the foreach item, the document the rule judged, the value it read) that
    names the resource(s) depended on; null or an empty list: no dependency
    for this finding. Without it the dependency is on the finding's own
    resource.
    """

    on: tuple[str, ...]  # rule ids or globs, e.g. "vpc.state", "vpc.connector.exists"
    resource: str | None = None
    # The checks those rules belong to (filled by the catalog): a check that
    # could not run at all leaves an error finding under its own id.
    checks: tuple[str, ...] = ()



@dataclasses.dataclass(frozen=True)
class Need:
    """A Dependency resolved for one finding: the rules `on`, about that resource."""

    on: tuple[str, ...]
    resource: str
    checks: tuple[str, ...] = ()



class ErrorKind(enum.Enum):
    """Why a command produced no usable document, as a user would act on it."""

    NOT_INSTALLED = "not-installed"
    NOT_AUTHENTICATED = "not-authenticated"
    PERMISSION_DENIED = "permission-denied"
    NOT_FOUND = "not-found"
    NOT_FOUND_OR_DENIED = "not-found-or-denied"
    API_DISABLED = "api-disabled"
    QUOTA = "quota"
    SERVER = "server-error"
    TRANSPORT = "transport"
    TIMEOUT = "timeout"
    INVALID_JSON = "invalid-json"
    USAGE = "usage"
    API_ERROR = "api-error"
    INTERRUPTED = "interrupted"
    CONFIG_LOCKED = "config-locked"  # gcloud's config folder database stayed locked by another gcloud
    MISSING_CREDENTIAL = "missing-credential"  # the journey's ${env:NAME} is not set
    NOT_RECORDED = "not-recorded"  # a replay of a folder recorded before metrics were read: a skip, not an error



@dataclasses.dataclass(frozen=True)
class Fix:
    """How fix mode remedies a failing rule: a command, a wait, or a step for a person.

    `argv` may hold `{name}` placeholders for `vars`, JMESPath expressions over
    the check's document (e.g. never lower a connector's current maximum).
    """

    argv: tuple[str, ...] = ()
    auto: bool = False  # safe to apply without a person's judgement
    wait: bool = False  # GCP finishes this by itself: poll the check until the rule passes
    when: str | None = None  # JMESPath over the document: the fix fits this state only
    manual: str = ""  # why a person must do it (printed with the remedy)
    changes: str = ""  # what the command changes, e.g. "min instances {actual} -> {min}"
    requires: tuple[str, ...] = ()  # rule ids that must pass before this step runs
    vars: tuple[tuple[str, str], ...] = ()



@dataclasses.dataclass(frozen=True)
class Rule:
    """One JMESPath expression and the operator that judges its value."""

    id: str
    path: str
    op: str
    value: Any
    severity: Severity
    message: str
    remedy: str = ""
    title: str = ""
    why: str = ""
    when: str | None = None  # JMESPath over the foreach item; rule applies when truthy
    expected: str = ""  # how the expectation reads to a person
    if_absent: str = "fail"  # "pass": a value gcloud omits means nothing to judge
    fix: Fix | None = None  # fix mode's remedy; None: the remedy text is a manual step
    category: Category | None = None  # None: the check's
    depends_on: tuple[Dependency, ...] | None = None  # None: the check's
    # JMESPath over {"item", "document", "actual", <context names>}: the reason GCP
    # states for a failed state (a condition's message, an operation's error,
    # since when), carried by the finding as `detail`.
    detail: str | None = None



@dataclasses.dataclass(frozen=True)
class Missing:
    """What it means when the check's resource does not exist."""

    severity: Severity
    message: str
    remedy: str = ""


# JSON type names a shape may require, as a person reads them.
JSON_TYPES = ("string", "number", "boolean", "object", "list", "null")



@dataclasses.dataclass(frozen=True)
class Shape:
    """What a check's document must be before any rule judges it.

    `kind` is "object" (the document is one object) or "list" (a list of
    objects, each held to `required`). `required` maps a dotted field to the
    JSON types it may have; it names only what GCP always sends.
    """

    kind: str
    required: tuple[tuple[str, tuple[str, ...]], ...] = ()



@dataclasses.dataclass(frozen=True)
class NotJudged:
    """What a check leaves to another tool: when `path` yields a value, the check
    reports a shown, uncounted skip (`message`, with that value as {actual})
    instead of judging or calling the resource missing."""

    path: str
    message: str
    remedy: str = ""
    # What a failure upstream would explain this by (a connector not READY reports no load): the skip
    # then names that failure as its cause, as a failing finding would (causes.py).
    depends_on: tuple[Dependency, ...] = ()



@dataclasses.dataclass(frozen=True)
class Check:
    """One concrete source (argv) and the rules over its document.

    A catalog entry with `foreach` expands to one Check per item, each with
    its values already substituted.
    """

    id: str
    area: str
    title: str
    argv: tuple[str, ...]
    rules: tuple[Rule, ...]
    resource: str
    select: str | None = None
    missing: Missing | None = None
    sensitive: bool = False  # the document holds a secret: never echo it
    item: Any = None  # the foreach item this check was expanded for
    foreach: str | None = None  # the profile list it was expanded over
    role: str = ""  # IAM role that grants read access (for permission errors)
    api: str = ""  # service to enable when the API is disabled
    why: str = ""
    # Other sources the rules need beside argv, by name: `select` and the rules
    # then see {"resource": <argv's document>, NAME: <that command's document>, ...}
    # (with `resource` replaced by what `select` picks).
    extras: tuple[tuple[str, tuple[str, ...]], ...] = ()
    category: Category | None = None  # default for its rules
    depends_on: tuple[Dependency, ...] = ()  # default for its rules, and for its could-not-check
    # Sources read only for a finding's detail, by name: their failure costs the check nothing.
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    not_judged: NotJudged | None = None
    shape: Shape | None = None  # what the argv's document must be; None: not declared

    @property
    def sources(self) -> tuple[tuple[str, ...], ...]:
        return (self.argv,) + tuple(argv for _, argv in self.extras + self.context)

    def project(self, unknown: str = "") -> str:
        """The project its command reads (`--project=`), else `unknown`."""
        return next((a.split("=", 1)[1] for a in self.argv if a.startswith("--project=")), unknown)

    def grant_role(self, project: str) -> str:
        """The command that grants its `role` (what a permission error asks for), named once."""
        return f"gcloud projects add-iam-policy-binding {project} --member=user:EMAIL --role={self.role}"

    def enable_api(self, project: str) -> str:
        """The command that enables its `api` (what a disabled API asks for), named once."""
        return f"gcloud services enable {self.api} --project={project}"



@dataclasses.dataclass(frozen=True)
class Area:
    """A block of the text report, in the seed's wording."""

    id: str
    title: str
    ok: str
    fail: str
    summary: str = ""  # e.g. "Secret validation: {valid}/{total} valid"
    missing: str = ""  # e.g. "Missing secrets: {names}"



# --- the escalation (plan section 4), as data from commands/escalation.toml ---

@dataclasses.dataclass(frozen=True)
class LabelRule:
    """Add `name` to the issue when this run's verdict is in `status`, or a finding fails that matches `failing`."""

    name: str
    status: tuple[str, ...] = ()  # Overall names, e.g. ("CRITICAL",)
    failing: tuple[str, ...] = ()  # globs over rule id, check id, area, or "rule@resource"



@dataclasses.dataclass(frozen=True)
class Component:
    """One action item of the issue update: an area under a person's name for it."""

    area: str
    name: str
    resource: str = ""
    expected: str = ""  # the healthy state in words



@dataclasses.dataclass(frozen=True)
class Criterion:
    """One line of the plan's validation checklist (section 5.3) and what verifies it."""

    group: str
    text: str
    verified_by: tuple[str, ...] = ()  # globs as in LabelRule.failing; every match must pass
    verdict: str = ""  # ticked when the overall verdict is this (e.g. "HEALTHY")
    manual: str = ""  # why a person must verify it when nothing in the run does
    # Globs each of which must match a judged finding (not a skip): what "verified" cannot do without
    # (the connector's load, read from Cloud Monitoring: no data never ticks "adequate capacity").
    requires: tuple[str, ...] = ()



@dataclasses.dataclass(frozen=True)
class Phase:
    """One row of the plan's Expected Resolution Timeline (4.1)."""

    name: str  # "Infrastructure Validation"
    short: str  # as the stakeholder message counts it: "validation"
    hours: float
    owner: str  # "Infrastructure Team"
    done_when: str = ""  # "verdict": done once a run has a verdict; "fixed": once fix mode applied its steps
    passing: tuple[str, ...] = ()  # watch's clock: the phase ends once every finding these globs match passes


@dataclasses.dataclass(frozen=True)
class Extended:
    """The extended escalation (plan 5.2): what watch's clock says once, when the outage outlasts `after_hours`."""

    after_hours: float
    recipients: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()



@dataclasses.dataclass(frozen=True)
class Escalation:
    environment: str = ""
    priority: tuple[tuple[str, str], ...] = ()  # (Overall name, priority label)
    labels: tuple[LabelRule, ...] = ()
    components: tuple[Component, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    business_impact: str = ""  # the issue update's "Business Impact" line (4.1), in the message's impact (4.3)
    timeline: tuple[Phase, ...] = ()
    justification: tuple[tuple[str, str], ...] = ()  # (label, text): the issue update's Business Justification
    contacts: tuple[tuple[str, str], ...] = ()  # (role, who): the issue update's closing lines
    recipients: tuple[str, ...] = ()  # who the stakeholder message is for (4.3)
    extended: Extended | None = None  # plan 5.2, for watch's escalation clock; None: the catalog has none



@dataclasses.dataclass(frozen=True)
class Catalog:
    """The loaded profile and its concrete, validated checks (catalog.load's result)."""

    profile: Mapping[str, Any]
    areas: tuple[Area, ...]
    checks: tuple[Check, ...]
    escalation: Escalation = Escalation()
    warnings: tuple[str, ...] = ()  # e.g. an INFRACHECK_* variable that names no setting
