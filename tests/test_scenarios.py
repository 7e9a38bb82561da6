"""Every recorded scenario gives exactly the findings it models, and together they exercise the catalog.

The scenarios are REST bodies under fixtures/api/<name>/ (each scenario.toml
says what it models), recorded through the real gcloud into fixtures/<name>/
by tests/tools/record_fixtures.py. Here they are only replayed, so this file needs
no gcloud.

- SCENARIOS: per scenario, the exact set of (rule, resource, status) of every
  finding that is not a pass, the overall status and the exit code. Set
  equality: an unexpected extra failure fails the test as surely as a missing
  one.
- fixtures/healthy passes every rule of the catalog at least once.
- Every rule of the catalog (and every `<check>.exists` of a check that can
  report a missing resource) fails in at least one scenario, except the ones
  in NOT_FAILED_BY_ANY_SCENARIO, each with the reason no real GCP document
  can fail it; UNIT_CASES covers those, and what a scenario can't show, by
  hand-built documents through infracheck.rules.evaluate with the catalog's
  own checks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from infracheck.plan import skipped_finding
from infracheck.rules.evaluate import evaluate
from infracheck.catalog import loader
from infracheck.cli import main
from infracheck.model import Outcome, Status

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

CONNECTOR = "staging-connector"
DB = "netra-staging-db"
BACKEND, AUTH = "netra-backend-staging", "auth-staging"
WEB, API = "staging.netrasystems.ai", "api-staging.netrasystems.ai"
FRONT = f"https://{WEB}"
AUTH_HEALTH, API_HEALTH = f"https://{WEB}/auth/health", f"https://{API}/health"
WS = f"wss://{API}/ws"
LB = "staging-https-lb"

FAIL, ERROR, SKIP = "fail", "error", "skip"

# scenario -> (overall status, exit code, {(rule, resource, status)} of every non-pass finding)
SCENARIOS: dict[str, tuple[str, int, set[tuple[str, str, str]]]] = {
    "healthy": ("HEALTHY", 0, set()),
    "outage": ("CRITICAL", 2, {
        ("vpc.state", CONNECTOR, FAIL),
        ("vpc.min-instances", CONNECTOR, FAIL),
        ("cloudsql.state", DB, FAIL),
        ("cloudsql.ssl", DB, FAIL),
        ("secrets.secret.exists", "database-url", FAIL),
        ("secrets.secret.exists", "jwt-secret-staging", FAIL),
        ("cloudrun.vpc-connector", BACKEND, FAIL),
        ("cloudrun.vpc-egress", AUTH, FAIL),
    }),
    # What `--fix-mode` repairs by itself (tests/test_fix.py, tests/contract/test_fix.py).
    "fixable": ("CRITICAL", 2, {
        ("vpc.state", CONNECTOR, FAIL),
        ("vpc.max-instances", CONNECTOR, FAIL),
        ("cloudrun.vpc-connector", BACKEND, FAIL),
        ("cloudrun.vpc-egress", AUTH, FAIL),
    }),
    "vpc-broken": ("CRITICAL", 2, {
        ("vpc.state", CONNECTOR, FAIL),
        ("vpc.network", CONNECTOR, FAIL),
        ("vpc.ip-range", CONNECTOR, FAIL),
        ("vpc.max-instances", CONNECTOR, FAIL),
    }),
    "vpc-bare": ("WARNING", 1, {
        ("vpc.min-instances", CONNECTOR, FAIL),
        ("vpc.max-instances", CONNECTOR, FAIL),
        ("vpc.machine-type", CONNECTOR, FAIL),
        ("vpc.throughput", CONNECTOR, FAIL),
    }),
    "vpc-missing": ("CRITICAL", 2, {
        ("vpc.connector.exists", CONNECTOR, FAIL),
    }),
    "sql-broken": ("CRITICAL", 2, {
        ("cloudsql.state", DB, FAIL),                 # activationPolicy NEVER: gcloud prints STOPPED
        ("cloudsql.version", DB, FAIL),               # POSTGRES_9_6
        ("cloudsql.private-network", DB, FAIL),       # projects/P/global/networks/default
        ("cloudsql.ssl", DB, FAIL),                   # ALLOW_UNENCRYPTED_AND_ENCRYPTED
        ("cloudsql.max-connections", DB, FAIL),       # "50"
        ("cloudsql.open-to-internet", DB, FAIL),      # 0.0.0.0/0
        ("cloudsql.failed-operations", DB, FAIL),     # MAJOR_VERSION_UPGRADE DONE with an error
    }),
    "sql-mysql-public": ("CRITICAL", 2, {
        ("cloudsql.version", DB, FAIL),               # MYSQL_8_0
        ("cloudsql.private-ip", DB, FAIL),            # no PRIVATE address, no privateNetwork
    }),
    "sql-legacy-ssl": ("HEALTHY", 0, set()),          # requireSsl true, no sslMode: enforced
    "sql-creating": ("CRITICAL", 2, {
        ("cloudsql.state", DB, FAIL),                 # PENDING_CREATE
        ("cloudsql.private-ip", DB, FAIL),
        ("cloudsql.connection-name", DB, FAIL),
    }),
    "sql-missing": ("CRITICAL", 2, {
        ("cloudsql.instance.exists", DB, FAIL),
        ("cloudsql.operations", DB, ERROR),           # operations of a missing instance: 404, nothing to judge
    }),
    "secrets-malformed": ("CRITICAL", 2, {
        ("secrets.postgres-url", "database-url", FAIL),
        ("secrets.postgres-url", "database-direct-url", FAIL),
        ("secrets.min-length", "jwt-secret-staging", FAIL),
        ("secrets.redis-url", "redis-url", FAIL),
        ("secrets.oauth-client-id", "oauth-client-id", FAIL),
        ("secrets.oauth-client-secret", "oauth-client-secret", FAIL),
        ("secrets.openai-key", "openai-api-key", FAIL),
        ("secrets.anthropic-key", "anthropic-api-key", FAIL),
        ("secrets.non-empty", "smtp-password", FAIL),
        ("secrets.whitespace", "smtp-password", FAIL),
        ("secrets.cors-origins", "cors-allowed-origins", FAIL),
    }),
    "run-misconfigured": ("CRITICAL", 2, {
        ("cloudrun.ready", BACKEND, FAIL),            # Ready False, listed third
        ("cloudrun.latest-revision", BACKEND, FAIL),
        ("cloudrun.vpc-connector", BACKEND, FAIL),    # full path to legacy-connector
        ("cloudrun.vpc-egress", BACKEND, FAIL),       # annotation absent
        ("cloudrun.min-instances", BACKEND, FAIL),    # "0"
        ("cloudrun.cpu", BACKEND, FAIL),
        ("cloudrun.memory", BACKEND, FAIL),
        ("cloudrun.startup-probe", BACKEND, FAIL),    # 0 + 3 x 10 = 30 s
        ("cloudrun.secrets-exist", BACKEND, FAIL),    # database-url-v2
        ("cloudrun.service.exists", AUTH, FAIL),
        ("loadbalancer.neg-service", LB, FAIL),       # the /auth NEG still names auth-staging
    }),
    "lb-broken": ("CRITICAL", 2, {
        ("loadbalancer.default-service", LB, FAIL),
        ("loadbalancer.backend-exists", LB, FAIL),    # /auth -> staging-auth-backend-v1, long deleted
        ("loadbalancer.cert-active", WEB, FAIL),      # FAILED_NOT_VISIBLE, on the web proxy
        ("loadbalancer.certificate.exists", API, FAIL),  # no proxy of the chain presents one
        ("loadbalancer.hc-threshold", "health checks", FAIL),  # the chain's Grafana backend
    }),
    "lb-rebuild": ("CRITICAL", 2, {
        ("loadbalancer.url-map-exists", LB, FAIL),
        ("loadbalancer.frontend-exists", LB, FAIL),
        # The leftover certificates are attached to nothing: not judged, so no proxy presents one.
        ("loadbalancer.certificate.exists", WEB, FAIL),
        ("loadbalancer.certificate.exists", API, FAIL),
    }),
    # Another team's load balancer and health check, an orphan proxy, an unattached
    # certificate and a same-named stack in europe-west1: none is on the chain.
    "lb-neighbours": ("HEALTHY", 0, set()),
    # Issue 17: the load balancer found by its domains, whatever its name.
    "lb-web": ("HEALTHY", 0, set()),
    "lb-two-chains": ("HEALTHY", 0, set()),  # the recorded DNS answers pick web-lb over the old chain
    "lb-none": ("CRITICAL", 2, {("loadbalancer.chain", WEB, FAIL), ("loadbalancer.chain", API, FAIL)}),
    # A project that does not exist: could-not-check everywhere, said once for the load balancer.
    "project-missing": ("UNKNOWN", 3, {("loadbalancer.chain", "load balancer", "error")}
                        | {(f"secrets.secret", name, "error") for name in (
                            "anthropic-api-key", "cors-allowed-origins", "database-direct-url", "database-url",
                            "jwt-secret-staging", "oauth-client-id", "oauth-client-secret", "openai-api-key",
                            "redis-url", "smtp-password")}
                        | {(check, svc, "error") for check in ("cloudrun.secret-refs", "cloudrun.service")
                           for svc in (AUTH, BACKEND)}
                        | {("cloudsql.instance", DB, "error"), ("cloudsql.operations", DB, "error"),
                           ("logs.entries", f"{BACKEND}, {AUTH}", "error"), ("vpc.connector", CONNECTOR, "error")}
                        # recorded without probes (no network to reach): the recording's --exclude network*
                        | {(rule, host, "skip") for rule in ("network.dns-resolves", "network.tls-valid",
                                                            "network.tls-expiry") for host in (WEB, API)}
                        | {("network.frontend-status", FRONT, "skip"), ("network.ws-upgrade", WS, "skip")}
                        | {(rule, url, "skip") for rule in ("network.health-status", "network.health-latency")
                           for url in (AUTH_HEALTH, API_HEALTH)}),
    # Clients refuse an expired certificate: critical, never only a warning (issue 17).
    "lb-neighbours-expired": ("CRITICAL", 2, {
        ("loadbalancer.cert-expired", WEB, FAIL),     # the proxy's own, expired; a valid one lies unattached
        ("loadbalancer.cert-provisioning", API, FAIL),  # the API proxy's new certificate, created 10 min before
    }),
    "lb-cert-expiring": ("WARNING", 1, {
        ("loadbalancer.cert-expiry", WEB, FAIL),      # 13 days left: still served, renew it
    }),
    "network-down": ("CRITICAL", 2, {
        ("network.dns-resolves", WEB, FAIL),
        ("network.tls-valid", WEB, FAIL),
        ("network.frontend-status", FRONT, FAIL),
        ("network.health-status", AUTH_HEALTH, FAIL),
        ("network.tls-expiry", API, FAIL),            # 10 days left
        ("network.health-status", API_HEALTH, FAIL),  # 503
        ("network.ws-upgrade", WS, FAIL),             # HTTP 404
    }),
    "network-refused": ("CRITICAL", 2, {
        ("network.tls-valid", WEB, FAIL),
        ("network.frontend-status", FRONT, FAIL),
        ("network.health-status", AUTH_HEALTH, FAIL),
    }),
    "logs-errors": ("WARNING", 1, {
        ("logs.no-errors", f"{BACKEND}, {AUTH}", FAIL),  # 4 CRITICAL/ALERT entries, one with a DB URL
    }),
    "network-degraded": ("CRITICAL", 2, {
        ("network.tls-valid", WEB, FAIL),             # hostname mismatch
        ("network.frontend-status", FRONT, FAIL),
        ("network.health-status", AUTH_HEALTH, FAIL),
        ("network.health-latency", API_HEALTH, FAIL),   # 12000 ms
    }),
    # one upstream failure explains several (issue #9; tests/judge/test_causes.py asserts the chain)
    "vpc-down": ("CRITICAL", 2, {
        ("vpc.state", CONNECTOR, FAIL),               # ERROR
        ("cloudrun.ready", BACKEND, FAIL),            # new revision failed on the connector
        ("cloudrun.latest-revision", BACKEND, FAIL),
        ("cloudrun.ready", AUTH, FAIL),
        ("cloudrun.latest-revision", AUTH, FAIL),
    }),
    "dns-down": ("CRITICAL", 2, {
        ("network.dns-resolves", API, FAIL),
        ("network.tls-valid", API, FAIL),
        ("network.health-status", API_HEALTH, FAIL),
        ("network.ws-upgrade", WS, FAIL),
    }),
    # Load, read from Cloud Monitoring (commands/capacity.toml).
    "capacity-saturated": ("CRITICAL", 2, {
        ("capacity.connector-saturated", CONNECTOR, FAIL),
        ("capacity.connector-cpu", CONNECTOR, FAIL),
        ("capacity.connector-throughput", CONNECTOR, FAIL),
        *{(rule, service, FAIL) for service in (BACKEND, AUTH)
          for rule in ("capacity.run-5xx", "capacity.run-latency-p99", "capacity.run-latency-p95")},
    }),
    # The same saturation seen at the edge: the load balancer's 5xx share, explained by the connector.
    "capacity-lb-5xx": ("CRITICAL", 2, {
        ("capacity.connector-saturated", CONNECTOR, FAIL),
        ("capacity.connector-cpu", CONNECTOR, FAIL),
        ("capacity.connector-throughput", CONNECTOR, FAIL),
        *{(rule, service, FAIL) for service in (BACKEND, AUTH)
          for rule in ("capacity.run-5xx", "capacity.run-latency-p99", "capacity.run-latency-p95")},
        ("loadbalancer.lb-5xx", LB, FAIL),
    }),
    "capacity-connections-flag": ("CRITICAL", 2, {
        ("capacity.sql-connections-exhausted", DB, FAIL),
        ("capacity.sql-connections-high", DB, FAIL),
        ("capacity.sql-cpu", DB, FAIL),
        ("capacity.sql-memory", DB, FAIL),
        ("capacity.run-instances", BACKEND, FAIL),
        ("capacity.run-5xx", BACKEND, FAIL),
    }),
    "capacity-connections-default": ("WARNING", 1, {
        ("capacity.sql-connections-high", DB, FAIL),
        ("capacity.sql-disk", DB, FAIL),
    }),
    "capacity-limit-unknown": ("HEALTHY", 0, {("capacity.sql-connections.not-judged", DB, SKIP)}),
    "capacity-slow-start": ("WARNING", 1, {("capacity.run-startup", BACKEND, FAIL)}),
    "capacity-idle": ("HEALTHY", 0, {
        *{(f"capacity.{check}.not-judged", CONNECTOR, SKIP) for check in ("connector", "connector-cpu", "connector-throughput")},
        *{(f"capacity.{check}.not-judged", DB, SKIP) for check in ("sql-connections", "sql-cpu", "sql-memory", "sql-disk")},
        *{(f"capacity.{check}.not-judged", service, SKIP) for service in (BACKEND, AUTH)
          for check in ("run-instances", "run-errors", "run-latency", "run-startup")},
        ("loadbalancer.requests.not-judged", LB, SKIP),
    }),
    "capacity-denied": ("UNKNOWN", 3, {
        *{(f"capacity.{check}", CONNECTOR, ERROR) for check in ("connector", "connector-cpu", "connector-throughput")},
        *{(f"capacity.{check}", DB, ERROR) for check in ("sql-connections", "sql-cpu", "sql-memory", "sql-disk")},
        *{(f"capacity.{check}", service, ERROR) for service in (BACKEND, AUTH)
          for check in ("run-instances", "run-errors", "run-latency", "run-startup")},
        ("loadbalancer.requests", LB, ERROR),  # the load balancer's 5xx share reads Monitoring too
    }),
    # Monitoring in place (commands/monitoring.toml): healthy is watched; each of these lacks one thing.
    "monitoring-watched": ("HEALTHY", 0, set()),
    "monitoring-none": ("WARNING", 1, {
        *{("monitoring.uptime-check", url, FAIL) for url in (FRONT, API_HEALTH, AUTH_HEALTH)},
        ("monitoring.connector-alert", CONNECTOR, FAIL),
        ("monitoring.sql-alert", DB, FAIL),
        *{("monitoring.run-5xx-alert", service, FAIL) for service in (BACKEND, AUTH)},
    }),
    "monitoring-other-connector": ("WARNING", 1, {("monitoring.connector-alert", CONNECTOR, FAIL)}),
    "monitoring-disabled": ("WARNING", 1, {("monitoring.connector-alert", CONNECTOR, FAIL)}),
    "monitoring-no-channel": ("WARNING", 1, {("monitoring.sql-alert", DB, FAIL)}),
    "monitoring-uptime-unwatched": ("WARNING", 1, {
        ("monitoring.uptime-alert", url, FAIL) for url in (FRONT, API_HEALTH, AUTH_HEALTH)}),
    "monitoring-denied": ("UNKNOWN", 3, {
        *{(f"capacity.{check}", CONNECTOR, ERROR) for check in ("connector", "connector-cpu", "connector-throughput")},
        *{(f"capacity.{check}", DB, ERROR) for check in ("sql-connections", "sql-cpu", "sql-memory", "sql-disk")},
        *{(f"capacity.{check}", service, ERROR) for service in (BACKEND, AUTH)
          for check in ("run-instances", "run-errors", "run-latency", "run-startup")},
        ("loadbalancer.requests", LB, ERROR),  # the load balancer's 5xx share reads Monitoring too
        ("monitoring.uptime-frontend", FRONT, ERROR),
        *{("monitoring.uptime-health", url, ERROR) for url in (API_HEALTH, AUTH_HEALTH)},
        ("monitoring.connector-alert", CONNECTOR, ERROR),
        ("monitoring.sql-alert", DB, ERROR),
        *{("monitoring.run-5xx-alert", service, ERROR) for service in (BACKEND, AUTH)},
    }),
    "capacity-throttled": ("UNKNOWN", 3, {
        *{(f"capacity.{check}", CONNECTOR, ERROR) for check in ("connector", "connector-cpu", "connector-throughput")},
        *{(f"capacity.{check}", DB, ERROR) for check in ("sql-connections", "sql-cpu", "sql-memory", "sql-disk")},
        *{(f"capacity.{check}", service, ERROR) for service in (BACKEND, AUTH)
          for check in ("run-instances", "run-errors", "run-latency", "run-startup")},
        ("loadbalancer.requests", LB, ERROR),  # the load balancer's 5xx share reads Monitoring too
    }),
    # Today's load is fine; the growth shows only with --trend (tests/test_capacity.py).
    "capacity-trend": ("HEALTHY", 0, set()),
    # A project this identity may not read: every Google API answers 403, so every GCP check
    # is a could-not-check (never a pass, never "missing"); the endpoints still answer.
    "denied": ("UNKNOWN", 3, {
        ("vpc.connector", CONNECTOR, ERROR),
        ("cloudsql.instance", DB, ERROR),
        ("cloudsql.operations", DB, ERROR),
        *{("secrets.secret", name, ERROR) for name in (
            "database-url", "database-direct-url", "jwt-secret-staging", "redis-url", "oauth-client-id",
            "oauth-client-secret", "openai-api-key", "anthropic-api-key", "smtp-password", "cors-allowed-origins")},
        *{(rule, service, ERROR) for rule in ("cloudrun.service", "cloudrun.secret-refs") for service in (BACKEND, AUTH)},
        # The load balancer cannot be found when its lists are refused: said once (issue 17).
        ("loadbalancer.chain", "load balancer", ERROR),
        ("logs.entries", f"{BACKEND}, {AUTH}", ERROR),
    }),
}

# Rules no recorded scenario can fail, and why.
NOT_FAILED_BY_ANY_SCENARIO = {
    "loadbalancer.hc-timeout": (
        "GCP rejects a health check whose timeoutSec exceeds its checkIntervalSec, so no real "
        "document fails it; UNIT_CASES feeds it the seed's impossible 60 s / 30 s"
    ),
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """No INFRACHECK_* override (a profile value, INFRACHECK_NOW) may leak into a replay."""
    for name in list(os.environ):
        if name.startswith("INFRACHECK_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    yield


def _run(capsys, *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    out, _ = capsys.readouterr()
    return code, json.loads(out)


# Scenarios that model a load balancer the profile names exactly (url_map set): the
# rebuilt one is gone, and no chain would be found to tell what is missing of it.
NAMED = {"lb-rebuild": ("--set", "url_map=staging-https-lb")}


def _replay(capsys, name: str) -> tuple[int, dict]:
    return _run(capsys, "diagnose", "--replay", str(FIXTURES / name), "--format", "json", *NAMED.get(name, ()))


def _not_passed(report: dict) -> set[tuple[str, str, str]]:
    return {(f["rule"], f["resource"], f["status"]) for f in report["findings"] if f["status"] != "pass"}


def _catalog_rule_ids(capsys) -> set[str]:
    """Every rule id `infracheck list` shows, plus `<check>.exists` where a check reports a missing resource."""
    _, checks = _run(capsys, "list", "--format", "json")
    ids = {rule["id"] for check in checks for rule in check["rules"]}
    return ids | {f"{check['check']}.exists" for check in checks if check["missing"]}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_gives_exactly_its_findings(capsys, name):
    status, exit_code, expected = SCENARIOS[name]
    code, report = _replay(capsys, name)
    assert _not_passed(report) == expected
    assert report["status"] == status
    assert code == exit_code
    assert not report["incomplete"]


@pytest.mark.parametrize("name, status, message", [
    ("lb-cert-expiring", "warning",
     "Certificate for staging.netrasystems.ai expires 2026-12-10, less than 30 days ahead"),
    ("lb-neighbours-expired", "critical", "Certificate for staging.netrasystems.ai expired on 2026-11-20"),
])
def test_a_certificate_near_its_expiry_warns_and_an_expired_one_is_critical(capsys, name, status, message):
    """Clients refuse an expired certificate: never "expires ..., less than 30 days ahead" (issue 17)."""
    _, report = _replay(capsys, name)
    [finding] = [f for f in report["findings"] if f["rule"].startswith("loadbalancer.cert-expir")
                 and f["status"] == "fail"]
    assert (finding["severity"], finding["message"]) == (status, message)


def test_every_recorded_scenario_is_in_the_table():
    recorded = {p.name for p in (FIXTURES / "api").iterdir() if (p / "scenario.toml").is_file()}
    assert recorded == set(SCENARIOS)
    for name in recorded:
        assert (FIXTURES / name / "recording.json").is_file(), f"run: python tests/tools/record_fixtures.py {name}"


def test_healthy_passes_every_rule_of_the_catalog(capsys):
    _, report = _replay(capsys, "healthy")
    passed = {f["rule"] for f in report["findings"] if f["status"] == "pass"}
    rules_only = {r for r in _catalog_rule_ids(capsys) if not r.endswith(".exists")}
    assert rules_only - passed == set()


def test_scenarios_fail_every_rule_of_the_catalog(capsys):
    failed: set[str] = set()
    for name in SCENARIOS:
        _, report = _replay(capsys, name)
        failed |= {f["rule"] for f in report["findings"] if f["status"] == "fail"}
    catalog_ids = _catalog_rule_ids(capsys)
    assert set(NOT_FAILED_BY_ANY_SCENARIO) <= catalog_ids, "an exemption names a rule the catalog lost"
    assert catalog_ids - failed == set(NOT_FAILED_BY_ANY_SCENARIO)


# --- scoping: lb-neighbours is HEALTHY only because its neighbours are not the chain ---------------

NEIGHBOURS = {
    # The same-named regional stack in europe-west1, if the profile named it:
    "lb_scope=regions/europe-west1": {
        ("loadbalancer.default-service", LB, "no default service"),
        ("loadbalancer.cert-expired", WEB, "expired on 2026-10-01"),
        ("loadbalancer.certificate.exists", API, "covers api-staging"),
        ("loadbalancer.backend-exists", LB, "staging-gone-backend"),
        ("loadbalancer.hc-threshold", "health checks", "staging-worker-hc"),
    },
    # Another team's load balancer, if the profile named it:
    "url_map=data-lb": {
        ("loadbalancer.certificate.exists", WEB, "'data-lb' covers staging"),
        ("loadbalancer.certificate.exists", API, "'data-lb' covers api-staging"),
        ("loadbalancer.hc-threshold", "health checks", "data-team-hc"),
    },
}


@pytest.mark.parametrize("setting", sorted(NEIGHBOURS))
def test_the_neighbours_fail_when_the_profile_names_them(capsys, setting):
    """The same recording judged along another chain: what lb-neighbours leaves out is really there."""
    named = () if setting.startswith("url_map=") else ("--set", "url_map=staging-https-lb")  # lb_scope goes with url_map
    code, report = _run(capsys, "diagnose", "--replay", str(FIXTURES / "lb-neighbours"), "--format", "json",
                        "--set", setting, *named)
    assert code == 2
    failed = [f for f in report["findings"] if f["status"] != "pass"]
    assert len(failed) == len(NEIGHBOURS[setting])
    for rule, resource, words in NEIGHBOURS[setting]:
        assert any(f["rule"] == rule and f["resource"] == resource and words in f["message"] for f in failed), rule


def test_not_judged_is_said_in_the_text_report():
    from infracheck.model import Area, Finding, Overall, Report
    from infracheck.report import text
    area = Area("loadbalancer", "Checking Load Balancer...", "all valid", "Found {count} issues")
    skip = Finding("loadbalancer.certificate", "loadbalancer.certificate.not-judged", "loadbalancer", Status.SKIP,
                   None, WEB, "Certificate for staging.netrasystems.ai not judged: Certificate Manager")
    judged = Finding("loadbalancer.url-maps", "loadbalancer.url-map-exists", "loadbalancer", Status.PASS,
                     None, LB, "exists")
    health_checks = next(c for c in loader.load(environ={}, overrides={"url_map": "staging-https-lb"}).checks if c.id == "loadbalancer.health-checks")
    excluded = skipped_finding(health_checks, health_checks.rules[0])
    report = Report("netra-staging", "us-central1", Overall.HEALTHY, (area,), (judged, skip, excluded), ())
    out = text.render(report, ascii_only=True)
    assert "[OK] all valid\n   [i] Certificate for staging.netrasystems.ai not judged: Certificate Manager" in out
    assert "excluded" not in out


# --- what a scenario can't show: hand-built documents through the catalog's own checks ------------

_C = "https://www.googleapis.com/compute/v1/projects/netra-staging/"
_MAP = _C + f"global/urlMaps/{LB}"


def _hc(name, interval=5, timeout=5, unhealthy=None):
    doc = {"name": name, "selfLink": _C + f"global/healthChecks/{name}", "kind": "compute#healthCheck", "type": "HTTP", "checkIntervalSec": interval,
           "timeoutSec": timeout, "healthyThreshold": 2}
    if unhealthy is not None:
        doc["unhealthyThreshold"] = unhealthy
    return doc


_BS = "https://www.googleapis.com/compute/v1/projects/netra-staging/global/backendServices/"


def _on_chain(*hcs):
    """(health checks, `with` documents): the URL map's one backend service uses them all."""
    service = {"name": "vm-backend", "selfLink": _BS + "vm-backend", "healthChecks": [h["selfLink"] for h in hcs]}
    return list(hcs), {"services": [service], "maps": [{"name": LB, "selfLink": _MAP, "defaultService": _BS + "vm-backend"}]}
