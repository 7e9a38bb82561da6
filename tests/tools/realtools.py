"""The real Prometheus tools (Debian's `prometheus` package): found on PATH, or the test says loudly why not.

Outside CI a machine without them skips those tests with one line saying so;
under CI=true (where .ci/run installs the package) their absence is a failure,
never a silent skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

PACKAGE = "prometheus"  # Debian's package: prometheus and promtool
SKIP_LINE = (f"{PACKAGE} is not installed on this machine: the tests against the real Prometheus and promtool are "
             f"SKIPPED; `apt-get install -y --no-install-recommends {PACKAGE}` (as .ci/run does) to run them")


def missing() -> bool:
    return not (shutil.which("prometheus") and shutil.which("promtool"))


def summary_line() -> str:
    """The line the run ends with when the tools are missing: skipped here, failed under CI."""
    if os.environ.get("CI") == "true":
        return f"{PACKAGE} is not installed under CI=true: the tests against the real Prometheus FAILED"
    return SKIP_LINE


def binary(name: str) -> str:
    """The path of `name`; skipped loudly outside CI, a failure under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {name} is not installed: .ci/run installs Debian's {PACKAGE} package")
    pytest.skip(SKIP_LINE)
