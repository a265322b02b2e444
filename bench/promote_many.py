#!/usr/bin/env python3
"""Fifty services promoted in one run: `ferry promote dev stage` against ferry local with
AWS-like rate limits on, compared with promoting one service.

Setup (rate limits off; not timed), against a running ferry local:
- an ECR repository `app` with two image versions (1.0.0 and 1.1.0, manifests with
  different config digests, no layers: ferry local only needs the image to exist);
- clusters `dev` and `stage`, each with the services s00..s49 and `solo` (51 services),
  1 task each, on a bootstrap revision running 1.0.0. The container is a shell that sleeps
  (`/bin/sh -c "exec sleep 600"`, 16 MB, stopTimeout 1, no health check), the template of
  crates/ferry/tests/common/mod.rs SLEEPER; deployment configuration minimumHealthyPercent
  100, maximumPercent 200, circuit breaker on;
- a ferry.toml with both environments (stage: promote_from = "dev") and the 51 services
  (template sleeper.json, repository app).

Then rate limits are turned on (`POST /_ferry/rate-limits`, body --limits; default `{}` =
ferry local's default buckets) and, per round (--rounds, versions alternate 1.1.0, 1.0.0, ...):
1. `ferry deploy dev s00=V ... s49=V solo=V --output json`: dev runs V (timed, for the record);
2. wait --refill seconds (the token buckets refill: an idle CI runner's starting point);
3. promote one: `ferry promote dev stage --services solo --output json`;
4. wait --refill seconds;
5. promote fifty: `ferry promote dev stage --services s00,...,s49 --output json`.
(The order of 3 and 5 swaps every other round.) For each ferry run the script records:
the wall time; when each JSON line arrived (so the phases: before the first event =
reading both environments and creating the release; preflight; starts; watch); the
outcome per service; "Throttl" anywhere in stdout/stderr (errors surfaced to the user);
ferry local's `throttledRequests` before and after (`GET /_ferry/status`: requests it
answered with ThrottlingException, which the SDK retried); and the API calls by operation
(`DELETE /_ferry/calls` before, `GET /_ferry/calls` after). After each promotion it checks
that stage runs dev's task definition image for every promoted service.

With `--ledger dynamodb`, the ferry.toml gets a `[ledger]` section (backend dynamodb, table
--table, on ferry local) and setup runs `ferry ledger init`; every ferry run then uses that
shared table (`--ledger dynamodb://TABLE`). `--ledger both` (with `--deploy-only`) writes the
section too, and each round deploys twice, once per ledger (SQLite file and table, the order
swapping every round, versions alternating), so the two are measured side by side on one
ferry local. `--deploy-only` skips stage and the promotions: each round is the timed
`ferry deploy dev s00=V ... s49=V solo=V` (issue 10's throughput benchmark).

Standard library only; every wait and every command has a time limit.
"""

import argparse
import json
import os
import re
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
VERSIONS = ("1.1.0", "1.0.0")
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"

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
    p.add_argument("--services", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--refill", type=float, default=10.0, help="seconds to wait before each timed run")
    p.add_argument("--limits", default="{}",
                   help='body of POST /_ferry/rate-limits (default {}: the default buckets), or "off"')
    p.add_argument("--limit-deploy", action="store_true",
                   help="keep rate limits on for the dev deploys as well (default: off; they are setup)")
    p.add_argument("--run-timeout", type=float, default=300.0, help="time limit of one ferry command, seconds")
    p.add_argument("--workdir", required=True, help="the project directory (ferry.toml, templates, ledger)")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--ledger", choices=("sqlite", "dynamodb", "both"), default="sqlite",
                   help="the ledger ferry runs with: the SQLite file in --workdir (default), a DynamoDB table on ferry "
                        "local (a [ledger] section; `ferry ledger init` in setup), or both in turn (--deploy-only)")
    p.add_argument("--table", default="ferry-ledger", help="the DynamoDB table of --ledger dynamodb|both")
    p.add_argument("--deploy-only", action="store_true",
                   help="only dev and only the timed 50-service deploys (no stage, no promotions)")
    args = p.parse_args()
    if args.ledger == "both" and not args.deploy_only:
        p.error("--ledger both needs --deploy-only")
    return args


def log(msg):
    print(f"[promote] {msg}", file=sys.stderr, flush=True)


