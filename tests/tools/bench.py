"""Benchmark: infracheck vs the escalation plan's own sequential gcloud commands.

    python tests/tools/bench.py [--latency 0.3] [--repeat 3] [--jobs N] [--json bench-results.json]
                          [--results docs/results.md]

This is a measurement, not a test (``make bench``). Both sides run the REAL
gcloud against the fake Google API (tests/tools/fakeapi.py) serving
fixtures/api/healthy, with an injected per-request latency:

- infracheck, twice: ``python -m infracheck diagnose --format json --exclude 'network*'``
  with ``--engine warm`` (one loaded gcloud, a fork per command) and with
  ``--engine process`` (one gcloud process per command); each must exit 0
  (HEALTHY) with the engine it was asked for, or the benchmark aborts.
- baseline: the seed's sections 1.1-1.4 and 2.1-2.3 gcloud commands, literally
  (their own --format flags), run one after another as its scripts do.
  Commands real gcloud rejects still cost a process and are run and counted;
  ``gcloud compute ssh`` and ``gcloud sql connect`` are never run (network /
  they mutate the instance) and are listed as skipped.

Network probes (DNS, TLS, HTTPS, WebSocket: seed 1.4 curl, 2.3 curl, 2.4)
cannot reach the internet here, so they are excluded from every measurement.
The three sides are repeated ``--repeat`` times, in a rotating order so
machine noise hits all of them; medians and min/max are reported, for wall
time and for CPU seconds (user + system of every process a side started,
children included, from getrusage). infracheck's own start-up is measured
too: ``--help``, ``list``, ``explain`` and a ``--replay fixtures/healthy`` run
(median of 7 each, after one unmeasured run), and ``list`` and the replay with
an empty catalog cache (the first run after an install or an edit). Every
gcloud run gets a fresh temporary CLOUDSDK_CONFIG, every infracheck a
temporary catalog cache: the user's gcloud config and ~/.cache are never read
or written.

The fleet round (issue 21): one fake API serves projects netra-fleet-01..20,
each answering as fixtures/api/healthy (tests/tools/fakeapi.py ``projects=``),
at the same latency, and these run side by side in the same bench run:
``diagnose --targets FILE`` over the 20 targets with ``--engine warm``, the
same with ``--engine process``, the shell loop users write today (``for p in
...; do infracheck diagnose --project "$p"; done``, sequential, the default
engine), once each, and the reference, one single-target ``diagnose --project
netra-fleet-01 --engine warm``, three times spread over the round (its
medians). Every target must come out HEALTHY. The process engine costs about
a single run's CPU per target (~20 CPU-s), so it judges 2 targets
(``--fleet-process-targets``) and the output says so; the loop judges all 20
(``--fleet-loop-targets`` fewer: its 20-target time is then per-target x 20,
labelled an estimate). About 2 minutes on 2 idle cores. Goals: 20 targets in
at most 3x the wall time of one, and each target after the first at most a
quarter of one run's CPU: (CPU(fleet) - CPU(one)) / 19 / CPU(one).

Progress goes to stderr; the table goes to stdout and, as JSON, to --json;
the page docs/results.md (--results) is rewritten from the same figures, with
the date, the commit and the machine they were measured on: it is the one
place measured figures are written down (the README and docs/ link to it).
Exit 0 done, 1 a measurement went wrong (message says which), 2 gcloud missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.tools.fakeapi import RECORDING_NOW, FakeGoogleAPI  # noqa: E402

API_ROOT = ROOT / "fixtures" / "api"
SCENARIO = API_ROOT / "healthy"
REPLAY_DIR = ROOT / "fixtures" / "healthy"
EXCLUDE = "network*"
NO_LOAD = "capacity*"  # the load reads (Cloud Monitoring), left out of one warm side to measure their cost
PROJECT = "netra-staging"
REGION = "us-central1"
SERVICES = ("netra-backend-staging", "auth-staging")  # seed 2.3 SERVICES=(...)
SECRETS = (  # seed 1.1, in its order
    "database-url", "database-direct-url", "jwt-secret-staging", "redis-url", "oauth-client-id",
    "oauth-client-secret", "openai-api-key", "anthropic-api-key", "smtp-password", "cors-allowed-origins",
)
RUN_DESCRIBE_ROUTE = f"{REGION}-run.test/apis/serving.knative.dev/v1/namespaces/{PROJECT}/services/{{}}"
RUN_LIST_FILE = SCENARIO / f"{REGION}-run.test/apis/serving.knative.dev/v1/namespaces/{PROJECT}/services.json"

OVERHEAD_RUNS = 7
INFRACHECK_TIMEOUT = 180.0  # s, one whole diagnose
FLEET_TIMEOUT = 900.0  # s, one whole fleet run or shell loop
FLEET_PROJECT = "netra-fleet-{:02d}"
FLEET_SCHEMA = "infracheck/fleet/v1"
FLEET_GOAL_WALL = 3.0  # 20 targets in at most this many times one target's wall time
FLEET_GOAL_CPU = 0.25  # each target after the first at most this share of one run's CPU
GCLOUD_TIMEOUT = 120.0  # s, one baseline gcloud


# --------------------------------------------------------------------------- the seed's commands


@dataclass(frozen=True)
class SeedCommand:
    """One gcloud invocation of the seed, as its script runs it."""

    where: str  # seed section and step
    argv: tuple[str, ...]
    expect: str  # "ok", "usage" (exit 2, no request), "404" (exit 1), "404-warning" (exit 0 + WARNING)
    note: str = ""


@dataclass(frozen=True)
class Skipped:
    where: str
    command: str
    reason: str


def seed_commands() -> tuple[list[SeedCommand], list[Skipped]]:
    """The seed's section 1.1-1.4 and 2.1-2.3 gcloud commands, flags as the seed spells them."""
    p = f"--project={PROJECT}"
    r = f"--region={REGION}"
    cmds: list[SeedCommand] = []
    # 1.1 Secret Manager: one `versions access` per secret (no --format in the seed).
    for name in SECRETS:
        cmds.append(SeedCommand("1.1", ("gcloud", "secrets", "versions", "access", "latest", f"--secret={name}", p), "ok"))
    # 1.2 VPC connector.
    cmds.append(SeedCommand("1.2", (
        "gcloud", "compute", "networks", "vpc-access", "connectors", "describe", "staging-connector", r, p,
        "--format=table(name,state,ipCidrRange,minInstances,maxInstances,network)"), "ok"))
    # 1.3 Cloud SQL.
    cmds.append(SeedCommand("1.3", (
        "gcloud", "sql", "instances", "describe", "netra-staging-db", p,
        "--format=table(name,state,databaseVersion,settings.tier,ipAddresses.type:label=IP_TYPE,"
        "ipAddresses.ipAddress:label=IP_ADDRESS)"), "ok"))
    cmds.append(SeedCommand("1.3", ("gcloud", "sql", "instances", "get-connection-info", "netra-staging-db", p),
                            "usage", "no such command in gcloud"))
    cmds.append(SeedCommand("1.3", ("gcloud", "sql", "instances", "describe", "netra-staging-db", p,
                                    "--format=yaml(settings.ipConfiguration)"), "ok"))
    # 1.4 Load balancer (the two curl -I are network probes: excluded).
    cmds.append(SeedCommand("1.4", ("gcloud", "compute", "url-maps", "list", p, "--filter=name:staging"), "ok"))
    cmds.append(SeedCommand("1.4", ("gcloud", "compute", "ssl-certificates", "list", p, "--filter=name:staging"), "ok"))
    # 2.1 VPC connector diagnostics.
    cmds.append(SeedCommand("2.1.1", (
        "gcloud", "compute", "networks", "vpc-access", "connectors", "describe", "staging-connector", r, p), "ok"))
    cmds.append(SeedCommand("2.1.2", (
        "gcloud", "compute", "networks", "vpc-access", "connectors", "list", p, "--filter=name:staging-connector",
        "--format=table(name,state,ipCidrRange,minInstances,maxInstances,machineType)"),
        "usage", "--region is required"))
    cmds.append(SeedCommand("2.1.3", ("gcloud", "compute", "networks", "describe", "staging-vpc", p),
                            "404", "the healthy scenario has no network body"))
    cmds.append(SeedCommand("2.1.4", (
        "gcloud", "compute", "networks", "subnets", "list", p, "--filter=network:staging-vpc",
        "--format=table(name,region,ipCidrRange,purpose)"),
        "404-warning", "the healthy scenario has no subnetworks body; compute lists exit 0 with a WARNING"))
    # 2.2 Cloud SQL diagnostics (step 3, sql connect, is skipped below).
    cmds.append(SeedCommand("2.2.1", ("gcloud", "sql", "instances", "describe", "netra-staging-db", p), "ok"))
    cmds.append(SeedCommand("2.2.2", (
        "gcloud", "sql", "instances", "describe", "netra-staging-db", p,
        "--format=yaml(settings.userLabels,settings.databaseFlags,maxConnections)"), "ok"))
    cmds.append(SeedCommand("2.2.4", (
        "gcloud", "sql", "instances", "describe", "netra-staging-db", p,
        "--format=yaml(settings.ipConfiguration.privateNetwork,settings.ipConfiguration.requireSsl)"), "ok"))
    cmds.append(SeedCommand("2.2.5", (
        "gcloud", "sql", "instances", "describe", "netra-staging-db", p,
        "--format=table(settings.ipConfiguration.authorizedNetworks[].value:label=AUTHORIZED_NETWORKS)"), "ok"))
    cmds.append(SeedCommand("2.2.6", (
        "gcloud", "sql", "operations", "list", "--instance=netra-staging-db", p, "--limit=5",
        "--format=table(name,operationType,status,startTime,endTime)"), "ok"))
    # 2.3 Cloud Run: four describes per service (the curl health checks are network probes: excluded).
    run_formats = (
        "--format=table(metadata.name,status.latestCreatedRevisionName,status.latestReadyRevisionName,"
        "status.conditions[0].type,status.conditions[0].status)",
        "--format=yaml(spec.template.metadata.annotations)",
        "--format=yaml(spec.template.spec.containers[0].env)",
        "--format=table(spec.template.spec.containers[0].resources.limits.cpu:label=CPU,"
        "spec.template.spec.containers[0].resources.limits.memory:label=MEMORY)",
    )
    for service in SERVICES:
        for step, fmt in enumerate(run_formats, 1):
            cmds.append(SeedCommand(f"2.3.{step}", ("gcloud", "run", "services", "describe", service, r, p, fmt), "ok"))
    skipped = [
        Skipped("2.1.5", "gcloud compute ssh --zone=us-central1-a staging-test-instance --project=netra-staging "
                "--command=\"ping -c 3 10.1.0.1\"",
                "would look up the instance and then ssh over the network (keys, external IP); not a read-only API call"),
        Skipped("2.2.3", "timeout 10s gcloud sql connect netra-staging-db --user=netra_user --project=netra-staging "
                "--quiet --command=\"SELECT 1 as test_connection;\"",
                "sql connect PATCHes the instance (IP allowlist) and needs psql; --command does not exist either"),
    ]
    return cmds, skipped


