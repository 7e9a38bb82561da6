"""Issue 17: through the real gcloud, a misspelled project is could-not-check, never an outage of its load balancer."""

from __future__ import annotations

import pytest

from tests.contract.conftest import environment, infracheck

pytestmark = pytest.mark.contract


def test_a_misspelled_project_is_unknown_and_named_once(api, gcloud_config):
    # The fake holds nothing of netra-stagign: compute answers 404 "The resource
    # 'projects/netra-stagign' was not found" (gcloud exits 0 with "Some requests
    # did not succeed"), the other APIs 403, as the real ones do.
    run = infracheck("diagnose", "--project", "netra-stagign", "--format", "json", "--exclude", "network*",
                     env=environment(api, gcloud_config))
    report = run.json()
    assert (run.code, report["status"]) == (3, "UNKNOWN"), run.stderr
    assert report["counts"]["critical"] == report["counts"]["warning"] == 0
    said = [f["message"] for f in report["findings"] if "does not exist or cannot be seen" in f["message"]]
    assert said == ["Project 'netra-stagign' does not exist or cannot be seen by this account (compute: not "
                    "found: The resource 'projects/netra-stagign' was not found); nothing in it could be checked"]
    assert not [f for f in report["findings"] if "No certificate" in f["message"]]
