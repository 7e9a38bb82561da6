"""rules.py: operators, JMESPath functions, and how a check's outcome becomes findings."""

from __future__ import annotations

import datetime as dt

import pytest

from infracheck.rules.dialect import search
from infracheck.timeutil import duration
from infracheck.rules.evaluate import evaluate
from infracheck.rules.shapes import shape_problem
from infracheck.model import Category, Check, CommandError, ErrorKind, Missing, Outcome, Rule, Severity, Shape, Status

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("op,actual,value,ok", [
    ("eq", "READY", "READY", True),
    ("eq", "CREATING", "READY", False),
    ("ne", "0-0", "0-0", False),
    ("in", "all", ["all-traffic", "all"], True),
    ("in", None, ["all-traffic"], False),
    ("not-in", "x", ["y"], True),
    ("gte", "2", 2, True),            # int64 fields and annotations are strings
    ("gte", 1, 2, False),
    ("gte", None, 2, False),          # missing number fails, never crashes
    ("gte", "abc", 2, None),          # a string that is no number: not judged (ERROR)
    ("gt", 1, 0, True),
    ("lt", 503, 400, False),
    ("lte", 9000, 10000, True),
    ("regex", "sk-abc", "^sk-", True),
    ("regex", None, "^sk-", False),
    ("contains", ["a", "b"], "a", True),
    ("present", "", None, True),
    ("present", None, None, False),
    ("absent", None, None, True),
    ("empty", [], None, True),
    ("empty", ["x"], None, False),
    ("not-empty", ["1.2.3.4"], None, True),
    ("true", True, None, True),
    ("true", "True", None, True),
    ("true", False, None, False),
    ("version-gte", "POSTGRES_15", "POSTGRES_14", True),
    ("version-gte", "POSTGRES_9_6", "POSTGRES_14", False),   # not a string comparison
    ("version-gte", "POSTGRES_14", "POSTGRES_14", True),
    ("version-gte", "MYSQL_8_0", "POSTGRES_14", False),
    ("version-gte", "garbage", "POSTGRES_14", None),
    ("cidr-eq", "10.1.0.0/28", "10.1.0.0/28", True),
    ("cidr-eq", "10.1.0.1/28", "10.1.0.0/28", True),
    ("cidr-eq", "10.8.0.0/28", "10.1.0.0/28", False),
    ("days-ahead-gte", "2027-02-14T09:12:33.000-08:00", 30, True),
    ("days-ahead-gte", "2026-12-10T00:00:00Z", 30, False),
    ("days-ahead-gte", "2026-11-01T00:00:00Z", 30, False),   # already expired
])
def test_operators(op, actual, value, ok):
    check = _check(Rule("t.r", "v", op, value, Severity.CRITICAL, "failed: {actual}"))
    finding = evaluate(check, Outcome(check.argv, 0, 0.0, document={"v": actual}), now=NOW)[0]
    assert finding.status is {True: Status.PASS, False: Status.FAIL, None: Status.ERROR}[ok]


def test_dates_are_judged_as_of_the_now_passed_in():
    check = _check(Rule("t.r", "v", "days-ahead-gte", 30, Severity.CRITICAL, "expires {actual}"))
    outcome = Outcome(check.argv, 0, 0.0, document={"v": "2026-12-10T00:00:00Z"})
    assert evaluate(check, outcome, now=NOW)[0].status is Status.FAIL
    assert evaluate(check, outcome, now=NOW - dt.timedelta(days=60))[0].status is Status.PASS