def run_bodies() -> dict[str, Any]:
    """Per-service describe bodies for the fake: the healthy scenario only holds the regional list.

    On a healthy stack the seed's describes find their services, so they are served
    the same Service objects `run services list` returns (docs/gcloud.md, "Commands of the seed runbook", 8).
    """
    listing = json.loads(RUN_LIST_FILE.read_text(encoding="utf-8"))
    bodies = {}
    for item in listing.get("items", []):
        name = item.get("metadata", {}).get("name")
        if name in SERVICES:
            bodies[RUN_DESCRIBE_ROUTE.format(name)] = item
    missing = set(SERVICES) - {k.rsplit("/", 1)[-1] for k in bodies}
    if missing:
        raise BenchError(f"{RUN_LIST_FILE.relative_to(ROOT)} lacks the services {sorted(missing)}")
    return bodies


# --------------------------------------------------------------------------- helpers


class BenchError(Exception):
    """A measurement that went wrong; the message says which and why."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def clean_env(fake: FakeGoogleAPI | None, config: Path) -> dict[str, str]:
    """os.environ without the user's CLOUDSDK_*/INFRACHECK_*, plus the fake's gcloud env."""
    if fake is not None:
        return fake.run_env(config, NO_COLOR="1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "INFRACHECK_"))}
    env["CLOUDSDK_CONFIG"] = str(config)
    env["CLOUDSDK_CORE_DISABLE_USAGE_REPORTING"] = "1"
    env["CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK"] = "1"
    env["CLOUDSDK_CORE_DISABLE_FILE_LOGGING"] = "1"
    env["INFRACHECK_NOW"] = RECORDING_NOW
    env["NO_COLOR"] = "1"
    return env


def first_line(text: str, limit: int = 200) -> str:
    """The first message of gcloud's stderr (two lines when the first ends in ':')."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    head = lines[0]
    if head.endswith(":") and len(lines) > 1:
        head = f"{head} {lines[1]}"
    return head[:limit]


