"""Load through the real gcloud: config-helper by both engines, the reads against the fake, the token canary,
and every served body against the Monitoring v3 message classes gcloud ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infracheck.catalog import loader
from infracheck.runner import metrics
from tests.tools import gcloud_schema
from tests.contract.conftest import API, ROOT, environment, infracheck

pytestmark = pytest.mark.contract

CANARY = "ya29.canary-Lq8-monitoring-token"


def findings(report: dict) -> set[tuple[str, str, str]]:
    return {(f["rule"], f["resource"], f["status"]) for f in report["findings"]}


@pytest.mark.parametrize("engine", ["process", "warm"])
def test_live_reads_match_the_recording_with_either_engine(api, gcloud_config, engine):
    api.set_scenario(API / "capacity-connections-flag")
    selection = ("--include", "capacity.sql-*,capacity.run-errors")
    live = infracheck("diagnose", "--engine", engine, "--format", "json", *selection,
                      env=environment(api, gcloud_config))
    assert live.code == 2, live.stderr
    replay = infracheck("diagnose", "--replay", str(ROOT / "fixtures" / "capacity-connections-flag"), "--format",
                        "json", *selection, env=environment(api, gcloud_config))
    assert findings(live.json()) == findings(replay.json())
    assert ("capacity.sql-connections-exhausted", "netra-staging-db", "fail") in findings(live.json())
    reads = [r for r in api.requests if r.host == "monitoring.test"]
    assert len(reads) == 6 and not api.mutations  # 4 database reads, 2 services' request counts
    assert live.json()["engine"] == engine


def test_the_token_is_never_printed_recorded_or_logged(api, gcloud_config, tmp_path):
    env = environment(api, gcloud_config, CLOUDSDK_AUTH_ACCESS_TOKEN=CANARY)
    api.set_scenario(API / "capacity-denied")  # errors quote the API's answers: the token must not be in them
    out = tmp_path / "recorded"
    runs = [infracheck("record", str(out), "--include", "capacity.*,vpc.*", "--color", "never", env=env)]
    api.set_scenario(API / "capacity-saturated")
    runs += [infracheck("diagnose", "--include", "capacity.*", "--format", fmt, "--color", "never",
                        "--output", f"json={tmp_path / 'report.json'}", env=env)
             for fmt in ("text", "json", "markdown")]
    assert [r.code for r in runs] == [3, 2, 2, 2]
    for run in runs:
        assert CANARY not in run.stdout and CANARY not in run.stderr
    files = [p for folder in (out, gcloud_config) for p in folder.rglob("*") if p.is_file()]
    files.append(tmp_path / "report.json")
    assert len(files) > 20
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    assert not (gcloud_config / "logs").exists()


def test_every_served_body_is_a_list_time_series_response(api, gcloud_config, tmp_path):
    """What the fake answers to each catalog query, in each scenario, decodes into gcloud's own message class."""
    queries = [c.argv for c in loader.load(environ={}, overrides={"trend": "7d"}).checks
               for argv in [c.argv, *(a for _, a in c.extras)] if argv[:2] == metrics.QUERY]
    queries = list(dict.fromkeys(queries))
    requests = []
    for scenario in ("healthy", "capacity-saturated", "capacity-trend", "capacity-idle"):
        api.set_scenario(API / scenario)
        read = metrics.Reader(lambda argv: _helper(api.port), 30, lambda: _now())
        for argv in queries:
            outcome = read(argv)
            assert outcome.error is None, (scenario, argv, outcome.error)
            requests.append({"class": "monitoring.v3.monitoring_v3_messages:ListTimeSeriesResponse",
                             "document": outcome.document})
    answers = gcloud_schema.check_batch(requests)
    assert [a["problems"] for a in answers if a["problems"] or a["error"]] == []
    assert sum(1 for r in requests if r["document"].get("timeSeries")) > 40


def _helper(port: int):  # type: ignore[no-untyped-def]
    from infracheck.model import Outcome

    return Outcome(metrics.CONFIG_HELPER, 0, 0.0, document={
        "configuration": {"properties": {"api_endpoint_overrides": {"monitoring": "http://monitoring.test/"},
                                         "proxy": {"address": "127.0.0.1", "port": str(port), "type": "http"}}},
        "credential": {"access_token": "fake"}})


def _now():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


def test_config_helper_reflects_the_overrides(api, gcloud_config):
    """The settings the reader honours are the ones gcloud itself would use (measured on gcloud 528)."""
    import subprocess

    env = environment(api, gcloud_config)
    done = subprocess.run(["gcloud", *metrics.CONFIG_HELPER[1:]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    creds = metrics.credentials(json.loads(done.stdout))
    assert creds.endpoint == "http://monitoring.test/"
    assert creds.proxy == f"http://127.0.0.1:{api.port}"
    assert creds.token == "fake"
    assert not (Path(gcloud_config) / "logs").exists()
