"""Mute files: every malformed case is an error with file and line; mutes apply, expire and go stale."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from infracheck.judge import mutes, verdict
from infracheck.model import Category, Finding, Mute, Overall, Report, Severity, Status
from infracheck.report import json as json_report
from infracheck.report import text

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.timezone.utc)
OK = 'reason = "on purpose"\nexpires = 2027-01-31\n'


def parse(source: str) -> tuple[Mute, ...]:
    return mutes.parse(textwrap.dedent(source), "team.toml", NOW)


# --- malformed files: (source, the error as printed) --------------------------

MALFORMED = [
    pytest.param('[[mute]]\nrule = "vpc.state"\n' + OK + 'expiry = 2027-01-31\n',
                 "team.toml:5: mute entry 1: unknown key 'expiry' (allowed: rule, resource, reason, owner, expires, target)",
                 id="unknown-key"),
    pytest.param('[[mute]]\nrule = "a"\n' + OK + '\n[[mute]]\nrule = "vpc.state"\nexpires = 2027-01-31\n',
                 "team.toml:6: mute entry 2: 'reason' is required", id="missing-reason-second-entry"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\n',
                 "team.toml:1: mute entry 1: 'expires' is required", id="missing-expires"),
    pytest.param('[[mute]]\nresource = "staging-connector"\n' + OK,
                 "team.toml:1: mute entry 1: 'rule' is required", id="missing-rule"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "   "\nexpires = 2027-01-31\n',
                 "team.toml:3: mute entry 1: 'reason' must not be empty", id="blank-reason"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = 3\nexpires = 2027-01-31\n',
                 "team.toml:3: mute entry 1: 'reason' must be a string", id="reason-not-text"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nowner = ["a"]\n' + OK,
                 "team.toml:3: mute entry 1: 'owner' must be a string", id="owner-not-text"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\nexpires = "end of January"\n',
                 "team.toml:4: mute entry 1: 'expires' is not a date: \"end of January\" (write it as 2027-01-31)",
                 id="bad-date-text"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\nexpires = 20270131\n',
                 "team.toml:4: mute entry 1: 'expires' is not a date: 20270131 (write it as 2027-01-31)",
                 id="bad-date-number"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\nexpires = 2027-01-31T12:00:00Z\n',
                 "team.toml:4: mute entry 1: 'expires' is not a date: 2027-01-31T12:00:00Z (write it as 2027-01-31)",
                 id="date-with-time"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\n\nexpires = 2027-02-30\n',
                 "team.toml:5: not valid TOML: Invalid date or datetime", id="impossible-date"),
    pytest.param('[[mute]]\nrule = "vpc.state"\nreason = "x"\nexpires = 2027-02-26\n',
                 "team.toml:4: mute entry 1: 'expires' 2027-02-26 is more than 90 days after the run's clock "
                 "(2026-11-27); the latest allowed is 2027-02-25", id="expiry-too-far"),
    pytest.param('[[mute]]\nrule = vpc.state\n' + OK,
                 "team.toml:2: not valid TOML: Invalid value", id="toml-syntax"),
    pytest.param('# typo\n[[mutes]]\nrule = "vpc.state"\n' + OK,
                 "team.toml:2: unknown key 'mutes' (a mute file holds [[mute]] entries only)", id="unknown-table"),
    pytest.param('mute = "vpc.state"\n',
                 "team.toml:1: 'mute' must be a list of tables: write each entry under [[mute]]", id="mute-not-list"),
    pytest.param('[mute]\nrule = "vpc.state"\n' + OK,
                 "team.toml:1: 'mute' must be a list of tables: write each entry under [[mute]]", id="single-table"),
]


@pytest.mark.parametrize("source, message", MALFORMED)
def test_malformed_mute_file_is_an_error_naming_file_and_line(source, message):
    with pytest.raises(mutes.MuteError) as exc:
        mutes.parse(source, "team.toml", NOW)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


def test_unreadable_mute_file(tmp_path):
    with pytest.raises(mutes.MuteError, match=r"absent.toml: cannot read the mute file: No such file"):
        mutes.load(tmp_path / "absent.toml", NOW)


# --- valid files ---------------------------------------------------------------

VALID = [
    pytest.param("", (), id="empty-file"),
    pytest.param("""
        [[mute]]
        rule = "vpc.min-instances"        # a rule id or glob
        resource = "staging-connector"    # optional
        reason = "one instance on purpose until the January load test"
        owner = "platform-team"
        expires = 2027-01-31
        """,
        (Mute("vpc.min-instances", "one instance on purpose until the January load test", dt.date(2027, 1, 31),
              "staging-connector", "platform-team", "team.toml", 2),), id="the-issue-example"),
    pytest.param('[[mute]]\nrule = "secrets.*"\nreason = "r"\nexpires = "2027-02-25"\n',
                 (Mute("secrets.*", "r", dt.date(2027, 2, 25), file="team.toml", line=1),),
                 id="glob-quoted-date-exactly-90-days"),
    pytest.param('[[mute]]\nrule = "a"\nreason = "r"\nexpires = 2026-01-01\n[[mute]]\n"rule" = "b"\nreason = "s"\n'
                 'expires = 2027-01-01\n',
                 (Mute("a", "r", dt.date(2026, 1, 1), file="team.toml", line=1),
                  Mute("b", "s", dt.date(2027, 1, 1), file="team.toml", line=5)),
                 id="already-expired-is-valid"),
]


@pytest.mark.parametrize("source, expected", VALID)
def test_valid_mute_file(source, expected):
    assert parse(source) == expected


def test_default_file_only_when_present(tmp_path):
    assert mutes.default_file(tmp_path) is None
    (tmp_path / ".infracheck-mute.toml").write_text("")
    assert mutes.default_file(tmp_path) == tmp_path / ".infracheck-mute.toml"


# --- applying mutes -------------------------------------------------------------

def finding(rule: str, resource: str, status: Status = Status.FAIL, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(check=rule.rsplit(".", 1)[0], rule=rule, area=rule.split(".")[0], status=status,
                   severity=severity, resource=resource, message=f"{rule} on {resource} failed")


def m(rule: str, resource: str | None = None, expires: dt.date = dt.date(2027, 1, 31), line: int = 1) -> Mute:
    return Mute(rule, "known", expires, resource, "platform-team", "team.toml", line)


MIN = finding("vpc.min-instances", "staging-connector")
STATE = finding("vpc.state", "staging-connector", severity=Severity.CRITICAL)
SQL = finding("cloudsql.state", "netra-staging-db", Status.ERROR, Severity.CRITICAL)
PASSED = finding("cloudsql.ssl", "netra-staging-db", Status.PASS)
SKIPPED = finding("dns.resolves", "staging.netrasystems.ai", Status.SKIP)
FINDINGS = (MIN, STATE, SQL, PASSED, SKIPPED)

# (mutes, muted rules, stale mute lines, overall, counts critical/warning/error/muted)
APPLY = [
    pytest.param([], [], [], Overall.CRITICAL, (1, 1, 1, 0), id="no-mutes"),
    pytest.param([m("vpc.min-instances", "staging-connector")], ["vpc.min-instances"], [], Overall.CRITICAL,
                 (1, 0, 1, 1), id="rule-and-resource"),
    pytest.param([m("vpc.*")], ["vpc.min-instances", "vpc.state"], [], Overall.UNKNOWN, (0, 0, 1, 2), id="glob"),
    pytest.param([m("vpc.*", "other-connector")], [], [1], Overall.CRITICAL, (1, 1, 1, 0), id="other-resource-stale"),
    pytest.param([m("cloudsql.state")], [], [], Overall.CRITICAL, (1, 1, 1, 0), id="never-hides-an-error"),
    pytest.param([m("cloudsql.ssl")], [], [1], Overall.CRITICAL, (1, 1, 1, 0), id="matches-a-pass-only-stale"),
    pytest.param([m("dns.*")], [], [], Overall.CRITICAL, (1, 1, 1, 0), id="matches-a-skip-not-stale"),
    pytest.param([m("vpc.state"), m("vpc.state", line=7)], ["vpc.state"], [], Overall.UNKNOWN, (0, 1, 1, 1),
                 id="first-mute-wins-second-not-stale"),
    pytest.param([m("vpc.min-instances", expires=NOW.date())], ["vpc.min-instances"], [], Overall.CRITICAL,
                 (1, 0, 1, 1), id="applies-through-its-expiry-day"),
    pytest.param([m("nothing.*", line=3), m("vpc.state", line=9)], ["vpc.state"], [3], Overall.UNKNOWN,
                 (0, 1, 1, 1), id="one-used-one-stale"),
]


@pytest.mark.parametrize("given, muted, stale, status, expected_counts", APPLY)
def test_apply(given, muted, stale, status, expected_counts):
    applied = mutes.apply(FINDINGS, given, NOW)
    assert [f.rule for f in applied.findings if f.muted] == muted
    assert all(f.status is Status.FAIL for f in applied.findings if f.muted)  # keeps its status
    assert [s.line for s in applied.stale] == stale
    assert verdict.overall(applied.findings) is status
    c = verdict.counts(applied.findings)
    assert (c["critical"], c["warning"], c["error"], c["muted"]) == expected_counts


def test_expired_mute_stops_applying_and_warns_who_why_when():
    expired = Mute("vpc.state", "connector rebuild", dt.date(2026, 11, 26), "staging-connector", "platform-team",
                   "team.toml", 4)
    applied = mutes.apply(FINDINGS, [expired], NOW, areas=["vpc", "cloudsql"])
    assert not any(f.muted for f in applied.findings)
    assert applied.stale == ()  # expired is said once, as a warning, not twice
    warning = applied.findings[-1]
    assert (warning.rule, warning.area, warning.status, warning.severity, warning.resource) == (
        "mute.expired", "vpc", Status.FAIL, Severity.WARNING, "team.toml:4")
    assert warning.category is Category.CONFIGURATION  # a root cause of its own, never "could not check"
    assert warning.message == ("Mute of vpc.state on staging-connector expired on 2026-11-26 "
                               "(platform-team: connector rebuild); its findings count again")
    assert verdict.counts(applied.findings)["critical"] == 1 and verdict.counts(applied.findings)["warning"] == 2


def test_expired_mute_that_matches_nothing_still_warns():
    applied = mutes.apply((PASSED,), [m("gone.*", expires=dt.date(2026, 1, 1))], NOW)
    assert verdict.overall(applied.findings) is Overall.WARNING
    assert applied.findings[-1].area == "mute"  # its rule names no area


def test_interrupted_run_calls_nothing_stale():
    assert mutes.apply((MIN,), [m("cloudsql.*")], NOW, complete=False).stale == ()
    assert len(mutes.apply((MIN,), [m("cloudsql.*")], NOW, complete=True).stale) == 1


def test_expiry_is_judged_by_the_runs_clock_in_utc():
    late_evening_west = dt.datetime(2027, 1, 31, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert mutes.active([m("x")], late_evening_west) == ()  # already 1 February in UTC


# --- what a reader sees ----------------------------------------------------------

def _report(findings: tuple[Finding, ...], stale: tuple[Mute, ...]) -> Report:
    return Report("netra-staging", "us-central1", verdict.overall(findings), (), findings, (), stale_mutes=stale)


def test_text_shows_each_muted_finding_once_with_reason_and_expiry_and_the_stale_ones():
    applied = mutes.apply(FINDINGS, [m("vpc.min-instances"), m("nothing.*", line=12)], NOW)
    out = text.render(_report(applied.findings, applied.stale))
    assert "Warnings: 0" in out and "Muted: 1" in out
    assert out.count("vpc.min-instances on staging-connector failed") == 1
    assert "   - vpc.min-instances on staging-connector failed\n     muted: known (platform-team, until 2027-01-31)" in out
    assert "STALE MUTES" in out and "   - team.toml:12 nothing.* (platform-team, until 2027-01-31): known" in out


def test_json_keeps_status_fail_and_adds_muted_and_stale():
    applied = mutes.apply(FINDINGS, [m("vpc.min-instances", "staging-connector"), m("nothing.*", line=12)], NOW)
    data = json.loads(json_report.render(_report(applied.findings, applied.stale)))
    assert data["counts"]["muted"] == 1 and data["counts"]["warning"] == 0
    muted = [f for f in data["findings"] if f["muted"]]
    assert len(muted) == 1 and muted[0]["status"] == "fail"
    assert muted[0]["muted"] == {"rule": "vpc.min-instances", "resource": "staging-connector", "reason": "known",
                                 "owner": "platform-team", "expires": "2027-01-31", "file": "team.toml", "line": 1,
                                 "target": None}
    assert [s["rule"] for s in data["stale_mutes"]] == ["nothing.*"]


# --- end to end: `infracheck diagnose --mute` on recorded scenarios ---------------------------------

from tests.test_cli import HEALTHY, OUTAGE, ROOT, run  # noqa: E402

FIXTURES = ROOT / "fixtures"

CONNECTOR_ON_PURPOSE = """
[[mute]]
rule = "vpc.min-instances"
resource = "staging-connector"
reason = "one instance on purpose until the January load test"
owner = "platform-team"
expires = 2027-01-31
"""


def test_cli_mute_shows_the_finding_once_and_does_not_count_it(capsys, tmp_path):
    (tmp_path / "mute.toml").write_text(CONNECTOR_ON_PURPOSE)
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"))
    assert code == 2 and err == ""
    assert "Critical Failures: 6\nWarnings: 1\nMuted: 1\n" in out
    assert out.count("Min instances is 1, should be at least 2") == 1
    assert ("   - Min instances is 1, should be at least 2\n"
            "     muted: one instance on purpose until the January load test (platform-team, until 2027-01-31)") in out
    assert "❌ Found 1 VPC connector issues\n   🔇 1 muted (see MUTED below)" in out  # streamed block agrees
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"),
                       "--format", "json")
    data = json.loads(out)
    assert data["counts"]["muted"] == 1 and data["counts"]["warning"] == 1 and data["stale_mutes"] == []
    muted = [f for f in data["findings"] if f["muted"]]
    assert [(f["rule"], f["status"], f["muted"]["owner"]) for f in muted] == [
        ("vpc.min-instances", "fail", "platform-team")]


def test_cli_muting_every_warning_makes_a_warning_stack_healthy(capsys, tmp_path):
    (tmp_path / "mute.toml").write_text('[[mute]]\nrule = "vpc.*"\nreason = "bare test connector"\n'
                                        'expires = 2026-12-01\n')
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "vpc-bare"), "--mute",
                       str(tmp_path / "mute.toml"))
    assert code == 0 and "Overall Status: HEALTHY" in out and "Muted: 4" in out


def test_cli_a_mute_never_hides_a_could_not_check(capsys, tmp_path):
    (tmp_path / "mute.toml").write_text('[[mute]]\nrule = "cloudsql.*"\nreason = "being rebuilt"\n'
                                        'expires = 2026-12-01\n')
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "sql-missing"), "--mute",
                       str(tmp_path / "mute.toml"))
    assert code == 3 and "Overall Status: UNKNOWN" in out and "Could Not Check: 1" in out and "Muted: 1" in out


def test_cli_expired_mute_counts_again_and_warns(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working directory's .infracheck-mute.toml applies without --mute
    (tmp_path / ".infracheck-mute.toml").write_text(
        '[[mute]]\nrule = "vpc.*"\nreason = "bare test connector"\nowner = "platform-team"\nexpires = 2026-11-26\n')
    code, out, _ = run(capsys, "diagnose", "--replay", str(FIXTURES / "vpc-bare"))
    assert code == 1 and "Warnings: 5" in out and "Muted:" not in out
    assert "❌ Found 5 VPC connector issues" in out  # the expired mute is shown with what it muted
    assert ("   - Mute of vpc.* expired on 2026-11-26 (platform-team: bare test connector); its findings count again\n"
            "     fix: Fix what it muted, or set a new 'expires' (at most 90 days ahead) in .infracheck-mute.toml "
            "line 1") in out


def test_cli_stale_mute_is_listed_without_changing_the_verdict(capsys, tmp_path):
    (tmp_path / "mute.toml").write_text(CONNECTOR_ON_PURPOSE)
    code, out, _ = run(capsys, "diagnose", "--replay", HEALTHY, "--mute", str(tmp_path / "mute.toml"))
    assert code == 0 and "Overall Status: HEALTHY" in out
    assert ("STALE MUTES (match no finding; remove them):\n   - " + str(tmp_path / "mute.toml")
            + ":2 vpc.min-instances on staging-connector (platform-team, until 2027-01-31)") in out


@pytest.mark.parametrize("source, message", [MALFORMED[0], MALFORMED[1], MALFORMED[11]])
def test_cli_malformed_mute_file_is_exit_3_with_file_and_line_before_anything_runs(capsys, tmp_path, source,
                                                                                   message):
    path = tmp_path / "team.toml"
    path.write_text(source)
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(path))
    assert code == 3 and out == ""
    assert err == f"infracheck: error: {tmp_path}/{message}\n"


def test_cli_missing_mute_file_is_exit_3(capsys, tmp_path):
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "nope.toml"))
    assert code == 3 and out == "" and err.startswith("infracheck: error: ") and "cannot read the mute file" in err


# --- a mute cannot turn an outage green unnoticed (issue 17, section 4) ------------------------------

@pytest.mark.parametrize("pattern", ["*", "**", "*.*", "?*", "*?*", "*.?*", "[a-z0-9]*", "[!.]*"])
def test_a_mute_that_matches_every_rule_is_refused_with_file_and_line(pattern):
    with pytest.raises(mutes.MuteError) as exc:
        parse(f'[[mute]]\nrule = "{pattern}"\nreason = "too noisy"\nexpires = 2027-01-31\n')
    assert str(exc.value) == (f"team.toml:2: mute entry 1: rule '{pattern}' matches every rule; a mute accepts "
                              "known findings, not the whole stack: name a rule or an area (e.g. 'vpc.*')")


@pytest.mark.parametrize("pattern", ["vpc.*", "*.state", "*-*", "cloud*", "secrets.secret.*"])
def test_a_mute_of_some_rules_is_accepted(pattern):
    assert parse(f'[[mute]]\nrule = "{pattern}"\nreason = "r"\nexpires = 2027-01-31\n')[0].rule == pattern


def test_cli_a_mute_of_every_rule_does_not_turn_the_outage_healthy(capsys, tmp_path):
    (tmp_path / "mute.toml").write_text('# accept it all\n[[mute]]\nrule = "*"\nreason = "noisy"\n'
                                        'expires = 2026-12-01\n')
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"),
                         "--format", "nagios")
    assert code == 3 and out == ""
    assert err.startswith(f"infracheck: error: {tmp_path}/mute.toml:3: mute entry 1: rule '*' matches every rule")


MIXED = [
    dataclasses.replace(STATE, muted=m("vpc.state")),
    dataclasses.replace(finding("cloudsql.state", "netra-staging-db", severity=Severity.CRITICAL),
                        muted=m("cloudsql.*")),
    dataclasses.replace(MIN, muted=m("vpc.min-instances")),
    PASSED,
]
SAYS = "3 findings muted, 2 of them critical"


def _mixed_report() -> Report:
    from tests.report.sample import report as sample_report

    return sample_report(*MIXED)


def test_every_format_says_how_many_findings_are_muted_and_how_many_are_critical():
    from infracheck.report import FORMATTERS

    r = _mixed_report()
    assert r.status is Overall.HEALTHY
    said = {fmt: FORMATTERS[fmt](r, color=False, ascii_only=False) for fmt in FORMATTERS if fmt != "labels"}
    assert "Overall Status: HEALTHY, " + SAYS + "\n" in said["text"] and "Muted: 3 (2 critical)" in said["text"]
    counts = json.loads(said["json"])["counts"]
    assert (counts["muted"], counts["muted_critical"], counts["muted_warning"]) == (3, 2, 1)
    assert said["markdown"].splitlines()[1].endswith(": HEALTHY, " + SAYS)
    assert said["nagios"].startswith(f"INFRACHECK OK - 0 critical, 0 warning, 0 unknown; {SAYS} | ")
    assert " muted=3;;;0 muted_critical=2;;;0 " in said["nagios"]
    assert said["github"].splitlines()[-1].startswith(f"::notice title=infracheck::HEALTHY, {SAYS}: 0 critical")
    assert said["message"].splitlines()[0].endswith(f"(HEALTHY, {SAYS})")
    assert f"- {SAYS} (accepted until their expiry), not counted" in said["message"]
    suites = ET.fromstring(said["junit"])
    props = {(dict((p.get("name"), p.get("value")) for p in suite.iter("property")))["area"]:
             {p.get("name"): p.get("value") for p in suite.iter("property") if p.get("name").startswith("muted")}
             for suite in suites}
    assert props["vpc"] == {"muted": "2", "muted_critical": "1"}
    assert props["cloudsql"] == {"muted": "1", "muted_critical": "1"}
    skipped = [s.get("message") for s in suites.iter("skipped")]
    assert sum(1 for s in skipped if s.startswith("muted critical finding")) == 2


def test_the_issue_example_all_muted_findings_critical():
    r = _mixed_report()
    r = dataclasses.replace(r, findings=tuple(f for f in r.findings if f.rule != "vpc.min-instances"))
    assert "Overall Status: HEALTHY, 2 critical findings muted\n" in text.render(r)


def test_cli_muting_the_whole_outage_area_by_area_is_said_everywhere_and_ticks_nothing(capsys, tmp_path):
    areas = ("vpc", "cloudsql", "cloudrun", "secrets")
    (tmp_path / "mute.toml").write_text("".join(
        f'[[mute]]\nrule = "{area}.*"\nreason = "rebuild"\nexpires = 2026-12-01\n' for area in areas))
    says = "8 findings muted, 6 of them critical"
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"))
    assert code == 0 and f"Overall Status: HEALTHY, {says}\n" in out
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"),
                       "--format", "nagios")
    assert code == 0 and out.startswith(f"INFRACHECK OK - 0 critical, 0 warning, 0 unknown; {says} |")
    code, md, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--mute", str(tmp_path / "mute.toml"),
                      "--format", "markdown")
    assert code == 0
    ticked = [line for line in md.splitlines() if line.startswith("- [x]")]
    assert not any("HEALTHY" in line or "VPC connector" in line or "Cloud SQL" in line for line in ticked), ticked
    assert ('- [ ] All diagnostic scripts pass with "HEALTHY" status - overall status HEALTHY, but '
            f"{says}") in md.replace("\\", "")


def test_an_expires_with_a_time_is_quoted_as_written():
    with pytest.raises(mutes.MuteError) as exc:
        parse('[[mute]]\nrule = "vpc.state"\nreason = "x"\nexpires = 2027-01-31T12:00:00Z   # noon\n')
    assert str(exc.value) == ("team.toml:4: mute entry 1: 'expires' is not a date: 2027-01-31T12:00:00Z "
                              "(write it as 2027-01-31)")
    assert "datetime" not in str(exc.value)
