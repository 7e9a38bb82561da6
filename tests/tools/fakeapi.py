"""A fake Google API, served as an HTTP proxy that the real gcloud is pointed at.

gcloud is told (see ``FakeGoogleAPI.env``) to send every API call through an
HTTP proxy on 127.0.0.1 and to use ``http://<svc>.test/`` endpoints, so each call
arrives here as an absolute-URI request such as
``GET http://sql.test/sql/v1beta4/projects/P/instances/I?alt=json``.  The route
key is ``<host><path>`` without the query (``sql.test/sql/v1beta4/...``); its
body is ``<scenario>/<route>.json``.  See docs/gcloud.md for how gcloud
reacts to each answer.

One fake can serve several projects at once, each answering as its own model
(``projects=`` / ``set_projects``, ``--project NAME=SCENARIO[@REGION]``): a
request for project P is read in the names its scenario's bodies are written
for (their one project, e.g. netra-staging), and the answer is renamed back: P
for that project's id, P's own number (``project_number``) for its number and,
when a region is declared for P, that region for the scenario's own region
(a target in us-west1 served by a us-central1 scenario; the names are swapped,
so that project has nothing in us-central1). A project in no map answers as a
project that does not exist. Secret payloads are values, never
renamed; resource names that merely start with the project id
(``netra-staging-db``) are names, not the project, and stay as written.

Standalone use (for a Makefile or a manual run)::

    python tests/tools/fakeapi.py --scenario fixtures/api/healthy [--port N] [--latency 0.3]
    python tests/tools/fakeapi.py --project netra-prod=healthy@us-west1 --project netra-dev=denied

prints ``port=N`` as its first stdout line and serves until SIGTERM/SIGINT.
Only the standard library is used, so the script runs from any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import tomllib
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import FrameType, TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

try:
    from tests.tools import fakemonitoring
except ImportError:  # run as a script: tests/ is on sys.path, not the repository root
    import fakemonitoring  # type: ignore[no-redef]

__all__ = [
    "FAULTS",
    "PROJECT_NUMBER",
    "Change",
    "FakeGoogleAPI",
    "LoggedRequest",
    "ProjectModel",
    "crc32c",
    "main",
    "project_number",
    "route_key",
]

# Real API answers name the project by number; fixtures use this one throughout.
PROJECT_NUMBER: Final = "123456789012"
# The project and region the fixtures' bodies are written for (a scenario whose files name none, e.g. project-missing).
FIXTURE_PROJECT: Final = "netra-staging"
FIXTURE_REGION: Final = "us-central1"
# The clock recordings are judged by (tests/tools/record_fixtures.py); every live run
# that is compared with a recording pins it too, so certificates never "age".
RECORDING_NOW: Final = "2026-11-27T00:00:00+00:00"

# Every fault a route can be given; "none" cancels a fault inherited from a base scenario.
FAULTS: Final = frozenset(
    {"403", "404", "disabled", "401", "429", "500", "503", "notjson", "hang", "unreachable", "none"}
)

DEFAULT_FIXTURES_ROOT: Final = Path(__file__).resolve().parents[2] / "fixtures" / "api"

# host -> (service name in googleapis.com, the title the API's own messages use)
_SERVICES: Final[dict[str, tuple[str, str]]] = {
    "sql.test": ("sqladmin", "Cloud SQL Admin"),
    "run.test": ("run", "Cloud Run Admin"),
    "secretmanager.test": ("secretmanager", "Secret Manager"),
    "vpcaccess.test": ("vpcaccess", "Serverless VPC Access"),
    "compute.test": ("compute", "Compute Engine"),
    "logging.test": ("logging", "Cloud Logging"),
    "monitoring.test": ("monitoring", "Cloud Monitoring"),
    # discover (issue 21): one Cloud Asset search, and Resource Manager's project list
    "cloudasset.test": ("cloudasset", "Cloud Asset"),
    "cloudresourcemanager.test": ("cloudresourcemanager", "Cloud Resource Manager"),
    # The Cloud Run Jobs recipe of docs/fleet.md (tests/contract/test_fleet_recipe.py).
    "cloudscheduler.test": ("cloudscheduler", "Cloud Scheduler"),
    "storage.test": ("storage", "Cloud Storage JSON"),
    "serviceusage.test": ("serviceusage", "Service Usage"),
}

# POST routes that only read (Google's list methods that take their query in
# the body). A diagnosis may send these; every other non-GET is a mutation.
READ_ONLY_POSTS: Final = frozenset({"logging.test/v2/entries:list"})

# IAM permissions are prefixed by these, not by the service name (sqladmin -> cloudsql).
_PERMISSION_PREFIX: Final = {"sqladmin": "cloudsql"}

# Kinds of the aggregated lists gcloud's runbook commands read (docs/gcloud.md, "Output with --format=json").
_AGGREGATED_KINDS: Final = {
    "urlMaps": "compute#urlMapsAggregatedList",
    "sslCertificates": "compute#sslCertificateAggregatedList",
    "healthChecks": "compute#healthChecksAggregatedList",
    "subnetworks": "compute#subnetworkAggregatedList",
    "backendServices": "compute#backendServiceAggregatedList",
    "networkEndpointGroups": "compute#networkEndpointGroupAggregatedList",
    "forwardingRules": "compute#forwardingRuleAggregatedList",
    "targetHttpsProxies": "compute#targetHttpsProxyAggregatedList",
}

# The scope the "unreachable" fault reports; one the healthy fixtures leave empty.
_UNREACHABLE_SCOPE: Final = "regions/europe-west9"


# --------------------------------------------------------------------------- CRC32C


def _crc32c_table() -> tuple[int, ...]:
    """Build the byte table for reflected CRC-32C (polynomial 0x82F63B78)."""
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE: Final = _crc32c_table()


def crc32c(data: bytes) -> int:
    """Return the CRC-32C (Castagnoli) of data, as gcloud checks secret payloads."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _b64decode_any(data: str) -> bytes:
    """Decode base64 in either alphabet, padded or not (apitools accepts both)."""
    text = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _add_crc(body: Any) -> Any:
    """Add payload.dataCrc32c (decimal string) to a secret access body that lacks it."""
    if not isinstance(body, dict):
        return body
    payload = body.get("payload")
    if not isinstance(payload, dict) or "data" not in payload or "dataCrc32c" in payload:
        return body
    data = payload["data"]
    if not isinstance(data, str):
        return body
    try:
        raw = _b64decode_any(data)
    except (binascii.Error, ValueError):
        # A deliberately broken payload stays broken; gcloud's own decode error is the point.
        return body
    body = dict(body)
    body["payload"] = {**payload, "dataCrc32c": str(crc32c(raw))}
    return body


# --------------------------------------------------------------------------- routes


def route_key(url_or_route: str) -> str:
    """Normalise a URL or route to the key form ``host/path`` (no scheme, no query)."""
    text = url_or_route.strip()
    if "://" in text:
        parts = urlsplit(text)
        return (parts.hostname or "") + unquote(parts.path)
    return unquote(text.split("?", 1)[0]).lstrip("/")


def _service_of(host: str) -> tuple[str, str] | None:
    """Map a fake host to (service, title); regional Run hosts end in ``run.test``."""
    if host in _SERVICES:
        return _SERVICES[host]
    if host.endswith("-run.test"):
        return _SERVICES["run.test"]
    return None


def _resource_and_permission(host: str, path: str) -> tuple[str, str]:
    """Guess the resource name and IAM permission a request would be checked against."""
    segs = [s for s in path.split("/") if s]
    verb: str | None = None
    if segs and ":" in segs[-1]:
        segs[-1], verb = segs[-1].split(":", 1)
    anchor = next((i for i, s in enumerate(segs) if s in ("projects", "namespaces")), None)
    if anchor is None:
        resource = "/".join(segs)
        rest: list[str] = []
    else:
        resource = "/".join(segs[anchor:])
        rest = segs[anchor + 2 :]
    # Scope segments are part of names but not of permissions (vpcaccess.connectors.get).
    cleaned: list[str] = []
    i = 0
    while i < len(rest):
        if rest[i] in ("aggregated", "global"):
            i += 1
        elif rest[i] in ("regions", "zones", "locations") and i + 1 < len(rest):
            i += 2
        else:
            cleaned.append(rest[i])
            i += 1
    if not cleaned:
        collection, default_verb = "projects", "get"
    elif len(cleaned) % 2 == 1:
        collection, default_verb = cleaned[-1], "list"
    else:
        collection, default_verb = cleaned[-2], "get"
    service = _service_of(host)
    prefix = _PERMISSION_PREFIX.get(service[0], service[0]) if service else host.split(".")[0]
    return resource, f"{prefix}.{collection}.{verb or default_verb}"


