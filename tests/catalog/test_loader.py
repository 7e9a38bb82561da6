"""loader.py: the profile, overrides, expansion, and load-time errors naming file and check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infracheck import plan
from infracheck.rules.validate import validate
from infracheck.catalog import loader
from infracheck.catalog.loader import CatalogError

COMMANDS = Path(__file__).resolve().parents[2] / "commands"


def test_default_catalog_loads_and_validates():
    cat = loader.load(environ={})
    validate(cat.checks)
    assert [a.id for a in cat.areas] == ["vpc", "cloudsql", "secrets", "cloudrun", "loadbalancer", "network", "logs",
                                        "journey", "capacity", "monitoring"]
    assert cat.profile["project"] == "netra-staging"
    secrets = [c for c in cat.checks if c.id == "secrets.secret"]
    assert len(secrets) == 10
    assert {c.resource for c in secrets} >= {"database-url", "jwt-secret-staging", "cors-allowed-origins"}


def test_installed_catalog_dir_is_found():
    assert (loader.default_dir() / "profile.toml").is_file()


def test_precedence_flag_over_env_over_profile():
    env = {"INFRACHECK_PROJECT": "from-env-1", "INFRACHECK_REGION": "europe-west1"}
    cat = loader.load(overrides={"project": "from-flag-1"}, environ=env)
    assert cat.profile["project"] == "from-flag-1"
    assert cat.profile["region"] == "europe-west1"
    vpc = next(c for c in cat.checks if c.id == "vpc.connector")
    assert "--project=from-flag-1" in vpc.argv and "--region=europe-west1" in vpc.argv


def test_lists_and_numbers_from_strings():
    cat = loader.load(overrides={"services": "api,worker", "connector_min_instances": "3"}, environ={})
    assert cat.profile["services"] == ["api", "worker"]
    assert cat.profile["connector_min_instances"] == 3
    assert [c.resource for c in cat.checks if c.id == "cloudrun.service"] == ["api", "worker"]


@pytest.mark.parametrize("name,value,words", [
    ("project", "-oops", "may not start with '-'"),
    ("project", "--impersonate-service-account=x", "may not start with '-'"),
    ("project", "bad project", "spaces"),
    ("project", "UPPER", "a project id is 6 to 30 lowercase letters"),
    ("project", "a", "invalid project"),
    ("region", "us central1", "spaces"),
    ("region", "nowhere", "invalid region"),
    ("sql_instance", "db;rm -rf /", "spaces"),
    ("services", "ok-svc,Bad_Svc", "invalid services"),
    ("connector_min_instances", "two", "whole number"),
    ("nonsense", "x", "unknown profile name 'nonsense'"),
    ("secrets", "a,b", "--profile file"),
    ("url_map", "Staging_LB", "invalid"),
    ("url_map", "staging*", "invalid"),
    ("lb_scope", "europe-west1", "invalid"),        # a scope is "global" or "regions/REGION"
    ("lb_scope", "regions/europe-west1/x", "invalid"),
    ("url_map_filter", "staging", "'url_map_filter' is no longer read"),
])
def test_bad_values_are_refused_before_anything_runs(name, value, words):
    with pytest.raises(CatalogError) as err:
        loader.load(overrides={name: value}, environ={})
    assert words in str(err.value)


@pytest.mark.parametrize("where", ["--set", "environment", "--profile"])
def test_a_retired_profile_name_says_what_replaced_it(tmp_path, where):
    kwargs: dict = {"environ": {}}
    if where == "--set":
        kwargs["overrides"] = {"url_map_filter": "staging"}
    elif where == "environment":
        kwargs["environ"] = {"INFRACHECK_URL_MAP_FILTER": "staging"}
    else:
        kwargs["profile_file"] = tmp_path / "prod.toml"
        kwargs["profile_file"].write_text('url_map_filter = "prod"\n')
    with pytest.raises(CatalogError) as err:
        loader.load(**kwargs)
    assert "'url_map_filter' is no longer read" in str(err.value) and "url_map" in str(err.value)


def test_substituted_value_stays_one_argv_token():
    cat = loader.load(overrides={"sql_instance": "db-1"}, environ={})
    sql = next(c for c in cat.checks if c.id == "cloudsql.instance")
    assert sql.argv[:5] == ("gcloud", "sql", "instances", "describe", "db-1")


def _broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "commands"
    shutil.copytree(COMMANDS, folder)
    path = folder / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize("file,old,new,words", [
    ("vpc.toml", 'op = "eq"', 'op = "equals"', ["vpc.state", "unknown operator 'equals'"]),
    ("vpc.toml", 'path = "state"', 'path = "state[["', ["vpc.state", "JMESPath does not compile"]),
    ("vpc.toml", 'severity = "critical"\nmessage = "VPC', 'severity = "fatal"\nmessage = "VPC', ["vpc.toml", "severity"]),
    ("vpc.toml", 'title = "VPC connector is READY"', 'titel = "x"', ["vpc.toml", "vpc.state", "unknown key", "titel"]),
    ("vpc.toml", "[area]", "[aera]", ["vpc.toml", "[area]"]),
    ("vpc.toml", "{connector}", "{conector}", ["vpc.toml", "unknown name '{conector}'"]),
    ("vpc.toml", 'id = "vpc.connector"', 'id = "cloudsql.instance"', ["vpc.toml", "cloudsql.instance"]),
    ("cloudsql.toml", "[[check.rule]]\nid = \"cloudsql.state\"", "[[check.rule]\nid = \"cloudsql.state\"", ["cloudsql.toml", "not valid TOML"]),
    ("secrets.toml", "message = \"Secret '{item.name}' is shorter", "message = \"Secret '{item.name}' is {actual}, shorter",
     ["secrets.min-length", "sensitive", "{actual}"]),
    ("cloudrun.toml", 'command = "gcloud run services list', 'command = "rm -rf / run services list', ["cloudrun.toml", "must start with 'gcloud'"]),
    ("profile.toml", "\n[patterns]\n", "\n[patterns]\nbogus = '(['\n", ["pattern for 'bogus' does not compile"]),
    # fix tables (fix mode): what a typo there would do is refused before anything runs
    ("vpc.toml", "fix = { wait = true,", "fix = { wiat = true,", ["rule 'vpc.state' fix", "unknown key", "wiat"]),
    ("vpc.toml", "fix = { wait = true,", "fix = { wait = true, command = \"gcloud x\",", ["rule 'vpc.state' fix", "a wait has no command"]),
    ("cloudrun.toml", 'fix = { command = "gcloud run services update {item} --min-instances',
     'fix = { command = "rm {item} --min-instances', ["rule 'cloudrun.min-instances' fix", "must start with 'gcloud'"]),
    ("cloudrun.toml", "auto = true, changes = \"min instances", "auto = \"yes\", changes = \"min instances",
     ["rule 'cloudrun.min-instances' fix", "auto must be true or false"]),
    ("vpc.toml", 'vars = { min = "max(', 'vars = { min = "max((', ["vpc.min-instances", "fix min", "JMESPath does not compile"]),
    ("vpc.toml", "fix = { wait = true,", "fix = { auto = true,", ["rule 'vpc.state' fix", "auto needs a command"]),
    # the dependency chain (issue #9)
    ("vpc.toml", 'class = "infrastructure"', "", ["vpc.toml", "vpc.connector", "every rule needs a class"]),
    ("vpc.toml", 'class = "infrastructure"', 'class = "infra"', ["vpc.toml", "class must be 'infrastructure' or 'configuration'"]),
    ("cloudsql.toml", 'depends_on = [{ on = "cloudsql.instance.exists" }]', 'depends_on = [{ on = "cloudsql.instanse.exists" }]',
     ["cloudsql.operations", "'cloudsql.instanse.exists' matches no rule"]),
    ("cloudsql.toml", 'depends_on = [{ on = "cloudsql.instance.exists" }]', 'depends_on = [{ upon = "x" }]',
     ["cloudsql.operations", "unknown key", "upon"]),
    ("cloudsql.toml", 'depends_on = [{ on = "cloudsql.instance.exists" }]', 'depends_on = "cloudsql.instance.exists"',
     ["cloudsql.operations", "depends_on must be a list"]),
    ("cloudsql.toml", 'depends_on = [{ on = "cloudsql.instance.exists" }]', 'depends_on = [{ on = [] }]',
     ["cloudsql.operations", "'on' must be a rule id or a list of them"]),
    ("network.toml", 'resource = "host(item)"', 'resource = "host(item"', ["network.health", "depends_on resource", "JMESPath does not compile"]),
    ("cloudsql.toml", 'detail = "document[?error]', 'detail = "document[?error', ["cloudsql.failed-operations", "detail", "JMESPath does not compile"]),
    ("cloudsql.toml", "context = { operations =", "context = { operations = 'rm -rf /', x =", ["cloudsql.instance", "must start with 'gcloud'"]),
    ("secrets.toml", 'id = "secrets.min-length"', 'id = "secrets.min-length"\ndetail = "payload.data"', ["secrets.min-length", "sensitive", "detail"]),
    ("loadbalancer.toml", "not_judged = { path", "not_judged = { paht", ["loadbalancer.certificate", "unknown key", "paht"]),
    ("loadbalancer.toml", "not_judged = { path = \"!resource &&", "not_judged = { path = \"!resource && ]",
     ["loadbalancer.certificate", "not_judged", "JMESPath does not compile"]),
    # document shapes (issue #7 section 2)
    ("vpc.toml", 'shape = { type = "object"', 'shape = { type = "dict"', ["vpc.toml", "vpc.connector", "'object' or 'list'"]),
    ("vpc.toml", 'state = "string" }', 'state = "text" }', ["vpc.toml", "vpc.connector", "field 'state'", "unknown type text"]),
    ("vpc.toml", 'state = "string" }', 'state = 5 }', ["vpc.toml", "vpc.connector", "unknown type 5"]),
    ("vpc.toml", 'shape = { type = "object", required', 'shape = { kind = "object", type = "object", required',
     ["vpc.toml", "vpc.connector", "unknown key", "kind"]),
    ("vpc.toml", 'shape = { type = "object", required = { name', 'shape = { type = "object", required = { sub.name = "string", name',
     ["vpc.toml", "vpc.connector", 'quote a dotted field: "sub.name"']),
    ("vpc.toml", 'shape = { type = "object", required = { name = "string", state = "string" } }', 'shape = "object"',
     ["vpc.toml", "vpc.connector", "must be a table"]),
    ("cloudrun.toml", 'required = { "metadata.name" = "string", spec = "object" } }\nselect', 'required = { spec = "object" } }\nselect',
     ["cloudrun.secret-refs", "same command as 'cloudrun.service'", "another shape"]),
    ("vpc.toml", 'value = "{connector_min_instances}"', 'value = "two"', ["vpc.min-instances", "'two' does not suit operator 'gte'"]),
    ("vpc.toml", 'value = "{connector_range}"', 'value = "10.1.0.0/99"', ["vpc.ip-range", "does not suit operator 'cidr-eq'"]),
])
def test_broken_catalog_fails_at_load_naming_file_and_check(tmp_path, file, old, new, words):
    folder = _broken(tmp_path, file, old, new)
    with pytest.raises(CatalogError) as err:
        cat = loader.load(folder, environ={})
        validate(cat.checks)
    for word in words:
        assert word in str(err.value)


def test_duplicate_check_id_is_refused(tmp_path):
    folder = tmp_path / "commands"
    shutil.copytree(COMMANDS, folder)
    (folder / "zz.toml").write_text((folder / "vpc.toml").read_text().replace('id = "vpc"', 'id = "vpc2"'))
    with pytest.raises(CatalogError, match="defined twice|must be 'vpc2.<slug>'"):
        loader.load(folder, environ={})


def test_missing_catalog_folder(tmp_path):
    with pytest.raises(CatalogError, match="no profile.toml"):
        loader.load(tmp_path, environ={})


@pytest.mark.parametrize("include,exclude,rule,selected", [
    ([], [], "cloudsql.state", True),
    ([], ["network*"], "network.dns-resolves", False),
    ([], ["network*"], "cloudsql.state", True),
    (["cloudsql.*"], [], "cloudsql.state", True),
    (["cloudsql.*"], [], "vpc.state", False),
    (["cloudsql.*"], ["cloudsql.ssl"], "cloudsql.ssl", False),
    (["secrets"], [], "secrets.redis-url", True),
])
def test_selection_globs(include, exclude, rule, selected):
    cat = loader.load(environ={})
    check = next(c for c in cat.checks for r in c.rules if r.id == rule)
    assert plan.is_selected(check, rule, include, exclude) is selected


def test_every_rule_documents_itself():
    """Issue #3: each rule has a title, why it matters, and a remedy a person can act on."""
    cat = loader.load(environ={})
    problems = []
    for check in cat.checks:
        for rule in check.rules:
            problems += [f"{rule.id}: no {key}" for key in ("title", "why", "remedy") if not getattr(rule, key)]
        if check.missing is not None and not check.missing.remedy:
            problems.append(f"{check.id}.exists: no remedy")
    assert sorted(set(problems)) == []


