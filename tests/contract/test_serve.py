"""serve through the real gcloud: the warm engine is loaded once and kept across cycles, and SIGTERM
leaves no gcloud behind. One check selected: each cycle costs one forked gcloud command."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import pytest

from tests.contract.conftest import environment, leftover_processes
from tests.test_serve import command, get, metrics, until

pytestmark = pytest.mark.contract


def drivers(config: Path, parent: int) -> set[int]:
    """The warm engine's drivers: gcloud loaded by `parent` (each command is forked from a driver, and a
    fork shows the driver's command line too: its parent is the driver, not infracheck)."""
    found = set()
    for pid in leftover_processes(config):
        with contextlib.suppress(OSError):
            parent_pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent_pid == parent and b"warm_driver.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
    return found


def test_serve_keeps_the_warm_gcloud_between_cycles(api, gcloud_config):
    env = environment(api, gcloud_config)
    with command("--include", "vpc.state", "--engine", "warm", "--interval", "0.3", env=env) as (process, base):
        until(lambda: metrics(base).get("infracheck_cycles_total", 0) >= 2, 120)
        first = metrics(base)
        loaded = drivers(gcloud_config, process.pid)  # the warm engine's loaded gcloud
        until(lambda: metrics(base)["infracheck_cycles_total"] >= first["infracheck_cycles_total"] + 3, 120)
        later = metrics(base)
        report = json.loads(get(base + "/report.json")[1])
        assert report["engine"] == "warm" and report["status"] == "HEALTHY"
        assert len(loaded) == 1 and drivers(gcloud_config, process.pid) == loaded  # the same gcloud, loaded once, kept
        assert later["infracheck_up"] == 1.0 and later['infracheck_verdict{verdict="HEALTHY"}'] == 1.0
        print(f"cycle durations: {first['infracheck_last_run_duration_seconds']:.2f} s (cycle 2), "
              f"{later['infracheck_last_run_duration_seconds']:.2f} s (cycle {later['infracheck_cycles_total']:.0f})")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while leftover_processes(gcloud_config):
        assert time.monotonic() < deadline, "gcloud left running after SIGTERM"
        time.sleep(0.2)
