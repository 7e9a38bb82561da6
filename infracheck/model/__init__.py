"""Enums and frozen dataclasses shared by every stage (data crossing a stage is one of these):
the catalog's (catalog.py) and a run's and a report's (results.py). Every stage imports them from here."""

from infracheck.errors import CannotRun as CannotRun
from infracheck.errors import CatalogError as CatalogError
from infracheck.model.catalog import (
    Severity as Severity,
    Status as Status,
    Overall as Overall,
    Engine as Engine,
    Category as Category,
    Dependency as Dependency,
    Need as Need,
    ErrorKind as ErrorKind,
    Fix as Fix,
    Rule as Rule,
    Missing as Missing,
    JSON_TYPES as JSON_TYPES,
    Shape as Shape,
    NotJudged as NotJudged,
    Check as Check,
    Area as Area,
    LabelRule as LabelRule,
    Component as Component,
    Criterion as Criterion,
    Phase as Phase,
    Escalation as Escalation,
    Extended as Extended,
    Catalog as Catalog,
)
from infracheck.model.results import (
    CommandError as CommandError,
    Outcome as Outcome,
    Change as Change,
    Mute as Mute,
    Finding as Finding,
    Changes as Changes,
    REPORT_SCHEMA as REPORT_SCHEMA,
    StepKind as StepKind,
    StepOutcome as StepOutcome,
    FixStep as FixStep,
    Report as Report,
    Transition as Transition,
    Cycle as Cycle,
)