@pytest.mark.parametrize("expression,document,expected", [
    ("b64decode(d)", {"d": "c2stYWJj"}, "sk-abc"),
    ("b64decode(d)", {}, None),
    ("basename(c)", {"c": "projects/p/locations/r/connectors/staging-connector"}, "staging-connector"),
    ("basename(c)", {"c": "staging-connector"}, "staging-connector"),
    ("basename(c)", {}, None),
    ("difference(a, b)", {"a": ["x", "y"], "b": ["y"]}, ["x"]),
    ("difference(a, b)", {"b": ["y"]}, []),
    ("from_json(s)", {"s": '["https://a"]'}, ["https://a"]),
    ("from_json(s)", {"s": "not json"}, None),
    ("product([a, b])", {"a": 5, "b": 30}, 150),
    ("split(s, ',')", {"s": "a,b"}, ["a", "b"]),
    ("split(s, ',')", {}, []),
    ("covers(n, 'api.example.com')", {"n": ["api.example.com"]}, True),
    ("covers(n, 'api.example.com')", {"n": ["*.example.com"]}, True),
    ("covers(n, 'example.com')", {"n": ["*.example.com"]}, False),
    ("covers(n, 'a.b.example.com')", {"n": ["*.example.com"]}, False),
    ("covers(n, 'API.example.com')", {"n": ["other.example.com"]}, False),
    ("covers(n, 'x.com')", {}, False),
    ("host(u)", {"u": "wss://api.example.com/ws"}, "api.example.com"),
    ("host(u)", {"u": "https://API.example.com:8443/health"}, "api.example.com"),
    ("host(u)", {}, None),
    ("capture(m, 'secrets/([^/]+)/')", {"m": "Secret projects/1/secrets/db-url/versions/7 was not found"}, "db-url"),
    ("capture(m, 'secrets/([^/]+)/')", {"m": "Revision failed to start"}, None),
    ("capture(m, 'secrets/')", {"m": "secrets/x/"}, None),        # no group: nothing captured
    ("capture(m, 'x(y)')", {}, None),
    # where_in: a join across two lists, which a filter cannot do (it cannot reach the root)
    ("where_in(p, 'selfLink', f[].target)[].name", {"p": [{"name": "a", "selfLink": "L/a"}, {"name": "b", "selfLink": "L/b"}],
                                                    "f": [{"target": "L/b"}, {"target": "L/c"}]}, ["b"]),
    ("where_in(p, 'selfLink', f)", {"p": [{"selfLink": "L/a"}], "f": None}, []),
    ("where_in(p, 'selfLink', f)", {"p": None, "f": ["L/a"]}, []),
    ("where_in(p, 'selfLink', f)", {"p": ["L/a", {"selfLink": "L/a"}], "f": ["L/a"]}, [{"selfLink": "L/a"}]),
])
def test_functions(expression, document, expected):
    assert search(expression, document) == expected


def _check(*rule_list: Rule, **kw) -> Check:
    return Check(id="t.check", area="t", title="Thing", argv=("gcloud", "x", "--project=p"),
                 rules=tuple(rule_list), resource="thing", **kw)


RULE = Rule("t.state", "state", "eq", "READY", Severity.CRITICAL, "state is '{actual}', expected '{value}'",
            remedy="fix it", title="state {actual}")


def test_fail_message_carries_actual_and_value():
    [f] = evaluate(_check(RULE), Outcome(("gcloud",), 0, 0.0, document={"state": "CREATING"}))
    assert (f.status, f.severity, f.message, f.actual, f.remedy) == (
        Status.FAIL, Severity.CRITICAL, "state is 'CREATING', expected 'READY'", "CREATING", "fix it")


def test_pass_uses_the_title():
    [f] = evaluate(_check(RULE), Outcome(("gcloud",), 0, 0.0, document={"state": "READY"}))
    assert (f.status, f.message, f.remedy) == (Status.PASS, "state READY", "")


def test_missing_resource_is_a_finding_not_an_error():
    check = _check(RULE, missing=Missing(Severity.CRITICAL, "Thing 'x' is missing"))
    outcome = Outcome(check.argv, 1, 0.0, error=CommandError(ErrorKind.NOT_FOUND, "not found"))
    [f] = evaluate(check, outcome)
    assert (f.status, f.severity, f.message, f.rule) == (Status.FAIL, Severity.CRITICAL, "Thing 'x' is missing", "t.check.exists")


