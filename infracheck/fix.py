"""Fix mode: from failing findings to an ordered remedy plan, and applying it.

`plan` turns the findings of a diagnosis into steps: a *wait* where GCP is
finishing an operation by itself (a connector CREATING, an instance in
MAINTENANCE: GCP refuses changes until it ends), a gcloud command the catalog
marks safe to apply, or a *manual* step a person must take (a secret's value,
a recreation, a change that can cut off clients). Causes come before their
consequences: the catalog's area order follows the stack's request path, a
step that `requires` another rule waits for it, and root causes (when the
judge named them) go first.

`apply` runs the automatic steps in order through callables the caller gives
it (the run stage owns processes), stops at the first failure, and re-checks
what the steps touched. Nothing here starts a process or prints.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from infracheck.rules.dialect import lookup
from infracheck.rules.values import display
from infracheck.judge import verdict
from infracheck.model import Check, Finding, Fix, FixStep, Outcome, Rule, Status, StepKind, StepOutcome

# A value fix mode copies from a document onto a gcloud command line must be
# one plain token (a number, a name), never something gcloud reads as a flag.
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:/@-]*$")

DEFAULT_REASON = "no automatic fix in the catalog: a person decides"
SECRET_REASON = "infracheck never handles a secret's value: its owner sets it"


@dataclasses.dataclass(frozen=True)
class Step:
    kind: StepKind
    findings: tuple[Finding, ...]  # what the step fixes
    title: str  # one line: what it does
    argv: tuple[str, ...] = ()  # APPLY: the exact command
    instruction: str = ""  # MANUAL: the remedy to follow
    reason: str = ""  # MANUAL: why not automatic; APPLY: why it is blocked, if it is
    changes: tuple[str, ...] = ()  # before -> after, one line per finding
    check: Check | None = None  # WAIT: the check to re-run; APPLY: the resource's check
    requires: tuple[str, ...] = ()  # rule ids that must pass first

    @property
    def fixes(self) -> list[dict[str, str]]:
        return [{"rule": f.rule, "resource": f.resource} for f in self.findings]


@dataclasses.dataclass(frozen=True)
class StepResult:
    step: Step
    outcome: StepOutcome
    exit_code: int | None = None
    message: str = ""
    duration_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class FixPlan:
    steps: tuple[Step, ...]

    @property
    def automatic(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind in (StepKind.WAIT, StepKind.APPLY))


def plan(
    checks: Sequence[Check],
    findings: Sequence[Finding],
    outcomes: Mapping[tuple[str, ...], Outcome],
) -> FixPlan:
    """The remedy plan for every failing finding (passes, errors and skips get no step)."""
    by_key = {(c.id, c.resource): c for c in checks}
    order = {c.id: i for i, c in enumerate(checks)}
    # A muted finding is accepted as it is (a reason, an owner, an expiry): nothing to fix.
    failing = [f for f in findings if verdict.counted(f)]
    # Causes before consequences: a root cause (no caused_by) first, then the
    # catalog's order, which follows the request path (connector, database,
    # secrets, services, load balancer, reachability).
    failing.sort(key=lambda f: (bool(f.caused_by), order.get(f.check, len(order))))

    steps: list[Step] = []
    for finding in failing:
        check = by_key.get((finding.check, finding.resource))
        rule = _rule(check, finding.rule) if check else None
        document = _document(check, outcomes) if check else None
        step = _step(finding, check, rule, document)
        merged = False
        for i, existing in enumerate(steps):
            # Two findings fixed by one command (min and max instances) are one step.
            if step.kind is StepKind.APPLY and existing.kind is StepKind.APPLY and existing.argv == step.argv:
                steps[i] = dataclasses.replace(
                    existing, findings=existing.findings + step.findings, changes=existing.changes + step.changes
                )
                merged = True
                break
        if not merged:
            steps.append(step)
    return FixPlan(tuple(_after_requirements(steps, failing)))


def _rule(check: Check, rule_id: str) -> Any:
    return next((r for r in check.rules if r.id == rule_id), None)


def _document(check: Check, outcomes: Mapping[tuple[str, ...], Outcome]) -> Any:
    outcome = outcomes.get(check.argv)
    if outcome is None or outcome.error is not None:
        return None
    return lookup(check.select, outcome.document) if check.select else outcome.document


def _step(finding: Finding, check: Check | None, rule: Rule | None, document: Any) -> Step:
    fix, remedy = (rule.fix, rule.remedy) if rule else (None, "")
    if check is not None and finding.rule == f"{check.id}.exists" and check.missing is not None:
        remedy = check.missing.remedy
    label = finding.message
    if fix is None or (fix.when and not lookup(fix.when, document)):
        default = SECRET_REASON if check is not None and check.sensitive else DEFAULT_REASON
        if finding.caused_by and fix is None:
            # Nothing to do here of its own: fixing its cause clears it (and the re-check shows it).
            causes = ", ".join(f"{rule} ({resource})" for rule, resource in finding.caused_by)
            return Step(StepKind.CONSEQUENCE, (finding,), label, instruction=remedy,
                        reason=f"clears once {causes} is fixed", check=check)
        return Step(StepKind.MANUAL, (finding,), label, instruction=remedy,
                    reason=(fix.manual if fix and fix.manual else default), check=check)
    if fix.wait:
        goal = (rule.title if rule and rule.title and "{" not in rule.title else f"{finding.rule} passes")
        return Step(StepKind.WAIT, (finding,), f"until {goal} ({finding.resource})",
                    check=check, changes=(_changes(fix, finding, document, {}),) if fix.changes else ())
    if not fix.argv:
        return Step(StepKind.MANUAL, (finding,), label, instruction=remedy, reason=fix.manual, check=check)
    values, problem = _vars(fix, document)
    if problem:
        return Step(StepKind.MANUAL, (finding,), label, instruction=remedy, reason=problem, check=check)
    argv = tuple(_fill(token, values) for token in fix.argv)
    kind = StepKind.APPLY if fix.auto else StepKind.MANUAL
    return Step(
        kind, (finding,), label, argv=argv,
        instruction=remedy if kind is StepKind.MANUAL else "",
        reason="" if fix.auto else (fix.manual or DEFAULT_REASON),
        changes=(_changes(fix, finding, document, values),) if fix.changes else (),
        check=check, requires=fix.requires,
    )


def _vars(fix: Fix, document: Any) -> tuple[dict[str, str], str]:
    values: dict[str, str] = {}
    for name, expression in fix.vars:
        value = lookup(expression, document)
        if isinstance(value, float) and value == int(value):
            value = int(value)
        text = "" if value is None else str(value)
        if not _PLAIN.match(text):
            return {}, f"could not work out {name} from the current state"
        values[name] = text
    return values, ""


def _fill(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _changes(fix: Fix, finding: Finding, document: Any, values: Mapping[str, str]) -> str:
    actual = "" if finding.actual is None else display(finding.actual)
    return _fill(fix.changes, {**values, "actual": actual or "(unset)", "expected": finding.expected})


def _after_requirements(steps: list[Step], failing: Sequence[Finding]) -> list[Step]:
    """Move a step after the steps fixing what it requires; say when nothing will.

    Attaching a service to a connector that is not READY fails (or worse, cuts
    the service off), so the attach waits behind the connector's wait; if the
    connector's state needs a person (ERROR), the attach is blocked.
    """
    failing_rules = {f.rule for f in failing}
    ordered: list[Step] = []
    pending = list(steps)
    while pending:
        for i, step in enumerate(pending):
            needs = [r for r in step.requires if r in failing_rules]
            fixers = [s for s in pending if s is not step and any(f.rule in needs for f in s.findings)]
            if not fixers:
                break
        else:
            i, step = 0, pending[0]  # a cycle in the catalog: keep the original order
        pending.pop(i)
        unmet = [r for r in step.requires if r in failing_rules and not any(
            s.kind is StepKind.WAIT and any(f.rule == r for f in s.findings) for s in ordered)]
        if step.kind is StepKind.APPLY and unmet:
            step = dataclasses.replace(step, reason=f"blocked until {', '.join(unmet)} passes (fix that first)")
        ordered.append(step)
    return ordered


# --- applying ------------------------------------------------------------------

RunCommand = Callable[[tuple[str, ...]], Outcome]
Recheck = Callable[[Sequence[Check]], list[Finding]]
Progress = Callable[[str], None]


def apply(
    fix_plan: FixPlan,
    run_command: RunCommand,
    recheck: Recheck,
    *,
    timeout: float,
    poll_interval: float = 10.0,
    progress: Progress = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[StepResult, ...]:
    """Run the plan's automatic steps in order; stop at the first failure.

    `run_command` runs one gcloud argv (gcloud itself waits for the operation
    it starts); `recheck` re-runs checks and judges them fresh. A wait re-runs
    its check every `poll_interval` seconds until its rule passes, up to
    `timeout` (also each command's own timeout, far above a diagnosis's).
    """
    results: list[StepResult] = []
    failing = {f.rule for s in fix_plan.steps for f in s.findings}  # as the diagnosis found them
    passing: set[str] = set()
    stopped = ""
    for number, step in enumerate(fix_plan.steps, 1):
        if step.kind in (StepKind.MANUAL, StepKind.CONSEQUENCE):
            results.append(StepResult(step, StepOutcome(step.kind.value)))
            continue
        if stopped:
            results.append(StepResult(step, StepOutcome.NOT_RUN, message=stopped))
            continue
        started = clock()
        try:
            result = _run_step(number, step, run_command, recheck, timeout, poll_interval, progress, clock, sleep,
                               failing, passing)
        except KeyboardInterrupt:
            # Ctrl-C: the steps after this one never start; the caller says which ran and exits 130.
            results.append(StepResult(step, StepOutcome.INTERRUPTED, message="interrupted (Ctrl-C) while it ran",
                                      duration_s=clock() - started))
            stopped = "interrupted (Ctrl-C) before it ran"
            continue
        results.append(result)
        if result.outcome in (StepOutcome.FAILED, StepOutcome.TIMED_OUT):
            stopped = "an earlier step failed"
    return tuple(results)


def interrupted(results: Sequence[StepResult]) -> bool:
    """Ctrl-C stopped the plan (apply returned what had happened by then)."""
    return any(r.outcome is StepOutcome.INTERRUPTED for r in results)


def failure_lines(results: Sequence[StepResult]) -> list[str]:
    """A step that failed or timed out stops the plan: each says so, with what gcloud said."""
    return [f"infracheck: fix step {number} {r.outcome.value}: {r.message}; the steps after it were not run"
            for number, r in enumerate(results, 1) if r.outcome in (StepOutcome.FAILED, StepOutcome.TIMED_OUT)]


def interrupted_line(results: Sequence[StepResult]) -> str:
    """What Ctrl-C during the fixes leaves to be said: the step it stopped, the steps run and not run."""
    ran = [str(n) for n, r in enumerate(results, 1) if r.outcome in (
        StepOutcome.APPLIED, StepOutcome.WAITED, StepOutcome.FAILED, StepOutcome.TIMED_OUT, StepOutcome.BLOCKED)]
    stopped = next(n for n, r in enumerate(results, 1) if r.outcome is StepOutcome.INTERRUPTED)
    not_run = [str(n) for n, r in enumerate(results, 1) if r.outcome is StepOutcome.NOT_RUN]
    return (f"infracheck: interrupted during fix step {stopped} (it may or may not have taken effect); "
            f"steps run: {', '.join(ran) or 'none'}; not run: {', '.join(not_run) or 'none'}; "
            "the findings are the diagnosis's: re-run infracheck diagnose to see the state now")


def _run_step(
    number: int, step: Step, run_command: RunCommand, recheck: Recheck, timeout: float, poll_interval: float,
    progress: Progress, clock: Callable[[], float], sleep: Callable[[float], None],
    failing: set[str], passing: set[str],
) -> StepResult:
    """One automatic step; BLOCKED is a result too. Updates `passing` when it succeeds."""
    started = clock()
    if step.kind is StepKind.WAIT:
        result = _wait(number, step, recheck, timeout, poll_interval, progress, clock, sleep)
        if result.outcome is StepOutcome.WAITED:
            passing.update(f.rule for f in step.findings)
        return result
    unmet = [r for r in step.requires if r in failing and r not in passing]
    if unmet:
        return StepResult(step, StepOutcome.BLOCKED, message=f"{', '.join(unmet)} still fails")
    progress(f"step {number}: running {shlex.join(step.argv)}")
    outcome = run_command(step.argv)
    if outcome.error is not None:
        return StepResult(step, StepOutcome.FAILED, outcome.exit_code, outcome.error.message, clock() - started)
    passing.update(f.rule for f in step.findings)
    return StepResult(step, StepOutcome.APPLIED, outcome.exit_code, "done", clock() - started)


def _wait(
    number: int, step: Step, recheck: Recheck, timeout: float, poll_interval: float,
    progress: Progress, clock: Callable[[], float], sleep: Callable[[float], None],
) -> StepResult:
    assert step.check is not None
    wanted = {f.rule for f in step.findings}
    started = clock()
    while True:
        fresh = [f for f in recheck([step.check]) if f.rule in wanted]
        if fresh and all(f.status is Status.PASS for f in fresh):
            return StepResult(step, StepOutcome.WAITED, message=fresh[0].message, duration_s=clock() - started)
        elapsed = clock() - started
        now = fresh[0].message if fresh else "no answer"
        if elapsed >= timeout:
            return StepResult(step, StepOutcome.TIMED_OUT, message=f"still failing after {elapsed:.0f} s: {now}",
                              duration_s=elapsed)
        progress(f"step {number}: waiting ({elapsed:.0f} s): {now}")
        # The last look is at the timeout itself: a poll that would overrun it is shortened,
        # never skipped (--fix-timeout 10 with the 10 s poll gave up after the first look).
        sleep(min(poll_interval, timeout - elapsed))


def rows(
    fix_plan: FixPlan,
    results: Sequence[StepResult] = (),
    findings_after: Sequence[Finding] | None = None,
) -> tuple[FixStep, ...]:
    """The plan (and, once applied, what happened) as report rows."""
    done = {id(r.step): r for r in results}
    status = {(f.rule, f.resource): f.status.value for f in findings_after or ()}
    out = []
    for number, step in enumerate(fix_plan.steps, 1):
        result = done.get(id(step))
        out.append(FixStep(
            number=number,
            kind=step.kind,
            title=step.title,
            fixes=tuple((f.rule, f.resource) for f in step.findings),
            argv=step.argv,
            instruction=step.instruction,
            reason=step.reason,
            changes=step.changes,
            outcome=result.outcome if result else (
                StepOutcome(step.kind.value) if step.kind in (StepKind.MANUAL, StepKind.CONSEQUENCE)
                else StepOutcome.PLANNED),
            exit_code=result.exit_code if result else None,
            message=result.message if result else "",
            after=tuple(status.get((f.rule, f.resource), "") for f in step.findings) if findings_after else (),
        ))
    return tuple(out)


def affected(fix_plan: FixPlan, results: Sequence[StepResult], findings: Sequence[Finding]) -> list[tuple[str, str]]:
    """(check, resource) to re-check after applying: what the steps touched, and whatever still failed.

    A fix heals consequences too (a service Ready once its connector is), so
    every check that was failing or could not be checked is judged again.
    """
    touched = [(f.check, f.resource) for r in results
               if r.outcome in (StepOutcome.APPLIED, StepOutcome.WAITED, StepOutcome.FAILED)
               for f in r.step.findings]
    bad = [(f.check, f.resource) for f in findings if verdict.problem(f)]
    return list(dict.fromkeys(touched + bad))