def _error(code: int, message: str, status: str | None, **extra: Any) -> dict[str, Any]:
    """Build a Google JSON error body."""
    err: dict[str, Any] = {"code": code, "message": message}
    if status is not None:
        err["status"] = status
    err.update(extra)
    return {"error": err}


def _not_found(host: str, path: str) -> dict[str, Any]:
    """Build a 404 body in the style of the API the host stands for."""
    if host == "sql.test":
        # Real Cloud SQL omits "status", so gcloud prints "HTTPError 404: ...".
        msg = "The Cloud SQL instance does not exist."
        return _error(
            404, msg, None, errors=[{"message": msg, "domain": "global", "reason": "instanceDoesNotExist"}]
        )
    if host == "compute.test":
        resource = path.split("/compute/v1/", 1)[-1].lstrip("/")
        msg = f"The resource '{resource}' was not found"
        return _error(404, msg, None, errors=[{"message": msg, "domain": "global", "reason": "notFound"}])
    segs = [s for s in path.split("/") if s]
    if host == "secretmanager.test" and "secrets" in segs and segs.index("secrets") + 1 < len(segs):
        name = segs[segs.index("secrets") + 1]
        msg = f"Secret [projects/{PROJECT_NUMBER}/secrets/{name}] not found or has no versions."
        return _error(404, msg, "NOT_FOUND")
    resource, _ = _resource_and_permission(host, path)
    return _error(404, f"Resource '{resource}' was not found", "NOT_FOUND")


_PROJECT_IN_ROUTE = re.compile(r"/(?:projects|namespaces)/([^/:]+)")


def _no_such_project(host: str, path: str) -> tuple[int, dict[str, Any]]:
    """A project that does not exist, as the real APIs answer for it.

    Compute names the project itself in a 404 ("The resource 'projects/P' was
    not found"); the other APIs do not say whether it exists and answer 403.
    """
    named = _PROJECT_IN_ROUTE.search(path)
    if host == "compute.test" and named is not None:
        msg = f"The resource 'projects/{named.group(1)}' was not found"
        return 404, _error(404, msg, None, errors=[{"message": msg, "domain": "global", "reason": "notFound"}])
    return _fault_response("403", host, path)


def _fault_response(fault: str, host: str, path: str) -> tuple[int, dict[str, Any]]:
    """Return (status, body) for an error fault."""
    service, title = _service_of(host) or (host.split(".")[0], host.split(".")[0])
    if fault == "404":
        return 404, _not_found(host, path)
    if fault == "403":
        resource, permission = _resource_and_permission(host, path)
        msg = f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
        return 403, _error(403, msg, "PERMISSION_DENIED")
    if fault == "disabled":
        msg = (
            f"{title} API has not been used in project {PROJECT_NUMBER} before or it is disabled. "
            f"Enable it by visiting https://console.developers.google.com/apis/api/"
            f"{service}.googleapis.com/overview?project={PROJECT_NUMBER} then retry. If you enabled "
            "this API recently, wait a few minutes for the action to propagate to our systems and retry."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": f"{service}.googleapis.com",
                    "consumer": f"projects/{PROJECT_NUMBER}",
                },
            }
        ]
        return 403, _error(403, msg, "PERMISSION_DENIED", details=details)
    if fault == "401":
        msg = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        return 401, _error(401, msg, "UNAUTHENTICATED")
    if fault == "429":
        msg = (
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' "
            f"of service '{service}.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'."
        )
        return 429, _error(429, msg, "RESOURCE_EXHAUSTED")
    if fault == "500":
        return 500, _error(500, "Internal error encountered.", "INTERNAL")
    if fault == "503":
        return 503, _error(503, "The service is currently unavailable.", "UNAVAILABLE")
    raise ValueError(f"not an error fault: {fault}")


def _is_aggregated(route: str) -> bool:
    """Tell whether a route is a compute aggregated list (the only place "unreachable" fits)."""
    return "/aggregated/" in route


def _unreachable_body(route: str, base: Any) -> dict[str, Any]:
    """Return an aggregated list body with one scope that reports UNREACHABLE."""
    collection = route.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(base, dict):
        body = copy.deepcopy(base)
    else:
        project = route.split("/projects/", 1)[-1].split("/", 1)[0]
        body = {
            "kind": _AGGREGATED_KINDS.get(collection, f"compute#{collection}AggregatedList"),
            "id": f"projects/{project}/aggregated/{collection}",
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/aggregated/{collection}",
        }
    items = body.setdefault("items", {})
    items[_UNREACHABLE_SCOPE] = {
        "warning": {
            "code": "UNREACHABLE",
            "message": f"Scope '{_UNREACHABLE_SCOPE}' is unreachable.",
            "data": [{"key": "scope", "value": _UNREACHABLE_SCOPE}],
        }
    }
    return body


# --------------------------------------------------------------------------- scenarios


@dataclasses.dataclass(frozen=True)
class _Scenario:
    """A scenario directory resolved with its base chain and merged faults."""

    chain: tuple[Path, ...]  # the scenario first, then its bases
    faults: Mapping[str, str]


def _check_fault(route: str, name: str) -> None:
    """Reject fault names this fake does not know, and misplaced "unreachable"."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r} for {route!r}; known: {sorted(FAULTS)}")
    if name == "unreachable" and not _is_aggregated(route) and "*" not in route:
        raise ValueError(f"fault 'unreachable' only fits compute aggregated lists, not {route!r}")


def _load_scenario(directory: Path, fixtures_root: Path) -> _Scenario:
    """Resolve a scenario directory, following ``base`` names to sibling directories."""
    chain: list[Path] = []
    tables: list[dict[str, Any]] = []
    current: Path | None = directory.resolve()
    while current is not None:
        if current in chain:
            names = " -> ".join(p.name for p in [*chain, current])
            raise ValueError(f"scenario base cycle: {names}")
        if not current.is_dir():
            raise FileNotFoundError(f"scenario directory not found: {current}")
        chain.append(current)
        toml_file = current / "scenario.toml"
        meta: dict[str, Any] = {}
        if toml_file.is_file():
            with toml_file.open("rb") as fh:
                meta = tomllib.load(fh)
        tables.append(meta)
        base = meta.get("base")
        if base is None:
            current = None
        elif not isinstance(base, str) or not base:
            raise ValueError(f"{toml_file}: base must be a scenario directory name")
        else:
            sibling = current.parent / base
            current = sibling if sibling.is_dir() else fixtures_root / base
    faults: dict[str, str] = {}
    # Bases first, so a scenario's own faults override what it inherits.
    for directory_, meta in zip(reversed(chain), reversed(tables)):
        table = meta.get("faults", {})
        if not isinstance(table, dict):
            raise ValueError(f"{directory_ / 'scenario.toml'}: [faults] must be a table")
        for raw_route, name in table.items():
            route = route_key(str(raw_route))
            _check_fault(route, str(name))
            faults[route] = str(name)
    return _Scenario(tuple(chain), faults)


def _fault_lookup(faults: Mapping[str, str], route: str) -> str | None:
    """Find a route's fault: an exact key wins over glob patterns (e.g. ``sql.test/*``)."""
    if route in faults:
        return faults[route]
    for pattern, name in faults.items():
        if "*" in pattern and fnmatch.fnmatchcase(route, pattern):
            return name
    return None


# --------------------------------------------------------------------------- projects


