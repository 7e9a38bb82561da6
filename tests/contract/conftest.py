"""The real gcloud against the fake Google API: fixtures shared by the contract suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tools.fakeapi import FakeGoogleAPI

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "fixtures" / "api"

pytestmark = pytest.mark.contract


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeGoogleAPI]:
    with FakeGoogleAPI(API / "healthy", API) as api:
        yield api


@pytest.fixture
def api(fake: FakeGoogleAPI) -> Iterator[FakeGoogleAPI]:
    """The shared fake, reset to the healthy scenario before and after each test."""
    fake.set_scenario(API / "healthy")
    fake.clear_faults()
    fake.clear_bodies()
    fake.latency = 0.0
    fake.reset_log()
    yield fake
    fake.clear_faults()
    fake.clear_bodies()
    fake.latency = 0.0


@pytest.fixture
def gcloud_config(tmp_path: Path) -> Path:
    folder = tmp_path / "gcloud-config"
    folder.mkdir()
    return folder


def environment(api: FakeGoogleAPI, config: Path, **extra: str) -> dict[str, str]:
    return api.run_env(config, **extra)


def infracheck(*args: str, env: dict[str, str], timeout: float = 180) -> Run:
    import time

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "infracheck", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def leftover_processes(config: Path) -> list[int]:
    """Processes still running with this test's CLOUDSDK_CONFIG (gcloud or its children)."""
    marker = f"CLOUDSDK_CONFIG={config}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().split()[2]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found
