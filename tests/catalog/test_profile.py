"""The profile (catalog/profile.py) as a user meets it: where resource names come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.fakes import run

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_another_project_says_where_resource_names_come_from(capsys):
    code, _, err = run(capsys, "list", "--project", "netra-production")
    assert code == 0
    [line] = err.splitlines()
    assert line.startswith("infracheck: warning: --project netra-production: resource names (connector "
                           "staging-connector, sql_instance netra-staging-db, ...) still come from the built-in profile")
    code, _, err = run(capsys, "list", "--project", "netra-production", "--set", "sql_instance=prod-db")
    assert err == ""  # names given for this stack: nothing to say
    readme = (ROOT / "README.md").read_text()
    example = next(line for line in readme.splitlines() if "diagnose --project netra-production" in line)
    assert "--profile" in example
