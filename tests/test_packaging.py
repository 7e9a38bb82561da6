"""A non-editable install carries the catalog (commands/ becomes infracheck.commands)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_finds_the_catalog(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert (target / "infracheck" / "commands" / "profile.toml").is_file()
    # Run from elsewhere, with only the installed copy importable (not the source tree).
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c",
                           "import infracheck.catalog.loader as c; print(c.default_dir()); print(len(c.load().checks))"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    where, count = done.stdout.split()
    assert where.startswith(str(target)) and int(count) > 20
    listing = subprocess.run([sys.executable, "-m", "infracheck", "list"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=60)
    assert listing.returncode == 0 and "cloudsql.ssl" in listing.stdout


def test_no_machine_path_and_no_unshipped_doc_in_tracked_files():
    machine_paths = ("/" + "work/", "/" + "root/")  # spelt apart so this file does not match itself
    unshipped = "GCLOUD" + ".md"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".toml", ".cfg", ".txt") and path.name != "Makefile":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not any(p in text for p in machine_paths), name
        assert unshipped not in text, name  # the project's own gcloud notes are docs/gcloud.md
    assert (ROOT / "docs" / "gcloud.md").is_file()
