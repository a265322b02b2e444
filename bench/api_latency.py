#!/usr/bin/env python3
"""Benchmark 1: DescribeServices latency and the idle cost of ferry local.

Against a running ferry local (given by --endpoint and --pid) this script
1. measures the idle CPU and RSS of the empty ferry local (baseline);
2. creates a cluster and N services (default 100) of M tasks each (default 2) running
   `ferry sample-app` (no container health check), and waits until every service's
   deployment is COMPLETED with all tasks RUNNING;
3. measures the idle CPU % and RSS of the ferry local process (task processes excluded:
   /proc/<pid>/stat counts the process's own threads only) over --idle-seconds;
4. times sequential DescribeServices requests (10 services per call, then 1 per call)
   on one keep-alive connection with a raw HTTP/1.1 client (see ferrybench.RawClient),
   client side, after a warm-up;
5. times the same client against a task's `/health` (a trivial axum handler) as the
   floor the client and loopback HTTP impose;
6. optionally times boto3's describe_services for comparison (SDK overhead included).

Every wait is bounded in time, every loop in count. Results go to stdout and --out (JSON).
"""

import argparse
import os
import json
import sys
import time

import ferrybench as fb

CLUSTER = "bench"
FAMILY = "bench-app"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--pid", type=int, required=True, help="pid of the ferry local process")
    p.add_argument("--ferry", required=True, help="path of the ferry binary (tasks run `ferry sample-app`)")
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--tasks-per-service", type=int, default=2)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--idle-seconds", type=float, default=30.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--settle-seconds", type=float, default=5.0)
    p.add_argument("--boto3-requests", type=int, default=500, help="0 skips the boto3 comparison")
    p.add_argument("--writes", type=int, default=500,
                   help="TagResource writes timed (each is persisted with fsync before its answer); 0 skips the write runs")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--state-dir", help="ferry local's state directory (to report the state file's size)")
    return p.parse_args()


def log(msg):
    print(f"[api] {msg}", flush=True)


def service_names(n):
    return [f"svc-{i:03d}" for i in range(n)]


def setup(client, args):
    client.call("CreateCluster", {"clusterName": CLUSTER})
    registered = client.call(
        "RegisterTaskDefinition",
        {
            "family": FAMILY,
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "bench/app:1.0.0",
                    "essential": True,
                    "memory": 64,
                    "entryPoint": [args.ferry],
                    "command": ["sample-app"],
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "VERSION", "value": "1.0.0"}],
                    "stopTimeout": 5,
                }
            ],
        },
    )
    definition = registered["taskDefinition"]["taskDefinitionArn"]
    t0 = time.monotonic()
    for name in service_names(args.services):
        client.call(
            "CreateService",
            {
                "cluster": CLUSTER,
                "serviceName": name,
                "taskDefinition": definition,
                "desiredCount": args.tasks_per_service,
            },
        )
    log(f"created {args.services} services in {time.monotonic() - t0:.2f} s; waiting for {args.services * args.tasks_per_service} tasks")

    names = service_names(args.services)

    def all_settled():
        for i in range(0, len(names), 10):
            out = client.call("DescribeServices", {"cluster": CLUSTER, "services": names[i : i + 10]})
            for s in out["services"]:
                d = s["deployments"]
                if s["runningCount"] != args.tasks_per_service or len(d) != 1 or d[0]["rolloutState"] != "COMPLETED":
                    return False
        return True

    fb.wait_until("every service to reach COMPLETED", all_settled, timeout=300, every=0.5)
    settled = time.monotonic() - t0
    log(f"all {args.services} services COMPLETED with {args.tasks_per_service} RUNNING tasks {settled:.2f} s after the first CreateService")
    return definition, settled


def time_requests(client, requests, warmup):
    """Sends `warmup` then `len(requests)` prebuilt requests in order; returns latencies (ns) and sizes."""
    for i in range(warmup):
        status, _ = client.roundtrip(requests[i % len(requests)])
        if status != 200:
            raise fb.HttpError(f"warm-up request answered HTTP {status}")
    latencies = []
    sizes = []
    bad = 0
    clock = time.perf_counter_ns
    for request in requests:
        t0 = clock()
        status, body = client.roundtrip(request)
        t1 = clock()
        latencies.append(t1 - t0)
        sizes.append(len(body))
        if status != 200:
            bad += 1
    if bad:
        raise fb.HttpError(f"{bad} of {len(requests)} timed requests did not answer 200")
    return latencies, sizes