def test_permission_denied_is_an_error_with_the_role_to_grant():
    check = _check(RULE, role="roles/secretmanager.secretAccessor")
    outcome = Outcome(check.argv, 1, 0.0, error=CommandError(ErrorKind.PERMISSION_DENIED, "permission denied: nope"))
    [f] = evaluate(check, outcome)
    assert f.status is Status.ERROR and f.severity is None
    assert "roles/secretmanager.secretAccessor" in f.remedy and "--project=p" not in f.remedy and " p " in f.remedy


def test_api_disabled_says_how_to_enable():
    check = _check(RULE, api="sqladmin.googleapis.com")
    outcome = Outcome(check.argv, 1, 0.0, error=CommandError(ErrorKind.API_DISABLED, "the API is disabled"))
    [f] = evaluate(check, outcome)
    assert f.remedy == "gcloud services enable sqladmin.googleapis.com --project=p"


def test_sensitive_check_never_carries_the_value():
    secret = Rule("t.len", "v", "regex", "^sk-", Severity.CRITICAL, "does not match sk-")
    [f] = evaluate(_check(secret, sensitive=True), Outcome(("gcloud",), 0, 0.0, document={"v": "CANARY-123"}))
    assert f.status is Status.FAIL and f.actual is None and "CANARY" not in repr(f)


def test_when_limits_a_rule_to_matching_items():
    only_pg = Rule("t.pg", "v", "present", None, Severity.CRITICAL, "x", when="format == 'pg'")
    check = _check(only_pg, item={"name": "redis-url", "format": "redis"})
    assert evaluate(check, Outcome(("gcloud",), 0, 0.0, document={"v": 1})) == []


def test_if_absent_pass_skips_unset_values():
    r = Rule("t.max", "flag", "gte", 100, Severity.WARNING, "low", if_absent="pass")
    [f] = evaluate(_check(r), Outcome(("gcloud",), 0, 0.0, document={}))
    assert f.status is Status.PASS


def test_select_picks_the_item_from_a_list_and_missing_when_absent():
    check = _check(RULE, select="[?name=='b'] | [0]", missing=Missing(Severity.CRITICAL, "b is missing"))
    listing = [{"name": "a", "state": "READY"}, {"name": "b", "state": "FAILED"}]
    [f] = evaluate(check, Outcome(("gcloud",), 0, 0.0, document=listing))
    assert f.actual == "FAILED"
    [f] = evaluate(check, Outcome(("gcloud",), 0, 0.0, document=listing[:1]))
    assert f.message == "b is missing"


def test_extras_are_visible_beside_the_resource():
    r = Rule("t.refs", "difference(resource.refs, other[].name)", "empty", None, Severity.CRITICAL, "missing {actual}")
    extra_argv = ("gcloud", "secrets", "list")
    check = _check(r, extras=(("other", extra_argv),))
    extras = {extra_argv: Outcome(extra_argv, 0, 0.0, document=[{"name": "a"}])}
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document={"refs": ["a", "b"]}), extras=extras)
    assert (f.status, f.message) == (Status.FAIL, "missing b")


def test_with_select_sees_the_extras_and_rules_see_the_selection_beside_them():
    # The selection follows a reference into another source; missing fires when it finds nothing.
    r = Rule("t.state", "resource.state", "eq", "READY", Severity.CRITICAL, "state {actual}")
    extra_argv = ("gcloud", "proxies", "list")
    check = _check(r, extras=(("proxies", extra_argv),), missing=Missing(Severity.CRITICAL, "none attached"),
                   select="where_in(resource, 'selfLink', proxies[].cert) | [0]")
    listing = [{"selfLink": "c/1", "state": "FAILED"}, {"selfLink": "c/2", "state": "READY"}]
    attached = {extra_argv: Outcome(extra_argv, 0, 0.0, document=[{"cert": "c/2"}])}
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document=listing), extras=attached)
    assert (f.status, f.actual) == (Status.PASS, "READY")
    nothing = {extra_argv: Outcome(extra_argv, 0, 0.0, document=[])}
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document=listing), extras=nothing)
    assert (f.rule, f.status, f.message) == ("t.check.exists", Status.FAIL, "none attached")


