"""watching.py: which alert policies watch this stack's resource, and which uptime checks probe a URL."""

from __future__ import annotations

import pytest

from infracheck.rules import watching

CONNECTOR = {"metric.type": "vpcaccess.googleapis.com/connector/instances",
             "resource.labels.connector_name": "staging-connector"}
RUN_5XX = {"metric.type": "run.googleapis.com/request_count", "resource.labels.service_name": "auth-staging",
           "metric.labels.response_code_class": "5xx"}
M = 'metric.type="vpcaccess.googleapis.com/connector/instances"'


@pytest.mark.parametrize("text, wanted, required, selects", [
    (f'{M} AND resource.type="vpc_access_connector" AND resource.labels.connector_name="staging-connector"',
     CONNECTOR, (), True),
    (f'{M} AND resource.label.connector_name = "staging-connector"', CONNECTOR, (), True),  # label alias, spaces
    (f'{M} resource.labels.connector_name="staging-connector"', CONNECTOR, (), True),  # implicit AND
    (f'{M} AND resource.labels.connector_name="prod-connector"', CONNECTOR, (), False),  # another connector
    (f'{M} AND resource.labels.connector_name="staging-connector-2"', CONNECTOR, (), False),
    (f'{M}', CONNECTOR, (), True),  # every connector of the project, this one included
    (f'{M} AND resource.labels.connector_name=starts_with("staging")', CONNECTOR, (), True),
    (f'{M} AND resource.labels.connector_name=one_of("a", "staging-connector")', CONNECTOR, (), True),
    (f'{M} AND resource.labels.connector_name=monitoring.regex.full_match("prod-.*")', CONNECTOR, (), False),
    (f'{M} AND NOT resource.labels.connector_name="staging-connector"', CONNECTOR, (), False),
    (f'{M} AND (resource.labels.connector_name="a" OR resource.labels.connector_name="staging-connector")',
     CONNECTOR, (), True),
    ('metric.type="vpcaccess.googleapis.com/connector/cpu/utilizations"', CONNECTOR, (), False),  # another metric
    ('resource.labels.connector_name="staging-connector"', CONNECTOR, (), False),  # no metric named
    (f'{M} AND resource.labels.region="us-central1"', CONNECTOR, (), True),  # another label: may select it
    ('metric.type="run.googleapis.com/request_count" AND resource.labels.service_name="auth-staging" '
     'AND metric.labels.response_code_class="5xx"', RUN_5XX, ("metric.labels.response_code_class",), True),
    # All requests is not a 5xx watch, whatever else it names.
    ('metric.type="run.googleapis.com/request_count" AND resource.labels.service_name="auth-staging"',
     RUN_5XX, ("metric.labels.response_code_class",), False),
    ('metric.type="run.googleapis.com/request_count" AND metric.labels.response_code_class="4xx"',
     RUN_5XX, ("metric.labels.response_code_class",), False),
    (f'{M} AND (resource.labels.connector_name="staging-connector"', CONNECTOR, (), False),  # unreadable: no
])
def test_a_filter_selects_this_resource_only_when_it_names_its_metric_and_does_not_exclude_it(
        text, wanted, required, selects):
    assert watching.selects(text, wanted, required) is selects


def policy(filter_: str = f'{M} AND resource.labels.connector_name="staging-connector"', *, enabled: bool = True,
           channels: tuple[str, ...] = ("projects/p/notificationChannels/1",), name: str = "Connector") -> dict:
    body: dict = {"displayName": name, "enabled": enabled,
                  "conditions": [{"conditionThreshold": {"filter": filter_}}]}
    if channels:
        body["notificationChannels"] = list(channels)
    return body


@pytest.mark.parametrize("policies, gap", [
    ([policy()], None),
    ([], "no alert policy reads vpcaccess.googleapis.com/connector/instances for it"),
    (None, "no alert policy reads vpcaccess.googleapis.com/connector/instances for it"),
    ([policy(f'{M} AND resource.labels.connector_name="prod-connector"')],
     "no alert policy reads vpcaccess.googleapis.com/connector/instances for it"),
    ([policy(enabled=False)], "alert policy 'Connector' is disabled"),
    ([policy(enabled=False), policy(enabled=False, name="Other")], "alert policy 'Connector', 'Other' are disabled"),
    ([policy(channels=())], "alert policy 'Connector' has no notification channel: it fires, and nobody is told"),
    # One enabled policy with a channel is enough, whatever the others are.
    ([policy(enabled=False), policy(channels=(), name="B"), policy(name="C")], None),
    # MQL and PromQL conditions name the metric and the resource in their text.
    ([{"displayName": "mql", "enabled": True, "notificationChannels": ["c"], "conditions": [
        {"conditionMonitoringQueryLanguage": {"query": "fetch vpc_access_connector | metric "
                                              "'vpcaccess.googleapis.com/connector/instances' | filter "
                                              "resource.connector_name == 'staging-connector'"}}]}], None),
    ([{"displayName": "promql", "enabled": True, "notificationChannels": ["c"], "conditions": [
        {"conditionPrometheusQueryLanguage": {"query": 'vpcaccess_googleapis_com:connector_instances'
                                              '{connector_name="prod-connector"} > 9'}}]}],
     "no alert policy reads vpcaccess.googleapis.com/connector/instances for it"),
])
def test_gap_says_what_is_missing(policies, gap):
    assert watching.gap(policies, CONNECTOR) == gap


UPTIME = [
    {"name": "projects/p/uptimeCheckConfigs/front", "monitoredResource": {
        "type": "uptime_url", "labels": {"host": "staging.netrasystems.ai", "project_id": "p"}},
     "httpCheck": {"useSsl": True}},
    {"name": "projects/p/uptimeCheckConfigs/health", "monitoredResource": {
        "type": "uptime_url", "labels": {"host": "api-staging.netrasystems.ai", "project_id": "p"}},
     "httpCheck": {"path": "health", "useSsl": True}},
    {"name": "projects/p/uptimeCheckConfigs/plain", "monitoredResource": {
        "type": "uptime_url", "labels": {"host": "plain.netrasystems.ai", "project_id": "p"}},
     "httpCheck": {"path": "/"}},
    {"name": "projects/p/uptimeCheckConfigs/tcp", "monitoredResource": {
        "type": "uptime_url", "labels": {"host": "tcp.netrasystems.ai"}}, "tcpCheck": {"port": 443}},
]


@pytest.mark.parametrize("url, names", [
    ("https://staging.netrasystems.ai", ["front"]),  # no path is "/"
    ("https://staging.netrasystems.ai/", ["front"]),
    ("https://staging.netrasystems.ai/auth/health", []),  # another path of the same host
    ("https://api-staging.netrasystems.ai/health", ["health"]),  # the API prepends the missing "/"
    ("http://api-staging.netrasystems.ai/health", []),  # a plain-HTTP check does not probe the HTTPS URL
    ("https://plain.netrasystems.ai", []),
    ("http://plain.netrasystems.ai", ["plain"]),
    ("https://tcp.netrasystems.ai", []),  # a TCP check is not an HTTP one
])
def test_uptime_checks_match_host_path_and_scheme(url, names):
    assert [c["name"].rsplit("/", 1)[1] for c in watching.uptime_checks(UPTIME, url)] == names