def admin(endpoint, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


# -- setup --------------------------------------------------------------------------------------


def setup(client, args, names):
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
    clusters = ("dev",) if args.deploy_only else ("dev", "stage")
    for cluster in clusters:
        client.call("CreateCluster", {"clusterName": cluster})
    for name in names:
        td = client.call("RegisterTaskDefinition", {
            "family": name,
            "containerDefinitions": [{
                "name": "app", "image": f"{IMAGE}:1.0.0", "essential": True, "memory": 16,
                "entryPoint": ["/bin/sh", "-c"], "command": ["exec sleep 600"], "stopTimeout": 1,
                "environment": [{"name": "VERSION", "value": "1.0.0"}],
            }],
        })["taskDefinition"]["taskDefinitionArn"]
        for cluster in clusters:
            client.call("CreateService", {
                "cluster": cluster, "serviceName": name, "taskDefinition": td, "desiredCount": 1,
                "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                            "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
            })
    for cluster in clusters:
        fb.wait_until(f"51 services of {cluster} running", lambda c=cluster: all_steady(client, c, names), 120)

    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "sleeper.json"), "w") as f:
        f.write(SLEEPER)
    config = ""
    for env, extra in (("dev", ""), ("stage", 'promote_from = "dev"\n')):
        config += (f'[environments.{env}]\nregion = "{REGION}"\ncluster = "{env}"\nendpoint_url = "{args.endpoint}"\n'
                   f'credentials = "ferry-local"\nbake = "0s"\n{extra}\n')
    for name in names:
        config += f'[services.{name}]\nrepository = "{REPOSITORY}"\ncontainer = "app"\ntemplate = "sleeper.json"\n\n'
    if args.ledger != "sqlite":
        config += (f'[ledger]\nbackend = "dynamodb"\ntable = "{args.table}"\nregion = "{REGION}"\n'
                   f'endpoint_url = "{args.endpoint}"\ncredentials = "ferry-local"\n')
    with open(os.path.join(args.workdir, "ferry.toml"), "w") as f:
        f.write(config)
    if args.ledger != "sqlite":
        init = subprocess.run([args.ferry, "ledger", "init", "--config", os.path.join(args.workdir, "ferry.toml")],
                              capture_output=True, text=True, timeout=60, cwd=args.workdir, env=ferry_env())
        if init.returncode != 0:
            sys.exit(f"ferry ledger init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        log(f"ferry ledger init: {init.stdout.strip() or init.stderr.strip()}")


def ferry_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(NO_COLOR="1", FERRY_USER="bench")
    return env


def ledger_flag(args, ledger):
    """`--ledger` for one run: the SQLite file in the workdir, or the shared table."""
    if ledger == "dynamodb":
        return ["--ledger", f"dynamodb://{args.table}"]
    return ["--ledger", os.path.join(args.workdir, "ledger.sqlite")]


def describe(client, cluster, names):
    out = []
    for i in range(0, len(names), 10):
        out += client.call("DescribeServices", {"cluster": cluster, "services": names[i:i + 10]})["services"]
    return out


def all_steady(client, cluster, names):
    return all(s["runningCount"] == 1 and len(s["deployments"]) == 1 for s in describe(client, cluster, names))


def digests(client, cluster, names):
    """service → the `ferry:digest` tag of the revision it runs (what ferry deployed)."""
    out = {}
    for service in describe(client, cluster, names):
        answer = client.call("DescribeTaskDefinition", {"taskDefinition": service["taskDefinition"], "include": ["TAGS"]})
        tags = {t["key"]: t["value"] for t in answer.get("tags", [])}
        out[service["serviceName"]] = tags.get("ferry:digest")
    return out


def unthrottled(args, fn):
    """Runs the script's own checks with rate limits off, so they neither wait nor use
    tokens of the buckets ferry is measured against (turning them back on keeps the buckets)."""
    admin(args.endpoint, "DELETE", "/_ferry/rate-limits")
    try:
        return fn()
    finally:
        if args.limits != "off":
            admin(args.endpoint, "POST", "/_ferry/rate-limits", args.limits.encode())


# -- one ferry run --------------------------------------------------------------------------------


def run_ferry(args, command, label, ledger=None):
    """Runs ferry, timestamps each stdout line as it arrives; returns a record of the run."""
    admin(args.endpoint, "DELETE", "/_ferry/calls")
    throttled_before = admin(args.endpoint, "GET", "/_ferry/status")["throttledRequests"]
    ledger = ledger or args.ledger
    full = [args.ferry, *command, "--output", "json", "--config", os.path.join(args.workdir, "ferry.toml"),
            *ledger_flag(args, ledger)]
    env = ferry_env()
    # The SDK's retry strategy logs its delays at debug: the evidence of where a run waited.
    env.update(FERRY_LOG="aws_smithy_runtime::client::retries=debug")
    lines = []
    t0 = time.monotonic()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=args.workdir)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    killer = threading.Timer(args.run_timeout, proc.kill)
    killer.start()
    try:
        for line in proc.stdout:
            lines.append((time.monotonic() - t0, line))
        code = proc.wait()
    finally:
        killer.cancel()
    wall = time.monotonic() - t0
    reader.join(10)
    stdout_text = "".join(line for _, line in lines)
    stderr_text = "".join(stderr)
    # What the user sees on stderr: everything but the SDK debug log this script turned on.
    user_stderr = "\n".join(l for l in ANSI.sub("", stderr_text).splitlines() if "aws_smithy_runtime" not in l)
    throttled_after = admin(args.endpoint, "GET", "/_ferry/status")["throttledRequests"]
    calls = admin(args.endpoint, "GET", "/_ferry/calls")
    events, result = [], None
    for at, line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if value.get("type") == "event":
            events.append((at, value))
        elif value.get("type") == "result":
            result = value
    phases = phase_times(events, wall)
    outcomes = {}
    for service in (result or {}).get("services", []):
        outcomes[service["outcome"]] = outcomes.get(service["outcome"], 0) + 1
    record = {
        "label": label,
        "ledger": ledger,
        "command": " ".join(command[:3]) + (" ..." if len(command) > 3 else ""),
        "exit_code": code,
        "wall_s": round(wall, 3),
        "phases_s": phases,
        "outcomes": outcomes,
        "throttling_in_output": len(re.findall(r"[Tt]hrottl", stdout_text + user_stderr)),
        "throttling_lines": [l[:300] for l in (stdout_text + user_stderr).splitlines() if re.search(r"[Tt]hrottl", l)][:5],
        "throttled_by_ferry_local": throttled_after - throttled_before,
        "calls_total": calls["total"],
        "calls": calls["calls"],
        "sdk": sdk_delays(stderr_text),
        "stderr_tail": user_stderr[-2000:],
    }
    if code != 0:
        record["stdout_tail"] = stdout_text[-3000:]
    log(f"{label}: exit {code}, {wall:.2f} s, phases {phases}, outcomes {outcomes}, {calls['total']} calls, "
        f"throttled {record['throttled_by_ferry_local']}, 'Throttl' in output {record['throttling_in_output']}, "
        f"SDK retry delays {record['sdk']['retry_delays_s']}")
    return record


