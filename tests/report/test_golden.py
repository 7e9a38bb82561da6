"""Every format's report on fixtures/outage and fixtures/healthy equals its reviewed golden file.

When a report changes on purpose: `make golden`, read `git diff tests/golden`, commit.
"""

from __future__ import annotations

import pytest

from infracheck.report import FORMATTERS
from tests.tools import golden


@pytest.fixture(scope="module", params=golden.SCENARIOS)
def produced(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as mp:
        for key in golden.environment_keys():
            mp.delenv(key)
        golden.write(request.param, folder)
    return request.param, folder


@pytest.mark.parametrize("fmt", sorted(FORMATTERS))
def test_report_matches_its_golden_file(produced, fmt):
    scenario, folder = produced
    expected = golden.GOLDEN / scenario / golden.name(fmt)
    assert expected.is_file(), f"no golden file {expected}: run make golden"
    actual = (folder / golden.name(fmt)).read_text(encoding="utf-8")
    assert actual == expected.read_text(encoding="utf-8"), (
        f"{scenario} {fmt} report changed: run `make golden` and review `git diff tests/golden`")
