"""causes.py: which failures explain which, the roots, and the infrastructure/configuration split."""

from __future__ import annotations

import pytest

from infracheck import causes
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
