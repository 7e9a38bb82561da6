"""gcloud.py: classification of gcloud's real failure output, and running one argv."""

from __future__ import annotations

import time

import pytest

from infracheck.runner import gcloud
from infracheck.model import ErrorKind
from tests.tools.fakes import FakeGcloud, alive

CRED = "This command is authenticated as sre@example.com which is the active account specified by the [core/account] property."

# Real stderr shapes, as gcloud 528 prints them (measured against a fake API).
CLASSIFY = [
    # (exit code, stderr, expected kind or None, a word the message must carry)
    (0, "", None, ""),
    (1, f"ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [projects/1/secrets/database-url] not found or has no versions. {CRED}\n",
     ErrorKind.NOT_FOUND, "not found"),
    (1, f"ERROR: (gcloud.secrets.versions.access) PERMISSION_DENIED: Permission 'secretmanager.versions.access' denied for resource 'projects/p/secrets/x/versions/latest' (or it may not exist). {CRED}\n",
     ErrorKind.PERMISSION_DENIED, "permission denied"),
    (1, "ERROR: (gcloud.compute.networks.vpc-access.connectors.describe) PERMISSION_DENIED: Serverless VPC Access API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/vpcaccess.googleapis.com/overview?project=123 then retry.\n",
     ErrorKind.API_DISABLED, "disabled"),
    (1, "ERROR: (gcloud.sql.instances.describe) HTTPError 404: The Cloud SQL instance does not exist.\n",
     ErrorKind.NOT_FOUND, "does not exist"),
    (1, "ERROR: (gcloud.sql.instances.describe) There was no instance found at projects/p/instances/db or you are not authorized to access it.\n",
     ErrorKind.NOT_FOUND_OR_DENIED, "not authorized"),
    (1, "ERROR: (gcloud.run.services.describe) Cannot find service [auth-staging]\n", ErrorKind.NOT_FOUND, "Cannot find"),
    (1, "ERROR: (gcloud.secrets.versions.access) RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Access requests'.\n",
     ErrorKind.QUOTA, "retry"),
    (1, "ERROR: (gcloud.sql.instances.describe) HttpError accessing <http://sql.test/sql/v1beta4/projects/p/instances/db?alt=json>: response: <{'status': '500'}>, content <{\"error\": {\"code\": 500}}>\nThis may be due to network connectivity issues.\n",
     ErrorKind.SERVER, "retry"),
    (1, "ERROR: gcloud crashed (ReadTimeout): HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out. (read timeout=3)\n\nIf you would like to report this issue, please run the following command:\n  gcloud feedback\n",
     ErrorKind.TRANSPORT, "connectivity"),
    (1, "ERROR: gcloud crashed (ProxyError): HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded\n", ErrorKind.TRANSPORT, "proxy"),
    (1, "ERROR: (gcloud.sql.instances.describe) You do not currently have an active account selected.\nPlease run:\n\n  $ gcloud auth login\n",
     ErrorKind.NOT_AUTHENTICATED, "gcloud auth login"),
    (1, "ERROR: (gcloud.run.services.list) UNAUTHENTICATED: Request had invalid authentication credentials.\n",
     ErrorKind.NOT_AUTHENTICATED, "gcloud auth login"),
    (2, "ERROR: (gcloud.sql.instances) Invalid choice: 'get-connection-info'.\nUsage: gcloud sql instances [optional flags] <command>\n",
     ErrorKind.USAGE, "get-connection-info"),
    # compute list commands exit 0 on API failure: the warning is the failure.
    (0, "WARNING: Some requests did not succeed.\n - Required 'compute.sslCertificates.list' permission for 'projects/p'\n",
     ErrorKind.PERMISSION_DENIED, "compute.sslCertificates.list"),
    (0, "WARNING: Some requests did not succeed.\n - Permission 'compute.healthChecks.list' denied on resource 'projects/p/aggregated/healthChecks' (or it may not exist).\n",
     ErrorKind.PERMISSION_DENIED, "compute.healthChecks.list"),
    (0, "WARNING: Some requests did not succeed.\n - Compute Engine API has not been used in project 123 before or it is disabled.\n",
     ErrorKind.API_DISABLED, "disabled"),
    (0, "WARNING: Some requests did not succeed.\n - Internal error encountered.\n\n", ErrorKind.SERVER, "retry"),
    (0, "WARNING: Some requests did not succeed.\n - Something odd.\n", ErrorKind.API_ERROR, "Something odd"),
    (1, "ERROR: gcloud crashed (InvalidDataFromServerError): Error decoding response \"{\\\"payload\\\": {\\\"data\\\": \\\"c2VjcmV0\\\"}}\" as type AccessSecretVersionResponse\n",
     ErrorKind.INVALID_JSON, "decode"),
    (1, "ERROR: (gcloud.foo) something nobody has seen\n", ErrorKind.API_ERROR, "something nobody has seen"),
]


