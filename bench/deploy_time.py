#!/usr/bin/env python3
"""Benchmark 2: time from UpdateService to the deployment COMPLETED.

Against a running ferry local this script creates a 4-task service of `ferry sample-app`
whose container health check (`ferry sample-app --check`, interval 1 s, timeout 2 s,
retries 2, no start period) gates the rollout, waits for its first deployment to complete,
then for each run registers a new task definition revision, calls UpdateService and polls
DescribeServices (raw keep-alive client, every --poll-ms) until the new PRIMARY deployment's
rolloutState is COMPLETED. Per run it records
- client: from just before UpdateService is sent to the first DescribeServices answer that
  shows COMPLETED (an upper bound: it includes up to one poll interval plus a round trip);
- server: the deployment's updatedAt - createdAt as ferry local stamped them (createdAt is
  set by the UpdateService handler, updatedAt by the scheduler tick that marks it COMPLETED;
  millisecond timestamps);
- a breakdown from the tasks' own timestamps (createdAt, startedAt, stoppingAt, stoppedAt).

The floor is the sum of the configured waits in ferry local's rolling update (see
docs/benchmarks.md): the health check interval before the first probe, plus one 100 ms
scheduler tick for each step of the task lifecycle that waits for the next tick.

Deployment configuration: the ECS defaults (minimumHealthyPercent 100, maximumPercent 200),
so all 4 new tasks start at once and the 4 old ones stop once the new ones are HEALTHY.
"""

import argparse
import json
import random
import statistics
import sys
import time

import ferrybench as fb

CLUSTER = "deploy"
SERVICE = "web"
FAMILY = "deploy-web"
TICK = 0.1  # crates/ferry-local/src/runtime.rs TICK


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ferry", required=True, help="path of the ferry binary (tasks run `ferry sample-app`)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--interval", type=int, default=1, help="health check interval, seconds")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--poll-ms", type=float, default=10.0)
    p.add_argument("--run-timeout", type=float, default=60.0)
    p.add_argument("--out", help="write the results as JSON here")
    return p.parse_args()


def log(msg):
    print(f"[deploy] {msg}", flush=True)


def register(client, args, version):
    out = client.call(
        "RegisterTaskDefinition",
        {
            "family": FAMILY,
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": f"bench/web:{version}",
                    "essential": True,
                    "memory": 64,
                    "entryPoint": [args.ferry],
                    "command": ["sample-app"],
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "VERSION", "value": version}],
                    "healthCheck": {
                        "command": ["CMD", args.ferry, "sample-app", "--check"],
                        "interval": args.interval,
                        "timeout": 2,
                        "retries": args.retries,
                    },
                    "stopTimeout": 5,
                }
            ],
        },
    )
    return out["taskDefinition"]["taskDefinitionArn"]


def describe(client):
    return client.call("DescribeServices", {"cluster": CLUSTER, "services": [SERVICE]})["services"][0]


def completed(service, deployment_id):
    d = service["deployments"]
    return d and d[0]["id"] == deployment_id and d[0]["rolloutState"] == "COMPLETED" and len(d) == 1


def wait_completed(client, deployment_id, timeout, poll):
    """Polls until the deployment is COMPLETED; returns (client time when seen, service)."""
    deadline = time.perf_counter() + timeout
    polls = 0
    while True:
        service = describe(client)
        seen = time.perf_counter()
        polls += 1
        if completed(service, deployment_id):
            return seen, service, polls
        if seen >= deadline:
            raise TimeoutError(f"deployment {deployment_id} not COMPLETED within {timeout} s: {service['deployments']}")
        time.sleep(poll)


