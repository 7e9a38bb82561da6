"""Parity between two environments (plan 6.2): the same resources, compared setting by setting.

Each side is what one target's gcloud documents say (pipeline/parity.py reads
them): the VPC connector, the Cloud SQL instance, the profile's Cloud Run
services (paired by their position in `services`, since staging's
`api-staging` is production's `api`), and the certificates of the target's
own domains. A difference is a WARNING naming both values, unless a profile
declares it intended:

    [[parity.ignore]]
    path = "cloudsql.tier"          # a difference's path; globs (fnmatch) allowed
    reason = "production is sized for its load"

Env variables are compared by NAME and by where the value comes from (a plain
value, or a secret's name and version): the value itself is never read into
a difference, so no secret reaches any output.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infracheck.errors import CannotRun

# The Cloud Run (Knative) annotations that set a revision's scale and its way to the VPC.
_ANNOTATIONS = (("minScale", "autoscaling.knative.dev/minScale"), ("maxScale", "autoscaling.knative.dev/maxScale"),
                ("vpcConnector", "run.googleapis.com/vpc-access-connector"),
                ("vpcEgress", "run.googleapis.com/vpc-access-egress"))
_PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
_CONNECTOR = ("machineType", "minInstances", "maxInstances", "minThroughput", "maxThroughput")
ABSENT = "(not set)"


@dataclasses.dataclass(frozen=True)
class Ignore:
    """One difference a profile declares intended."""

    path: str  # a difference's path, or an fnmatch glob over paths
    reason: str
    origin: str  # "FILE:LINE", for messages


@dataclasses.dataclass(frozen=True)
class Side:
    """One target's documents: None where the target has no such resource (or it could not be read: `unread`)."""

    name: str
    connector: Mapping[str, Any] | None
    sql: Mapping[str, Any] | None
    services: tuple[tuple[str, Mapping[str, Any] | None], ...]  # the profile's services, in order
    domains: tuple[str, ...]
    certificates: Sequence[Any]
    connector_name: str = ""  # the profile's, so `staging-connector` and `prod-connector` read alike
    unread: tuple[tuple[str, str], ...] = ()  # (resource, why) a document that could not be read


@dataclasses.dataclass(frozen=True)
class Difference:
    path: str
    what: str  # a readable name of the setting, saying which resources
    a: str
    b: str
    ignored: Ignore | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    a: str
    b: str
    differences: tuple[Difference, ...]
    compared: int  # settings compared, differing or not

    @property
    def findings(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.ignored is None)


