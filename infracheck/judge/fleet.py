"""The fleet as one verdict: many targets' v1 reports, what could not be checked, shared root causes, shard merges.

Works on v1 report documents (the dicts of report/json.py), so a live
fleet run (each target's Report through `json.as_dict`) and `merge` (shard
files read back) judge the same data the same way. A target is never
dropped: one that could not be checked is a member with its reason, UNKNOWN
by name, and the fleet is never HEALTHY while one is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from infracheck.errors import CannotRun
from infracheck.model import CommandError, ErrorKind, Overall
from infracheck.catalog.targets import Shard, Target, names_of_shard

FLEET_SCHEMA = "infracheck/fleet/v1"

# Command failures that mean the target itself is out of reach, not one resource
# of it: when every gcloud command of a target failed with these, nothing GCP
# holds was judged, and the target could not be checked. First named wins.
_OUT_OF_REACH = {
    "not-authenticated": "not authenticated",
    "permission-denied": "permission denied",
    "not-found-or-denied": "permission denied",  # GCP answers a missing project and a denied one alike
    "api-disabled": "APIs disabled",
    "not-found": "project not found",
}


@dataclasses.dataclass(frozen=True)
class Listed:
    """A selected target as a fleet report names it (all shards record the whole selection)."""

    name: str
    project: str
    region: str
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, target: Target) -> Listed:
        return cls(target.name, target.project, target.region, target.tags)


@dataclasses.dataclass(frozen=True)
class Member:
    """One target's outcome: its v1 report, and why it could not be checked (None: it was)."""

    target: Listed
    report: Mapping[str, Any] | None  # None: no report at all (the reason says why)
    reason: str | None = None

    @property
    def status(self) -> Overall:
        judged = Overall[self.report["status"]] if self.report is not None else Overall.UNKNOWN
        # A target that could not be checked is never better than UNKNOWN (a probe may still make it CRITICAL).
        return max(judged, Overall.UNKNOWN) if self.reason else judged


@dataclasses.dataclass(frozen=True)
class Fleet:
    """Every selected target (of this shard, or all of them) and the selection they came from."""

    members: tuple[Member, ...]  # sorted by name
    selection: tuple[Listed, ...]  # the whole selection, every shard's targets
    fingerprint: str
    shard: Shard | None = None
    generated_at: str | None = None


@dataclasses.dataclass(frozen=True)
class SharedCause:
    """A root-cause rule that several checked targets fail: one fix to plan, not N."""

    rule: str
    status: str
    severity: str | None
    targets: tuple[tuple[str, str, str], ...]  # (target, its resources, its first one's message)


def member(target: Target | Listed, report: Mapping[str, Any]) -> Member:
    """A target's v1 report as a fleet member; one whose every gcloud command was refused is not checked."""
    listed = target if isinstance(target, Listed) else Listed.of(target)
    return Member(listed, report, not_checked(report))


def unchecked(target: Target | Listed, reason: str) -> Member:
    """A target no report exists for (its project is not found, its recording folder is missing...)."""
    listed = target if isinstance(target, Listed) else Listed.of(target)
    return Member(listed, None, reason)


def not_checked(report: Mapping[str, Any]) -> str | None:
    """Why nothing GCP holds was judged for this target, or None when something was.

    Every gcloud command failed, each for a reason that is the target's own
    (access, a project that does not exist, APIs off): the probes alone do
    not make a target checked.
    """
    commands = [c for c in report.get("commands") or () if (c.get("argv") or [None])[0] == "gcloud"]
    if not commands or not all(c.get("error_kind") in _OUT_OF_REACH for c in commands):
        return None
    # Compute tells a project that does not exist (404 naming the project itself: CommandError.project_gone,
    # as discovery reads it) from one this account may not read (403); the other APIs answer both with 403,
    # so one such answer names the cause.
    if any(CommandError(ErrorKind(c["error_kind"]), str(c.get("error") or "")).project_gone for c in commands):
        gone = f"The resource 'projects/{report.get('project')}' was not found"
        return f"project not found: compute answers \"{gone}\"; every gcloud command failed ({len(commands)})"
    kinds = {c["error_kind"] for c in commands}
    headline = next(words for kind, words in _OUT_OF_REACH.items() if kind in kinds)
    refused = "was refused" if headline == "permission denied" else "failed"
    return f"{headline}: every gcloud command {refused} ({len(commands)})"


