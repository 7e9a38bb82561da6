"""Every fixture matches the apitools message class gcloud decodes it into.

Two kinds of fixture are checked, in every scenario (found by globbing, so a
new scenario or file is covered without touching this file):

* ``fixtures/api/<scenario>/<host>/<path>.json``: REST bodies the fake API
  serves; the class comes from the route (host + path).
* ``fixtures/<scenario>/gcloud_*.json``: what gcloud printed; the class comes
  from the command in the file name, checked with ``--gcloud-output`` (a
  top-level list is checked element by element).

A fixture whose route or command has no rule below FAILS, so new fixtures
cannot skip the check; only the files in ``IGNORED_*`` are not schema-checked.
All the checks run in one gcloud-Python process (tests/tools/gcloud_schema.py --batch).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if shutil.which("gcloud") is None:
    pytest.skip("gcloud is not installed: schema checks against gcloud's message classes SKIPPED",
                allow_module_level=True)

from tests.tools import gcloud_schema  # noqa: E402

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
API = FIXTURES / "api"
CHECKER = Path(gcloud_schema.__file__).resolve()

SQL = "sqladmin.v1beta4.sqladmin_v1beta4_messages"
SECRETS = "secretmanager.v1.secretmanager_v1_messages"
RUN = "run.v1.run_v1_messages"
VPCACCESS = "vpcaccess.v1.vpcaccess_v1_messages"
COMPUTE = "compute.v1.compute_v1_messages"
LOGGING = "logging.v2.logging_v2_messages"
MONITORING = "monitoring.v3.monitoring_v3_messages"
CLOUDASSET = "cloudasset.v1.cloudasset_v1_messages"
RESOURCEMANAGER = "cloudresourcemanager.v1.cloudresourcemanager_v1_messages"

# Files that are not gcloud/API documents: probe results, recording metadata,
# scenario definitions, and the stderr/exit code of a failed command.
IGNORED_NAMES = frozenset({"recording.json", "scenario.toml", "fleet.toml"})  # fleet.toml: the demo targets file
IGNORED_SUFFIXES = (".stderr", ".exit")

_NAME = r"[^/]+"

# Compute aggregated list (REST, ``.../aggregated/<collection>``) -> its class.
AGGREGATED = {
    "urlMaps": "UrlMapsAggregatedList",
    "sslCertificates": "SslCertificateAggregatedList",
    "healthChecks": "HealthChecksAggregatedList",
    "backendServices": "BackendServiceAggregatedList",
    "networkEndpointGroups": "NetworkEndpointGroupAggregatedList",
    "subnetworks": "SubnetworkAggregatedList",
    "forwardingRules": "ForwardingRuleAggregatedList",
    "targetHttpsProxies": "TargetHttpsProxyAggregatedList",
}

# `gcloud compute <group> list|describe` -> the class of one element it prints.
COMPUTE_GROUPS = {
    "url-maps": "UrlMap",
    "ssl-certificates": "SslCertificate",
    "health-checks": "HealthCheck",
    "backend-services": "BackendService",
    "network-endpoint-groups": "NetworkEndpointGroup",
    "forwarding-rules": "ForwardingRule",
    "target-https-proxies": "TargetHttpsProxy",
    "networks": "Network",
    "networks_subnets": "Subnetwork",
}

# REST route (host + path, no ".json") -> message class. First match wins.
REST_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"vpcaccess\.test/v1/projects/{_NAME}/locations/{_NAME}/connectors/{_NAME}"),
     f"{VPCACCESS}:Connector"),
    (re.compile(rf"sql\.test/sql/v1beta4/projects/{_NAME}/instances/{_NAME}"), f"{SQL}:DatabaseInstance"),
    (re.compile(rf"sql\.test/sql/v1beta4/projects/{_NAME}/operations"), f"{SQL}:OperationsListResponse"),
    (re.compile(rf"secretmanager\.test/v1/projects/{_NAME}/secrets/{_NAME}/versions/{_NAME}:access"),
     f"{SECRETS}:AccessSecretVersionResponse"),
    (re.compile(rf"secretmanager\.test/v1/projects/{_NAME}/secrets"), f"{SECRETS}:ListSecretsResponse"),
    (re.compile(rf"secretmanager\.test/v1/projects/{_NAME}/secrets/[^/:]+"), f"{SECRETS}:Secret"),
    (re.compile(rf"(?:[a-z0-9-]+-)?run\.test/apis/serving\.knative\.dev/v1/namespaces/{_NAME}/services"),
     f"{RUN}:ListServicesResponse"),
    (re.compile(rf"(?:[a-z0-9-]+-)?run\.test/apis/serving\.knative\.dev/v1/namespaces/{_NAME}/services/{_NAME}"),
     f"{RUN}:Service"),
    (re.compile(rf"compute\.test/compute/v1/projects/{_NAME}/aggregated/(?P<aggregated>{'|'.join(AGGREGATED)})"),
     f"{COMPUTE}:{{aggregated}}"),
    (re.compile(rf"compute\.test/compute/v1/projects/{_NAME}/global/networks/{_NAME}"), f"{COMPUTE}:Network"),
    (re.compile(r"logging\.test/v2/entries:list"), f"{LOGGING}:ListLogEntriesResponse"),
    (re.compile(rf"monitoring\.test/v3/projects/{_NAME}/alertPolicies"), f"{MONITORING}:ListAlertPoliciesResponse"),
    (re.compile(rf"monitoring\.test/v3/projects/{_NAME}/uptimeCheckConfigs"),
     f"{MONITORING}:ListUptimeCheckConfigsResponse"),
    # discover (issue 21): the Cloud Asset search of a scope, and Resource Manager v1's project list.
    (re.compile(r"cloudasset\.test/v1/(?:organizations|folders|projects)/[^/:]+:searchAllResources"),
     f"{CLOUDASSET}:SearchAllResourcesResponse"),
    (re.compile(r"cloudresourcemanager\.test/v1/projects"), f"{RESOURCEMANAGER}:ListProjectsResponse"),
]

# Recorded file stem (``gcloud_<argv joined by _>``, see recording.name_for) -> class. First match wins.
_ARGS = r"(?:_.*)?"
COMMAND_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"gcloud_sql_instances_describe{_ARGS}"), f"{SQL}:DatabaseInstance"),
    (re.compile(rf"gcloud_sql_operations_list{_ARGS}"), f"{SQL}:Operation"),
    (re.compile(rf"gcloud_compute_networks_vpc-access_connectors_(?:describe|list){_ARGS}"), f"{VPCACCESS}:Connector"),
    (re.compile(rf"gcloud_compute_(?P<group>networks_subnets|{'|'.join(g for g in COMPUTE_GROUPS if '_' not in g)})"
                rf"_(?:list|describe){_ARGS}"),
     f"{COMPUTE}:{{group}}"),
    (re.compile(rf"gcloud_run_services_(?:list|describe){_ARGS}"), f"{RUN}:Service"),
    (re.compile(rf"gcloud_secrets_versions_access{_ARGS}"), f"{SECRETS}:AccessSecretVersionResponse"),
    (re.compile(rf"gcloud_secrets_(?:list|describe){_ARGS}"), f"{SECRETS}:Secret"),
    (re.compile(rf"gcloud_logging_read{_ARGS}"), f"{LOGGING}:LogEntry"),
    # infracheck's own Monitoring reads (metrics.py): the API's body, pages joined.
    (re.compile(rf"monitoring_timeseries{_ARGS}"), f"{MONITORING}:ListTimeSeriesResponse"),
    # The track (alpha in gcloud 528, GA later) is part of the recorded name (infracheck/runner/tracks.py).
    (re.compile(rf"gcloud_(?:alpha_|beta_)?monitoring_policies_list{_ARGS}"), f"{MONITORING}:AlertPolicy"),
    (re.compile(rf"gcloud_(?:alpha_|beta_)?monitoring_uptime_list-configs{_ARGS}"), f"{MONITORING}:UptimeCheckConfig"),
    (re.compile(rf"gcloud_asset_search-all-resources{_ARGS}"), f"{CLOUDASSET}:ResourceSearchResult"),
    (re.compile(rf"gcloud_projects_list{_ARGS}"), f"{RESOURCEMANAGER}:Project"),
]


def is_ignored(path: Path) -> bool:
    """Files that are not documents gcloud decodes: probes, metadata, a failed command's stderr/exit."""
    name = path.name
    # The fake's raw samples (tests/tools/fakemonitoring.py), not a body: the answers it computes from them are
    # checked against ListTimeSeriesResponse in tests/contract/test_capacity.py.
    if "monitoring.test" in path.parts and path.name == "timeSeries.json":
        return True
    return (name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)
            or (name.startswith("probe_") and name.endswith(".json")) or name.startswith("."))


