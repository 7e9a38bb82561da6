"""--output [FORMAT=]PATH: several formats from one run, checked before it, written whole."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infracheck import output as outputs
from infracheck.model import CannotRun as OutputError
from infracheck.output import Output
from tests.report.sample import CRIT, finding, report
from tests.test_cli import OUTAGE, run


def test_parse_format_and_bare_paths(tmp_path):
    assert outputs.parse(["junit=a.xml", "b.txt", "markdown=dir/x=y.md", "./labels=c"], "text") == [
        Output("junit", Path("a.xml")), Output("text", Path("b.txt")),
        Output("markdown", Path("dir/x=y.md")), Output("text", Path("./labels=c")),
    ]


@pytest.mark.parametrize("values, words", [
    (["xml=a.xml"], "--output xml=a.xml: unknown format 'xml' (formats: github, json, junit"),
    (["junit=a.xml", "json=./a.xml"], "a.xml is given twice (junit and json)"),
])
def test_parse_refuses(values, words):
    with pytest.raises(OutputError) as caught:
        outputs.parse(values, "text")
    assert words in str(caught.value)


def test_check_refuses_before_the_run(tmp_path):
    with pytest.raises(OutputError, match="folder .*nowhere does not exist"):
        outputs.check([Output("json", tmp_path / "nowhere" / "r.json")])
    with pytest.raises(OutputError, match="is a folder"):
        outputs.check([Output("json", tmp_path)])


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "r.txt"
    target.write_text("old report that is much longer than the new one\n" * 50)
    outputs.write_all([Output("nagios", target)], report(finding("vpc.state", *CRIT)), str)
    assert target.read_text().startswith("INFRACHECK CRITICAL - 1 critical")
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_several_formats_from_one_run_agree(capsys, tmp_path):
    files = {fmt: tmp_path / f"r.{fmt}" for fmt in ("json", "junit", "markdown", "labels", "nagios")}
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--issue", "1278",
                         *[f"--output={fmt}={path}" for fmt, path in files.items()])
    assert code == 2
    assert "Overall Status: CRITICAL" in out  # the terminal keeps the text report
    data = json.loads(files["json"].read_text())
    assert data["labels"] == files["labels"].read_text().strip().split(",")
    suites = ET.parse(files["junit"]).getroot()
    assert int(suites.get("failures")) == data["counts"]["critical"] + data["counts"]["warning"]
    assert int(suites.get("tests")) == len(data["findings"])
    assert files["nagios"].read_text().startswith(
        f"INFRACHECK CRITICAL - {data['counts']['critical']} critical, {data['counts']['warning']} warning")
    md = files["markdown"].read_text()
    assert f"{len(data['commands'])} commands" in md and "`P0`" in md


def test_a_bad_output_fails_before_anything_runs(capsys, tmp_path):
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--output", f"junit={tmp_path}/no/such/r.xml")
    assert code == 3 and out == ""
    assert err.strip() == f"infracheck: error: --output {tmp_path}/no/such/r.xml: folder {tmp_path}/no/such does not exist"


def test_github_format_appends_the_update_to_the_step_summary(capsys, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code, out, _ = run(capsys, "diagnose", "--replay", OUTAGE, "--format", "github",
                       env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 2
    assert out.startswith("::error title=infracheck critical%3A vpc.state (staging-connector)::")
    text = summary.read_text()
    assert text.startswith("earlier step\n<!-- infracheck:issue-update project=netra-staging -->\n")


def test_markdown_since_the_last_update_from_a_baseline(capsys, tmp_path):
    baseline = tmp_path / "before.json"
    run(capsys, "diagnose", "--replay", OUTAGE, "--output", f"json={baseline}")
    healthy = str(Path(OUTAGE).parent / "healthy")
    code, out, _ = run(capsys, "diagnose", "--replay", healthy, "--baseline", str(baseline), "--format", "markdown")
    assert code == 0
    section = out[out.index("### Since the last update"):out.index("### Root Cause Analysis")]
    assert "8 resolved, 0 new, 0 still failing" in section
    assert "- `database-url`: Secret 'database-url' is missing" in section
