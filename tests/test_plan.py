"""plan.py: what runs, what is skipped and why, each command once - without the CLI."""

from __future__ import annotations

import pytest

from infracheck import plan
from infracheck.catalog import loader
from infracheck.model import CannotRun, Status


@pytest.fixture(scope="module")
def cat():
    return loader.load(environ={})


def test_everything_runs_without_a_selection(cat):
    p = plan.make(cat)
    assert p.checks == cat.checks
    assert all(not off for off in p.skipped)
    assert p.skip_findings == ()


def test_each_command_is_planned_once_and_knows_its_readers(cat):
    p = plan.make(cat)
    every = [argv for c in p.checks for argv in c.sources]
    assert len(p.sources) == len(set(every)) < len(every)  # several checks read one command
    for argv, readers in p.users.items():
        assert readers and all(argv in p.checks[i].sources for i in readers)
    assert set(p.sources) == set(every)


def test_exclude_an_area_skips_its_rules_with_findings(cat):
    p = plan.make(cat, exclude=plan.globs(["vpc"]))
    assert not any(c.area == "vpc" for c in p.checks)
    assert p.planned("vpc") == 0 and p.planned("cloudsql") > 0
    skipped = {f.rule for f in p.skip_findings}
    assert skipped == {r.id for c in cat.checks if c.area == "vpc" for r in c.rules}
    assert all(f.status is Status.SKIP for f in p.skip_findings)


def test_exclude_one_rule_keeps_its_check(cat):
    rule = next(c for c in cat.checks if c.area == "vpc").rules[0].id
    p = plan.make(cat, exclude=[rule])
    vpc = [i for i, c in enumerate(p.checks) if c.area == "vpc"]
    assert vpc and any(rule in p.skipped[i] for i in vpc)


def test_include_that_matches_nothing_is_refused(cat):
    with pytest.raises(CannotRun, match="no check or rule matches --include nope"):
        plan.make(cat, include=["nope"])


def test_globs_take_commas_and_repeats():
    assert plan.globs(["vpc, cloudsql", "", "secrets"]) == ["vpc", "cloudsql", "secrets"]


def test_sensitive_commands_are_the_secret_reads(cat):
    p = plan.make(cat)
    assert p.sensitive and all(argv[:3] == ("gcloud", "secrets", "versions") for argv in p.sensitive)