@pytest.mark.parametrize("code,stderr,kind,word", CLASSIFY)
def test_classify(code, stderr, kind, word):
    error = gcloud.classify(code, stderr)
    if kind is None:
        assert error is None
        return
    assert error is not None and error.kind is kind
    assert word.lower() in error.message.lower()
    assert "\n" not in error.message


TOKEN_CRED = "This command is authenticated with an access token from the CLOUDSDK_AUTH_ACCESS_TOKEN environment variable."


@pytest.mark.parametrize("code,stderr,kept", [
    (1, f"ERROR: (gcloud.secrets.versions.access) PERMISSION_DENIED: Permission denied on secret x. {CRED}\n",
     "PERMISSION_DENIED: Permission denied on secret x."),
    (1, f"ERROR: (gcloud.sql.instances.describe) HTTPError 403: Not allowed. {TOKEN_CRED}\n", "HTTPError 403: Not allowed."),
    (0, "WARNING: The following filter keys were not present in any resource : name\n"
        "WARNING: Some requests did not succeed.\n - Required 'compute.urlMaps.list' permission for 'projects/p'\n",
     "Required 'compute.urlMaps.list' permission for 'projects/p'"),
])
def test_messages_keep_only_what_the_user_must_act_on(code, stderr, kept):
    error = gcloud.classify(code, stderr)
    assert error is not None and error.message.endswith(kept)
    assert "authenticated" not in error.message and "filter keys" not in error.message
    assert "sre@example.com" not in error.message  # the credential sentence may name an account


def test_decoding_error_never_echoes_the_body():
    error = gcloud.classify(1, CLASSIFY[-2][1])
    assert "c2VjcmV0" not in error.message


def test_list_command_prints_empty_list_and_exit_1_is_a_failure():
    outcome = gcloud.interpret(("gcloud", "secrets", "list"), 1, "[]\n",
                               "ERROR: (gcloud.secrets.list) [None] does not have permission to access projects instance [p] (or it may not exist): denied\n", 0.5)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.PERMISSION_DENIED
    assert outcome.document is None


def test_invalid_json_never_echoes_stdout():
    outcome = gcloud.interpret(("gcloud", "secrets", "versions", "access"), 0, "CANARY-VALUE not json", "", 0.1)
    assert outcome.error.kind is ErrorKind.INVALID_JSON
    assert "CANARY" not in outcome.error.message


@pytest.mark.parametrize("stdout", ["NaN", '{"maxInstances": Infinity}', "[1e999]", "-Infinity"])
def test_python_only_json_is_not_json(stdout):
    """Python's json reads NaN/Infinity (and 1e999 as inf); gcloud never prints them, and a
    report carrying them would not be JSON for jq."""
    outcome = gcloud.interpret(("gcloud", "x"), 0, stdout, "", 0.1)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.INVALID_JSON and outcome.document is None


def test_environment_turns_off_file_logging_and_prompts():
    env = gcloud.environment(60, base={"CLOUDSDK_CORE_PROJECT": "mine", "PATH": "/bin"})
    assert env["CLOUDSDK_CORE_DISABLE_FILE_LOGGING"] == "1"
    assert env["CLOUDSDK_CORE_DISABLE_PROMPTS"] == "1"
    assert env["CLOUDSDK_CORE_PROJECT"] == "mine"  # the user's settings pass through
    assert 0 < int(env["CLOUDSDK_CORE_HTTP_TIMEOUT"]) < 60


@pytest.fixture
def fake(tmp_path):
    gcloud.reset()
    return FakeGcloud(tmp_path)


def test_run_success_parses_json(fake):
    fake.set([{"match": "describe", "stdout": '{"state": "READY"}\n'}])
    outcome = gcloud.run((str(fake.bin / "gcloud"), "x", "describe"), 10, fake.env())
    assert outcome.error is None and outcome.document == {"state": "READY"} and outcome.exit_code == 0