def schema_for(path: Path) -> tuple[str, bool] | None:
    """(MODULE:CLASS, gcloud_output) for a fixture file, or None if no rule knows it."""
    rel = path.relative_to(FIXTURES)
    if rel.suffix != ".json":
        return None
    if rel.parts[0] == "api":
        if len(rel.parts) < 4:  # api/<scenario>/<host>/<path>.json
            return None
        text, rules, gcloud_output = "/".join(rel.parts[2:])[: -len(".json")], REST_RULES, False
        groups = {"aggregated": AGGREGATED}
    else:
        text, rules, gcloud_output = rel.stem, COMMAND_RULES, True
        groups = {"group": COMPUTE_GROUPS}
    for pattern, spec in rules:
        match = pattern.fullmatch(text)
        if match:
            names = {k: groups[k][v] for k, v in match.groupdict().items() if v is not None}
            return spec.format(**names), gcloud_output
    return None


def fixture_files() -> list[Path]:
    """Every file under fixtures/ that should be a gcloud/API document (all scenarios)."""
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not is_ignored(p))


FILES = fixture_files()
IDS = [p.relative_to(FIXTURES).as_posix() for p in FILES]

# Documents the checker must reject (or, with --gcloud-output, accept):
# (id, class, gcloud_output, document, expected problems as (path, kind, words in the detail)).
NEGATIVE: list[tuple[str, str, bool, Any, list[tuple[str, str, str]]]] = [
    ("sql-unknown-field", f"{SQL}:DatabaseInstance", False,
     {"name": "netra-staging-db", "state": "RUNNABLE", "maxConnections": 100},
     [("maxConnections", "unknown field", "'maxConnections' is not a field of DatabaseInstance")]),
    ("sql-bad-enum", f"{SQL}:DatabaseInstance", False,
     {"name": "netra-staging-db", "state": "RUNABLE"},
     [("state", "bad enum value", "'RUNABLE' not in StateValueValuesEnum")]),
    ("sql-did-you-mean", f"{SQL}:DatabaseInstance", False,
     {"settings": {"ipConfiguration": {"ipv4Enabled": True, "sslMod": "ENCRYPTED_ONLY"}}},
     [("settings.ipConfiguration.sslMod", "unknown field", "did you mean sslMode?")]),
    ("run-condition-capital-status", f"{RUN}:Service", False,
     {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
      "status": {"conditions": [{"type": "Ready", "Status": "True"}]}},
     [("status.conditions[0].Status", "unknown field", "did you mean status?")]),
    ("compute-bad-base64-in-list", f"{COMPUTE}:UrlMap", True,
     [{"name": "good", "fingerprint": "0KGxTl5QWFs="}, {"name": "bad", "fingerprint": "not base64!"}],
     [("[1].fingerprint", "wrong type", "BytesField")]),
    ("compute-bad-base64-in-aggregated", f"{COMPUTE}:UrlMapsAggregatedList", False,
     {"items": {"global": {"urlMaps": [{"name": "bad", "fingerprint": "abc"}]}}},
     [('items["global"].urlMaps[0].fingerprint', "wrong type", "BytesField")]),
    ("sql-stopped-raw", f"{SQL}:DatabaseInstance", False,
     {"state": "STOPPED"}, [("state", "bad enum value", "'STOPPED'")]),
    ("sql-stopped-gcloud-output", f"{SQL}:DatabaseInstance", True, {"state": "STOPPED"}, []),
    ("network-x-gcloud-raw", f"{COMPUTE}:Network", False,
     {"name": "default", "x_gcloud_subnet_mode": "CUSTOM"},
     [("x_gcloud_subnet_mode", "unknown field", "is not a field of Network")]),
    ("network-x-gcloud-gcloud-output", f"{COMPUTE}:Network", True,
     {"name": "default", "x_gcloud_subnet_mode": "CUSTOM", "x_gcloud_bgp_routing_mode": "REGIONAL"}, []),
    # gcloud adds x_gcloud_* keys at the top only; deeper down they are still errors.
    ("network-x-gcloud-nested", f"{COMPUTE}:Network", True,
     {"name": "default", "routingConfig": {"x_gcloud_mode": "REGIONAL"}},
     [("routingConfig.x_gcloud_mode", "unknown field", "is not a field of NetworkRoutingConfig")]),
]


