"""Fixtures of the conformance suite: the endpoints run.sh started, AWS clients of them that
record every response they get (for the shape check), the aws CLI, raw HTTP, and bounded
waits.

run.sh exports FERRY_LOCAL_URL, MOTO_URL, FERRY_BIN and fake credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.config import Config

import shapes

REGION = "us-east-1"
ACCOUNT = "000000000000"
# ferry local reads no signatures; the credential scope names account and region.
RAW_AUTH = (
    f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/ecs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


@dataclass
class Recorded:
    """One response a client of the suite received."""

    peer: str  # "ferry" or "moto"
    client: str  # "boto3" or "cli"
    service: str  # botocore's name: ecs, ecr, application-autoscaling
    operation: str
    status: int
    body: object
    test: str = ""


@dataclass
class Recorder:
    responses: list[Recorded] = field(default_factory=list)
    current_test: str = ""

    def add(self, item: Recorded) -> None:
        item.test = self.current_test
        self.responses.append(item)


RECORDER = Recorder()


def pytest_collection_modifyitems(session, config, items):
    # The shape check reads what the flows recorded: run it after everything else.
    items.sort(key=lambda item: item.module.__name__ == "test_response_shapes")


@pytest.fixture(autouse=True)
def _name_recordings(request):
    RECORDER.current_test = request.node.nodeid
    yield
    RECORDER.current_test = ""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `bash tests/conformance/run.sh`")
    return value


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return RECORDER


@pytest.fixture(scope="session")
def ferry_url() -> str:
    return _env("FERRY_LOCAL_URL")


@pytest.fixture(scope="session")
def moto_url() -> str:
    return _env("MOTO_URL")


@pytest.fixture(scope="session")
def ferry_bin() -> str:
    return _env("FERRY_BIN")


def make_client(service: str, url: str, peer: str, recorder: Recorder, session: boto3.session.Session | None = None):
    """A boto3 client of `url` whose every response body is recorded as it came off the wire.

    `session` (default: boto3's) is where the client's model comes from: a session whose data
    path holds another model for the service makes a client of another protocol
    (test_cloudwatch's CBOR and Query clients)."""
    client = (session or boto3).client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCOUNT,
        aws_secret_access_key="conformance",
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30),
    )

    # The protocol botocore picked from the model's `protocols` (CloudWatch lists three).
    wire = client.meta.service_model.resolved_protocol

    def record(operation_model, response_dict, **_):
        raw = response_dict.get("body") or b""
        if wire == "query":
            # ELBv2 answers XML: read it by the model, keeping what the model lacks.
            body = shapes.from_query_xml(service, operation_model.name, raw) if raw else {}
        elif wire == "smithy-rpc-v2-cbor":
            body = shapes.from_cbor(raw) if raw else {}
        else:
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = raw.decode("utf-8", "replace")
        recorder.add(
            Recorded(peer, "boto3", service, operation_model.name, response_dict.get("status_code", 0), body)
        )

    client.meta.events.register("before-parse", record)
    return client


@dataclass
class Clients:
    ecs: object
    ecr: object
    aas: object
    elbv2: object


def _clients(url: str, peer: str, recorder: Recorder) -> Clients:
    return Clients(
        make_client("ecs", url, peer, recorder),
        make_client("ecr", url, peer, recorder),
        make_client("application-autoscaling", url, peer, recorder),
        make_client("elbv2", url, peer, recorder),
    )


@pytest.fixture(scope="session")
def ferry(ferry_url, recorder) -> Clients:
    return _clients(ferry_url, "ferry", recorder)


@pytest.fixture(scope="session")
def moto(moto_url, recorder) -> Clients:
    return _clients(moto_url, "moto", recorder)


class CliError(AssertionError):
    pass