def project_number(project: str) -> str:
    """A project's number as the fake's answers give it: PROJECT_NUMBER for the fixtures' own project.

    Real answers name a project by number (secret names, Cloud Run namespaces), and
    two projects never share one, so every other id gets its own, derived from the
    id so that it is the same in every run and every fake.
    """
    if project == FIXTURE_PROJECT:
        return PROJECT_NUMBER
    return str(100000000000 + int(hashlib.sha256(project.encode("utf-8")).hexdigest(), 16) % 900000000000)


@dataclasses.dataclass(frozen=True)
class ProjectModel:
    """What answers for one project: a scenario (a path, or a name under fixtures_root), and the
    project's region when it differs from the one the scenario's bodies are written for."""

    scenario: Path | str
    region: str | None = None


# Where a name starts and ends: an id is whole (netra-staging-db is not netra-staging), a number is
# whole, a region may lead a zone or a host (us-central1-a, us-central1-run.test).
_EDGES: Final = {
    "project": (r"(?<![A-Za-z0-9-])", r"(?![A-Za-z0-9-])"),
    "number": (r"(?<![0-9])", r"(?![0-9])"),
    "region": (r"(?<![A-Za-z0-9-])", r"(?![0-9])"),
}


@dataclasses.dataclass(frozen=True)
class _Renaming:
    """Swaps a project's names with its scenario's: id, number and (when declared) region, in one pass.

    A swap is its own inverse, so one renaming reads a request in the scenario's
    names and writes the answer back in the project's; and the scenario's own
    names are not the project's (a us-west1 project has nothing in us-central1).
    """

    pattern: re.Pattern[str] | None
    names: Mapping[str, str]

    @staticmethod
    def swapping(pairs: list[tuple[str, str, str]]) -> _Renaming:
        """The renaming that swaps each (kind, a, b) of _EDGES' kinds."""
        names: dict[str, str] = {}
        parts: list[str] = []
        for kind, a, b in pairs:
            if a == b:
                continue
            before, after = _EDGES[kind]
            for old, new in ((a, b), (b, a)):
                names[old] = new
                parts.append(before + re.escape(old) + after)
        return _Renaming(re.compile("|".join(parts)) if parts else None, names)

    def text(self, text: str) -> str:
        """Rename inside one string."""
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.names[m.group(0)], text)

    def json(self, value: Any) -> Any:
        """Rename every string (keys too: aggregated lists key items by "regions/R") of a JSON value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        return value

    def query(self, query: str) -> str:
        """Rename inside a query string's decoded values (a monitoring filter names the project)."""
        if self.pattern is None:
            return query
        return urlencode([(k, self.text(v)) for k, v in parse_qsl(query, keep_blank_values=True)], quote_via=quote)


@dataclasses.dataclass(frozen=True)
class _Model:
    """A project's model, resolved: its scenario and the renaming between its names and the scenario's."""

    scenario: _Scenario
    renaming: _Renaming


def _own_names(scenario: _Scenario) -> tuple[str, set[str]]:
    """The one project a scenario's files are written for, and the regions they name in their paths."""
    projects: set[str] = set()
    regions: set[str] = set()
    for directory in scenario.chain:
        for file in directory.rglob("*"):
            name = file.name.removesuffix(".json")
            if file.parent.name in ("projects", "namespaces") and not name.isdigit():
                projects.add(name)
            elif file.parent.name in ("locations", "regions") and name != "global":
                regions.add(name)
            elif name.endswith("-run.test"):
                regions.add(name.removesuffix("-run.test"))
    if len(projects) > 1:
        where = scenario.chain[0] if scenario.chain else "?"
        raise ValueError(f"scenario {where} holds several projects ({', '.join(sorted(projects))}): "
                         "it cannot be one project's model")
    return (projects.pop() if projects else FIXTURE_PROJECT), regions


def _model(project: str, scenario: _Scenario, region: str | None) -> _Model:
    """Resolve one project's model: the renaming between its names and its scenario's."""
    own, regions = _own_names(scenario)
    # Every scenario's bodies name their project by PROJECT_NUMBER, whatever its id.
    pairs = [("project", project, own), ("number", project_number(project), PROJECT_NUMBER)]
    if region is not None:
        if len(regions) > 1:
            raise ValueError(f"project {project}: its scenario names several regions ({', '.join(sorted(regions))}); "
                             f"which one becomes {region} is ambiguous")
        pairs.append(("region", region, regions.pop() if regions else FIXTURE_REGION))
    return _Model(scenario, _Renaming.swapping(pairs))


_PROJECT_IN_BODY: Final = re.compile(r"\bprojects/([a-z][a-z0-9-]*[a-z0-9])")


@dataclasses.dataclass(frozen=True)
class _View:
    """One read as its project's model sees it: the scenario, the request in the scenario's own names,
    and the renaming of the answer back into the requested project's (None: nothing to rename)."""

    scenario: _Scenario
    record: LoggedRequest
    renaming: _Renaming | None

    def answer(self, answer: _Answer) -> _Answer:
        """The answer in the requested project's names."""
        status, body, content_type = answer
        if self.renaming is None or content_type != _JSON:
            return answer
        return _json_answer(status, self.renaming.json(json.loads(body)))


# --------------------------------------------------------------------------- request log


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received; times are time.monotonic(), finished is None while in flight."""

    method: str
    host: str
    path: str
    query: str
    user_agent: str
    started: float
    finished: float | None = None
    status: int | None = None  # None while in flight, or when a hang ended without an answer
    body: str = ""  # the request body of a read-only POST (e.g. the logging filter)

    @property
    def reads(self) -> bool:
        """A GET, or a POST that only reads (READ_ONLY_POSTS)."""
        return self.method == "GET" or (self.method == "POST" and self.route in READ_ONLY_POSTS)

    @property
    def route(self) -> str:
        """Return the route key (host + decoded path)."""
        return self.host + unquote(self.path)

    @property
    def params(self) -> dict[str, list[str]]:
        """Return the query string parsed into lists of values."""
        return parse_qs(self.query, keep_blank_values=True)


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks live connections so stop() can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: FakeGoogleAPI) -> None:
        self.api = api
        self.conns: dict[socket.socket, threading.Thread] = {}
        self.conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), which can stall on a machine with slow DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about connections that clients or stop() cut; report anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.api._stopping.is_set():
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Answers one keep-alive connection's requests from the owning FakeGoogleAPI."""

    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    server: _Server

    def setup(self) -> None:
        """Register the connection so stop() can shut it down."""
        super().setup()
        with self.server.conns_lock:
            self.server.conns[self.connection] = threading.current_thread()

    def finish(self) -> None:
        """Flush and forget the connection, ignoring a peer that already went away."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.conns_lock:
                self.server.conns.pop(self.connection, None)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default per-request stderr line; the request log replaces it."""

    def do_GET(self) -> None:
        """Serve a read."""
        self.server.api._handle(self)

    # Everything else is a mutation attempt (or at least not a read gcloud should send).
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_CONNECT = do_TRACE = do_GET

    def target(self) -> tuple[str, str, str]:
        """Return (host, path, query) of the request line, absolute-URI or origin-form."""
        raw = self.path
        if self.command == "CONNECT":
            return raw.rsplit(":", 1)[0].lower(), "", ""
        parts = urlsplit(raw)
        if parts.scheme and parts.netloc:
            host = parts.hostname or ""
        else:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        return host, parts.path or "/", parts.query

    def client_gone(self) -> bool:
        """Tell whether the client closed its end (readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def send(self, status: int, body: bytes, content_type: str) -> None:
        """Write one complete answer with an exact Content-Length (keep-alive depends on it)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


@dataclasses.dataclass(frozen=True)
class Change:
    """A mutation fix mode sent: what real gcloud put on the wire, and what the fake answered."""

    method: str
    route: str
    query: str
    body: Any
    status: int