ANSI = re.compile(r"\x1b\[[0-9;]*m")
RETRY_DELAY = re.compile(r"rate limiter has requested a ([0-9.]+)(ms|s) delay before retrying")
SEND_DELAY = re.compile(r"client rate limiter delayed a request amount=1\.0 .*sleep_time=([0-9.]+)")


def sdk_delays(stderr):
    """What the SDK's adaptive retry mode made ferry wait: the delay before each retry of a
    throttled request, and the delays its client-side rate limiter put on first attempts.
    (Delays of concurrent requests overlap: sums are not wall time.)"""
    text = "\n".join(l for l in ANSI.sub("", stderr).splitlines() if "aws_smithy_runtime" in l)
    retries = [float(v) / (1000 if unit == "ms" else 1) for v, unit in RETRY_DELAY.findall(text)]
    sends = [float(v) for v in SEND_DELAY.findall(text)]
    return {
        "retry_delays_s": [round(d, 2) for d in retries],
        "limiter_enabled": text.count("client rate limiting has been enabled"),
        "delayed_first_attempts": len(sends),
        "delayed_first_attempts_sum_s": round(sum(sends), 2),
    }


def phase_times(events, wall):
    """Seconds since spawn at which: the first event (everything before: both environments
    read, the release created), the last preflight, the last `updated` (every service
    started), the last `finished`; and the process exit."""
    def last(kind, phase=None):
        times = [at for at, e in events if e.get("event") == kind and (phase is None or e.get("phase") == phase)]
        return round(max(times), 3) if times else None

    return {
        "first_event": round(events[0][0], 3) if events else None,
        "preflight_done": last("phase", "preflight"),
        "started": last("phase", "updated"),
        "finished": last("finished"),
        "exit": round(wall, 3),
    }


