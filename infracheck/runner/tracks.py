"""Release tracks: which of gcloud's GA, beta or alpha surface has a command group, resolved once per run.

Some groups move between tracks across SDK versions: `monitoring policies`
is alpha-only in gcloud 528 and GA in later SDKs, `monitoring channels` beta.
The catalog writes each command as GA; `resolve` puts the track the
installed gcloud has in front of the group (`gcloud alpha monitoring
policies list ...`), so the report, the recording's file names and fix mode
all show the command that really ran. `detect` reads the installed SDK's
surface tree (the `@base.ReleaseTracks(...)` decorator of the group's
`__init__.py`, which is what gcloud itself loads): no process is started. A
recording keeps the tracks it ran with (`recording.json`), so its replay asks
for the same argv.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infracheck.model import Catalog, Check, Fix, Rule

# Groups whose track varies by SDK version, as the catalog (GA) spells them.
GROUPS: tuple[tuple[str, ...], ...] = (("monitoring", "policies"), ("monitoring", "channels"))
# Most stable first: the GA command when the SDK has it.
_ORDER = ("ga", "beta", "alpha")
_DECORATOR = re.compile(r"@base\.ReleaseTracks\(([^)]*)\)")
_TRACK = re.compile(r"ReleaseTrack\.(GA|BETA|ALPHA)")

Tracks = Mapping[str, str]  # "monitoring policies" -> "ga" | "beta" | "alpha"


def key(group: tuple[str, ...]) -> str:
    return " ".join(group)


def detect(gcloud_path: str | None) -> dict[str, str]:
    """The most stable track of each group in the SDK `gcloud_path` belongs to; a group not found is left out."""
    if not gcloud_path:
        return {}
    surface = Path(os.path.realpath(gcloud_path)).parent.parent / "lib" / "surface"
    found = {}
    for group in GROUPS:
        tracks = _tracks_of(surface.joinpath(*group) / "__init__.py")
        best = next((t for t in _ORDER if t in tracks), None)
        if best is not None:
            found[key(group)] = best
    return found


def _tracks_of(init: Path) -> set[str]:
    try:
        text = init.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {t.lower() for decorator in _DECORATOR.findall(text) for t in _TRACK.findall(decorator)}


def argv(command: tuple[str, ...], tracks: Tracks) -> tuple[str, ...]:
    """`command` with its group's track inserted after `gcloud` (GA, or a group not tracked: unchanged)."""
    if len(command) < 3 or command[0] != "gcloud":
        return command
    for group in GROUPS:
        if command[1 : 1 + len(group)] == group:
            track = tracks.get(key(group), "ga")
            return command if track == "ga" else (command[0], track) + command[1:]
    return command


def ran(tracks: Tracks, argvs: Iterable[tuple[str, ...]]) -> bool:
    """Whether any of argvs is a command of a group whose track was not GA (a recording then keeps them)."""
    return any(argv[:2] == ("gcloud", track) for argv in argvs for track in set(tracks.values()) - {"ga"})


def resolve(catalog: Catalog, tracks: Tracks) -> Catalog:
    """The catalog with every tracked command (sources and fixes) on the track `tracks` names."""
    if not any(v != "ga" for v in tracks.values()):
        return catalog
    return dataclasses.replace(catalog, checks=tuple(_check(c, tracks) for c in catalog.checks))


def _check(check: Check, tracks: Tracks) -> Check:
    return dataclasses.replace(
        check,
        argv=argv(check.argv, tracks),
        extras=tuple((n, argv(a, tracks)) for n, a in check.extras),
        context=tuple((n, argv(a, tracks)) for n, a in check.context),
        rules=tuple(_rule(r, tracks) for r in check.rules),
    )


def _rule(rule: Rule, tracks: Tracks) -> Rule:
    if rule.fix is None or not rule.fix.argv:
        return rule
    fix: Fix = dataclasses.replace(rule.fix, argv=argv(rule.fix.argv, tracks))
    return dataclasses.replace(rule, fix=fix)


def recorded(meta: Mapping[str, Any]) -> dict[str, str]:
    """The tracks a recording ran with (its recording.json's `tracks`), those it names validly."""
    raw = meta.get("tracks")
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v in _ORDER}


def for_run(replay_dir: Path | None) -> dict[str, str]:
    """A replay: the tracks its recording ran with. Live: the installed gcloud's."""
    import shutil

    from infracheck.runner import recording

    if replay_dir is not None:
        return recorded(recording.metadata(replay_dir))
    return detect(shutil.which("gcloud"))