def last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line (a Python traceback's exception)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def gcloud_version() -> str:
    """gcloud's own version, from a throwaway config (also warms the page cache)."""
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        done = subprocess.run(["gcloud", "version", "--format=json"], env=clean_env(None, Path(config)),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GCLOUD_TIMEOUT)
    if done.returncode != 0:
        raise BenchError(f"`gcloud version` failed ({done.returncode}): {first_line(done.stderr)}")
    try:
        return str(json.loads(done.stdout)["Google Cloud SDK"])
    except (ValueError, KeyError, TypeError):
        return first_line(done.stdout) or "unknown"


# --------------------------------------------------------------------------- measurements


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far, their children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_infracheck(fake: FakeGoogleAPI, jobs: int | None, engine: str, exclude: str = EXCLUDE) -> dict[str, Any]:
    """One live diagnose; returns its wall and CPU time, processes and requests, or raises BenchError."""
    cmd = [sys.executable, "-m", "infracheck", "diagnose", "--format", "json", "--exclude", exclude,
           "--color", "never", "--engine", engine]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    fake.reset_log()
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        env = clean_env(fake, Path(config))
        cpu = children_cpu()
        started = time.perf_counter()
        try:
            done = subprocess.run(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=INFRACHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"infracheck did not finish within {INFRACHECK_TIMEOUT:g} s") from None
        wall = time.perf_counter() - started
        cpu = children_cpu() - cpu
    requests = fake.requests
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    status = report.get("status") if isinstance(report, dict) else None
    if done.returncode != 0 or status != "HEALTHY":
        detail = last_line(done.stderr) or first_line(done.stdout) or "no output"
        problems = ""
        if isinstance(report, dict):
            bad = [f"{f.get('rule')}: {f.get('message')}" for f in report.get("findings", [])
                   if f.get("status") in ("fail", "error")]
            problems = "; ".join(bad[:5])
        raise BenchError(f"infracheck exited {done.returncode} with status {status or '?'} "
                         f"(expected 0 / HEALTHY against {SCENARIO.relative_to(ROOT)}): {problems or detail}")
    if report.get("engine") != engine:
        raise BenchError(f"infracheck --engine {engine} ran with engine {report.get('engine')}: "
                         f"{report.get('engine_note')}")
    commands = report.get("commands", [])
    gcloud_commands = sum(1 for c in commands if c["argv"][0] == "gcloud")
    if engine == "warm":
        # One process loads gcloud; commands are forks of it, not gcloud start-ups.
        # A command the engine handed back ran as a process of its own.
        handed_back = re.match(r"(\d+) command", report.get("engine_note") or "")
        processes = 1 + (int(handed_back.group(1)) if handed_back else 0)
    else:
        processes = gcloud_commands
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "exit_code": done.returncode,
        "status": status,
        "gcloud_commands": gcloud_commands,
        "gcloud_processes": processes,
        "requests": len(requests),
        "max_in_flight": fake.max_in_flight,
        "mutations": len(fake.mutations),
    }


def run_baseline(fake: FakeGoogleAPI, commands: Sequence[SeedCommand]) -> dict[str, Any]:
    """The seed's commands one after another, one shared fresh config (as one shell session)."""
    fake.reset_log()
    per_command = []
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        env = clean_env(fake, Path(config))
        cpu = children_cpu()
        started = time.perf_counter()
        for command in commands:
            before = len(fake.requests)
            t0 = time.perf_counter()
            try:
                # stdout (secret values among it) is never kept.
                done = subprocess.run(command.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, timeout=GCLOUD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise BenchError(f"baseline: `{' '.join(command.argv)}` did not finish within "
                                 f"{GCLOUD_TIMEOUT:g} s") from None
            seconds = time.perf_counter() - t0
            warned = "WARNING: Some requests did not succeed" in done.stderr
            if done.returncode == 0 and not warned:
                outcome = "ok"
            elif done.returncode == 0:
                outcome = "404-warning"
            elif done.returncode == 2:
                outcome = "usage"
            elif "NOT_FOUND" in done.stderr or "404" in done.stderr or "not found" in done.stderr.lower():
                outcome = "404"
            else:
                outcome = f"error (exit {done.returncode})"
            if outcome != command.expect:
                raise BenchError(f"baseline: `{' '.join(command.argv)}` gave {outcome}, expected {command.expect}: "
                                 f"{first_line(done.stderr) or 'no stderr'}")
            per_command.append({
                "where": command.where,
                "argv": list(command.argv),
                "exit_code": done.returncode,
                "outcome": outcome,
                "seconds": seconds,
                "requests": len(fake.requests) - before,
                "error": None if outcome == "ok" else first_line(done.stderr),
            })
        wall = time.perf_counter() - started
        cpu = children_cpu() - cpu
    failed = [c for c in per_command if c["outcome"] != "ok"]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "gcloud_processes": len(per_command),
        "requests": len(fake.requests),
        "failed": len(failed),
        "failed_nonzero_exit": sum(1 for c in failed if c["exit_code"] != 0),
        "mutations": len(fake.mutations),
        "commands": per_command,
    }


# --------------------------------------------------------------------------- the fleet round


def fleet_projects(count: int) -> list[str]:
    return [FLEET_PROJECT.format(i) for i in range(1, count + 1)]


