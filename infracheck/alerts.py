"""Alert policies and uptime checks for the stack, generated from the profile's own thresholds.

One source of truth: the threshold that makes a capacity finding is the
threshold that pages. `policies(profile)` returns Monitoring v3 AlertPolicy
bodies (what `gcloud monitoring policies create --policy-from-file` reads),
`uptime_checks(profile)` the uptime checks of the plan's endpoints as
UptimeCheckConfig bodies and as the `gcloud monitoring uptime create`
command that makes each. `fix_steps` turns the monitoring area's findings
into fix mode's steps; `write` puts everything in a folder for teams who keep
their monitoring in Terraform or Git. Nothing here starts a process.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infracheck.runner import tracks

if TYPE_CHECKING:
    from infracheck.fix import FixPlan, Step
    from infracheck.model import Check, Outcome

LABELS = {"managed-by": "infracheck"}
_UNITS = {"m": 60, "h": 3600, "d": 86400}


@dataclasses.dataclass(frozen=True)
class Policy:
    """One generated AlertPolicy: what it watches (a monitoring rule and resource) and its body."""

    slug: str  # file name stem
    rule: str  # the monitoring.* rule its absence fails
    resource: str  # that finding's resource
    body: dict[str, Any]
    # The series it watches, as watching.gap reads a policy (commands/monitoring.toml asks the same).
    wanted: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Uptime:
    slug: str
    url: str
    body: dict[str, Any]  # UptimeCheckConfig
    argv: tuple[str, ...]  # the gcloud command that creates it


def seconds(window: str) -> int:
    """'30m' -> 1800 (the profile's metrics_window pattern: a number and m, h or d)."""
    return int(window[:-1]) * _UNITS[window[-1]]


def _minutes(value: float) -> str:
    # Alert durations must be whole minutes; never below one.
    return f"{max(60, int(round(value / 60)) * 60)}s"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _condition(name: str, filter_: str, aggregations: list[dict[str, Any]], threshold: float,
               duration: str, **extra: Any) -> dict[str, Any]:
    return {"displayName": name, "conditionThreshold": {
        "filter": filter_, "aggregations": aggregations, "comparison": "COMPARISON_GT",
        "thresholdValue": threshold, "duration": duration, "trigger": {"count": 1}, **extra}}


def _policy(name: str, severity: str, why: str, condition: dict[str, Any], channels: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": name,
        "documentation": {"content": why, "mimeType": "text/markdown"},
        "userLabels": dict(LABELS),
        "combiner": "OR",
        "enabled": True,
        "severity": severity,
        "conditions": [condition],
    }
    if channels:
        body["notificationChannels"] = list(channels)
    return body


def hosts(profile: Mapping[str, Any]) -> list[str]:
    """The hosts of the plan's endpoints, in order: one uptime alert each."""
    urls = list(profile.get("frontend_urls") or []) + list(profile.get("health_urls") or [])
    return list(dict.fromkeys(urllib.parse.urlsplit(u).hostname or "" for u in urls if u))


def policies(profile: Mapping[str, Any], max_connections: int | None = None) -> list[Policy]:
    """Every policy the monitoring area looks for, on this stack's resources, at the profile's thresholds.

    `max_connections` is the database's limit as the run read it (the flag, or
    GCP's default for its tier); without it the plan's sql_max_connections.
    """
    project, window = str(profile["project"]), seconds(str(profile["metrics_window"]))
    channels = [str(c) for c in profile.get("alert_channels") or []]
    connector, instance = str(profile["connector"]), str(profile["sql_instance"])
    found: list[Policy] = []

    top = int(profile["connector_max_instances"])
    saturated = window * float(profile["connector_saturated_pct"]) / 100
    found.append(Policy(f"alert-connector-saturated-{connector}", "monitoring.connector-alert", connector, _policy(
        f"VPC connector {connector} saturated (infracheck)", "CRITICAL",
        f"VPC connector `{connector}` has run at its maximum of {top} instances for "
        f"{int(saturated // 60)} minutes (connector_saturated_pct: {profile['connector_saturated_pct']}% of the "
        f"{profile['metrics_window']} window, as capacity.connector-saturated judges). New connections from Cloud Run "
        "queue or fail. Raise --max-instances or the machine type; `infracheck diagnose` shows the chain.",
        _condition(
            f"connector/instances of {connector} at its maximum ({top})",
            f'metric.type="vpcaccess.googleapis.com/connector/instances" AND resource.type="vpc_access_connector" '
            f'AND resource.labels.connector_name="{connector}"',
            [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MAX"}],
            top - 1, _minutes(saturated)), channels),
        (("metric.type", "vpcaccess.googleapis.com/connector/instances"),
         ("resource.labels.connector_name", connector))))

    limit = max_connections or int(profile["sql_max_connections"])
    database = f"{project}:{instance}"
    for level, key, severity in (("high", "sql_connections_warning_pct", "WARNING"),
                                 ("exhausted", "sql_connections_critical_pct", "CRITICAL")):
        pct = float(profile[key])
        found.append(Policy(f"alert-sql-connections-{level}-{instance}", "monitoring.sql-alert", instance, _policy(
            f"Cloud SQL {instance} connections at {pct:g}% of max_connections (infracheck)", severity,
            f"Database `{database}` has more than {pct:g}% of its {limit} connections in use ({key}, as "
            f"capacity.sql-connections-{level} judges). PostgreSQL refuses new connections at the limit: "
            "find the pool that grew (pg_stat_activity) or raise max_connections.",
            _condition(
                f"postgresql/num_backends of {database} above {pct:g}% of {limit}",
                f'metric.type="cloudsql.googleapis.com/database/postgresql/num_backends" '
                f'AND resource.type="cloudsql_database" AND resource.labels.database_id="{database}"',
                [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MAX", "crossSeriesReducer": "REDUCE_SUM",
                  "groupByFields": ["resource.labels.database_id"]}],
                round(limit * pct / 100, 1), "0s"), channels),
            (("metric.type", "cloudsql.googleapis.com/database/postgresql/num_backends"),
             ("resource.labels.database_id", database))))

    share = float(profile["run_5xx_max_pct"])
    for service in profile.get("services") or []:
        total = (f'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" '
                 f'AND resource.labels.service_name="{service}"')
        # The share over a sliding window as long as the one capacity.run-5xx reads.
        per_window = [{"alignmentPeriod": f"{window}s", "perSeriesAligner": "ALIGN_DELTA",
                       "crossSeriesReducer": "REDUCE_SUM", "groupByFields": ["resource.labels.service_name"]}]
        found.append(Policy(f"alert-run-5xx-{service}", "monitoring.run-5xx-alert", str(service), _policy(
            f"Cloud Run {service} 5xx above {share:g}% (infracheck)", "CRITICAL",
            f"Service `{service}` answered more than {share:g}% of its requests with 5xx over the last "
            f"{profile['metrics_window']} (run_5xx_max_pct, as capacity.run-5xx judges). Its cause is often "
            "downstream: the connector or the database.",
            _condition(
                f"5xx share of {service} above {share:g}%",
                total + ' AND metric.labels.response_code_class="5xx"', per_window, share / 100, "0s",
                denominatorFilter=total, denominatorAggregations=per_window), channels),
            (("metric.type", "run.googleapis.com/request_count"), ("resource.labels.service_name", str(service)),
             ("metric.labels.response_code_class", "5xx")), ("metric.labels.response_code_class",)))

    for host in hosts(profile):
        found.append(Policy(f"alert-uptime-{_slug(host)}", "monitoring.uptime-alert", host, _policy(
            f"Uptime check of {host} failing (infracheck)", "CRITICAL",
            f"The uptime checks of `{host}` fail from more than one region: users see the outage too.",
            _condition(
                f"uptime checks of {host} failing",
                'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" '
                f'AND resource.labels.host="{host}"',
                [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_NEXT_OLDER",
                  "crossSeriesReducer": "REDUCE_COUNT_FALSE", "groupByFields": ["resource.labels.host"]}],
                1, "60s"), channels),
            (("metric.type", "monitoring.googleapis.com/uptime_check/check_passed"),
             ("resource.labels.host", host))))
    return found