def tasks_of(client):
    arns = []
    for status in ("RUNNING", "STOPPED"):
        token = None
        for _ in range(20):
            payload = {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": status, "maxResults": 100}
            if token:
                payload["nextToken"] = token
            out = client.call("ListTasks", payload)
            arns += out["taskArns"]
            token = out.get("nextToken")
            if not token:
                break
    tasks = []
    for i in range(0, len(arns), 100):
        tasks += client.call("DescribeTasks", {"cluster": CLUSTER, "tasks": arns[i : i + 100]})["tasks"]
    return tasks


def breakdown(tasks, new_id, old_id, created):
    """Phase boundaries (seconds after the deployment's createdAt) from task timestamps."""
    new = [t for t in tasks if t.get("startedBy") == new_id]
    old = [t for t in tasks if t.get("startedBy") == old_id]

    def span(ts, key):
        values = [t[key] for t in ts if t.get(key) is not None]
        return (round(min(values) - created, 3), round(max(values) - created, 3)) if values else None

    return {
        "new_tasks": len(new),
        "old_tasks": len(old),
        "new_created": span(new, "createdAt"),
        "new_started": span(new, "startedAt"),
        "old_stopping": span(old, "stoppingAt"),
        "old_stopped": span(old, "stoppedAt"),
    }


def floor_seconds(interval):
    # Tick-driven steps after UpdateService returns (runtime.rs, scheduler.rs):
    #  1. next tick: the scheduler creates the new tasks; the runtime moves them
    #     PROVISIONING -> PENDING in the same tick;
    #  2. next tick: PENDING -> RUNNING (processes spawned); the health loop starts and
    #     sleeps `interval` before its first probe;
    #  3. first tick after the first HEALTHY probe: the scheduler stops the old tasks, the
    #     runtime moves them RUNNING -> DEACTIVATING; since the interval is a whole number
    #     of ticks and the probe takes > 0 s, that is `interval` + 1 tick after step 2;
    #  4. next tick: DEACTIVATING -> STOPPING, SIGTERM;
    #  5. next tick (if the process exited within a tick): STOPPING -> STOPPED;
    #  6. next tick: the scheduler sees only the new tasks alive and healthy: COMPLETED.
    # Step 1 can come at once (0 ticks) if a tick falls just after UpdateService returns.
    return interval + 5 * TICK


def main():
    args = parse_args()
    client = fb.RawClient(args.endpoint)
    poll = args.poll_ms / 1000.0
    client.call("CreateCluster", {"clusterName": CLUSTER})
    first = register(client, args, "1.0.0")
    out = client.call(
        "CreateService",
        {"cluster": CLUSTER, "serviceName": SERVICE, "taskDefinition": first, "desiredCount": args.tasks},
    )
    deployment = out["service"]["deployments"][0]["id"]
    t0 = time.perf_counter()
    seen, service, _ = wait_completed(client, deployment, args.run_timeout, poll)
    log(f"service {SERVICE}: first deployment of {args.tasks} tasks COMPLETED after {seen - t0:.3f} s (client)")

    runs = []
    for run in range(1, args.runs + 1):
        # Start each run at a different phase of the 100 ms tick.
        time.sleep(1.0 + random.uniform(0, TICK))
        old_id = deployment
        definition = register(client, args, f"1.0.{run}")
        request = client.build_aws(
            f"{fb.ECS}.UpdateService", {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": definition}
        )
        t0 = time.perf_counter()
        status, body = client.roundtrip(request)
        t_ack = time.perf_counter()
        if status != 200:
            raise fb.HttpError(f"UpdateService answered HTTP {status}: {body[:300]!r}")
        new = json.loads(body)["service"]["deployments"][0]
        deployment = new["id"]
        seen, service, polls = wait_completed(client, deployment, args.run_timeout, poll)
        d = service["deployments"][0]
        result = {
            "run": run,
            "client_s": round(seen - t0, 3),
            "update_service_rtt_ms": round(1000 * (t_ack - t0), 2),
            "server_s": round(d["updatedAt"] - d["createdAt"], 3),
            "polls": polls,
            "phases": breakdown(tasks_of(client), deployment, old_id, d["createdAt"]),
        }
        runs.append(result)
        log(f"run {run}: client {result['client_s']:.3f} s, server {result['server_s']:.3f} s, phases {json.dumps(result['phases'])}")

    def stats(key):
        values = [r[key] for r in runs]
        return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)}

    results = {
        "parameters": vars(args).copy(),
        "floor_s": round(floor_seconds(args.interval), 3),
        "client_s": stats("client_s"),
        "server_s": stats("server_s"),
        "runs": runs,
    }
    fb.write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
