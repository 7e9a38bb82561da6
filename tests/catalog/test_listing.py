"""What `list` and `explain` print (catalog/listing.py): each check's role and API beside its command."""

from __future__ import annotations

import json

import pytest

from tests.tools.fakes import run

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_explain_shows_the_role_and_the_api(capsys):
    code, out, _ = run(capsys, "explain", "secrets.min-length")
    assert code == 0
    assert "role:     roles/secretmanager.secretAccessor" in out
    assert "gcloud services enable secretmanager.googleapis.com --project=netra-staging" in out
    code, out, _ = run(capsys, "explain", "vpc.connector")
    assert "roles/vpcaccess.viewer" in out and "vpcaccess.googleapis.com" in out


def test_list_shows_the_role_and_the_api(capsys):
    code, out, _ = run(capsys, "list", "--format", "json")
    checks = {c["check"]: c for c in json.loads(out)}
    assert checks["cloudsql.instance"]["role"] == "roles/cloudsql.viewer"
    assert checks["cloudsql.instance"]["api"] == "sqladmin.googleapis.com"
    assert all(c["role"] and c["api"] for c in checks.values() if c["commands"][0].startswith("gcloud "))
    code, out, _ = run(capsys, "list")
    assert "needs: role roles/run.viewer, API run.googleapis.com" in out
