"""docs/fleet.md's Cloud Run Jobs recipe, run as written through the real gcloud against the fake API.

The page's shell block (the one that deploys the job) is taken as it stands, its project replaced
by the fake's, and run by `sh`, so each gcloud gets the very words a reader pastes. The fake
accepts the creations and grants (tests/tools/fakeapi.py, fix mode) and logs each body; the test
reads the bodies back and asserts what the page says the commands do: the job shards by its task
count, its tasks write into the bucket its account may write, and the scheduler runs that very job
through the Run Admin API with an account allowed to run it.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import ROOT, environment
from tests.tools import gcloud_schema
from tests.tools.fakeapi import PROJECT_NUMBER, Change, FakeGoogleAPI

pytestmark = pytest.mark.contract

PAGE = ROOT / "docs" / "fleet.md"
RECIPE_PROJECT = "ops-tools"  # the page's project; the fake serves netra-staging's
PROJECT = "netra-staging"
# What `run jobs deploy` asks first: whether the project has the Run API enabled (Service Usage's answer).
RUN_API = {"name": f"projects/{PROJECT_NUMBER}/services/run.googleapis.com", "parent": f"projects/{PROJECT_NUMBER}",
           "config": {"name": "run.googleapis.com", "title": "Cloud Run Admin API"}, "state": "ENABLED"}


def recipe(words: str = "gcloud run jobs deploy") -> str:
    """The page's shell block holding those words, with the fake's project in place of the page's."""
    blocks: list[str] = re.findall(r"^```sh\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    [block] = [b for b in blocks if words in b]
    return block.replace(RECIPE_PROJECT, PROJECT)


def command(block: str, start: str) -> str:
    """The one command of the block that starts so, its continuation lines joined."""
    [line] = [line for line in block.replace("\\\n", " ").splitlines() if line.startswith(start)]
    return line


def flag(command: str, name: str) -> str:
    """A flag's value in one of the recipe's commands; a lost flag fails the test, naming it."""
    found = re.search(rf"(?:^|\s){name}(?:=|\s+)(\"[^\"]*\"|\S+)", command)
    assert found, f"the recipe's command lost {name}: {command}"
    return found.group(1).strip('"')


def seconds(duration: str) -> int:
    """A gcloud duration (15m, 1h, 900s) in seconds, as the API's timeoutSeconds counts."""
    found = re.fullmatch(r"(\d+)([smh])", duration)
    assert found, f"not a duration the test knows: {duration}"
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]