def read_ignores(path: Path) -> tuple[Ignore, ...]:
    """A profile file's [[parity.ignore]] entries, each with a path and a reason; CannotRun with file:line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CannotRun(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CannotRun(f"{path}: not valid TOML: {exc}") from None
    parity = data.get("parity")
    if parity is None:
        return ()
    lines = text.splitlines()
    headers = [i + 1 for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*parity\.ignore\s*\]\]", line)]
    table = next((i + 1 for i, line in enumerate(lines) if re.match(r"\s*\[\s*parity\s*\]", line)), 0)
    shape = "write one [[parity.ignore]] table per intended difference, with path and reason"
    if not isinstance(parity, dict) or set(parity) - {"ignore"}:
        extra = sorted(set(parity) - {"ignore"}) if isinstance(parity, dict) else []
        raise CannotRun(f"{path}:{table or (headers or [1])[0]}: [parity] holds only ignore"
                        f"{f' (not {extra[0]!r})' if extra else ''}: {shape}")
    entries = parity.get("ignore", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CannotRun(f"{path}:{table or 1}: parity.ignore must be tables: {shape}")
    ignores = []
    for number, entry in enumerate(entries):
        line = headers[number] if len(headers) == len(entries) else table
        where = f"{path}:{line}" if line else str(path)
        unknown = sorted(set(entry) - {"path", "reason"})
        if unknown:
            raise CannotRun(f"{where}: parity.ignore: unknown key '{unknown[0]}' (path and reason only)")
        for key in ("path", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                why = " (say why the difference is intended)" if key == "reason" else " (e.g. \"cloudsql.tier\")"
                raise CannotRun(f"{where}: parity.ignore needs a non-empty {key}{why}")
        ignores.append(Ignore(entry["path"].strip(), entry["reason"].strip(), where))
    return tuple(ignores)


def compare(a: Side, b: Side, ignores: Sequence[Ignore] = ()) -> Result:
    """Every setting the two sides hold, compared; the differing ones, ignored where a profile says so."""
    pairs: list[tuple[str, str, str, str]] = []  # path, what, a, b

    def add(path: str, what: str, left: Any, right: Any) -> None:
        pairs.append((path, what, _text(left), _text(right)))

    unread_a, unread_b = dict(a.unread), dict(b.unread)
    for resource, key in (("connector", "connector"), ("cloudsql", "sql")):
        left, right = getattr(a, key), getattr(b, key)
        if resource in unread_a or resource in unread_b or left is None or right is None:
            add(resource, resource, _presence(left, unread_a.get(resource)), _presence(right, unread_b.get(resource)))
            continue
        if resource == "connector":
            for field in _CONNECTOR:
                add(f"connector.{field}", f"connector {field}", left.get(field), right.get(field))
        else:
            _sql(add, left, right)
    for index in range(max(len(a.services), len(b.services))):
        name_a, doc_a = a.services[index] if index < len(a.services) else ("", None)
        name_b, doc_b = b.services[index] if index < len(b.services) else ("", None)
        label = name_a if name_a == name_b or not name_b else f"{name_a or '-'}/{name_b}"
        key = name_a or name_b
        if doc_a is None or doc_b is None:
            add(f"cloudrun.{key}", f"Cloud Run service {label}",
                _presence(doc_a, unread_a.get(f"cloudrun.{name_a}") or (None if name_a else "not in the profile")),
                _presence(doc_b, unread_b.get(f"cloudrun.{name_b}") or (None if name_b else "not in the profile")))
            continue
        _service(add, f"cloudrun.{key}", f"service {label}", doc_a, doc_b, a.connector_name, b.connector_name)
    add("certificates.coverage", "certificate coverage of the target's domains",
        _coverage(a.domains, a.certificates), _coverage(b.domains, b.certificates))
    differences = []
    for path, what, left, right in pairs:
        if left == right:
            continue
        ignored = next((i for i in ignores if i.path == path or fnmatch.fnmatchcase(path, i.path)), None)
        differences.append(Difference(path, what, left, right, ignored))
    return Result(a.name, b.name, tuple(differences), len(pairs))


def _sql(add: Any, left: Mapping[str, Any], right: Mapping[str, Any]) -> None:
    add("cloudsql.databaseVersion", "Cloud SQL version", left.get("databaseVersion"), right.get("databaseVersion"))
    settings_a, settings_b = _dict(left.get("settings")), _dict(right.get("settings"))
    add("cloudsql.tier", "Cloud SQL tier", settings_a.get("tier"), settings_b.get("tier"))
    ip_a, ip_b = _dict(settings_a.get("ipConfiguration")), _dict(settings_b.get("ipConfiguration"))
    add("cloudsql.sslMode", "Cloud SQL SSL mode", ip_a.get("sslMode"), ip_b.get("sslMode"))
    add("cloudsql.requireSsl", "Cloud SQL requireSsl", ip_a.get("requireSsl"), ip_b.get("requireSsl"))
    flags_a, flags_b = _flags(settings_a), _flags(settings_b)
    for flag in sorted(set(flags_a) | set(flags_b)):
        add(f"cloudsql.flags.{flag}", f"Cloud SQL flag {flag}", flags_a.get(flag), flags_b.get(flag))


def _service(add: Any, path: str, what: str, left: Mapping[str, Any], right: Mapping[str, Any],
             connector_a: str, connector_b: str) -> None:
    template_a, template_b = _dict(_dict(left.get("spec")).get("template")), _dict(_dict(right.get("spec")).get("template"))
    notes_a = _dict(_dict(template_a.get("metadata")).get("annotations"))
    notes_b = _dict(_dict(template_b.get("metadata")).get("annotations"))
    for short, annotation in _ANNOTATIONS:
        value_a, value_b = notes_a.get(annotation), notes_b.get(annotation)
        if short == "vpcConnector":
            value_a, value_b = _connector(value_a, connector_a), _connector(value_b, connector_b)
        add(f"{path}.{short}", f"{what} {annotation}", value_a, value_b)
    container_a, container_b = _container(template_a), _container(template_b)
    limits_a = _dict(_dict(container_a.get("resources")).get("limits"))
    limits_b = _dict(_dict(container_b.get("resources")).get("limits"))
    for limit in ("cpu", "memory"):
        add(f"{path}.{limit}", f"{what} {limit} limit", limits_a.get(limit), limits_b.get(limit))
    for probe in _PROBES:
        add(f"{path}.{probe}", f"{what} {probe}", container_a.get(probe), container_b.get(probe))
    env_a, env_b = _env(container_a), _env(container_b)
    for name in sorted(set(env_a) | set(env_b)):
        add(f"{path}.env.{name}", f"{what} env {name}", env_a.get(name), env_b.get(name))


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    """Each env variable's NAME and where its value comes from; never the value."""
    found: dict[str, str] = {}
    for entry in container.get("env") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        ref = _dict(_dict(entry.get("valueFrom")).get("secretKeyRef"))
        if ref:
            found[entry["name"]] = f"secret {ref.get('name', '?')} version {ref.get('key', '?')}"
        else:
            found[entry["name"]] = "a plain value"
    return found


