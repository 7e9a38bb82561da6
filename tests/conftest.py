"""Shared pytest setup: the contract suite runs only where the real gcloud is installed."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

GCLOUD = shutil.which("gcloud")
SKIP_LINE = ("gcloud is not installed on this machine: the real-gcloud contract suite "
             "(marker 'contract') is SKIPPED; install google-cloud-cli to run it")


_CACHE = tempfile.mkdtemp(prefix="infracheck-test-cache-")


def sigint_restored() -> None:
    """preexec_fn of a child a test sends SIGINT to: Ctrl-C restored to its default.

    Started from a background job of a non-interactive shell (some CI runners
    do that), the suite inherits SIGINT ignored, every child with it, and
    infracheck rightly keeps an ignored SIGINT ignored: the test's Ctrl-C
    would never arrive.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest_configure(config: pytest.Config) -> None:
    # Every infracheck the suite starts keeps its catalog cache here, not in the
    # developer's ~/.cache (shared by the whole run: a hit is the usual case).
    os.environ["XDG_CACHE_HOME"] = _CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    return f"gcloud: {GCLOUD}" if GCLOUD else f"WARNING: {SKIP_LINE}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if GCLOUD:
        return
    skip = pytest.mark.skip(reason=SKIP_LINE)
    for item in items:
        if "contract" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    from tests.tools import realtools

    if not GCLOUD:
        terminalreporter.write_line(f"WARNING: {SKIP_LINE}", yellow=True, bold=True)
    if realtools.missing():
        terminalreporter.write_line(f"WARNING: {realtools.summary_line()}", yellow=True, bold=True)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No INFRACHECK_* setting or NO_COLOR from the developer's shell reaches the CLI under test."""
    for name in list(os.environ):
        if name.startswith("INFRACHECK_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