def served(api: FakeGoogleAPI, route: str, method: str = "GET") -> Any:
    """What the fake answers a request of a route, sent as gcloud sends it (through the proxy)."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        connection.request(method, f"http://{route}?alt=json", body=b"{}" if method == "POST" else None)
        answer = connection.getresponse()
        assert answer.status == 200, (method, route, answer.status)
        return json.loads(answer.read())
    finally:
        connection.close()


def sh(script: str, env: dict[str, str]) -> str:
    """Run page text with sh as a reader would; its stdout."""
    done = subprocess.run(["sh", "-e", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def one(changes: list[Change], method: str, pattern: str) -> Change:
    """The one change of that method whose route matches; every change the recipe made was accepted."""
    [change] = [c for c in changes if c.method == method and re.fullmatch(pattern, c.route)]
    assert change.status == 200, change
    return change


def test_the_recipe_deploys_a_sharded_job_and_schedules_that_job(api: FakeGoogleAPI, gcloud_config: Path) -> None:
    block = recipe()
    deploy = command(block, "gcloud run jobs deploy ")
    api.allow_fixes()
    api.set_body(f"serviceusage.test/v1/projects/{PROJECT}/services/run.googleapis.com", RUN_API)
    env = environment(api, gcloud_config)
    sh(block, env)
    changes = api.changes
    # Nothing but the fake's hosts was asked (any other, e.g. a registry's, would be logged too): no build, no pull.
    assert not [r.host for r in api.requests if not r.host.endswith(".test")]
    assert len(changes) == 5 and {c.status for c in changes} == {200}, changes
    polled = {r.route for r in api.requests if r.method == "GET" and r.status == 200}
    name, region, account = deploy.split()[4], flag(deploy, "--region"), flag(deploy, "--service-account")

    # The bucket the tasks write into, and the grant that lets the job's account write there.
    bucket = one(changes, "POST", r"storage\.test/storage/v1/b")
    assert f"project={PROJECT}" in bucket.query and bucket.body["location"] == region
    bucket_iam = one(changes, "PUT", rf"storage\.test/storage/v1/b/{bucket.body['name']}/iam")
    assert {"role": "roles/storage.objectUser", "members": [f"serviceAccount:{account}"]} in bucket_iam.body["bindings"]

    # The job: Run Admin v1 on the regional host (what gcloud 528 speaks), N tasks: the shards.
    job = one(changes, "POST", rf"{region}-run\.test/apis/run\.googleapis\.com/v1/namespaces/{PROJECT}/jobs")
    assert job.body["metadata"]["name"] == name
    execution = job.body["spec"]["template"]["spec"]
    tasks, parallelism = int(flag(deploy, "--tasks")), int(flag(deploy, "--parallelism"))
    assert tasks > 1 and (execution.get("taskCount"), execution.get("parallelism")) == (tasks, parallelism)
    task = execution["template"]["spec"]
    assert task["maxRetries"] == int(flag(deploy, "--max-retries"))
    assert task["timeoutSeconds"] == str(seconds(flag(deploy, "--task-timeout")))
    assert task["serviceAccountName"] == account
    [container] = task["containers"]
    assert container["image"] == flag(deploy, "--image")
    [dash_c, script] = container["args"]  # gcloud splits --args at commas: a comma in the script would show here
    assert container["command"] == ["sh"] and dash_c == "-c"
    # No --shard: each task's slice comes from Cloud Run's own variables, which nothing may override.
    assert "infracheck diagnose --targets /app/targets.toml --format json --report-only" in script
    assert "--shard" not in script and "$CLOUD_RUN_TASK_INDEX" in script and "$CLOUD_RUN_EXECUTION" in script
    assert not [e for e in container.get("env", []) if e["name"].startswith("CLOUD_RUN_")]
    # Each task's file lands in the mounted bucket, one folder per execution.
    [volume] = task["volumes"]
    assert volume["csi"] == {"driver": "gcsfuse.run.googleapis.com", "readOnly": False,
                             "volumeAttributes": {"bucketName": bucket.body["name"]}}
    [mount] = container["volumeMounts"]
    assert mount["name"] == volume["name"] and f'"{mount["mountPath"]}/$CLOUD_RUN_EXECUTION/shard-' in script

    # The trigger: every 30 minutes, POST to the Run Admin API's jobs/NAME:run of the job just deployed,
    # with an OAuth token (a googleapis.com endpoint takes OAuth, not OIDC) of an account the job lets run it.
    trigger = one(changes, "POST", rf"cloudscheduler\.test/v1/projects/{PROJECT}/locations/{region}/jobs")
    target = trigger.body["httpTarget"]
    assert target["uri"] == (f"https://{region}-run.googleapis.com/apis/run.googleapis.com/v1/"
                             f"namespaces/{PROJECT}/jobs/{name}:run")
    assert target["httpMethod"] == "POST" and "oidcToken" not in target
    invoker = target["oauthToken"]["serviceAccountEmail"]
    job_iam = one(changes, "POST", rf"run\.test/v1/projects/{PROJECT}/locations/{region}/jobs/{name}:setIamPolicy")
    assert {"role": "roles/run.invoker", "members": [f"serviceAccount:{invoker}"]} in job_iam.body["policy"]["bindings"]
    assert (trigger.body["schedule"], trigger.body["timeZone"]) == ("*/30 * * * *", "Etc/UTC")  # gcloud's default zone
    # The URI, less its verb, is where the fake (as the Run API) serves the job gcloud deployed and polled.
    uri = target["uri"].removeprefix("https://").replace("-run.googleapis.com/", "-run.test/", 1).removesuffix(":run")
    assert uri in polled and served(api, uri)["metadata"]["name"] == name
    # The scheduler fires: its POST starts an execution, and it is the very call `gcloud run jobs execute` makes.
    served(api, f"{uri}:run", "POST")
    api.reset_log()
    sh(f"gcloud run jobs execute {name} --region={region} --project={PROJECT} --async", env)
    assert [(r.method, r.route) for r in api.mutations] == [("POST", f"{uri}:run")]

    # The page's next step finds the newest execution (the folder its shards went to): the one started last.
    executions = served(api, f"{region}-run.test/apis/run.googleapis.com/v1/namespaces/{PROJECT}/executions")
    # The fake lists them oldest first; gcloud sorts the newest first (so does the page's --sort-by).
    assert len(executions["items"]) == 2
    find = recipe("gcloud run jobs executions list").split("\ngcloud storage cp")[0]
    assert find.startswith("execution=$(gcloud run jobs executions list")
    assert sh(f'{find}\nprintf %s "$execution"', env) == executions["items"][-1]["metadata"]["name"]

    # Every body gcloud sent, and what the fake answers for each resource, decodes into the API's message class.
    run_job, bucket_class = "run.v1.run_v1_messages:Job", "storage.v1.storage_v1_messages:Bucket"
    scheduler_job, policy = "cloudscheduler.v1.cloudscheduler_v1_messages:Job", "run.v1.run_v1_messages:Policy"
    checks = [(bucket_class, bucket.body), ("storage.v1.storage_v1_messages:Policy", bucket_iam.body),
              (run_job, job.body), ("run.v1.run_v1_messages:SetIamPolicyRequest", job_iam.body),
              (scheduler_job, trigger.body),
              (bucket_class, served(api, f"storage.test/storage/v1/b/{bucket.body['name']}")),
              (run_job, served(api, uri)),
              (policy, served(api, f"run.test/v1/projects/{PROJECT}/locations/{region}/jobs/{name}:getIamPolicy")),
              (scheduler_job, served(api, f"{trigger.route}/{trigger.body['name'].rsplit('/', 1)[-1]}")),
              ("run.v1.run_v1_messages:ListExecutionsResponse", executions),
              ("serviceusage.v1.serviceusage_v1_messages:GoogleApiServiceusageV1Service", RUN_API)]
    answers = gcloud_schema.check_batch([{"class": c, "document": d} for c, d in checks])
    assert [(a["class"], a["problems"], a["error"]) for a in answers if a["problems"] or a["error"]] == []