def _describe(problems: list[dict[str, str]]) -> str:
    return "\n".join(f"  {p['path']}: {p['kind']}: {p['detail']}" for p in problems)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    """Every known fixture and every NEGATIVE document, checked in ONE batch process."""
    keys: list[str] = []
    requests: list[dict[str, Any]] = []
    for path, rel in zip(FILES, IDS):
        found = schema_for(path)
        if found is not None:
            keys.append(rel)
            requests.append({"class": found[0], "file": str(path), "gcloud_output": found[1]})
    for name, spec, gcloud_output, doc, _ in NEGATIVE:
        keys.append(f"negative:{name}")
        requests.append({"class": spec, "document": doc, "gcloud_output": gcloud_output})
    return dict(zip(keys, gcloud_schema.check_batch(requests)))


def test_fixtures_are_found() -> None:
    """The glob reaches both kinds of fixture, in more than one scenario."""
    assert any(i.startswith("api/") for i in IDS) and any(not i.startswith("api/") for i in IDS)
    assert len({i.split("/")[1] for i in IDS if i.startswith("api/")}) >= 2


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_fixture_matches_gcloud_schema(path: Path, results: dict[str, dict[str, Any]]) -> None:
    rel = path.relative_to(FIXTURES).as_posix()
    found = schema_for(path)
    if found is None:
        pytest.fail(f"{rel}: no message class is known for this fixture; add a rule to REST_RULES or "
                    f"COMMAND_RULES in tests/test_schema.py (or name it in IGNORED_* if gcloud never decodes it)",
                    pytrace=False)
    spec, gcloud_output = found
    answer = results[rel]
    if answer["error"]:
        pytest.fail(f"{rel}: not checked against {spec}: {answer['error']}", pytrace=False)
    if answer["problems"]:
        flag = " --gcloud-output" if gcloud_output else ""
        pytest.fail(f"{rel} does not match {spec}{flag} ({len(answer['problems'])} problem(s)):\n"
                    f"{_describe(answer['problems'])}", pytrace=False)