def test_not_judged_is_a_shown_skip_instead_of_missing():
    from infracheck.model import NotJudged
    extra_argv = ("gcloud", "proxies", "list")
    check = _check(RULE, extras=(("proxies", extra_argv),), missing=Missing(Severity.CRITICAL, "none attached"),
                   select="where_in(resource, 'selfLink', proxies[].cert) | [0]",
                   not_judged=NotJudged("!resource && proxies[0].map", "served from {actual}: not judged", "see {actual}"))
    served_by_map = {extra_argv: Outcome(extra_argv, 0, 0.0, document=[{"map": "//cm/maps/m"}])}
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document=[]), extras=served_by_map)
    assert (f.rule, f.status, f.severity) == ("t.check.not-judged", Status.SKIP, None)
    assert (f.message, f.remedy) == ("served from //cm/maps/m: not judged", "see //cm/maps/m")
    plain = {extra_argv: Outcome(extra_argv, 0, 0.0, document=[{"cert": "c/9"}])}
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document=[]), extras=plain)
    assert f.message == "none attached"


def test_type_error_inside_an_expression_is_an_error_not_a_crash():
    r = Rule("t.len", "length(v)", "gt", 0, Severity.CRITICAL, "x")
    [f] = evaluate(_check(r), Outcome(("gcloud",), 0, 0.0, document={"v": 5}))
    assert f.status is Status.ERROR


# --- the dependency chain: which resources a finding depends on, from its own data -----------------

_CONNECTOR = "run.googleapis.com/vpc-access-connector"
_SECRET_GONE = ("Revision 'b-00043-zib' is not ready and cannot serve traffic. spec.template.spec.containers[0]"
                ".env[4].value_from.secret_key_ref.name: Secret projects/123/secrets/database-url/versions/latest "
                "was not found")


def _service(name, connector=None, ready="False", message=None):
    annotations = {_CONNECTOR: connector} if connector else {}
    condition = {"type": "Ready", "status": ready, **({"reason": "RevisionFailed", "message": message} if message else {})}
    return {"metadata": {"name": name}, "spec": {"template": {"metadata": {"annotations": annotations}}},
            "status": {"conditions": [condition], "latestCreatedRevisionName": "b-2", "latestReadyRevisionName": "b-1"}}


@pytest.fixture(scope="module")
def default_checks():
    from infracheck.catalog import loader
    return loader.load(environ={}, overrides={"url_map": "staging-https-lb"}).checks  # the documents name it


@pytest.mark.parametrize("check_id,resource,rule_id,document,expected", [
    # only a service whose annotation names the connector depends on it, however the path is spelled
    ("cloudrun.service", "netra-backend-staging", "cloudrun.ready",
     [_service("netra-backend-staging", "projects/p/locations/r/connectors/staging-connector")],
     {("vpc.connector.exists", "staging-connector"), ("vpc.state", "staging-connector")}),
    ("cloudrun.service", "netra-backend-staging", "cloudrun.ready", [_service("netra-backend-staging")], set()),
    # GCP's message names the secret the revision failed on
    ("cloudrun.service", "auth-staging", "cloudrun.latest-revision", [_service("auth-staging", message=_SECRET_GONE)],
     {("secrets.secret.exists", "database-url"), ("cloudrun.secrets-exist", "auth-staging")}),
    # a configured value depends on nothing
    ("cloudrun.service", "auth-staging", "cloudrun.vpc-egress", [_service("auth-staging", "staging-connector")], set()),
    # URLs depend on their own domain's DNS and certificate
    ("network.websocket", "wss://api-staging.netrasystems.ai/ws", "network.ws-upgrade",
     {"kind": "ws", "upgraded": False, "status": None, "error": "name does not resolve"},  # probes._blank's keys
     {(r, "api-staging.netrasystems.ai") for r in
      ("network.dns-resolves", "network.tls-valid", "loadbalancer.certificate.exists", "loadbalancer.cert-active", "loadbalancer.cert-expired")}),
    ("network.tls", "staging.netrasystems.ai", "network.tls-valid", {"valid": False, "error": "name does not resolve"},
     {(r, "staging.netrasystems.ai") for r in
      ("network.dns-resolves", "loadbalancer.certificate.exists", "loadbalancer.cert-active", "loadbalancer.cert-expired")}),
])
def test_a_failing_finding_names_what_it_depends_on(default_checks, check_id, resource, rule_id, document, expected):
    check = next(c for c in default_checks if c.id == check_id and c.resource == resource)
    extras = {argv: Outcome(argv, 0, 0.0, document=[]) for _, argv in check.extras}
    findings = evaluate(check, Outcome(check.argv, 0, 0.0, document=document), extras=extras)
    [f] = [f for f in findings if f.rule == rule_id]
    assert f.status is Status.FAIL
    assert {(on, n.resource) for n in f.needs for on in n.on} == expected


