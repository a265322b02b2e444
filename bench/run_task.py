#!/usr/bin/env python3
"""`ferry run` of a one-off task that exits at once (issue 13), against the aws CLI's
`aws ecs run-task` + `aws ecs wait tasks-stopped`, on one ferry local.

Setup (not timed), against a running ferry local with its default rate limits:
- an ECR repository `app` with image 1.0.0 (a manifest, no layers: ferry local only needs
  the image to exist);
- a cluster `bench` with the service `jobs`, desired count 0 (a one-off task needs the
  service's revision and launch settings, not its tasks), on the revision `jobs:1`: one
  essential container `app`, command `sleep 600`, 16 MB, stopTimeout 1, logging with the
  awslogs driver to group /ecs/jobs, stream prefix jobs (awslogs-create-group true);
- a ferry.toml with the environment `bench` and the service `jobs` (container app).

Then, for each COMMAND of --commands (default `true` and `sleep 2`), --runs times each tool
(ferry and the aws CLI alternating), after --pause seconds:
- ferry:   `ferry run bench jobs --output json -- COMMAND`: wall time from spawn to exit,
           the task's own run time from ECS (the result's `run_ms`: startedAt to stoppedAt),
           and the API calls by operation (`DELETE /_ferry/calls` before, `GET` after);
- aws-cli: `aws ecs run-task --cluster bench --task-definition jobs:1 --overrides
           {containerOverrides: [{name: app, command: COMMAND}]}`, then `aws ecs wait
           tasks-stopped --cluster bench --tasks ARN` (botocore's waiter: a DescribeTasks,
           then one every 6 s until STOPPED), the two commands' wall time together, then (not
           timed) `DescribeTasks` for startedAt/stoppedAt and the exit code; calls likewise
           (the untimed DescribeTasks not counted).
Overhead = wall time − the task's run time. Every run must exit 0 (and its container too),
else the benchmark exits 1 after printing its results.

Standard library only; every wait and every command has a time limit.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request

import ferrybench as fb

ACCOUNT = fb.ACCOUNT
REGION = fb.REGION
ECR = "AmazonEC2ContainerRegistry_V20150921"
REPOSITORY = "app"
VERSION = "1.0.0"
CLUSTER = "bench"
SERVICE = "jobs"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"

TEMPLATE = """{
  "family": "{{ service }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 16,
    "command": ["sleep", "600"],
    "logConfiguration": {"logDriver": "awslogs", "options": {
      "awslogs-group": "/ecs/{{ service }}", "awslogs-region": "{{ region }}",
      "awslogs-stream-prefix": "{{ service }}", "awslogs-create-group": "true"}},
    "stopTimeout": 1
  }]
}
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="ferry local's URL")
    p.add_argument("--ferry", required=True, help="path of the ferry binary (release build)")
    p.add_argument("--aws", required=True, help="path of the aws CLI")
    p.add_argument("--runs", type=int, default=10, help="timed runs of each tool and command (at least 10)")
    p.add_argument("--commands", default="true;sleep 2", help="the task commands, `;`-separated, each split like a shell")
    p.add_argument("--pause", type=float, default=1.0, help="seconds to wait before each timed run")
    p.add_argument("--run-timeout", type=float, default=120.0, help="time limit of one command, seconds")
    p.add_argument("--workdir", required=True, help="the project directory (ferry.toml, template, ledger)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    if args.runs < 10:
        p.error("--runs must be at least 10")
    return args


def log(msg):
    print(f"[run] {msg}", file=sys.stderr, flush=True)


def admin(endpoint, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def setup(client, args):
    client.call("CreateRepository", {"repositoryName": REPOSITORY}, prefix=ECR)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + VERSION.encode().hex().ljust(64, "0"), "size": 2},
        "layers": [],
    }
    client.call("PutImage", {"repositoryName": REPOSITORY, "imageTag": VERSION, "imageManifest": json.dumps(manifest)}, prefix=ECR)
    client.call("CreateCluster", {"clusterName": CLUSTER})
    td = client.call("RegisterTaskDefinition", {
        "family": SERVICE,
        "containerDefinitions": [{
            "name": "app", "image": f"{IMAGE}:{VERSION}", "essential": True, "memory": 16,
            "command": ["sleep", "600"], "stopTimeout": 1,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": f"/ecs/{SERVICE}", "awslogs-region": REGION,
                "awslogs-stream-prefix": SERVICE, "awslogs-create-group": "true"}},
        }],
    })["taskDefinition"]["taskDefinitionArn"]
    client.call("CreateService", {"cluster": CLUSTER, "serviceName": SERVICE, "taskDefinition": td, "desiredCount": 0})
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "jobs.json"), "w") as f:
        f.write(TEMPLATE)
    config = (f'[environments.{CLUSTER}]\nregion = "{REGION}"\ncluster = "{CLUSTER}"\nendpoint_url = "{args.endpoint}"\n'
              f'credentials = "ferry-local"\n\n'
              f'[services.{SERVICE}]\nrepository = "{REPOSITORY}"\ncontainer = "app"\ntemplate = "jobs.json"\n')
    with open(os.path.join(args.workdir, "ferry.toml"), "w") as f:
        f.write(config)
    return td


