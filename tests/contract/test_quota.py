"""Real gcloud answered 429 RESOURCE_EXHAUSTED, and infracheck running the read again within its API's budget.

gcloud 528 sends a read once on a 429 and exits 1 with `RESOURCE_EXHAUSTED: Quota exceeded ...`
(docs/gcloud.md, "429 RESOURCE_EXHAUSTED"); infracheck pauses the API and runs it again, at most
10 times per API per run in all.
"""

from __future__ import annotations

import pytest

from tests.contract.conftest import environment, infracheck

pytestmark = pytest.mark.contract

P = "netra-staging"


@pytest.mark.parametrize("engine", ["warm", "process"])
def test_an_api_over_its_quota_for_a_moment_passes_with_the_retries_counted(api, gcloud_config, engine):
    # Cloud SQL Admin answers 429 to its first requests (whichever command sends them), then its bodies.
    throttled = 3
    api.fault_first("sql.test/*", "429", throttled)
    run = infracheck("diagnose", "--format", "json", "--include", "cloudsql.*", "--engine", engine,
                     env=environment(api, gcloud_config))
    report = run.json()
    assert report["engine"] == engine
    sql = [c for c in report["commands"] if c["argv"][1] == "sql"]
    assert len(sql) == 2 and all(c["error"] is None for c in sql)
    assert sum(c.get("retries", 0) for c in sql) == throttled  # one run again per 429
    assert [r.status for r in api.requests if r.host == "sql.test"].count(429) == throttled
    assert run.code == 0 and report["status"] == "HEALTHY" and report["counts"]["error"] == 0
    assert "Traceback" not in run.stderr


def test_an_api_over_its_quota_for_the_whole_run_is_unknown_saying_the_budget_was_spent(api, gcloud_config):
    api.fault(f"secretmanager.test/*", "429")
    run = infracheck("diagnose", "--format", "json", "--include", "secrets.*", env=environment(api, gcloud_config))
    report = run.json()
    assert run.code == 3 and report["status"] == "UNKNOWN"
    assert report["counts"]["critical"] == 0 and report["counts"]["warning"] == 0
    secrets = [f for f in report["findings"] if f["check"] == "secrets.secret"]
    assert len(secrets) == 10
    for finding in secrets:
        assert finding["status"] == "error" and finding["severity"] is None
        assert "Quota exceeded" in finding["message"]
        assert "the 10 retries this run allows the secretmanager API were spent" in finding["message"]
    accesses = [c for c in report["commands"] if c["argv"][1:4] == ["secrets", "versions", "access"]]
    assert len(accesses) == 10 and all(c["error_kind"] == "quota" for c in accesses)
    # Ten commands, ten retries in all: each 429 past the budget is reported at once.
    assert sum(c.get("retries", 0) for c in accesses) == 10
    assert len([r for r in api.requests if r.host == "secretmanager.test"]) == 20