def test_missing_and_unchecked_carry_class_and_needs(default_checks):
    ops = next(c for c in default_checks if c.id == "cloudsql.operations")
    [f] = evaluate(ops, Outcome(ops.argv, 1, 0.0, error=CommandError(ErrorKind.NOT_FOUND, "gone")))
    assert f.status is Status.ERROR and f.category is None
    assert [(n.on, n.resource, n.checks) for n in f.needs] == [(("cloudsql.instance.exists",), "netra-staging-db", ("cloudsql.instance",))]
    sql = next(c for c in default_checks if c.id == "cloudsql.instance")
    [f] = evaluate(sql, Outcome(sql.argv, 1, 0.0, error=CommandError(ErrorKind.NOT_FOUND, "gone")))
    assert (f.rule, f.category) == ("cloudsql.instance.exists", Category.INFRASTRUCTURE)


def test_a_pass_needs_nothing(default_checks):
    check = next(c for c in default_checks if c.id == "cloudrun.service")
    [ready] = [f for f in evaluate(check, Outcome(check.argv, 0, 0.0, document=[
        _service(check.resource, "staging-connector", ready="True")])) if f.rule == "cloudrun.ready"]
    assert ready.status is Status.PASS and ready.needs == ()


# --- what GCP says: the finding's detail, and time where GCP gives it ---------------------------------

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("seconds,text", [
    (0, "0 min"), (12 * 60 + 59, "12 min"), (3600, "1 h"), (6600, "1 h 50 min"), (86400 * 3 + 4 * 3600, "3 d 4 h"),
    (86400 * 2, "2 d"), (-305 * 60, "5 h 5 min in the future"),
])
def test_duration_reads_as_a_person_would(seconds, text):
    assert duration(dt.timedelta(seconds=seconds)) == text


def test_since_and_age_are_judged_as_of_the_runs_clock():
    r = Rule("t.age", "join(' / ', [since(t), to_string(age_minutes(t))])", "eq", "x", Severity.WARNING, "{actual}")
    check = _check(r)
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document={"t": "2026-11-26T22:10:00.000Z"}), now=NOW)
    assert f.actual == "1 h 50 min / 110.0"
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document={"t": "2026-11-26T14:10:00-08:00"}), now=NOW)
    assert f.actual == "1 h 50 min / 110.0"         # offsets as gcloud prints compute times


# What every instance document has (the check's shape requires it).
_SQL = {"name": "db", "databaseVersion": "POSTGRES_15", "settings": {}}
_OPS = [
    {"name": "op-1", "operationType": "MAINTENANCE", "status": "RUNNING", "startTime": "2026-11-26T22:10:00.000Z",
     "insertTime": "2026-11-26T22:10:00.000Z"},
    {"name": "op-2", "operationType": "MAJOR_VERSION_UPGRADE", "status": "DONE", "startTime": "2026-11-26T16:30:00.000Z",
     "error": {"errors": [{"code": "INTERNAL_ERROR", "message": "Major version upgrade failed."}]}},
]


# The load balancer chain's `with` sources: one served proxy of the profile's URL map presenting certificate c.
_LB = "https://www.googleapis.com/compute/v1/projects/netra-staging/global/"
_LB_SOURCES = {
    "proxies": [{"name": "p", "selfLink": _LB + "targetHttpsProxies/p", "urlMap": _LB + "urlMaps/staging-https-lb",
                 "sslCertificates": [_LB + "sslCertificates/c"]}],
    "forwarding_rules": [{"name": "fr", "target": _LB + "targetHttpsProxies/p"}],
}


