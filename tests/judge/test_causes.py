"""causes.py: which failures explain which, the roots, and the infrastructure/configuration split."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from infracheck.judge import causes
from infracheck.cli import main
from infracheck.model import Category, Finding, Need, Severity, Status

INFRA, CONFIG = Category.INFRASTRUCTURE, Category.CONFIGURATION
CRIT, WARN = Severity.CRITICAL, Severity.WARNING


def _f(rule, resource, status="fail", needs=(), category=INFRA, severity=CRIT, check=None):
    """A finding as rules.evaluate makes it; `needs` as (on, resource) pairs."""
    return Finding(
        check=check or rule,
        rule=rule, area=rule.split(".")[0], status=Status(status),
        severity=None if status == "error" else severity, resource=resource, message=f"{rule} on {resource}",
        category=None if status == "error" else category,
        needs=tuple(Need(tuple(on) if isinstance(on, (list, tuple)) else (on,), res, checks)
                    for on, res, *rest in needs for checks in [tuple(rest[0]) if rest else ()]),
    )


CONNECTOR_DOWN = [
    _f("vpc.state", "staging-connector"),
    _f("cloudrun.ready", "netra-backend-staging", needs=[(("vpc.connector.exists", "vpc.state"), "staging-connector")]),
    _f("cloudrun.ready", "auth-staging", needs=[(("vpc.connector.exists", "vpc.state"), "projects/p/locations/r/connectors/staging-connector")]),
    _f("cloudrun.ready", "other", needs=[(("vpc.state",), "legacy-connector")]),  # uses another connector
]
DNS_DOWN = [
    _f("network.dns-resolves", "api.example.com"),
    _f("network.tls-valid", "api.example.com", needs=[(("network.dns-resolves", "loadbalancer.cert-active"), "api.example.com")]),
    _f("network.health-status", "https://api.example.com/health",
       needs=[(("network.dns-resolves", "network.tls-valid"), "API.example.com.")]),
    _f("network.ws-upgrade", "wss://api.example.com/ws", needs=[(("network.dns-*",), "api.example.com")]),
    _f("network.health-status", "https://www.example.com/health", needs=[(("network.dns-resolves",), "www.example.com")]),
]
TWO_ROOTS = [  # a URL depends on its domain's DNS and its certificate, both broken independently
    _f("network.dns-resolves", "a.example.com"),
    _f("loadbalancer.certificate.exists", "a.example.com"),
    _f("network.frontend-status", "https://a.example.com",
       needs=[(("network.dns-resolves", "loadbalancer.certificate.exists"), "a.example.com")]),
]
UNCHECKED_UPSTREAM = [  # the connector could not be described: the service's failure is its consequence
    _f("vpc.connector", "c1", status="error", check="vpc.connector"),
    _f("cloudrun.ready", "svc", needs=[(("vpc.state",), "c1", ("vpc.connector",))]),
]
MISSING_INSTANCE = [
    _f("cloudsql.instance.exists", "db"),
    _f("cloudsql.operations", "db", status="error", check="cloudsql.operations",
       needs=[(("cloudsql.instance.exists",), "db")]),
]
CONFIG_NOT_EXPLAINED = [  # a configured value is wrong whatever the connector's state: no edge
    _f("vpc.state", "c1"),
    _f("cloudrun.vpc-egress", "svc", category=CONFIG),
]
PASSING_UPSTREAM = [
    _f("vpc.state", "c1", status="pass"),
    _f("cloudrun.ready", "svc", needs=[(("vpc.state",), "c1")]),
]
CYCLE = [
    _f("a.x", "r", needs=[(("b.y",), "r")]),
    _f("b.y", "r", needs=[(("a.x",), "r")]),
]
CHAIN = [  # DNS -> managed certificate -> TLS: the root is the DNS
    _f("network.dns-resolves", "d.example.com"),
    _f("loadbalancer.cert-active", "d.example.com", needs=[(("network.dns-resolves",), "d.example.com")]),
    _f("network.tls-valid", "d.example.com", needs=[(("loadbalancer.cert-active",), "d.example.com")]),
]


@pytest.mark.parametrize("findings,expected", [
    (CONNECTOR_DOWN, {
        ("cloudrun.ready", "netra-backend-staging"): {("vpc.state", "staging-connector")},
        ("cloudrun.ready", "auth-staging"): {("vpc.state", "staging-connector")},
        ("cloudrun.ready", "other"): set(),
    }),
    (DNS_DOWN, {
        ("network.tls-valid", "api.example.com"): {("network.dns-resolves", "api.example.com")},
        ("network.health-status", "https://api.example.com/health"): {("network.dns-resolves", "api.example.com")},
        ("network.ws-upgrade", "wss://api.example.com/ws"): {("network.dns-resolves", "api.example.com")},
        ("network.health-status", "https://www.example.com/health"): set(),
    }),
    (TWO_ROOTS, {("network.frontend-status", "https://a.example.com"): {
        ("network.dns-resolves", "a.example.com"), ("loadbalancer.certificate.exists", "a.example.com")}}),
    (UNCHECKED_UPSTREAM, {("cloudrun.ready", "svc"): {("vpc.connector", "c1")}}),
    (MISSING_INSTANCE, {("cloudsql.operations", "db"): {("cloudsql.instance.exists", "db")}}),
    (CONFIG_NOT_EXPLAINED, {("cloudrun.vpc-egress", "svc"): set()}),
    (PASSING_UPSTREAM, {("cloudrun.ready", "svc"): set()}),
    (CYCLE, {("a.x", "r"): set(), ("b.y", "r"): set()}),
    (CHAIN, {("loadbalancer.cert-active", "d.example.com"): {("network.dns-resolves", "d.example.com")},
             ("network.tls-valid", "d.example.com"): {("network.dns-resolves", "d.example.com")}}),
], ids=["connector", "dns", "two-roots", "unchecked", "missing-instance", "config", "passing", "cycle", "chain"])
def test_caused_by(findings, expected):
    analysed = causes.analyse(findings)
    assert [(f.rule, f.resource) for f in analysed] == [(f.rule, f.resource) for f in findings]  # nothing dropped
    got = {(f.rule, f.resource): set(f.caused_by) for f in analysed}
    for key, roots in expected.items():
        assert got[key] == roots, key


def test_root_causes_list_what_they_explain_and_the_split():
    analysed = causes.analyse(CONNECTOR_DOWN + CONFIG_NOT_EXPLAINED[1:] + UNCHECKED_UPSTREAM[:1]
                              + [_f("vpc.min-instances", "staging-connector", severity=WARN)])
    roots = causes.root_causes(analysed)
    assert [(r.finding.rule, r.finding.resource) for r in roots] == [
        ("vpc.state", "staging-connector"), ("cloudrun.ready", "other"), ("cloudrun.vpc-egress", "svc"),
        ("vpc.min-instances", "staging-connector"),  # warnings after criticals
        ("vpc.connector", "c1"),                     # could-not-check last
    ]
    assert [f.resource for f in roots[0].explains] == ["netra-backend-staging", "auth-staging"]
    assert causes.split(roots) == causes.Split(infrastructure=3, configuration=1, unchecked=1)
    assert causes.split(roots).total == 5


def test_a_pass_is_never_a_root_nor_caused():
    analysed = causes.analyse(PASSING_UPSTREAM)
    assert [r.finding.rule for r in causes.root_causes(analysed)] == ["cloudrun.ready"]
    assert analysed[0].caused_by == ()


@pytest.mark.parametrize("a,b", [
    ("staging-connector", "projects/p/locations/us-central1/connectors/staging-connector"),
    ("default", "https://www.googleapis.com/compute/v1/projects/p/global/networks/default"),
    ("API-staging.example.com.", "api-staging.example.com"),
    ("https://a.example.com/", "https://a.example.com"),
    (" database-url ", "projects/123/secrets/database-url"),
])
def test_resource_names_match_however_spelled(a, b):
    assert causes.resource_key(a) == causes.resource_key(b)


def test_urls_on_different_paths_stay_apart():
    assert causes.resource_key("https://a.example.com/health") != causes.resource_key("https://a.example.com/auth/health")


# --- recorded scenarios (fixtures/<name>, recorded through real gcloud): the exact chain ------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CONNECTOR, DB = "staging-connector", "netra-staging-db"
BACKEND, AUTH = "netra-backend-staging", "auth-staging"
WEB, API = "staging.netrasystems.ai", "api-staging.netrasystems.ai"

# scenario -> ({(root rule, root resource, class or None): {(rule, resource) it explains}}, (infra, config, unchecked))
CHAINS = {
    "outage": ({   # the seed's report: eight independent roots, nothing explained by another
        ("vpc.state", CONNECTOR, "infrastructure"): set(),
        ("cloudsql.state", DB, "infrastructure"): set(),
        ("secrets.secret.exists", "database-url", "infrastructure"): set(),
        ("secrets.secret.exists", "jwt-secret-staging", "infrastructure"): set(),
        ("cloudrun.vpc-connector", BACKEND, "configuration"): set(),
        ("cloudrun.vpc-egress", AUTH, "configuration"): set(),
        ("vpc.min-instances", CONNECTOR, "infrastructure"): set(),
        ("cloudsql.ssl", DB, "configuration"): set(),
    }, (5, 3, 0)),
    "vpc-down": ({
        ("vpc.state", CONNECTOR, "infrastructure"): {
            ("cloudrun.ready", BACKEND), ("cloudrun.latest-revision", BACKEND),
            ("cloudrun.ready", AUTH), ("cloudrun.latest-revision", AUTH)},
    }, (1, 0, 0)),
    "dns-down": ({
        ("network.dns-resolves", API, "infrastructure"): {
            ("network.tls-valid", API), ("network.health-status", f"https://{API}/health"),
            ("network.ws-upgrade", f"wss://{API}/ws")},
    }, (1, 0, 0)),
    "sql-missing": ({
        ("cloudsql.instance.exists", DB, "infrastructure"): {("cloudsql.operations", DB)},  # a could-not-check
    }, (1, 0, 0)),
    "network-down": ({
        ("network.dns-resolves", WEB, "infrastructure"): {
            ("network.tls-valid", WEB), ("network.frontend-status", f"https://{WEB}"),
            ("network.health-status", f"https://{WEB}/auth/health")},
        ("network.health-status", f"https://{API}/health", "infrastructure"): set(),   # 503: not DNS
        ("network.ws-upgrade", f"wss://{API}/ws", "infrastructure"): set(),            # 404: not DNS
        ("network.tls-expiry", API, "infrastructure"): set(),
    }, (4, 0, 0)),
    "run-misconfigured": ({   # GCP's Ready message names the secret the revision failed on
        ("cloudrun.secrets-exist", BACKEND, "infrastructure"): {
            ("cloudrun.ready", BACKEND), ("cloudrun.latest-revision", BACKEND)},
        ("cloudrun.service.exists", AUTH, "infrastructure"): set(),
        # the load balancer's /auth serverless NEG still names the deleted service: its own root
        # (a depends_on cloudrun.service.exists breaks a profile with no services)
        ("loadbalancer.neg-service", "staging-https-lb", "infrastructure"): set(),
        ("cloudrun.vpc-connector", BACKEND, "configuration"): set(),
        ("cloudrun.vpc-egress", BACKEND, "configuration"): set(),
        ("cloudrun.min-instances", BACKEND, "configuration"): set(),
        ("cloudrun.cpu", BACKEND, "configuration"): set(),
        ("cloudrun.memory", BACKEND, "configuration"): set(),
        ("cloudrun.startup-probe", BACKEND, "configuration"): set(),
    }, (3, 6, 0)),
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("INFRACHECK_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def _replay(capsys, name, *extra):
    code = main(["diagnose", "--replay", str(FIXTURES / name), *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_recorded_scenario_has_exactly_its_root_causes(capsys, name):
    expected, (infra, config, unchecked) = CHAINS[name]
    code, out = _replay(capsys, name, "--format", "json")
    report = json.loads(out)
    got = {(r["rule"], r["resource"], r["class"]): {(e["rule"], e["resource"]) for e in r["explains"]}
           for r in report["root_causes"]}
    assert got == expected
    assert report["root_cause_split"] == {"infrastructure": infra, "configuration": config, "unchecked": unchecked}
    # every failing or unchecked finding is a root or names its roots; a consequence keeps its message and remedy
    roots = {(rule, resource) for rule, resource, _ in expected}
    for f in report["findings"]:
        if f["status"] in ("fail", "error"):
            assert ((f["rule"], f["resource"]) in roots) != bool(f["caused_by"]), f
            assert f["message"]
        for cause in f["caused_by"]:
            assert (cause["rule"], cause["resource"]) in roots
        if f["status"] == "error":
            assert f["class"] is None                    # a could-not-check is neither
        else:
            assert f["class"] in ("infrastructure", "configuration"), f
    assert report["generated_at"] == "2026-11-27T00:00:00+00:00"   # the recording's clock, not the wall clock


def test_root_causes_never_change_the_verdict(capsys):
    """The same findings, the same counts, the same exit code: only order and grouping change."""
    code, out = _replay(capsys, "vpc-down", "--format", "json")
    report = json.loads(out)
    assert (code, report["status"], report["counts"]["critical"]) == (2, "CRITICAL", 5)


OUTAGE_BLOCK = """\
ROOT CAUSES
Root causes: 8 (5 infrastructure, 3 configuration)
   1. [infrastructure, critical] VPC connector state is 'CREATING', expected 'READY'
   2. [infrastructure, critical] Cloud SQL instance state is 'MAINTENANCE', expected 'RUNNABLE'
      detail: MAINTENANCE operation running since 2026-11-26T22:10:00.000Z (1 h 50 min)
   3. [infrastructure, critical] Secret 'database-url' is missing
   4. [infrastructure, critical] Secret 'jwt-secret-staging' is missing
   5. [configuration, critical] Service 'netra-backend-staging' has incorrect VPC connector: ''
   6. [configuration, critical] Service 'auth-staging' has incorrect VPC egress: 'private-ranges-only'
   7. [infrastructure, warning] Min instances is 1, should be at least 2
   8. [configuration, warning] SSL not required - security risk

