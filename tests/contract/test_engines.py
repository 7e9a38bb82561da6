"""Both engines, the same bytes: every catalog command, healthy and under every fault of
the fault matrix, as a plain `gcloud` process and through the warm engine.

One shared run per scenario: the process side and the warm side run side by side
(both wait on the same hung route), then each command is compared: exit code,
stdout and stderr byte for byte, and the classified error.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infracheck.catalog import loader
from infracheck.runner import gcloud, tracks, warm
from tests.contract.conftest import ROOT, environment, infracheck
from tests.contract.test_faults import MATRIX, TIMEOUT
from tests.tools.fakeapi import FakeGoogleAPI
from tests.tools.fakesdk import make_sdk

pytestmark = pytest.mark.contract

# gcloud's HttpError text echoes the response headers, the server's Date among
# them: two processes a second apart differ there and nowhere else.
_DATE = re.compile(rb"'date': '[^']*'")

# On the release track the installed gcloud has each group on, as a run asks (infracheck/runner/tracks.py).
_CATALOG = tracks.resolve(loader.load(None, {}), tracks.detect(shutil.which("gcloud")))
ARGVS = sorted({argv for check in _CATALOG.checks for argv in check.sources if argv[0] == "gcloud"})
# The hung route ends at its timeout whatever the load; every other command gets
# room for a loaded machine (and for Cloud SQL's ~30 s of 5xx retries).
HUNG = {argv for argv in ARGVS for _, fault, (_, name), *_ in MATRIX if fault == "hang" and f"--secret={name}" in argv}
HUNG_TIMEOUT, ROOMY_TIMEOUT = 15.0, 300.0




def as_process(argv: tuple[str, ...], env: dict[str, str], timeout: float) -> tuple[str, int | None, bytes, bytes]:
    """What a separate gcloud process prints: ("done", code, stdout, stderr) or ("timeout", ...)."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", None, b"", b""
    return "done", proc.returncode, out, err


def both_engines(fake: FakeGoogleAPI, config: Path, argvs: list[tuple[str, ...]], jobs: int = 8,
                 hung: frozenset[tuple[str, ...]] = frozenset()) -> dict:
    env = gcloud.environment(TIMEOUT, fake.run_env(config))
    results: dict = {}

    def timeout_for(argv: tuple[str, ...]) -> float:
        return HUNG_TIMEOUT if argv in hung else ROOMY_TIMEOUT

    def process_side() -> None:
        with ThreadPoolExecutor(jobs) as pool:
            results["process"] = dict(zip(argvs, pool.map(lambda a: as_process(a, env, timeout_for(a)), argvs)))

    thread = threading.Thread(target=process_side)
    thread.start()
    engine = warm.Engine(warm.launch(env), jobs, env)
    try:
        for argv in argvs:
            engine.submit(argv, timeout_for(argv))
        replies = {argv: engine.reply(argv, timeout_for(argv)) for argv in argvs}
        results["warm"] = {a: (r.kind.value, r.code, r.stdout, r.stderr) for a, r in replies.items()}  # as the process side says it
    finally:
        engine.close()
    thread.join()
    return results


def classified(printed: tuple[str, int | None, bytes, bytes]) -> object:
    kind, code, out, err = printed
    if kind != "done":
        return kind
    err = _DATE.sub(b"", err)
    outcome = gcloud.interpret(("gcloud",), code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), 0.0)
    return outcome.error, outcome.document


def kind_of(printed: tuple[str, int | None, bytes, bytes]) -> str | None:
    verdict = classified(printed)
    if isinstance(verdict, str):
        return verdict
    error, _ = verdict  # type: ignore[misc]
    return error.kind.value if error else None


def assert_same(results: dict, argvs: list[tuple[str, ...]]) -> None:
    for argv in argvs:
        process, warm_side = results["process"][argv], results["warm"][argv]
        assert warm_side[:2] == process[:2], argv  # kind, exit code
        assert warm_side[2] == process[2], argv  # stdout, byte for byte
        assert _DATE.sub(b"", warm_side[3]) == _DATE.sub(b"", process[3]), argv  # stderr, byte for byte
        assert classified(warm_side) == classified(process), argv