def main():
    args = parse_args()
    names = [f"s{i:02d}" for i in range(args.services)] + ["solo"]
    fifty = names[:-1]
    client = fb.RawClient(args.endpoint)
    admin(args.endpoint, "DELETE", "/_ferry/rate-limits")
    log(f"setup: {len(names)} services in dev" + ("" if args.deploy_only else " and in stage"))
    t0 = time.monotonic()
    setup(client, args, names)
    log(f"setup done in {time.monotonic() - t0:.1f} s")
    if args.limits != "off":
        admin(args.endpoint, "POST", "/_ferry/rate-limits", args.limits.encode())
    log(f"rate limits: {args.limits}")

    results = {"services": args.services, "limits": args.limits if args.limits == "off" else json.loads(args.limits),
               "refill_s": args.refill, "ledger": args.ledger, "rounds": []}
    if args.deploy_only:
        deploy_rounds(args, client, names, results)
        admin(args.endpoint, "DELETE", "/_ferry/rate-limits")
        fb.write_json(args.out, results)
        print_deploys(results)
        return
    for r in range(args.rounds):
        version = VERSIONS[r % 2]
        round_ = {"version": version, "runs": []}
        command = ["deploy", "dev", *[f"{n}={version}" for n in names]]
        label = f"round {r + 1}: deploy dev ({len(names)})"
        if args.limit_deploy:
            deployed = run_ferry(args, command, label)
        else:
            deployed = unthrottled(args, lambda: run_ferry(args, command, label + ", rate limits off"))
        round_["runs"].append(deployed)
        if deployed["exit_code"] != 0:
            sys.exit(f"deploying dev failed:\n{deployed.get('stdout_tail')}\n{deployed['stderr_tail']}")
        dev = unthrottled(args, lambda: digests(client, "dev", names))
        order = [("one", ["solo"]), ("fifty", fifty)]
        if r % 2:
            order.reverse()
        for label, services in order:
            time.sleep(args.refill)
            record = run_ferry(args, ["promote", "dev", "stage", "--services", ",".join(services)],
                               f"round {r + 1}: promote {label} ({len(services)})")
            record["kind"] = label
            stage = unthrottled(args, lambda: digests(client, "stage", services))
            record["stage_matches_dev"] = all(stage[s] == dev[s] and dev[s] for s in services)
            if not record["stage_matches_dev"]:
                log(f"stage does not run dev's digests: {[(s, dev[s], stage[s]) for s in services if stage[s] != dev[s]][:3]}")
            round_["runs"].append(record)
        results["rounds"].append(round_)
        time.sleep(args.refill)
    admin(args.endpoint, "DELETE", "/_ferry/rate-limits")
    summarize(results)
    fb.write_json(args.out, results)
    print_markdown(results)


def deploy_rounds(args, client, names, results):
    """--deploy-only: per round, the timed `ferry deploy dev` of every service with each ledger
    (--ledger both: SQLite and DynamoDB, the order swapping every round); every deploy moves
    every service to the other version."""
    ledgers = ["sqlite", "dynamodb"] if args.ledger == "both" else [args.ledger]
    deploys = 0
    previous = None
    for r in range(args.rounds):
        order = ledgers if r % 2 == 0 else list(reversed(ledgers))
        round_ = {"runs": []}
        for ledger in order:
            version = VERSIONS[deploys % 2]
            deploys += 1
            command = ["deploy", "dev", *[f"{n}={version}" for n in names]]
            label = f"round {r + 1}: deploy dev ({len(names)}) {version}, {ledger}"
            if args.limit_deploy:
                record = run_ferry(args, command, label, ledger)
            else:
                record = unthrottled(args, lambda: run_ferry(args, command, label, ledger))
            record["version"] = version
            if record["exit_code"] != 0:
                sys.exit(f"deploying dev failed:\n{record.get('stdout_tail')}\n{record['stderr_tail']}")
            # Every service runs one digest, and not the one the previous deploy left.
            running = set(unthrottled(args, lambda: digests(client, "dev", names)).values())
            record["dev_runs_version"] = len(running) == 1 and None not in running and running != previous
            if not record["dev_runs_version"]:
                log(f"dev does not run one new digest after the deploy: {sorted(map(str, running))[:3]}")
            previous = running
            round_["runs"].append(record)
            time.sleep(args.refill)
        results["rounds"].append(round_)
    import statistics

    for ledger in ledgers:
        walls = [run["wall_s"] for rnd in results["rounds"] for run in rnd["runs"] if run["ledger"] == ledger]
        results[f"deploy_{ledger}_wall_s"] = walls
        results[f"deploy_{ledger}_median_s"] = round(statistics.median(walls), 3)