@pytest.mark.parametrize("check_id,resource,rule_id,document,context,detail", [
    ("cloudrun.service", "netra-backend-staging", "cloudrun.ready",
     [_service("netra-backend-staging", message=_SECRET_GONE)], None, "RevisionFailed: " + _SECRET_GONE),
    ("cloudrun.service", "netra-backend-staging", "cloudrun.ready",      # Ready without a message: nothing stated
     [_service("netra-backend-staging")], None, ""),
    ("cloudsql.instance", None, "cloudsql.state", _SQL | {"state": "MAINTENANCE"}, _OPS,
     "MAINTENANCE operation running since 2026-11-26T22:10:00.000Z (1 h 50 min)"),
    ("cloudsql.instance", None, "cloudsql.state", _SQL | {"state": "MAINTENANCE"}, _OPS[1:], ""),
    ("cloudsql.instance", None, "cloudsql.state", _SQL | {"state": "MAINTENANCE"}, "error", ""),
    ("cloudsql.operations", None, "cloudsql.failed-operations", _OPS, None,
     "MAJOR_VERSION_UPGRADE started 2026-11-26T16:30:00.000Z: Major version upgrade failed."),
    ("loadbalancer.certificate", "staging.netrasystems.ai", "loadbalancer.cert-active",
     [{"name": "c", "selfLink": _LB + "sslCertificates/c", "type": "MANAGED", "creationTimestamp": "2026-11-26T13:00:00.000-08:00",
       "managed": {"domains": ["staging.netrasystems.ai"], "status": "PROVISIONING",
                   "domainStatus": {"staging.netrasystems.ai": "PROVISIONING"}}}], None,
     "created 2026-11-26T13:00:00.000-08:00, 3 h ago"),
])
def test_a_failing_finding_carries_what_gcp_says(default_checks, check_id, resource, rule_id, document, context, detail):
    check = next(c for c in default_checks if c.id == check_id and (resource is None or c.resource == resource))
    outcomes = {}
    for _, argv in check.context:
        outcomes[argv] = (Outcome(argv, 1, 0.0, error=CommandError(ErrorKind.PERMISSION_DENIED, "denied"))
                          if context == "error" else Outcome(argv, 0, 0.0, document=context))
    for name, argv in check.extras:
        outcomes[argv] = Outcome(argv, 0, 0.0, document=_LB_SOURCES[name])
    findings = evaluate(check, Outcome(check.argv, 0, 0.0, document=document), extras=outcomes, now=NOW)
    [f] = [f for f in findings if f.rule == rule_id]
    assert f.status is Status.FAIL       # a context source that failed costs the check nothing
    assert f.detail == detail


def test_a_pass_has_no_detail(default_checks):
    check = next(c for c in default_checks if c.id == "cloudsql.instance")
    outcomes = {argv: Outcome(argv, 0, 0.0, document=_OPS) for _, argv in check.context}
    findings = evaluate(check, Outcome(check.argv, 0, 0.0, document=_SQL | {"state": "RUNNABLE"}), extras=outcomes, now=NOW)
    assert [f.detail for f in findings if f.rule == "cloudsql.state"] == [""]


# --- documents and values of the wrong type (issue #7 section 2) -----------------------------------

def _one(rule: Rule, document, **kw):
    [f] = evaluate(_check(rule, **kw), Outcome(("gcloud",), 0, 0.0, document=document), now=NOW)
    return f