@pytest.fixture(scope="module")
def healthy(fake: FakeGoogleAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    fake.set_scenario(ROOT / "fixtures" / "api" / "healthy")
    yield both_engines(fake, tmp_path_factory.mktemp("gcloud-config"), ARGVS)


@pytest.fixture(scope="module")
def faulted(fake: FakeGoogleAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    fake.set_scenario(ROOT / "fixtures" / "api" / "healthy")
    for route, fault, *_ in MATRIX:
        fake.fault(route, fault)
    try:
        yield both_engines(fake, tmp_path_factory.mktemp("gcloud-config"), ARGVS, hung=frozenset(HUNG))
    finally:
        fake.clear_faults()


def test_every_catalog_command_prints_the_same_through_both_engines(healthy: dict) -> None:
    assert len(ARGVS) >= 15
    assert_same(healthy, ARGVS)
    assert all(printed[1] == 0 for printed in healthy["process"].values())


def test_every_fault_prints_the_same_through_both_engines(faulted: dict) -> None:
    assert len(HUNG) == 1
    assert_same(faulted, ARGVS)
    kinds = {kind_of(printed) for printed in faulted["warm"].values()}
    # The matrix reached gcloud: API answers, a server error, a decode error, a hang.
    assert {None, "permission-denied", "api-disabled", "server-error", "quota", "invalid-json", "timeout",
            "not-authenticated", "not-found-or-denied"} <= kinds, kinds

def test_no_flag_or_property_survives_into_the_next_command(api: FakeGoogleAPI, tmp_path: Path) -> None:
    """One worker, interleaved projects, regions and formats: each prints what it prints alone."""
    fake = api
    argvs = [
        ("gcloud", "run", "services", "list", "--region=us-central1", "--project=netra-staging", "--format=json"),
        ("gcloud", "run", "services", "list", "--region=europe-west1", "--project=other-project", "--format=json"),
        ("gcloud", "sql", "instances", "describe", "netra-staging-db", "--project=netra-staging", "--format=json"),
        ("gcloud", "sql", "instances", "describe", "netra-staging-db", "--project=other-project", "--format=json"),
        ("gcloud", "run", "services", "list", "--region=us-central1", "--project=netra-staging"),
        ("gcloud", "sql", "instances", "describe", "netra-staging-db"),  # no --project: must fail again
        ("gcloud", "run", "services", "list", "--bogus"),  # a usage error prints the same choices
    ]
    results = both_engines(fake, tmp_path, argvs, jobs=1)
    assert_same(results, argvs)
    outputs = [results["warm"][a] for a in argvs]
    assert outputs[0][1] == 0 and outputs[0][2] != outputs[1][2]
    assert b"required property [project] is not currently set" in outputs[5][3]
    assert not outputs[4][2].lstrip().startswith(b"[")  # the default format, not the last --format


def test_a_gcloud_whose_sdk_the_driver_cannot_import_runs_one_process_per_command(api, gcloud_config, tmp_path):
    """auto falls back and still gives the verdict; --engine warm says why it cannot start."""
    real = shutil.which("gcloud")
    assert real is not None
    bin_dir = make_sdk(tmp_path / "sdk", broken=True)
    (bin_dir / "gcloud").write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')  # runs, but its lib/ does not import
    env = environment(api, gcloud_config, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run = infracheck("diagnose", "--include", "cloudsql.*,vpc.*", "--format", "json", env=env)
    report = run.json()
    assert run.code == 0 and report["status"] == "HEALTHY", run.stderr
    assert report["engine"] == "process"
    assert "could not load gcloud: ImportError" in report["engine_note"]

    strict = infracheck("diagnose", "--include", "vpc.*", "--engine", "warm", env=env)
    assert strict.code == 3 and strict.stdout == ""
    assert strict.stderr.startswith("infracheck: error: --engine warm cannot start: the driver could not load gcloud")
    assert len(strict.stderr.strip().splitlines()) == 1


def test_the_report_names_the_engine(api, gcloud_config):
    run = infracheck("diagnose", "--include", "vpc.*", "--format", "json", env=environment(api, gcloud_config))
    assert run.code == 0, run.stderr
    assert run.json()["engine"] == "warm"
    process = infracheck("diagnose", "--include", "vpc.*", "--format", "json", "--engine", "process",
                         env=environment(api, gcloud_config))
    assert process.json()["engine"] == "process" and process.json()["findings"] == run.json()["findings"]