@pytest.mark.parametrize("name,spec,gcloud_output,doc,expected", NEGATIVE, ids=[n[0] for n in NEGATIVE])
def test_checker_verdicts(name: str, spec: str, gcloud_output: bool, doc: Any,
                          expected: list[tuple[str, str, str]], results: dict[str, dict[str, Any]]) -> None:
    answer = results[f"negative:{name}"]
    assert answer["error"] is None, answer["error"]
    got = answer["problems"]
    assert len(got) == len(expected), f"expected {expected}, got:\n{_describe(got)}"
    for (path, kind, words), problem in zip(expected, got):
        assert (problem["path"], problem["kind"]) == (path, kind), _describe(got)
        assert words in problem["detail"], _describe(got)


@pytest.mark.parametrize("rel,expected", [
    ("api/x/vpcaccess.test/v1/projects/p/locations/r/connectors/c.json", (f"{VPCACCESS}:Connector", False)),
    ("api/x/sql.test/sql/v1beta4/projects/p/instances/db.json", (f"{SQL}:DatabaseInstance", False)),
    ("api/x/sql.test/sql/v1beta4/projects/p/operations.json", (f"{SQL}:OperationsListResponse", False)),
    ("api/x/secretmanager.test/v1/projects/p/secrets.json", (f"{SECRETS}:ListSecretsResponse", False)),
    ("api/x/secretmanager.test/v1/projects/p/secrets/s.json", (f"{SECRETS}:Secret", False)),
    ("api/x/secretmanager.test/v1/projects/p/secrets/s/versions/latest:access.json",
     (f"{SECRETS}:AccessSecretVersionResponse", False)),
    ("api/x/us-central1-run.test/apis/serving.knative.dev/v1/namespaces/p/services.json",
     (f"{RUN}:ListServicesResponse", False)),
    ("api/x/run.test/apis/serving.knative.dev/v1/namespaces/p/services/s.json", (f"{RUN}:Service", False)),
    ("api/x/compute.test/compute/v1/projects/p/aggregated/backendServices.json",
     (f"{COMPUTE}:BackendServiceAggregatedList", False)),
    ("api/x/compute.test/compute/v1/projects/p/aggregated/networkEndpointGroups.json",
     (f"{COMPUTE}:NetworkEndpointGroupAggregatedList", False)),
    ("api/x/compute.test/compute/v1/projects/p/aggregated/forwardingRules.json",
     (f"{COMPUTE}:ForwardingRuleAggregatedList", False)),
    ("api/x/compute.test/compute/v1/projects/p/aggregated/targetHttpsProxies.json",
     (f"{COMPUTE}:TargetHttpsProxyAggregatedList", False)),
    ("x/gcloud_compute_target-https-proxies_list_--project=p.json", (f"{COMPUTE}:TargetHttpsProxy", True)),
    ("x/gcloud_compute_forwarding-rules_list_--project=p.json", (f"{COMPUTE}:ForwardingRule", True)),
    ("api/x/compute.test/compute/v1/projects/p/aggregated/subnetworks.json",
     (f"{COMPUTE}:SubnetworkAggregatedList", False)),
    ("api/x/compute.test/compute/v1/projects/p/global/networks/default.json", (f"{COMPUTE}:Network", False)),
    ("x/gcloud_compute_backend-services_list_--project=p.json", (f"{COMPUTE}:BackendService", True)),
    ("x/gcloud_compute_networks_subnets_list_--project=p.json", (f"{COMPUTE}:Subnetwork", True)),
    ("x/gcloud_compute_networks_describe_default_--project=p.json", (f"{COMPUTE}:Network", True)),
    ("x/gcloud_secrets_list_--project=p.json", (f"{SECRETS}:Secret", True)),
    # Unknown routes and commands get no class, so their test fails.
    ("api/x/compute.test/compute/v1/projects/p/aggregated/targetHttpProxies.json", None),
    ("api/x/sql.test/sql/v1beta4/projects/p/instances/db/users.json", None),
    ("api/x/secretmanager.test/v1/projects/p/secrets/s/versions/1.json", None),
    ("x/gcloud_compute_target-http-proxies_list_--project=p.json", None),
    ("x/gcloud_sql_instances_list_--project=p.json", None),
    ("x/gcloud_secrets_versions_list_s_--project=p.json", None),
    ("x/notes.txt", None),
])
def test_schema_for(rel: str, expected: tuple[str, bool] | None) -> None:
    assert schema_for(FIXTURES / rel) == expected