def _container(template: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = _dict(template.get("spec")).get("containers") or []
    # The serving container (the one with a port) when sidecars run beside it; the only one otherwise.
    serving = [c for c in containers if isinstance(c, dict) and c.get("ports")] or \
        [c for c in containers if isinstance(c, dict)]
    return serving[0] if serving else {}


def _connector(value: Any, profile_connector: str) -> str | None:
    """A service's connector annotation (a name or projects/P/locations/R/connectors/NAME) as the profile sees it."""
    if not isinstance(value, str):
        return None
    name = value.rsplit("/", 1)[-1]
    return "the profile's connector" if name == profile_connector else name


def _flags(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {f["name"]: f.get("value", "on") for f in settings.get("databaseFlags") or []
            if isinstance(f, dict) and isinstance(f.get("name"), str)}


def _coverage(domains: Sequence[str], certificates: Sequence[Any]) -> str:
    """Whether the target's own domains have an ACTIVE certificate: the same setting, whatever the names."""
    covered: set[str] = set()
    for cert in certificates:
        if not isinstance(cert, dict):
            continue
        managed = _dict(cert.get("managed"))
        if managed:
            status = _dict(managed.get("domainStatus"))
            covered |= {d for d in managed.get("domains") or [] if status.get(d, managed.get("status")) == "ACTIVE"}
        else:  # self-managed: its names are what it covers
            covered |= set(cert.get("subjectAlternativeNames") or [])
    missing = [d for d in domains if not any(_matches(d, name) for name in covered)]
    if not domains:
        return "no domains in the profile"
    return f"all {len(domains)} domains covered" if not missing else f"not covered: {', '.join(missing)}"


def _matches(domain: str, name: str) -> bool:
    if name.startswith("*."):
        return "." in domain and domain.split(".", 1)[1] == name[2:]
    return domain == name


def _presence(document: Any, unread: str | None) -> str:
    if unread:
        return f"not readable ({unread})"
    return "present" if document is not None else "not found"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