def clean_env(args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FERRY_"))}
    env.update(
        NO_COLOR="1", FERRY_USER="bench",
        AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.path.join(args.workdir, "aws-config-none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(args.workdir, "aws-credentials-none"),
        AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
        # The catch-all: no request can leave the machine.
        AWS_ENDPOINT_URL=args.endpoint,
    )
    return env


def run(command, args, env):
    """Runs one command with the time limit; returns (exit code, stdout, stderr)."""
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=args.workdir, timeout=args.run_timeout)
    return proc.returncode, proc.stdout, proc.stderr


def result_of(stdout):
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if value.get("type") == "result":
            return value
    return {}


def ferry_once(args, env, words):
    admin(args.endpoint, "DELETE", "/_ferry/calls")
    command = [args.ferry, "--config", os.path.join(args.workdir, "ferry.toml"), "--ledger", os.path.join(args.workdir, "ledger.sqlite"),
               "run", CLUSTER, SERVICE, "--output", "json", "--", *words]
    t0 = time.monotonic()
    code, stdout, stderr = run(command, args, env)
    wall = time.monotonic() - t0
    calls = admin(args.endpoint, "GET", "/_ferry/calls")
    result = result_of(stdout)
    task = (result.get("tasks") or [{}])[0]
    ending = task.get("ending") or {}
    return {
        "exit_code": code,
        "container_exit_code": ending.get("code"),
        "wall_s": round(wall, 4),
        "task_run_s": None if task.get("run_ms") is None else task["run_ms"] / 1000,
        "calls_total": calls["total"],
        "calls": calls["calls"],
        **({"stderr_tail": stderr[-1500:]} if code != 0 else {}),
    }


def aws_once(args, env, words, task_definition, client):
    admin(args.endpoint, "DELETE", "/_ferry/calls")
    overrides = json.dumps({"containerOverrides": [{"name": "app", "command": words}]})
    t0 = time.monotonic()
    code, stdout, stderr = run([args.aws, "ecs", "run-task", "--cluster", CLUSTER, "--task-definition", task_definition,
                                "--overrides", overrides, "--output", "json"], args, env)
    arn = None
    if code == 0:
        arn = json.loads(stdout)["tasks"][0]["taskArn"]
        code, _, stderr = run([args.aws, "ecs", "wait", "tasks-stopped", "--cluster", CLUSTER, "--tasks", arn], args, env)
    wall = time.monotonic() - t0
    calls = admin(args.endpoint, "GET", "/_ferry/calls")
    run_s, container_code = None, None
    if arn:
        task = client.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})["tasks"][0]
        if task.get("startedAt") is not None and task.get("stoppedAt") is not None:
            run_s = round(task["stoppedAt"] - task["startedAt"], 4)
        container_code = task["containers"][0].get("exitCode")
    return {
        "exit_code": code,
        "container_exit_code": container_code,
        "wall_s": round(wall, 4),
        "task_run_s": run_s,
        "calls_total": calls["total"],
        "calls": calls["calls"],
        **({"stderr_tail": stderr[-1500:]} if code != 0 else {}),
    }


