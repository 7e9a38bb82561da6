"""alerts.py: policies and uptime checks from the profile's thresholds, as fix mode's steps and as files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infracheck import alerts
from infracheck.catalog import loader
from infracheck.rules import watching
from infracheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CHANNEL = "projects/netra-staging/notificationChannels/4815162342"


def profile(**overrides: str) -> dict:
    return dict(loader.load(ROOT / "commands", overrides=overrides).profile)


def by_slug(policies: list[alerts.Policy]) -> dict[str, dict]:
    return {p.slug: p.body for p in policies}


def threshold(body: dict) -> tuple[float, str]:
    condition = body["conditions"][0]["conditionThreshold"]
    return condition["thresholdValue"], condition["duration"]


def test_the_thresholds_are_the_capacity_rules_own():
    policies = by_slug(alerts.policies(profile()))
    # 10 instances at most: more than 9 for 50% of the 30 min window.
    assert threshold(policies["alert-connector-saturated-staging-connector"]) == (9, "900s")
    # The plan's 100 connections (no instance read): 80% and 95% of them.
    assert threshold(policies["alert-sql-connections-high-netra-staging-db"]) == (80, "0s")
    assert threshold(policies["alert-sql-connections-exhausted-netra-staging-db"]) == (95, "0s")
    run = policies["alert-run-5xx-auth-staging"]["conditions"][0]["conditionThreshold"]
    assert (run["thresholdValue"], run["aggregations"][0]["alignmentPeriod"]) == (0.05, "1800s")
    assert run["denominatorFilter"] + ' AND metric.labels.response_code_class="5xx"' == run["filter"]


def test_changing_a_profile_value_changes_the_policy_that_pages_on_it():
    policies = by_slug(alerts.policies(profile(connector_saturated_pct="20", metrics_window="1h",
                                               connector_max_instances="6", sql_connections_warning_pct="70",
                                               run_5xx_max_pct="2")))
    assert threshold(policies["alert-connector-saturated-staging-connector"]) == (5, "720s")
    assert threshold(policies["alert-sql-connections-high-netra-staging-db"]) == (70, "0s")
    assert threshold(policies["alert-run-5xx-netra-backend-staging"])[0] == 0.02


def test_the_database_limit_is_the_one_the_run_read():
    policies = by_slug(alerts.policies(profile(), max_connections=400))
    assert threshold(policies["alert-sql-connections-exhausted-netra-staging-db"]) == (380, "0s")


@pytest.mark.parametrize("instance, limit", [
    ({"settings": {"tier": "db-custom-2-7680", "databaseFlags": [{"name": "max_connections", "value": "250"}]}}, 250),
    ({"settings": {"tier": "db-custom-2-7680"}}, 400),  # 7.5 GB: GCP's default
    ({"settings": {"tier": "db-f1-micro"}}, 25),
    ({"settings": {"tier": "db-perf-optimized-N-8"}}, None),  # no documented default: the profile's
    ({"settings": "nonsense"}, None),
    (None, None),
])
def test_max_connections_reads_the_flag_else_the_tier_default(instance, limit):
    assert alerts.max_connections(instance) == limit


def test_every_generated_policy_counts_for_the_rule_it_is_made_for():
    for policy in alerts.policies(profile(alert_channels=CHANNEL)):
        assert policy.body["notificationChannels"] == [CHANNEL]
        assert watching.gap([policy.body], dict(policy.wanted), policy.required) is None, policy.slug
    # ... and for no other connector.
    connector = next(p for p in alerts.policies(profile()) if p.rule == "monitoring.connector-alert")
    other = dict(connector.wanted, **{"resource.labels.connector_name": "prod-connector"})
    assert watching.watching([connector.body], other) == []


def test_uptime_checks_probe_each_endpoint_within_the_http_budget():
    checks = alerts.uptime_checks(profile())
    assert [c.url for c in checks] == ["https://staging.netrasystems.ai", "https://api-staging.netrasystems.ai/health",
                                       "https://staging.netrasystems.ai/auth/health"]
    health = checks[1]
    assert health.body["httpCheck"] == {"path": "/health", "port": 443, "useSsl": True, "validateSsl": True,
                                        "requestMethod": "GET"}
    assert health.body["timeout"] == "10s"  # http_max_ms
    assert "--path=/health" in health.argv and "--timeout=10" in health.argv and "--protocol=https" in health.argv
    # What it creates is what the monitoring rule then finds.
    assert watching.uptime_checks([{**health.body, "name": "x/y"}], health.url)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed: message classes unavailable")
def test_generated_bodies_are_the_message_classes_gcloud_ships():
    from tests.tools import gcloud_schema

    module = "monitoring.v3.monitoring_v3_messages"
    requests = [{"class": f"{module}:AlertPolicy", "document": p.body}
                for p in alerts.policies(profile(alert_channels=CHANNEL))]
    requests += [{"class": f"{module}:UptimeCheckConfig", "document": u.body} for u in alerts.uptime_checks(profile())]
    answers = gcloud_schema.check_batch(requests)
    assert [(a["problems"], a["error"]) for a in answers] == [([], None)] * len(requests)


def test_alerts_writes_one_file_each_and_the_commands(tmp_path, capsys):
    out = tmp_path / "monitoring"
    assert main(["alerts", "--output", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == len(printed) == 3 + 7 + 1
    script = (out / "commands.sh").read_text()
    body = json.loads((out / "alert-connector-saturated-staging-connector.json").read_text())
    assert body["displayName"] == "VPC connector staging-connector saturated (infracheck)"
    # Relative paths: the folder can live in a Git repository.
    assert "--policy-from-file=alert-connector-saturated-staging-connector.json" in script
    assert str(tmp_path) not in script
    assert "monitoring channels create" in script and "email_address=ADDRESS" in script


def test_alerts_refuses_a_folder_it_cannot_write(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["alerts", "--output", str(blocker / "sub")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("infracheck: error: cannot write into") and "Traceback" not in err


def fix_plan(capsys, scenario: str, *extra: str) -> list[dict]:
    """The plan of a whole replay (the database's instance read too); the other areas are healthy."""
    code = main(["diagnose", "--replay", str(FIXTURES / scenario), "--fix-mode", "--format", "json", *extra])
    assert code == 1
    return json.loads(capsys.readouterr().out)["fixes"]


def test_fix_mode_on_the_unwatched_recording_proposes_the_generated_policies_and_uptime_checks(capsys):
    steps = fix_plan(capsys, "monitoring-none")
    applied = [s for s in steps if s["kind"] == "apply"]
    assert [s["argv"][:4] for s in applied[:3]] == [["gcloud", "monitoring", "uptime", "create"]] * 3
    created = [json.loads(s["argv"][5].removeprefix("--policy=")) for s in applied[3:]]
    assert [s["argv"][:5] for s in applied[3:]] == [["gcloud", "alpha", "monitoring", "policies", "create"]] * 7
    # The database limit is the recorded instance's (its tier's default: 200), not a guess.
    assert created == [p.body for p in alerts.policies(profile(), max_connections=200)]
    manual = [s for s in steps if s["kind"] == "manual"]
    assert [s["argv"][:5] for s in manual] == [["gcloud", "beta", "monitoring", "channels", "create"]]
    assert manual[0]["reason"] == "a notification channel needs a person's address"


def test_fix_mode_prints_the_commands_on_the_terminal_report(capsys):
    assert main(["diagnose", "--replay", str(FIXTURES / "monitoring-none"), "--include", "monitoring*",
                 "--fix-mode", "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert "$ gcloud monitoring uptime create 'api-staging.netrasystems.ai/health (infracheck)'" in out
    assert "$ gcloud alpha monitoring policies create '--policy={\"displayName\":\"VPC connector" in out


def test_a_disabled_policy_is_enabled_by_a_person(capsys):
    steps = fix_plan(capsys, "monitoring-disabled")
    assert [(s["kind"], s["argv"][:6]) for s in steps] == [
        ("manual", ["gcloud", "alpha", "monitoring", "policies", "update",
                    "projects/netra-staging/alertPolicies/1200000000000000000"])]
    assert steps[0]["argv"][6] == "--enabled"


def test_a_policy_without_a_channel_gets_the_profiles_channels(capsys):
    steps = fix_plan(capsys, "monitoring-no-channel", "--set", f"alert_channels={CHANNEL}")
    assert [s["kind"] for s in steps] == ["apply", "apply"]  # the two database policies
    assert all(s["argv"][-2:] == [f"--add-notification-channels={CHANNEL}", "--project=netra-staging"]
               for s in steps)
    # Without channels in the profile: the one manual step that says how to make one.
    steps = fix_plan(capsys, "monitoring-no-channel")
    assert [(s["kind"], s["argv"][3]) for s in steps] == [("manual", "channels")]


def test_the_channel_step_offers_a_channel_the_project_already_notifies(capsys):
    (step,) = [s for s in fix_plan(capsys, "monitoring-uptime-unwatched") if s["kind"] == "manual"]
    assert step["instruction"].endswith(f"(or reuse one the project's policies already notify: "
                                        f"--set alert_channels={CHANNEL})")
    (step,) = [s for s in fix_plan(capsys, "monitoring-none") if s["kind"] == "manual"]
    assert "reuse" not in step["instruction"]  # no policy, no channel to offer
