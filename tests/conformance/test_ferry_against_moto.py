"""The ferry binary itself (its AWS SDK for Rust clients and its deploy logic) against moto's
server: the calls a deploy makes are accepted by moto and its answers parse.

ferry talks to moto through a small recording proxy on 127.0.0.1, so every call ferry made
is known: operation, request, status and answer. moto is good for request/response shapes
but cannot run a rollout (its deployments never progress), so a deploy cannot succeed
against it; the tests assert what moto makes deterministic. docs/conformance.md, section
"ferry deploy against moto", has the outcome per operation.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import shapes
from conftest import REGION, unique

# moto files everything under its default account whatever the access key (it maps only
# keys it issued itself through IAM to other accounts); with `credentials = "ferry-local"`
# the account is merely the access key ferry signs with.
MOTO_ACCOUNT = "123456789012"
USER = "conformance"
# moto never completes a rollout, so every deploy against it runs into this timeout.
TIMEOUT = "5s"

TEMPLATE = """{
  "family": "{{ vars.family }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 64,
    "environment": [{"name": "VERSION", "value": "{{ version }}"}]
  }]
}
"""

TARGET_PREFIX = {prefix: service for service, prefix in shapes.SERVICES.items()}
READ_ONLY = ("Describe", "List", "BatchGet")


# --- a recording proxy in front of moto -----------------------------------------------------


@dataclass
class Call:
    service: str  # botocore's name: ecs, ecr
    operation: str
    request: dict
    status: int
    body: object  # the answer: JSON, or text when it was not JSON (moto's 500 pages)
    at: float = 0.0  # time.monotonic() when the answer came


@dataclass
class Proxy:
    """Forwards every request to moto unchanged and records it with moto's answer."""

    upstream: str
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Proxy":
        proxy = self
        upstream = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self._read_body()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length", "transfer-encoding")}
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    status, answer, answer_headers = response.status, response.read(), response.getheaders()
                finally:
                    conn.close()
                proxy._record(self.headers.get("X-Amz-Target", ""), body, status, answer)
                self.send_response(status)
                for key, value in answer_headers:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="moto-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _record(self, target: str, request: bytes, status: int, answer: bytes) -> None:
        prefix, _, operation = target.partition(".")
        try:
            parsed_request = json.loads(request) if request else {}
        except ValueError:
            parsed_request = {}
        try:
            body = json.loads(answer) if answer else {}
        except ValueError:
            body = answer.decode("utf-8", "replace")
        with self.lock:
            self.calls.append(
                Call(TARGET_PREFIX.get(prefix, prefix), operation, parsed_request, status, body, time.monotonic()))

    def take(self) -> list[Call]:
        """The calls recorded since the last take."""
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def proxy(moto_url):
    p = Proxy(moto_url).start()
    yield p
    p.stop()


# --- the project: moto's resources, ferry.toml, a template --------------------------------------


