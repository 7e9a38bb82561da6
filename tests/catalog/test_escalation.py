"""commands/escalation.toml: validated at load time like the rest of the catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infracheck.catalog import loader
from infracheck.catalog.loader import CatalogError


@pytest.fixture
def catalog_dir(tmp_path):
    target = tmp_path / "commands"
    shutil.copytree(loader.default_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


@pytest.mark.parametrize("text, words", [
    ('[[label]]\nname = "x"\nstatus = ["BROKEN"]\n', "unknown status ['BROKEN']"),
    ('[[label]]\nname = "x"\ncolour = "red"\n', "[[label]]: unknown key(s) ['colour']"),
    ('[[criterion]]\ngroup = "g"\ntext = "t"\n', "'t': needs verified_by, verdict or manual"),
    ('[[criterion]]\ngroup = "g"\ntext = "t"\nverdict = "GREEN"\n', "verdict must be one of"),
    ('[priority]\nRED = "P0"\n', "[priority] maps verdicts"),
    ('[[component]]\narea = "vpc"\nname = "{nope}"\n', "unknown name '{nope}'"),
    ('labels = 1\n', "unknown top-level key(s) ['labels']"),
    ('[[timeline]]\nphase = "p"\nhours = 0\nowner = "o"\n', "'p': 'hours' must be a number of hours above 0"),
    ('[[timeline]]\nphase = "p"\nhours = 1\nowner = "o"\ndone_when = "later"\n', "'done_when' is"),
    ('[[justification]]\nname = "Goal"\n', "[[justification]]: missing 'text'"),
    ('[[timeline]]\nphase = "p"\nhours = 1\nowner = "o"\npassing = "vpc"\n', "'p': 'passing' must be a list of strings"),
    ('[extended]\nafter_hours = 0\n', "[extended]: 'after_hours' must be a number of hours above 0"),
    ('[extended]\nafter_hours = 2\npager = "x"\n', "[extended]: unknown key(s) ['pager']"),
    ('extended = 2\n', "[extended] must be a table"),
])
def test_a_mistake_names_the_file_and_the_problem(catalog_dir, text, words):
    (catalog_dir / "escalation.toml").write_text(text)
    with pytest.raises(CatalogError) as caught:
        loader.load(catalog_dir, environ={})
    assert str(caught.value).startswith("escalation.toml: ")
    assert words in str(caught.value)


def test_without_the_file_there_are_no_labels_and_no_checklist(catalog_dir):
    (catalog_dir / "escalation.toml").unlink()
    esc = loader.load(catalog_dir, environ={}).escalation
    assert esc.labels == () and esc.criteria == () and esc.environment == "staging"


def test_environment_is_a_checked_profile_name():
    with pytest.raises(CatalogError, match="invalid environment 'Prod Env'"):
        loader.load(overrides={"environment": "Prod Env"}, environ={})


# --- the plan's business context (4.1, 4.3): data, filled from the run (issue 17) ----------------------

OUTAGE = str(Path(__file__).resolve().parents[2] / "fixtures" / "outage")


def _render(capsys, fmt: str, *extra: str) -> str:
    from infracheck.cli import main

    assert main(["diagnose", "--replay", OUTAGE, "--format", fmt, *extra]) == 2
    return capsys.readouterr().out


def test_the_issue_update_has_the_plans_impact_timeline_justification_and_contacts(capsys):
    out = _render(capsys, "markdown")
    assert "**Business Impact:** $500K+ ARR staging environment offline\\\n" in out
    assert "\n".join([
        "### Expected Resolution Timeline", "",
        "| Phase | Duration | Responsibility | Status |", "|---|---|---|---|",
        "| Infrastructure Validation | 1 hour | Infrastructure Team | done (verdict CRITICAL) |",
        "| Component Remediation | 2 hours | Infrastructure Team | ahead |",
        "| Service Redeployment | 1 hour | Platform Team | ahead |",
        "| End-to-End Validation | 1 hour | Platform Team | ahead |",
        "| **Total** | **5 hours** | **Joint effort** | **4 hours left** |"]) in out
    assert "- **Value Impact:** Restore $500K+ ARR staging environment functionality" in out
    assert "**Business Owner:** \\[Product Team Lead\\]" in out


def test_the_stakeholder_message_has_recipients_and_the_expected_resolution(capsys):
    out = _render(capsys, "message")
    assert out.splitlines()[1] == ("To: Infrastructure Team Lead, Platform Engineering Team, "
                                   "Product Team (business impact), Engineering Leadership")
    assert "- Business impact: $500K+ ARR staging environment offline" in out
    assert ("EXPECTED RESOLUTION: 4 hours (2h remediation + 1h redeployment + 1h end-to-end validation) left; "
            "done: validation") in out


def test_a_profile_replaces_the_business_context(capsys, tmp_path):
    profile = tmp_path / "profile.toml"
    profile.write_text('[escalation]\nbusiness_impact = "internal demo stack down"\nrecipients = ["ops@example.com"]\n'
                       '[[escalation.timeline]]\nphase = "Triage"\nhours = 0.5\nowner = "On-call"\n'
                       'done_when = "verdict"\n')
    out = _render(capsys, "message", "--profile", str(profile))
    assert "To: ops@example.com\n" in out and "- Business impact: internal demo stack down" in out
    assert "EXPECTED RESOLUTION: every phase of the timeline is done" in out
    assert "$500K" not in out


def test_a_profile_cannot_replace_the_escalation_rules(tmp_path):
    profile = tmp_path / "profile.toml"
    profile.write_text('[escalation]\npriority = { CRITICAL = "P3" }\n')
    with pytest.raises(CatalogError) as caught:
        loader.load(profile_file=profile, environ={})
    assert "[escalation] sets ['priority']; a profile may set business_impact, contact" in str(caught.value)


def test_remediation_is_done_once_fix_mode_applied_its_steps():
    from infracheck.judge import escalation
    from infracheck.model import FixStep, Overall, Report, StepKind, StepOutcome

    esc = loader.load(environ={}).escalation
    applied = FixStep(1, StepKind.APPLY, "t", (("vpc.min-instances", "staging-connector"),), outcome=StepOutcome.APPLIED)
    manual = FixStep(2, StepKind.MANUAL, "t", (("cloudsql.ssl", "netra-staging-db"),), outcome=StepOutcome.MANUAL)
    report = Report("netra-staging", "us-central1", Overall.HEALTHY, (), (), (), escalation=esc,
                    fixes=(applied, manual), before=Overall.CRITICAL)
    states = {s.phase.short: (s.done, s.why) for s in escalation.timeline(report)}
    assert states["remediation"] == (True, "fix mode applied 1 step(s), 1 manual step(s) for a person")
    assert states["redeployment"] == (False, "")
    planned = Report("netra-staging", "us-central1", Overall.CRITICAL, (), (), (), escalation=esc, fixes=(applied,))
    assert not {s.phase.short: s.done for s in escalation.timeline(planned)}["remediation"]
    assert escalation.expected_resolution(report) == (
        "2 hours (1h redeployment + 1h end-to-end validation) left; done: validation, remediation")