def describe_requests(client, names, per_call, count):
    out = []
    for i in range(count):
        start = (i * per_call) % len(names)
        batch = [names[(start + j) % len(names)] for j in range(per_call)]
        out.append(client.build_aws(f"{fb.ECS}.DescribeServices", {"cluster": CLUSTER, "services": batch}))
    return out


def check_describe(client, names, per_call):
    out = client.call("DescribeServices", {"cluster": CLUSTER, "services": names[:per_call]})
    if len(out["services"]) != per_call or out["failures"]:
        raise fb.HttpError(f"DescribeServices returned {len(out['services'])} services, failures {out['failures']}")


def latency_run(client, pid, names, per_call, args):
    requests = describe_requests(client, names, per_call, args.requests)
    check_describe(client, names, per_call)
    cpu0 = fb.cpu_seconds(pid)
    wall0 = time.monotonic()
    latencies, sizes = time_requests(client, requests, args.warmup)
    wall = time.monotonic() - wall0
    cpu = fb.cpu_seconds(pid) - cpu0
    summary = fb.summarize_ms(latencies)
    summary["response_bytes"] = round(sum(sizes) / len(sizes))
    total = args.requests + args.warmup
    summary["server_cpu_ms_per_request"] = round(1000 * cpu / total, 3)
    summary["requests_per_second"] = round(total / wall, 1)
    return summary


def health_floor(client, endpoint_port, args):
    floor = fb.RawClient(f"http://127.0.0.1:{endpoint_port}")
    request = floor.build_get("/health")
    try:
        latencies, _ = time_requests(floor, [request] * args.requests, args.warmup)
    finally:
        floor.close()
    return fb.summarize_ms(latencies)


def a_task_port(client):
    arns = client.call("ListTasks", {"cluster": CLUSTER, "desiredStatus": "RUNNING", "maxResults": 1})["taskArns"]
    tasks = client.call("DescribeTasks", {"cluster": CLUSTER, "tasks": arns})["tasks"]
    return tasks[0]["containers"][0]["networkBindings"][0]["hostPort"]


def boto3_run(endpoint, names, per_call, count):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return None
    ecs = boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name=fb.REGION,
        aws_access_key_id=fb.ACCOUNT,
        aws_secret_access_key="benchmark",
        config=Config(retries={"max_attempts": 1}),
    )
    batches = []
    for i in range(count + 50):
        start = (i * per_call) % len(names)
        batches.append([names[(start + j) % len(names)] for j in range(per_call)])
    for batch in batches[:50]:
        ecs.describe_services(cluster=CLUSTER, services=batch)
    latencies = []
    clock = time.perf_counter_ns
    for batch in batches[50:]:
        t0 = clock()
        ecs.describe_services(cluster=CLUSTER, services=batch)
        latencies.append(clock() - t0)
    return fb.summarize_ms(latencies)


def tag_requests(client, arns, count, salt):
    """TagResource on the services in turn: a small write that ferry local persists
    (serialize the whole state, write, fsync, rename, fsync the directory) before answering."""
    out = []
    for i in range(count):
        payload = {"resourceArn": arns[i % len(arns)], "tags": [{"key": "bench", "value": f"{salt}-{i}"}]}
        out.append(client.build_aws(f"{fb.ECS}.TagResource", payload))
    return out


def service_arns(client, names):
    arns = []
    for i in range(0, len(names), 10):
        out = client.call("DescribeServices", {"cluster": CLUSTER, "services": names[i:i + 10]})
        arns.extend(s["serviceArn"] for s in out["services"])
    return arns


def write_run(client, pid, arns, args):
    """Sequential TagResource writes on one connection: what a durable write costs."""
    requests = tag_requests(client, arns, args.writes, "seq")
    cpu0 = fb.cpu_seconds(pid)
    wall0 = time.monotonic()
    latencies, _ = time_requests(client, requests, 20)
    wall = time.monotonic() - wall0
    summary = fb.summarize_ms(latencies)
    summary["server_cpu_ms_per_request"] = round(1000 * (fb.cpu_seconds(pid) - cpu0) / (args.writes + 20), 3)
    summary["requests_per_second"] = round((args.writes + 20) / wall, 1)
    return summary


