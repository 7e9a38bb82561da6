"""tracks.py: the release track of `monitoring policies` read from the SDK's surface tree, put in front of
the command everywhere it appears, and kept by a recording so its replay asks for the same argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infracheck.catalog import loader
from infracheck.runner import tracks
from infracheck.cli import main

ROOT = Path(__file__).resolve().parents[2]


def sdk(tmp_path: Path, **groups: str) -> str:
    """A minimal SDK tree: bin/gcloud and lib/surface/monitoring/<group>/__init__.py with a decorator."""
    (tmp_path / "bin").mkdir()
    gcloud = tmp_path / "bin" / "gcloud"
    gcloud.write_text("#!/bin/sh\n")
    for group, decorator in groups.items():
        folder = tmp_path / "lib" / "surface" / "monitoring" / group
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text(f"from x import base\n\n\n{decorator}\nclass G(base.Group):\n    pass\n")
    return str(gcloud)


@pytest.mark.parametrize("decorator, track", [
    ("@base.ReleaseTracks(base.ReleaseTrack.ALPHA)", "alpha"),  # gcloud 528
    ("@base.ReleaseTracks(base.ReleaseTrack.ALPHA, base.ReleaseTrack.BETA)", "beta"),
    ("@base.ReleaseTracks(\n    base.ReleaseTrack.ALPHA, base.ReleaseTrack.BETA, base.ReleaseTrack.GA\n)", "ga"),
])
def test_detect_takes_the_most_stable_track_the_sdk_has(tmp_path, decorator, track):
    assert tracks.detect(sdk(tmp_path, policies=decorator)) == {"monitoring policies": track}


def test_detect_follows_a_symlinked_gcloud_and_knows_nothing_of_an_sdk_it_cannot_read(tmp_path):
    (tmp_path / "sdk").mkdir()
    real = sdk(tmp_path / "sdk", policies="@base.ReleaseTracks(base.ReleaseTrack.ALPHA)")
    link = tmp_path / "gcloud"
    link.symlink_to(real)
    assert tracks.detect(str(link)) == {"monitoring policies": "alpha"}
    assert tracks.detect(str(tmp_path / "nowhere" / "gcloud")) == {}
    assert tracks.detect(None) == {}


@pytest.mark.parametrize("command, expected", [
    (("gcloud", "monitoring", "policies", "list", "--project=p"),
     ("gcloud", "alpha", "monitoring", "policies", "list", "--project=p")),
    (("gcloud", "monitoring", "channels", "create"), ("gcloud", "beta", "monitoring", "channels", "create")),
    (("gcloud", "monitoring", "uptime", "list-configs"), ("gcloud", "monitoring", "uptime", "list-configs")),
    (("gcloud", "sql", "instances", "describe", "x"), ("gcloud", "sql", "instances", "describe", "x")),
    (("probe", "http", "https://x"), ("probe", "http", "https://x")),
])
def test_argv_puts_the_track_after_gcloud(command, expected):
    assert tracks.argv(command, {"monitoring policies": "alpha", "monitoring channels": "beta"}) == expected
    assert tracks.argv(command, {}) == command  # GA: as the catalog writes it


def test_resolve_rewrites_every_source_of_the_catalog():
    cat = loader.load(ROOT / "commands")
    resolved = tracks.resolve(cat, {"monitoring policies": "alpha"})
    sources = {argv[:5] for check in resolved.checks for argv in check.sources if "policies" in argv}
    assert sources == {("gcloud", "alpha", "monitoring", "policies", "list")}
    assert tracks.resolve(cat, {"monitoring policies": "ga"}) is cat


def test_a_recording_keeps_its_tracks_and_its_replay_uses_them(tmp_path):
    meta = json.loads((ROOT / "fixtures" / "monitoring-none" / "recording.json").read_text())
    assert meta["tracks"]["monitoring policies"] == "alpha"  # recorded through gcloud 528
    assert tracks.for_run(ROOT / "fixtures" / "monitoring-none") == {"monitoring channels": "beta",
                                                                      "monitoring policies": "alpha"}
    # A replay asks for the argv the recording ran, whatever SDK replays it.
    assert main(["diagnose", "--replay", str(ROOT / "fixtures" / "monitoring-watched"), "--include",
                 "monitoring*", "--color", "never"]) == 0
    assert tracks.recorded({"tracks": {"monitoring policies": "nightly", "x": "beta"}}) == {"x": "beta"}
    assert tracks.recorded({"tracks": "alpha"}) == {}


def test_a_recording_names_tracks_only_when_a_tracked_command_ran():
    found = {"monitoring policies": "alpha", "monitoring channels": "beta"}
    assert tracks.ran(found, [("gcloud", "alpha", "monitoring", "policies", "list")])
    assert not tracks.ran(found, [("gcloud", "sql", "instances", "describe", "db")])
    assert not tracks.ran({"monitoring policies": "ga"}, [("gcloud", "monitoring", "policies", "list")])
    # The seed's outage was recorded without the monitoring area: its metadata has no tracks.
    assert "tracks" not in json.loads((ROOT / "fixtures" / "outage" / "recording.json").read_text())
