#!/usr/bin/env python3
"""The shared ledger's benchmarks (issue 10): ferry local's DynamoDB vs the SQLite ledger.

1. latency: `crates/ferry-aws/examples/ledger_latency.rs` against a fresh ferry local: every
   ledger operation a deploy makes, --n times each after --warmup rounds, on both backends;
   p50/p90/p99/max and the AWS calls each operation makes.
2. deploy: one service (`web`, 1 task of a shell that sleeps: it starts at once, no health
   check) on a fresh ferry local; `ferry deploy dev web=V --output json` (bake 0s, versions
   alternating) --deploys times with each ledger, interleaved (SQLite, DynamoDB, DynamoDB,
   SQLite, ...). Wall time from spawn to exit, and ferry local's calls by operation per
   deploy (`DELETE /_ferry/calls` before, `GET /_ferry/calls` after).
3. throughput: `bench/promote_many.py --deploy-only --ledger both` on a fresh ferry local:
   `ferry deploy dev s00=V ... s49=V solo=V` (51 services), --rounds rounds, each round with
   both ledgers (the order swapping).

Each part starts its own `ferry local up --detach --port P --state-dir DIR` on 127.0.0.1 (a
free port, a temporary state directory) and stops it (`ferry local down`) when the part ends,
also on failure. Builds first (`cargo build --release -p ferry` and the example), unless
--no-build. Results: OUT/ledger_<part>.md (tables) and .json (raw). Standard library only;
every wait and every command has a time limit, every loop a fixed count.

    python3 bench/ledger.py --out /tmp/ledger-bench [--parts latency,deploy,throughput]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import ferrybench as fb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNT = fb.ACCOUNT
REGION = fb.REGION
ECR = "AmazonEC2ContainerRegistry_V20150921"
REPOSITORY = "app"
VERSIONS = ("1.1.0", "1.0.0")
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
TABLE = "ferry-ledger"

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


def log(msg):
    print(f"[ledger] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="directory for the results")
    p.add_argument("--parts", default="latency,deploy,throughput")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--n", type=int, default=500, help="latency: timed rounds per operation")
    p.add_argument("--warmup", type=int, default=50, help="latency: warm-up rounds per operation")
    p.add_argument("--deploys", type=int, default=10, help="deploy: deploys per ledger")
    p.add_argument("--pause", type=float, default=0.5, help="deploy: seconds between deploys")
    p.add_argument("--rounds", type=int, default=4, help="throughput: rounds (each deploys once per ledger)")
    p.add_argument("--run-timeout", type=float, default=300.0, help="time limit of one command, seconds")
    return p.parse_args()


def target_dir():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)["target_directory"]


def build(args):
    if not args.no_build:
        for command in (["cargo", "build", "--release", "-p", "ferry"],
                        ["cargo", "build", "--release", "-p", "ferry-aws", "--example", "ledger_latency"]):
            log(" ".join(command))
            subprocess.run(command, cwd=ROOT, check=True, timeout=3600)
    target = target_dir()
    ferry = os.path.join(target, "release", "ferry")
    example = os.path.join(target, "release", "examples", "ledger_latency")
    for path in (ferry, example):
        if not os.access(path, os.X_OK):
            sys.exit(f"no binary at {path}")
    return ferry, example


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FerryLocal:
    """`ferry local up --detach` on 127.0.0.1 with its own state directory; `down` on exit."""

    def __init__(self, ferry):
        self.ferry = ferry
        self.dir = tempfile.mkdtemp(prefix="ferry-bench-ledger-state.")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        subprocess.run([self.ferry, "local", "up", "--detach", "--port", str(self.port), "--state-dir", self.dir],
                       check=True, timeout=60, capture_output=True)
        with open(os.path.join(self.dir, "ferry-local.pid")) as f:
            self.pid = json.load(f)["pid"]
        fb.wait_until("ferry local answers", self.answers, 30)
        log(f"ferry local pid {self.pid} on {self.endpoint}, state in {self.dir}")
        return self

    def answers(self):
        try:
            return "pid" in admin(self.endpoint, "GET", "/_ferry/status")
        except OSError:
            return False

    def __exit__(self, *exc):
        subprocess.run([self.ferry, "local", "down", "--state-dir", self.dir], timeout=60, capture_output=True)
        state = os.path.join(self.dir, "state.json")
        self.state_bytes = os.path.getsize(state) if os.path.exists(state) else None
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def admin(endpoint, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def state_size(local):
    path = os.path.join(local.dir, "state.json")
    return os.path.getsize(path) if os.path.exists(path) else None


# -- 1. latency --------------------------------------------------------------------------------


def latency(args, ferry, example):
    with FerryLocal(ferry) as local:
        command = [example, "--endpoint", local.endpoint, "--n", str(args.n), "--warmup", str(args.warmup), "--json"]
        log("latency: " + " ".join(command[1:]))
        before = state_size(local)
        raw = subprocess.run(command, capture_output=True, text=True, timeout=args.run_timeout * 4, check=True).stdout
        size = state_size(local)
    result = json.loads(raw)
    result["state_json_bytes"] = {"before": before, "after": size}
    md = [f"{args.n} timed rounds per operation after {args.warmup} warm-up rounds, one thread; milliseconds. "
          f"ferry local's state.json: {before} bytes before, {size} bytes after.", "",
          "| operation | SQLite p50 | p90 | p99 | max | DynamoDB p50 | p90 | p99 | max | AWS calls per operation (DynamoDB) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for op, sq in result["results"]["sqlite"].items():
        dy = result["results"]["dynamodb"].get(op, {})
        calls = ", ".join(f"{k.split(':')[-1]} {v:g}" for k, v in dy.get("calls_per_op", {}).items())
        cells = [f"{s.get(k, float('nan')):.3f}" for s in (sq, dy) for k in ("p50", "p90", "p99", "max")]
        md.append(f"| {op} | " + " | ".join(cells) + f" | {calls} |")
    write(args, "latency", "\n".join(md) + "\n", result)


# -- 2. one deploy -----------------------------------------------------------------------------


def setup_one(client, endpoint, workdir):
    client.call("CreateRepository", {"repositoryName": REPOSITORY}, prefix=ECR)
    for version in VERSIONS:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": "sha256:" + version.encode().hex().ljust(64, "0"), "size": 2},
            "layers": [],
        }
        client.call("PutImage", {"repositoryName": REPOSITORY, "imageTag": version,
                                 "imageManifest": json.dumps(manifest)}, prefix=ECR)
    client.call("CreateCluster", {"clusterName": "dev"})
    td = client.call("RegisterTaskDefinition", {
        "family": "web",
        "containerDefinitions": [{
            "name": "app", "image": f"{IMAGE}:1.0.0", "essential": True, "memory": 16,
            "entryPoint": ["/bin/sh", "-c"], "command": ["exec sleep 600"], "stopTimeout": 1,
            "environment": [{"name": "VERSION", "value": "1.0.0"}],
        }],
    })["taskDefinition"]["taskDefinitionArn"]
    client.call("CreateService", {
        "cluster": "dev", "serviceName": "web", "taskDefinition": td, "desiredCount": 1,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    })

    def steady():
        s = client.call("DescribeServices", {"cluster": "dev", "services": ["web"]})["services"][0]
        return s["runningCount"] == 1 and len(s["deployments"]) == 1

    fb.wait_until("web running", steady, 60)
    with open(os.path.join(workdir, "sleeper.json"), "w") as f:
        f.write(SLEEPER)
    with open(os.path.join(workdir, "ferry.toml"), "w") as f:
        f.write(f'[environments.dev]\nregion = "{REGION}"\ncluster = "dev"\nendpoint_url = "{endpoint}"\n'
                f'credentials = "ferry-local"\nbake = "0s"\n\n'
                f'[services.web]\nrepository = "{REPOSITORY}"\ncontainer = "app"\ntemplate = "sleeper.json"\n\n'
                f'[ledger]\nbackend = "dynamodb"\ntable = "{TABLE}"\nregion = "{REGION}"\nendpoint_url = "{endpoint}"\n'
                f'credentials = "ferry-local"\n')


def ferry_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(NO_COLOR="1", FERRY_USER="bench")
    return env


def run(command, timeout, cwd):
    """Runs a command; (exit code, wall seconds, stdout, stderr). Killed at `timeout`."""
    t0 = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ferry_env(), cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    return proc.returncode, time.monotonic() - t0, out, err


def p90(values):
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]


def deploy(args, ferry):
    workdir = tempfile.mkdtemp(prefix="ferry-bench-ledger-project.")
    try:
        with FerryLocal(ferry) as local:
            client = fb.RawClient(local.endpoint)
            setup_one(client, local.endpoint, workdir)
            config = os.path.join(workdir, "ferry.toml")
            code, _, out, err = run([ferry, "ledger", "init", "--config", config], 60, workdir)
            if code != 0:
                sys.exit(f"ferry ledger init failed: {out}\n{err}")
            flags = {"sqlite": ["--ledger", os.path.join(workdir, "ledger.sqlite")], "dynamodb": ["--ledger", f"dynamodb://{TABLE}"]}
            # One untimed deploy with each ledger first: the service then runs a revision ferry
            # rendered, and both ledgers have a success to roll back to.
            runs = []
            plan = ["sqlite", "dynamodb"] + [l for i in range(args.deploys) for l in (("sqlite", "dynamodb") if i % 2 == 0 else ("dynamodb", "sqlite"))]
            for index, ledger in enumerate(plan):
                version = VERSIONS[index % 2]
                admin(local.endpoint, "DELETE", "/_ferry/calls")
                command = [ferry, "deploy", "dev", f"web={version}", "--output", "json", "--config", config, *flags[ledger]]
                code, wall, out, err = run(command, args.run_timeout, workdir)
                calls = admin(local.endpoint, "GET", "/_ferry/calls")
                outcome = None
                for line in out.splitlines():
                    try:
                        value = json.loads(line)
                    except ValueError:
                        continue
                    if value.get("type") == "result":
                        outcome = [s.get("outcome") for s in value.get("services", [])]
                record = {"ledger": ledger, "version": version, "exit_code": code, "wall_s": round(wall, 4), "outcome": outcome,
                          "warmup": index < 2, "calls_total": calls["total"], "calls": calls["calls"]}
                if code != 0:
                    record["stderr_tail"] = err[-2000:]
                    record["stdout_tail"] = out[-2000:]
                    log(f"deploy failed: {record}")
                    sys.exit(1)
                runs.append(record)
                log(f"deploy {index + 1}/{len(plan)} {ledger} {version}: {wall:.3f} s, {calls['total']} calls, outcome {outcome}")
                time.sleep(args.pause)
            size = state_size(local)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"runs": runs, "state_json_bytes_after": size}
    summary = {}
    for ledger in ("sqlite", "dynamodb"):
        timed = [r for r in runs if r["ledger"] == ledger and not r["warmup"]]
        walls = [r["wall_s"] for r in timed]
        ops = sorted({op for r in timed for op in r["calls"]})
        summary[ledger] = {
            "n": len(walls), "median_s": round(statistics.median(walls), 4), "p90_s": round(p90(walls), 4),
            "min_s": min(walls), "max_s": max(walls), "walls_s": walls,
            "calls_per_deploy": {op: round(statistics.mean(r["calls"].get(op, 0) for r in timed), 2) for op in ops},
        }
    summary["difference_median_ms"] = round((summary["dynamodb"]["median_s"] - summary["sqlite"]["median_s"]) * 1000, 1)
    summary["difference_p90_ms"] = round((summary["dynamodb"]["p90_s"] - summary["sqlite"]["p90_s"]) * 1000, 1)
    result["summary"] = summary
    md = [f"`ferry deploy dev web=V` (1 task, bake 0s), {args.deploys} timed deploys per ledger, interleaved; seconds.", "",
          "| ledger | deploys | median | p90 | min | max |", "| --- | --- | --- | --- | --- | --- |"]
    for ledger in ("sqlite", "dynamodb"):
        s = summary[ledger]
        md.append(f"| {ledger} | {s['n']} | {s['median_s']:.3f} | {s['p90_s']:.3f} | {s['min_s']:.3f} | {s['max_s']:.3f} |")
    md += ["", f"DynamoDB − SQLite: median {summary['difference_median_ms']} ms, p90 {summary['difference_p90_ms']} ms", "",
           "Calls per deploy (mean), by operation:", "", "| operation | sqlite | dynamodb |", "| --- | --- | --- |"]
    for op in sorted(set(summary["sqlite"]["calls_per_deploy"]) | set(summary["dynamodb"]["calls_per_deploy"])):
        md.append(f"| {op} | {summary['sqlite']['calls_per_deploy'].get(op, 0)} | {summary['dynamodb']['calls_per_deploy'].get(op, 0)} |")
    md += ["", "Every deploy (wall s): " + ", ".join(f"{r['ledger'][0]}{'*' if r['warmup'] else ''} {r['wall_s']:.3f}" for r in runs),
           "(* untimed first deploy)", f"ferry local's state.json at the end: {size} bytes"]
    write(args, "deploy", "\n".join(md) + "\n", result)


# -- 3. throughput -----------------------------------------------------------------------------


def throughput(args, ferry):
    workdir = tempfile.mkdtemp(prefix="ferry-bench-ledger-many.")
    try:
        with FerryLocal(ferry) as local:
            command = [sys.executable, os.path.join(ROOT, "bench", "promote_many.py"), "--endpoint", local.endpoint, "--ferry", ferry,
                       "--workdir", workdir, "--deploy-only", "--ledger", "both", "--limits", "off", "--rounds", str(args.rounds),
                       "--refill", "2", "--run-timeout", str(args.run_timeout), "--out", os.path.join(args.out, "ledger_throughput.json")]
            log("throughput: " + " ".join(command[1:]))
            out = subprocess.run(command, capture_output=False, stdout=subprocess.PIPE, text=True,
                                 timeout=args.run_timeout * args.rounds * 2 + 600, check=True).stdout
            size = state_size(local)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(args.out, "ledger_throughput.md"), "w") as f:
        f.write(out + f"\nferry local's state.json at the end: {size} bytes\n")
    print(out)


def write(args, name, md, raw):
    with open(os.path.join(args.out, f"ledger_{name}.md"), "w") as f:
        f.write(md)
    fb.write_json(os.path.join(args.out, f"ledger_{name}.json"), raw)
    print(md)


def main():
    args = parse_args()
    if not (1 <= args.deploys <= 100 and 1 <= args.rounds <= 20 and 1 <= args.n <= 10000):
        sys.exit("--deploys 1..100, --rounds 1..20, --n 1..10000")
    os.makedirs(args.out, exist_ok=True)
    ferry, example = build(args)
    parts = args.parts.split(",")
    machine = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(),
        "load_at_start": os.getloadavg(), "ferry": ferry,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip(),
    }
    fb.write_json(os.path.join(args.out, "ledger_machine.json"), machine)
    if "latency" in parts:
        latency(args, ferry, example)
    if "deploy" in parts:
        deploy(args, ferry)
    if "throughput" in parts:
        throughput(args, ferry)
    log(f"results in {args.out}")


if __name__ == "__main__":
    main()
