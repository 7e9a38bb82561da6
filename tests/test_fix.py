"""fix.py: the plan a diagnosis gives, its order, and applying it with small fakes."""

from __future__ import annotations

import dataclasses

from infracheck import fix
from infracheck.fix import StepKind, StepOutcome
from infracheck.model import Check, CommandError, ErrorKind, Finding, Fix, Outcome, Rule, Severity, Status

CONNECTOR_ARGV = ("gcloud", "compute", "networks", "vpc-access", "connectors", "describe", "c1")
SERVICE_ARGV = ("gcloud", "run", "services", "list")


def _rule(rule_id: str, fix_: Fix | None = None) -> Rule:
    return Rule(id=rule_id, path="x", op="eq", value=1, severity=Severity.CRITICAL, message="m", fix=fix_)


STATE = _rule("vpc.state", Fix(wait=True, when="state == 'CREATING'", manual="recreate it", changes="state {actual} -> READY"))
MIN = _rule("vpc.min-instances", Fix(
    argv=("gcloud", "update", "c1", "--min-instances={min}", "--max-instances={max}"), auto=True,
    requires=("vpc.state",), vars=(("min", "max([minInstances, `2`])"), ("max", "max([maxInstances, `10`])")),
    changes="min instances {actual} -> {min}"))
MAX = _rule("vpc.max-instances", dataclasses.replace(MIN.fix, changes="max instances {actual} -> {max}"))  # type: ignore[arg-type]
ATTACH = _rule("cloudrun.vpc-connector", Fix(argv=("gcloud", "run", "services", "update", "api"), auto=True,
                                             requires=("vpc.state",)))
SSL = _rule("cloudsql.ssl", Fix(manual="cuts off clients"))

CONNECTOR = Check(id="vpc.connector", area="vpc", title="VPC connector c1", argv=CONNECTOR_ARGV,
                  rules=(STATE, MIN, MAX), resource="c1")
SERVICE = Check(id="cloudrun.service", area="cloudrun", title="Service api", argv=SERVICE_ARGV,
                rules=(ATTACH,), resource="api", select="[0]")
SQL = Check(id="cloudsql.instance", area="cloudsql", title="db", argv=("gcloud", "sql"), rules=(SSL,), resource="db")


def _fail(check: Check, rule: str, actual: object = None) -> Finding:
    return Finding(check.id, rule, check.area, Status.FAIL, Severity.CRITICAL, check.resource,
                   f"{rule} fails", actual=actual)


def _ok(check: Check, rule: str) -> Finding:
    return Finding(check.id, rule, check.area, Status.PASS, Severity.CRITICAL, check.resource, f"{rule} ok")


def _outcomes(state: str = "CREATING", minimum: int = 1, maximum: int = 12) -> dict[tuple[str, ...], Outcome]:
    return {
        CONNECTOR_ARGV: Outcome(CONNECTOR_ARGV, 0, 0.0, document={"state": state, "minInstances": minimum,
                                                                   "maxInstances": maximum}),
        SERVICE_ARGV: Outcome(SERVICE_ARGV, 0, 0.0, document=[{"metadata": {"name": "api"}}]),
    }


def test_causes_first_one_step_per_command_and_the_attach_after_the_wait():
    findings = [_fail(SERVICE, "cloudrun.vpc-connector"), _fail(CONNECTOR, "vpc.max-instances", 12),
                _fail(CONNECTOR, "vpc.min-instances", 1), _fail(CONNECTOR, "vpc.state", "CREATING"),
                _ok(CONNECTOR, "vpc.network")]
    plan = fix.plan([CONNECTOR, SERVICE], findings, _outcomes())
    assert [s.kind for s in plan.steps] == [StepKind.WAIT, StepKind.APPLY, StepKind.APPLY]
    # The connector update needs the state READY first, like the attach.
    order = [s.findings[0].rule for s in plan.steps]
    assert order.index("vpc.state") < order.index("vpc.max-instances")
    assert order.index("vpc.state") < order.index("cloudrun.vpc-connector")
    update = next(s for s in plan.steps if "vpc.min-instances" in {f.rule for f in s.findings})
    # min and max are one command; neither value goes below the current one (max stays 12, not 10).
    assert {f.rule for f in update.findings} == {"vpc.min-instances", "vpc.max-instances"}
    assert update.argv == ("gcloud", "update", "c1", "--min-instances=2", "--max-instances=12")
    assert update.changes == ("max instances 12 -> 12", "min instances 1 -> 2")
    assert not update.reason


def test_no_step_for_what_passes_or_could_not_be_checked():
    error = Finding(CONNECTOR.id, CONNECTOR.id, "vpc", Status.ERROR, None, "c1", "could not check")
    plan = fix.plan([CONNECTOR], [_ok(CONNECTOR, "vpc.state"), error], _outcomes())
    assert plan.steps == ()


def test_a_state_that_does_not_end_by_itself_is_a_manual_step_and_blocks_what_requires_it():
    findings = [_fail(CONNECTOR, "vpc.state", "ERROR"), _fail(SERVICE, "cloudrun.vpc-connector")]
    plan = fix.plan([CONNECTOR, SERVICE], findings, _outcomes(state="ERROR"))
    state, attach = plan.steps
    assert state.kind is StepKind.MANUAL and state.reason == "recreate it"
    assert attach.kind is StepKind.APPLY and "blocked until vpc.state passes" in attach.reason
    results = fix.apply(plan, run_command=_never, recheck=_never, timeout=5)
    assert [r.outcome for r in results] == [StepOutcome.MANUAL, StepOutcome.BLOCKED]