_CONNECTOR = re.compile(r"^vpcaccess\.test/v1/projects/([^/]+)/locations/([^/]+)/connectors/([^/]+)$")
_OPERATION = re.compile(r"^vpcaccess\.test/v1/projects/[^/]+/locations/[^/]+/operations/[^/]+$")
_RUN_SERVICE = re.compile(r"^([a-z0-9-]+-run\.test)/apis/serving\.knative\.dev/v1/namespaces/([^/]+)/services/([^/]+)$")
# Monitoring's create calls (fix mode's alert policies and uptime checks): POST to the collection.
_MONITORING_CREATE = re.compile(r"^monitoring\.test/v3/projects/([^/]+)/(alertPolicies|uptimeCheckConfigs)$")
_ALERT_POLICY = re.compile(r"^monitoring\.test/v3/projects/([^/]+)/alertPolicies/([^/]+)$")
_RUN_REVISION = re.compile(r"^([a-z0-9-]+-run\.test)/apis/serving\.knative\.dev/v1/namespaces/([^/]+)/revisions/([^/]+)$")
# The creations of docs/fleet.md's Cloud Run Jobs recipe: a bucket, a Cloud Run job (gcloud 528's
# `run jobs deploy` speaks Run Admin v1 on the regional host), a Cloud Scheduler job.
_BUCKETS = re.compile(r"^storage\.test/storage/v1/b$")
_RUN_JOBS = re.compile(r"^([a-z0-9-]+)-run\.test/apis/run\.googleapis\.com/v1/namespaces/([^/]+)/jobs$")
_SCHEDULER_JOBS = re.compile(r"^cloudscheduler\.test/v1/projects/([^/]+)/locations/([^/]+)/jobs$")
# The grants the recipe gives: a bucket's policy (GET, then PUT), a job's (v1 projects API on the global host).
_BUCKET_IAM = re.compile(r"^storage\.test/storage/v1/b/([^/]+)/iam$")
_RUN_JOB_IAM = re.compile(
    r"^run\.test/v1/projects/([^/]+)/locations/([^/]+)/jobs/([^/:]+):(getIamPolicy|setIamPolicy)$")
# What Cloud Scheduler (and `gcloud run jobs execute`) POSTs to run the job: an execution starts.
_RUN_JOB_RUN = re.compile(r"^([a-z0-9-]+)-run\.test/apis/run\.googleapis\.com/v1/namespaces/([^/]+)/jobs/([^/:]+):run$")
_ACCEPTED_POSTS: Final = (_MONITORING_CREATE, _BUCKETS, _RUN_JOBS, _SCHEDULER_JOBS, _RUN_JOB_IAM, _RUN_JOB_RUN)