_SPLIT = {"weightedBackendServices": [{"backendService": _BS + "blue", "weight": 90},
                                      {"backendService": _BS + "green", "weight": 10}]}


def _service(annotations=None, containers=None, volumes=None, service_annotations=None):
    return [{"metadata": {"name": BACKEND, "annotations": service_annotations or {}},
             "spec": {"template": {"metadata": {"annotations": annotations or {}},
                                   "spec": {"containers": containers or [{"image": "x"}],
                                            **({"volumes": volumes} if volumes else {})}}},
             "status": {}}]


def _instance(ip_config):
    return {"name": DB, "state": "RUNNABLE", "databaseVersion": "POSTGRES_15",
            "settings": {"ipConfiguration": ip_config}}


def _cert(domains, status, domain_status, created="2025-01-10T11:00:00.000-08:00"):
    cert = {"name": "multi", "selfLink": _C + "global/sslCertificates/multi", "type": "MANAGED",
            "managed": {"domains": domains, "status": status, "domainStatus": domain_status}}
    return [{**cert, "creationTimestamp": created} if created else cert]


_CM_MAP = "//certificatemanager.googleapis.com/projects/netra-staging/locations/global/certificateMaps/staging-map"
_CM_CERT = "//certificatemanager.googleapis.com/projects/netra-staging/locations/us-central1/certificates/web"


