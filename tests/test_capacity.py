"""Load from Cloud Monitoring: the metrics reader, the fake API's timeSeries.list, the capacity rules and scenarios.

The reader is driven against tests/tools/fakeapi.py over loopback with a stand-in
for gcloud's config-helper (tests/contract/test_capacity.py runs the real
one); the scenarios are replayed from their recordings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from infracheck.rules.dialect import search
from infracheck.rules.evaluate import evaluate
from infracheck.catalog import loader
from infracheck.runner import metrics, recording
from infracheck.cli import main
from infracheck.model import CatalogError, ErrorKind, Outcome, Status
from tests.tools import fakemonitoring
from tests.tools.fakeapi import FakeGoogleAPI

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
API = FIXTURES / "api"
ROUTE = "http://monitoring.test/v3/projects/netra-staging/timeSeries"
CANARY = "ya29.canary-7Qx2-token-never-shown"
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _clean(clean_environment: None) -> None:
    """No INFRACHECK_* override from the developer's shell."""


@pytest.fixture(scope="module")
def cat() -> loader.Catalog:
    return loader.load(environ={})


def check(cat: loader.Catalog, check_id: str, resource: str | None = None):  # type: ignore[no-untyped-def]
    return next(c for c in cat.checks if c.id == check_id and (resource is None or c.resource == resource))


# --- the query as data ---------------------------------------------------------------------------

def test_a_query_reads_as_the_rest_call_it_makes(cat):
    query = metrics.parse(check(cat, "capacity.connector").argv)
    assert query.filter == ('metric.type = "vpcaccess.googleapis.com/connector/instances" AND '
                            'resource.type = "vpc_access_connector" AND '
                            'resource.labels.connector_name = "staging-connector"')
    assert (query.window_s, query.aligner, query.period_s) == (1800, "ALIGN_MAX", 60)
    params = dict(query.params(NOW))
    assert params["interval.startTime"] == "2026-11-26T23:30:00Z"
    assert params["interval.endTime"] == "2026-11-27T00:00:00Z"
    assert params["aggregation.alignmentPeriod"] == "60s"


def test_list_shows_each_query_as_the_rest_call(capsys):
    assert main(["list", "--window", "2h"]) == 0
    out = capsys.readouterr().out
    assert ('$ GET v3/projects/netra-staging/timeSeries  filter: metric.type = '
            '"cloudsql.googleapis.com/database/postgresql/num_backends"') in out
    assert "window: last 2h  aligner: ALIGN_MAX per 60s  reducer: REDUCE_SUM" in out
    assert "monitoring timeseries" not in out


@pytest.mark.parametrize("broken,words", [
    ("--aligner=ALIGN_MAX --period=60s", "--window=30m --aligner=max"),
    ("--period=60s", "--period=60"),
    ("--where=resource.labels.connector_name={connector}", "--where=connector_name"),
])
def test_a_query_that_does_not_parse_is_refused_at_load_naming_the_file(tmp_path, broken, words):
    folder = tmp_path / "commands"
    shutil.copytree(ROOT / "commands", folder)
    text = (folder / "capacity.toml").read_text()
    original = {"--aligner=ALIGN_MAX --period=60s": "--window={metrics_window} --aligner=ALIGN_MAX --period=60s"}
    text = text.replace(original.get(broken, broken), words, 1)
    (folder / "capacity.toml").write_text(text)
    with pytest.raises(CatalogError, match=r"capacity\.toml: check 'capacity\.connector'"):
        loader.load(folder, environ={})


def test_window_and_trend_are_validated_profile_values(capsys):
    assert main(["list", "--window", "2x"]) == 3
    assert "--window: invalid metrics_window '2x'" in capsys.readouterr().err
    assert main(["list", "--trend", "7h"]) == 3
    assert "a trend period is a whole number of days" in capsys.readouterr().err


# --- gcloud's settings --------------------------------------------------------------------------

def helper_document(token: str = CANARY, **properties: object) -> dict:
    return {"configuration": {"active_configuration": "default", "properties": properties},
            "credential": {"access_token": token, "id_token": None, "token_expiry": None}}