def status(fleet: Fleet) -> Overall:
    """The worst target's verdict; a fleet with no target is UNKNOWN (HEALTHY needs evidence)."""
    if not fleet.members:
        return Overall.UNKNOWN
    return max(m.status for m in fleet.members)


def root_causes(m: Member) -> list[Mapping[str, Any]]:
    return list(m.report.get("root_causes") or ()) if m.report is not None else []


def shared_causes(fleet: Fleet) -> tuple[SharedCause, ...]:
    """Root-cause rules failed by two or more checked targets: most targets, then critical, first.

    Grouped by rule and outcome, not resource: each project names its
    connector or instance its own way, and the fix is the same.
    """
    groups: dict[tuple[str, str, str | None], dict[str, tuple[list[str], str]]] = {}
    for m in fleet.members:
        if m.reason:
            continue  # listed as not checked, not as N more root causes
        for cause in root_causes(m):
            key = (str(cause.get("rule")), str(cause.get("status")), cause.get("severity"))
            resources, message = groups.setdefault(key, {}).setdefault(m.target.name, ([], str(cause.get("message"))))
            resources.append(str(cause.get("resource")))
    shared = [SharedCause(rule, st, severity, tuple((name, ", ".join(res), msg) for name, (res, msg) in found.items()))
              for (rule, st, severity), found in groups.items() if len(found) > 1]
    rank = {"critical": 0, "warning": 1}
    return tuple(sorted(shared, key=lambda s: (-len(s.targets), rank.get(s.severity or "", 2), s.rule)))


def gather(selected: Sequence[Target], which: Shard | None, members: Sequence[Member],
           generated_at: str | None = None) -> Fleet:
    """The fleet of one run: a member for every target of its slice (one without a member is not checked)."""
    from infracheck.catalog.targets import fingerprint, slice_of

    mine = slice_of(selected, which)
    given = {m.target.name: m for m in members}
    strays = sorted(set(given) - {t.name for t in mine})
    if strays:
        raise CannotRun(f"target '{strays[0]}' is not in this run's selection" + (f" (shard {which})" if which else ""))
    every = tuple(given[t.name] if t.name in given else unchecked(t, "no report was made for it") for t in mine)
    return Fleet(every, tuple(Listed.of(t) for t in sorted(selected, key=lambda t: t.name)), fingerprint(selected),
                 which, generated_at)


# --- merge ------------------------------------------------------------------------