def test_catalog_error_is_a_shared_type_still_importable_from_catalog():
    from infracheck import model
    assert CatalogError is model.CatalogError and issubclass(CatalogError, model.CannotRun)


def test_load_returns_a_validated_catalog(tmp_path):
    folder = _broken(tmp_path, "cloudsql.toml", 'op = "eq"', 'op = "equals"')
    with pytest.raises(CatalogError, match="unknown operator 'equals'"):
        loader.load(folder, environ={})


def test_dependencies_point_at_the_checks_that_own_their_rules():
    cat = loader.load(environ={})
    ready = next(r for c in cat.checks if c.id == "cloudrun.service" for r in c.rules if r.id == "cloudrun.ready")
    assert ready.depends_on is not None
    connector = ready.depends_on[0]
    assert connector.on == ("vpc.connector.exists", "vpc.state")
    assert connector.checks == ("vpc.connector",)  # its could-not-check explains too
    ops = next(c for c in cat.checks if c.id == "cloudsql.operations")
    assert ops.depends_on[0].checks == ("cloudsql.instance",)


def test_every_rule_has_a_class():
    cat = loader.load(environ={})
    unclassed = [r.id for c in cat.checks for r in c.rules if (r.category or c.category) is None]
    assert unclassed == []


def test_a_list_as_logging_filter_alternatives_and_a_severity_from_the_profile(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "profile.toml").write_text('services = ["a", "b-2"]\nlevel = "warning"\n')
    (folder / "x.toml").write_text(
        '[area]\nid = "x"\ntitle = "X"\nok = "ok"\nfail = "fail"\n'
        '[[check]]\nid = "x.one"\nclass = "infrastructure"\ncommand = "gcloud logging read \'name=({services:or})\' --format=json"\n'
        '[[check.rule]]\nid = "x.rule"\npath = "@"\nop = "empty"\nseverity = "{level}"\nmessage = "m"\n')
    [check] = loader.load(folder, environ={}).checks
    assert check.argv[3] == 'name=("a" OR "b-2")'
    assert check.rules[0].severity.name == "WARNING"
    with pytest.raises(CatalogError, match="severity must be 'critical' or 'warning', not 'info'"):
        loader.load(folder, overrides={"level": "info"}, environ={})


def test_the_journey_is_validated_by_its_engine_not_as_argv_values(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('[[journey]]\nname = "login"\nurl = "https://h/login"\n'
                       'expect = { "has a token" = "length(token) > `0`" }\nwait = "a b"\n')
    cat = loader.load(profile_file=profile, environ={})
    [step] = [c for c in cat.checks if c.id == "journey.step"]
    assert step.resource == "login" and step.argv == ("probe", "journey", "golden-path")
    assert loader.load(environ={}).profile["journey"] == []


def test_every_check_declares_the_shape_of_its_document():
    """Issue #7: a document of another shape is one ERROR, never judged; that needs a shape per check."""
    cat = loader.load(environ={})
    assert sorted({c.id for c in cat.checks if c.shape is None}) == []


def test_a_shape_declares_types_per_field():
    cat = loader.load(environ={})
    connector = next(c for c in cat.checks if c.id == "vpc.connector")
    assert connector.shape is not None and connector.shape.kind == "object"
    assert dict(connector.shape.required) == {"name": ("string",), "state": ("string",)}
    http = next(c for c in cat.checks if c.id == "network.health")
    assert dict(http.shape.required)["status"] == ("number", "null")