def uptime_checks(profile: Mapping[str, Any]) -> list[Uptime]:
    """An HTTPS uptime check of each endpoint (frontend_urls, health_urls), timing out at http_max_ms."""
    project = str(profile["project"])
    timeout = max(1, min(60, int(profile["http_max_ms"]) // 1000))
    found = []
    for url in list(dict.fromkeys(list(profile.get("frontend_urls") or []) + list(profile.get("health_urls") or []))):
        parts = urllib.parse.urlsplit(str(url))
        host, path, tls = parts.hostname or "", parts.path or "/", parts.scheme == "https"
        name = f"{host}{path if path != '/' else ''} (infracheck)"
        body = {
            "displayName": name,
            "monitoredResource": {"type": "uptime_url", "labels": {"host": host, "project_id": project}},
            "httpCheck": {"path": path, "port": 443 if tls else 80, "useSsl": tls, "validateSsl": tls,
                          "requestMethod": "GET"},
            "period": "60s",
            "timeout": f"{timeout}s",
            "userLabels": dict(LABELS),
        }
        argv = ("gcloud", "monitoring", "uptime", "create", name, "--resource-type=uptime-url",
                f"--resource-labels=host={host},project_id={project}", f"--protocol={'https' if tls else 'http'}",
                f"--path={path}", f"--validate-ssl={'true' if tls else 'false'}", "--period=1",
                f"--timeout={timeout}", "--user-labels=managed-by=infracheck", f"--project={project}")
        found.append(Uptime(f"uptime-check-{_slug(host + path)}", str(url), body, argv))
    return found


def create_argv(policy: Policy, project: str, run_tracks: tracks.Tracks, path: str | None = None) -> tuple[str, ...]:
    """The command that creates `policy`: from a file when `path` is given, else the JSON inline (--policy)."""
    source = f"--policy-from-file={path}" if path else "--policy=" + json.dumps(policy.body, separators=(",", ":"))
    return tracks.argv(("gcloud", "monitoring", "policies", "create", source, f"--project={project}"), run_tracks)


def channel_argv(project: str, run_tracks: tracks.Tracks) -> tuple[str, ...]:
    """How a person adds the channel the policies notify (the address is theirs to give)."""
    return tracks.argv(("gcloud", "monitoring", "channels", "create", "--display-name=On-call (infracheck)",
                        "--type=email", "--channel-labels=email_address=ADDRESS", f"--project={project}"),
                       run_tracks)


def write(directory: Path, profile: Mapping[str, Any], run_tracks: tracks.Tracks,
          max_connections: int | None = None) -> list[Path]:
    """Write every policy and uptime check as JSON, and a commands.sh that creates them; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    project = str(profile["project"])
    limit = max_connections or int(profile["sql_max_connections"])
    written, lines = [], ["#!/bin/sh", "# Generated by infracheck alerts from the profile's thresholds "
                          f"(database limit: {limit} connections).", "set -e", 'cd "$(dirname "$0")"']
    for uptime in uptime_checks(profile):
        path = directory / f"{uptime.slug}.json"
        path.write_text(json.dumps(uptime.body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
        lines.append(shlex.join(uptime.argv))
    for policy in policies(profile, max_connections):
        path = directory / f"{policy.slug}.json"
        path.write_text(json.dumps(policy.body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
        lines.append(shlex.join(create_argv(policy, project, run_tracks, path.name)))
    if not profile.get("alert_channels"):
        lines.append("# No alert_channels in the profile: create one (your address), put its name in alert_channels:")
        lines.append("# " + shlex.join(channel_argv(project, run_tracks)))
    script = directory / "commands.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(script)
    return written


# --- fix mode ------------------------------------------------------------------

# GCP's default max_connections for Cloud SQL for PostgreSQL by memory (GB), as commands/capacity.toml cites:
# https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections
_DEFAULT_LIMIT = "[[0, 25], [1.7, 50], [3.75, 100], [6, 200], [7.5, 400], [15, 500], [30, 600], [60, 800], [120, 1000]]"
_LIMIT = ("to_number(settings.databaseFlags[?name=='max_connections'].value | [0]) "
          f"|| step(tier_memory_gb(settings.tier), `{_DEFAULT_LIMIT}`)")


def max_connections(instance: Any) -> int | None:
    """The database's limit as capacity.sql-connections judges it: the flag, else GCP's default for its tier."""
    from infracheck.rules import dialect

    try:
        limit = dialect.lookup(_LIMIT, instance) if isinstance(instance, dict) else None
    except Exception:  # noqa: BLE001 - a document of another shape: the profile's limit then
        return None
    return int(limit) if isinstance(limit, (int, float)) and limit > 0 else None


def fix_steps(fix_plan: FixPlan, checks: Sequence[Check], outcomes: Mapping[tuple[str, ...], Outcome],
              profile: Mapping[str, Any], run_tracks: tracks.Tracks) -> FixPlan:
    """Fix mode's plan with the monitoring area's manual steps replaced by what infracheck can generate.

    A missing uptime check or policy: its create command (applied with --yes;
    the policy inline as --policy=JSON, so the plan is exact and needs no
    file). A disabled policy: the command that enables it, for a person (it
    was disabled on purpose, perhaps). A policy without a channel: the
    profile's alert_channels added, else the manual step that creates one.
    """
    from infracheck import fix
    from infracheck.model import StepKind
    from infracheck.rules import watching

    ours = [s for s in fix_plan.steps if any(f.area == "monitoring" for f in s.findings)]
    if not ours:
        return fix_plan
    failing = [f for s in ours for f in s.findings]
    project = str(profile["project"])
    documents = {c.id: outcomes[c.argv].document for c in checks
                 if c.argv in outcomes and outcomes[c.argv].error is None}
    listed = next((documents[c.id] for c in checks if c.id.startswith("monitoring.") and c.id in documents
                   and "policies" in c.argv), None)
    instance = next((o.document for argv, o in outcomes.items() if argv[:4] == ("gcloud", "sql", "instances",
                                                                                 "describe")), None)
    channels = [str(c) for c in profile.get("alert_channels") or []]
    steps: list[Step] = []

    def about(rule: str, resource: str) -> list[Any]:
        return [f for f in failing if f.rule == rule and (f.resource == resource or
                (rule == "monitoring.uptime-alert" and urllib.parse.urlsplit(f.resource).hostname == resource))]

    for uptime in uptime_checks(profile):
        found = about("monitoring.uptime-check", uptime.url)
        if found:
            steps.append(fix.Step(StepKind.APPLY, tuple(found), f"create the uptime check of {uptime.url}",
                                  argv=uptime.argv, changes=(f"uptime check of {uptime.url}: none -> every 1 min",)))
    created = False
    for policy in policies(profile, max_connections(instance)):
        wanted = dict(policy.wanted)
        found = about(policy.rule, policy.resource)
        if policy.rule == "monitoring.uptime-alert":  # a new uptime check needs its alert too
            found += [f for f in failing if f.rule == "monitoring.uptime-check"
                      and urllib.parse.urlsplit(f.resource).hostname == policy.resource]
        if not found:
            continue
        gap = watching.gap(listed, wanted, policy.required) if isinstance(listed, list) else "no policies read"
        name = policy.body["displayName"]
        if gap is None:
            continue
        if gap.startswith("no alert policy") or gap == "no policies read":
            created = True
            threshold = policy.body["conditions"][0]["conditionThreshold"]["thresholdValue"]
            steps.append(fix.Step(StepKind.APPLY, tuple(found), f"create alert policy '{name}'",
                                  argv=create_argv(policy, project, run_tracks),
                                  changes=(f"alert policy: none -> '{name}' (threshold {threshold:g})",)))
            continue
        watchers = watching.watching(listed, wanted, policy.required)
        for existing in watchers:
            policy_name = str(existing.get("name", ""))
            if existing.get("enabled") is not True:
                steps.append(fix.Step(
                    StepKind.MANUAL, tuple(found), f"enable alert policy '{existing.get('displayName')}'",
                    argv=tracks.argv(("gcloud", "monitoring", "policies", "update", policy_name, "--enabled",
                                      f"--project={project}"), run_tracks),
                    instruction="Turn the policy back on once whoever disabled it agrees",
                    reason="a policy is disabled on purpose (a deploy, a noisy week): enabling it is their call"))
            elif not existing.get("notificationChannels"):
                if channels:
                    steps.append(fix.Step(
                        StepKind.APPLY, tuple(found), f"notify alert_channels from '{existing.get('displayName')}'",
                        argv=tracks.argv(("gcloud", "monitoring", "policies", "update", policy_name,
                                          "--add-notification-channels=" + ",".join(channels),
                                          f"--project={project}"), run_tracks),
                        changes=(f"notification channels: none -> {', '.join(channels)}",)))
                else:
                    created = True
    if created and not channels:
        # Channels the project's policies already notify: often the on-call one, reused without a new address.
        seen = list(dict.fromkeys(str(c) for p in (listed if isinstance(listed, list) else [])
                                  if isinstance(p, dict) for c in p.get("notificationChannels") or []))
        reuse = (f" (or reuse one the project's policies already notify: --set alert_channels={seen[0]})"
                 if seen else "")
        steps.append(fix.Step(
            StepKind.MANUAL, tuple(f for f in failing if f.rule != "monitoring.uptime-check"),
            "add a notification channel: an alert policy without one tells nobody",
            argv=channel_argv(project, run_tracks),
            instruction="Create the channel with the on-call address, put its name (projects/"
                        f"{project}/notificationChannels/ID) in the profile's alert_channels, and run --fix-mode "
                        "again: it adds the channel to the policies" + reuse,
            reason="a notification channel needs a person's address"))
    # Two generated policies (the database's warning and critical) find the same existing one: one step each.
    steps = list({(s.kind, s.argv or s.title): s for s in steps}.values())
    # Whatever the generator has no answer for keeps the catalog's manual step.
    handled = {id(f) for s in steps for f in s.findings}
    rest = [s for s in ours if not all(id(f) in handled for f in s.findings)]
    others = [s for s in fix_plan.steps if s not in ours]
    return dataclasses.replace(fix_plan, steps=tuple(others + steps + rest))