def write_targets(path: Path, projects: Sequence[str]) -> Path:
    """A targets file (docs/fleet.md): one target per project, named for it, in the scenario's region."""
    path.write_text("".join(f'[[target]]\nname = "{p}"\nproject = "{p}"\nregion = "{REGION}"\n\n'
                            for p in projects), encoding="utf-8")
    return path


def measured(fake: FakeGoogleAPI, cmd: list[str], env: dict[str, str], label: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                            float, float]:
    """Run cmd once; (its result, wall seconds, CPU seconds of it and every process under it)."""
    fake.reset_log()
    cpu = children_cpu()
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=FLEET_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"fleet round: {label} did not finish within {FLEET_TIMEOUT:g} s") from None
    return done, time.perf_counter() - started, children_cpu() - cpu


def check_target(report: Any, name: str, engine: str | None, label: str) -> int:
    """A target's v1 report must be HEALTHY (with the engine asked for); returns its gcloud commands."""
    if not isinstance(report, dict) or report.get("status") != "HEALTHY":
        status = report.get("status") if isinstance(report, dict) else None
        bad = [f"{f.get('rule')}: {f.get('message')}" for f in (report or {}).get("findings", [])
               if f.get("status") in ("fail", "error")] if isinstance(report, dict) else []
        raise BenchError(f"fleet round: {label}: target {name} is {status or '?'} (expected HEALTHY against "
                         f"{SCENARIO.relative_to(ROOT)}): {'; '.join(bad[:3]) or 'no findings'}")
    if engine is not None and report.get("engine") != engine:
        raise BenchError(f"fleet round: {label}: target {name} ran with engine {report.get('engine')}, "
                         f"not {engine}: {report.get('engine_note')}")
    return sum(1 for c in report.get("commands", []) if c["argv"][0] == "gcloud")


def run_fleet(fake: FakeGoogleAPI, workdir: Path, projects: Sequence[str], engine: str) -> dict[str, Any]:
    """`infracheck diagnose --targets FILE --engine ENGINE`: one fleet report, every target HEALTHY."""
    targets = write_targets(workdir / f"targets-{len(projects)}.toml", projects)
    cmd = [sys.executable, "-m", "infracheck", "diagnose", "--targets", str(targets), "--format", "json",
           "--exclude", EXCLUDE, "--color", "never", "--engine", engine]
    label = f"--targets ({len(projects)}) --engine {engine}"
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        done, wall, cpu = measured(fake, cmd, clean_env(fake, Path(config)), label)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("schema") != FLEET_SCHEMA:
        raise BenchError(f"fleet round: {label} exited {done.returncode} without a {FLEET_SCHEMA} report: "
                         f"{last_line(done.stderr) or first_line(done.stdout) or 'no output'}")
    entries = {t.get("target"): t for t in report.get("targets", [])}
    if sorted(entries) != sorted(projects):
        raise BenchError(f"fleet round: {label} reported targets {sorted(map(str, entries))}, "
                         f"expected {len(projects)}: {projects[0]}..{projects[-1]}")
    commands = sum(check_target(entries[p], p, engine, label) for p in projects)
    if done.returncode != 0 or report.get("status") != "HEALTHY":
        raise BenchError(f"fleet round: {label} exited {done.returncode} with fleet status {report.get('status')}")
    return {"command": f"python -m infracheck diagnose --targets {targets.name} --format json "
                       f"--exclude '{EXCLUDE}' --engine {engine}",
            "targets": len(projects), "wall_s": wall, "cpu_s": cpu, "exit_code": done.returncode,
            "status": report["status"], "gcloud_commands": commands, "requests": len(fake.requests),
            "max_in_flight": fake.max_in_flight, "mutations": len(fake.mutations)}


def run_single(fake: FakeGoogleAPI, project: str) -> dict[str, Any]:
    """The reference: one target, one `infracheck diagnose --project P --engine warm` (a single run as today)."""
    cmd = [sys.executable, "-m", "infracheck", "diagnose", "--project", project, "--region", REGION,
           "--format", "json", "--exclude", EXCLUDE, "--color", "never", "--engine", "warm"]
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        done, wall, cpu = measured(fake, cmd, clean_env(fake, Path(config)), f"diagnose --project {project}")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    commands = check_target(report, project, "warm", "one target")
    if done.returncode != 0:
        raise BenchError(f"fleet round: one target exited {done.returncode}: {last_line(done.stderr)}")
    return {"command": f"python -m infracheck diagnose --project {project} --region {REGION} --format json "
                       f"--exclude '{EXCLUDE}' --engine warm",
            "targets": 1, "wall_s": wall, "cpu_s": cpu, "exit_code": done.returncode, "status": "HEALTHY",
            "gcloud_commands": commands, "requests": len(fake.requests), "max_in_flight": fake.max_in_flight,
            "mutations": len(fake.mutations)}


