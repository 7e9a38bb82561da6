"""--output [FORMAT=]PATH: several formats from one run, checked before it, written whole."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infracheck.report import output as outputs
from infracheck.model import CannotRun as OutputError
from infracheck.report.output import Output
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


# --- what is not a regular file is written in place, never replaced (issue 17, section 3) ---------

import stat  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402

NAGIOS_REPORT = report(finding("vpc.state", *CRIT))


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)  # blocks until a writer opens the FIFO
    reader.start()
    return reader


def test_a_fifo_is_written_in_place_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    outputs.write_all([Output("nagios", fifo)], NAGIOS_REPORT, str)
    reader.join(timeout=10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not replaced by a regular file
    assert got and got[0].decode().startswith("INFRACHECK CRITICAL - 1 critical")
    assert [p.name for p in tmp_path.iterdir()] == ["report.fifo"]  # no temporary left beside it


def test_a_link_to_a_pipe_is_written_through_like_dev_stdout(tmp_path):
    # /dev/stdout is a link to /proc/self/fd/1; with stdout a pipe, --output json=/dev/stdout must
    # write into the pipe, not replace the link (as root that would replace /dev/stdout itself).
    read_end, write_end = os.pipe()
    link = tmp_path / "stdout"
    link.symlink_to(f"/proc/self/fd/{write_end}")
    try:
        outputs.write_all([Output("nagios", link)], NAGIOS_REPORT, str)
        os.close(write_end)
        written = os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
    assert written.startswith("INFRACHECK CRITICAL - 1 critical")
    assert link.is_symlink() and os.readlink(link) == f"/proc/self/fd/{write_end}"


def test_a_link_to_this_processs_open_file_is_written_through_not_replaced(tmp_path):
    # `infracheck ... --output json=/dev/stdout > run.log`: the link leads to the file stdout writes.
    log = tmp_path / "run.log"
    with open(log, "w") as handle:
        handle.write("the text report\n")
        handle.flush()
        link = tmp_path / "stdout"
        link.symlink_to(f"/proc/self/fd/{handle.fileno()}")
        outputs.write_all([Output("nagios", link)], NAGIOS_REPORT, str)
    assert link.is_symlink()
    content = log.read_text()
    assert content.startswith("the text report\nINFRACHECK CRITICAL - 1 critical")  # after, not over it


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_as_root_a_device_node_is_written_in_place_and_stays_a_device(tmp_path):
    node = tmp_path / "null"  # a /dev/null of our own: never touch /dev itself
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this container may not make device nodes")
    link = tmp_path / "link-to-null"
    link.symlink_to(node)
    outputs.write_all([Output("nagios", node), Output("json", link)], NAGIOS_REPORT, str)
    assert stat.S_ISCHR(os.lstat(node).st_mode) and os.major(os.lstat(node).st_rdev) == 1
    assert link.is_symlink() and os.readlink(link) == str(node)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link-to-null", "null"]


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = tmp_path / f".r.txt.{os.getpid()}.tmp"  # the name main used to write through
    planted.symlink_to(victim)
    target = tmp_path / "r.txt"
    outputs.write_all([Output("nagios", target)], NAGIOS_REPORT, str)
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_text().startswith("INFRACHECK CRITICAL")
    assert planted.is_symlink()  # left alone


def test_the_temporary_is_created_exclusively_whatever_its_name(tmp_path, monkeypatch):
    # Whatever name the temporary gets, a link already there is never opened: make the first name
    # tempfile picks one an attacker planted, and the write must pass it by.
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    names = iter(["planted", "fresh", "spare1", "spare2"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    created: list[str] = []
    real_mkstemp = tempfile.mkstemp

    def spy(*args, **kwargs):
        handle, name = real_mkstemp(*args, **kwargs)
        created.append(name)
        return handle, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    target = tmp_path / "r.txt"
    # mkstemp's name is prefix + candidate + suffix: plant a link at each name a prefix and suffix could give
    planted = [tmp_path / f"{prefix}planted{suffix}" for prefix in (".r.txt.", ".r.txt-", "tmp", ".")
               for suffix in (".tmp", "")]
    for link in planted:
        link.symlink_to(victim)
    outputs.write_all([Output("nagios", target)], NAGIOS_REPORT, str)
    assert created, "the report is written through tempfile.mkstemp"
    assert "planted" not in Path(created[0]).name and Path(created[0]).parent == tmp_path
    assert victim.read_text() == "precious\n"
    assert all(link.is_symlink() for link in planted)
    assert target.read_text().startswith("INFRACHECK CRITICAL")


def test_output_with_a_format_and_no_path_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "diagnose", "--replay", OUTAGE, "--output", "json=")
    assert code == 3 and out == ""
    assert err == "infracheck: error: --output json=: no file after 'json=' (write --output json=PATH)\n"
    assert list(tmp_path.iterdir()) == []


def test_json_commands_count_retries_only_for_a_command_run_again():
    import dataclasses

    from infracheck.model import CommandError, ErrorKind
    from infracheck.report import json as json_report

    sample = report(finding("sql.state", *CRIT))
    first, second, *rest = sample.outcomes
    again = dataclasses.replace(first, retries=2)
    locked = dataclasses.replace(second, retries=3, error=CommandError(ErrorKind.CONFIG_LOCKED, "locked"))
    commands = json_report.as_dict(dataclasses.replace(sample, outcomes=(again, locked, *rest)))["commands"]
    assert commands[0]["retries"] == 2 and commands[0]["error"] is None
    assert commands[1]["retries"] == 3 and commands[1]["error_kind"] == "config-locked"
    assert all("retries" not in c for c in commands[2:])