def test_settings_come_from_config_helper():
    creds = metrics.credentials(helper_document(
        api_endpoint_overrides={"monitoring": "http://monitoring.test/"},
        proxy={"address": "127.0.0.1", "port": "3128", "type": "http", "username": "u s", "password": "p@ss"},
        core={"custom_ca_certs_file": "/etc/corp-ca.pem", "project": "netra-staging"}))
    assert creds.endpoint == "http://monitoring.test/"
    assert creds.proxy == "http://u%20s:p%40ss@127.0.0.1:3128"
    assert creds.cafile == "/etc/corp-ca.pem"
    assert CANARY not in repr(creds) and CANARY not in str(creds)
    default = metrics.credentials(helper_document())
    assert (default.endpoint, default.proxy, default.cafile) == ("https://monitoring.googleapis.com/", None, None)


@pytest.mark.parametrize("document,words", [
    (helper_document(token=""), "run gcloud auth login"),
    (helper_document(proxy={"address": "10.0.0.1", "port": "1080", "type": "socks5"}), "proxy/type socks5"),
    (helper_document(api_endpoint_overrides={"monitoring": "monitoring.test"}), "is not an http(s) URL"),
])
def test_settings_that_cannot_be_used_are_one_clear_line(document, words):
    with pytest.raises(metrics.SettingsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        metrics.credentials(document)


# --- the reader against the fake API ------------------------------------------------------------

@pytest.fixture(scope="module")
def fake():  # type: ignore[no-untyped-def]
    with FakeGoogleAPI(API / "healthy", API) as api:
        yield api


@pytest.fixture
def api(fake):  # type: ignore[no-untyped-def]
    fake.set_scenario(API / "healthy")
    fake.clear_faults()
    fake.clear_bodies()
    fake.monitoring_page_points = 100000
    fake.reset_log()
    yield fake
    fake.clear_faults()
    fake.monitoring_page_points = 100000


class Helper:
    """Stands in for the run stage running `gcloud config config-helper --format=json`."""

    def __init__(self, port: int, fails: bool = False) -> None:
        self.port, self.fails, self.calls = port, fails, 0

    def __call__(self, argv: tuple[str, ...]) -> Outcome:
        assert argv == metrics.CONFIG_HELPER
        self.calls += 1
        if self.fails:
            from infracheck.runner import gcloud

            return gcloud.interpret(argv, 1, "", "ERROR: (gcloud.config.config-helper) You do not currently have "
                                    "an active account selected.\n", 0.1)
        return Outcome(argv, 0, 0.1, document=helper_document(
            api_endpoint_overrides={"monitoring": "http://monitoring.test/"},
            proxy={"address": "127.0.0.1", "port": str(self.port), "type": "http"}))


@pytest.fixture(autouse=True)
def fresh_budget():
    """Each test its own run's budget of 429 retries: a pause one test's 429 began holds no other test."""
    from infracheck.runner import gcloud

    gcloud.new_budget()
    yield
    gcloud.new_budget()


def reader(api: FakeGoogleAPI, timeout: float = 10, sleeps: list[float] | None = None,
           helper: Helper | None = None) -> metrics.Reader:
    slept = sleeps if sleeps is not None else []
    return metrics.Reader(helper or Helper(api.port), timeout, lambda: NOW, sleep=slept.append)


def no_canary(outcome: Outcome) -> None:
    assert CANARY not in repr(outcome) and CANARY not in outcome.stderr
    assert CANARY not in json.dumps(outcome.document) if outcome.document is not None else True


def test_a_query_answers_the_api_document(api, cat):
    outcome = reader(api)(check(cat, "capacity.connector").argv)
    no_canary(outcome)
    assert outcome.error is None
    [series] = outcome.document["timeSeries"]
    points = series["points"]
    assert len(points) == 30 and series["valueType"] == "INT64"
    assert [p["value"]["int64Value"] for p in points[:4]] == ["4", "3", "3", "4"]  # strings, newest first
    assert points[0]["interval"]["endTime"] > points[1]["interval"]["endTime"]
    [request] = api.requests
    assert request.host == "monitoring.test" and request.path == "/v3/projects/netra-staging/timeSeries"
    assert request.params["aggregation.perSeriesAligner"] == ["ALIGN_MAX"]


def test_pages_are_joined(api, cat):
    argv = check(cat, "capacity.run-errors", "netra-backend-staging").argv
    whole = reader(api)(argv).document
    api.monitoring_page_points = 30
    api.reset_log()
    paged = reader(api)(argv).document
    assert len(api.requests) == 3  # one series (30 points) per page
    assert paged == whole and len(whole["timeSeries"]) == 3


def test_config_helper_runs_once_per_run(api, cat):
    helper = Helper(api.port)
    read = reader(api, helper=helper)
    for c in cat.checks:
        if c.argv[:2] == metrics.QUERY:
            assert read(c.argv).error is None
    assert helper.calls == 1


def test_reads_start_beside_the_gcloud_commands_and_are_consumed_once(api, cat):
    import time

    argvs = [c.argv for c in cat.checks if c.argv[:2] == metrics.QUERY]
    read = reader(api)
    read.start(argvs)
    deadline = time.monotonic() + 10
    while len([r for r in api.requests if r.finished]) < len(set(argvs)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(api.requests) == len(set(argvs))  # all read before anyone asked
    assert all(read(argv).error is None for argv in dict.fromkeys(argvs))
    assert len(api.requests) == len(set(argvs))  # collected, not read again
    read(argvs[0])
    assert len(api.requests) == len(set(argvs)) + 1  # asked again later (a watch cycle): read again


def test_no_account_is_one_classified_error_for_every_query(api, cat):
    helper = Helper(api.port, fails=True)
    read = reader(api, helper=helper)
    outcomes = [read(c.argv) for c in cat.checks if c.argv[:2] == metrics.QUERY]
    assert {o.error.kind for o in outcomes} == {ErrorKind.NOT_AUTHENTICATED}
    assert helper.calls == 1 and not api.requests


@pytest.mark.parametrize("fault,kind,words,remedy", [
    ("403", ErrorKind.PERMISSION_DENIED, "Permission 'monitoring.timeSeries.list' denied",
     "--role=roles/monitoring.viewer"),
    ("disabled", ErrorKind.API_DISABLED, "Cloud Monitoring API has not been used",
     "gcloud services enable monitoring.googleapis.com --project=netra-staging"),
    ("429", ErrorKind.QUOTA, "Quota exceeded", ""),
    ("500", ErrorKind.SERVER, "Internal error encountered", ""),
    ("401", ErrorKind.NOT_AUTHENTICATED, "invalid authentication credentials", "gcloud auth login"),
])
def test_api_errors_are_could_not_check_with_what_to_do(api, cat, fault, kind, words, remedy):
    api.fault(ROUTE, fault)
    sleeps: list[float] = []
    c = check(cat, "capacity.connector-cpu")
    outcome = reader(api, sleeps=sleeps)(c.argv)
    no_canary(outcome)
    assert outcome.error is not None and outcome.error.kind is kind
    assert words in outcome.error.message
    # 5xx: gcloud-like, three tries with backoff. 429: after the Monitoring API's pause, while the run's
    # budget of retries lasts (runner/quota.py: one read alone may take them all), counted. The rest at once.
    if fault == "429":
        assert 2 <= len(api.requests) <= 11 and outcome.retries == len(api.requests) - 1 == len(sleeps)
        assert f"(ran {len(api.requests)} times)" in outcome.error.message
    else:
        assert len(api.requests) == (3 if fault == "500" else 1)
        assert sleeps == ([1.0, 2.0] if fault == "500" else []) and outcome.retries == 0
    [finding] = evaluate(c, outcome, now=NOW)
    assert finding.status is Status.ERROR and remedy in finding.remedy


def test_a_retry_that_succeeds_is_a_document(api, cat):
    api.fault(ROUTE, "429")
    read = metrics.Reader(Helper(api.port), 10, lambda: NOW, sleep=lambda s: api.fault(ROUTE, None))
    outcome = read(check(cat, "capacity.connector-cpu").argv)
    assert outcome.error is None and outcome.document["timeSeries"]
    assert len(api.requests) == 2


def test_a_hung_api_times_out_within_the_timeout(api, cat):
    api.fault(ROUTE, "hang")
    outcome = reader(api, timeout=1.0)(check(cat, "capacity.connector-cpu").argv)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.TIMEOUT
    assert outcome.duration_s < 3


def test_an_unreachable_proxy_is_transport_trouble(api, cat):
    helper = Helper(1)  # nothing listens on port 1
    outcome = reader(api, helper=helper)(check(cat, "capacity.connector-cpu").argv)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.TRANSPORT
    assert "could not reach monitoring.test" in outcome.error.message


def test_an_aligner_that_does_not_fit_is_the_apis_400(api):
    argv = ("monitoring", "timeseries", "--project=netra-staging", "--metric=cloudsql.googleapis.com/database/cpu/utilization",
            "--resource=cloudsql_database", "--window=30m", "--aligner=ALIGN_PERCENTILE_99", "--period=60s")
    outcome = reader(api)(argv)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.API_ERROR
    assert "INVALID_ARGUMENT" in outcome.error.message and "distribution values only" in outcome.error.message


def test_the_token_never_reaches_a_recording(api, cat, tmp_path):
    read = reader(api)
    outcomes = [read(c.argv) for c in cat.checks if c.argv[:2] == metrics.QUERY]
    api.fault(ROUTE, "403")
    outcomes.append(read(check(cat, "capacity.sql-cpu").argv))
    recording.record(tmp_path, outcomes, set(), {})
    for path in tmp_path.iterdir():
        assert CANARY not in path.read_text(), path.name


# --- the fake API's timeSeries.list --------------------------------------------------------------

GAUGE = {"metric": {"type": "x.googleapis.com/gauge"}, "resource": {"type": "r", "labels": {"name": "a"}},
         "metricKind": "GAUGE", "valueType": "DOUBLE", "minutes": [0.5, 0.7, 0.6]}


def query(**extra: str) -> dict[str, list[str]]:
    params = {"filter": 'metric.type = "x.googleapis.com/gauge"', "interval.endTime": "2026-11-27T00:00:00Z",
              "interval.startTime": "2026-11-26T23:30:00Z", "aggregation.alignmentPeriod": "60s",
              "aggregation.perSeriesAligner": "ALIGN_MAX"}
    params.update(extra)
    return {k: [v] for k, v in params.items()}


@pytest.mark.parametrize("extra,words", [
    ({"aggregation.perSeriesAligner": "ALIGN_RATE"}, "DELTA and CUMULATIVE metrics only"),
    ({"aggregation.perSeriesAligner": "ALIGN_PERCENTILE_99"}, "distribution values only"),
    ({"aggregation.alignmentPeriod": "30s"}, "at least 60 seconds"),
    ({"filter": 'resource.type = "r"'}, "exactly one metric type"),
    ({"filter": 'metric.type = "x.googleapis.com/gauge" OR resource.type = "r"'}, "Could not parse"),
])
def test_the_fake_refuses_what_the_api_refuses(extra, words):
    with pytest.raises(fakemonitoring.BadRequest, match=words):
        fakemonitoring.answer(query(**extra), [GAUGE])


def test_the_fake_answers_like_the_api():
    body = fakemonitoring.answer(query(), [GAUGE])
    [series] = body["timeSeries"]
    assert [p["value"]["doubleValue"] for p in series["points"]] == [0.5, 0.7, 0.6]
    assert fakemonitoring.answer(query(filter='metric.type = "x.googleapis.com/gauge" AND resource.labels.name = "b"'),
                                 [GAUGE]) == {}  # nothing matched: no timeSeries key at all
    other = dict(GAUGE, resource={"type": "r", "labels": {"name": "b"}})
    first = fakemonitoring.answer(query(), [GAUGE, other], page_points=3)
    assert len(first["timeSeries"]) == 1 and first["nextPageToken"] == "1"
    second = fakemonitoring.answer({**query(), "pageToken": ["1"]}, [GAUGE, other], page_points=3)
    assert "nextPageToken" not in second and second["timeSeries"][0]["resource"]["labels"] == {"name": "b"}
    one_of = fakemonitoring.answer(query(filter='metric.type = "x.googleapis.com/gauge" AND '
                                                'resource.labels.name = one_of("a", "b")'), [GAUGE, other])
    assert len(one_of["timeSeries"]) == 2


# --- the rules ----------------------------------------------------------------------------------

def series(*values: object, value_type: str = "int64Value") -> dict:
    return {"timeSeries": [{"points": [{"interval": {"endTime": f"2026-11-{27 - i:02d}T00:00:00Z"},
                                        "value": {value_type: v}} for i, v in enumerate(values)]}]}


# GCP's documented default max_connections by memory (cited in commands/capacity.toml):
# 20 connections in use, as a share of each tier's limit.
@pytest.mark.parametrize("tier,flag,share", [
    ("db-f1-micro", None, 80.0),            # ~0.6 GB: 25
    ("db-g1-small", None, 40.0),            # ~1.7 GB: 50
    ("db-custom-1-3840", None, 20.0),       # 3.75 GB: 100
    ("db-custom-2-6144", None, 10.0),       # 6 GB: 200
    ("db-custom-2-7680", None, 5.0),        # 7.5 GB: 400
    ("db-n1-standard-4", None, 4.0),        # 15 GB: 500
    ("db-n1-highmem-8", None, 3.3),         # 52 GB: 600
    ("db-custom-16-65536", None, 2.5),      # 64 GB: 800
    ("db-custom-32-122880", None, 2.0),     # 120 GB: 1000
    ("db-custom-1-3840", "40", 50.0),       # the flag wins over the tier
])
def test_the_connection_limit_is_the_flag_or_the_tiers_default(cat, tier, flag, share):
    c = check(cat, "capacity.sql-connections")
    instance = {"settings": {"tier": tier, **({"databaseFlags": [{"name": "max_connections", "value": flag}]}
                                               if flag else {})}}
    extras = {c.extras[0][1]: Outcome(c.extras[0][1], 0, 0, document=instance)}
    findings = evaluate(c, Outcome(c.argv, 0, 0, document=series("17", "20", "12")), extras=extras, now=NOW)
    assert {f.rule: f.actual for f in findings} == {"capacity.sql-connections-exhausted": share,
                                                   "capacity.sql-connections-high": share}


def test_a_tier_without_a_documented_default_is_not_judged(cat):
    c = check(cat, "capacity.sql-connections")
    extras = {c.extras[0][1]: Outcome(c.extras[0][1], 0, 0, document={"settings": {"tier": "db-perf-optimized-N-4"}})}
    [finding] = evaluate(c, Outcome(c.argv, 0, 0, document=series("17")), extras=extras, now=NOW)
    assert finding.status is Status.SKIP
    assert "no documented default for tier db-perf-optimized-N-4" in finding.message


@pytest.mark.parametrize("peaks,days", [
    (("8", "7", "6", "5"), 2.0),      # +1 a day from 8: 10 in 2 days
    (("5", "5", "5", "5"), None),     # flat: nothing to project
    (("3", "5", "7", "9"), None),     # falling
    (("9", "8"), None),               # too short to fit
])
def test_the_trend_is_a_line_through_the_daily_peaks(peaks, days):
    assert search("days_until(fit(timeSeries), `10`)", series(*peaks)) == days


# --- scenarios ------------------------------------------------------------------------------------

def replay(capsys, name: str, *args: str) -> tuple[int, str]:
    code = main(["diagnose", "--replay", str(FIXTURES / name), "--color", "never", *args])
    return code, capsys.readouterr().out


def test_a_saturated_connector_is_the_one_root_cause_of_the_services_5xx(capsys):
    code, out = replay(capsys, "capacity-saturated")
    assert code == 2 and "Overall Status: CRITICAL" in out
    assert "Root causes: 1 (1 infrastructure, 0 configuration)" in out
    assert ("1. [infrastructure, critical] VPC connector 'staging-connector' ran at its maximum instances for "
            "83.3% of the last 30m (saturated)") in out
    assert "→ explains 8 findings: capacity.connector-cpu (staging-connector)" in out
    assert "capacity.run-5xx (netra-backend-staging), capacity.run-5xx (auth-staging)" in out


def test_exhausted_connections_say_which_limit(capsys):
    code, out = replay(capsys, "capacity-connections-flag")
    assert code == 2 and "Root causes: 1 (1 infrastructure" in out
    assert "reached 98.5% of max_connections" in out and "peak 197 connections of 200 (max_connections flag)" in out
    code, out = replay(capsys, "capacity-connections-default")
    assert code == 1
    assert "reached 86.0% of max_connections" in out
    assert "peak 86 connections of 100 (GCP default for db-custom-1-3840)" in out


def test_no_traffic_is_said_and_never_a_pass(capsys):
    assert main(["diagnose", "--replay", str(FIXTURES / "capacity-idle"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    load = [f for f in report["findings"] if f["area"] == "capacity"]
    assert load and {f["status"] for f in load} == {"skip"}
    assert "No requests to 'netra-backend-staging' in the last 30m: no traffic to judge" in {f["message"] for f in load}
    code, out = replay(capsys, "capacity-idle", "--format", "markdown")
    assert '- [ ] VPC connector in "READY" state with adequate capacity - capacity.connector-saturated not judged' in out


def test_adequate_capacity_is_ticked_only_from_measured_headroom(capsys):
    _, out = replay(capsys, "healthy", "--format", "markdown")
    assert '- [x] VPC connector in "READY" state with adequate capacity' in out
    _, out = replay(capsys, "capacity-saturated", "--format", "markdown")
    assert '- [ ] VPC connector in "READY" state with adequate capacity - 3 failed' in out


def test_monitoring_denied_names_the_role_and_judges_the_rest(capsys):
    code = main(["diagnose", "--replay", str(FIXTURES / "capacity-denied"), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and report["status"] == "UNKNOWN"
    load = [f for f in report["findings"] if f["area"] == "capacity" or f["check"] == "loadbalancer.requests"]
    assert len(load) == 16 and all(f["status"] == "error" for f in load)
    assert all("--role=roles/monitoring.viewer" in f["remedy"] for f in load)
    others = [f for f in report["findings"] if f not in load]
    assert others and all(f["status"] in ("pass", "skip") for f in others)


def test_the_trend_projects_when_the_limit_is_reached(capsys):
    code, out = replay(capsys, "capacity-trend", "--trend", "7d")
    assert code == 1
    assert "VPC connector 'staging-connector' daily peaks reach maxInstances in about 7.9 days" in out
    assert "peaks at 6.2 of 10 instances, growing ~0.48 a day" in out
    assert "Cloud SQL 'netra-staging-db' daily connection peaks reach max_connections in about 8.0 days" in out
    code, out = replay(capsys, "capacity-trend")
    assert code == 0 and "daily peaks" not in out


def test_the_seed_demo_without_recorded_load_stays_critical(capsys):
    code, out = replay(capsys, "outage", "--issue", "1278")
    assert code == 2 and "Overall Status: CRITICAL" in out and "Critical Failures: 6" in out
    assert "Load (Cloud Monitoring) not judged: this recording holds none of its reads" in out


def test_a_live_run_sends_config_helper_to_the_warm_engine_first():
    """One config-helper for the run, queued with the gcloud commands (warm engines plan what to load)."""
    from infracheck import runner

    submitted: list[tuple[str, ...]] = []

    class Engine:
        def submit(self, argv: tuple[str, ...], timeout: float) -> None:
            submitted.append(argv)

        def wait_ready(self) -> None:
            pass

    class Early:
        env: dict[str, str] = {}
        failure = ""

        def take(self) -> Engine:
            return Engine()

    from infracheck.runner import probes

    runner.live(5, env={}, settings=probes.ProbeSettings(), engine="warm",
                argvs=[("monitoring", "timeseries", "--project=p"), ("gcloud", "sql", "x")],
                early=Early())  # type: ignore[arg-type]
    assert submitted == [metrics.CONFIG_HELPER, ("gcloud", "sql", "x")]


def test_served_bodies_parse_as_query_params():
    """The reader's query string is what the fake parses (one shared convention: repeated groupByFields)."""
    query = metrics.parse(("monitoring", "timeseries", "--project=p", "--metric=m", "--resource=r", "--window=1h",
                           "--aligner=ALIGN_DELTA", "--period=60s", "--reducer=REDUCE_SUM", "--group-by=metric.labels.a",
                           "--group-by=resource.labels.b"))
    from urllib.parse import urlencode

    params = parse_qs(urlencode(query.params(NOW)))
    assert params["aggregation.groupByFields"] == ["metric.labels.a", "resource.labels.b"]


# --- the load balancer's 5xx share (loadbalancer.requests) -----------------------------------------

def test_the_load_balancers_5xx_are_explained_by_the_saturated_connector(capsys):
    code, out = replay(capsys, "capacity-lb-5xx")
    assert code == 2 and "Root causes: 1 (1 infrastructure, 0 configuration)" in out
    assert "Load balancer 'staging-https-lb' (global) answered 17.5% of requests with 5xx in the last 30m" in out
    assert "→ explains 9 findings: loadbalancer.lb-5xx (staging-https-lb), capacity.connector-cpu" in out


def lb_series(url_map: str, code_class: str, count: str, region: str = "global") -> dict:
    return {"metric": {"labels": {"response_code_class": code_class}},
            "resource": {"labels": {"url_map_name": url_map, "region": region}},
            "points": [{"interval": {"endTime": "2026-11-27T00:00:00Z"}, "value": {"int64Value": count}}]}


def lb_documents(c, global_series: list, regional_series: list) -> tuple[Outcome, dict]:  # type: ignore[no-untyped-def]
    names = dict(c.extras)
    extras = {names["regional"]: Outcome(names["regional"], 0, 0, document={"timeSeries": regional_series}),
              names["services"]: Outcome(names["services"], 0, 0, document=[])}
    return Outcome(c.argv, 0, 0, document={"timeSeries": global_series}), extras


def test_a_regional_load_balancer_is_judged_on_its_own_metric_in_its_region():
    cat = loader.load(overrides={"url_map": "staging-lb", "lb_scope": "regions/us-central1"}, environ={})
    c = check(cat, "loadbalancer.requests")
    outcome, extras = lb_documents(
        c,
        # A global load balancer of the same name is another one: not read.
        [lb_series("staging-lb", "500", "90"), lb_series("staging-lb", "200", "10")],
        [lb_series("staging-lb", "500", "20", "us-central1"), lb_series("staging-lb", "200", "80", "us-central1"),
         lb_series("staging-lb", "500", "50", "europe-west1")])
    [finding] = evaluate(c, outcome, extras=extras, now=NOW)
    assert (finding.rule, finding.status.value, finding.actual) == ("loadbalancer.lb-5xx", "fail", 20.0)
    assert finding.message == ("Load balancer 'staging-lb' (regions/us-central1) answered 20.0% of requests "
                               "with 5xx in the last 30m")


def test_a_load_balancer_without_traffic_is_not_judged():
    cat = loader.load(overrides={"url_map": "staging-lb", "lb_scope": "global"}, environ={})
    c = check(cat, "loadbalancer.requests")
    # Traffic through another URL map and a regional one of the same name is not this load balancer's.
    outcome, extras = lb_documents(c, [lb_series("other-lb", "500", "9")],
                                   [lb_series("staging-lb", "500", "9", "us-central1")])
    [finding] = evaluate(c, outcome, extras=extras, now=NOW)
    assert (finding.rule, finding.status.value) == ("loadbalancer.requests.not-judged", "skip")
    assert finding.message == "No requests through load balancer 'staging-lb' (global) in the last 30m: no traffic to judge"


def test_load_warnings_are_not_called_configuration_warnings(capsys):
    """A stack whose only warnings are load is told to act on capacity, not to correct its configuration."""
    code, out = replay(capsys, "capacity-slow-start")
    assert code == 1
    actions = out.split("NEXT ACTIONS:", 1)[1]
    assert "MEDIUM: Address capacity warnings before they become an outage" in actions
    assert "configuration warnings" not in actions
    code, out = replay(capsys, "capacity-connections-default", "--format", "json")
    assert json.loads(out)["next_actions"] == ["MEDIUM: Address capacity warnings before they become an outage"]


def test_a_connector_not_ready_explains_its_missing_load(cat):
    """No data from a connector in ERROR is no idle connector: the skips name vpc.state as their cause."""
    from infracheck.judge import causes

    vpc = check(cat, "vpc.connector")
    described = {"name": "staging-connector", "state": "ERROR", "minInstances": 2, "maxInstances": 10,
                 "network": "staging-vpc", "machineType": "e2-micro", "ipCidrRange": "10.8.0.0/28"}
    findings = list(evaluate(vpc, Outcome(vpc.argv, 0, 0, document=described), now=NOW))
    for check_id in ("capacity.connector", "capacity.connector-cpu", "capacity.connector-throughput"):
        c = check(cat, check_id)
        extras = {argv: Outcome(argv, 0, 0, document={} if argv[:2] == metrics.QUERY else described)
                  for _, argv in c.extras}
        findings += evaluate(c, Outcome(c.argv, 0, 0, document={}), extras=extras, now=NOW)
    analysed = causes.analyse(findings)
    skips = [f for f in analysed if f.status.value == "skip"]
    assert [f.rule for f in skips] == [f"capacity.{c}.not-judged" for c in ("connector", "connector-cpu",
                                                                           "connector-throughput")]
    assert all(f.caused_by == (("vpc.state", "staging-connector"),) for f in skips)
    [root] = [r for r in causes.root_causes(analysed) if r.finding.rule == "vpc.state"]
    assert set(skips) <= set(root.explains)
    # READY and idle: the same skips, with no cause (no traffic is nobody's failure).
    ready = [dataclasses.replace(f, status=Status.PASS) if f.rule == "vpc.state" else f for f in findings]
    assert all(not f.caused_by for f in causes.analyse(ready) if f.status.value == "skip")


def test_the_load_balancers_5xx_are_explained_by_a_services_5xx(cat):
    """Without a connector or database to blame, the service that failed is the cause, not the edge."""
    from infracheck.judge import causes

    services = [{"metadata": {"name": "netra-backend-staging"}, "spec": {"template": {"metadata": {}}}}]
    run = check(cat, "capacity.run-errors", "netra-backend-staging")
    five = {"timeSeries": [{"metric": {"labels": {"response_code_class": "5xx"}}, **series("30")["timeSeries"][0]},
                           {"metric": {"labels": {"response_code_class": "2xx"}}, **series("70")["timeSeries"][0]}]}
    findings = evaluate(run, Outcome(run.argv, 0, 0, document=five),
                              extras={argv: Outcome(argv, 0, 0, document=services) for _, argv in run.extras}, now=NOW)
    lb_cat = loader.load(overrides={"url_map": "staging-https-lb"}, environ={})
    c = check(lb_cat, "loadbalancer.requests")
    outcome, extras = lb_documents(c, [lb_series("staging-https-lb", "500", "30"),
                                       lb_series("staging-https-lb", "200", "70")], [])
    extras[dict(c.extras)["services"]] = Outcome(dict(c.extras)["services"], 0, 0, document=services)
    findings += evaluate(c, outcome, extras=extras, now=NOW)
    analysed = {f.rule: f for f in causes.analyse(findings)}
    assert analysed["capacity.run-5xx"].status is Status.FAIL and not analysed["capacity.run-5xx"].caused_by
    assert analysed["loadbalancer.lb-5xx"].caused_by == (("capacity.run-5xx", "netra-backend-staging"),)


def test_reads_of_a_throttled_api_share_the_runs_budget_with_gcloud_commands(api, cat):
    from infracheck.runner import gcloud

    gcloud.new_budget(retries=2, first_pause=0.01, max_pause=0.02)
    api.fault(ROUTE, "429")
    read = reader(api)
    first = read(check(cat, "capacity.connector-cpu").argv)
    second = read(check(cat, "capacity.connector-cpu").argv)
    assert (first.retries, second.retries) == (2, 0)  # the second read found the budget spent
    assert len(api.requests) == 4 and gcloud.budget().spent("monitoring") == 2
    assert first.error is not None and first.error.kind is ErrorKind.QUOTA
    assert second.error is not None and second.error.kind is ErrorKind.QUOTA