def run_loop(fake: FakeGoogleAPI, workdir: Path, projects: Sequence[str]) -> dict[str, Any]:
    """The shell loop users write today: one `infracheck diagnose --project P` after another, default engine.

    --format json into a file per project, only so that each verdict can be checked here.
    """
    out = workdir / "loop"
    out.mkdir(exist_ok=True)
    infracheck = f"{shlex.quote(sys.executable)} -m infracheck"
    script = (f"rc=0; for p in {' '.join(projects)}; do "
              f"{infracheck} diagnose --project \"$p\" --region {REGION} --exclude '{EXCLUDE}' --color never "
              f"--format json > {shlex.quote(str(out))}/\"$p\".json || rc=$?; done; exit $rc")
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config:
        done, wall, cpu = measured(fake, ["bash", "-c", script], clean_env(fake, Path(config)), "the shell loop")
    commands = 0
    engines = set()
    for p in projects:
        try:
            report = json.loads((out / f"{p}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            report = None
        commands += check_target(report, p, None, "the shell loop")
        engines.add(str(report.get("engine")) if isinstance(report, dict) else "?")
    if done.returncode != 0:
        raise BenchError(f"fleet round: the shell loop exited {done.returncode}: {last_line(done.stderr)}")
    return {"command": f"for p in {projects[0]} ... {projects[-1]}; do python -m infracheck diagnose --project "
                       f"\"$p\" --region {REGION} --exclude '{EXCLUDE}' --format json; done",
            "targets": len(projects), "wall_s": wall, "cpu_s": cpu, "exit_code": done.returncode,
            "status": "HEALTHY", "engine": ",".join(sorted(engines)), "gcloud_commands": commands,
            "requests": len(fake.requests), "max_in_flight": fake.max_in_flight, "mutations": len(fake.mutations)}


def fleet_round(args: argparse.Namespace) -> dict[str, Any]:
    """One targets run of every kind side by side against one fake serving each project as healthy."""
    projects = fleet_projects(args.fleet_targets)
    sides: dict[str, dict[str, Any]] = {}
    ones: list[dict[str, Any]] = []
    with FakeGoogleAPI(fixtures_root=API_ROOT, projects={p: SCENARIO for p in projects}) as fake, \
            tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        fake.latency = args.latency
        workdir = Path(tmp)
        # The reference is the ratios' denominator: three single runs, spread over the round, and their medians.
        for name in ("one", "warm", "one", "process", "loop", "one"):
            progress(f"fleet round: {name} ...")
            if name == "one":
                side = run_single(fake, projects[0])
                ones.append(side)
            elif name == "warm":
                side = run_fleet(fake, workdir, projects, "warm")
            elif name == "process":
                side = run_fleet(fake, workdir, projects[:args.fleet_process_targets], "process")
            else:
                side = run_loop(fake, workdir, projects[:args.fleet_loop_targets])
            if side["mutations"]:
                raise BenchError(f"fleet round: {name} sent {side['mutations']} non-GET requests")
            progress(f"fleet round: {name} ({side['targets']} targets) {side['wall_s']:.2f} s, "
                     f"{side['cpu_s']:.2f} CPU-s, {side['requests']} requests")
            sides[name] = side
        if fake.problems:
            raise BenchError(f"fleet round: fake API fixture problems: {fake.problems}")
    sides["one"] = dict(ones[-1], wall_s=statistics.median(r["wall_s"] for r in ones),
                        cpu_s=statistics.median(r["cpu_s"] for r in ones),
                        runs=[{"wall_s": r["wall_s"], "cpu_s": r["cpu_s"]} for r in ones])
    one, warm, n = sides["one"], sides["warm"], len(projects)
    wall_x = warm["wall_s"] / one["wall_s"]
    cpu_extra = (warm["cpu_s"] - one["cpu_s"]) / max(1, n - 1) / one["cpu_s"]
    for each in sides.values():
        each["wall_per_target_s"] = each["wall_s"] / each["targets"]
        each["cpu_per_target_s"] = each["cpu_s"] / each["targets"]
    loop = sides["loop"]
    # Sequential: n targets take n times one of them (an estimate unless the loop ran all n).
    loop["wall_for_fleet_s"] = loop["wall_per_target_s"] * n
    loop["cpu_for_fleet_s"] = loop["cpu_per_target_s"] * n
    return {
        "targets": n,
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "projects": f"{projects[0]}..{projects[-1]}",
        "latency_s": args.latency,
        **sides,
        "wall_x": wall_x,
        "cpu_per_extra_target": cpu_extra,
        "goal_wall_x": FLEET_GOAL_WALL,
        "goal_cpu_per_extra_target": FLEET_GOAL_CPU,
        "wall_met": wall_x <= FLEET_GOAL_WALL,
        "cpu_met": cpu_extra <= FLEET_GOAL_CPU,
        "loop_wall_x": loop["wall_for_fleet_s"] / warm["wall_s"],
    }


def fleet_lines(f: dict[str, Any]) -> list[str]:
    """The fleet round as plain text lines."""
    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    n = f["targets"]
    rows = [("", "targets", "wall s", "CPU s", "CPU s/target", "API requests")]
    for key, label in (("one", "one target: diagnose --project (warm), median of 3"),
                       ("warm", "diagnose --targets (warm)"),
                       ("process", "diagnose --targets --engine process"),
                       ("loop", "shell loop of diagnose --project")):
        side = f[key]
        rows.append((label, str(side["targets"]), f"{side['wall_s']:.2f}", f"{side['cpu_s']:.2f}",
                     f"{side['cpu_per_target_s']:.2f}", str(side["requests"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"fleet round: {n} targets ({f['projects']}, each served as {f['scenario']}), latency "
             f"{f['latency_s']:g} s/request, one run of each (the single target: median of 3), side by side"]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j])
                               for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    loop, proc = f["loop"], f["process"]
    if proc["targets"] < n:
        lines.append(f"--engine process ran on {proc['targets']} of the {n} targets (about one run's CPU per target: "
                     f"{n} would take minutes)")
    if loop["targets"] < n:
        lines.append(f"shell loop ({loop['engine']} engine): {loop['targets']} of the {n} targets, sequential; {n} "
                     f"would take ~{loop['wall_for_fleet_s']:.0f} s, ~{loop['cpu_for_fleet_s']:.0f} CPU-s "
                     f"(estimated: per target x {n}), {f['loop_wall_x']:.1f}x the --targets wall time")
    else:
        lines.append(f"shell loop ({loop['engine']} engine), sequential: {f['loop_wall_x']:.1f}x the --targets wall "
                     f"time, {loop['cpu_s'] / f['warm']['cpu_s']:.1f}x its CPU")
    lines += [
        f"{n} targets / one target, wall: {f['wall_x']:.2f}x (goal <= {f['goal_wall_x']:g}x): {met(f['wall_met'])}",
        f"CPU of each target after the first / one run's CPU: {f['cpu_per_extra_target']:.2f} "
        f"(goal <= {f['goal_cpu_per_extra_target']:g}): {met(f['cpu_met'])}",
    ]
    return lines


def time_runs(cmd: list[str], env: dict[str, str], label: str, expect_rc: int, cold: bool = False) -> list[float]:
    """Wall seconds of OVERHEAD_RUNS runs of cmd, after one unmeasured run (page cache, catalog cache).

    cold: every run with an empty catalog cache (the first run after an install or an edit).
    """
    times = []
    for n in range(OVERHEAD_RUNS + (0 if cold else 1)):
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
            run_env = dict(env, XDG_CACHE_HOME=cache) if cold else env
            started = time.perf_counter()
            done = subprocess.run(cmd, env=run_env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=INFRACHECK_TIMEOUT)
            seconds = time.perf_counter() - started
        if done.returncode != expect_rc:
            raise BenchError(f"{label} exited {done.returncode}, expected {expect_rc}: "
                             f"{last_line(done.stderr) or first_line(done.stdout)}")
        if cold or n:
            times.append(seconds)
    return times


def overhead(jobs: int | None) -> dict[str, Any]:
    """infracheck without gcloud: --help, list, explain and a replay of the same scenario."""
    infracheck = [sys.executable, "-m", "infracheck"]
    replay = infracheck + ["diagnose", "--replay", str(REPLAY_DIR.relative_to(ROOT)),
                           "--exclude", EXCLUDE, "--format", "json", "--color", "never"]
    if jobs is not None:
        replay += ["--jobs", str(jobs)]
    runs = {
        "help": (infracheck + ["--help"], False),
        "list": (infracheck + ["list"], False),
        "explain": (infracheck + ["explain", "cloudsql.state"], False),
        "replay": (replay, False),
        "list_cold": (infracheck + ["list"], True),
        "replay_cold": (replay, True),
    }
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gcloud-") as config, \
            tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        env = dict(clean_env(None, Path(config)), XDG_CACHE_HOME=cache)
        for name, (cmd, cold) in runs.items():
            progress(f"{shlex.join(cmd[2:])}{' (empty catalog cache)' if cold else ''} x{OVERHEAD_RUNS}")
            times = time_runs(cmd, env, f"infracheck {name}", 0, cold)
            result[f"{name}_s"] = spread(times)
            result[f"{name}_runs_s"] = times
    return result


# --------------------------------------------------------------------------- output


def fmt_spread(s: dict[str, float]) -> str:
    return f"{s['median']:6.2f}  [{s['min']:.2f}-{s['max']:.2f}]"


def table(result: dict[str, Any]) -> str:
    warm, proc, bl = result["warm"], result["process"], result["baseline"]
    jobs = f"--jobs {result['jobs']}" if result["jobs"] is not None else "8 jobs"
    rows = [
        ("", "wall s median [min-max]", "CPU s median [min-max]", "gcloud procs", "API requests"),
        (f"infracheck --engine warm ({jobs})", fmt_spread(warm["wall_s"]), fmt_spread(warm["cpu_s"]),
         str(warm["gcloud_processes"]), str(warm["requests"])),
        (f"infracheck --engine process ({jobs})", fmt_spread(proc["wall_s"]), fmt_spread(proc["cpu_s"]),
         str(proc["gcloud_processes"]), str(proc["requests"])),
        ("seed baseline (sequential)", fmt_spread(bl["wall_s"]), fmt_spread(bl["cpu_s"]),
         str(bl["gcloud_processes"]), str(bl["requests"])),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"infracheck benchmark - real gcloud {result['gcloud_version']}, fake API {result['scenario']}, "
        f"latency {result['latency_s']:g} s/request, repeat {result['repeat']} (rotating order), "
        f"{result['cpus']} CPUs",
        f"network probes excluded everywhere (--exclude '{EXCLUDE}'; seed 1.4/2.3 curl and 2.4 not run)",
        "CPU s: user + system of every process started, children included; "
        "warm: 1 process loads gcloud, its {n} commands are forks of it".format(n=warm["gcloud_commands"]),
        "",
    ]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j])
                               for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    r = result["ratios"]
    lines += [
        "",
        f"warm / process (medians): wall {r['warm_process_wall']:.2f} (target <= 0.25), "
        f"CPU {r['warm_process_cpu']:.2f} (target <= 0.20)",
        f"baseline / warm (medians): {r['baseline_warm_wall']:.1f}x faster (target >= 12x); "
        f"baseline / process: {r['baseline_process_wall']:.1f}x",
        f"load reads (Cloud Monitoring) in the warm run: wall x{r['load_reads_warm_wall']:.2f} "
        f"(target <= 1.10), CPU x{r['load_reads_warm_cpu']:.2f}; without them: "
        f"{fmt_spread(result['warm_no_load']['wall_s']).strip()} s wall, "
        f"{result['warm_no_load']['requests']} requests",
        f"infracheck: exit {warm['exit_code']} {warm['status']} with both engines, at most "
        f"{max(warm['max_in_flight'], proc['max_in_flight'])} requests in flight",
        f"baseline: {bl['failed']} of {bl['gcloud_processes']} commands failed "
        f"({bl['failed_nonzero_exit']} with a non-zero exit, {bl['failed'] - bl['failed_nonzero_exit']} "
        f"exit 0 + WARNING), {len(result['baseline_skipped'])} skipped (compute ssh, sql connect)",
        "",
        *fleet_lines(result["fleet"]),
        "",
        f"start-up, whole process, median of {OVERHEAD_RUNS} [min-max] s "
        "(targets: --help, list, explain < 0.15; a replay < 0.30):",
        *(f"  {label:48}{fmt_spread(result['overhead'][key + '_s']).strip()}" for key, label in (
            ("help", "infracheck --help"),
            ("list", "infracheck list"),
            ("explain", "infracheck explain cloudsql.state"),
            ("replay", f"infracheck diagnose --replay {result['replay_dir']}"),
            ("list_cold", "infracheck list, empty catalog cache"),
            ("replay_cold", "the replay, empty catalog cache"),
        )),
        f"total bench time: {result['total_s']:.1f} s",
    ]
    return "\n".join(lines)


def results_page(result: dict[str, Any], measured: str, commit: str) -> str:
    """docs/results.md: this run's figures in Markdown, labelled with when and on what they were measured."""
    warm, proc, bl, r, over = result["warm"], result["process"], result["baseline"], result["ratios"], \
        result["overhead"]

    def cell(s: dict[str, float], unit: str = "") -> str:
        return f"**{s['median']:.2f}{unit}** [{s['min']:.2f}-{s['max']:.2f}]"

    jobs = f"--jobs {result['jobs']}" if result["jobs"] is not None else "8 jobs"
    rounds = (f"Medians of {result['repeat']} rounds in a rotating order, [min-max]" if result["repeat"] > 1
              else "One round (`--repeat 1`): no spread")
    lines = [
        "# Measured results",
        "",
        "<!-- Written by `make bench` (tests/tools/bench.py --results): do not edit by hand. -->",
        "",
        f"The last `make bench` run: {measured}, commit `{commit}`, gcloud {result['gcloud_version']}, "
        f"Python {result['python']}, {result['cpus']} CPUs. How it measures, and why the engines differ: "
        "[Speed](development.md#speed). [Back to the README](../README.md).",
        "",
        f"The real gcloud against the fake API serving `{result['scenario']}` with {result['latency_s']:g} s "
        f"per request; network probes excluded (`--exclude '{result['excluded']}'`); infracheck with {jobs}. "
        f"{rounds}; CPU seconds are user + system "
        "of every process started, children included.",
        "",
        "| | wall time | CPU seconds | gcloud processes | API requests |",
        "|---|---|---|---|---|",
        f"| infracheck `--engine warm` | {cell(warm['wall_s'], ' s')} | {cell(warm['cpu_s'])} | "
        f"1 ({warm['gcloud_commands']} commands forked from it) | {warm['requests']} |",
        f"| infracheck `--engine process` | {cell(proc['wall_s'], ' s')} | {cell(proc['cpu_s'])} | "
        f"{proc['gcloud_processes']} | {proc['requests']} |",
        f"| the plan's scripts, sequential | {cell(bl['wall_s'], ' s')} | {cell(bl['cpu_s'])} | "
        f"{bl['gcloud_processes']} ({bl['failed']} fail against real gcloud, "
        f"{len(result['baseline_skipped'])} never run: `compute ssh`, `sql connect`) | {bl['requests']} |",
        "",
        f"Warm / process: **{r['warm_process_wall']:.2f}** of the wall time (target at most 0.25) and "
        f"**{r['warm_process_cpu']:.2f}** of the CPU (target at most 0.20); the plan's sequential commands take "
        f"**{r['baseline_warm_wall']:.1f}x** as long as the warm engine (target at least 12x) and "
        f"{r['baseline_process_wall']:.1f}x as long as the process engine. This machine may be shared: only "
        "figures from one run compare.",
        "",
        *fleet_section(result["fleet"]),
        "",
        f"Start-up, whole process, the same run (median of {OVERHEAD_RUNS} after one unmeasured run, [min-max]):",
        "",
        "| | seconds | target |",
        "|---|---|---|",
        *(f"| {label} | {cell(over[key + '_s'])} | {target} |" for key, label, target in (
            ("help", "`infracheck --help`", "0.15"),
            ("list", "`infracheck list`", "0.15"),
            ("explain", "`infracheck explain cloudsql.state`", "0.15"),
            ("replay", f"`infracheck diagnose --replay {result['replay_dir']} --exclude '{result['excluded']}' "
                       "--format json`", "0.30"),
            ("list_cold", "`list`, empty catalog cache (the first run after an install or an edit)", ""),
            ("replay_cold", "the replay, empty catalog cache", ""),
        )),
        "",
        "`bench-results.json` (not committed) holds the per-command details of the run.",
    ]
    return "\n".join(lines) + "\n"


def fleet_section(f: dict[str, Any]) -> list[str]:
    """docs/results.md's fleet round: the four ways to judge many targets, and the two goals."""
    n, one, warm, proc, loop = f["targets"], f["one"], f["warm"], f["process"], f["loop"]

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    def row(label: str, side: dict[str, Any], note: str = "") -> str:
        return (f"| {label} | {side['targets']} | **{side['wall_s']:.2f} s** | **{side['cpu_s']:.2f}** | "
                f"{side['cpu_per_target_s']:.2f} | {side['requests']} | {note} |")

    loop_note = ("sequential" if loop["targets"] == n else
                 f"sequential: {n} targets ~{loop['wall_for_fleet_s']:.0f} s, ~{loop['cpu_for_fleet_s']:.0f} CPU-s "
                 f"(estimated: per target x {n})")
    proc_note = "" if proc["targets"] == n else f"{proc['targets']} of the {n}: about one run's CPU per target"
    return [
        "## Many targets (fleet round)",
        "",
        f"{n} targets (`{f['projects']}` in {REGION}), one fake API serving each project as "
        f"`{f['scenario']}` with {f['latency_s']:g} s per request, the same run, side by side (one run of each "
        "but the single-target reference); "
        f"network probes excluded. Targets file: one `[[target]]` per project ([fleets](fleet.md)).",
        "",
        "| | targets | wall time | CPU seconds | CPU s per target | API requests | |",
        "|---|---|---|---|---|---|---|",
        row("one target: `infracheck diagnose --project P` (warm)", one, "median of 3 single runs, spread over the "
            f"round: wall {min(r['wall_s'] for r in one['runs']):.2f}-{max(r['wall_s'] for r in one['runs']):.2f} s"),
        row("`infracheck diagnose --targets FILE` (warm)", warm),
        row("`infracheck diagnose --targets FILE --engine process`", proc, proc_note),
        row("shell loop: `for p in ...; do infracheck diagnose --project $p; done`", loop, loop_note),
        "",
        f"{n} targets took **{f['wall_x']:.2f}x** the wall time of one (goal at most {f['goal_wall_x']:g}x): "
        f"{met(f['wall_met'])}. Each target after the first cost **{f['cpu_per_extra_target']:.2f}** of one run's "
        f"CPU, (CPU({n}) - CPU(1)) / {n - 1} / CPU(1) (goal at most {f['goal_cpu_per_extra_target']:g}): "
        f"{met(f['cpu_met'])}. The shell loop takes about {f['loop_wall_x']:.1f}x the wall time of `--targets`.",
    ]


def provenance() -> tuple[str, str]:
    """(UTC date and time, the commit measured: `-dirty` when the work tree differs from it)."""
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return measured, "unknown (not a git work tree)"
    return measured, head + ("-dirty" if dirty else "")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the fake API waits per request (0.3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved (3)")
    parser.add_argument("--jobs", type=int, default=None, help="passed to infracheck (default: its own, 8)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results.json",
                        help="where to write the results as JSON (bench-results.json)")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md",
                        help="the Markdown results page to rewrite (docs/results.md)")
    parser.add_argument("--fleet-targets", type=int, default=20, help="targets of the fleet round (20)")
    parser.add_argument("--fleet-process-targets", type=int, default=2,
                        help="of them, how many the --engine process fleet run judges (2)")
    parser.add_argument("--fleet-loop-targets", type=int, default=None,
                        help="of them, how many the shell loop of single runs judges (all)")
    args = parser.parse_args(argv)
    if not 2 <= args.fleet_targets <= 99:
        parser.error("--fleet-targets must be between 2 and 99")
    if args.fleet_loop_targets is None:
        args.fleet_loop_targets = args.fleet_targets
    for name in ("fleet_process_targets", "fleet_loop_targets"):
        if not 1 <= getattr(args, name) <= args.fleet_targets:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and --fleet-targets")
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.jobs is not None and not 1 <= args.jobs <= 64:
        parser.error("--jobs must be between 1 and 64")
    return args


def bench(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    commands, skipped = seed_commands()
    progress("gcloud version (warm-up)")
    version = gcloud_version()
    # "warm-no-load": the warm run without the Cloud Monitoring reads, side by side, so what the reads
    # add to a warm run is measured in one bench (target: at most 10% more wall time).
    runs: dict[str, list[dict[str, Any]]] = {"warm": [], "process": [], "baseline": [], "warm-no-load": []}
    sides = list(runs)
    with FakeGoogleAPI(SCENARIO, API_ROOT) as fake:
        fake.latency = args.latency
        for route, body in run_bodies().items():
            fake.set_body(route, body)
        for i in range(args.repeat):
            order = sides[i % len(sides):] + sides[:i % len(sides)]
            for side in order:
                progress(f"round {i + 1}/{args.repeat}: {side} ...")
                if side == "baseline":
                    run = run_baseline(fake, commands)
                elif side == "warm-no-load":
                    run = run_infracheck(fake, args.jobs, "warm", exclude=f"{EXCLUDE},{NO_LOAD}")
                else:
                    run = run_infracheck(fake, args.jobs, side)
                runs[side].append(run)
                progress(f"round {i + 1}/{args.repeat}: {side} {run['wall_s']:.2f} s, {run['cpu_s']:.2f} CPU-s, "
                         f"{run['gcloud_processes']} gcloud processes, {run['requests']} requests")
                if run["mutations"]:
                    raise BenchError(f"{side} sent {run['mutations']} non-GET requests to the fake API")
        if fake.problems:
            raise BenchError(f"fake API fixture problems: {fake.problems}")
    fleet = fleet_round(args)
    over = overhead(args.jobs)
    wall = {side: spread([r["wall_s"] for r in runs[side]]) for side in sides}
    cpu = {side: spread([r["cpu_s"] for r in runs[side]]) for side in sides}

    def engine_side(side: str) -> dict[str, Any]:
        last = runs[side][-1]
        return {
            "command": f"python -m infracheck diagnose --format json --exclude '{EXCLUDE}' --engine {side}"
                       + (f" --jobs {args.jobs}" if args.jobs is not None else ""),
            "wall_s": wall[side],
            "cpu_s": cpu[side],
            "gcloud_processes": last["gcloud_processes"],
            "gcloud_commands": last["gcloud_commands"],
            "requests": last["requests"],
            "exit_code": last["exit_code"],
            "status": last["status"],
            "max_in_flight": max(r["max_in_flight"] for r in runs[side]),
            "runs": runs[side],
        }

    last_bl = runs["baseline"][-1]
    return {
        "schema": "infracheck/bench/v2",
        "gcloud_version": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "replay_dir": str(REPLAY_DIR.relative_to(ROOT)),
        "latency_s": args.latency,
        "repeat": args.repeat,
        "jobs": args.jobs,
        "excluded": EXCLUDE,
        "note": "network probes excluded in all measurements: they cannot reach the internet here",
        "warm": engine_side("warm"),
        "process": engine_side("process"),
        "baseline": {
            "method": "the seed's gcloud commands (sections 1.1-1.4, 2.1-2.3) one after another",
            "wall_s": wall["baseline"],
            "cpu_s": cpu["baseline"],
            "gcloud_processes": last_bl["gcloud_processes"],
            "requests": last_bl["requests"],
            "failed": last_bl["failed"],
            "failed_nonzero_exit": last_bl["failed_nonzero_exit"],
            "runs": [{k: v for k, v in r.items() if k != "commands"} for r in runs["baseline"]],
            "commands": last_bl["commands"],
        },
        "baseline_skipped": [vars(s) for s in skipped],
        "ratios": {
            "warm_process_wall": wall["warm"]["median"] / wall["process"]["median"],
            "warm_process_cpu": cpu["warm"]["median"] / cpu["process"]["median"],
            "baseline_warm_wall": wall["baseline"]["median"] / wall["warm"]["median"],
            "baseline_process_wall": wall["baseline"]["median"] / wall["process"]["median"],
            "load_reads_warm_wall": wall["warm"]["median"] / wall["warm-no-load"]["median"],
            "load_reads_warm_cpu": cpu["warm"]["median"] / cpu["warm-no-load"]["median"],
        },
        "warm_no_load": {"wall_s": wall["warm-no-load"], "cpu_s": cpu["warm-no-load"],
                         "requests": runs["warm-no-load"][-1]["requests"]},
        "fleet": fleet,
        "overhead": over,
        "total_s": time.perf_counter() - t_start,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("gcloud") is None:
        print("bench: gcloud is not installed (not on PATH); the benchmark needs the real Google Cloud CLI",
              file=sys.stderr)
        return 2
    measured, commit = provenance()  # before the run: the code measured is the code checked out now
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
            os.environ["XDG_CACHE_HOME"] = cache  # infracheck's catalog cache: never the user's ~/.cache
            result = bench(args)
    except BenchError as exc:
        print(f"bench: aborted: {exc}", file=sys.stderr)
        return 1
    print(table(result))
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    progress(f"wrote {args.json}")
    args.results.write_text(results_page(result, measured, commit), encoding="utf-8")
    progress(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