def test_manual_fix_keeps_its_reason_and_the_rule_remedy():
    rule = dataclasses.replace(SSL, remedy="gcloud sql instances patch db --ssl-mode=ENCRYPTED_ONLY")
    check = dataclasses.replace(SQL, rules=(rule,))
    (step,) = fix.plan([check], [_fail(check, "cloudsql.ssl", False)], {}).steps
    assert (step.kind, step.reason, step.instruction) == (
        StepKind.MANUAL, "cuts off clients", "gcloud sql instances patch db --ssl-mode=ENCRYPTED_ONLY")


def test_a_value_that_is_not_one_plain_token_is_never_put_on_a_command_line():
    findings = [_fail(CONNECTOR, "vpc.min-instances", 1)]
    outcomes = _outcomes(state="READY")
    outcomes[CONNECTOR_ARGV] = Outcome(CONNECTOR_ARGV, 0, 0.0, document={
        "state": "READY", "minInstances": 1, "maxInstances": "--impersonate-service-account=x"})
    (step,) = fix.plan([CONNECTOR], findings, outcomes).steps
    assert step.kind is StepKind.MANUAL and "could not work out" in step.reason and not step.argv


def _never(*args: object) -> Outcome:
    raise AssertionError("must not run")


def test_apply_waits_then_runs_in_order_and_stops_at_the_first_failure():
    findings = [_fail(CONNECTOR, "vpc.state", "CREATING"), _fail(CONNECTOR, "vpc.min-instances", 1),
                _fail(SERVICE, "cloudrun.vpc-connector")]
    plan = fix.plan([CONNECTOR, SERVICE], findings, _outcomes())
    polls = iter([[_fail(CONNECTOR, "vpc.state", "CREATING")], [_ok(CONNECTOR, "vpc.state")]])
    ran: list[tuple[str, ...]] = []

    def run_command(argv: tuple[str, ...]) -> Outcome:
        ran.append(argv)
        if argv[1] == "run":
            return Outcome(argv, 1, 0.1, error=CommandError(ErrorKind.PERMISSION_DENIED, "permission denied: run.services.update"))
        return Outcome(argv, 0, 0.1, document=None)

    clock = iter(range(0, 1000, 5))
    results = fix.apply(plan, run_command, lambda checks: next(polls), timeout=60, poll_interval=5,
                        clock=lambda: float(next(clock)), sleep=lambda s: None)
    assert [r.outcome for r in results] == [StepOutcome.WAITED, StepOutcome.APPLIED, StepOutcome.FAILED]
    assert results[2].message == "permission denied: run.services.update" and results[2].exit_code == 1
    assert [a[1] for a in ran] == ["update", "run"]


def test_a_wait_that_never_ends_times_out_and_nothing_after_it_runs():
    findings = [_fail(CONNECTOR, "vpc.state", "CREATING"), _fail(SERVICE, "cloudrun.vpc-connector")]
    plan = fix.plan([CONNECTOR, SERVICE], findings, _outcomes())
    clock = iter(range(0, 10000, 10))
    results = fix.apply(plan, _never, lambda checks: [_fail(CONNECTOR, "vpc.state", "CREATING")],
                        timeout=60, poll_interval=10, clock=lambda: float(next(clock)), sleep=lambda s: None)
    assert [r.outcome for r in results] == [StepOutcome.TIMED_OUT, StepOutcome.NOT_RUN]
    assert "still failing after" in results[0].message


def test_a_consequence_without_a_fix_of_its_own_says_what_clears_it_and_comes_after_its_cause():
    ready = _rule("cloudrun.ready")
    service = dataclasses.replace(SERVICE, rules=(ready,))
    consequence = dataclasses.replace(_fail(service, "cloudrun.ready"), caused_by=(("vpc.state", "c1"),))
    plan = fix.plan([CONNECTOR, service], [consequence, _fail(CONNECTOR, "vpc.state", "CREATING")], _outcomes())
    assert [s.findings[0].rule for s in plan.steps] == ["vpc.state", "cloudrun.ready"]
    assert plan.steps[1].kind is StepKind.CONSEQUENCE and plan.steps[1] not in plan.automatic
    assert plan.steps[1].reason == "clears once vpc.state (c1) is fixed"
    results = fix.apply(plan, _never, lambda checks: [_ok(CONNECTOR, "vpc.state")], timeout=5)
    assert [r.outcome for r in results] == [StepOutcome.WAITED, StepOutcome.CONSEQUENCE]


def test_the_minimum_fix_timeout_waits_its_whole_length_not_one_poll_less():
    # --fix-timeout 10 with the 10 s poll gave up after the first look (1 s in): the wait
    # predicted that the next poll would overrun and stopped. It looks again at the timeout itself.
    findings = [_fail(CONNECTOR, "vpc.state", "CREATING")]
    plan = fix.plan([CONNECTOR], findings, _outcomes())
    now = [0.0]
    looks: list[float] = []

    def recheck(checks: object) -> list[Finding]:
        looks.append(now[0])
        now[0] += 1.0  # a look costs a second
        return [_fail(CONNECTOR, "vpc.state", "CREATING")]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    (result,) = fix.apply(plan, _never, recheck, timeout=10, poll_interval=10, clock=lambda: now[0], sleep=sleep)
    assert result.outcome is StepOutcome.TIMED_OUT
    assert looks == [0.0, 10.0] and result.duration_s == 11.0
    assert result.message.startswith("still failing after 11 s")