@dataclass
class AwsCli:
    """The aws CLI (v1, from the venv) pointed at ferry local."""

    url: str
    recorder: Recorder
    env: dict

    def run(self, *args: str, check: bool = True, timeout: float = 120, record: bool = True):
        """Runs `aws <args>` and returns its JSON output (None when it printed nothing)."""
        command = [aws_executable(), "--endpoint-url", self.url, "--region", REGION, "--output", "json", *args]
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise CliError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}")
        if proc.returncode != 0:
            return proc
        out = proc.stdout.strip()
        if not out:
            return None
        try:
            body = json.loads(out)
        except ValueError:
            return out
        service, command_name = args[0], args[1]
        operation = cli_operation(service, command_name)
        if record and operation:
            self.recorder.add(Recorded("ferry", "cli", service, operation, 200, body))
        return body

    def text(self, *args: str, timeout: float = 60) -> str:
        """Runs `aws <args> --output text`, as shell recipes do, and returns stdout unstripped."""
        command = [aws_executable(), "--endpoint-url", self.url, "--region", REGION, *args, "--output", "text"]
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        if proc.returncode != 0:
            raise CliError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}")
        return proc.stdout


def aws_executable() -> str:
    """The aws CLI installed next to this Python (the suite's venv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "aws")
    return beside if os.access(beside, os.X_OK) else (shutil.which("aws") or "aws")


def cli_operation(service: str, command: str) -> str | None:
    """The API operation behind an aws CLI command (`describe-services` → DescribeServices)."""
    if command == "wait":
        return None
    name = "".join(part.capitalize() for part in command.split("-"))
    operations = shapes.model(service)["operations"]
    return name if name in operations else None


@pytest.fixture(scope="session")
def aws(ferry_url, recorder) -> AwsCli:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCOUNT,
        AWS_SECRET_ACCESS_KEY="conformance",
        AWS_DEFAULT_REGION=REGION,
        AWS_PAGER="",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.pop("AWS_PROFILE", None)
    return AwsCli(ferry_url, recorder, env)


@dataclass
class RawResponse:
    status: int
    headers: dict
    body: object


def raw_call(url: str, target: str | None, body, *, authorization: str | None = RAW_AUTH, timeout=10) -> RawResponse:
    """POSTs an AWS JSON 1.1 request by hand. `body` is sent as is when it is bytes or str."""
    if isinstance(body, (bytes, str)):
        data = body.encode() if isinstance(body, str) else body
    else:
        data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url + "/", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, response_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        status, response_headers, raw = e.code, dict(e.headers), e.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    prefix, _, operation = (target or "").partition(".")
    service = {v: k for k, v in shapes.SERVICES.items()}.get(prefix)
    if service and operation in shapes.model(service)["operations"] and url == os.environ.get("FERRY_LOCAL_URL"):
        RECORDER.add(Recorded("ferry", "raw", service, operation, status, parsed))
    return RawResponse(status, {k.lower(): v for k, v in response_headers.items()}, parsed)


def wait_until(check, *, timeout: float, interval: float = 0.25, what: str = "the condition"):
    """Calls `check()` until it returns something truthy, for at most `timeout` seconds.

    Returns that value; fails the test with the last value seen otherwise.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last saw: {last!r}")
        time.sleep(interval)


def http_get_json(port: int, path: str = "/", timeout: float = 5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return json.loads(response.read())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sample_container(ferry_bin: str, *, name="web", image="sample-app:1.0", environment=None, health=True) -> dict:
    """A container definition that runs `ferry sample-app`, listening on its PORT_8080."""
    container = {
        "name": name,
        "image": image,
        "essential": True,
        "memory": 128,
        "entryPoint": [ferry_bin],
        "command": ["sample-app"],
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": environment or [],
    }
    if health:
        container["healthCheck"] = {
            "command": ["CMD", ferry_bin, "sample-app", "--check"],
            "interval": 1,
            "timeout": 2,
            "retries": 2,
        }
    return container


def host_ports(task: dict) -> list[int]:
    return [b["hostPort"] for c in task.get("containers", []) for b in c.get("networkBindings", [])]