def describe_during_writes(endpoint, names, arns, args):
    """DescribeServices (10 per call) on one connection while a second connection writes
    without pause: how long a read waits behind a write being persisted. Bounded: the
    writer stops after the reads, or after `--writes` x 4 writes, whichever is first."""
    import threading
    reader = fb.RawClient(endpoint)
    writer = fb.RawClient(endpoint)
    reads = describe_requests(reader, names, 10, args.requests)
    writes = tag_requests(writer, arns, args.writes * 4, "concurrent")
    stop = threading.Event()
    done = {"writes": 0}

    def write_loop():
        for request in writes:
            if stop.is_set():
                break
            status, _ = writer.roundtrip(request)
            if status != 200:
                raise fb.HttpError(f"a concurrent write answered HTTP {status}")
            done["writes"] += 1

    thread = threading.Thread(target=write_loop, daemon=True)
    try:
        thread.start()
        latencies, _ = time_requests(reader, reads, args.warmup)
    finally:
        stop.set()
        thread.join(timeout=30)
        reader.close()
        writer.close()
    summary = fb.summarize_ms(latencies)
    summary["concurrent_writes"] = done["writes"]
    return summary


def main():
    args = parse_args()
    client = fb.RawClient(args.endpoint)
    results = {"parameters": vars(args).copy()}

    log(f"baseline: empty ferry local (pid {args.pid}) idle for {args.baseline_seconds:.0f} s")
    results["idle_empty"] = fb.sample_process(args.pid, args.baseline_seconds)
    log(f"  {json.dumps(results['idle_empty'])}")

    _, settled = setup(client, args)
    results["time_to_all_running_s"] = round(settled, 2)
    names = service_names(args.services)

    time.sleep(args.settle_seconds)
    task_pids = fb.children(args.pid)
    expected = args.services * args.tasks_per_service
    log(f"{len(task_pids)} task processes are children of ferry local (expected {expected})")
    if len(task_pids) != expected:
        raise SystemExit(f"expected {expected} task processes, found {len(task_pids)}")

    client.close()  # no connection open while idle
    log(f"idle: ferry local with {expected} tasks, {args.idle_seconds:.0f} s, no requests")
    idle = fb.sample_process(args.pid, args.idle_seconds)
    task_rss = 0
    for pid in task_pids:
        try:
            task_rss += fb.rss_kib(pid)
        except (OSError, KeyError):
            pass
    idle["task_processes"] = len(task_pids)
    idle["task_processes_rss_mib_total"] = round(task_rss / 1024, 1)
    results["idle_loaded"] = idle
    log(f"  {json.dumps(idle)}")

    results["latency"] = {}
    for per_call in (10, 1):
        client.connects = 0
        client.connect()
        log(f"DescribeServices, {per_call} per call: {args.warmup} warm-up + {args.requests} timed, one keep-alive connection")
        summary = latency_run(client, args.pid, names, per_call, args)
        summary["connections"] = client.connects
        results["latency"][f"describe_services_{per_call}"] = summary
        log(f"  {json.dumps(summary)}")
        client.close()

    client.connect()
    port = a_task_port(client)
    client.close()
    log(f"floor: GET /health on a sample-app task (127.0.0.1:{port}) with the same client")
    results["latency"]["sample_app_health_floor"] = health_floor(client, port, args)
    log(f"  {json.dumps(results['latency']['sample_app_health_floor'])}")

    if args.boto3_requests > 0:
        log(f"boto3 describe_services, 10 per call: {args.boto3_requests} timed (SDK signing and parsing included)")
        b = boto3_run(args.endpoint, names, 10, args.boto3_requests)
        if b is not None:
            results["latency"]["boto3_describe_services_10"] = b
            log(f"  {json.dumps(b)}")
        else:
            log("  boto3 is not installed; skipped")

    if args.writes > 0:
        client.connect()
        arns = service_arns(client, names)
        log(f"TagResource, sequential: 20 warm-up + {args.writes} timed writes (each persisted before its answer)")
        results["latency"]["tag_resource_durable"] = write_run(client, args.pid, arns, args)
        log(f"  {json.dumps(results['latency']['tag_resource_durable'])}")
        client.close()
        log(f"DescribeServices, 10 per call, {args.requests} timed while another connection writes")
        results["latency"]["describe_services_10_during_writes"] = describe_during_writes(args.endpoint, names, arns, args)
        log(f"  {json.dumps(results['latency']['describe_services_10_during_writes'])}")
        if args.state_dir:
            results["state_file_bytes"] = os.path.getsize(os.path.join(args.state_dir, "state.json"))

    results["rss_after_latency_mib"] = round(fb.rss_kib(args.pid) / 1024, 1)
    fb.write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
