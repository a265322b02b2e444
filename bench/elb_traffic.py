#!/usr/bin/env python3
"""Issue 11's benchmarks: ferry local's load balancers under real traffic.

Three measures, each against a running ferry local (--endpoint, --pid), each a subcommand:

zero-downtime
    A service of 4 tasks (`ferry sample-app`) behind an ALB listener. `hey` sends
    --rate requests/s (--concurrency workers, each rate/concurrency per second) to the
    listener's DNSName:Port for --seconds; meanwhile the script rolls the service to a new
    task definition revision (UpdateService) and waits for the deployment to complete,
    again and again, until --deploy-window seconds have passed. Reported: requests sent,
    failed (any status but 200, any transport error), p50/p99 latency (hey's), the
    deployments completed during the load, and the target states DescribeTargetHealth showed.

overhead
    A service of 1 task behind a listener. The same load generator (`hey`, and `wrk` when
    installed) against the listener and straight against the task's host port, alternating,
    --rounds times: latency at a fixed rate (--latency-rate requests/s) and throughput with
    no rate limit (--throughput-concurrency connections). The CPU time ferry local spent in
    each run is reported too. When Debian's haproxy is installed, the same runs go through a
    one-thread haproxy in front of the same task as well: what an established proxy costs on
    the same machine.

idle
    20 load balancers (one listener each), 50 target groups (each forwarded to by a listener
    rule or default action, so each is health-checked), 100 targets (2 per group) served by
    one asyncio process listening on 100 ports. Idle CPU and RSS of the ferry local process
    (its own threads; the target process is apart) over --idle-seconds, first with AWS's
    default health check settings (30 s interval), then with the 5 s minimum interval.

Every wait is bounded in time, every loop in count. Results: a markdown summary on stdout,
everything as JSON in --out. Needs boto3 (the bench venv) and Debian's `hey` (`wrk` optional).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

import ferrybench as fb

INSTANCE = "i-0f0e0d0c0b0a09080"  # ferry local's one instance: targets on 127.0.0.1
VPC = "vpc-0a1b2c3d4e5f60000"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]


def log(msg):
    print(f"[elb] {msg}", file=sys.stderr, flush=True)


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name=fb.REGION, aws_access_key_id=fb.ACCOUNT,
              aws_secret_access_key="bench",
              config=Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=60))
    return boto3.client("ecs", **kw), boto3.client("elbv2", **kw)


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- load generators ---------------------------------------------------------------------------


def parse_hey(text):
    """hey's summary → numbers: requests/s, latency percentiles (ms), status codes, errors."""
    out = {"status": {}, "errors": {}, "latency_ms": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_second"] = float(m.group(1)) if m else None
    m = re.search(r"Total:\s+([\d.]+) secs", text)
    out["seconds"] = float(m.group(1)) if m else None
    for pct, secs in re.findall(r"\s(\d+)% in ([\d.]+) secs", text):
        out["latency_ms"][f"p{pct}"] = round(float(secs) * 1000, 3)
    for name in ("Slowest", "Fastest", "Average"):
        m = re.search(rf"{name}:\s+([\d.]+) secs", text)
        if m:
            out["latency_ms"][name.lower()] = round(float(m.group(1)) * 1000, 3)
    status = text.split("Status code distribution:", 1)
    if len(status) == 2:
        for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", status[1].split("Error distribution:")[0]):
            out["status"][code] = int(n)
    errors = text.split("Error distribution:", 1)
    if len(errors) == 2:
        for n, what in re.findall(r"\[(\d+)\]\s+(.+)", errors[1]):
            out["errors"][what.strip()] = int(n)
    ok = out["status"].get("200", 0)
    out["sent"] = sum(out["status"].values()) + sum(out["errors"].values())
    out["failed"] = out["sent"] - ok
    return out


def hey(url, *, seconds, concurrency, rate_per_worker=None, timeout=20):
    command = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-t", str(timeout)]
    if rate_per_worker:
        command += ["-q", str(rate_per_worker)]
    command.append(url)
    return command


def run_hey(url, **kw):
    command = hey(url, **kw)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=kw["seconds"] + 120)
    result = parse_hey(proc.stdout)
    result["command"] = " ".join(command)
    return result