def print_deploys(results):
    print(f"`ferry deploy dev` of {results['services'] + 1} services; rate limits: {json.dumps(results['limits'])}.")
    print()
    print("| round | ledger | version | exit | wall (s) | first event | preflight done | all started | all finished "
          "| outcomes | API calls | DynamoDB calls | dev runs it |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, rnd in enumerate(results["rounds"], 1):
        for run in rnd["runs"]:
            p = run["phases_s"]
            dynamo = sum(n for op, n in run["calls"].items() if op.lower().startswith("dynamodb"))
            print(f"| {i} | {run['ledger']} | {run['version']} | {run['exit_code']} | {run['wall_s']:.2f} | {p['first_event']} "
                  f"| {p['preflight_done']} | {p['started']} | {p['finished']} | {run['outcomes']} | {run['calls_total']} "
                  f"| {dynamo} | {run['dev_runs_version']} |")
    print()
    for key in sorted(k for k in results if k.startswith("deploy_") and k.endswith("_median_s")):
        print(f"Median wall time, {key[len('deploy_'):-len('_median_s')]}: {results[key]} s")
    print()
    last = results["rounds"][-1]["runs"]
    ops = sorted({op for run in last for op in run["calls"]})
    print("API calls by operation (last round):")
    print()
    print("| operation | " + " | ".join(run["ledger"] for run in last) + " |")
    print("| --- |" + " --- |" * len(last))
    for op in ops:
        print(f"| {op} | " + " | ".join(str(run["calls"].get(op, 0)) for run in last) + " |")


def summarize(results):
    import statistics

    for kind in ("one", "fifty"):
        runs = [run for rnd in results["rounds"] for run in rnd["runs"] if run.get("kind") == kind]
        results[f"{kind}_wall_s"] = [run["wall_s"] for run in runs]
        results[f"{kind}_median_s"] = round(statistics.median(results[f"{kind}_wall_s"]), 3)
    results["ratio_median"] = round(results["fifty_median_s"] / results["one_median_s"], 2)


def print_markdown(results):
    print(f"Rate limits: {json.dumps(results['limits'])} (POST /_ferry/rate-limits); buckets refilled {results['refill_s']} s before each run.")
    print()
    print("| round | run | exit | wall (s) | first event | preflight done | all started | all finished | outcomes "
          "| 'Throttl' in output | throttled by ferry local (retried) | SDK delays before retries (s) | API calls | stage = dev |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, rnd in enumerate(results["rounds"], 1):
        for run in rnd["runs"]:
            p = run["phases_s"]
            print(f"| {i} ({rnd['version']}) | {run['label'].split(': ', 1)[1]} | {run['exit_code']} | {run['wall_s']:.2f} "
                  f"| {p['first_event']} | {p['preflight_done']} | {p['started']} | {p['finished']} "
                  f"| {run['outcomes']} | {run['throttling_in_output']} | {run['throttled_by_ferry_local']} "
                  f"| {run['sdk']['retry_delays_s']} | {run['calls_total']} | {run.get('stage_matches_dev', '')} |")
    print()
    print(f"Median wall time: one service {results['one_median_s']} s, fifty {results['fifty_median_s']} s, "
          f"ratio {results['ratio_median']}× (goal ≤ 1.5×).")
    print()
    last = results["rounds"][-1]["runs"]
    print("API calls by operation (last round):")
    print()
    ops = sorted({op for run in last for op in run["calls"]})
    print("| operation | " + " | ".join(run["label"].split(": ", 1)[1] for run in last) + " |")
    print("| --- |" + " --- |" * len(last))
    for op in ops:
        print(f"| {op} | " + " | ".join(str(run["calls"].get(op, 0)) for run in last) + " |")


if __name__ == "__main__":
    main()