class _FixMixin:
    """State changes for fix mode, mixed into FakeGoogleAPI to keep the read path apart."""

    _lock: threading.Lock
    _bodies: dict[str, Any]
    _changes: list[Change]
    _fix_faults: dict[str, str]
    _sequences: dict[str, list[Any]]

    def _body_for(self, route: str, view: _View | None = None) -> tuple[bool, Any]:  # provided by FakeGoogleAPI
        raise NotImplementedError

    def _fix(self, record: LoggedRequest, raw: bytes) -> _Answer:
        """Apply one PATCH/PUT as GCP would, or refuse it; every one is logged with its body."""
        route = record.route
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        fault = self._fix_faults.get(route)
        answer: _Answer
        if fault is not None:
            answer = _json_answer(*_fault_response(fault, record.host, unquote(record.path)))
        elif record.method == "PATCH" and _CONNECTOR.match(route) and isinstance(body, dict):
            answer = self._patch_connector(route, record.params, body)
        elif record.method == "PUT" and _RUN_SERVICE.match(route) and isinstance(body, dict):
            answer = self._put_service(route, body)
        elif record.method == "POST" and _MONITORING_CREATE.match(route) and isinstance(body, dict):
            answer = self._create_monitoring(route, body)
        elif record.method == "PATCH" and _ALERT_POLICY.match(route) and isinstance(body, dict):
            answer = self._patch_policy(route, record.params, body)
        elif record.method == "POST" and _BUCKETS.match(route) and isinstance(body, dict):
            answer = self._create_bucket(body)
        elif record.method == "POST" and _RUN_JOBS.match(route) and isinstance(body, dict):
            answer = self._create_run_job(route, body)
        elif record.method == "POST" and _SCHEDULER_JOBS.match(route) and isinstance(body, dict):
            answer = self._create_scheduler_job(route, body)
        elif record.method == "POST" and _RUN_JOB_RUN.match(route):
            answer = self._run_job(route)
        elif record.method == "PUT" and _BUCKET_IAM.match(route) and isinstance(body, dict):
            answer = self._set_policy(route, body)
        elif record.method == "POST" and route.endswith(":setIamPolicy") and _RUN_JOB_IAM.match(route) \
                and isinstance(body, dict):
            answer = self._set_policy(route, body)
        else:
            msg = f"fakeapi: {record.method} {route} is not a change fix mode makes."
            answer = _json_answer(405, _error(405, msg, "METHOD_NOT_ALLOWED"))
        with self._lock:
            self._changes.append(Change(record.method, route, record.query, body, answer[0]))
        return answer

    def _patch_connector(self, route: str, params: Mapping[str, list[str]], body: dict[str, Any]) -> _Answer:
        found, current = self._body_for(route)
        if not found:
            return _json_answer(404, _not_found(route.split("/", 1)[0], "/" + route.split("/", 1)[1]))
        if current.get("state", "READY") != "READY":
            # GCP refuses to change a connector while an operation runs on it.
            msg = f"Connector is in state {current.get('state')}; retry when it is READY."
            return _json_answer(400, _error(400, msg, "FAILED_PRECONDITION"))
        mask = [f for v in params.get("updateMask", []) for f in v.split(",") if f]
        for field in mask:
            if field in body:
                current[field] = body[field]
        project, region = _CONNECTOR.match(route).groups()[:2]  # type: ignore[union-attr]
        with self._lock:
            number = len(self._changes) + 1
            operation = f"projects/{project}/locations/{region}/operations/fix-{number}"
            self._bodies[route] = current
            self._sequences.pop(route, None)  # the change is the state from now on
            # GCP answers the PATCH with a running operation; gcloud polls it until done.
            self._bodies[f"vpcaccess.test/v1/{operation}"] = {
                "name": operation, "done": True,
                "response": {"@type": "type.googleapis.com/google.cloud.vpcaccess.v1.Connector", **current},
            }
        return _json_answer(200, {"name": operation, "done": False})

    def _put_service(self, route: str, body: dict[str, Any]) -> _Answer:
        host, namespace, name = _RUN_SERVICE.match(route).groups()  # type: ignore[union-attr]
        list_route = f"{host}/apis/serving.knative.dev/v1/namespaces/{namespace}/services"
        found, listed = self._body_for(list_route)
        items = listed.get("items", []) if found and isinstance(listed, dict) else []
        old = next((s for s in items if s.get("metadata", {}).get("name") == name), None)
        if old is None:
            return _json_answer(404, _error(404, f"Resource '{name}' does not exist.", "NOT_FOUND"))
        generation = int(old.get("metadata", {}).get("generation", 1)) + 1
        revision = f"{name}-{generation:05d}-fix"
        new = copy.deepcopy(body)
        new["metadata"]["generation"] = generation
        new["metadata"]["namespace"] = PROJECT_NUMBER
        # Cloud Run deploys the new template as a revision that becomes Ready and takes the traffic.
        status = copy.deepcopy(old.get("status", {}))
        status.update(observedGeneration=generation, latestCreatedRevisionName=revision,
                      latestReadyRevisionName=revision,
                      traffic=[{"revisionName": revision, "percent": 100, "latestRevision": True}])
        status["conditions"] = [
            {"type": t, "status": "True", "lastTransitionTime": "2026-11-27T00:00:00Z"}
            for t in ("Ready", "ConfigurationsReady", "RoutesReady")
        ]
        new["status"] = status
        with self._lock:
            self._bodies[list_route] = {**listed, "items": [new if s is old else s for s in items]}
        return _json_answer(200, new)

    def _create_monitoring(self, route: str, body: dict[str, Any]) -> _Answer:
        """Add the created policy or uptime check to its list, named as the API names it, and answer it."""
        project, collection = _MONITORING_CREATE.match(route).groups()  # type: ignore[union-attr]
        found, listed = self._body_for(route)
        items = list(listed.get(collection, [])) if found and isinstance(listed, dict) else []
        created = copy.deepcopy(body)
        number = 1900000000000000000 + len(items)
        created["name"] = f"projects/{project}/{collection}/{number}"
        if collection == "alertPolicies":
            for index, condition in enumerate(created.get("conditions", [])):
                condition["name"] = f"{created['name']}/conditions/{number + index + 1}"
            created.setdefault("enabled", True)
        with self._lock:
            self._bodies[route] = {collection: items + [created], "totalSize": len(items) + 1}
        return _json_answer(200, created)

    def _created(self, route: str, body: dict[str, Any], what: str) -> _Answer:
        """Serve a created resource at its own route from now on; a second creation is 409, as GCP answers."""
        with self._lock:
            if route in self._bodies:
                return _json_answer(409, _error(409, f"{what} already exists.", "ALREADY_EXISTS"))
            self._bodies[route] = copy.deepcopy(body)
        return _json_answer(200, body)

    def _create_bucket(self, body: dict[str, Any]) -> _Answer:
        """buckets.insert: the bucket as the JSON API answers it (its location upper-cased)."""
        name = str(body.get("name", ""))
        bucket = {"kind": "storage#bucket", "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
                  "id": name, "projectNumber": PROJECT_NUMBER, "metageneration": "1",
                  "storageClass": "STANDARD", "locationType": "region", "timeCreated": _CREATED,
                  "updated": _CREATED, "etag": "CAE=", **body, "location": str(body.get("location", "US")).upper()}
        return self._created(f"storage.test/storage/v1/b/{name}", bucket, f"Bucket {name}")

    def _create_run_job(self, route: str, body: dict[str, Any]) -> _Answer:
        """namespaces.jobs.create (Run Admin v1): the job, Ready at once (a job has no revision to roll out)."""
        region, _ = _RUN_JOBS.match(route).groups()  # type: ignore[union-attr]
        job = copy.deepcopy(body)
        metadata = job.setdefault("metadata", {})
        name = metadata.get("name", "")
        metadata.update(namespace=PROJECT_NUMBER, generation=1, creationTimestamp=_CREATED,
                        uid="8d5b9c3e-0000-4000-8000-000000000001", resourceVersion="AAAAAAAAAAE",
                        selfLink=f"/apis/run.googleapis.com/v1/namespaces/{PROJECT_NUMBER}/jobs/{name}")
        metadata["labels"] = {**metadata.get("labels", {}), "cloud.googleapis.com/location": region}
        # gcloud polls the job until its Ready condition is terminal; no execution has run yet.
        job["status"] = {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": _CREATED}]}
        return self._created(f"{route}/{name}", job, f"Job {name}")

    def _create_scheduler_job(self, route: str, body: dict[str, Any]) -> _Answer:
        """projects.locations.jobs.create: the job, ENABLED, with the defaults Cloud Scheduler fills in."""
        job = {**copy.deepcopy(body), "state": "ENABLED", "userUpdateTime": _CREATED, "attemptDeadline": "180s"}
        name = str(body.get("name", "")).rsplit("/", 1)[-1]
        return self._created(f"{route}/{name}", job, f"Job {body.get('name')}")

    def _run_job(self, route: str) -> _Answer:
        """namespaces.jobs.run: a new execution of the job's template, listed with the job's others, newest last."""
        region, namespace, name = _RUN_JOB_RUN.match(route).groups()  # type: ignore[union-attr]
        job_route = route.removesuffix(":run")
        found, job = self._body_for(job_route)
        if not found or not isinstance(job, dict):
            return _json_answer(404, _error(404, f"Resource '{name}' does not exist.", "NOT_FOUND"))
        list_route = f"{region}-run.test/apis/run.googleapis.com/v1/namespaces/{namespace}/executions"
        found, listed = self._body_for(list_route)
        items = list(listed.get("items", [])) if found and isinstance(listed, dict) else []
        # Executions are named after the job with a random suffix; each starts a second after the last here.
        started = f"2026-11-27T00:{len(items) // 60:02d}:{len(items) % 60:02d}.000000Z"
        execution_name = f"{name}-{hashlib.sha1(f'{name}{len(items)}'.encode()).hexdigest()[:5]}"
        execution = {
            "apiVersion": "run.googleapis.com/v1", "kind": "Execution",
            "metadata": {"name": execution_name, "namespace": PROJECT_NUMBER, "generation": 1,
                         "creationTimestamp": started,
                         "labels": {"cloud.googleapis.com/location": region, "run.googleapis.com/job": name},
                         "ownerReferences": [{"kind": "Job", "name": name, "apiVersion": "run.googleapis.com/v1",
                                              "uid": job["metadata"].get("uid", ""), "controller": True}]},
            "spec": copy.deepcopy(job["spec"]["template"]["spec"]),
            "status": {"observedGeneration": 1, "startTime": started, "conditions": [
                {"type": "Completed", "status": "Unknown", "lastTransitionTime": started},
                {"type": "Started", "status": "True", "lastTransitionTime": started}]},
        }
        job["status"] = {**job.get("status", {}), "executionCount": len(items) + 1, "latestCreatedExecution": {
            "name": execution_name, "creationTimestamp": started, "completionStatus": "EXECUTION_RUNNING"}}
        with self._lock:
            self._bodies[job_route] = job
            self._bodies[list_route] = {"apiVersion": "run.googleapis.com/v1", "kind": "ExecutionsList",
                                        "metadata": {}, "items": [*items, execution]}
            self._bodies[f"{list_route}/{execution_name}"] = copy.deepcopy(execution)
        return _json_answer(200, execution)

    def _policy(self, route: str) -> Any:
        """A bucket's or a job's IAM policy: the one last set, else a new resource's; None without the resource."""
        bucket, job = _BUCKET_IAM.match(route), _RUN_JOB_IAM.match(route)
        if job:
            project, region, name = job.groups()[:3]
            key = f"run.test/v1/projects/{project}/locations/{region}/jobs/{name}:getIamPolicy"
            resource = f"{region}-run.test/apis/run.googleapis.com/v1/namespaces/{project}/jobs/{name}"
            fresh: dict[str, Any] = {"version": 1, "etag": "BwYAAAAAAAE="}  # a new job: no binding of its own
        elif bucket:
            key, resource = route, f"storage.test/storage/v1/b/{bucket.group(1)}"
            # A new bucket's policy: the legacy roles of the project's owners, editors and viewers.
            found, made = self._body_for(resource)
            project = made.get("projectNumber", PROJECT_NUMBER) if found and isinstance(made, dict) else PROJECT_NUMBER
            # (gcloud reads it with fields=bindings,etag: the answer has those and the version.)
            fresh = {"version": 1, "etag": "CAE=", "bindings": [
                         {"role": "roles/storage.legacyBucketOwner",
                          "members": [f"projectEditor:{project}", f"projectOwner:{project}"]},
                         {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project}"]}]}
        else:
            return None
        found, _ = self._body_for(resource)
        if not found:
            return None
        found, policy = self._body_for(key)
        return policy if found else fresh

    def _set_policy(self, route: str, body: dict[str, Any]) -> _Answer:
        """setIamPolicy: the policy given replaces the resource's (Run's body wraps it in "policy"), with a new etag."""
        policy = self._policy(route)
        if policy is None:
            return _json_answer(404, _not_found(route.split("/", 1)[0], "/" + route.split("/", 1)[1]))
        new = {**policy, **copy.deepcopy(body.get("policy", body) if _RUN_JOB_IAM.match(route) else body)}
        if _RUN_JOB_IAM.match(route):
            new["etag"] = "BwYAAAAAAAI="
        else:
            bucket = _BUCKET_IAM.match(route).group(1)  # type: ignore[union-attr]
            new.update(kind="storage#policy", resourceId=f"projects/_/buckets/{bucket}", etag="CAI=")
        key = route.replace(":setIamPolicy", ":getIamPolicy")
        with self._lock:
            self._bodies[key] = copy.deepcopy(new)
        return _json_answer(200, new)

    def _policies(self, route: str) -> tuple[str, list[dict[str, Any]]]:
        project = _ALERT_POLICY.match(route).group(1)  # type: ignore[union-attr]
        list_route = f"monitoring.test/v3/projects/{project}/alertPolicies"
        found, listed = self._body_for(list_route)
        return list_route, list(listed.get("alertPolicies", [])) if found and isinstance(listed, dict) else []

    def _patch_policy(self, route: str, params: Mapping[str, list[str]], body: dict[str, Any]) -> _Answer:
        """alertPolicies.patch: the fields in updateMask (all of them without one) replace the policy's."""
        list_route, items = self._policies(route)
        name = route.split("/", 2)[2]
        old = next((p for p in items if p.get("name") == name), None)
        if old is None:
            return _json_answer(404, _error(404, f"Resource '{name}' was not found", "NOT_FOUND"))
        # Mask paths are the proto's field names (gcloud sends notification_channels); bodies are camelCase.
        mask = [re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f)
                for v in params.get("updateMask", []) for f in v.split(",") if f]
        new = copy.deepcopy(old)
        for field in mask or list(body):
            if field in body:
                new[field] = body[field]
            else:
                new.pop(field, None)
        with self._lock:
            self._bodies[list_route] = {"alertPolicies": [new if p is old else p for p in items],
                                        "totalSize": len(items)}
        return _json_answer(200, new)

    def _derived_read(self, route: str) -> Any:
        """In fix mode, what gcloud reads around a change: a service alone, a revision, an alert or IAM policy."""
        if _BUCKET_IAM.match(route) or _RUN_JOB_IAM.match(route):
            return self._policy(route)
        if _ALERT_POLICY.match(route):
            name = route.split("/", 2)[2]
            return next((p for p in self._policies(route)[1] if p.get("name") == name), None)
        match = _RUN_SERVICE.match(route)
        if match:
            return self._service(*match.groups())
        match = _RUN_REVISION.match(route)
        if match:
            host, _, revision = match.groups()
            found, listed = self._body_for(self._list_route(host))
            for service in (listed.get("items", []) if found and isinstance(listed, dict) else []):
                status = service.get("status", {})
                if revision in (status.get("latestReadyRevisionName"), status.get("latestCreatedRevisionName")):
                    return {
                        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                        "metadata": {"name": revision, "namespace": PROJECT_NUMBER,
                                     "labels": {"serving.knative.dev/service": service["metadata"]["name"]}},
                        "spec": service.get("spec", {}).get("template", {}).get("spec", {}),
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    }
        return None

    def _list_route(self, host: str) -> str:
        with self._lock:
            known = [r for r in self._bodies if r.startswith(host) and r.endswith("/services")]
        return known[0] if known else f"{host}/apis/serving.knative.dev/v1/namespaces/netra-staging/services"

    def _service(self, host: str, namespace: str, name: str) -> Any:
        found, listed = self._body_for(f"{host}/apis/serving.knative.dev/v1/namespaces/{namespace}/services")
        if not found or not isinstance(listed, dict):
            return None
        return next((s for s in listed.get("items", []) if s.get("metadata", {}).get("name") == name), None)


_JSON: Final = "application/json; charset=UTF-8"
_CREATED: Final = "2026-11-27T00:00:00.000000Z"  # when a created resource says it was made (RECORDING_NOW)


class FakeGoogleAPI(_FixMixin):
    """A fake Google API reached as an HTTP proxy; bodies come from scenario dirs and overrides."""

    def __init__(
        self,
        scenario_dir: Path | str | None = None,
        fixtures_root: Path | None = None,
        *,
        port: int = 0,
        projects: Mapping[str, ProjectModel | Path | str] | None = None,
    ) -> None:
        self.fixtures_root: Path = Path(fixtures_root) if fixtures_root else DEFAULT_FIXTURES_ROOT
        self.latency: float = 0.0  # seconds slept before every answer; read per request
        self._bind_port = port
        self._lock = threading.Lock()
        self._scenario = _Scenario((), {})
        # set_projects: project id -> its model; None serves the one scenario for any project named.
        self._projects: dict[str, _Model] | None = None
        self._by_number: dict[str, str] = {}
        self._bodies: dict[str, Any] = {}
        self._faults: dict[str, str] = {}
        self._counted: dict[str, tuple[str, int]] = {}  # fault_first: route or glob -> (fault, requests left)
        self._log: list[LoggedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._problems: list[str] = []
        self._stopping = threading.Event()
        # Fix mode (see allow_fixes): off, every mutation is refused with 405.
        self._fixes_allowed = False
        self._fix_faults: dict[str, str] = {}
        self._changes: list[Change] = []
        self._sequences: dict[str, list[Any]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if scenario_dir is not None:
            self.set_scenario(scenario_dir)
        if projects is not None:
            self.set_projects(projects)

    # ---- lifecycle

    def start(self) -> FakeGoogleAPI:
        """Bind 127.0.0.1 (a free port unless one was given) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._bind_port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name=f"fakeapi:{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving promptly: release hanging requests and cut keep-alive connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes "hang" and latency sleeps
        server.shutdown()
        with server.conns_lock:
            conns = dict(server.conns)
        for conn in conns:
            # Handler threads idle in readline() on keep-alive sockets; this wakes them.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        deadline = time.monotonic() + 1.0
        for worker in [*conns.values(), *([thread] if thread else [])]:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> FakeGoogleAPI:
        """Start and return the fake."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the fake."""
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port (only while started)."""
        if self._server is None:
            raise RuntimeError("FakeGoogleAPI is not started")
        return int(self._server.server_port)

    # ---- configuration

    def set_scenario(self, path: Path | str | None) -> None:
        """Serve from a scenario dir (a path, or a name under fixtures_root); None serves none."""
        scenario = _Scenario((), {}) if path is None else self._load(path)
        with self._lock:
            self._scenario = scenario

    def set_projects(self, projects: Mapping[str, ProjectModel | Path | str] | None) -> None:
        """Serve each project from its own model: {"netra-prod": "healthy", "netra-dev": ProjectModel("denied")}.

        A request naming project P (in its path, or a read-only POST's body) is
        answered from P's scenario as if it named the scenario's own project, and
        the answer is renamed back to P, P's number and P's declared region. A
        project in no map answers as a missing project does; requests that name no
        project still go to set_scenario's scenario. Runtime bodies, sequences and
        faults are keyed by the routes the client sends (P's); a scenario's own
        [faults] by its own routes. None goes back to one scenario for every project.
        Fix mode (allow_fixes) reads and changes set_scenario's scenario only.
        """
        if projects is None:
            models, by_number = None, {}
        else:
            models = {}
            for project, given in projects.items():
                model = given if isinstance(given, ProjectModel) else ProjectModel(given)
                models[project] = _model(project, self._load(model.scenario), model.region)
            by_number = {project_number(p): p for p in models}
        with self._lock:
            self._projects, self._by_number = models, by_number

    def _load(self, path: Path | str) -> _Scenario:
        """Load a scenario dir: a path, or a name under fixtures_root."""
        candidate = Path(path)
        if not candidate.is_dir() and (self.fixtures_root / candidate).is_dir():
            candidate = self.fixtures_root / candidate
        return _load_scenario(candidate, self.fixtures_root)

    def set_body(self, route: str, body: dict[str, Any] | list[Any]) -> None:
        """Override a route's body (wins over every scenario file)."""
        # A JSON round trip both validates and detaches the caller's object.
        frozen = json.loads(json.dumps(body))
        with self._lock:
            self._bodies[route_key(route)] = frozen

    def set_secret(self, project: str, name: str, value: str) -> None:
        """Serve value as secret NAME's latest (and version 1) payload; the CRC is added when served."""
        base = f"secretmanager.test/v1/projects/{project}/secrets/{name}"
        full = f"projects/{PROJECT_NUMBER}/secrets/{name}"
        data = base64.b64encode(value.encode("utf-8")).decode("ascii")
        access = {"name": f"{full}/versions/1", "payload": {"data": data}}
        version = {
            "name": f"{full}/versions/1",
            "state": "ENABLED",
            "createTime": "2025-01-01T00:00:00.000000Z",
            "etag": '"fakeapi1"',
        }
        secret = {
            "name": full,
            "replication": {"automatic": {}},
            "createTime": "2025-01-01T00:00:00.000000Z",
            "etag": '"fakeapi1"',
        }
        with self._lock:
            self._bodies[f"{base}/versions/latest:access"] = access
            self._bodies[f"{base}/versions/1:access"] = copy.deepcopy(access)
            # Describe bodies only fill gaps, so an explicit set_body() stays in force.
            self._bodies.setdefault(base, secret)
            self._bodies.setdefault(f"{base}/versions/latest", version)
            self._bodies.setdefault(f"{base}/versions/1", copy.deepcopy(version))

    def clear_bodies(self) -> None:
        """Drop the bodies set from Python (set_body, set_secret, sequences, fixes); scenario files stay."""
        with self._lock:
            self._bodies.clear()
            self._sequences.clear()
            self._changes.clear()
            self._fix_faults.clear()
            self._fixes_allowed = False

    def set_sequence(self, route: str, bodies: list[Any]) -> None:
        """Serve bodies[0] to the first GET, bodies[1] to the next...; the last one stays.

        How a state GCP changes by itself (a connector CREATING, then READY) is faked.
        """
        frozen = json.loads(json.dumps(bodies))
        with self._lock:
            self._sequences[route_key(route)] = frozen

    def allow_fixes(self, faults: Mapping[str, str] | None = None) -> None:
        """Accept the mutations fix mode sends and change the served state as GCP would.

        Only the changes fix mode knows are accepted: a connector PATCH (with its
        operation), a Cloud Run service PUT (with the revision gcloud reads first),
        monitoring's creations and patches, and what docs/fleet.md's Cloud Run Jobs
        recipe sends (a bucket, a Run job, a Scheduler job, their IAM grants). Every
        other mutation is still refused. `faults` maps a route to "403" (or another
        HTTP fault) for its mutation only; reads of the route stay as they are.
        """
        with self._lock:
            self._fixes_allowed = True
            self._fix_faults = {route_key(k): v for k, v in (faults or {}).items()}

    @property
    def changes(self) -> list[Change]:
        """Every mutation accepted or refused in fix mode, with its JSON body."""
        with self._lock:
            return list(self._changes)

    def fault(self, route: str, name: str | None) -> None:
        """Give a route (or a ``*`` glob) a fault at runtime; None removes the runtime fault."""
        key = route_key(route)
        with self._lock:
            if name is None:
                self._faults.pop(key, None)
                return
            _check_fault(key, name)
            self._faults[key] = name

    def fault_first(self, route: str, name: str, times: int) -> None:
        """Give a route (or a ``*`` glob) a fault for its next `times` requests only, then answer as before
        (an API over its quota for a moment: "429" to the first requests, then their bodies)."""
        key = route_key(route)
        _check_fault(key, name)
        with self._lock:
            self._counted[key] = (name, times)

    def clear_faults(self) -> None:
        """Drop runtime faults (the scenario's own [faults] stay)."""
        with self._lock:
            self._faults.clear()
            self._counted.clear()

    # ---- observation

    @property
    def requests(self) -> list[LoggedRequest]:
        """Return every request so far in arrival order (in-flight ones have finished=None)."""
        with self._lock:
            return list(self._log)

    @property
    def mutations(self) -> list[LoggedRequest]:
        """Return the logged requests that are not reads (a diagnosis must send none)."""
        return [r for r in self.requests if not r.reads]

    @property
    def in_flight(self) -> int:
        """Return how many requests are being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Return the most requests handled at once since start or reset_log()."""
        with self._lock:
            return self._max_in_flight

    @property
    def problems(self) -> list[str]:
        """Return fixture problems met while serving (e.g. a body file that is not JSON)."""
        with self._lock:
            return list(self._problems)

    def reset_log(self) -> None:
        """Forget logged requests and restart max_in_flight from the current in_flight."""
        with self._lock:
            self._log.clear()
            self._max_in_flight = self._in_flight

    def env(self, config_dir: Path) -> dict[str, str]:
        """Return the gcloud environment (no os.environ) that routes every API call here."""
        return {
            "CLOUDSDK_CONFIG": str(config_dir),
            "CLOUDSDK_AUTH_ACCESS_TOKEN": "fake",
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            # gcloud logs stdout, secret payloads included, unless file logging is off.
            "CLOUDSDK_CORE_DISABLE_FILE_LOGGING": "1",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_SQL": "http://sql.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://run.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": "http://secretmanager.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_VPCACCESS": "http://vpcaccess.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": "http://compute.test/compute/v1/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": "http://logging.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": "http://monitoring.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDASSET": "http://cloudasset.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": "http://cloudresourcemanager.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER": "http://cloudscheduler.test/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": "http://storage.test/storage/v1/",
            # `run jobs deploy` asks Service Usage whether the Run API is enabled before anything else.
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE": "http://serviceusage.test/",
            "CLOUDSDK_PROXY_TYPE": "http",
            "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(self.port),
        }

    def run_env(self, config_dir: Path, **extra: str) -> dict[str, str]:
        """os.environ without the user's gcloud/infracheck settings, pointed here, clock pinned."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CLOUDSDK_", "INFRACHECK_")) and k != "NO_COLOR"}
        env.update(self.env(config_dir))
        env["INFRACHECK_NOW"] = RECORDING_NOW
        env.update(extra)
        return env

    # ---- serving

    def _knows_project(self, route: str, scenario: _Scenario) -> bool:
        """Whether the scenario holds anything of the project a route names (no project named: yes)."""
        named = _PROJECT_IN_ROUTE.search(route)
        if named is None:
            return True
        chain = scenario.chain
        wanted = {named.group(1), f"{named.group(1)}.json"}
        return any(p.name in wanted and p.parent.name in ("projects", "namespaces")
                   for directory in chain for p in directory.rglob("*"))

    def _body_for(self, route: str, view: _View | None = None) -> tuple[bool, Any]:
        """Find a route's body: a sequence, a runtime override, the scenario dir, then its bases.

        With a view, the scenario is the view's and its files are read under the view's own route.
        """
        with self._lock:
            sequence = self._sequences.get(route)
            if sequence:
                return True, copy.deepcopy(sequence.pop(0) if len(sequence) > 1 else sequence[0])
            if route in self._bodies:
                return True, copy.deepcopy(self._bodies[route])
            chain = self._scenario.chain
        if view is not None:
            chain, route = view.scenario.chain, view.record.route
        rel = PurePosixPath(route + ".json")
        # Never let a request path climb out of the fixtures (".." or empty segments).
        if any(part in ("..", ".", "") for part in route.split("/")) or rel.is_absolute():
            return False, None
        for directory in chain:
            file = directory / rel
            if file.is_file():
                try:
                    return True, json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise _FixtureError(f"{file}: {exc}") from exc
        return False, None

    def _fault_for(self, route: str, view: _View | None) -> str | None:
        """Find a route's fault: runtime first, then the view's scenario's merged [faults] (under its own route)."""
        with self._lock:
            name = self._take_counted(route)
            if name is None:
                name = _fault_lookup(self._faults, route)
        if name is None and view is not None:
            name = _fault_lookup(view.scenario.faults, view.record.route)
        return None if name == "none" else name

    def _take_counted(self, route: str) -> str | None:
        """The fault_first fault matching route, if it has requests left (one is used); under the lock."""
        for key, (name, left) in self._counted.items():
            if key == route or ("*" in key and fnmatch.fnmatchcase(route, key)):
                if left <= 1:
                    del self._counted[key]
                else:
                    self._counted[key] = (name, left - 1)
                return name
        return None

    def _view(self, record: LoggedRequest) -> _View | None:
        """How the model of the request's project reads it; None when the project is in no map."""
        with self._lock:
            models, by_number, scenario = self._projects, self._by_number, self._scenario
        if models is None:
            return _View(scenario, record, None)
        named = _PROJECT_IN_ROUTE.search(record.route) or _PROJECT_IN_BODY.search(record.body)
        if named is None:
            return _View(scenario, record, None)
        model = models.get(by_number.get(named.group(1), named.group(1)))
        if model is None:
            return None
        into = model.renaming
        own = dataclasses.replace(record, host=into.text(record.host), path=into.text(record.path),
                                  query=into.query(record.query), body=into.text(record.body))
        return _View(model.scenario, own, into)

    def _begin(self, record: LoggedRequest) -> None:
        """Log a request's arrival and count it in flight."""
        with self._lock:
            self._log.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _end(self, record: LoggedRequest, status: int | None) -> None:
        """Replace the arrival record with the finished one and count it out."""
        done = dataclasses.replace(record, finished=time.monotonic(), status=status)
        with self._lock:
            self._in_flight -= 1
            # Search from the end by identity: reset_log() may have dropped it meanwhile.
            for i in range(len(self._log) - 1, -1, -1):
                if self._log[i] is record:
                    self._log[i] = done
                    break

    # Points per page of timeSeries.list (the real API's pageSize default is 100000); tests lower it to page.
    monitoring_page_points: int = 100000

    def _time_series(self, route: str, view: _View) -> _Answer:
        """Monitoring v3 timeSeries.list, computed from the view's scenario's raw samples (tests/tools/fakemonitoring.py)."""
        record = view.record
        with self._lock:
            override = self._bodies.get(route)
        chain = view.scenario.chain
        layers = []
        if isinstance(override, dict):
            layers.append(override.get("raw", []))
        else:
            for directory in chain:  # the scenario first; `"inherit": false` stops at it (nothing from the base)
                file = directory / (record.route + ".json")
                if file.is_file():
                    layer = json.loads(file.read_text(encoding="utf-8"))
                    layers.append(layer.get("raw", []))
                    if layer.get("inherit") is False:
                        break
        try:
            body = fakemonitoring.answer(record.params, fakemonitoring.merge(layers), self.monitoring_page_points)
        except fakemonitoring.BadRequest as exc:
            return _json_answer(400, _error(400, str(exc), "INVALID_ARGUMENT"))
        return _json_answer(200, body)

    def _handle(self, handler: _Handler) -> None:
        """Answer one request (called on the connection's handler thread)."""
        host, path, query = handler.target()
        body = ""
        if handler.command == "POST" and host + unquote(path) in READ_ONLY_POSTS:
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        record = LoggedRequest(
            method=handler.command,
            host=host,
            path=path,
            query=query,
            user_agent=handler.headers.get("User-Agent", ""),
            started=time.monotonic(),
            body=body,
        )
        self._begin(record)
        answer: _Answer | None = None
        try:
            answer = self._answer(handler, record)
        finally:
            # Log the finish before writing, so a client that has its answer sees a final log.
            self._end(record, answer[0] if answer else None)
        if answer is not None:
            handler.send(*answer)

    def _answer(self, handler: _Handler, record: LoggedRequest) -> _Answer | None:
        """Decide the answer (status, body, content type); None means close without one."""
        if self._fixes_allowed and (record.method in ("PATCH", "PUT") or (
                record.method == "POST" and any(c.match(record.route) for c in _ACCEPTED_POSTS))):
            length = int(handler.headers.get("Content-Length") or 0)
            raw = handler.rfile.read(length) if length else b""
            return self._fix(record, raw)
        if record.method == "GET" and self._fixes_allowed:
            derived = self._derived_read(record.route)
            if derived is not None:
                return _json_answer(200, derived)
        if not record.reads:
            # Drain a request body so the keep-alive connection stays in sync.
            length = int(handler.headers.get("Content-Length") or 0)
            if length:
                handler.rfile.read(length)
            if handler.headers.get("Transfer-Encoding") or record.method == "CONNECT":
                handler.close_connection = True
            msg = f"fakeapi: {record.method} refused; a diagnosis must not mutate."
            return _json_answer(405, _error(405, msg, "METHOD_NOT_ALLOWED"))

        route = record.route
        view = self._view(record)
        fault = self._fault_for(route, view)
        if fault == "hang":
            # Never answer; give up when the client leaves or the server stops.
            while not self._stopping.wait(0.05):
                if handler.client_gone():
                    break
            handler.close_connection = True
            return None
        if self.latency > 0 and self._stopping.wait(self.latency):
            handler.close_connection = True
            return None
        if view is None:
            # A project in no map: GCP answers as for a project that does not exist.
            return _json_answer(*_no_such_project(record.host, record.path))
        if fault == "notjson":
            return 200, b"<html>oops</html>", "text/html; charset=UTF-8"
        return view.answer(self._read(route, view, fault))

    def _read(self, route: str, view: _View, fault: str | None) -> _Answer:
        """Answer a read from the view's scenario, in its own names (the caller renames it back)."""
        own = view.record
        if fault is None and _TIME_SERIES.match(own.route):
            return self._time_series(route, view)
        if fault in (None, "unreachable"):
            try:
                found, body = self._body_for(route, view)
            except _FixtureError as exc:
                with self._lock:
                    self._problems.append(str(exc))
                # 400, not 500: gcloud retries 5xx for ~30 s, and a broken fixture should fail fast.
                return _json_answer(400, _error(400, f"fakeapi: bad fixture {exc}", "FAILED_PRECONDITION"))
            if fault == "unreachable":
                return _json_answer(200, _unreachable_body(own.route, body if found else None))
            if not found and not self._knows_project(own.route, view.scenario):
                return _json_answer(*_no_such_project(own.host, own.path))
            if not found:
                return _json_answer(404, _not_found(own.host, own.path))
            return _json_answer(200, _add_crc(body))
        return _json_answer(*_fault_response(fault, own.host, unquote(own.path)))


_Answer = tuple[int, bytes, str]
_TIME_SERIES: Final = re.compile(r"^monitoring\.test/v3/projects/[^/]+/timeSeries$")




def _json_answer(status: int, body: Any) -> _Answer:
    """Encode a JSON answer."""
    return status, json.dumps(body, indent=2).encode("utf-8"), _JSON


class _FixtureError(Exception):
    """A scenario body file that could not be read or parsed."""


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Serve a scenario until SIGTERM/SIGINT; print ``port=N`` first."""
    parser = argparse.ArgumentParser(description="Fake Google API proxy for gcloud tests.")
    parser.add_argument("--scenario", type=Path, help="scenario dir (or a name under --fixtures-root)")
    parser.add_argument("--fixtures-root", type=Path, default=None, help="where scenario names resolve")
    parser.add_argument("--project", action="append", default=[], metavar="NAME=SCENARIO[@REGION]",
                        help="serve project NAME from SCENARIO (renamed to NAME and, with @REGION, to that region); "
                             "repeatable; a project in none is missing")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to sleep before each answer")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each finished request to stderr")
    args = parser.parse_args(argv)
    projects: dict[str, ProjectModel] = {}
    for given in args.project:
        name, sep, scenario = given.partition("=")
        path, _, region = scenario.rpartition("@") if "@" in scenario else (scenario, "", "")
        if not sep or not name or not path or name in projects:
            parser.error(f"--project {given}: expected NAME=SCENARIO[@REGION], each NAME once")
        projects[name] = ProjectModel(path, region or None)

    try:
        api = FakeGoogleAPI(args.scenario, args.fixtures_root, port=args.port, projects=projects or None)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    api.latency = args.latency
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """Ask the main loop to stop."""
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    api.start()
    print(f"port={api.port}", flush=True)
    seen = 0
    try:
        # A timed wait keeps the main thread responsive to signals.
        while not done.wait(0.2):
            if args.verbose:
                seen = _print_finished(api, seen)
    finally:
        api.stop()
    return 0


def _print_finished(api: FakeGoogleAPI, seen: int) -> int:
    """Print requests that finished since the last call; return how many were printed in total."""
    log = api.requests
    index = seen
    for record in log[seen:]:
        if record.finished is None:
            break
        print(f"{record.status} {record.method} {record.route}?{record.query} [{record.user_agent}]", file=sys.stderr)
        index += 1
    return index


if __name__ == "__main__":
    sys.exit(main())
