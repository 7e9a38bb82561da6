"""docs/monitor.md's recipes, tried as far as this machine allows.

The systemd unit goes through `systemd-analyze verify`; the alerting rules
through `promtool check rules`; the Kubernetes Deployment, the Cloud Run
service and the sidecar's RunMonitoring are parsed as YAML and held to what
those platforms require of the fields they use. Every infracheck command
line in them must name options `infracheck serve` has.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from tests.tools import realtools

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "monitor.md"


def fences(info: str) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(PAGE.read_text(encoding="utf-8"))
    return [t.content for t in tokens if t.type == "fence" and t.info.strip() == info]


def documents(kind: str) -> list[dict[str, Any]]:
    found = [d for block in fences("yaml") for d in yaml.safe_load_all(block) if isinstance(d, dict)]
    return [d for d in found if d.get("kind") == kind]


def serve_options() -> set[str]:
    from infracheck.cli import serve

    return {opt for param in serve.params for opt in getattr(param, "opts", ())}


def check_command(argv: list[str]) -> int:
    """The options of an `infracheck serve ...` line exist; returns its --listen port."""
    assert argv[0] == "serve", argv
    known = serve_options()
    given = [a for a in argv[1:] if a.startswith("--")]
    assert given and not set(given) - known, set(given) - known
    listen = argv[argv.index("--listen") + 1]
    return int(listen.rsplit(":", 1)[1])


def unit() -> str:
    (block,) = fences("ini")
    return block


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit in docs/monitor.md is not verified")
    exec_line = next(line for line in unit().splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_line.removeprefix("ExecStart="))
    assert argv[0] == "/usr/local/bin/infracheck"
    assert check_command(argv[1:]) == 9847
    installed = Path(sys.executable).with_name("infracheck")
    assert installed.exists()
    path = tmp_path / "infracheck.service"
    path.write_text(unit().replace(argv[0], str(installed)))
    done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(path) not in done.stderr  # no unknown key, no bad value in the unit itself
    assert "[Service]" in unit() and "ProtectSystem=strict" in unit()


def test_the_kubernetes_deployment_scrapes_the_port_serve_listens_on():
    (deployment,) = documents("Deployment")
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    template = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert spec["replicas"] == 1  # two would judge the same stack twice
    (container,) = template["spec"]["containers"]
    port = check_command(container["args"])
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"  # annotation values are strings
    assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert "0.0.0.0" in container["args"][container["args"].index("--listen") + 1]  # reachable from the pod IP
    assert container["livenessProbe"]["httpGet"] == {"path": "/", "port": port}  # never /healthz


def test_the_cloud_run_service_runs_the_sidecar_on_the_port_serve_listens_on():
    (service,) = [d for d in documents("Service") if d.get("apiVersion") == "serving.knative.dev/v1"]
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"  # cycles run between requests
    assert annotations["autoscaling.knative.dev/maxScale"] == "1"
    containers = {c["name"]: c for c in template["spec"]["containers"]}
    dependencies = json.loads(annotations["run.googleapis.com/container-dependencies"])
    assert set(dependencies) | {d for ds in dependencies.values() for d in ds} <= set(containers)
    infracheck, collector = containers["infracheck"], containers["collector"]
    port = check_command(infracheck["args"])
    assert [p["containerPort"] for p in infracheck["ports"]] == [port] == [8080]
    assert infracheck["startupProbe"]["httpGet"]["path"] == "/"
    assert collector["image"].startswith(
        "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:")
    (mount,) = collector["volumeMounts"]
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
    assert mount["mountPath"].rstrip("/") == "/etc/rungmp"  # where the sidecar reads config.yaml
    assert volume["secret"]["items"] == [{"key": "latest", "path": "config.yaml"}]

    (monitoring,) = documents("RunMonitoring")
    assert monitoring["apiVersion"] == "monitoring.googleapis.com/v1beta"  # the sidecar refuses any other
    (endpoint,) = monitoring["spec"]["endpoints"]
    # The sidecar unmarshals strictly: only the fields its ScrapeEndpoint has.
    assert set(endpoint) <= {"port", "scheme", "path", "params", "proxyUrl", "interval", "timeout",
                             "metricRelabeling"}
    assert (int(endpoint["port"]), endpoint["path"]) == (port, "/metrics")


def test_the_alerting_rules_check_and_name_metrics_serve_exposes(tmp_path):
    import re

    (rules,) = [block for block in fences("yaml") if block.startswith("groups:")]
    exposed = set(re.findall(r"^# TYPE (\w+) ", (ROOT / "tests" / "golden" / "outage" / "prometheus.prom").read_text(),
                             re.MULTILINE))
    from infracheck import serve

    served = serve.Collector(serve.State(), serve.Settings(60, 180))
    exposed |= {m.name + ("_total" if m.type == "counter" else "") for m in served.collect()}
    named = set(re.findall(r"\binfracheck_\w+", rules))
    assert named and named <= exposed, named - exposed
    promtool = realtools.binary("promtool")
    path = tmp_path / "infracheck.rules.yml"
    path.write_text(rules)
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout
