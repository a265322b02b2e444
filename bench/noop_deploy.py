#!/usr/bin/env python3
"""A no-op deploy of ten services (issue 13): `ferry deploy ENV s0=V ... s9=V` when every
service already runs V, timed and its API calls counted, against ferry local.

Setup (rate limits off; not timed), against a running ferry local:
- an ECR repository `app` with image version 1.0.0 (a manifest, no layers: ferry local only
  needs the image to exist);
- a cluster `bench` with the services s0..s9 (--services), 1 task each, on a bootstrap
  revision running 1.0.0: a shell that sleeps (`/bin/sh -c "exec sleep 600"`, 16 MB,
  stopTimeout 1, no health check), the template of crates/ferry/tests/common/mod.rs SLEEPER;
  minimumHealthyPercent 100, maximumPercent 200, circuit breaker on;
- a ferry.toml with the environment `bench` (bake 0s) and the services (template sleeper.json);
- one real `ferry deploy bench s0=1.0.0 ... s9=1.0.0`: ferry registers its own revision of
  each service (the bootstrap revision is not one it rendered) and waits until every
  deployment COMPLETED. After it, every service runs exactly what the same command renders.

Then rate limits are set (`POST /_ferry/rate-limits`, body --limits; default `{}` = ferry
local's default buckets, like AWS's; "off" for none) and, --runs times, after --pause
seconds (the buckets refill: an idle CI runner's starting point):
`ferry deploy bench s0=1.0.0 ... s9=1.0.0 --output json`, recording the wall time (spawn to
exit), when the first JSON line arrived, each service's outcome (every one must be
`unchanged`), ferry local's throttled requests (`GET /_ferry/status`), and the API calls by
operation (`DELETE /_ferry/calls` before, `GET /_ferry/calls` after). A run with any call
that is not a read (Describe*, List*, Get*, BatchGet*), any outcome but `unchanged`, or a
non-zero exit fails the benchmark (exit 1) after the results are printed.

Standard library only; every wait and every command has a time limit.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import ferrybench as fb

ACCOUNT = fb.ACCOUNT
REGION = fb.REGION
ECR = "AmazonEC2ContainerRegistry_V20150921"
REPOSITORY = "app"
VERSION = "1.0.0"
CLUSTER = "bench"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
READS = ("Describe", "List", "Get", "BatchGet")

SLEEPER = """{
  "family": "{{ service }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 16,
    "entryPoint": ["/bin/sh", "-c"],
    "command": ["exec sleep 600"],
    "environment": [{"name": "VERSION", "value": "{{ version }}"}],
    "stopTimeout": 1
  }]
}
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="ferry local's URL")
    p.add_argument("--ferry", required=True, help="path of the ferry binary (release build)")
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--runs", type=int, default=20, help="timed no-op deploys (at least 10)")
    p.add_argument("--pause", type=float, default=2.0, help="seconds to wait before each timed run")
    p.add_argument("--limits", default="{}",
                   help='body of POST /_ferry/rate-limits (default {}: the default buckets), or "off"')
    p.add_argument("--run-timeout", type=float, default=120.0, help="time limit of one ferry command, seconds")
    p.add_argument("--workdir", required=True, help="the project directory (ferry.toml, template, ledger)")
    p.add_argument("--ledger", help="the ledger file (default: ledger.sqlite in --workdir); on tmpfs "
                                    "(/dev/shm/...) it shows the deploy without the ledger's fsyncs")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    if args.runs < 10:
        p.error("--runs must be at least 10")
    return args


def log(msg):
    print(f"[noop] {msg}", file=sys.stderr, flush=True)


def admin(endpoint, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def is_read(operation):
    """`ecs:DescribeServices` → True; `ecs:UpdateService` → False."""
    return operation.split(":", 1)[-1].startswith(READS)


# -- setup --------------------------------------------------------------------------------------


def setup(client, args, names):
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
    for name in names:
        td = client.call("RegisterTaskDefinition", {
            "family": name,
            "containerDefinitions": [{
                "name": "app", "image": f"{IMAGE}:{VERSION}", "essential": True, "memory": 16,
                "entryPoint": ["/bin/sh", "-c"], "command": ["exec sleep 600"], "stopTimeout": 1,
                "environment": [{"name": "VERSION", "value": VERSION}],
            }],
        })["taskDefinition"]["taskDefinitionArn"]
        client.call("CreateService", {
            "cluster": CLUSTER, "serviceName": name, "taskDefinition": td, "desiredCount": 1,
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                        "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        })
    fb.wait_until(f"{len(names)} services running", lambda: all_steady(client, names), 120)

    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "sleeper.json"), "w") as f:
        f.write(SLEEPER)
    config = (f'[environments.{CLUSTER}]\nregion = "{REGION}"\ncluster = "{CLUSTER}"\nendpoint_url = "{args.endpoint}"\n'
              f'credentials = "ferry-local"\nbake = "0s"\n\n')
    for name in names:
        config += f'[services.{name}]\nrepository = "{REPOSITORY}"\ncontainer = "app"\ntemplate = "sleeper.json"\n\n'
    with open(os.path.join(args.workdir, "ferry.toml"), "w") as f:
        f.write(config)


def describe(client, names):
    out = []
    for i in range(0, len(names), 10):
        out += client.call("DescribeServices", {"cluster": CLUSTER, "services": names[i:i + 10]})["services"]
    return out


def all_steady(client, names):
    return all(s["runningCount"] == 1 and len(s["deployments"]) == 1 for s in describe(client, names))


# -- one ferry run --------------------------------------------------------------------------------


def run_ferry(args, command):
    """Runs ferry once; returns (exit code, wall s, first line s, stdout, stderr, calls, throttled)."""
    admin(args.endpoint, "DELETE", "/_ferry/calls")
    throttled_before = admin(args.endpoint, "GET", "/_ferry/status")["throttledRequests"]
    full = [args.ferry, *command, "--output", "json", "--config", os.path.join(args.workdir, "ferry.toml"),
            "--ledger", args.ledger or os.path.join(args.workdir, "ledger.sqlite")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(NO_COLOR="1", FERRY_USER="bench")
    t0 = time.monotonic()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=args.workdir)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    killer = threading.Timer(args.run_timeout, proc.kill)
    killer.start()
    first_line, lines = None, []
    try:
        # Line by line, to see when the first one came; the output ends when ferry exits,
        # and the timer kills a run that does not.
        for line in proc.stdout:
            if first_line is None:
                first_line = time.monotonic() - t0
            lines.append(line)
        code = proc.wait()
    finally:
        killer.cancel()
    wall = time.monotonic() - t0
    reader.join(10)
    stderr = "".join(stderr)
    calls = admin(args.endpoint, "GET", "/_ferry/calls")
    throttled = admin(args.endpoint, "GET", "/_ferry/status")["throttledRequests"] - throttled_before
    return code, wall, first_line, "".join(lines), stderr, calls, throttled


def outcomes_of(stdout):
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if value.get("type") == "result":
            counts = {}
            for service in value.get("services", []):
                counts[service["outcome"]] = counts.get(service["outcome"], 0) + 1
            return counts
    return {}


def main():
    args = parse_args()
    names = [f"s{i}" for i in range(args.services)]
    client = fb.RawClient(args.endpoint)
    admin(args.endpoint, "DELETE", "/_ferry/rate-limits")
    log(f"setup: {len(names)} services in cluster {CLUSTER}")
    t0 = time.monotonic()
    setup(client, args, names)
    command = ["deploy", CLUSTER, *[f"{n}={VERSION}" for n in names]]
    code, wall, _, stdout, stderr, calls, _ = run_ferry(args, command)
    if code != 0:
        sys.exit(f"the first deploy failed (exit {code}):\n{stdout[-3000:]}\n{stderr[-2000:]}")
    log(f"first deploy (registers ferry's revisions, replaces every task): {wall:.2f} s, outcomes {outcomes_of(stdout)}, "
        f"{calls['total']} calls")
    fb.wait_until("every service settled", lambda: all_steady(client, names), 120)
    log(f"setup done in {time.monotonic() - t0:.1f} s")
    if args.limits != "off":
        admin(args.endpoint, "POST", "/_ferry/rate-limits", args.limits.encode())
    log(f"rate limits: {args.limits}")

    runs = []
    for i in range(args.runs):
        time.sleep(args.pause)
        code, wall, first, stdout, stderr, calls, throttled = run_ferry(args, command)
        mutating = {op: n for op, n in calls["calls"].items() if not is_read(op)}
        run = {
            "exit_code": code,
            "wall_s": round(wall, 4),
            "first_line_s": None if first is None else round(first, 4),
            "outcomes": outcomes_of(stdout),
            "calls_total": calls["total"],
            "calls": calls["calls"],
            "mutating_calls": mutating,
            "throttled_by_ferry_local": throttled,
        }
        if code != 0:
            run["stderr_tail"] = stderr[-2000:]
        runs.append(run)
        log(f"run {i + 1}: exit {code}, {wall:.3f} s, outcomes {run['outcomes']}, {calls['total']} calls, "
            f"mutating {mutating or 'none'}, throttled {throttled}")
    admin(args.endpoint, "DELETE", "/_ferry/rate-limits")

    walls = sorted(r["wall_s"] * 1000 for r in runs)
    results = {
        "services": args.services,
        "runs": args.runs,
        "pause_s": args.pause,
        "limits": args.limits if args.limits == "off" else json.loads(args.limits),
        "ledger": args.ledger or os.path.join(args.workdir, "ledger.sqlite"),
        "wall_ms": {
            "min": round(walls[0], 1),
            "p50": round(fb.percentile(walls, 50), 1),
            "p90": round(fb.percentile(walls, 90), 1),
            "max": round(walls[-1], 1),
        },
        "first_line_ms_p50": round(fb.percentile(sorted(r["first_line_s"] * 1000 for r in runs if r["first_line_s"]), 50), 1),
        "runs_detail": runs,
    }
    problems = [f"run {i + 1}: exit {r['exit_code']}, outcomes {r['outcomes']}, mutating {r['mutating_calls']}"
                for i, r in enumerate(runs)
                if r["exit_code"] != 0 or r["mutating_calls"] or r["outcomes"] != {"unchanged": args.services}]
    results["problems"] = problems
    fb.write_json(args.out, results)
    print_markdown(results)
    if problems:
        log("FAILED: " + "; ".join(problems))
        sys.exit(1)


def print_markdown(results):
    runs = results["runs_detail"]
    w = results["wall_ms"]
    print(f"{results['services']} services, {results['runs']} no-op deploys, {results['pause_s']} s apart; "
          f"rate limits: {json.dumps(results['limits'])}; ledger {results['ledger']}.")
    print()
    print("| wall time (ms) | min | p50 | p90 | max |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| `ferry deploy` of {results['services']} services, nothing to change | {w['min']} | {w['p50']} | {w['p90']} | {w['max']} |")
    print()
    print(f"First JSON line after (p50): {results['first_line_ms_p50']} ms. "
          f"Throttled by ferry local: {sum(r['throttled_by_ferry_local'] for r in runs)} requests in all runs.")
    print()
    ops = sorted({op for r in runs for op in r["calls"]})
    print("| operation | calls per run (min–max over the runs) | a read |")
    print("| --- | --- | --- |")
    for op in ops:
        counts = [r["calls"].get(op, 0) for r in runs]
        spread = str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
        print(f"| {op} | {spread} | {'yes' if is_read(op) else '**no**'} |")
    totals = [r["calls_total"] for r in runs]
    print(f"| total | {min(totals)}–{max(totals)} | |")
    print()
    mutating = sum(sum(r["mutating_calls"].values()) for r in runs)
    outcomes = {}
    for r in runs:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    print(f"Mutating calls in all runs: {mutating}. Outcomes: {outcomes}. Problems: {results['problems'] or 'none'}.")


if __name__ == "__main__":
    main()