@pytest.mark.parametrize("path,document,words", [
    # jmespath raises a bare TypeError on 5 > "5"
    ("[?timeout > interval].name", [{"name": "hc", "timeout": 5, "interval": "5"}],
     "`interval` in 'hc' is a string (\"5\"), expected a number"),
    # ...and silently drops the item (a PASS) on 5 > true
    ("[?timeout > interval].name", [{"timeout": 5, "interval": True}],
     "`interval` in item 1 is a boolean (true), expected a number"),
    ("[?(t || `5`) > (i || `5`)].name", [{"name": "x", "t": [1], "i": 5}], "`t` in 'x' is a list ([1]), expected a number"),
    ("sort_by(@, &created)", [{"created": "2025"}, {"created": 5}], "`created` is a number (5), expected a string"),
    ("sort_by(certs, &created)", {"certs": {"a": 1}}, "`certs` is an object"),
    ("length(spec.items)", {"spec": {"items": 5}}, "`spec.items` is a number (5), expected a string or a list or an object"),
    ("to_number(annotations.scale || '0')", {"annotations": {"scale": "abc"}}, "`annotations.scale` is a string (\"abc\"), expected a number"),
    ("to_number(scale)", {"scale": "nan"}, "`scale` is a string (\"nan\"), expected a number"),
    ("product([a, b])", {"a": 3, "b": "10"}, "`b` is a string (\"10\"), expected a number"),
])
def test_a_wrong_type_inside_an_expression_is_an_error_naming_the_field(path, document, words):
    f = _one(Rule("t.r", path, "empty", None, Severity.CRITICAL, "x"), document)
    assert f.status is Status.ERROR, f
    assert words in f.message and "cannot judge t.r" in f.message


@pytest.mark.parametrize("op,value,actual,words", [
    ("gte", 2, True, "`v` is a boolean (true), expected a number"),
    ("gte", 2, "Infinity", "expected a number"),
    ("lte", 2, {"n": 1}, "`v` is an object ({\"n\": 1}), expected a number"),
    ("days-ahead-gte", 30, "not-a-date", "`v` is a string (\"not-a-date\"), expected an RFC 3339 time"),
    ("days-ahead-gte", 30, 1735689600, "`v` is a number (1735689600), expected an RFC 3339 time"),
    ("cidr-eq", "10.1.0.0/28", 5, "`v` is a number (5), expected a CIDR range"),
    ("regex", "^a", ["a"], "`v` is a list ([\"a\"]), expected a string"),
    ("contains", "a", 5, "`v` is a number (5), expected a string or a list"),
])
def test_an_operator_given_a_wrong_type_is_an_error_not_a_judgement(op, value, actual, words):
    f = _one(Rule("t.r", "v", op, value, Severity.CRITICAL, "x"), {"v": actual})
    assert f.status is Status.ERROR and words in f.message, f


def test_a_boolean_never_equals_a_number():
    assert _one(Rule("t.r", "v", "eq", 1, Severity.CRITICAL, "x"), {"v": True}).status is Status.FAIL
    assert _one(Rule("t.r", "v", "in", [0, 200], Severity.CRITICAL, "x"), {"v": False}).status is Status.FAIL


def test_absent_values_keep_their_meaning():
    # absent and if_absent = "fail": a judgement (FAIL), as before; "pass": PASS
    assert _one(Rule("t.r", "v", "gte", 2, Severity.CRITICAL, "x"), {}).status is Status.FAIL
    assert _one(Rule("t.r", "v", "days-ahead-gte", 30, Severity.CRITICAL, "x", if_absent="pass"), {}).status is Status.PASS


def test_a_sensitive_check_names_the_type_but_never_the_value():
    f = _one(Rule("t.r", "b64decode(payload.data)", "regex", "^x", Severity.CRITICAL, "x"),
             {"payload": {"data": ["CANARY-4242"]}}, sensitive=True)
    assert f.status is Status.ERROR and "`payload.data` is a list" in f.message
    assert "CANARY" not in repr(f)


SHAPE = Shape("object", (("name", ("string",)), ("state", ("string",)), ("spec.size", ("number", "null"))))
LIST = Shape("list", (("name", ("string",)),))


