"""Find the load balancer that serves the profile's domains (issue 17).

The plan never names the URL map: it names the domains. With `url_map` unset,
the chain that serves them is read from the compute lists the load balancer
checks read anyway (no extra command):

    HTTPS forwarding rule -> its target HTTPS proxy
      -> the proxy's certificates (managed.domains, SANs, wildcards)
         and its URL map's host rules -> the URL map

A URL map is a candidate when a proxy that is a forwarding rule's target
either presents a certificate covering a domain or routes it by a host rule.
One candidate is judged; two or more (a migration, an old proxy) are decided
by where the domain resolves when the network probes ran, never by a guess;
none is a finding of its own. Regional chains of another region than the
profile's are a second stack, never this one. The result is either the
(url_map, lb_scope) the load balancer checks are anchored on, with the
sentence that says why, or the one finding that replaces them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from infracheck.model import (
    CannotRun, Catalog, Category, Check, CommandError, ErrorKind, Finding, Outcome, Severity, Status,
)
from infracheck.rules.values import covers

if TYPE_CHECKING:  # annotations only: the run stage imports this module, not the other way round
    from infracheck.plan import Plan
    from infracheck.runner import Late, Source

Argv = tuple[str, ...]

AREA = "loadbalancer"
RULE = "loadbalancer.chain"
# The list commands the load balancer checks read (their argv minus --project/--format).
LISTS = {
    "url_maps": ("gcloud", "compute", "url-maps", "list"),
    "forwarding_rules": ("gcloud", "compute", "forwarding-rules", "list"),
    "proxies": ("gcloud", "compute", "target-https-proxies", "list"),
    "certificates": ("gcloud", "compute", "ssl-certificates", "list"),
}
_SCOPE = re.compile(r"/projects/[^/]+/(global|regions/[^/]+)/urlMaps/([^/]+)$")


@dataclasses.dataclass(frozen=True)
class Chain:
    """One URL map that serves a domain, and why it was taken for it."""

    url_map: str
    scope: str
    proxy: str
    reason: str  # "presents a certificate for D" / "routes D by a host rule"
    addresses: tuple[str, ...]  # the IP addresses of the forwarding rules in front of it

    @property
    def label(self) -> str:
        return f"URL map '{self.url_map}' ({self.scope})"


@dataclasses.dataclass(frozen=True)
class Found:
    """The chain to judge (url_map, lb_scope, and the report's sentence), or the finding that replaces it."""

    url_map: str | None = None
    lb_scope: str | None = None
    line: str = ""
    findings: tuple[Finding, ...] = ()


def sources(planned: Sequence[Argv]) -> dict[str, Argv]:
    """The planned argv of each list discovery reads (absent when the load balancer checks are not planned)."""
    found: dict[str, Argv] = {}
    for argv in planned:
        for name, head in LISTS.items():
            if argv[:4] == head:
                found[name] = argv
    return found


def dns_sources(planned: Sequence[Argv], domains: Sequence[str]) -> dict[str, Argv]:
    """The planned DNS probe of each domain (only when the network probes run)."""
    wanted = {("probe", "dns", d): d for d in domains}
    return {wanted[argv]: argv for argv in planned if argv in wanted}


def find(profile: Mapping[str, Any], outcomes: Mapping[str, Outcome], dns: Mapping[str, Outcome]) -> Found:
    """Pick the chain serving the profile's domains from the four compute lists (and DNS, when probed)."""
    project, region = str(profile["project"]), str(profile["region"])
    domains = [str(d) for d in profile["domains"]]
    for outcome in outcomes.values():
        if outcome.error is not None:
            return _unreadable(project, outcome.error)
    docs = {name: _list(o.document) for name, o in outcomes.items()}
    candidates: dict[str, list[Chain]] = {d: _serving(d, docs, region) for d in domains}
    maps: dict[str, Chain] = {}
    for chains in candidates.values():  # the first domain's reason is the one said
        for c in chains:
            maps.setdefault(c.label, c)
    if not maps and _certificate_manager(docs, region):
        proxies = ", ".join(_certificate_manager(docs, region))
        return Found(findings=(_unknown(
            f"Load balancer not judged: no compute certificate or host rule names {', '.join(domains)}; "
            f"the HTTPS proxies {proxies} serve certificates from Certificate Manager, which infracheck does "
            f"not read", "gcloud certificate-manager maps entries list --map=MAP --location=global "
            f"--project={project}; then --set url_map=NAME --set lb_scope=SCOPE"),))
    if not maps:
        names = sorted(_label(_text(m.get("selfLink"))) or _text(m.get("name")) for m in _objects(docs["url_maps"]))
        existing = ", ".join(names) if names else "none"
        return Found(findings=tuple(_fail(
            f"No load balancer in {project} serves {d} (URL maps in {project}: {existing})",
            d, f"gcloud compute url-maps list --project={project}; if the load balancer is in another project, "
               f"give --project; if it has a name, give --set url_map=NAME --set lb_scope=SCOPE") for d in domains))
    if len(maps) > 1:
        decided = _by_address(maps, dns)
        if decided is None:
            listed = "; ".join(f"{label} (proxy '{c.proxy}', {', '.join(c.addresses) or 'no address'})"
                               for label, c in sorted(maps.items()))
            picks = " or ".join(f"--set url_map={c.url_map} --set lb_scope={c.scope}"
                                for _, c in sorted(maps.items()))
            why = ("the domains resolve to none of them alone" if dns
                   else "the network probes did not run to tell which one the domains resolve to")
            return Found(findings=(_unknown(
                f"Load balancer not judged: {len(maps)} load balancers serve {', '.join(domains)} and "
                f"{why}: {listed}", picks),))
        chain, address = decided
        domain = next(d for d in domains if chain.label in {c.label for c in candidates[d]})
        line = (f"load balancer: {chain.label}, found by its proxy '{chain.proxy}', which {chain.reason}; "
                f"{domain} resolves to {address}, its forwarding rule's address")
        return Found(chain.url_map, chain.scope, line)
    chain = next(iter(maps.values()))
    return Found(chain.url_map, chain.scope,
                 f"load balancer: {chain.label}, found by its proxy '{chain.proxy}', which {chain.reason}")


def _serving(domain: str, docs: Mapping[str, list[Any]], region: str) -> list[Chain]:
    """Every URL map a served HTTPS proxy routes `domain` to, with the first reason found for each."""
    certificates = {_text(c.get("selfLink")): c for c in _objects(docs["certificates"])}
    maps = {_text(m.get("selfLink")): m for m in _objects(docs["url_maps"])}
    chains: dict[str, Chain] = {}
    for proxy, link, scoped, addresses in _served(docs, region):
        reason = None
        # certificateMap: GCP ignores sslCertificates; Certificate Manager is not read, host rules still tell.
        presented = [] if proxy.get("certificateMap") else _items(proxy.get("sslCertificates"))
        for ref in presented:
            cert = _object(certificates.get(_text(ref)))
            names = _items(_object(cert.get("managed")).get("domains")) or _items(cert.get("subjectAlternativeNames"))
            if covers(names, domain):
                reason = f"presents a certificate for {domain}"
                break
        hosts = [h for r in _objects(_object(maps.get(link)).get("hostRules")) for h in _items(r.get("hosts"))]
        if reason is None and covers([h for h in hosts if h != "*"], domain):
            reason = f"routes {domain} by a host rule"
        if reason is None:
            continue
        old = chains.get(link)
        if old is None or (old.reason.startswith("routes") and reason.startswith("presents")):
            chains[link] = Chain(scoped.group(2), scoped.group(1), _text(proxy.get("name")), reason,
                                 tuple(dict.fromkeys(addresses + (old.addresses if old else ()))))
        else:
            chains[link] = dataclasses.replace(old, addresses=tuple(dict.fromkeys(old.addresses + addresses)))
    return list(chains.values())


def _served(docs: Mapping[str, list[Any]], region: str) -> list[tuple[dict[str, Any], str, re.Match[str], tuple[str, ...]]]:
    """The target HTTPS proxies a forwarding rule sends traffic to, in scope: (proxy, URL map link, its scope, addresses).

    A proxy no forwarding rule targets serves nobody; a regional load balancer
    of another region than the profile's is another stack.
    """
    fronts: dict[str, list[str]] = {}
    for rule in _objects(docs["forwarding_rules"]):
        target = _text(rule.get("target"))
        if "/targetHttpsProxies/" in target:
            fronts.setdefault(target, []).append(_text(rule.get("IPAddress")))
    served = []
    for proxy in _objects(docs["proxies"]):
        addresses = fronts.get(_text(proxy.get("selfLink")))
        link = _text(proxy.get("urlMap"))
        scoped = _SCOPE.search(link)
        if addresses is None or scoped is None or scoped.group(1) not in ("global", f"regions/{region}"):
            continue
        served.append((proxy, link, scoped, tuple(dict.fromkeys(a for a in addresses if a))))
    return served


def _certificate_manager(docs: Mapping[str, list[Any]], region: str) -> list[str]:
    """The served proxies whose certificates come from Certificate Manager (a map, or //certificatemanager names)."""
    return [f"'{_text(proxy.get('name'))}'" for proxy, *_ in _served(docs, region)
            if proxy.get("certificateMap") or any(_text(c).startswith("//") for c in _items(proxy.get("sslCertificates")))]


def _by_address(maps: Mapping[str, Chain], dns: Mapping[str, Outcome]) -> tuple[Chain, str] | None:
    """The one candidate whose forwarding rule has an address a domain resolves to (None: not one)."""
    resolved = {str(a) for o in dns.values() if o.error is None for a in _items(_object(o.document).get("addresses"))}
    hits = [(c, a) for c in maps.values() for a in c.addresses if a in resolved]
    return hits[0] if len({c.label for c, _ in hits}) == 1 else None


def _label(self_link: str) -> str | None:
    scoped = _SCOPE.search(self_link)
    return f"'{scoped.group(2)}' ({scoped.group(1)})" if scoped else None


def _list(document: Any) -> list[Any]:
    return document if isinstance(document, list) else []


# A document of another shape than GCP's is read as empty where it is wrong, never an exception.
def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in _items(value) if isinstance(v, dict)]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _unreadable(project: str, error: CommandError) -> Found:
    """A list that failed: the project itself missing is said once; anything else is could-not-check."""
    if error.project_gone:
        message = (f"Project '{project}' does not exist or cannot be seen by this account "
                   f"(compute: {error.message}); nothing in it could be checked")
        return Found(findings=(_unknown(message, f"gcloud projects describe {project} (check the --project id)"),))
    remedy = {
        ErrorKind.PERMISSION_DENIED: f"Grant roles/compute.viewer to the account running infracheck: gcloud projects "
                                     f"add-iam-policy-binding {project} --member=user:EMAIL --role=roles/compute.viewer",
        ErrorKind.API_DISABLED: f"gcloud services enable compute.googleapis.com --project={project}",
    }.get(error.kind, "retry; or name it: --set url_map=NAME --set lb_scope=SCOPE")
    return Found(findings=(_unknown(f"Load balancer not judged: could not list it: {error.message}", remedy),))