def _served(*proxies):
    """`with` documents: the given target HTTPS proxies, each the target of a forwarding rule."""
    return {"proxies": [{"name": f"p{i}", "selfLink": _C + f"global/targetHttpsProxies/p{i}",
                         "urlMap": _C + "global/urlMaps/staging-https-lb", **p} for i, p in enumerate(proxies)],
            "forwarding_rules": [{"name": f"fr{i}", "target": _C + f"global/targetHttpsProxies/p{i}"}
                                 for i in range(len(proxies))]}


_SERVED_MULTI = _served({"sslCertificates": [_C + "global/sslCertificates/multi"]})

_WEB_CERT = {"name": "web", "selfLink": _C + "global/sslCertificates/web", "type": "MANAGED",
             "creationTimestamp": "2025-01-10T11:00:00.000-08:00",
             "managed": {"domains": [WEB], "status": "ACTIVE", "domainStatus": {WEB: "ACTIVE"}}}

# (id, check id, resource, rule id, document, `with` documents, expected status)
UNIT_CASES = [
    ("hc-timeout: the seed's 60 s timeout every 30 s (the API rejects it)",
     "loadbalancer.health-checks", None, "loadbalancer.hc-timeout",
     *_on_chain(_hc("ok", 30, 10, 5), _hc("seed-hc", 30, 60, 5)), "fail"),
    ("hc-timeout: timeout equal to the interval is allowed",
     "loadbalancer.health-checks", None, "loadbalancer.hc-timeout", *_on_chain(_hc("eq", 5, 5, 5)), "pass"),
    ("hc-timeout: no health checks at all (serverless NEGs only)",
     "loadbalancer.health-checks", None, "loadbalancer.hc-timeout", *_on_chain(), "pass"),
    ("hc-threshold: unhealthyThreshold omitted means GCP's default 2",
     "loadbalancer.health-checks", None, "loadbalancer.hc-threshold", *_on_chain(_hc("dflt")), "fail"),
    ("hc-threshold: a health check no backend of the chain uses is not judged",
     "loadbalancer.health-checks", None, "loadbalancer.hc-threshold",
     [_hc("other-team", unhealthy=2)], _on_chain()[1], "pass"),
    ("default-service: a weighted split in defaultRouteAction is a default",
     "loadbalancer.url-maps", None, "loadbalancer.default-service",
     [{"name": LB, "selfLink": _MAP, "defaultRouteAction": _SPLIT}], {}, "pass"),
    ("default-service: a defaultRouteAction without backends is not",
     "loadbalancer.url-maps", None, "loadbalancer.default-service",
     [{"name": LB, "selfLink": _MAP, "defaultRouteAction": {"urlRewrite": {"pathPrefixRewrite": "/"}}}], {}, "fail"),
    ("default-service: a same-named URL map in another region is not the profile's (lb_scope global)",
     "loadbalancer.url-maps", None, "loadbalancer.default-service",
     [{"name": LB, "selfLink": _C + "regions/europe-west1/urlMaps/" + LB}], {}, "pass"),
    ("cert-active: ACTIVE certificate, but FAILED for this one of its domains",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-active",
     _cert([API, WEB], "ACTIVE", {API: "ACTIVE", WEB: "FAILED_CAA_FORBIDDEN"}), _served({"sslCertificates": [_C + "global/sslCertificates/multi"]}), "fail"),
    ("cert-active: the other domain of the same certificate is ACTIVE",
     "loadbalancer.certificate", API, "loadbalancer.cert-active",
     _cert([API, WEB], "ACTIVE", {API: "ACTIVE", WEB: "FAILED_CAA_FORBIDDEN"}), _served({"sslCertificates": [_C + "global/sslCertificates/multi"]}), "pass"),
    ("non-empty: a payload with no data at all",
     "secrets.secret", "smtp-password", "secrets.non-empty",
     {"name": "projects/123456789012/secrets/smtp-password/versions/1", "payload": {}}, {}, "fail"),
    ("non-empty: whitespace only",
     "secrets.secret", "smtp-password", "secrets.non-empty",
     {"name": "x", "payload": {"data": "ICAJCg=="}}, {}, "fail"),
    ("ssl: TRUSTED_CLIENT_CERTIFICATE_REQUIRED (requireSsl true) enforces TLS",
     "cloudsql.instance", None, "cloudsql.ssl",
     _instance({"sslMode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "requireSsl": True}), {}, "pass"),
    ("ssl: neither sslMode nor requireSsl in the document",
     "cloudsql.instance", None, "cloudsql.ssl", _instance({"ipv4Enabled": False}), {}, "fail"),
    ("private-network: absent on a public-only instance (private-ip reports it)",
     "cloudsql.instance", None, "cloudsql.private-network", _instance({"ipv4Enabled": True}), {}, "pass"),
    ("open-to-internet: authorizedNetworks omitted because empty",
     "cloudsql.instance", None, "cloudsql.open-to-internet", _instance({"ipv4Enabled": True}), {}, "pass"),
    ("vpc-egress: 'all', the deprecated spelling of all-traffic",
     "cloudrun.service", BACKEND, "cloudrun.vpc-egress",
     _service({"run.googleapis.com/vpc-access-egress": "all"}), {}, "pass"),
    ("min-instances: only the service-level run.googleapis.com/minScale",
     "cloudrun.service", BACKEND, "cloudrun.min-instances",
     _service(service_annotations={"run.googleapis.com/minScale": "2"}), {}, "pass"),
    ("startup-probe: no probe in the spec is Cloud Run's default 240 s",
     "cloudrun.service", BACKEND, "cloudrun.startup-probe", _service(), {}, "pass"),
    ("startup-probe: 120 s initial delay, 5 x 10 s",
     "cloudrun.service", BACKEND, "cloudrun.startup-probe",
     _service(containers=[{"startupProbe": {"initialDelaySeconds": 120, "periodSeconds": 10,
                                            "failureThreshold": 5, "tcpSocket": {"port": 8080}}}]), {}, "pass"),
    ("secrets-exist: a secret mounted as a volume that does not exist",
     "cloudrun.secret-refs", BACKEND, "cloudrun.secrets-exist",
     _service(volumes=[{"name": "creds", "secret": {"secretName": "gcs-key"}}]),
     {"secrets": [{"name": "projects/123456789012/secrets/redis-url"}]}, "fail"),
    ("secrets-exist: another project's secret, referenced by its alias",
     "cloudrun.secret-refs", BACKEND, "cloudrun.secrets-exist",
     _service({"run.googleapis.com/secrets": "shared-key:projects/999999999999/secrets/shared-key"},
              containers=[{"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "shared-key", "key": "latest"}}}]}]),
     {"secrets": [{"name": "projects/123456789012/secrets/redis-url"}]}, "pass"),
    ("startup-probe: the serving container (with ports) is judged, not a sidecar listed first",
     "cloudrun.service", BACKEND, "cloudrun.startup-probe",
     _service(containers=[{"name": "proxy-sidecar"},
                          {"name": "app", "ports": [{"containerPort": 8080}],
                           "startupProbe": {"periodSeconds": 10, "failureThreshold": 1, "tcpSocket": {"port": 8080}}}]),
     {}, "fail"),
    ("cert-active: PROVISIONING for 3 h since its creationTimestamp is stuck",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-active",
     _cert([WEB], "PROVISIONING", {WEB: "PROVISIONING"}, created="2026-11-26T21:00:00Z"), _SERVED_MULTI, "fail"),
    ("cert-active: PROVISIONING for 10 min is still within what GCP takes",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-active",
     _cert([WEB], "PROVISIONING", {WEB: "PROVISIONING"}, created="2026-11-26T23:50:00Z"), _SERVED_MULTI, "pass"),
    ("cert-provisioning: ... and warns that it is still provisioning",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-provisioning",
     _cert([WEB], "PROVISIONING", {WEB: "PROVISIONING"}, created="2026-11-26T23:50:00Z"), _SERVED_MULTI, "fail"),
    ("cert-provisioning: a stuck one is cert-active's finding, not this one",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-provisioning",
     _cert([WEB], "PROVISIONING", {WEB: "PROVISIONING"}, created="2026-11-26T21:00:00Z"), _SERVED_MULTI, "pass"),
    ("cert-active: no creationTimestamp: PROVISIONING is judged as stuck, not excused",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-active",
     _cert([WEB], "PROVISIONING", {WEB: "PROVISIONING"}, created=None), _SERVED_MULTI, "fail"),
    ("cert-active: a self-managed wildcard certificate covers the domain",
     "loadbalancer.certificate", API, "loadbalancer.cert-active",
     [{"name": "wild", "selfLink": _C + "global/sslCertificates/wild", "type": "SELF_MANAGED",
       "subjectAlternativeNames": ["*.netrasystems.ai"], "expireTime": "2027-06-01T00:00:00.000-07:00",
       "creationTimestamp": "2025-06-01T00:00:00.000-07:00"}], _served({"sslCertificates": [_C + "global/sslCertificates/wild"]}), "pass"),
    ("whitespace: a value stored with echo's trailing newline",
     "secrets.secret", "database-url", "secrets.whitespace",
     {"name": "x", "payload": {"data": "cG9zdGdyZXNxbCthc3luY3BnOi8veHh4eDp4eHh4QDAuMC4wLjAveHgK"}}, {}, "fail"),
    ("whitespace: the same value without it",
     "secrets.secret", "database-url", "secrets.whitespace",
     {"name": "x", "payload": {"data": "cG9zdGdyZXNxbCthc3luY3BnOi8veHh4eDp4eHh4QDAuMC4wLjAveHg="}}, {}, "pass"),
    ("secrets-exist: an env reference by full path to an existing secret",
     "cloudrun.secret-refs", BACKEND, "cloudrun.secrets-exist",
     _service(containers=[{"env": [{"name": "R", "valueFrom": {"secretKeyRef": {
         "name": "projects/123456789012/secrets/redis-url", "key": "latest"}}}]}]),
     {"secrets": [{"name": "projects/123456789012/secrets/redis-url"}]}, "pass"),
    ("certificate: a proxy serving a Certificate Manager map is not judged, not 'missing'",
     "loadbalancer.certificate", WEB, "loadbalancer.certificate.not-judged",
     [_WEB_CERT], _served({"certificateMap": _CM_MAP}), "skip"),
    ("certificate: a map makes GCP ignore the proxy's sslCertificates, so they are not judged either",
     "loadbalancer.certificate", WEB, "loadbalancer.certificate.not-judged",
     [_WEB_CERT], _served({"certificateMap": _CM_MAP, "sslCertificates": [_WEB_CERT["selfLink"]]}), "skip"),
    ("certificate: Certificate Manager certificates named in sslCertificates are not judged",
     "loadbalancer.certificate", WEB, "loadbalancer.certificate.not-judged",
     [_WEB_CERT], _served({"sslCertificates": [_CM_CERT]}), "skip"),
    ("certificate: a map on one proxy, the domain's certificate on the other: judged",
     "loadbalancer.certificate", WEB, "loadbalancer.cert-active",
     [_WEB_CERT], _served({"certificateMap": _CM_MAP}, {"sslCertificates": [_WEB_CERT["selfLink"]]}), "pass"),
    ("certificate: a covering certificate on a proxy no forwarding rule targets is not the chain's",
     "loadbalancer.certificate", WEB, "loadbalancer.certificate.exists",
     [_WEB_CERT], {**_served({"sslCertificates": [_WEB_CERT["selfLink"]]}), "forwarding_rules": []}, "fail"),
]


@pytest.fixture(scope="module")
def default_catalog():
    return loader.load(environ={}, overrides={"url_map": "staging-https-lb"})


@pytest.mark.parametrize("check_id,resource,rule_id,document,extras,expected",
                         [pytest.param(*case[1:], id=case[0]) for case in UNIT_CASES])
def test_rule_on_a_hand_built_document(default_catalog, check_id, resource, rule_id, document, extras, expected):
    check = next(c for c in default_catalog.checks
                 if c.id == check_id and (resource is None or c.resource == resource))
    names = dict(check.extras)
    outcomes = {names[name]: Outcome(names[name], 0, 0.0, document=doc) for name, doc in extras.items()}
    findings = evaluate(check, Outcome(check.argv, 0, 0.0, document=document), extras=outcomes,
                              now=dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc))
    finding = next(f for f in findings if f.rule == rule_id)
    assert finding.status is Status(expected), finding.message