def test_ignored_files() -> None:
    for name in ("probe_dns_example.com.json", "recording.json", "scenario.toml", "gcloud_x.stderr", "gcloud_x.exit"):
        assert is_ignored(FIXTURES / "x" / name)
    assert not is_ignored(FIXTURES / "x" / "gcloud_secrets_list_--project=p.json")
    assert not is_ignored(FIXTURES / "x" / "notes.txt")


def test_cli_several_files(tmp_path: Path) -> None:
    """The CLI checks several files in one run: OK lines, problem lines, and the exit status."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "db", "state": "RUNABLE", "settings": {"tier": "db-f1-micro", "tierr": "x"}}))
    good = next(p for p, i in zip(FILES, IDS) if i.startswith("api/") and "/instances/" in i)
    proc = subprocess.run([sys.executable, str(CHECKER), f"{SQL}:DatabaseInstance", str(good), str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{good}: OK (1 document(s) match DatabaseInstance)"
    assert f"{bad}: state: bad enum value: 'RUNABLE' not in StateValueValuesEnum" in proc.stdout
    assert f"{bad}: settings.tierr: unknown field: 'tierr' is not a field of Settings; did you mean tier?" in proc.stdout
    assert lines[-1] == f"{bad}: 2 problem(s) against DatabaseInstance"
