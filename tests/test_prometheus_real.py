"""The real Prometheus scrapes `infracheck serve --replay fixtures/healthy` and reads the verdict back.

Debian's `prometheus` (.ci/run installs it) runs as a plain process on
127.0.0.1 with a one-second scrape interval; the test asks its HTTP API
(/api/v1/query) what it scraped, and promtool lints what serve exposes.
Outside CI a machine without the package skips with one loud line; under
CI=true it fails. Loopback only, every wait bounded, both processes killed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

from tests.tools import realtools
from tests.test_serve import command, get

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: infracheck
    static_configs:
      - targets: ["{target}"]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def query(base: str, expression: str) -> list[dict[str, object]]:
    """The instant vector Prometheus answers for `expression` ([] until it has scraped)."""
    code, body = get(f"{base}/api/v1/query?query={urllib.parse.quote(expression)}")
    if code != 200:
        return []
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    result: list[dict[str, object]] = answer["data"]["result"]
    return result


def test_prometheus_reads_infracheck_up_and_the_verdict(tmp_path):
    prometheus = realtools.binary("prometheus")
    promtool = realtools.binary("promtool")
    with command("--replay", str(ROOT / "fixtures" / "healthy"), "--interval", "1") as (serve, base):
        target = base.removeprefix("http://")
        exposition = None
        deadline = time.monotonic() + 20
        while exposition is None or "infracheck_verdict" not in exposition:
            assert time.monotonic() < deadline, "serve never finished a cycle"
            time.sleep(0.1)
            exposition = get(base + "/metrics")[1]
        linted = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True,
                                timeout=60)
        assert linted.returncode == 0 and linted.stdout + linted.stderr == "", linted.stdout + linted.stderr

        config = tmp_path / "prometheus.yml"
        config.write_text(CONFIG.format(target=target))
        port = free_port()
        server = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))
        try:
            api = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            up: list[dict[str, object]] = []
            while not up:
                assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
                assert time.monotonic() - started < 90, "no scrape within 90 s: " + (
                    tmp_path / "prometheus.log").read_text()[-2000:]
                time.sleep(0.5)
                up = query(api, 'infracheck_up{job="infracheck"}')
            assert up[0]["value"][1] == "1"  # type: ignore[index]
            verdict = query(api, 'infracheck_verdict{job="infracheck"} == 1')
            assert [v["metric"]["verdict"] for v in verdict] == ["HEALTHY"]  # type: ignore[index]
            scraped = query(api, 'up{job="infracheck"}')
            assert scraped[0]["value"][1] == "1"  # type: ignore[index]  # Prometheus' own word: the scrape worked
            print(f"first scrape read back after {time.monotonic() - started:.1f} s")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