Load (Cloud Monitoring) not judged: this recording holds none of its reads
Monitoring in place not judged: this recording holds no uptime checks or alert policies
Overall Status: CRITICAL
"""


def test_make_demo_summary_opens_with_the_outage_root_causes_and_split(capsys):
    code, out = _replay(capsys, "outage", "--issue", "1278", "--color", "never")
    summary = out.split("INFRASTRUCTURE VALIDATION SUMMARY\n", 1)[1].split("\n", 1)[1]   # past the ==== line
    assert summary.split(" ", 1)[1].startswith(OUTAGE_BLOCK)
    assert code == 2


def test_dns_down_prints_one_root_cause_explaining_tls_https_and_websocket(capsys):
    _, out = _replay(capsys, "dns-down", "--color", "never")
    block = out.split("ROOT CAUSES\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == [
        "Root causes: 1 (1 infrastructure, 0 configuration)",
        f"   1. [infrastructure, critical] {API} does not resolve",
        f"      \u2192 explains 3 findings: network.tls-valid ({API}), network.health-status (https://{API}/health), "
        f"network.ws-upgrade (wss://{API}/ws)",
    ]
    # each consequence is still listed with its own message, naming its cause
    assert f"caused by: network.dns-resolves ({API})" in out.split("CRITICAL FAILURES:", 1)[1]


def test_healthy_run_has_no_root_cause_block(capsys):
    code, out = _replay(capsys, "healthy", "--color", "never")
    assert code == 0 and "ROOT CAUSES" not in out


def test_a_muted_failure_is_no_root_cause_and_not_counted():
    from infracheck.model import Mute
    import datetime as dt
    mute = Mute(rule="vpc.state", reason="r", expires=dt.date(2027, 1, 1), owner="o", file="m.toml", line=1)
    analysed = causes.analyse(CONNECTOR_DOWN)
    muted = (dataclasses.replace(analysed[0], muted=mute),) + analysed[1:]
    roots = causes.root_causes(muted)
    assert [(r.finding.rule, r.finding.resource) for r in roots] == [("cloudrun.ready", "other")]
    assert causes.split(roots).total == 1
