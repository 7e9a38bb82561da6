"""Unit tests for the fake Google API proxy (tests/tools/fakeapi.py), plus one real-gcloud check."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:  # tests/ is a rootdir-less folder today; keep working if it becomes a package.
    from tests.tools.fakeapi import PROJECT_NUMBER, FakeGoogleAPI, ProjectModel, crc32c, project_number
except ImportError:  # pragma: no cover - depends on how pytest put tests/ on sys.path
    from fakeapi import PROJECT_NUMBER, FakeGoogleAPI, ProjectModel, crc32c, project_number  # type: ignore[no-redef]

FAKEAPI = Path(__file__).resolve().parent / "fakeapi.py"

SQL = "sql.test/sql/v1beta4/projects/p/instances/db"
RUN_LIST = "us-central1-run.test/apis/serving.knative.dev/v1/namespaces/p/services"
SECRET = "secretmanager.test/v1/projects/p/secrets/s1/versions/latest:access"
VPC = "vpcaccess.test/v1/projects/p/locations/us-central1/connectors/c1"
NETWORK = "compute.test/compute/v1/projects/p/global/networks/vpc1"
URLMAPS = "compute.test/compute/v1/projects/p/aggregated/urlMaps"

URLMAPS_BODY = {
    "kind": "compute#urlMapsAggregatedList",
    "id": "projects/p/aggregated/urlMaps",
    "items": {"global": {"urlMaps": [{"name": "lb"}]}},
}


def write(scenario: Path, route: str, body: Any) -> None:
    """Write a REST body file for a route into a scenario dir."""
    file = scenario / f"{route}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(body), encoding="utf-8")


def request(
    api: FakeGoogleAPI,
    route: str,
    method: str = "GET",
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, str, bytes]:
    """Send one absolute-URI request through the proxy; return (status, content-type, body)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        conn.request(method, f"http://{route}?alt=json", body=body, headers={"User-Agent": "unit-test"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        if own:
            conn.close()


def get_json(api: FakeGoogleAPI, route: str) -> tuple[int, Any]:
    """GET a route and decode its JSON body."""
    status, _, raw = request(api, route)
    return status, json.loads(raw)


@pytest.fixture()
def scenarios(tmp_path: Path) -> Path:
    """A fixtures root with a "healthy" scenario holding one body per fake host."""
    root = tmp_path / "api"
    healthy = root / "healthy"
    write(healthy, SQL, {"name": "db", "state": "RUNNABLE"})
    write(healthy, RUN_LIST, {"items": [{"metadata": {"name": "backend"}}]})
    write(healthy, SECRET, {"name": "projects/1/secrets/s1/versions/2", "payload": {"data": "aGVsbG8="}})
    write(healthy, VPC, {"name": "projects/p/locations/us-central1/connectors/c1", "state": "READY"})
    write(healthy, NETWORK, {"name": "vpc1"})
    write(healthy, URLMAPS, URLMAPS_BODY)
    return root


@pytest.fixture()
def api(scenarios: Path) -> Iterator[FakeGoogleAPI]:
    """A started fake serving the "healthy" tmp scenario."""
    with FakeGoogleAPI(scenarios / "healthy", fixtures_root=scenarios) as fake:
        yield fake


def test_body_served_and_logged(api: FakeGoogleAPI) -> None:
    """A scenario file is served as JSON and the request is logged with its parts."""
    status, ctype, raw = request(api, SQL)
    assert (status, json.loads(raw)) == (200, {"name": "db", "state": "RUNNABLE"})
    assert ctype.startswith("application/json")
    [rec] = api.requests
    assert (rec.method, rec.host, rec.path, rec.query) == ("GET", "sql.test", "/" + SQL.split("/", 1)[1], "alt=json")
    assert rec.user_agent == "unit-test" and rec.route == SQL and rec.status == 200
    assert rec.finished is not None and rec.finished >= rec.started
    assert rec.params == {"alt": ["json"]}
    assert api.mutations == [] and api.in_flight == 0


def test_keep_alive_serves_several_requests_on_one_connection(api: FakeGoogleAPI) -> None:
    """Content-Length is exact, so one HTTP/1.1 connection carries many requests."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        for route in (SQL, VPC, "sql.test/nothing/here", SQL):
            status, _, _ = request(api, route, conn=conn)
            assert status in (200, 404)
    finally:
        conn.close()
    assert len(api.requests) == 4


def test_base_chain_overrides_and_faults(scenarios: Path) -> None:
    """A child scenario overrides files, inherits the rest and the faults, and can cancel one."""
    (scenarios / "healthy" / "scenario.toml").write_text(f'[faults]\n"{NETWORK}" = "403"\n"{VPC}" = "500"\n')
    mid = scenarios / "mid"
    write(mid, SQL, {"name": "db", "state": "MAINTENANCE"})
    (mid / "scenario.toml").write_text(f'base = "healthy"\n[faults]\n"{VPC}" = "none"\n')
    leaf = scenarios / "leaf"
    leaf.mkdir()
    (leaf / "scenario.toml").write_text('base = "mid"\n')
    with FakeGoogleAPI(leaf, fixtures_root=scenarios) as fake:
        assert get_json(fake, SQL)[1]["state"] == "MAINTENANCE"  # from mid
        assert get_json(fake, VPC) == (200, {"name": "projects/p/locations/us-central1/connectors/c1", "state": "READY"})
        assert get_json(fake, NETWORK)[0] == 403  # inherited from healthy
        fake.set_body(SQL, {"name": "db", "state": "FAILED"})  # runtime wins over files
        assert get_json(fake, SQL)[1]["state"] == "FAILED"
        fake.set_scenario("healthy")  # a name resolves under fixtures_root
        assert get_json(fake, VPC)[0] == 500


def test_base_cycle_is_rejected(scenarios: Path) -> None:
    """A base chain that loops is a fixture bug, reported when the scenario is set."""
    (scenarios / "healthy" / "scenario.toml").write_text('base = "healthy"\n')
    with pytest.raises(ValueError, match="cycle"):
        FakeGoogleAPI(scenarios / "healthy")


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (
            "sql.test/sql/v1beta4/projects/p/instances/gone",
            {
                "code": 404,
                "message": "The Cloud SQL instance does not exist.",
                "errors": [
                    {
                        "message": "The Cloud SQL instance does not exist.",
                        "domain": "global",
                        "reason": "instanceDoesNotExist",
                    }
                ],
            },
        ),
        (
            "compute.test/compute/v1/projects/p/global/networks/gone",
            {
                "code": 404,
                "message": "The resource 'projects/p/global/networks/gone' was not found",
                "errors": [
                    {
                        "message": "The resource 'projects/p/global/networks/gone' was not found",
                        "domain": "global",
                        "reason": "notFound",
                    }
                ],
            },
        ),
        (
            "secretmanager.test/v1/projects/p/secrets/gone/versions/latest:access",
            {
                "code": 404,
                "message": f"Secret [projects/{PROJECT_NUMBER}/secrets/gone] not found or has no versions.",
                "status": "NOT_FOUND",
            },
        ),
        (
            "us-central1-run.test/apis/serving.knative.dev/v1/namespaces/p/services/gone",
            {
                "code": 404,
                "message": "Resource 'namespaces/p/services/gone' was not found",
                "status": "NOT_FOUND",
            },
        ),
        (
            "vpcaccess.test/v1/projects/p/locations/us-central1/connectors/gone",
            {
                "code": 404,
                "message": "Resource 'projects/p/locations/us-central1/connectors/gone' was not found",
                "status": "NOT_FOUND",
            },
        ),
    ],
)
def test_missing_file_is_404_in_api_style(api: FakeGoogleAPI, route: str, expected: dict[str, Any]) -> None:
    """No file anywhere answers 404 the way that API does (Cloud SQL has no "status")."""
    assert get_json(api, route) == (404, {"error": expected})


def test_404_fault_matches_missing_file(api: FakeGoogleAPI) -> None:
    """The "404" fault hides an existing body behind the same answer as a missing file."""
    api.fault(SQL, "404")
    status, body = get_json(api, SQL)
    assert status == 404 and body["error"]["errors"][0]["reason"] == "instanceDoesNotExist"


@pytest.mark.parametrize(
    ("fault", "route", "code", "status", "fragment"),
    [
        ("403", SECRET, 403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied on resource"),
        ("403", SQL, 403, "PERMISSION_DENIED", "(or it may not exist)."),
        ("disabled", VPC, 403, "PERMISSION_DENIED", "Serverless VPC Access API has not been used in project"),
        ("401", RUN_LIST, 401, "UNAUTHENTICATED", "invalid authentication credentials"),
        ("429", SQL, 429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
        ("500", SQL, 500, "INTERNAL", "Internal error"),
        ("503", NETWORK, 503, "UNAVAILABLE", "unavailable"),
    ],
)
def test_error_faults(api: FakeGoogleAPI, fault: str, route: str, code: int, status: str, fragment: str) -> None:
    """Each error fault answers its HTTP code with a Google JSON error body."""
    api.fault(route, fault)
    http_status, body = get_json(api, route)
    assert http_status == code
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert fragment in body["error"]["message"]


@pytest.mark.parametrize(
    ("route", "service"),
    [(SQL, "sqladmin"), (RUN_LIST, "run"), (SECRET, "secretmanager"), (VPC, "vpcaccess"), (URLMAPS, "compute")],
)
def test_disabled_names_the_service(api: FakeGoogleAPI, route: str, service: str) -> None:
    """SERVICE_DISABLED carries ErrorInfo with the host's googleapis.com service."""
    api.fault(route, "disabled")
    _, body = get_json(api, route)
    [info] = body["error"]["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (info["reason"], info["domain"]) == ("SERVICE_DISABLED", "googleapis.com")
    assert info["metadata"] == {"service": f"{service}.googleapis.com", "consumer": f"projects/{PROJECT_NUMBER}"}
    assert f"apis/api/{service}.googleapis.com/overview?project={PROJECT_NUMBER} then retry." in body["error"]["message"]


def test_notjson_fault(api: FakeGoogleAPI) -> None:
    """"notjson" answers 200 with an HTML page."""
    api.fault(SQL, "notjson")
    status, ctype, raw = request(api, SQL)
    assert (status, raw) == (200, b"<html>oops</html>") and ctype.startswith("text/html")


def test_unreachable_fault_keeps_items_and_adds_warning(api: FakeGoogleAPI) -> None:
    """"unreachable" keeps the aggregated body and adds a scope with warning UNREACHABLE."""
    api.fault(URLMAPS, "unreachable")
    status, body = get_json(api, URLMAPS)
    assert status == 200 and body["items"]["global"] == URLMAPS_BODY["items"]["global"]
    warnings = [scope["warning"]["code"] for scope in body["items"].values() if "warning" in scope]
    assert warnings == ["UNREACHABLE"]
    with pytest.raises(ValueError):
        api.fault(SQL, "unreachable")  # only aggregated lists have scopes
    with pytest.raises(ValueError):
        api.fault(SQL, "teapot")


def test_glob_faults_and_clear(api: FakeGoogleAPI) -> None:
    """A "*" route faults a whole host; clear_faults() restores the scenario."""
    api.fault("sql.test/*", "503")
    assert get_json(api, SQL)[0] == 503 and get_json(api, VPC)[0] == 200
    api.clear_faults()
    assert get_json(api, SQL)[0] == 200


def test_a_fault_for_the_first_requests_only(api: FakeGoogleAPI) -> None:
    """fault_first: the first N requests matching the glob get the fault, then the bodies come back."""
    api.fault_first("sql.test/*", "429", 2)
    assert get_json(api, SQL)[0] == 429 and get_json(api, VPC)[0] == 200 and get_json(api, SQL)[0] == 429
    assert get_json(api, SQL)[0] == 200 and get_json(api, SQL)[0] == 200


def test_crc32c_check_value() -> None:
    """CRC-32C matches the standard check value."""
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_crc_added_to_secret_payload(api: FakeGoogleAPI) -> None:
    """A served payload without dataCrc32c gets the decimal CRC of the decoded bytes."""
    _, body = get_json(api, SECRET)
    assert body["payload"] == {"data": "aGVsbG8=", "dataCrc32c": str(crc32c(b"hello"))}
    api.set_body(SECRET, {"name": "x", "payload": {"data": "aGVsbG8=", "dataCrc32c": "7"}})
    assert get_json(api, SECRET)[1]["payload"]["dataCrc32c"] == "7"  # a fixture's own CRC is kept


def test_set_secret(api: FakeGoogleAPI) -> None:
    """set_secret() serves the access body (CRC added) and a describe body."""
    value = "s3cr\u00e9t??>>"  # '?' and '>' make '/' and '+' in standard base64
    api.set_secret("p", "canary", value)
    _, body = get_json(api, "secretmanager.test/v1/projects/p/secrets/canary/versions/latest:access")
    raw = base64.b64decode(body["payload"]["data"])
    assert raw.decode("utf-8") == value and body["payload"]["dataCrc32c"] == str(crc32c(raw))
    assert get_json(api, "secretmanager.test/v1/projects/p/secrets/canary") == (
        200,
        {
            "name": f"projects/{PROJECT_NUMBER}/secrets/canary",
            "replication": {"automatic": {}},
            "createTime": "2025-01-01T00:00:00.000000Z",
            "etag": '"fakeapi1"',
        },
    )


def test_hang_blocks_neither_others_nor_stop(scenarios: Path) -> None:
    """A hanging request stays in flight, other requests are answered, and stop() is prompt."""
    fake = FakeGoogleAPI(scenarios / "healthy").start()
    fake.fault(SQL, "hang")
    outcome: list[BaseException | int] = []

    def hang() -> None:
        """Wait for an answer that never comes."""
        try:
            outcome.append(request(fake, SQL)[0])
        except BaseException as exc:  # noqa: BLE001 - the failure itself is the result
            outcome.append(exc)

    worker = threading.Thread(target=hang, daemon=True)
    worker.start()
    deadline = time.monotonic() + 2
    while fake.in_flight < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.in_flight == 1
    assert get_json(fake, VPC)[0] == 200
    assert fake.requests[0].finished is None  # still hanging, but already logged
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2.0
    worker.join(2)
    assert not worker.is_alive() and isinstance(outcome[0], Exception)  # closed without an answer
    assert fake.requests[0].status is None and fake.requests[0].finished is not None


def test_latency(api: FakeGoogleAPI) -> None:
    """Latency delays every answer."""
    api.latency = 0.3
    started = time.monotonic()
    assert get_json(api, SQL)[0] == 200
    assert time.monotonic() - started >= 0.3


def test_max_in_flight_counts_concurrent_requests(api: FakeGoogleAPI) -> None:
    """Concurrent requests are handled in parallel and max_in_flight records the peak."""
    api.latency = 0.3
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(request(api, SQL)[0])) for _ in range(5)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [200] * 5
    assert time.monotonic() - started < 1.2  # parallel, not 5 x 0.3 s
    assert api.max_in_flight == 5 and api.in_flight == 0
    api.reset_log()
    assert api.requests == [] and api.max_in_flight == 0


def test_non_get_is_refused_and_logged(api: FakeGoogleAPI) -> None:
    """POST/PATCH/DELETE get 405, land in mutations, and keep the connection usable."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        assert request(api, SQL, "PATCH", b'{"settings":{}}', conn=conn)[0] == 405
        assert request(api, SQL, "DELETE", conn=conn)[0] == 405
        assert request(api, SQL, conn=conn)[0] == 200  # body was drained, stream still in sync
    finally:
        conn.close()
    assert [(m.method, m.route, m.status) for m in api.mutations] == [("PATCH", SQL, 405), ("DELETE", SQL, 405)]


def test_a_read_only_post_is_served_and_not_a_mutation(api: FakeGoogleAPI) -> None:
    """entries:list is a POST that only reads: answered from its body file, its query kept; other POSTs stay 405."""
    entries = "logging.test/v2/entries:list"
    api.set_body(entries, {"entries": [{"logName": "projects/p/logs/x", "severity": "ERROR"}]})
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        status, _, body = request(api, entries, "POST", b'{"filter": "severity>=ERROR"}', conn=conn)
        assert status == 200 and json.loads(body)["entries"][0]["severity"] == "ERROR"
        assert request(api, "logging.test/v2/entries:write", "POST", b"{}", conn=conn)[0] == 405
        assert request(api, SQL, conn=conn)[0] == 200  # both bodies were read: the stream is in sync
    finally:
        conn.close()
    [read] = [r for r in api.requests if r.route == entries]
    assert read.reads and json.loads(read.body) == {"filter": "severity>=ERROR"}
    assert [(m.method, m.route) for m in api.mutations] == [("POST", "logging.test/v2/entries:write")]


def test_the_recipes_creations_are_refused_twice_and_grants_need_the_resource(api: FakeGoogleAPI) -> None:
    """As GCP answers: a second job of one name is 409 ALREADY_EXISTS, a grant on a job that is not there 404."""
    jobs = "us-central1-run.test/apis/run.googleapis.com/v1/namespaces/p/jobs"
    grant = "run.test/v1/projects/p/locations/us-central1/jobs/j:setIamPolicy"
    job = json.dumps({"apiVersion": "run.googleapis.com/v1", "kind": "Job", "metadata": {"name": "j"}}).encode()
    policy = json.dumps({"policy": {"bindings": [{"role": "roles/run.invoker", "members": ["user:a@b.c"]}]}}).encode()
    assert request(api, jobs, "POST", job)[0] == 405  # not in fix mode: a diagnosis must not create
    api.allow_fixes()
    assert request(api, grant, "POST", policy)[0] == 404
    assert request(api, jobs, "POST", job)[0] == 200
    status, _, body = request(api, jobs, "POST", job)
    assert status == 409 and json.loads(body)["error"]["status"] == "ALREADY_EXISTS"
    assert request(api, grant, "POST", policy)[0] == 200
    status, read = get_json(api, grant.replace(":setIamPolicy", ":getIamPolicy"))
    assert status == 200 and read["bindings"] == [{"role": "roles/run.invoker", "members": ["user:a@b.c"]}]
    assert [c.status for c in api.changes] == [404, 200, 409, 200]


def test_env_points_gcloud_here(api: FakeGoogleAPI, tmp_path: Path) -> None:
    """env() holds exactly the gcloud settings, none of os.environ."""
    env = api.env(tmp_path)
    assert env["CLOUDSDK_PROXY_PORT"] == str(api.port) and env["CLOUDSDK_CONFIG"] == str(tmp_path)
    assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] == "http://compute.test/compute/v1/"
    assert set(env) == {
        "CLOUDSDK_CONFIG",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
        "CLOUDSDK_CORE_DISABLE_PROMPTS",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK",
        "CLOUDSDK_CORE_DISABLE_FILE_LOGGING",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_SQL",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_VPCACCESS",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDASSET",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE",
        "CLOUDSDK_PROXY_TYPE",
        "CLOUDSDK_PROXY_ADDRESS",
        "CLOUDSDK_PROXY_PORT",
    }


@contextlib.contextmanager
def _script(*args: str) -> Iterator[http.client.HTTPConnection]:
    """The standalone script started with `args`: a connection to the port it printed first. It must exit 0
    on SIGTERM when the block ends; it is killed whatever happens."""
    proc = subprocess.Popen([sys.executable, str(FAKEAPI), *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("port=")
        conn = http.client.HTTPConnection("127.0.0.1", int(line.removeprefix("port=")), timeout=5)
        yield conn
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_prints_port_and_stops_on_sigterm(scenarios: Path) -> None:
    """The standalone script prints port=N first, serves, and exits 0 on SIGTERM."""
    with _script("--scenario", str(scenarios / "healthy"), "--latency", "0") as conn:
        conn.request("GET", f"http://{SQL}?alt=json")
        assert conn.getresponse().status == 200


# --------------------------------------------------------------------------- several projects, one model each

FLEET_SQL = "sql.test/sql/v1beta4/projects/{}/instances/p-db"
FLEET_VPC = "vpcaccess.test/v1/projects/{}/locations/{}/connectors/c1"
# A body as GCP writes it for project p (number PROJECT_NUMBER) in us-central1; p-db merely starts with "p".
FLEET_SQL_BODY = {
    "name": "p-db",
    "project": "p",
    "connectionName": "p:us-central1:p-db",
    "gceZone": "us-central1-a",
    "selfLink": "https://sqladmin.googleapis.com/sql/v1beta4/projects/p/instances/p-db",
    "serviceAccountEmailAddress": f"p{PROJECT_NUMBER}-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com",
}


@pytest.fixture()
def fleet(scenarios: Path) -> Path:
    """The tmp fixtures root plus "broken": healthy but for p-db, which is denied."""
    write(scenarios / "healthy", FLEET_SQL.format("p"), FLEET_SQL_BODY)
    broken = scenarios / "broken"
    broken.mkdir()
    (broken / "scenario.toml").write_text(f'base = "healthy"\n[faults]\n"{FLEET_SQL.format("p")}" = "403"\n')
    return scenarios


def test_each_project_answers_as_its_own_model(fleet: Path) -> None:
    """Two projects on one fake: each reads its own scenario, renamed to its own id and number."""
    with FakeGoogleAPI(fixtures_root=fleet, projects={"prod": "healthy", "dev": "broken"}) as fake:
        assert get_json(fake, FLEET_SQL.format("prod")) == (200, {
            "name": "p-db",
            "project": "prod",
            "connectionName": "prod:us-central1:p-db",
            "gceZone": "us-central1-a",
            "selfLink": "https://sqladmin.googleapis.com/sql/v1beta4/projects/prod/instances/p-db",
            "serviceAccountEmailAddress": f"p{project_number('prod')}-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com",
        })
        status, body = get_json(fake, FLEET_SQL.format("dev"))
        assert status == 403  # broken's own fault, written for p's route, hits dev's
        assert "resource 'projects/dev/instances/p-db'" in body["error"]["message"]
        assert get_json(fake, FLEET_VPC.format("dev", "us-central1")) == (
            200, {"name": "projects/dev/locations/us-central1/connectors/c1", "state": "READY"})
        # The log keeps what the client sent.
        assert [r.route for r in fake.requests] == [FLEET_SQL.format("prod"), FLEET_SQL.format("dev"),
                                                    FLEET_VPC.format("dev", "us-central1")]


def test_a_project_in_no_map_is_missing(fleet: Path) -> None:
    """Any other project, the scenario's own included, answers as a project that does not exist."""
    with FakeGoogleAPI(fleet / "healthy", fixtures_root=fleet, projects={"prod": "healthy"}) as fake:
        for project in ("other", "p"):
            status, body = get_json(fake, URLMAPS.replace("/p/", f"/{project}/"))
            assert (status, body["error"]["message"]) == (404, f"The resource 'projects/{project}' was not found")
            status, body = get_json(fake, FLEET_SQL.format(project))
            assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED")
        fake.set_projects(None)  # back to one scenario for any project it holds
        assert get_json(fake, FLEET_SQL.format("p"))[1] == FLEET_SQL_BODY


def test_a_declared_region_is_the_projects_own(fleet: Path) -> None:
    """A us-west1 project served by a us-central1 scenario: found in us-west1 only, and answers say us-west1."""
    with FakeGoogleAPI(fixtures_root=fleet, projects={"west": ProjectModel("healthy", "us-west1")}) as fake:
        assert get_json(fake, FLEET_VPC.format("west", "us-west1")) == (
            200, {"name": "projects/west/locations/us-west1/connectors/c1", "state": "READY"})
        assert get_json(fake, FLEET_VPC.format("west", "us-central1"))[0] == 404
        body = get_json(fake, FLEET_SQL.format("west"))[1]
        assert (body["connectionName"], body["gceZone"]) == ("west:us-west1:p-db", "us-west1-a")
        status, _, raw = request(fake, RUN_LIST.replace("us-central1", "us-west1").replace("/p/", "/west/"))
        assert (status, json.loads(raw)) == (200, {"items": [{"metadata": {"name": "backend"}}]})


def test_runtime_state_is_per_project(fleet: Path) -> None:
    """Runtime faults and bodies are keyed by the client's route: one project's, not its scenario's."""
    with FakeGoogleAPI(fixtures_root=fleet, projects={"a": "healthy", "b": "healthy"}) as fake:
        fake.fault(FLEET_SQL.format("a"), "500")
        fake.set_secret("b", "s2", "v")
        assert get_json(fake, FLEET_SQL.format("a"))[0] == 500
        assert get_json(fake, FLEET_SQL.format("b"))[1]["project"] == "b"
        secret = get_json(fake, "secretmanager.test/v1/projects/b/secrets/s2")[1]
        assert secret["name"] == f"projects/{project_number('b')}/secrets/s2"
        assert get_json(fake, "secretmanager.test/v1/projects/a/secrets/s2")[0] == 404


def test_project_numbers_are_distinct_and_stable() -> None:
    """The fixtures' project keeps PROJECT_NUMBER; every other id has its own 12-digit number."""
    assert project_number("netra-staging") == PROJECT_NUMBER
    numbers = {project_number(f"netra-fleet-{i:02d}") for i in range(1, 101)} | {PROJECT_NUMBER}
    assert len(numbers) == 101 and all(len(n) == 12 and n.isdigit() for n in numbers)
    assert project_number("netra-prod") == project_number("netra-prod")


def test_monitoring_and_logging_read_their_projects_model() -> None:
    """The timeSeries filter and the logging body name the project; both are read in the scenario's names."""
    query = "&".join(f"{k}={v}" for k, v in {
        "filter": 'metric.type%3D%22vpcaccess.googleapis.com%2Fconnector%2Finstances%22%20AND%20'
                  'resource.labels.project_id%3D%22{}%22',
        "interval.endTime": "2026-11-27T00%3A00%3A00Z",
    }.items())
    with FakeGoogleAPI(projects={"netra-prod": ProjectModel("healthy", "us-west1")}) as fake:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        conn.request("GET", "http://monitoring.test/v3/projects/netra-prod/timeSeries?" + query.format("netra-prod"))
        series = json.loads(conn.getresponse().read())["timeSeries"]
        assert {s["resource"]["labels"]["project_id"] for s in series} == {"netra-prod"}
        assert {s["resource"]["labels"]["location"] for s in series} == {"us-west1"}
        conn.request("GET", "http://monitoring.test/v3/projects/netra-prod/timeSeries?" + query.format("netra-staging"))
        assert "timeSeries" not in json.loads(conn.getresponse().read())  # another project's series
        for project, code in (("netra-prod", 200), ("netra-gone", 403)):
            conn.request("POST", "http://logging.test/v2/entries:list",
                         body=json.dumps({"resourceNames": [f"projects/{project}"]}).encode())
            resp = conn.getresponse()
            resp.read()
            assert resp.status == code
        conn.close()


def test_a_scenario_of_two_projects_is_no_model(fleet: Path) -> None:
    """Which project a two-project scenario stands for is ambiguous: said at once, not at the first request."""
    write(fleet / "healthy", FLEET_SQL.format("q"), FLEET_SQL_BODY)
    with pytest.raises(ValueError, match=r"holds several projects \(p, q\)"):
        FakeGoogleAPI(fixtures_root=fleet, projects={"prod": "healthy"})


def test_cli_serves_projects(fleet: Path) -> None:
    """--project NAME=SCENARIO[@REGION], repeatable; a malformed one is a one-line usage error."""
    with _script("--fixtures-root", str(fleet), "--project", "west=healthy@us-west1",
                 "--project", "dev=broken") as conn:
        for route, code in ((FLEET_VPC.format("west", "us-west1"), 200), (FLEET_SQL.format("dev"), 403),
                            (FLEET_SQL.format("p"), 403)):
            conn.request("GET", f"http://{route}?alt=json")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == code, route
    bad = subprocess.run([sys.executable, str(FAKEAPI), "--project", "west"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].endswith("--project west: expected NAME=SCENARIO[@REGION], each NAME once")


@pytest.mark.contract
def test_real_gcloud_accepts_the_crc(api: FakeGoogleAPI, tmp_path: Path) -> None:
    """The real gcloud reads a set_secret value back, which it only does if the CRC32C is right."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("REAL GCLOUD NOT ON PATH: the fake's CRC32C was not checked against gcloud")
    value = "canary-\u00e9??>>-value"
    api.set_secret("netra-staging", "canary", value)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **api.env(tmp_path / "gcloud")}
    proc = subprocess.run(
        [gcloud, "secrets", "versions", "access", "latest", "--secret=canary", "--project=netra-staging", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)["payload"]
    assert base64.urlsafe_b64decode(payload["data"]).decode("utf-8") == value
    assert payload["dataCrc32c"] == str(crc32c(value.encode("utf-8")))
    [rec] = api.requests
    assert rec.route == "secretmanager.test/v1/projects/netra-staging/secrets/canary/versions/latest:access"
    assert "gcloud.secrets.versions.access" in rec.user_agent and api.mutations == []


@pytest.mark.contract
def test_real_gcloud_reads_two_projects_from_one_fake_at_once(tmp_path: Path) -> None:
    """Real gcloud, three commands side by side: a us-west1 project served by healthy, a denied one."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("REAL GCLOUD NOT ON PATH: two projects on one fake were not checked against gcloud")
    projects = {"netra-prod": ProjectModel("healthy", "us-west1"), "netra-dev": ProjectModel("denied")}
    commands = {
        "prod-sql": ["sql", "instances", "describe", "netra-staging-db", "--project=netra-prod"],
        "prod-run": ["run", "services", "list", "--region=us-west1", "--project=netra-prod"],
        "dev-sql": ["sql", "instances", "describe", "netra-staging-db", "--project=netra-dev"],
    }
    with FakeGoogleAPI(projects=projects) as fake:
        procs = {}
        for name, argv in commands.items():
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **fake.env(tmp_path / name)}
            procs[name] = subprocess.Popen([gcloud, *argv, "--format=json"], env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
        outputs = {name: proc.communicate(timeout=90) for name, proc in procs.items()}
        done = {name: (procs[name].returncode, *outputs[name]) for name in procs}
        routes = {r.route for r in fake.requests}
    assert routes == {"sql.test/sql/v1beta4/projects/netra-prod/instances/netra-staging-db",
                      "us-west1-run.test/apis/serving.knative.dev/v1/namespaces/netra-prod/services",
                      "sql.test/sql/v1beta4/projects/netra-dev/instances/netra-staging-db"}
    code, out, err = done["prod-sql"]
    assert code == 0, err
    sql = json.loads(out)
    assert (sql["project"], sql["region"], sql["connectionName"], sql["state"]) == (
        "netra-prod", "us-west1", "netra-prod:us-west1:netra-staging-db", "RUNNABLE")
    code, out, err = done["prod-run"]
    assert code == 0, err
    services = json.loads(out)
    assert {"netra-backend-staging", "auth-staging"} <= {s["metadata"]["name"] for s in services}
    assert {s["metadata"]["namespace"] for s in services} == {project_number("netra-prod")}
    assert {s["metadata"]["labels"]["cloud.googleapis.com/location"] for s in services} == {"us-west1"}
    code, out, err = done["dev-sql"]
    assert code == 1 and out == ""
    # gcloud's own words for Cloud SQL's 403 (denied scenario's "*" = "403"), naming dev's instance.
    assert err.strip() == ("ERROR: (gcloud.sql.instances.describe) There was no instance found at "
                           "projects/netra-dev/instances/netra-staging-db or you are not authorized to access it.")