def test_run_usage_error_exit_2(fake):
    fake.set([{"match": "", "stderr": "ERROR: (gcloud.sql.instances) Invalid choice: 'get-connection-info'.\n", "exit": 2}])
    outcome = gcloud.run((str(fake.bin / "gcloud"), "sql"), 10, fake.env())
    assert outcome.error.kind is ErrorKind.USAGE and outcome.exit_code == 2


def test_run_timeout_kills_gcloud_and_its_children(fake):
    fake.set([{"match": "", "sleep": 60, "child": True}])
    started = time.monotonic()
    outcome = gcloud.run((str(fake.bin / "gcloud"), "hang"), 1.5, fake.env())
    assert time.monotonic() - started < 30  # stopped long before the 60 s sleep, however loaded the machine
    assert outcome.error.kind is ErrorKind.TIMEOUT
    assert "timed out after 1.5 s" in outcome.error.message
    time.sleep(0.3)
    assert fake.children() and not any(alive(pid) for pid in fake.children())


def test_missing_executable_is_not_installed(fake):
    outcome = gcloud.run(("/nonexistent/gcloud", "x"), 5, fake.env())
    assert outcome.error.kind is ErrorKind.NOT_INSTALLED


# What gcloud 528 printed, exit 1, when another process held an exclusive lock on the config
# folder's default_configs.db (provoked in tests/contract/test_locked.py).
LOCKED = ("ERROR: gcloud crashed (OperationalError): database is locked\n\n"
          "If you would like to report this issue, please run the following command:\n  gcloud feedback\n\n"
          "To check gcloud for common problems, please run the following command:\n"
          "  gcloud info --run-diagnostics\n")


def test_locked_config_database_is_its_own_kind_with_what_to_do():
    error = gcloud.classify(1, LOCKED)
    assert error is not None and error.kind is ErrorKind.CONFIG_LOCKED
    assert "database is locked" in error.message and "CLOUDSDK_CONFIG" in error.message
    assert "\n" not in error.message


def test_locked_config_database_is_run_again_and_passes(fake):
    fake.set([{"match": "describe", "times": 1, "stderr": LOCKED, "exit": 1},
              {"match": "describe", "stdout": '{"state": "READY"}\n'}])
    outcome = gcloud.run((str(fake.bin / "gcloud"), "x", "describe"), 20, fake.env())
    assert outcome.error is None and outcome.document == {"state": "READY"}
    assert outcome.retries == 1 and len(fake.calls()) == 2


def test_config_database_locked_every_time_is_a_could_not_check_saying_why(fake):
    fake.set([{"match": "describe", "stderr": LOCKED, "exit": 1}])
    started = time.monotonic()
    outcome = gcloud.run((str(fake.bin / "gcloud"), "x", "describe"), 30, fake.env())
    assert time.monotonic() - started < 30
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CONFIG_LOCKED
    assert outcome.retries == gcloud.LOCKED_RETRIES and len(fake.calls()) == gcloud.LOCKED_RETRIES + 1
    assert f"ran {gcloud.LOCKED_RETRIES + 1} times" in outcome.error.message
    assert "its own copy of the config folder" in outcome.error.message


def test_locked_retries_stay_inside_the_timeout(fake):
    fake.set([{"match": "describe", "stderr": LOCKED, "exit": 1, "sleep": 1.5}])
    started = time.monotonic()
    outcome = gcloud.run((str(fake.bin / "gcloud"), "x", "describe"), 3, fake.env())
    assert time.monotonic() - started < 3.5
    assert outcome.error is not None and outcome.error.kind in (ErrorKind.CONFIG_LOCKED, ErrorKind.TIMEOUT)
    assert len(fake.calls()) <= 2
    if outcome.error.kind is ErrorKind.CONFIG_LOCKED:
        assert "timeout left no room" in outcome.error.message


def test_a_change_is_not_run_again(fake):
    fake.set([{"match": "update", "stderr": LOCKED, "exit": 1}])
    outcome = gcloud.run((str(fake.bin / "gcloud"), "x", "update"), 20, fake.env(), expect_json=False)
    assert outcome.error is not None and outcome.error.kind is ErrorKind.CONFIG_LOCKED
    assert outcome.retries == 0 and len(fake.calls()) == 1
