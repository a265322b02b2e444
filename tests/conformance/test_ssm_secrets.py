"""SSM Parameter Store and Secrets Manager in ferry local: the aws CLI and boto3 as clients
(their answers recorded for test_response_shapes' check against botocore's output shapes),
a container's `secrets` reaching its process, the same requests sent to moto's server and
their answers compared by shape (every difference listed in EXPECTED, and in
docs/conformance.md), and requests AWS refuses that change nothing.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import shapes
from conftest import ACCOUNT, RECORDER, REGION, make_client, raw_call, unique, wait_until

SSM = "AmazonSSM"
ASM = "secretsmanager"
DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "


@dataclass
class Clients:
    ssm: object
    sm: object
    ecs: object


@pytest.fixture(scope="module")
def ferry_clients(ferry_url, recorder) -> Clients:
    return Clients(make_client("ssm", ferry_url, "ferry", recorder),
                   make_client("secretsmanager", ferry_url, "ferry", recorder),
                   make_client("ecs", ferry_url, "ferry", recorder))


@pytest.fixture(scope="module")
def moto_clients(moto_url, recorder) -> Clients:
    return Clients(make_client("ssm", moto_url, "moto", recorder),
                   make_client("secretsmanager", moto_url, "moto", recorder),
                   make_client("ecs", moto_url, "moto", recorder))


def code_of(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded; an error was expected")


# --- the aws CLI ----------------------------------------------------------------------------


def test_parameters_and_secrets_with_the_aws_cli(aws):
    path = f"/{unique('cli')}"
    put = aws.run("ssm", "put-parameter", "--name", f"{path}/db/password", "--value", "hunter2",
                  "--type", "SecureString")
    assert put == {"Version": 1, "Tier": "Standard"}
    aws.run("ssm", "put-parameter", "--name", f"{path}/db/host", "--value", "db.internal", "--type", "String")
    aws.run("ssm", "put-parameter", "--name", f"{path}/hosts", "--value", "a,b,c", "--type", "StringList")
    again = aws.run("ssm", "put-parameter", "--name", f"{path}/db/host", "--value", "x", "--type", "String", check=False)
    assert again.returncode != 0 and "ParameterAlreadyExists" in again.stderr, again.stderr
    put = aws.run("ssm", "put-parameter", "--name", f"{path}/db/host", "--value", "db2.internal", "--overwrite")
    assert put["Version"] == 2

    got = aws.run("ssm", "get-parameter", "--name", f"{path}/db/password", "--with-decryption")["Parameter"]
    assert got["Value"] == "hunter2" and got["Type"] == "SecureString" and got["Version"] == 1
    assert got["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{path}/db/password"
    hidden = aws.run("ssm", "get-parameter", "--name", f"{path}/db/password")["Parameter"]["Value"]
    assert hidden != "hunter2" and base64.b64decode(hidden), "a SecureString read without decryption is ciphertext"
    first = aws.run("ssm", "get-parameter", "--name", f"{path}/db/host:1")["Parameter"]
    assert (first["Value"], first["Selector"]) == ("db.internal", ":1")
    assert aws.text("ssm", "get-parameter", "--name", f"{path}/db/host", "--query", "Parameter.Value") == "db2.internal\n"

    by_path = aws.run("ssm", "get-parameters-by-path", "--path", path, "--recursive", "--with-decryption")
    assert sorted(p["Name"] for p in by_path["Parameters"]) == [f"{path}/db/host", f"{path}/db/password", f"{path}/hosts"]
    one_level = aws.run("ssm", "get-parameters-by-path", "--path", path)
    assert [p["Name"] for p in one_level["Parameters"]] == [f"{path}/hosts"]
    several = aws.run("ssm", "get-parameters", "--names", f"{path}/hosts", f"{path}/nope")
    assert [p["Value"] for p in several["Parameters"]] == ["a,b,c"]
    assert several["InvalidParameters"] == [f"{path}/nope"]
    described = aws.run("ssm", "describe-parameters", "--parameter-filters",
                        f"Key=Name,Option=BeginsWith,Values={path}/db")["Parameters"]
    assert sorted(p["Name"] for p in described) == [f"{path}/db/host", f"{path}/db/password"]
    history = aws.run("ssm", "get-parameter-history", "--name", f"{path}/db/host")["Parameters"]
    assert [h["Version"] for h in history] == [1, 2]
    aws.run("ssm", "delete-parameter", "--name", f"{path}/hosts")
    missing = aws.run("ssm", "get-parameter", "--name", f"{path}/hosts", check=False)
    assert missing.returncode != 0 and "ParameterNotFound" in missing.stderr

    name = f"{unique('cli')}/db"
    created = aws.run("secretsmanager", "create-secret", "--name", name,
                      "--secret-string", json.dumps({"user": "app", "password": "s3cret"}))
    assert created["Name"] == name
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-")
    assert len(created["ARN"].rsplit("-", 1)[1]) == 6
    value = aws.run("secretsmanager", "get-secret-value", "--secret-id", name)
    assert json.loads(value["SecretString"]) == {"user": "app", "password": "s3cret"}
    assert value["VersionStages"] == ["AWSCURRENT"] and value["VersionId"] == created["VersionId"]
    aws.run("secretsmanager", "put-secret-value", "--secret-id", created["ARN"], "--secret-string", "v2")
    assert aws.run("secretsmanager", "get-secret-value", "--secret-id", name, "--version-stage",
                   "AWSPREVIOUS")["VersionId"] == created["VersionId"]
    described = aws.run("secretsmanager", "describe-secret", "--secret-id", created["ARN"][:-7])
    assert sorted(s for stages in described["VersionIdsToStages"].values() for s in stages) == ["AWSCURRENT", "AWSPREVIOUS"]
    listed = aws.run("secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}")["SecretList"]
    assert [s["Name"] for s in listed] == [name]
    deleted = aws.run("secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
    assert deleted["DeletionDate"]
    refused = aws.run("secretsmanager", "get-secret-value", "--secret-id", name, check=False)
    assert refused.returncode != 0 and "InvalidRequestException" in refused.stderr, refused.stderr
    aws.run("secretsmanager", "restore-secret", "--secret-id", name)
    aws.run("secretsmanager", "delete-secret", "--secret-id", name, "--force-delete-without-recovery")
    gone = aws.run("secretsmanager", "describe-secret", "--secret-id", name, check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr


# --- boto3, and the secrets of a task -------------------------------------------------------


def state_dir(ferry_url) -> str:
    with urllib.request.urlopen(f"{ferry_url}/_ferry/status", timeout=10) as response:
        return json.loads(response.read())["stateDir"]


def test_boto3_paginates_and_a_task_gets_its_secrets(ferry_clients, ferry_url):
    c = ferry_clients
    path = f"/{unique('b3')}"
    for i in range(12):
        c.ssm.put_parameter(Name=f"{path}/p{i:02}", Value=str(i), Type="String")
    pages = list(c.ssm.get_paginator("get_parameters_by_path").paginate(Path=path, PaginationConfig={"PageSize": 5}))
    assert [len(p["Parameters"]) for p in pages] == [5, 5, 2]
    described = [p["Name"] for page in c.ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Path", "Values": [path]}]) for p in page["Parameters"]]
    assert described == [f"{path}/p{i:02}" for i in range(12)]
    out = c.ssm.delete_parameters(Names=[f"{path}/p00", f"{path}/absent"])
    assert (out["DeletedParameters"], out["InvalidParameters"]) == ([f"{path}/p00"], [f"{path}/absent"])
    c.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=f"{path}/p01", Tags=[{"Key": "team", "Value": "a"}])
    assert c.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{path}/p01")["TagList"] == [
        {"Key": "team", "Value": "a"}]

    c.ssm.put_parameter(Name=f"{path}/token", Value="tok-123", Type="SecureString")
    secret = c.sm.create_secret(Name=unique("b3-creds"), SecretString=json.dumps({"password": "pw-456"}),
                                Tags=[{"Key": "team", "Value": "a"}])
    binary = c.sm.create_secret(Name=unique("b3-bin"), SecretBinary=b"\x00\x01")
    assert c.sm.get_secret_value(SecretId=binary["ARN"])["SecretBinary"] == b"\x00\x01"
    assert c.sm.list_secret_version_ids(SecretId=secret["ARN"])["Versions"][0]["VersionStages"] == ["AWSCURRENT"]
    c.sm.tag_resource(SecretId=secret["ARN"], Tags=[{"Key": "env", "Value": "dev"}])
    c.sm.untag_resource(SecretId=secret["ARN"], TagKeys=["team"])
    assert c.sm.describe_secret(SecretId=secret["ARN"])["Tags"] == [{"Key": "env", "Value": "dev"}]

    cluster, family = unique("b3-secrets"), unique("b3-secrets")
    c.ecs.create_cluster(clusterName=cluster)

    def run(secrets) -> dict:
        c.ecs.register_task_definition(
            family=family, executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
            containerDefinitions=[{"name": "main", "image": "busybox", "memory": 8, "entryPoint": ["/bin/sh", "-c"],
                                   "command": ['echo "token=$TOKEN password=$PASSWORD"'], "secrets": secrets}])
        arn = c.ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
        return wait_until(lambda: next((t for t in c.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
                                        if t["lastStatus"] == "STOPPED"), None), timeout=30, what="the task to stop")

    task = run([{"name": "TOKEN", "valueFrom": f"{path}/token"},
                {"name": "PASSWORD", "valueFrom": f"{secret['ARN']}:password::"}])
    assert task["stopCode"] == "EssentialContainerExited" and task["containers"][0]["exitCode"] == 0, task
    log = os.path.join(state_dir(ferry_url), "logs", task["taskArn"].rsplit("/", 1)[1], "main.log")
    assert open(log).read() == "token=tok-123 password=pw-456\n"

    task = run([{"name": "TOKEN", "valueFrom": f"{path}/absent"}])
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == (f"{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 "
                                     f"time(s): invalid ssm parameters: {path}/absent")
    assert "exitCode" not in task["containers"][0] and "startedAt" not in task
    task = run([{"name": "PASSWORD", "valueFrom": f"{secret['ARN']}:user::"}])
    assert task["stoppedReason"] == (f"{PREFIX}unable to retrieve secret from asm: service call has been retried 1 "
                                     "time(s): retrieved secret from Secrets Manager did not contain json key user")


# --- bad requests change nothing ------------------------------------------------------------


@pytest.fixture(scope="module")
def world(ferry_clients):
    c = ferry_clients
    path = f"/{unique('bad')}"
    c.ssm.put_parameter(Name=f"{path}/kept", Value="v1", Type="SecureString")
    secret = c.sm.create_secret(Name=unique("bad-secret"), SecretString="s1")
    return {"path": path, "secret": secret["Name"], "arn": secret["ARN"]}


def snapshot(c: Clients, world) -> dict:
    strip = lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}  # noqa: E731
    return {
        "parameters": [strip(p) for page in c.ssm.get_paginator("get_parameters_by_path").paginate(
            Path="/", Recursive=True, WithDecryption=True) for p in page["Parameters"]],
        "described": [p for page in c.ssm.get_paginator("describe_parameters").paginate() for p in page["Parameters"]],
        "history": strip(c.ssm.get_parameter_history(Name=f"{world['path']}/kept", WithDecryption=True)),
        # LastAccessedDate moves with the reads of this snapshot itself, as on AWS.
        "secrets": [{k: v for k, v in s.items() if k != "LastAccessedDate"}
                    for page in c.sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True)
                    for s in page["SecretList"]],
        "versions": [{k: v for k, v in version.items() if k != "LastAccessedDate"} for version in
                     c.sm.list_secret_version_ids(SecretId=world["arn"], IncludeDeprecated=True)["Versions"]],
        "value": strip(c.sm.get_secret_value(SecretId=world["arn"])),
    }


BAD_SSM = [
    ("wrong type", "PutParameter", {"Name": "/x", "Value": 7, "Type": "String"}, "SerializationException"),
    ("missing value", "PutParameter", {"Name": "/bad/missing-value", "Type": "String"}, "ValidationException"),
    ("bad enum", "PutParameter", {"Name": "/bad/enum", "Value": "v", "Type": "Number"}, "ValidationException"),
    ("prefix aws", "PutParameter", {"Name": "/aws/x", "Value": "v", "Type": "String"}, "ValidationException"),
    ("relative path", "PutParameter", {"Name": "a/b", "Value": "v", "Type": "String"}, "ValidationException"),
    ("no type", "PutParameter", {"Name": "/bad/typeless", "Value": "v"}, "ValidationException"),
    ("tags and overwrite", "PutParameter", {"Name": "/bad/t", "Value": "v", "Type": "String", "Overwrite": True,
                                            "Tags": [{"Key": "k", "Value": "v"}]}, "ValidationException"),
    ("relative path to read", "GetParametersByPath", {"Path": "relative"}, "ValidationException"),
    ("eleven names", "GetParameters", {"Names": [f"/n{i}" for i in range(11)]}, "ValidationException"),
    ("unknown filter key", "DescribeParameters", {"ParameterFilters": [{"Key": "Colour", "Values": ["x"]}]},
     "InvalidFilterKey"),
    ("bad filter option", "DescribeParameters",
     {"ParameterFilters": [{"Key": "Name", "Option": "Near", "Values": ["x"]}]}, "InvalidFilterOption"),
    ("missing parameter", "DeleteParameter", {"Name": "/bad/never-created"}, "ParameterNotFound"),
    ("bad token", "DescribeParameters", {"NextToken": "garbage"}, "InvalidNextToken"),
]

BAD_ASM = [
    ("wrong type", "CreateSecret", {"Name": "bad-x", "SecretString": ["no"]}, "SerializationException"),
    ("missing name", "CreateSecret", {"SecretString": "v"}, "InvalidParameterException"),
    ("bad name", "CreateSecret", {"Name": "bad name!", "SecretString": "v"}, "InvalidParameterException"),
    ("string and binary", "CreateSecret", {"Name": "bad-both", "SecretString": "v", "SecretBinary": "eA=="},
     "InvalidParameterException"),
    ("window too short", "DeleteSecret", {"SecretId": "SECRET", "RecoveryWindowInDays": 3}, "InvalidParameterException"),
    ("window and force", "DeleteSecret", {"SecretId": "SECRET", "RecoveryWindowInDays": 7,
                                          "ForceDeleteWithoutRecovery": True}, "InvalidParameterException"),
    ("missing secret", "PutSecretValue", {"SecretId": "bad-never-created", "SecretString": "v"},
     "ResourceNotFoundException"),
    ("no value", "PutSecretValue", {"SecretId": "SECRET"}, "InvalidParameterException"),
    ("unknown stage", "GetSecretValue", {"SecretId": "SECRET", "VersionStage": "NOPE"}, "ResourceNotFoundException"),
]


@pytest.mark.parametrize("what,operation,body,code", BAD_SSM, ids=[b[0] for b in BAD_SSM])
def test_a_bad_ssm_request_is_refused_and_changes_nothing(ferry_clients, ferry_url, world, what, operation, body, code):
    before = snapshot(ferry_clients, world)
    r = raw_call(ferry_url, f"{SSM}.{operation}", body, authorization=RAW_AUTH_FOR("ssm"))
    assert r.status == 400 and r.body.get("__type", "").rsplit("#", 1)[-1] == code, (r.status, r.body)
    assert snapshot(ferry_clients, world) == before


@pytest.mark.parametrize("what,operation,body,code", BAD_ASM, ids=[b[0] for b in BAD_ASM])
def test_a_bad_secrets_manager_request_is_refused_and_changes_nothing(ferry_clients, ferry_url, world, what,
                                                                      operation, body, code):
    body = {k: (world["secret"] if v == "SECRET" else v) for k, v in body.items()}
    before = snapshot(ferry_clients, world)
    r = raw_call(ferry_url, f"{ASM}.{operation}", body, authorization=RAW_AUTH_FOR("secretsmanager"))
    assert r.status == 400 and r.body.get("__type", "").rsplit("#", 1)[-1] == code, (r.status, r.body)
    assert snapshot(ferry_clients, world) == before


def test_the_same_requests_well_formed_do_change_state(ferry_clients, world):
    before = snapshot(ferry_clients, world)
    ferry_clients.ssm.put_parameter(Name=f"{world['path']}/kept", Value="v2", Overwrite=True)
    ferry_clients.sm.put_secret_value(SecretId=world["secret"], SecretString="s2")
    after = snapshot(ferry_clients, world)
    assert after["history"] != before["history"] and after["value"]["SecretString"] == "s2"


def RAW_AUTH_FOR(service: str) -> str:  # noqa: N802
    return (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")


# --- moto comparison ------------------------------------------------------------------------

# (where, difference, follows AWS, why) -- as in test_moto_comparison.EXPECTED.
EXPECTED: list[tuple[str, str, str, str]] = [
    # SSM Parameter Store
    ("Parameter.Selector", "ferry only", "ferry",
     "GetParameter of `NAME:VERSION` answers the selector it was given (`:1`), per the API reference's "
     "Parameter.Selector; moto leaves it out"),
    ("ParameterHistory.Policies", "ferry only", "ferry",
     "`Policies: []` for a parameter without policies (get-parameter-history example)"),
    ("ParameterMetadata.ARN", "ferry only", "ferry", "DescribeParameters answers each parameter's ARN (in the model)"),
    ("ParameterMetadata.Policies", "ferry only", "ferry", "`Policies: []` (describe-parameters example)"),
    # Secrets Manager
    ("DescribeSecretResponse.DeletedDate", "moto only", "ferry",
     "moto answers `null` for a secret not scheduled for deletion; AWS leaves the member out (null is no timestamp)"),
    ("DescribeSecretResponse.KmsKeyId", "moto only", "ferry",
     "moto answers `null`; AWS leaves KmsKeyId out for a secret encrypted with aws/secretsmanager (API reference)"),
    ("DescribeSecretResponse.LastAccessedDate", "type: ferry number, moto null", "ferry",
     "the day the secret was last read (API reference); null is no timestamp"),
    ("DescribeSecretResponse.NextRotationDate", "moto only", "ferry",
     "moto answers `null` for a secret without rotation; AWS leaves it out"),
    ("DescribeSecretResponse.SecretVersionsToStages (not in the model)", "moto only", "ferry",
     "not a member of DescribeSecretResponse (its member is VersionIdsToStages); moto answers both"),
    ("ListSecretVersionIdsResponse.NextToken", "moto only", "ferry",
     "moto answers `\"\"` on the last page; AWS leaves NextToken out"),
    ("ListSecretsResponse.NextToken", "moto only", "ferry", "moto answers `null` on the last page; AWS leaves it out"),
    ("SecretListEntry.DeletedDate", "moto only", "ferry", "as DescribeSecretResponse.DeletedDate"),
    ("SecretListEntry.KmsKeyId", "moto only", "ferry", "as DescribeSecretResponse.KmsKeyId"),
    ("SecretListEntry.LastAccessedDate", "type: ferry number, moto null", "ferry",
     "as DescribeSecretResponse.LastAccessedDate"),
    ("SecretListEntry.NextRotationDate", "moto only", "ferry", "as DescribeSecretResponse.NextRotationDate"),
    ("SecretListEntry.VersionIdsToStages (not in the model)", "moto only", "ferry",
     "not a member of SecretListEntry (its member is SecretVersionsToStages); moto answers both"),
]


@dataclass
class Outcome:
    ok: bool
    body: dict
    code: str = ""


@dataclass(repr=False)
class Comparison:
    ferry: Clients
    moto: Clients
    found: set = field(default_factory=set)
    log: list = field(default_factory=list)

    def _call(self, clients: Clients, peer: str, service: str, operation: str, params: dict) -> Outcome:
        client = clients.ssm if service == "ssm" else clients.sm
        try:
            getattr(client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (peer, operation)
            return Outcome(False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"])
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (peer, operation)
        return Outcome(True, last.body)

    def call(self, service: str, operation: str, params: dict, moto_params: dict | None = None):
        f = self._call(self.ferry, "ferry", service, operation, params)
        m = self._call(self.moto, "moto", service, operation, params if moto_params is None else moto_params)
        if f.ok and m.ok:
            diffs = shapes.compare(shapes.signature(service, operation, f.body),
                                   shapes.signature(service, operation, m.body))
        elif f.ok != m.ok:
            diffs = [("<outcome>", f"ferry {'ok' if f.ok else f.code}, moto {'ok' if m.ok else m.code}")]
        elif f.code != m.code:
            diffs = [("<error>", f"error: ferry {f.code}, moto {m.code}")]
        else:
            diffs = []
        named = []
        for path, difference in diffs:
            where = f"{operation} error" if path.startswith("<") else shapes.owner(service, operation, path)
            named.append((where, difference, f"{operation}: {path}"))
            self.found.add((where, difference))
        self.log.append((operation, f.code or "ok", m.code or "ok", named))
        return f, m

    def unexpected(self) -> list[str]:
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        seen = {(where, diff, at) for _, _, _, named in self.log for where, diff, at in named}
        return sorted(f"{where}  {diff}  (at {at})" for where, diff, at in seen if (where, diff) not in listed)


def test_ssm_and_secrets_manager_answers_have_moto_shapes(ferry_clients, moto_clients):
    compare = Comparison(ferry_clients, moto_clients)
    path = f"/{unique('cmp')}"
    f, m = compare.call("ssm", "PutParameter", {"Name": f"{path}/a", "Value": "v", "Type": "String",
                                                "Description": "d", "Tags": [{"Key": "team", "Value": "x"}]})
    assert f.ok and m.ok, (f, m)
    compare.call("ssm", "PutParameter", {"Name": f"{path}/a", "Value": "v2", "Overwrite": True})
    compare.call("ssm", "PutParameter", {"Name": f"{path}/sub/s", "Value": "secret", "Type": "SecureString"})
    compare.call("ssm", "PutParameter", {"Name": f"{path}/a", "Value": "v3", "Type": "String"})
    compare.call("ssm", "GetParameter", {"Name": f"{path}/a"})
    compare.call("ssm", "GetParameter", {"Name": f"{path}/a:1"})
    compare.call("ssm", "GetParameter", {"Name": f"{path}/sub/s", "WithDecryption": True})
    compare.call("ssm", "GetParameter", {"Name": f"{path}/missing"})
    compare.call("ssm", "GetParameter", {"Name": f"{path}/a:9"})
    compare.call("ssm", "GetParameters", {"Names": [f"{path}/a", f"{path}/missing"], "WithDecryption": True})
    compare.call("ssm", "GetParametersByPath", {"Path": path, "Recursive": True, "WithDecryption": True})
    compare.call("ssm", "GetParametersByPath", {"Path": path})
    compare.call("ssm", "DescribeParameters", {"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith",
                                                                      "Values": [path]}]})
    compare.call("ssm", "DescribeParameters", {"ParameterFilters": [{"Key": "Name", "Values": [f"{path}/a"]}]})
    compare.call("ssm", "GetParameterHistory", {"Name": f"{path}/a"})
    compare.call("ssm", "ListTagsForResource", {"ResourceType": "Parameter", "ResourceId": f"{path}/a"})
    compare.call("ssm", "DeleteParameters", {"Names": [f"{path}/sub/s", f"{path}/missing"]})
    compare.call("ssm", "DeleteParameter", {"Name": f"{path}/a"})
    compare.call("ssm", "DeleteParameter", {"Name": f"{path}/a"})

    name = unique("cmp")
    f, m = compare.call("secretsmanager", "CreateSecret", {"Name": name, "SecretString": "one", "Description": "d",
                                                           "Tags": [{"Key": "team", "Value": "x"}]})
    assert f.ok and m.ok, (f, m)
    compare.call("secretsmanager", "CreateSecret", {"Name": name, "SecretString": "again"})
    compare.call("secretsmanager", "GetSecretValue", {"SecretId": name})
    compare.call("secretsmanager", "PutSecretValue", {"SecretId": name, "SecretString": "two"})
    compare.call("secretsmanager", "GetSecretValue", {"SecretId": name, "VersionStage": "AWSPREVIOUS"})
    compare.call("secretsmanager", "DescribeSecret", {"SecretId": name})
    compare.call("secretsmanager", "ListSecrets", {"Filters": [{"Key": "name", "Values": [name]}]})
    compare.call("secretsmanager", "ListSecretVersionIds", {"SecretId": name})
    compare.call("secretsmanager", "TagResource", {"SecretId": name, "Tags": [{"Key": "env", "Value": "dev"}]})
    compare.call("secretsmanager", "UntagResource", {"SecretId": name, "TagKeys": ["team"]})
    compare.call("secretsmanager", "UpdateSecret", {"SecretId": name, "Description": "e"})
    compare.call("secretsmanager", "GetSecretValue", {"SecretId": f"{name}-missing"})
    compare.call("secretsmanager", "DeleteSecret", {"SecretId": name, "RecoveryWindowInDays": 7})
    compare.call("secretsmanager", "GetSecretValue", {"SecretId": name})
    compare.call("secretsmanager", "RestoreSecret", {"SecretId": name})
    compare.call("secretsmanager", "DeleteSecret", {"SecretId": name, "ForceDeleteWithoutRecovery": True})

    unexpected = compare.unexpected()
    assert not unexpected, (
        "differences from moto not listed in EXPECTED (add them with the side that follows the AWS model, or fix "
        "ferry local):\n" + "\n".join(unexpected))
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_ssm_and_secrets_manager_differences():
    text = DOC.read_text() if DOC.exists() else ""
    assert markdown_table() in text, (
        f"{DOC} must contain the table of SSM and Secrets Manager differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_ssm_secrets as t; "
        "print(t.markdown_table())'`"
    )