def parse_wrk(text):
    out = {"latency_ms": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_second"] = float(m.group(1)) if m else None
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for pct, value, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out["latency_ms"][f"p{pct}"] = round(float(value) * unit[u], 3)
    m = re.search(r"(\d+) requests in", text)
    out["sent"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


def run_wrk(url, *, seconds, connections, threads=2):
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    result = parse_wrk(proc.stdout)
    result["command"] = " ".join(command)
    return result


# -- the setup every measure shares ------------------------------------------------------------


def sample_app(ferry, version, start_delay_ms=0):
    environment = [{"name": "VERSION", "value": version}]
    if start_delay_ms:
        # The app listens only after this long, as a real service warms up: its target
        # stays `initial` (no traffic) until a health check passes.
        environment.append({"name": "SAMPLE_START_DELAY_MS", "value": str(start_delay_ms)})
    return {
        "name": "app",
        "image": f"bench/app:{version}",
        "essential": True,
        "memory": 64,
        "entryPoint": [ferry],
        "command": ["sample-app"],
        "portMappings": [{"containerPort": 8080}],
        "environment": environment,
        "stopTimeout": 5,
    }


def load_balancer(elbv2, name):
    lb = elbv2.create_load_balancer(Name=name, Subnets=SUBNETS, Scheme="internal")["LoadBalancers"][0]
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    host = socket.gethostbyname(lb["DNSName"])
    return lb, host


def target_group(elbv2, name, *, interval=5, deregistration_delay=None, **extra):
    settings = dict(HealthCheckPath="/health", HealthCheckIntervalSeconds=interval, HealthCheckTimeoutSeconds=2,
                    HealthyThresholdCount=2, UnhealthyThresholdCount=2)
    settings.update(extra)
    tg = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=VPC, TargetType="instance",
                                   **settings)["TargetGroups"][0]
    if deregistration_delay is not None:
        elbv2.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
    return tg["TargetGroupArn"]


def listener(elbv2, lb, host, group):
    port = free_port(host)
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
    return port


def running_tasks(ecs, cluster, service):
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def healthy_ports(elbv2, group):
    return sorted(d["Target"]["Port"] for d in elbv2.describe_target_health(TargetGroupArn=group)
                  ["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy")


def service_behind(ecs, elbv2, cluster, name, family, group, count, ferry, version="1"):
    ecs.register_task_definition(family=family, containerDefinitions=[sample_app(ferry, version)])
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=family, desiredCount=count,
                       healthCheckGracePeriodSeconds=10,
                       loadBalancers=[{"targetGroupArn": group, "containerName": "app", "containerPort": 8080}],
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
    return wait_stable(ecs, elbv2, cluster, name, group, count, timeout=120)


def wait_stable(ecs, elbv2, cluster, name, group, count, timeout):
    def stable():
        svc = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
        if len(svc["deployments"]) != 1 or svc["deployments"][0].get("rolloutState") != "COMPLETED":
            return None
        tasks = running_tasks(ecs, cluster, name)
        ports = sorted(b["hostPort"] for t in tasks for c in t["containers"] for b in c.get("networkBindings", []))
        return len(tasks) == count and healthy_ports(elbv2, group) == ports and tasks

    return fb.wait_until(f"{name}: {count} tasks RUNNING and healthy", stable, timeout=timeout, every=0.25)


# -- zero downtime -----------------------------------------------------------------------------


def zero_downtime(args):
    ecs, elbv2 = clients(args.endpoint)
    cluster, name, family = "bench-zd", "web", "bench-zd-app"
    ecs.create_cluster(clusterName=cluster)
    lb, host = load_balancer(elbv2, "bench-zd")
    group = target_group(elbv2, "bench-zd", deregistration_delay=args.deregistration_delay)
    port = listener(elbv2, lb, host, group)
    log(f"listener http://{lb['DNSName']}:{port}/ ; starting {args.tasks} tasks")
    service_behind(ecs, elbv2, cluster, name, family, group, args.tasks, args.ferry)

    states_seen = {}
    watching = threading.Event()
    watching.set()

    def watch():
        deadline = time.monotonic() + args.seconds + 120
        while watching.is_set() and time.monotonic() < deadline:
            for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]:
                key = d["TargetHealth"]["State"]
                states_seen[key] = states_seen.get(key, 0) + 1
            time.sleep(0.5)

    url = f"http://{lb['DNSName']}:{port}/"
    command = hey(url, seconds=args.seconds, concurrency=args.concurrency,
                  rate_per_worker=max(1, round(args.rate / args.concurrency)))
    log(" ".join(command))
    started = time.monotonic()
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deploys = []
    try:
        time.sleep(args.warmup)
        version = 1
        for _ in range(100):  # bounded: stops when the deploy window is over
            if time.monotonic() - started > args.deploy_window:
                break
            version += 1
            ecs.register_task_definition(family=family, containerDefinitions=[
                sample_app(args.ferry, str(version), args.start_delay_ms)])
            t0 = time.monotonic()
            ecs.update_service(cluster=cluster, service=name, taskDefinition=family)
            wait_stable(ecs, elbv2, cluster, name, group, args.tasks, timeout=180)
            deploys.append({"version": version, "started_s": round(t0 - started, 1),
                            "seconds": round(time.monotonic() - t0, 1)})
            log(f"deploy to revision {version} done in {deploys[-1]['seconds']} s")
        out, err = load.communicate(timeout=args.seconds + 120)
    finally:
        if load.poll() is None:
            load.kill()
        watching.clear()
        watcher.join(timeout=10)
    result = parse_hey(out)
    result["command"] = " ".join(command)
    result["stderr"] = err[-2000:]
    svc = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    events = [e["message"] for e in svc["events"]]
    return {
        "hey": result,
        "deploys": deploys,
        "deploys_within_load": sum(1 for d in deploys if d["started_s"] + d["seconds"] <= args.seconds),
        "target_states_seen": states_seen,
        "events_draining": sum("has begun draining connections" in m for m in events),
        "settings": {k: getattr(args, k) for k in ("tasks", "rate", "concurrency", "seconds", "deploy_window",
                                                  "deregistration_delay", "start_delay_ms")},
    }


# -- proxy overhead ----------------------------------------------------------------------------


def overhead(args):
    ecs, elbv2 = clients(args.endpoint)
    cluster, name, family = "bench-ovh", "one", "bench-ovh-app"
    ecs.create_cluster(clusterName=cluster)
    lb, host = load_balancer(elbv2, "bench-ovh")
    group = target_group(elbv2, "bench-ovh")
    port = listener(elbv2, lb, host, group)
    tasks = service_behind(ecs, elbv2, cluster, name, family, group, 1, args.ferry)
    task_port = tasks[0]["containers"][0]["networkBindings"][0]["hostPort"]
    urls = {"listener": f"http://{lb['DNSName']}:{port}/", "direct": f"http://127.0.0.1:{task_port}/"}
    log(f"listener {urls['listener']} ; task {urls['direct']}")
    proxy = start_haproxy(task_port) if shutil.which("haproxy") and not args.no_haproxy else None
    if proxy:
        urls["haproxy"] = proxy[1]
        log(f"haproxy (1 thread, keep-alive both sides) {urls['haproxy']}")
    rounds = []
    try:
        for r in range(args.rounds):
            rounds.append(overhead_round(args, urls, r))
    finally:
        if proxy:
            proxy[0].kill()
            proxy[0].wait(timeout=10)
    return {"urls": urls, "rounds": rounds, "haproxy": haproxy_version() if proxy else None,
            "settings": {k: getattr(args, k) for k in ("rounds", "run_seconds", "latency_rate", "latency_concurrency",
                                                      "throughput_concurrency")}}


HAPROXY_CONFIG = """
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend listener
    bind 127.0.0.1:{port}
    default_backend task
backend task
    http-reuse always
    server task 127.0.0.1:{task_port}
"""


def start_haproxy(task_port):
    """Debian's haproxy in front of the same task, as a known-good proxy on this machine."""
    import tempfile

    port = free_port("127.0.0.1")
    config = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    config.write(HAPROXY_CONFIG.format(port=port, task_port=task_port))
    config.close()
    process = subprocess.Popen(["haproxy", "-db", "-f", config.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)

    def listening():
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited {process.returncode}: {process.stderr.read()[-1000:]}")
        return _answers(port)

    fb.wait_until("haproxy listening", listening, timeout=10)
    return process, f"http://127.0.0.1:{port}/"


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def haproxy_version():
    out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else None


def overhead_round(args, urls, r):
    """One round: each side in turn, latency at a fixed rate then throughput (hey, wrk)."""
    row = {}
    for side in urls:
        cpu0 = fb.cpu_seconds(args.pid)
        latency = run_hey(urls[side], seconds=args.run_seconds, concurrency=args.latency_concurrency,
                          rate_per_worker=max(1, round(args.latency_rate / args.latency_concurrency)))
        cpu1 = fb.cpu_seconds(args.pid)
        throughput = run_hey(urls[side], seconds=args.run_seconds, concurrency=args.throughput_concurrency)
        cpu2 = fb.cpu_seconds(args.pid)
        row[side] = {"hey_latency": latency, "hey_throughput": throughput,
                     "ferry_cpu_seconds": {"latency_run": round(cpu1 - cpu0, 2), "throughput_run": round(cpu2 - cpu1, 2)}}
        if shutil.which("wrk"):
            row[side]["wrk"] = run_wrk(urls[side], seconds=args.run_seconds, connections=args.throughput_concurrency)
        log(f"round {r + 1} {side}: p50 {latency['latency_ms'].get('p50')} ms, p99 {latency['latency_ms'].get('p99')} ms,"
            f" max {throughput['requests_per_second']} req/s (hey)"
            + (f", {row[side]['wrk']['requests_per_second']} req/s (wrk)" if "wrk" in row[side] else ""))
    return row


# -- idle cost ---------------------------------------------------------------------------------

TARGETS_APP = r"""
import asyncio, sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()

async def main(ports):
    servers = [await asyncio.start_server(serve, "127.0.0.1", p) for p in ports]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))

asyncio.run(main([int(p) for p in sys.argv[1:]]))
"""


def idle(args):
    ecs, elbv2 = clients(args.endpoint)
    baseline = fb.sample_process(args.pid, args.baseline_seconds)
    log(f"baseline (empty): {baseline['cpu_percent']} % CPU, {baseline['rss_mib_max']} MiB")
    ports = [free_port("127.0.0.1") for _ in range(args.targets)]
    targets = subprocess.Popen([sys.executable, "-c", TARGETS_APP, *map(str, ports)], stdout=subprocess.PIPE, text=True)
    try:
        assert targets.stdout.readline().strip() == "ready"
        groups = [target_group(elbv2, f"idle-{i:02d}", interval=30, HealthCheckTimeoutSeconds=5,
                               HealthyThresholdCount=5) for i in range(args.target_groups)]
        per_group = args.targets // args.target_groups
        for i, group in enumerate(groups):
            chunk = ports[i * per_group:(i + 1) * per_group]
            elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": INSTANCE, "Port": p} for p in chunk])
        lbs = []
        for i in range(args.load_balancers):
            lb, host = load_balancer(elbv2, f"idle-{i:02d}")
            lbs.append((lb, host))
        # Each group is used by one listener: the first 20 as default actions, the others as
        # rules of the listeners in turn (a group no listener uses is not health-checked).
        listeners = []
        for i, (lb, host) in enumerate(lbs):
            listeners.append(elbv2.create_listener(
                LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=free_port(host),
                DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[i]}])["Listeners"][0]["ListenerArn"])
        for j, group in enumerate(groups[len(lbs):]):
            elbv2.create_rule(ListenerArn=listeners[j % len(listeners)], Priority=10 + j,
                              Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/g{j}/*"]}}],
                              Actions=[{"Type": "forward", "TargetGroupArn": group}])

        def all_healthy():
            n = sum(len(healthy_ports(elbv2, g)) for g in groups)
            return n == args.targets and n

        log(f"{args.load_balancers} load balancers, {len(groups)} target groups, {args.targets} targets; "
            "waiting for every target to be healthy (a new target needs one passed check)")
        t0 = time.monotonic()
        fb.wait_until("every target healthy", all_healthy, timeout=args.healthy_timeout, every=2)
        became_healthy = round(time.monotonic() - t0, 1)
        time.sleep(args.settle_seconds)
        default_settings = fb.sample_process(args.pid, args.idle_seconds)
        log(f"idle, 30 s interval: {default_settings['cpu_percent']} % CPU, {default_settings['rss_mib_max']} MiB")
        for group in groups:
            elbv2.modify_target_group(TargetGroupArn=group, HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2)
        time.sleep(args.settle_seconds)
        fast_settings = fb.sample_process(args.pid, args.idle_seconds)
        log(f"idle, 5 s interval: {fast_settings['cpu_percent']} % CPU, {fast_settings['rss_mib_max']} MiB")
        still_healthy = sum(len(healthy_ports(elbv2, g)) for g in groups)
        targets_cpu = fb.cpu_seconds(targets.pid)
    finally:
        targets.kill()
        targets.wait(timeout=10)
    return {"baseline_empty": baseline, "idle_interval_30s": default_settings, "idle_interval_5s": fast_settings,
            "seconds_to_all_healthy": became_healthy, "healthy_at_end": still_healthy,
            "target_process_cpu_seconds": round(targets_cpu, 2),
            "settings": {k: getattr(args, k) for k in ("load_balancers", "target_groups", "targets", "idle_seconds")}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measure", choices=["zero-downtime", "overhead", "idle"])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--pid", type=int, required=True, help="pid of the ferry local process")
    p.add_argument("--ferry", required=True, help="the ferry binary (tasks run `ferry sample-app`)")
    p.add_argument("--out", help="write the results as JSON here")
    # zero-downtime
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--rate", type=int, default=600, help="requests/s in all")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--seconds", type=int, default=75, help="how long hey sends")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first deploy")
    p.add_argument("--deploy-window", type=float, default=60.0, help="no deploy starts after this many seconds")
    p.add_argument("--deregistration-delay", type=int, default=5,
                   help="seconds a deregistered target drains (AWS's default, 300, would make each deploy 5 minutes)")
    p.add_argument("--start-delay-ms", type=int, default=2000,
                   help="each new revision's app listens only after this long (SAMPLE_START_DELAY_MS)")
    # overhead
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--run-seconds", type=int, default=15)
    p.add_argument("--latency-rate", type=int, default=500)
    p.add_argument("--latency-concurrency", type=int, default=5)
    p.add_argument("--throughput-concurrency", type=int, default=32)
    p.add_argument("--no-haproxy", action="store_true", help="leave out the haproxy row (when haproxy is installed)")
    # idle
    p.add_argument("--load-balancers", type=int, default=20)
    p.add_argument("--target-groups", type=int, default=50)
    p.add_argument("--targets", type=int, default=100)
    p.add_argument("--idle-seconds", type=float, default=60.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--settle-seconds", type=float, default=10.0)
    p.add_argument("--healthy-timeout", type=float, default=400.0)
    args = p.parse_args()
    if shutil.which("hey") is None and args.measure != "idle":
        sys.exit("needs `hey` (Debian: apt-get install hey)")
    load_before = os.getloadavg()
    result = {"zero-downtime": zero_downtime, "overhead": overhead, "idle": idle}[args.measure](args)
    result["measure"] = args.measure
    # The machine is shared: how busy it was (1/5/15-minute load averages) goes with the numbers.
    result["loadavg"] = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))
    if args.out:
        fb.write_json(args.out, result)


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
