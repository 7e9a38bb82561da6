"""The fault matrix: each failure gcloud can meet, through the real gcloud, in one shared run.

Every row asserts what the user sees for the faulted check; the run as a whole
proves that the other checks were unaffected and that a hung gcloud (and its
children) was killed at --timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.contract.conftest import ROOT, environment, infracheck, leftover_processes
from tests.conftest import sigint_restored

pytestmark = pytest.mark.contract

P = "netra-staging"
SECRET = f"secretmanager.test/v1/projects/{P}/secrets/{{}}/versions/latest:access"
COMPUTE = f"compute.test/compute/v1/projects/{P}/aggregated/{{}}"
# Above Cloud SQL's ~28 s of 5xx retries plus gcloud's own start-up, so the 500 row shows gcloud's
# answer: at 40 s it timed out instead on this 2-core box under a load average of ~25.
TIMEOUT = 60

# route, fault, (rule, resource) of the finding, status, words in its message, words in its remedy
MATRIX = [
    (f"vpcaccess.test/v1/projects/{P}/locations/us-central1/connectors/staging-connector", "disabled",
     ("vpc.connector", "staging-connector"), "error", "API is disabled", "gcloud services enable vpcaccess.googleapis.com --project=netra-staging"),
    (f"sql.test/sql/v1beta4/projects/{P}/instances/netra-staging-db", "403",
     ("cloudsql.instance", "netra-staging-db"), "error", "not authorized", ""),
    (f"sql.test/sql/v1beta4/projects/{P}/operations", "500",
     ("cloudsql.operations", "netra-staging-db"), "error", "retry", ""),
    (SECRET.format("database-url"), "403",
     ("secrets.secret", "database-url"), "error", "permission denied", "roles/secretmanager.secretAccessor"),
    (SECRET.format("redis-url"), "429",
     ("secrets.secret", "redis-url"), "error", "retry", ""),
    (SECRET.format("openai-api-key"), "notjson",
     ("secrets.secret", "openai-api-key"), "error", "could not decode", ""),
    (SECRET.format("smtp-password"), "hang",
     ("secrets.secret", "smtp-password"), "error", f"timed out after {TIMEOUT} s", ""),
    (f"us-central1-run.test/apis/serving.knative.dev/v1/namespaces/{P}/services", "401",
     ("cloudrun.service", "netra-backend-staging"), "error", "gcloud auth login", "gcloud auth login"),
    (COMPUTE.format("sslCertificates"), "500",
     ("loadbalancer.certificate", "staging.netrasystems.ai"), "error", "retry", ""),
    (COMPUTE.format("healthChecks"), "403",
     ("loadbalancer.health-checks", "health checks"), "error", "permission denied", "roles/compute.viewer"),
    (COMPUTE.format("urlMaps"), "unreachable",
     ("loadbalancer.url-maps", "staging-https-lb"), "error", "some requests did not succeed", ""),
    ("logging.test/v2/entries:list", "403",
     ("logs.entries", "netra-backend-staging, auth-staging"), "error", "permission denied", "roles/logging.viewer"),
]
UNAFFECTED = [("secrets.min-length", "jwt-secret-staging"), ("secrets.cors-origins", "cors-allowed-origins"),
              ("secrets.postgres-url", "database-direct-url")]


@pytest.fixture(scope="module")
def faulted(fake, tmp_path_factory):
    fake.set_scenario(ROOT / "fixtures" / "api" / "healthy")
    fake.reset_log()
    for route, fault, *_ in MATRIX:
        fake.fault(route, fault)
    config = tmp_path_factory.mktemp("gcloud-config")
    try:
        # The load balancer named exactly: each row is a check's own command failing (a list that
        # discovery reads failing is its own could-not-check, tests/test_discovery.py).
        run = infracheck("diagnose", "--format", "json", "--exclude", "network*", "--timeout", str(TIMEOUT),
                         "--set", "url_map=staging-https-lb", env=environment(fake, config), timeout=TIMEOUT + 60)
        time.sleep(0.5)
        return run, leftover_processes(config)
    finally:
        fake.clear_faults()


@pytest.mark.parametrize("route,fault,target,status,words,remedy", MATRIX, ids=[f"{r[1]}:{r[2][0]}" for r in MATRIX])
def test_fault_matrix(faulted, route, fault, target, status, words, remedy):
    run, _ = faulted
    findings = {(f["rule"], f["resource"]): f for f in run.json()["findings"]}
    finding = findings[target]
    assert finding["status"] == status
    assert finding["severity"] is None
    assert words.lower() in finding["message"].lower()
    assert remedy in finding["remedy"]
    assert "\n" not in finding["message"] and "Traceback" not in finding["message"]


def test_fault_run_is_unknown_and_the_rest_unaffected(faulted):
    run, leftovers = faulted
    report = run.json()
    assert run.code == 3 and report["status"] == "UNKNOWN"
    statuses = {(f["rule"], f["resource"]): f["status"] for f in report["findings"]}
    for key in UNAFFECTED:
        assert statuses[key] == "pass"
    assert report["counts"]["critical"] == 0 and report["counts"]["warning"] == 0
    assert leftovers == [], "gcloud (or a child) survived its timeout"
    # Killed at --timeout, not after gcloud's own ~25 min of retries: the hung command's own
    # time says so; the whole run gets room for a loaded machine (no tight wall-clock bound).
    hung = next(c for c in report["commands"] if "--secret=smtp-password" in c["argv"])
    assert hung["error_kind"] == "timeout" and hung["duration_s"] < TIMEOUT + 15
    assert run.seconds < TIMEOUT + 120
    assert "Traceback" not in run.stderr


def test_missing_resources_are_findings_not_errors(api, gcloud_config):
    api.fault(f"sql.test/sql/v1beta4/projects/{P}/instances/netra-staging-db", "404")
    api.fault(SECRET.format("anthropic-api-key"), "404")
    run = infracheck("diagnose", "--format", "json", "--include", "cloudsql.*,secrets.*",
                     env=environment(api, gcloud_config))
    report = run.json()
    assert run.code == 2 and report["status"] == "CRITICAL"
    fails = {f["message"] for f in report["findings"] if f["status"] == "fail"}
    assert fails == {"Cloud SQL instance 'netra-staging-db' does not exist", "Secret 'anthropic-api-key' is missing"}
    assert report["counts"]["error"] == 0


def test_not_authenticated(api, gcloud_config):
    env = environment(api, gcloud_config)
    del env["CLOUDSDK_AUTH_ACCESS_TOKEN"]
    run = infracheck("diagnose", "--include", "vpc.*", "--color", "never", env=env)
    assert run.code == 3
    assert "Overall Status: UNKNOWN" in run.stdout and "gcloud auth login" in run.stdout
    assert not api.requests  # it never reached the API


def test_gcloud_not_on_path(api, gcloud_config, tmp_path):
    env = environment(api, gcloud_config, PATH=str(Path(sys.executable).parent))
    run = infracheck("diagnose", env=env)
    assert run.code == 3
    assert run.stderr.strip().splitlines() == [
        "infracheck: error: gcloud is not installed or not on PATH; install the Google Cloud CLI "
        "(https://cloud.google.com/sdk/docs/install) or use --replay DIR"]
    assert run.stdout == ""


def test_ctrl_c_stops_every_gcloud_and_prints_what_was_found(api, gcloud_config):
    api.fault("secretmanager.test/*", "hang")
    api.fault("sql.test/*", "hang")
    env = environment(api, gcloud_config)
    proc = subprocess.Popen([sys.executable, "-m", "infracheck", "diagnose", "--exclude", "network*",
                             "--timeout", "120", "--color", "never"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_restored)
    try:
        deadline = time.monotonic() + 60
        # Wait until the fast routes answered and gcloud hangs on the others.
        while time.monotonic() < deadline and api.in_flight < 3:
            time.sleep(0.2)
        assert api.in_flight >= 3
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert stopped < 5
    assert "INCOMPLETE" in out and "Overall Status:" in out
    # Healthy so far, but interrupted: never better than UNKNOWN, and the hung areas say so.
    assert "Overall Status: UNKNOWN" in out
    sql = next(block for block in out.split("\n\n") if "Cloud SQL" in block)
    assert "Not finished" in sql and "(no checks selected)" not in sql
    assert "Secret validation: 0/10 valid" in out
    assert "RE-RUN: the diagnosis was interrupted" in out
    assert "Traceback" not in err
    time.sleep(1.0)
    assert leftover_processes(gcloud_config) == []