def manifest(seed: str) -> str:
    """A small OCI image manifest. moto's digest is a hash of the layer digests, so each
    image gets a layer of its own."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + (seed * 64)[:64], "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + (seed[::-1] * 64)[:64], "size": 32}],
    })


@dataclass
class World:
    moto: object
    proxy: Proxy
    ferry_bin: str
    dir: Path
    cluster: str
    service: str
    family: str
    repository: str
    uri: str
    digests: dict
    bootstrap: str  # the revision the service was created with (what Terraform would own)
    bootstrap_deployment: str

    def ferry(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        env.update(FERRY_USER=USER, NO_COLOR="1")
        command = [self.ferry_bin, *args, "--config", str(self.dir / "ferry.toml"),
                   "--ledger", str(self.dir / "ledger.sqlite")]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=self.dir, timeout=timeout)

    def revisions(self) -> list[str]:
        return self.moto.ecs.list_task_definitions(familyPrefix=self.family)["taskDefinitionArns"]

    def describe(self) -> dict:
        return self.moto.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"][0]

    def arn(self, revision: int) -> str:
        return f"arn:aws:ecs:{REGION}:{MOTO_ACCOUNT}:task-definition/{self.family}:{revision}"


def make_world(moto, proxy: Proxy, ferry_bin: str) -> World:
    cluster, service, family, repository = unique("fm"), "web", unique("fm-web"), unique("fm-app")
    uri = moto.ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    digests = {}
    # 1.0.0 runs now; 1.1.0 is one image under two tags.
    for tag, seed in (("1.0.0", "a1"), ("1.1.0", "b2"), ("stable", "b2")):
        put = moto.ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=manifest(seed),
                                 imageManifestMediaType="application/vnd.oci.image.manifest.v1+json")
        digests[tag] = put["image"]["imageId"]["imageDigest"]
    assert digests["1.1.0"] == digests["stable"] != digests["1.0.0"]
    moto.ecs.create_cluster(clusterName=cluster)
    bootstrap = moto.ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": f"{uri}:1.0.0", "essential": True, "memory": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    # moto takes FARGATE without a network configuration (EC2 wants container instances).
    created = moto.ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=bootstrap,
                                      desiredCount=1, launchType="FARGATE")["service"]
    assert [d["taskDefinition"] for d in created["deployments"]] == [bootstrap]

    directory = Path(tempfile.mkdtemp(prefix="ferry-vs-moto."))
    (directory / "ferry.toml").write_text(
        f'[environments.moto]\nregion = "{REGION}"\ncluster = "{cluster}"\nendpoint_url = "{proxy.url}"\n'
        f'credentials = "ferry-local"\naccount = "{MOTO_ACCOUNT}"\ntimeout = "{TIMEOUT}"\nrollback_timeout = "{TIMEOUT}"\nbake = "0s"\n'
        f'vars = {{ family = "{family}" }}\n\n'
        f'[services.{service}]\nrepository = "{repository}"\ncontainer = "app"\ntemplate = "web.json"\n'
    )
    (directory / "web.json").write_text(TEMPLATE)
    proxy.take()
    return World(moto, proxy, ferry_bin, directory, cluster, service, family, repository, uri, digests, bootstrap,
                 created["deployments"][0]["id"])


def remove_world(w: World) -> None:
    shutil.rmtree(w.dir, ignore_errors=True)
    w.moto.ecs.delete_service(cluster=w.cluster, service=w.service, force=True)
    w.moto.ecs.delete_cluster(cluster=w.cluster)
    w.moto.ecr.delete_repository(repositoryName=w.repository, force=True)


@pytest.fixture
def world(moto, proxy, ferry_bin):
    w = make_world(moto, proxy, ferry_bin)
    yield w
    remove_world(w)


# --- reading what ferry said and did ------------------------------------------------------


def lines_of(proc: subprocess.CompletedProcess) -> list[dict]:
    """Every stdout line of `--output json`, each of which must be a JSON object."""
    lines = []
    for line in proc.stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\nstderr:\n{proc.stderr}")
        # docs/deploy.md, "Output": events, a plan line per service (plan), the probe's figures,
        # notices, and the result last.
        assert isinstance(value, dict) and value.get("type") in ("event", "plan", "probe", "notice", "result"), line
        lines.append(value)
    assert lines and lines[-1]["type"] == "result", proc.stdout + proc.stderr
    assert [v["type"] for v in lines].count("result") == 1, proc.stdout
    return lines


def said(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def operations(calls: list[Call]) -> list[str]:
    return [f"{c.service}:{c.operation}" for c in calls]


def mutations(calls: list[Call]) -> list[str]:
    return [op for op in operations(calls) if not op.split(":")[1].startswith(READ_ONLY)]


def answered_off_model(calls: list[Call]) -> list[str]:
    """Members of moto's successful answers that botocore's model does not allow."""
    problems = []
    for c in calls:
        if c.status == 200:
            problems += [f"{c.service}:{c.operation}: {p}" for p in shapes.validate(c.service, c.operation, c.body)]
    return problems


def tags_of(moto, arn: str) -> dict:
    described = moto.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return {t["key"]: t["value"] for t in described.get("tags", [])}


# --- the tests ------------------------------------------------------------------------------


PREFLIGHT = ["ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTaskDefinition",
             "ecr:DescribeImages"]


def check_preflight(w: World, calls: list[Call]) -> None:
    """The read-only calls of a preflight, as ferry made them and moto answered them."""
    first = calls[:len(PREFLIGHT)]
    assert operations(first) == PREFLIGHT, operations(calls)
    assert all(c.status == 200 for c in first), [(c.operation, c.status, c.body) for c in first]
    clusters, services, task_definition, images = (c.request for c in first)
    assert clusters == {"clusters": [w.cluster]}
    assert services["cluster"] == w.cluster and services["services"] == [w.service]
    assert task_definition == {"taskDefinition": w.bootstrap, "include": ["TAGS"]}
    assert images["repositoryName"] == w.repository and images["imageIds"] == [{"imageTag": "1.1.0"}]


def test_plan_against_moto_parses_every_preflight_answer(world):
    w = world
    proc = w.ferry("plan", "moto", "web=1.1.0", "--output", "json")
    assert proc.returncode == 0, said(proc)
    result = lines_of(proc)[-1]
    assert (result["command"], result["exit_code"], result["outcome"]) == ("plan", 0, "ok"), result
    [report] = result["services"]
    assert report["outcome"] == "planned", report
    assert report["from_task_definition"] == w.bootstrap
    assert report["from_version"] == "1.0.0"  # from the image tag: the bootstrap revision has no ferry tags
    assert report["to_version"] == "1.1.0"
    assert report["to_digest"] == w.digests["1.1.0"]  # DescribeImages' imageDigest
    # Built from DescribeImages' registryId as ECR builds repository URIs: equal to moto's.
    assert report["image"] == f"{w.uri}:1.1.0"
    assert report["to_task_definition"] is None and report["ecs_deployment_id"] is None
    assert (report["running"], report["desired"]) == (0, 1)  # moto runs nothing
    changes = {c["path"]: (c["old"], c["new"]) for c in report["changes"]}
    assert changes["containerDefinitions[app].image"] == (f"{w.uri}:1.0.0", f"{w.uri}:1.1.0"), report["changes"]

    calls = w.proxy.take()
    check_preflight(w, calls)
    assert operations(calls) == PREFLIGHT, "a plan makes only the preflight's calls"
    assert answered_off_model(calls) == []
    assert w.revisions() == [w.bootstrap]


def test_deploy_against_moto_registers_updates_and_times_out(world):
    w = world
    proc = w.ferry("deploy", "moto", "web=1.1.0", "--timeout", TIMEOUT, "--output", "json")
    lines = lines_of(proc)
    result = lines[-1]
    [report] = result["services"]
    new = w.arn(2)

    # What moto makes deterministic. Its UpdateService sets the service's taskDefinition but
    # leaves its deployments alone: the one PRIMARY deployment, created with the service,
    # keeps the bootstrap revision and stays IN_PROGRESS with no task running, for ever. So
    # ferry never finds a deployment of its revision (it reports none), times out, rolls back
    # with UpdateService (it has no deployment to stop with StopServiceDeployment), and never
    # finds a new deployment for that either: exit 6, the rollback failed.
    assert proc.returncode == 6, said(proc)
    assert (result["command"], result["exit_code"], result["outcome"]) == ("deploy", 6, "rollback_failed"), result
    assert report["outcome"] == "rollback_failed", report
    assert report["cause"] == "timeout", report
    assert report["reason"] == (
        "the deployment did not complete within 5s (0 of 0 new tasks running); "
        "the rollback failed too: the rollback did not complete within 5s (0 of 0 new tasks running)"
    ), report
    assert report["from_task_definition"] == w.bootstrap and report["to_task_definition"] == new
    assert report["to_digest"] == w.digests["1.1.0"]
    assert report["ecs_deployment_id"] is None
    # The deployment moto lists for the bootstrap revision existed before the rollback's
    # UpdateService, so ferry does not take it for the rollback's own.
    assert report["rollback_deployment_id"] is None
    phases = [(v["event"], v.get("phase")) for v in lines if v["type"] == "event" and v["event"] in ("phase", "finished")]
    assert phases == [("phase", "preflight"), ("phase", "locked"), ("phase", "registered"), ("phase", "updated"),
                      ("phase", "rolling_back"), ("finished", None)], phases
    assert all(v["deployment_id"] == report["deployment_id"] for v in lines[:-1])

    calls = w.proxy.take()
    check_preflight(w, calls)
    assert all(len(c.request.get("services", [])) <= 10 for c in calls if c.operation == "DescribeServices")
    # Each mutation once, in order, and all of them accepted.
    assert mutations(calls) == ["ecs:RegisterTaskDefinition", "ecs:UpdateService", "ecs:UpdateService"], operations(calls)
    assert [c.status for c in calls] == [200] * len(calls), [(c.operation, c.status) for c in calls if c.status != 200]
    assert answered_off_model(calls) == []
    register = next(c for c in calls if c.operation == "RegisterTaskDefinition")
    sent_tags = {t["key"]: t["value"] for t in register.request["tags"]}
    assert register.request["containerDefinitions"][0]["image"] == f"{w.uri}:1.1.0"
    assert register.body["taskDefinition"]["taskDefinitionArn"] == new
    assert "tags" not in register.body, "moto drops RegisterTaskDefinition's tags from its answer"
    forward, back = (c for c in calls if c.operation == "UpdateService")
    assert forward.request == {"cluster": w.cluster, "service": w.service, "taskDefinition": new,
                               "forceNewDeployment": False}
    assert forward.body["service"]["taskDefinition"] == new
    assert [(d["id"], d["taskDefinition"]) for d in forward.body["service"]["deployments"]] == \
        [(w.bootstrap_deployment, w.bootstrap)], "moto's UpdateService starts no deployment"
    assert back.request["taskDefinition"] == w.bootstrap
    # Not reached against moto: ListTasks/DescribeTasks (no task of the deployment ever
    # fails) and the service-deployment calls (there is no deployment of ours to stop).
    assert not {"ListTasks", "DescribeTasks", "ListServiceDeployments", "StopServiceDeployment"} & {
        c.operation for c in calls}

    # What moto holds now: the revision ferry registered, with ferry's tags; the service back
    # on the bootstrap revision; the deployment unchanged and never progressing.
    assert w.revisions() == [w.bootstrap, new]
    assert tags_of(w.moto, new) == sent_tags == {
        "ferry:version": "1.1.0",
        "ferry:digest": w.digests["1.1.0"],
        "ferry:deployment": report["deployment_id"],
        "ferry:env": "moto",
        "ferry:deployed-by": USER,
    }
    service = w.describe()
    assert service["taskDefinition"] == w.bootstrap
    assert [(d["id"], d["status"], d["taskDefinition"], d["rolloutState"], d["runningCount"])
            for d in service["deployments"]] == [(w.bootstrap_deployment, "PRIMARY", w.bootstrap, "IN_PROGRESS", 0)]


def test_a_tag_missing_from_moto_ecr_is_refused_and_changes_nothing(world):
    w = world
    before = w.describe()
    proc = w.ferry("deploy", "moto", "web=9.9.9", "--output", "json")
    assert proc.returncode == 4, said(proc)
    [report] = lines_of(proc)[-1]["services"]
    assert report["outcome"] == "refused", report
    # The reason may go on to say where it looked (region, account, endpoint).
    assert report["reason"].startswith(f"image {w.repository}:9.9.9 not found in the registry"), report
    assert f"image {w.repository}:9.9.9 not found in the registry" in proc.stdout + proc.stderr

    calls = w.proxy.take()
    assert operations(calls) == PREFLIGHT[:4], "refused at DescribeImages"
    describe_images = calls[-1]
    assert describe_images.status == 400 and describe_images.body["__type"] == "ImageNotFoundException", \
        describe_images
    assert mutations(calls) == []
    assert w.revisions() == [w.bootstrap]
    after = w.describe()
    assert (after["taskDefinition"], after["deployments"]) == (before["taskDefinition"], before["deployments"])


def test_rollback_finds_a_version_by_its_revision_tags_on_moto(world):
    """ListTaskDefinitions and DescribeTaskDefinition's tags, as `ferry rollback --to VERSION`
    reads them when the ledger does not know the version."""
    w = world
    # A revision as a ferry deploy on another machine would have left it.
    moto = w.moto
    tagged = moto.ecs.register_task_definition(
        family=w.family,
        containerDefinitions=[{"name": "app", "image": f"{w.uri}:1.1.0", "essential": True, "memory": 64}],
        tags=[{"key": "ferry:version", "value": "1.1.0"}, {"key": "ferry:digest", "value": w.digests["1.1.0"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    assert tagged == w.arn(2)
    w.proxy.take()

    proc = w.ferry("rollback", "moto", "web", "--to", "7.7.7")
    assert proc.returncode == 4, said(proc)
    assert f"version 7.7.7 of web is neither in the ledger nor on any of the last 50 revisions of {w.family}" in \
        proc.stdout + proc.stderr, said(proc)
    calls = w.proxy.take()
    assert mutations(calls) == [] and all(c.status == 200 for c in calls), operations(calls)
    listed = next(c for c in calls if c.operation == "ListTaskDefinitions")
    assert listed.request == {"familyPrefix": w.family, "status": "ACTIVE", "sort": "DESC"}
    # moto ignores `sort` and answers oldest first; ferry reads every revision it gets.
    assert listed.body["taskDefinitionArns"] == [w.bootstrap, tagged]
    described = [c.request["taskDefinition"] for c in calls if c.operation == "DescribeTaskDefinition"]
    assert tagged in described and all(
        c.request.get("include") == ["TAGS"] for c in calls if c.operation == "DescribeTaskDefinition")

    proc = w.ferry("rollback", "moto", "web", "--to", "1.1.0", "--timeout", "2s", "--output", "json")
    # Found by its tags; then the same moto limitation as a deploy: never completes.
    assert proc.returncode == 6, said(proc)
    [report] = lines_of(proc)[-1]["services"]
    assert (report["kind"], report["to_task_definition"], report["to_version"]) == ("rollback", tagged, "1.1.0"), report
    assert report["cause"] == "timeout", report
    calls = w.proxy.take()
    assert "ecs:ListTaskDefinitions" in operations(calls)
    assert mutations(calls) == ["ecs:UpdateService", "ecs:UpdateService"], operations(calls)
    assert [c.request["taskDefinition"] for c in calls if c.operation == "UpdateService"] == [tagged, w.bootstrap]
    assert all(c.status == 200 for c in calls) and answered_off_model(calls) == []


def test_the_task_calls_ferry_never_reaches_against_moto_are_accepted_with_its_parameters(world):
    """ferry lists a deployment's stopped tasks only when its failedTasks grows, which moto's
    never does; the same requests from boto3 show moto accepts them (and has nothing)."""
    w = world
    listed = w.moto.ecs.list_tasks(cluster=w.cluster, startedBy=w.bootstrap_deployment, desiredStatus="STOPPED")
    assert listed["taskArns"] == []
    described = w.moto.ecs.describe_tasks(cluster=w.cluster, tasks=["0123456789abcdef0123456789abcdef"])
    # ECS answers a MISSING failure for an unknown task; moto answers nothing at all.
    assert (described["tasks"], described["failures"]) == ([], [])


# --- the service-deployment calls, which moto does not implement ----------------------------
# ferry calls ListServiceDeployments + StopServiceDeployment(ROLLBACK) only to roll back a
# deployment it identified as its own and that is still in progress. Against moto it never
# identifies one (moto's UpdateService starts no deployment, and a deployment that existed
# before UpdateService is never taken for ferry's), so the fallback to UpdateService when
# those calls fail is covered by the unit tests with fakes
# (crates/ferry-core/tests/deploy_run.rs), not here.