def could_not(reason: str) -> Finding:
    """The load balancer checks not judged, for a reason of infracheck's own."""
    return _unknown(f"Load balancer not judged: {reason}", "")


def _fail(message: str, domain: str, remedy: str) -> Finding:
    return Finding(check=RULE, rule=RULE, area=AREA, status=Status.FAIL, severity=Severity.CRITICAL,
                   resource=domain, message=message, expected="a load balancer that serves it",
                   remedy=remedy, category=Category.INFRASTRUCTURE)


def _unknown(message: str, remedy: str) -> Finding:
    return Finding(check=RULE, rule=RULE, area=AREA, status=Status.ERROR, severity=None,
                   resource="load balancer", message=message, remedy=remedy)


__all__ = ["AREA", "Found", "LISTS", "RULE", "could_not", "dns_sources", "find", "sources"]


class Binder:
    """The load balancer found by its domains (url_map unset), bound to the plan's load balancer checks.

    `late()` gives the run the commands discovery reads and a `bind` that,
    once they are in, anchors those checks on the chain found (`anchor(url_map,
    lb_scope)` gives the catalog loaded again with those names and its plan:
    the same checks in the same order, only names filled in) or replaces them
    with the one finding that says why none is judged. `cat` and `plan` are
    what bind decided.
    """

    def __init__(self, cat: Catalog, the_plan: Plan, anchor: Callable[[str, str], tuple[Catalog, Plan]]) -> None:
        self.cat, self.plan, self._anchor = cat, the_plan, anchor
        self.indexes = frozenset(i for i, c in enumerate(the_plan.checks) if c.area == AREA)
        self.found: Found | None = None
        if self.indexes and cat.profile.get("url_map"):
            url_map, scope = cat.profile["url_map"], cat.profile["lb_scope"]
            self.found = Found(str(url_map), str(scope), f"load balancer: URL map '{url_map}' ({scope}), as url_map names it")
        self.lists = sources([argv for c in cat.checks if c.area == AREA for argv in c.sources])
        self.probes = dns_sources(the_plan.sources, [str(d) for d in cat.profile["domains"]])

    @property
    def line(self) -> str | None:
        return self.found.line if self.found is not None and self.found.line else None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self.found.findings) if self.found is not None else ()

    def late(self) -> Late | None:
        """What the run stage needs, or None when nothing is to be found."""
        from infracheck.runner import Late

        if not self.indexes or self.found is not None:
            return None
        return Late(self.indexes, (*self.lists.values(), *self.probes.values()), self.bind)

    def bind(self, finished: Mapping[Argv, Outcome]) -> dict[int, Check | Sequence[Finding]]:
        self.found = find(self.cat.profile, {name: finished[argv] for name, argv in self.lists.items()},
                          {domain: finished[argv] for domain, argv in self.probes.items()})
        if self.found.url_map:
            try:
                cat, anchored = self._anchor(self.found.url_map, str(self.found.lb_scope))
            except CannotRun as exc:  # a name GCP gave that the profile refuses
                self.found = Found(findings=(could_not(str(exc)),))
            else:
                # The same checks reading the same commands (the URL map's name is in no command).
                if [(c.id, c.sources) for c in anchored.checks] == [(c.id, c.sources) for c in self.plan.checks]:
                    self.cat, self.plan = cat, anchored
                    return {i: anchored.checks[i] for i in self.indexes}
                self.found = Found(findings=(could_not("the plan changed with its name"),))
        first = min(self.indexes)
        return {i: self.found.findings if i == first else () for i in self.indexes}

    def upfront(self, source: Source, jobs: int) -> None:
        """Find it before anything else runs (watch, whose cycles re-run a fixed plan)."""
        from infracheck.runner import collect

        late = self.late()
        if late is None:
            return
        bound = self.bind({o.argv: o for o in collect(late.needs, source, jobs)})
        if self.found is not None and self.found.url_map:
            return
        keep = [i for i in range(len(self.plan.checks)) if i not in bound]
        self.plan = dataclasses.replace(self.plan, checks=tuple(self.plan.checks[i] for i in keep),
                                        skipped=tuple(self.plan.skipped[i] for i in keep))
