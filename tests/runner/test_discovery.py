"""Issue 17 section 1: the load balancer is found from the domains the plan names, never from a guessed name.

Replays of recorded scenarios (fixtures/api/<name>/scenario.toml says what
each models) for what a user sees, and hand-built compute lists through
discovery.find for the shapes real GCP has that no scenario holds (regional
load balancers, wildcards, Certificate Manager).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infracheck.runner import discovery
from infracheck.cli import main
from infracheck.model import CommandError, ErrorKind, Outcome, Status

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WEB, API = "staging.netrasystems.ai", "api-staging.netrasystems.ai"
WEB_LB_LINE = ("load balancer: URL map 'web-lb' (global), found by its proxy 'web-https-proxy', "
               "which presents a certificate for staging.netrasystems.ai")


def _replay(capsys: Any, name: str, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["diagnose", "--replay", str(FIXTURES / name), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def _not_passed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] not in ("pass", "skip")]


def test_a_load_balancer_of_any_name_is_found_by_its_domains(capsys):
    code, report = _replay(capsys, "lb-web")
    assert (code, report["status"]) == (0, "HEALTHY")
    assert report["load_balancer"] == WEB_LB_LINE
    assert _not_passed(report) == []
    # The chain's checks ran against web-lb, not a guessed name.
    assert {f["resource"] for f in report["findings"] if f["rule"] == "loadbalancer.url-map-exists"} == {"web-lb"}


def test_the_text_report_names_the_chain_it_judged(capsys):
    code = main(["diagnose", "--replay", str(FIXTURES / "lb-web"), "--color", "never"])
    out = capsys.readouterr().out
    assert code == 0
    assert WEB_LB_LINE + "\n" in out
    assert "staging-https-lb" not in out


def test_two_chains_are_decided_by_the_address_the_domain_resolves_to(capsys):
    code, report = _replay(capsys, "lb-two-chains")
    assert (code, report["status"]) == (0, "HEALTHY")
    assert report["load_balancer"] == (
        WEB_LB_LINE + "; staging.netrasystems.ai resolves to 34.120.10.20, its forwarding rule's address")


def test_two_chains_without_the_probes_are_one_unknown_naming_the_set_that_picks_one(capsys):
    code, report = _replay(capsys, "lb-two-chains", "--exclude", "network*")
    assert (code, report["status"]) == (3, "UNKNOWN")
    assert report["counts"]["critical"] == 0
    [finding] = _not_passed(report)
    assert (finding["rule"], finding["status"]) == ("loadbalancer.chain", "error")
    assert "URL map 'staging-https-lb' (global)" in finding["message"]
    assert "URL map 'web-lb' (global)" in finding["message"]
    assert finding["remedy"] == ("--set url_map=staging-https-lb --set lb_scope=global or "
                                 "--set url_map=web-lb --set lb_scope=global")
    assert report["load_balancer"] is None


def test_no_chain_is_critical_and_lists_the_url_maps_that_exist(capsys):
    code, report = _replay(capsys, "lb-none")
    assert (code, report["status"]) == (2, "CRITICAL")
    assert sorted(f["message"] for f in _not_passed(report)) == sorted(
        f"No load balancer in netra-staging serves {domain} (URL maps in netra-staging: "
        "'staging-http-redirect' (global), 'staging-https-lb' (global))" for domain in (WEB, API))


def test_a_named_url_map_keeps_exact_anchoring_and_says_which_exist(capsys):
    code, report = _replay(capsys, "lb-web", "--set", "url_map=staging-https-lb")
    assert code == 2
    messages = [f["message"] for f in _not_passed(report) if f["rule"] == "loadbalancer.url-map-exists"]
    assert messages == ["URL map 'staging-https-lb' (global) does not exist; the URL maps in netra-staging are: "
                        "web-lb (global), staging-http-redirect (global)"]
    assert report["load_balancer"] == "load balancer: URL map 'staging-https-lb' (global), as url_map names it"


def test_a_project_that_does_not_exist_is_could_not_check_said_once(capsys):
    code, report = _replay(capsys, "project-missing")
    assert (code, report["status"]) == (3, "UNKNOWN")
    assert report["counts"]["critical"] == report["counts"]["warning"] == 0
    said = [f for f in report["findings"] if "does not exist or cannot be seen" in f["message"]]
    assert [f["message"] for f in said] == [
        "Project 'netra-staging' does not exist or cannot be seen by this account (compute: not found: "
        "The resource 'projects/netra-staging' was not found); nothing in it could be checked"]
    assert all(f["status"] in ("error", "skip") for f in report["findings"])


def test_the_neighbours_are_still_never_judged(capsys):
    code, report = _replay(capsys, "lb-neighbours")
    assert (code, report["status"]) == (0, "HEALTHY")
    # staging-web-proxy presents staging's certificate; the europe-west1 stack and data-lb are not candidates.
    assert report["load_balancer"] == ("load balancer: URL map 'staging-https-lb' (global), found by its proxy "
                                       "'staging-web-proxy', which presents a certificate for staging.netrasystems.ai")
    code, report = _replay(capsys, "lb-neighbours-expired")
    assert code == 2  # the staging proxy's own certificate has expired: clients refuse it
    assert {(f["rule"], f["resource"]) for f in _not_passed(report)} >= {("loadbalancer.cert-expired", WEB)}


def test_a_warning_is_said_once_though_the_catalog_is_loaded_again_for_the_chain_found(capsys, monkeypatch):
    # Anchoring the load balancer checks loads the catalog again with url_map: its warnings were said already.
    monkeypatch.setenv("INFRACHECK_TYPO", "1")
    code = main(["diagnose", "--replay", str(FIXTURES / "lb-web"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["load_balancer"]
    assert err.splitlines() == ["infracheck: warning: INFRACHECK_TYPO is not an infracheck setting and is ignored "
                                "(did you mean INFRACHECK_NOW?)"]


# --- discovery.find on hand-built compute lists --------------------------------------------------

BASE = "https://www.googleapis.com/compute/v1/projects/p-staging"
PROFILE = {"project": "p-staging", "region": "us-central1", "domains": [WEB]}


def _outcome(document: Any) -> Outcome:
    return Outcome(("gcloud",), 0, 0.0, document=document)


def _chain(scope: str, name: str, *, cert: dict[str, Any] | None = None, hosts: list[str] | None = None,
           proxy: dict[str, Any] | None = None, address: str = "1.2.3.4") -> dict[str, list[Any]]:
    url_map = {"name": name, "selfLink": f"{BASE}/{scope}/urlMaps/{name}",
               "hostRules": [{"hosts": hosts, "pathMatcher": "m"}] if hosts else []}
    certs = [{"name": f"{name}-cert", "selfLink": f"{BASE}/{scope}/sslCertificates/{name}-cert", **(cert or {})}]
    the_proxy = {"name": f"{name}-proxy", "selfLink": f"{BASE}/{scope}/targetHttpsProxies/{name}-proxy",
                 "urlMap": url_map["selfLink"], "sslCertificates": [certs[0]["selfLink"]], **(proxy or {})}
    rule = {"name": f"{name}-fr", "IPAddress": address, "target": the_proxy["selfLink"]}
    return {"url_maps": [url_map], "forwarding_rules": [rule], "proxies": [the_proxy], "certificates": certs}


def _find(*chains: dict[str, list[Any]], dns: dict[str, list[str]] | None = None,
          profile: dict[str, Any] | None = None) -> discovery.Found:
    lists = {name: _outcome([item for chain in chains for item in chain[name]]) for name in discovery.LISTS}
    probes = {host: _outcome({"addresses": addresses}) for host, addresses in (dns or {}).items()}
    return discovery.find(profile or PROFILE, lists, probes)


def test_a_regional_load_balancer_of_the_profiles_region_is_found_with_its_scope():
    found = _find(_chain("regions/us-central1", "web", cert={"subjectAlternativeNames": ["*.netrasystems.ai"]}))
    assert (found.url_map, found.lb_scope) == ("web", "regions/us-central1")
    assert found.line.endswith("which presents a certificate for staging.netrasystems.ai")


def test_a_regional_load_balancer_of_another_region_is_another_stack():
    found = _find(_chain("regions/europe-west1", "web", cert={"managed": {"domains": [WEB]}}))
    assert found.url_map is None
    assert [f.status for f in found.findings] == [Status.FAIL]
    assert found.findings[0].message.startswith("No load balancer in p-staging serves staging.netrasystems.ai")


def test_a_wildcard_host_rule_finds_the_chain_but_a_catch_all_does_not():
    found = _find(_chain("global", "web", hosts=["*.netrasystems.ai"]))
    assert found.url_map == "web"
    assert found.line.endswith("which routes staging.netrasystems.ai by a host rule")
    assert _find(_chain("global", "web", hosts=["*"])).url_map is None


def test_a_proxy_without_a_forwarding_rule_serves_nobody():
    chain = _chain("global", "web", cert={"managed": {"domains": [WEB]}})
    chain["forwarding_rules"] = []
    assert _find(chain).url_map is None


def test_certificate_manager_is_not_read_so_not_judged_rather_than_critical():
    found = _find(_chain("global", "web", proxy={"certificateMap": "//certificatemanager.googleapis.com/x"}))
    assert found.url_map is None
    [finding] = found.findings
    assert finding.status is Status.ERROR
    assert "Certificate Manager" in finding.message and "'web-proxy'" in finding.message


def test_two_chains_and_an_address_that_matches_neither_stay_unknown():
    old = _chain("global", "old", cert={"managed": {"domains": [WEB]}}, address="1.1.1.1")
    new = _chain("global", "new", cert={"managed": {"domains": [WEB]}}, address="2.2.2.2")
    assert _find(old, new, dns={WEB: ["2.2.2.2"]}).url_map == "new"
    unknown = _find(old, new, dns={WEB: ["3.3.3.3"]})
    assert unknown.url_map is None and [f.status for f in unknown.findings] == [Status.ERROR]
    assert "resolve to none of them alone" in unknown.findings[0].message


def test_a_list_that_failed_is_could_not_check():
    lists = {name: _outcome([]) for name in discovery.LISTS}
    lists["proxies"] = Outcome(("gcloud",), 0, 0.0, error=CommandError(ErrorKind.PERMISSION_DENIED, "denied"))
    [finding] = discovery.find(PROFILE, lists, {}).findings
    assert finding.status is Status.ERROR and finding.message.endswith("could not list it: denied")
    assert "--role=roles/compute.viewer" in finding.remedy


def test_a_document_of_another_shape_is_read_as_empty_not_an_exception():
    chain = _chain("global", "web", cert={"managed": ["not", "a", "table"], "subjectAlternativeNames": [7, WEB]})
    chain["proxies"][0]["sslCertificates"] = [["a list"], chain["certificates"][0]["selfLink"]]
    chain["url_maps"][0]["hostRules"] = ["not a rule"]
    chain["forwarding_rules"].append({"target": ["x"], "IPAddress": {"a": 1}})
    assert _find(chain).url_map == "web"  # the one well-formed path still leads to it
