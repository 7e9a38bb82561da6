"""`infracheck parity`: two targets' configuration compared resource by resource (judge/parity.py).

The two sides are the recorded fixtures/healthy and the seed's outage (fixtures/outage), laid out as a
fleet recording (DIR/<target name>/) under two targets of the same project and region: every difference
the outage's configuration carries is named with both values; an intended one ([[parity.ignore]] with a
reason) is no finding; a secret's value never appears.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infracheck.cli import main
from infracheck.errors import CannotRun
from infracheck.judge import parity

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SERVICES = "gcloud_run_services_list_--region=us-central1_--project=netra-staging.json"
CANARY = "pAr1ty-canary-Value-0f-a-plain-env-9c2"


def _fleet(tmp_path: Path, profile: str | None = None) -> tuple[Path, Path]:
    """A targets file (staging: the healthy recording, production: the outage) and its recordings folder."""
    recordings = tmp_path / "rec"
    shutil.copytree(FIXTURES / "healthy", recordings / "staging")
    shutil.copytree(FIXTURES / "outage", recordings / "production")
    line = ""
    if profile is not None:
        (tmp_path / "prod.toml").write_text(profile, encoding="utf-8")
        line = 'profile = "prod.toml"\n'
    targets = tmp_path / "targets.toml"
    targets.write_text('[[target]]\nname = "staging"\nproject = "netra-staging"\nregion = "us-central1"\n\n'
                       '[[target]]\nname = "production"\nproject = "netra-staging"\nregion = "us-central1"\n'
                       + line, encoding="utf-8")
    return targets, recordings


def _run(capsys: pytest.CaptureFixture[str], targets: Path, recordings: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["parity", "--targets", str(targets), "--replay", str(recordings), *extra, "staging", "production"])
    out, err = capsys.readouterr()
    return code, out, err


def test_healthy_against_the_outage_names_each_difference_with_both_values(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    code, out, err = _run(capsys, targets, recordings, "--format", "json")
    assert code == 1 and err == ""
    report = json.loads(out)
    assert report["status"] == "WARNING" and report["targets"] == {"a": "staging", "b": "production"}
    found = {d["path"]: (d["staging"], d["production"]) for d in report["differences"]}
    assert found == {
        "connector.minInstances": ("2", "1"),
        "connector.minThroughput": ("200", "100"),
        "cloudsql.sslMode": ("ENCRYPTED_ONLY", "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
        "cloudrun.netra-backend-staging.vpcConnector": ("the profile's connector", "(not set)"),
        "cloudrun.auth-staging.vpcEgress": ("all-traffic", "private-ranges-only"),
    }
    code, text, _ = _run(capsys, targets, recordings)
    assert code == 1
    assert 'Parity staging vs production: WARNING - 5 differences, 0 intended' in text
    assert '[WARNING] Cloud SQL SSL mode: staging "ENCRYPTED_ONLY" vs production "ALLOW_UNENCRYPTED_AND_ENCRYPTED"' in text


def test_the_same_recording_twice_is_no_difference(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    shutil.rmtree(recordings / "production")
    shutil.copytree(FIXTURES / "healthy", recordings / "production")
    code, out, _ = _run(capsys, targets, recordings)
    assert code == 0
    assert out.startswith("Parity staging vs production: HEALTHY - 0 differences")


def test_an_intended_difference_with_its_reason_is_no_finding(tmp_path, capsys):
    profile = ('[[parity.ignore]]\npath = "cloudsql.sslMode"\nreason = "production clients are migrated by March"\n\n'
               '[[parity.ignore]]\npath = "connector.min*"\nreason = "production scales from one"\n')
    targets, recordings = _fleet(tmp_path, profile)
    code, out, _ = _run(capsys, targets, recordings, "--format", "json")
    report = json.loads(out)
    assert code == 1  # the services' differences remain
    assert {d["path"] for d in report["differences"]} == {"cloudrun.netra-backend-staging.vpcConnector",
                                                         "cloudrun.auth-staging.vpcEgress"}
    intended = {d["path"]: d["ignored"]["reason"] for d in report["intended"]}
    assert intended == {"cloudsql.sslMode": "production clients are migrated by March",
                        "connector.minInstances": "production scales from one",
                        "connector.minThroughput": "production scales from one"}
    code, markdown, _ = _run(capsys, targets, recordings, "--format", "markdown")
    assert "| Cloud SQL SSL mode | ENCRYPTED_ONLY | ALLOW_UNENCRYPTED_AND_ENCRYPTED | production clients are " \
           "migrated by March |" in markdown
    assert "| service auth-staging run.googleapis.com/vpc-access-egress | `cloudrun.auth-staging.vpcEgress` | " \
           "all-traffic | private-ranges-only |" in markdown


def test_ignoring_every_difference_exits_zero(tmp_path, capsys):
    profile = '[[parity.ignore]]\npath = "*"\nreason = "a scratch environment"\n'
    targets, recordings = _fleet(tmp_path, profile)
    code, out, _ = _run(capsys, targets, recordings)
    assert code == 0 and "HEALTHY - 0 differences, 5 intended" in out


@pytest.mark.parametrize("profile, message", [
    ('[[parity.ignore]]\npath = "cloudsql.tier"\n', "prod.toml:1: parity.ignore needs a non-empty reason"),
    ('cert_min_days = 30\n\n[[parity.ignore]]\npath = "a"\nreason = "b"\n\n[[parity.ignore]]\nreason = "r"\n',
     "prod.toml:7: parity.ignore needs a non-empty path"),
    ('[[parity.ignore]]\npath = "a"\nreason = "b"\nwhy = "c"\n', "prod.toml:1: parity.ignore: unknown key 'why'"),
    ('[parity]\nignore = ["cloudsql.tier"]\n', "prod.toml:1: parity.ignore must be tables"),
    ('[parity]\nskip = 1\n', "prod.toml:1: [parity] holds only ignore (not 'skip')"),
])
def test_a_malformed_ignore_is_one_line_naming_file_and_line(tmp_path, capsys, profile, message):
    targets, recordings = _fleet(tmp_path, profile)
    code, out, err = _run(capsys, targets, recordings)
    assert code == 3 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    shutil.rmtree(recordings / "production")
    code, out, err = _run(capsys, targets, recordings)
    assert code == 3 and out == ""
    assert err.startswith(f"infracheck: error: target 'production': no recording in {recordings / 'production'} "
                          "(record it with: infracheck record")


def test_an_unknown_target_is_named(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    code = main(["parity", "--targets", str(targets), "--replay", str(recordings), "staging", "prod"])
    err = capsys.readouterr().err
    assert code == 3 and "no target 'prod' (targets: production, staging)" in err


def test_secrets_compare_by_reference_and_no_value_is_shown(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    path = recordings / "production" / SERVICES
    services = json.loads(path.read_text(encoding="utf-8"))
    env = services[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    for entry in env:
        if entry.get("valueFrom"):  # the first secret reference now reads a pinned version
            entry["valueFrom"]["secretKeyRef"]["key"] = "7"
            pinned = entry["name"], entry["valueFrom"]["secretKeyRef"]["name"]
            break
    env.append({"name": "DEBUG_TOKEN", "value": CANARY})  # a plain value production alone sets
    path.write_text(json.dumps(services), encoding="utf-8")
    name = services[0]["metadata"]["name"]
    for fmt in ("text", "json", "markdown"):
        _, out, err = _run(capsys, targets, recordings, "--format", fmt)
        assert CANARY not in out + err and CANARY[:12] not in out + err
    _, out, _ = _run(capsys, targets, recordings, "--format", "json")
    found = {d["path"]: (d["staging"], d["production"]) for d in json.loads(out)["differences"]}
    assert found[f"cloudrun.{name}.env.DEBUG_TOKEN"] == ("(not set)", "a plain value")
    assert found[f"cloudrun.{name}.env.{pinned[0]}"] == (f"secret {pinned[1]} version latest",
                                                          f"secret {pinned[1]} version 7")


def test_services_pair_by_their_position_in_the_profile() -> None:
    service = {"spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "10"}},
                                     "spec": {"containers": [{"resources": {"limits": {"cpu": "1"}}}]}}}}
    bigger = json.loads(json.dumps(service))
    bigger["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] = "100"
    bigger["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "4"
    a = parity.Side("staging", None, None, (("api-staging", service),), (), [])
    b = parity.Side("production", None, None, (("api", bigger),), (), [])
    result = parity.compare(a, b)
    found = {d.path: (d.a, d.b) for d in result.findings}
    assert found == {"cloudrun.api-staging.maxScale": ("10", "100"), "cloudrun.api-staging.cpu": ("1", "4")}
    assert [d.what for d in result.findings] == ["service api-staging/api autoscaling.knative.dev/maxScale",
                                                 "service api-staging/api cpu limit"]


def test_certificate_coverage_compares_each_targets_own_domains() -> None:
    active = {"managed": {"domains": ["api.example.com"], "status": "ACTIVE",
                          "domainStatus": {"api.example.com": "ACTIVE"}}}
    stuck = {"managed": {"domains": ["api-staging.example.com"], "status": "PROVISIONING",
                         "domainStatus": {"api-staging.example.com": "FAILED_NOT_VISIBLE"}}}
    a = parity.Side("production", None, None, (), ("api.example.com",), [active])
    b = parity.Side("staging", None, None, (), ("api-staging.example.com",), [stuck])
    found = {d.path: (d.a, d.b) for d in parity.compare(a, b).findings}
    assert found["certificates.coverage"] == ("all 1 domains covered", "not covered: api-staging.example.com")
    wildcard = {"subjectAlternativeNames": ["*.example.com"]}
    c = parity.Side("staging", None, None, (), ("api-staging.example.com",), [wildcard])
    assert "certificates.coverage" not in {d.path for d in parity.compare(a, c).findings}


def test_read_ignores_without_a_parity_table_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('cert_min_days = 30\n', encoding="utf-8")
    assert parity.read_ignores(path) == ()
    path.write_text('[[parity.ignore]]\npath = "x"\nreason = ""\n', encoding="utf-8")
    with pytest.raises(CannotRun, match=r"p.toml:1: parity.ignore needs a non-empty reason"):
        parity.read_ignores(path)


def test_the_fleet_page_shows_what_parity_prints(tmp_path, capsys):
    targets, recordings = _fleet(tmp_path)
    _, out, _ = _run(capsys, targets, recordings)
    page = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")
    assert f"```\n{out}```\n" in page


def test_the_fleet_pages_ignore_example_silences_the_tier(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"^```toml\n(.*?)^```$", page, re.S | re.M) if "[[parity.ignore]]" in b]
    (tmp_path / "prod.toml").write_text(example, encoding="utf-8")
    ignores = parity.read_ignores(tmp_path / "prod.toml")
    sql = {"settings": {"tier": "db-custom-2-7680"}}
    bigger = {"settings": {"tier": "db-custom-8-30720"}}
    result = parity.compare(parity.Side("staging", None, sql, (), (), []),
                            parity.Side("production", None, bigger, (), (), []), ignores)
    assert [(d.path, d.ignored.reason if d.ignored else None) for d in result.differences] == [
        ("cloudsql.tier", "production is sized for its load")]
    assert result.findings == ()