def summary(runs):
    walls = sorted(r["wall_s"] * 1000 for r in runs)
    task = sorted(r["task_run_s"] * 1000 for r in runs if r["task_run_s"] is not None)
    over = sorted((r["wall_s"] - r["task_run_s"]) * 1000 for r in runs if r["task_run_s"] is not None)
    calls = {}
    for r in runs:
        for op, n in r["calls"].items():
            calls[op] = calls.get(op, 0) + n
    return {
        "n": len(runs),
        "wall_ms": {"p50": round(fb.percentile(walls, 50), 1), "p90": round(fb.percentile(walls, 90), 1),
                    "min": round(walls[0], 1), "max": round(walls[-1], 1)},
        "task_run_ms": {"p50": round(fb.percentile(task, 50), 1), "p90": round(fb.percentile(task, 90), 1)} if task else None,
        "overhead_ms": {"p50": round(fb.percentile(over, 50), 1), "p90": round(fb.percentile(over, 90), 1)} if over else None,
        "calls_per_run": {op: round(n / len(runs), 2) for op, n in sorted(calls.items())},
        "failed_runs": sum(1 for r in runs if r["exit_code"] != 0 or r["container_exit_code"] != 0),
    }


def table(results):
    lines = ["| command | tool | n | wall p50 | wall p90 | task's run time p50 | overhead p50 | overhead p90 | API calls per run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for command, by_tool in results["commands"].items():
        for tool, s in by_tool.items():
            calls = ", ".join(f"{op.split(':', 1)[-1]} {n:g}" for op, n in s["calls_per_run"].items())
            task = s["task_run_ms"]["p50"] if s["task_run_ms"] else float("nan")
            over = s["overhead_ms"] or {"p50": float("nan"), "p90": float("nan")}
            lines.append(f"| `{command}` | {tool} | {s['n']} | {s['wall_ms']['p50'] / 1000:.2f} s | {s['wall_ms']['p90'] / 1000:.2f} s "
                         f"| {task / 1000:.2f} s | {over['p50'] / 1000:.2f} s | {over['p90'] / 1000:.2f} s | {calls} |")
    return "\n".join(lines)


def main():
    args = parse_args()
    client = fb.RawClient(args.endpoint)
    env = clean_env(args)
    log("setup: service jobs (desired 0) in cluster bench")
    task_definition = setup(client, args)
    versions = {}
    for name, command in [("ferry", [args.ferry, "--version"]), ("aws", [args.aws, "--version"])]:
        code, out, err = run(command, args, env)
        versions[name] = (out or err).strip()
    results = {"runs": args.runs, "pause_s": args.pause, "versions": versions, "commands": {}, "raw": {}}
    failed = False
    for text in [c.strip() for c in args.commands.split(";") if c.strip()]:
        words = shlex.split(text)
        raw = {"ferry": [], "aws-cli": []}
        for i in range(args.runs):
            for tool in ("ferry", "aws-cli"):
                time.sleep(args.pause)
                one = ferry_once(args, env, words) if tool == "ferry" else aws_once(args, env, words, task_definition, client)
                raw[tool].append(one)
                log(f"`{text}` {tool} run {i + 1}: exit {one['exit_code']} (container {one['container_exit_code']}), "
                    f"{one['wall_s']:.3f} s, task {one['task_run_s']} s, {one['calls_total']} calls")
        results["raw"][text] = raw
        results["commands"][text] = {tool: summary(runs) for tool, runs in raw.items()}
        failed |= any(s["failed_runs"] for s in results["commands"][text].values())
    fb.write_json(args.out, results)
    print(f"ferry run vs aws ecs run-task + aws ecs wait tasks-stopped ({args.runs} runs each, ferry local's default rate limits)\n")
    print(table(results))
    print(f"\nversions: {json.dumps(versions)}")
    if failed:
        sys.exit("a run failed: see the raw results")


if __name__ == "__main__":
    main()