def merge(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[Fleet, tuple[str, ...]]:
    """Shards' fleet documents as the fleet one unsharded run gives, and notes on how they were put together.

    A shard that is missing, or given twice for the same attempt, leaves its
    targets UNKNOWN by name with the reason; a later attempt of a shard
    (CLOUD_RUN_TASK_ATTEMPT) replaces an earlier one. Documents of different
    selections are refused: their sum is no fleet.
    """
    if not documents:
        raise CannotRun("merge needs the fleet reports of the shards (infracheck/fleet/v1 JSON files)")
    parsed = [(name, _parse(name, doc)) for name, doc in documents]
    first_name, first = parsed[0]
    for name, fleet in parsed[1:]:
        if fleet.fingerprint != first.fingerprint:
            raise CannotRun(f"{name}: a shard of another selection ({fleet.fingerprint}, {first_name} has "
                            f"{first.fingerprint}): shards of one fleet run share the targets file and the selection")
    if all(f.shard is None for _, f in parsed):
        if len(parsed) > 1:
            raise CannotRun(f"{len(parsed)} unsharded fleet reports: merge puts together the shards of one run "
                            "(each made with --shard I/N or a job's index)")
        return dataclasses.replace(first, shard=None), ()
    if any(f.shard is None for _, f in parsed):
        whole = next(name for name, f in parsed if f.shard is None)
        raise CannotRun(f"{whole}: an unsharded fleet report among shards")
    counts = {f.shard.count for _, f in parsed if f.shard is not None}
    if len(counts) > 1:
        raise CannotRun(f"shards of different counts ({', '.join(f'/{c}' for c in sorted(counts))}): "
                        "one run's shards share N")
    count = counts.pop()
    notes: list[str] = []
    by_index: dict[int, list[tuple[str, Fleet]]] = {}
    for name, fleet in parsed:
        assert fleet.shard is not None
        by_index.setdefault(fleet.shard.index, []).append((name, fleet))
    listed = {t.name: t for t in first.selection}
    members: list[Member] = []
    for index in range(count):
        slice_names = names_of_shard(list(listed), index, count)
        given = by_index.get(index, [])
        if not given:
            members += [unchecked(listed[n], f"shard {index}/{count} missing: no fleet report of it was given")
                        for n in slice_names]
            continue
        latest = max(f.shard.attempt for _, f in given if f.shard is not None)
        chosen = [(name, f) for name, f in given if f.shard is not None and f.shard.attempt == latest]
        for name, f in given:
            if f.shard is not None and f.shard.attempt < latest:
                notes.append(f"{name}: shard {index}/{count} attempt {f.shard.attempt} replaced by attempt {latest}")
        if len(chosen) > 1:
            files = ", ".join(name for name, _ in chosen)
            members += [unchecked(listed[n], f"shard {index}/{count} given twice ({files}): "
                                             "which run to trust is unknown") for n in slice_names]
            continue
        name, fleet = chosen[0]
        present = {m.target.name: m for m in fleet.members}
        strays = sorted(set(present) - set(slice_names))
        if strays:
            raise CannotRun(f"{name}: target '{strays[0]}' is not in shard {index}/{count}'s share of the selection")
        members += [present[n] if n in present else
                    unchecked(listed[n], f"missing from shard {index}/{count}'s report ({name})")
                    for n in slice_names]
    generated = [f.generated_at for _, f in parsed if f.generated_at]
    return Fleet(tuple(sorted(members, key=lambda m: m.target.name)), first.selection, first.fingerprint, None,
                 max(generated) if generated else None), tuple(notes)


def _parse(name: str, doc: Mapping[str, Any]) -> Fleet:
    """A fleet document read back; anything that is not one is refused naming the file."""
    if not isinstance(doc, Mapping) or doc.get("schema") != FLEET_SCHEMA:
        schema = doc.get("schema") if isinstance(doc, Mapping) else None
        raise CannotRun(f"{name}: not an infracheck fleet report (schema {schema!r}, expected '{FLEET_SCHEMA}')")
    try:
        selection_doc = doc["selection"]
        selection = tuple(Listed(str(t["target"]), str(t["project"]), str(t["region"]),
                                 tuple(sorted((str(k), str(v)) for k, v in (t.get("tags") or {}).items())))
                          for t in selection_doc["targets"])
        fingerprint = str(selection_doc["fingerprint"])
        shard_doc = doc.get("shard")
        shard = None if shard_doc is None else Shard(int(shard_doc["index"]), int(shard_doc["count"]),
                                                     str(shard_doc.get("source") or ""),
                                                     int(shard_doc.get("attempt") or 0))
        members = []
        for entry in doc["targets"]:
            Overall[entry["status"]]  # a verdict this version knows
            listed = Listed(str(entry["target"]), str(entry["project"]), str(entry["region"]),
                            tuple(sorted((str(k), str(v)) for k, v in (entry.get("tags") or {}).items())))
            report = {k: v for k, v in entry.items() if k not in _MEMBER_KEYS}
            members.append(Member(listed, report, entry.get("not_checked")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CannotRun(f"{name}: not a complete infracheck fleet report ({type(exc).__name__}: {exc})") from None
    if shard is not None and not (0 <= shard.index < shard.count):
        raise CannotRun(f"{name}: shard {shard.index}/{shard.count} is not a shard")
    return Fleet(tuple(members), selection, fingerprint, shard, doc.get("generated_at"))


# The keys a fleet document adds to each target's v1 report.
_MEMBER_KEYS = ("target", "tags", "not_checked")


def first_line(text: str) -> str:
    """A message's first sentence-sized piece, for one line of the summary."""
    line = text.splitlines()[0] if text else ""
    return re.sub(r"\s+", " ", line).strip()