@pytest.mark.parametrize("shape,document,problem", [
    (SHAPE, {"name": "c", "state": "READY", "spec": {"size": 1}}, None),
    (SHAPE, {"name": "c", "state": "READY", "spec": {"size": None}, "extra": 1}, None),
    (SHAPE, [], "expected an object with `name`, `state`, `spec.size`, got a list"),
    (SHAPE, {"name": "c", "spec": {"size": 1}}, "expected an object with `name`, `state`, `spec.size`; `state` is missing"),
    (SHAPE, {"name": "c", "state": "READY", "spec": 5}, "`spec.size` is missing"),
    (SHAPE, {"name": "c", "state": 1, "spec": {"size": 1}}, "`state` is a number, expected a string"),
    (SHAPE, {"name": "c", "state": "x", "spec": {"size": "1"}}, "`spec.size` is a string, expected a number or null"),
    (LIST, [], None),
    (LIST, [{"name": "a"}, {"name": "b", "x": 1}], None),
    (LIST, {"items": []}, "expected a list of objects with `name`, got an object"),
    (LIST, [{"name": "a"}, "b"], "expected a list of objects with `name`, got a list holding a string (item 2)"),
    (LIST, [{"name": "a"}, {"id": "b"}], "expected a list of objects with `name`: `name` is missing in item 2"),
    (LIST, [{"name": 7}], "`name` in item 1 is a number, expected a string"),
    (Shape("list"), "x", "expected a list, got a string"),
])
def test_shape_problem(shape, document, problem):
    found = shape_problem(shape, document)
    assert found == problem if problem is None else problem in found


def test_a_document_of_another_shape_is_one_error_and_no_rule_is_judged():
    check = _check(RULE, Rule("t.other", "name", "present", None, Severity.CRITICAL, "x"), shape=SHAPE)
    findings = evaluate(check, Outcome(check.argv, 0, 0.0, document=[{"state": "READY"}]))
    assert [(f.rule, f.status) for f in findings] == [("t.check", Status.ERROR)]
    assert findings[0].message == (
        "Thing: unexpected document from `gcloud x`: expected an object with `name`, `state`, `spec.size`, got a list")


def test_a_select_that_fails_on_the_document_is_one_error():
    check = _check(RULE, select="sort_by(@, &name) | [0]")
    [f] = evaluate(check, Outcome(check.argv, 0, 0.0, document={"name": "x"}))
    assert f.status is Status.ERROR and "cannot select" in f.message and "expected a list" in f.message


# --- found by review and by tests/test_fuzz.py ------------------------------------------------------

@pytest.mark.parametrize("op,value,actual", [
    ("version-gte", "POSTGRES_14", "POSTGRES_١٥"),   # int() reads Arabic-Indic digits
    ("gte", 2, "١٢"),
    ("gte", 2, "1_000"),                             # int() reads underscores
])
def test_only_ascii_digits_make_a_number(op, value, actual):
    assert _one(Rule("t.r", "v", op, value, Severity.CRITICAL, "x"), {"v": actual}).status is Status.ERROR


def test_control_characters_from_a_document_never_reach_the_terminal():
    f = _one(Rule("t.r", "v", "eq", "READY", Severity.CRITICAL, "state is '{actual}'"), {"v": "\x1b[2Jgone\u202e\ud800"})
    assert f.status is Status.FAIL
    assert f.message == "state is '\\u001b[2Jgone\\u202e\\ud800'"
    f.message.encode("utf-8")  # a UTF-8 stdout takes it


def test_a_product_too_large_to_print_is_still_a_finding():
    r = Rule("t.r", "product([a, b])", "gte", 1, Severity.CRITICAL, "x", title="{actual}")
    f = _one(r, {"a": 10**4200, "b": 10**4200})
    assert f.status is Status.PASS and f.message == "a number of about 8400 digits" and f.actual == f.message


def test_a_share_of_a_number_past_a_floats_range_is_a_finding_not_an_internal_error():
    # percent() divides as floats: an integer of 400 digits (a fuzzed maxThroughput) cannot be one.
    r = Rule("t.r", "percent(a, b)", "lte", 50, Severity.CRITICAL, "x")
    f = _one(r, {"a": 10**400, "b": 3})
    assert f.status is Status.ERROR and "internal error" not in f.message, f.message
    assert "float's range" in f.message, f.message
