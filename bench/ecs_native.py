#!/usr/bin/env python3
"""Issue 12's benchmarks: ECS-managed BLUE_GREEN, LINEAR and CANARY deployments
(`deploymentConfiguration.strategy`) run by ferry local and followed by `ferry deploy`
(`strategy = "ecs-native"`). Two measures, each a subcommand, each on a fresh ferry local
that the script starts (`ferry local up --detach --health-check-scale 0.05 --minute-seconds
M`, a free port of 127.0.0.1, a temporary state directory and HOME) and stops on any exit.

The world both measures share, as Terraform would leave it (docs/local.md, ECS developer
guide "Amazon ECS blue/green deployments"): images shop:1.0.0 and shop:1.1.0 in ferry local's
ECR; cluster `dev`; an ALB with a *production* and a *test* listener whose default actions
forward to the target groups shop-blue and shop-green with weights 100/0 (ip targets, health
check /health every 5 s scaled to 0.25 s, healthy after 2, deregistration delay 5 s); the
service `shop` (tasks of `ferry sample-app`, awsvpc, minimum healthy 100 %, maximum 200 %)
whose deploymentConfiguration names the strategy and whose loadBalancers entry carries the
advancedConfiguration {alternateTargetGroupArn: shop-green, productionListenerRule and
testListenerRule: the listeners' default rules, roleArn}. Its first deployment (into
shop-blue) is waited for until COMPLETED: ECS shifts traffic only from a completed one.
ferry.toml: environment `dev` (credentials = "ferry-local", bake = "0s": ECS bakes, ferry
adds none), service `shop` with strategy = "ecs-native" and a task-definition template.

zero-downtime --strategy blue-green|linear|canary
    4 tasks. oha at --rate requests/s through the production listener for --baseline s (no
    deploy), then for --duration s with `ferry deploy dev shop=1.1.0 --output json` started
    --deploy-after s into it. Unless --no-hook, the deployment pauses at a PAUSE lifecycle hook
    at POST_TEST_TRAFFIC_SHIFT, which ferry answers after its checks through the test listener
    ([services.shop.ecs_native] check_json = {"/version" = "1.1.0"}). Meanwhile a poller reads
    the production rule's weights and the service deployment's lifecycle stage every
    --poll s. Reported: oha's sent, failed (non-2xx + connection errors), p50/p99/max; the
    load balancer's access log (production listener) split before/during/after the deploy,
    which versions answered, and the share 1.1.0 answered while each weight held; ferry's
    lifecycle events as they arrived; the stage timeline.

latency
    2 tasks, BLUE_GREEN (--latency-strategy), bakeTimeInMinutes --latency-bake-minutes, no hook
    (the aws CLI cannot answer one). --runs rounds; each round deploys the other version once
    with each tool, in turn:
    - ferry:   `ferry deploy dev shop=V --output json`;
    - aws-cli: bench/classic_deploy.sh: `aws ecs register-task-definition` (the same task
               definition ferry's template renders), `aws ecs update-service`, `aws ecs wait
               services-stable` (botocore's waiter: DescribeServices every 15 s).
    Per run: completion latency = the tool's exit (taken when wait4 returns) minus ferry
    local's finishedAt of the service deployment the run started (DescribeServiceDeployments,
    read after the run); wall time; API calls by operation (ferry local's /_ferry/calls, reset
    just before the tool starts and read after it exits; the benchmark makes no call in
    between). Every run must end SUCCESSFUL with the new version running.

Every wait is bounded in time and every loop in count. Needs boto3 (the conformance venv,
tests/conformance/venv.sh), the ferry binary (--ferry), oha (--oha) for zero-downtime, the
aws CLI (--aws) for latency. Results: a markdown summary on stdout and in --out DIR
(ecs-native-<measure>.md), everything as JSON (ecs-native-<measure>.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

import ferrybench as fb
import traffic
from deploy_compare import run_process, stats

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
# An account of its own: its load balancers get loopback addresses that other ferry locals on
# this machine (account 000000000000; bench/zero-downtime.sh's 314159265358) do not use.
ACCOUNT = os.environ.get("BENCH_ACCOUNT", "271828182845")
CLUSTER, SERVICE, ENVIRONMENT, REPOSITORY, CONTAINER = "dev", "shop", "dev", "shop", "shop"
VERSIONS = ("1.0.0", "1.1.0")
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsInfrastructureRoleForLoadBalancers"
ECS_STRATEGY = {"blue-green": "BLUE_GREEN", "linear": "LINEAR", "canary": "CANARY"}
DONE = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


def log(msg):
    print(f"[ecs-native] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


# -- ferry local ---------------------------------------------------------------------------------


class Local:
    """A detached ferry local of our own, with its own HOME: started, called, stopped."""

    def __init__(self, ferry, minute_seconds, workdir):
        self.ferry = ferry
        self.minute_seconds = minute_seconds
        self.dir = workdir
        self.state = os.path.join(workdir, "state")
        self.home = os.path.join(workdir, "home")
        os.makedirs(self.home, exist_ok=True)
        self.env = clean_env(self.home, workdir)
        self.endpoint = None
        self.pid = None

    def up(self):
        port = free_port("127.0.0.1")
        out = subprocess.run([self.ferry, "local", "up", "--detach", "-q", "--port", str(port), "--state-dir", self.state,
                              "--health-check-scale", "0.05", "--minute-seconds", str(self.minute_seconds)],
                             env=self.env, capture_output=True, text=True, timeout=60, check=True)
        self.endpoint = out.stdout.strip().splitlines()[-1]
        with open(os.path.join(self.state, "ferry-local.pid")) as f:
            self.pid = json.load(f)["pid"]
        self.env["AWS_ENDPOINT_URL"] = self.endpoint  # the catch-all: no request leaves the machine
        log(f"ferry local at {self.endpoint} (pid {self.pid}, a deployment minute = {self.minute_seconds} s)")
        return self

    def down(self):
        subprocess.run([self.ferry, "local", "down", "--state-dir", self.state], env=self.env,
                       capture_output=True, timeout=60)

    def admin(self, method, path):
        request = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def reset_calls(self):
        self.admin("DELETE", "/_ferry/calls")

    def calls(self):
        return self.admin("GET", "/_ferry/calls")

    def clients(self):
        kw = dict(endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCOUNT, aws_secret_access_key="bench",
                  config=Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=60))
        return boto3.client("ecs", **kw), boto3.client("elbv2", **kw)

    def cpu_seconds(self):
        try:
            return fb.cpu_seconds(self.pid)
        except OSError:
            return None


def clean_env(home, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FERRY_", "XDG_"))}
    env.update(
        HOME=home, NO_COLOR="1", FERRY_USER="bench",
        AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.path.join(workdir, "aws-config-none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(workdir, "aws-credentials-none"),
        AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
    )
    return env


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- the world: images, load balancer, service, ferry.toml ----------------------------------------


def container(ferry, image, version):
    return {
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "memory": 64,
        "entryPoint": [ferry],
        "command": ["sample-app"],
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "VERSION", "value": version}],
        "stopTimeout": 5,
    }


def taskdef(ferry, version):
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:{version}"
    return {"family": SERVICE, "networkMode": "awsvpc", "containerDefinitions": [container(ferry, image, version)]}


def template(ferry):
    """The same task definition as a ferry template (minijinja): what ferry registers."""
    d = {"family": "{{ service }}", "networkMode": "awsvpc",
         "containerDefinitions": [container(ferry, "{{ image }}", "{{ version }}")]}
    return json.dumps(d, indent=2) + "\n"


def forward_both(blue, green, blue_weight=100):
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": blue_weight}, {"TargetGroupArn": green, "Weight": 100 - blue_weight}]}}]


class World:
    """Everything the measures share, set up on `local` (see the module documentation)."""

    def __init__(self, local, ferry, *, strategy, tasks, configuration, hook, check):
        self.local, self.ferry, self.tasks = local, ferry, tasks
        self.ecs, self.elbv2 = local.clients()
        self.project = os.path.join(local.dir, "project")
        os.makedirs(self.project, exist_ok=True)
        t0 = time.monotonic()
        for version in VERSIONS:
            subprocess.run([ferry, "local", "push-image", f"{REPOSITORY}:{version}", "--endpoint-url", local.endpoint, "-q"],
                           env=local.env, capture_output=True, timeout=60, check=True)
        self.ecs.create_cluster(clusterName=CLUSTER)
        lb = self.elbv2.create_load_balancer(Name="shop-alb", Subnets=SUBNETS, Scheme="internal")["LoadBalancers"][0]
        self.elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        self.dns = lb["DNSName"]
        self.groups = {}
        for color in ("blue", "green"):
            arn = self.elbv2.create_target_group(
                Name=f"shop-{color}", Protocol="HTTP", Port=8080, VpcId=lb["VpcId"], TargetType="ip",
                HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
            self.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
            self.groups[color] = arn
        self.ports, self.listeners, self.rules = {}, {}, {}
        for role in ("production", "test"):
            port = free_port("127.0.0.1")
            while port in self.ports.values():
                port = free_port("127.0.0.1")
            listener = self.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                                  DefaultActions=forward_both(self.groups["blue"], self.groups["green"]))
            arn = listener["Listeners"][0]["ListenerArn"]
            rules = self.elbv2.describe_rules(ListenerArn=arn)["Rules"]
            self.ports[role], self.listeners[role] = port, arn
            self.rules[role] = next(r["RuleArn"] for r in rules if r["IsDefault"])
        self.url = f"http://{self.dns}:{self.ports['production']}/"

        self.configuration = {"strategy": strategy, "maximumPercent": 200, "minimumHealthyPercent": 100, **configuration}
        if hook:
            self.configuration["lifecycleHooks"] = [{
                "targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"}}]
        first = self.ecs.register_task_definition(**taskdef(ferry, VERSIONS[0]))["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(
            cluster=CLUSTER, serviceName=SERVICE, taskDefinition=first, desiredCount=tasks,
            healthCheckGracePeriodSeconds=10,
            networkConfiguration={"awsvpcConfiguration": {"subnets": SUBNETS[:1]}},
            loadBalancers=[{"targetGroupArn": self.groups["blue"], "containerName": CONTAINER, "containerPort": 8080,
                            "advancedConfiguration": {"alternateTargetGroupArn": self.groups["green"],
                                                      "productionListenerRule": self.rules["production"],
                                                      "testListenerRule": self.rules["test"], "roleArn": ROLE}}],
            deploymentConfiguration=self.configuration)
        self.version = VERSIONS[0]
        self.wait_stable(timeout=120)
        fb.wait_until("the production listener to answer 1.0.0", lambda: self.answers() == VERSIONS[0], timeout=30, every=0.25)
        log(f"service {SERVICE}: {tasks} tasks of {VERSIONS[0]} in shop-blue, first deployment COMPLETED, "
            f"{self.url} answers ({time.monotonic() - t0:.1f} s of setup)")
        self.write_project(check)

    def write_project(self, check):
        with open(os.path.join(self.project, "shop.json"), "w") as f:
            f.write(template(self.ferry))
        for version in VERSIONS:
            with open(self.taskdef_file(version), "w") as f:
                json.dump(taskdef(self.ferry, version), f, indent=2)
        lines = [
            f"[environments.{ENVIRONMENT}]",
            f'region = "{REGION}"',
            f'cluster = "{CLUSTER}"',
            f'account = "{ACCOUNT}"',
            f'endpoint_url = "{self.local.endpoint}"',
            'credentials = "ferry-local"',
            'timeout = "5m"',
            'bake = "0s"  # ECS bakes (bakeTimeInMinutes); ferry adds no bake of its own',
            "",
            f"[services.{SERVICE}]",
            f'repository = "{REPOSITORY}"',
            f'container = "{CONTAINER}"',
            'template = "shop.json"',
            'strategy = "ecs-native"',
        ]
        if check:
            lines += ["", f"[services.{SERVICE}.ecs_native]", 'check_json = { "/version" = "1.1.0" }']
        self.config = os.path.join(self.project, "ferry.toml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def taskdef_file(self, version):
        return os.path.join(self.project, f"taskdef-{version}.json")

    def service(self):
        return self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]

    def stable(self):
        s = self.service()
        d = s["deployments"]
        return len(d) == 1 and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == self.tasks

    def wait_stable(self, timeout=120):
        fb.wait_until(f"{SERVICE} stable", self.stable, timeout=timeout, every=0.2)

    def answers(self):
        try:
            with urllib.request.urlopen(self.url, timeout=2) as r:
                return json.loads(r.read()).get("version")
        except (OSError, ValueError):
            return None

    def running_version(self):
        arn = self.service()["taskDefinition"]
        td = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return td["containerDefinitions"][0]["image"].rsplit(":", 1)[1]

    def newest_service_deployment(self):
        listed = self.ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE, maxResults=100)["serviceDeployments"]
        if not listed:
            return None
        arn = max(listed, key=lambda d: d["createdAt"])["serviceDeploymentArn"]
        return self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]

    def all_tasks(self):
        arns = []
        for status in ("RUNNING", "STOPPED"):
            arns += self.ecs.list_tasks(cluster=CLUSTER, desiredStatus=status)["taskArns"]
        out = []
        for i in range(0, len(arns), 100):
            out += self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]
        return out


def epoch(value):
    """A boto3 timestamp (datetime) or a number, in epoch seconds."""
    return value.timestamp() if hasattr(value, "timestamp") else value


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def machine(args):
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), None)
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(), "cpu": cpu,
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3], "ferry": args.ferry,
            "ferry_sha256": sha256_of(args.ferry),
            "ferry_commit": args.revision, "build": args.build, "python": sys.version.split()[0],
            "boto3": boto3.__version__}


# -- zero downtime -------------------------------------------------------------------------------


def native_configuration(args):
    """The deploymentConfiguration's strategy settings (bake times in deployment minutes)."""
    c = {"bakeTimeInMinutes": args.bake_minutes}
    if args.strategy == "linear":
        c["linearConfiguration"] = {"stepPercent": args.step_percent, "stepBakeTimeInMinutes": args.step_bake_minutes}
    if args.strategy == "canary":
        c["canaryConfiguration"] = {"canaryPercent": args.canary_percent, "canaryBakeTimeInMinutes": args.canary_bake_minutes}
    return c


class Poller:
    """Reads the production rule's weights and the service deployment's stage every `every`
    seconds, on a thread of its own, until stopped (or `limit` seconds pass)."""

    def __init__(self, world, every, limit):
        self.world, self.every, self.limit = world, every, limit
        self.ecs, self.elbv2 = world.local.clients()
        self.seen = []  # (epoch, green weight, stage, status), each change once
        self.errors = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self, after):
        self.after = after
        self.thread.start()
        return self

    def run(self):
        deadline = time.monotonic() + self.limit
        arn = None
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                rule = self.elbv2.describe_rules(RuleArns=[self.world.rules["production"]])["Rules"][0]
                weights = {g["TargetGroupArn"]: g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
                green = weights.get(self.world.groups["green"], 0)
                stage = status = None
                if arn is None:
                    listed = self.ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE)["serviceDeployments"]
                    new = [d for d in listed if epoch(d["createdAt"]) >= self.after]
                    arn = new[0]["serviceDeploymentArn"] if new else None
                if arn:
                    sd = self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
                    stage, status = sd.get("lifecycleStage"), sd.get("status")
                key = (green, stage, status)
                if not self.seen or self.seen[-1][1:] != key:
                    self.seen.append((time.time(), *key))
            except Exception:  # a failed look is counted, not fatal: the next one comes
                self.errors += 1
            self.stop_event.wait(self.every)

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=10)


def stamped_run(argv, env, cwd, timeout, path):
    """Runs argv; each stdout line is written to `path` with the epoch it arrived at. Returns
    (exit code, start, end)."""
    start = time.time()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=open(path + ".err", "wb"), text=True,
                            start_new_session=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        with open(path, "w") as out:
            for line in proc.stdout:
                out.write(f"{time.time():.6f}\t{line}")
        code = proc.wait()
        end = time.time()
    finally:
        timer.cancel()
    return code, start, end


def ferry_events(path):
    """(arrival epoch, event) of each JSON line ferry printed, and its result object."""
    events, result = [], None
    with open(path) as f:
        for line in f:
            try:
                arrived, raw = line.rstrip("\n").split("\t", 1)
                e = json.loads(raw)
            except ValueError:
                continue
            if e.get("type") == "result":
                result = e
            elif e.get("type") == "event":
                events.append((float(arrived), e))
    return events, result


def zero_downtime(args):
    work = tempfile.mkdtemp(prefix=f"ferry-native-{args.strategy}.")
    local = Local(args.ferry, args.minute_seconds, work).up()
    try:
        return zero_downtime_on(args, local, work)
    finally:
        local.down()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def zero_downtime_on(args, local, work):
    meta = machine(args)
    world = World(local, args.ferry, strategy=ECS_STRATEGY[args.strategy], tasks=args.tasks,
                  configuration=native_configuration(args), hook=not args.no_hook, check=not args.no_hook)
    oha = lambda seconds: traffic.oha_command(args.oha, world.url, seconds, args.rate, args.connections)

    log(f"baseline: oha {args.baseline} s at {args.rate}/s")
    baseline_start = time.time()
    subprocess.run(oha(args.baseline), stdout=open(os.path.join(work, "oha-baseline.json"), "w"), timeout=args.baseline + 60,
                   check=True)
    baseline_end = time.time()
    time.sleep(1)

    log(f"load: oha {args.duration} s at {args.rate}/s; ferry deploy {ENVIRONMENT} {SERVICE}=1.1.0 "
        f"({ECS_STRATEGY[args.strategy]}) after {args.deploy_after} s")
    cpu_before = local.cpu_seconds()
    load = subprocess.Popen(oha(args.duration), stdout=open(os.path.join(work, "oha-main.json"), "w"))
    load_start = time.time()
    try:
        time.sleep(args.deploy_after)
        poller = Poller(world, args.poll, args.duration + 300).start(after=time.time() - 1)
        deploy = [args.ferry, "deploy", ENVIRONMENT, f"{SERVICE}=1.1.0", "--output", "json", "--config", world.config,
                  "--ledger", os.path.join(work, "ledger.sqlite")]
        code, deploy_start, deploy_end = stamped_run(deploy, local.env, world.project, args.duration + 240,
                                                     os.path.join(work, "deploy.jsonl"))
        log(f"ferry deploy exited {code} after {deploy_end - deploy_start:.1f} s; waiting for oha")
        load.wait(timeout=args.duration + 120)
        load_end = time.time()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(timeout=10)
    poller.stop()
    cpu_after = local.cpu_seconds()
    if code != 0:
        log("ferry deploy failed; its stderr ends with:\n" + open(os.path.join(work, "deploy.jsonl.err")).read()[-2000:])

    # What ran, what answered.
    tasks = world.all_tasks()
    versions = traffic.port_versions(tasks)
    access_path = os.path.join(work, "access.jsonl")
    with open(access_path, "w") as f:
        subprocess.run([args.ferry, "local", "logs", "--access", "--output", "json", "--state-dir", local.state],
                       env=local.env, stdout=f, stderr=subprocess.DEVNULL, timeout=120)
    rows, sample = traffic.access_rows(access_path, port=world.ports["production"], listener=world.listeners["production"])
    sd = world.newest_service_deployment()
    events, result = ferry_events(os.path.join(work, "deploy.jsonl"))

    rel = lambda t: None if t is None else round(t - deploy_start, 3)
    windows = {
        "baseline_run": [r for r in rows if baseline_start <= r["_t"] <= baseline_end + 0.5],
        "before_deploy": [r for r in rows if load_start - 0.5 <= r["_t"] < deploy_start],
        "during_deploy": [r for r in rows if deploy_start <= r["_t"] <= deploy_end],
        "after_deploy": [r for r in rows if deploy_end < r["_t"] <= load_end + 0.5],
    }
    load_rows = [r for r in rows if load_start - 0.5 <= r["_t"] <= load_end + 0.5]
    answered = {}
    for r in load_rows:
        v = traffic.version_of(r, versions) or "none"
        answered[v] = answered.get(v, 0) + 1
    new = [r["_t"] for r in load_rows if traffic.version_of(r, versions) == "1.1.0"]
    old = [r["_t"] for r in load_rows if traffic.version_of(r, versions) == "1.0.0"]
    # The share of production requests 1.1.0 answered while each green weight held (as the
    # poller saw the rule; the first and last 0.3 s of each span left out: the poller sees a
    # change up to --poll s late, and ferry local's proxies read new weights within a tick).
    shares = []
    timeline = poller.seen
    weight_spans = []
    for i, (t, green, stage, status) in enumerate(timeline):
        end = timeline[i + 1][0] if i + 1 < len(timeline) else load_end
        if weight_spans and weight_spans[-1]["green_weight"] == green:
            weight_spans[-1]["to"] = end
        else:
            weight_spans.append({"green_weight": green, "from": t, "to": end})
    for span in weight_spans:
        rs = [r for r in load_rows if span["from"] + 0.3 <= r["_t"] < span["to"] - 0.3]
        n_new = sum(1 for r in rs if traffic.version_of(r, versions) == "1.1.0")
        shares.append({"green_weight": span["green_weight"], "from_s": rel(span["from"]), "to_s": rel(span["to"]),
                       "requests": len(rs), "to_1_1_0": n_new,
                       "share_percent": round(100 * n_new / len(rs), 1) if rs else None})
    native = [(rel(t), e) for t, e in events if str(e.get("what", "")).startswith("lifecycle")]
    report = {
        "meta": {**meta, "measure": "zero-downtime", "strategy": args.strategy, "ecs_strategy": ECS_STRATEGY[args.strategy],
                 "deployment_configuration": world.configuration, "minute_seconds": args.minute_seconds,
                 "oha": subprocess.run([args.oha, "--version"], capture_output=True, text=True).stdout.strip(),
                 "rate_per_s": args.rate, "connections": args.connections, "baseline_s": args.baseline,
                 "duration_s": args.duration, "deploy_after_s": args.deploy_after, "tasks": args.tasks,
                 "health_check_scale": 0.05, "deregistration_delay_s": 5, "url": world.url,
                 "ferry_toml": open(world.config).read()},
        "deploy": {"exit_code": code, "seconds": round(deploy_end - deploy_start, 3),
                   "outcome": (result or {}).get("outcome"),
                   "services": (result or {}).get("services"),
                   "service_deployment": {"status": sd.get("status"), "created_s": rel(epoch(sd.get("createdAt"))),
                                          "finished_s": rel(epoch(sd["finishedAt"])) if sd.get("finishedAt") else None,
                                          "lifecycle_stage": sd.get("lifecycleStage"),
                                          "hooks": [{k: h.get(k) for k in ("lifecycleStage", "status", "targetType")}
                                                    for h in sd.get("lifecycleHookDetails", [])]} if sd else None,
                   "exit_after_finished_s": round(deploy_end - epoch(sd["finishedAt"]), 3) if sd and sd.get("finishedAt") else None,
                   "ferry_local_cpu_s": round(cpu_after - cpu_before, 2) if cpu_before is not None and cpu_after is not None else None},
        "baseline": traffic.oha_figures(os.path.join(work, "oha-baseline.json")),
        "during_load": traffic.oha_figures(os.path.join(work, "oha-main.json")),
        "access_log": {"sample_record": sample, "production_requests": len(rows),
                       **{k: traffic.window(v) for k, v in windows.items()}},
        "versions_answered": answered,
        "first_request_to_1_1_0_s": rel(min(new)) if new else None,
        "last_request_to_1_0_0_s": rel(max(old)) if old else None,
        "production_weights": shares,
        "stage_timeline": [{"t_s": rel(t), "green_weight": g, "stage": s, "status": st} for t, g, s, st in timeline],
        "poller_errors": poller.errors,
        "ferry_lifecycle_events": [dict(t_s=t, **{k: v for k, v in e.items() if k not in ("type", "at", "deployment_id")})
                                   for t, e in native][:300],
    }
    report["meta"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    report["markdown"] = zero_downtime_markdown(report)
    return report


def zero_downtime_markdown(r):
    m, d, b, o = r["meta"], r["deploy"], r["baseline"], r["during_load"]
    f = lambda v: "—" if v is None else v
    lines = [
        f"### {m['ecs_strategy']} ({m['date']}, ferry {m['ferry_commit']}, {m['build']})",
        "",
        f"deploymentConfiguration: `{json.dumps({k: v for k, v in m['deployment_configuration'].items() if k not in ('maximumPercent', 'minimumHealthyPercent')})}`, "
        f"a deployment minute = {m['minute_seconds']} s; {m['tasks']} tasks; {m['oha']} at {m['rate_per_s']} requests/s, "
        f"{m['connections']} connections, {m['duration_s']} s, `ferry deploy` {m['deploy_after_s']} s into it",
        "",
        f"`ferry deploy`: exit {d['exit_code']} ({f(d['outcome'])}) after {d['seconds']} s; service deployment "
        f"{f((d['service_deployment'] or {}).get('status'))}, finished {f((d['service_deployment'] or {}).get('finished_s'))} s "
        f"after the deploy started; ferry exited {f(d['exit_after_finished_s'])} s after that",
        "",
        "| run | sent | failed | non-2xx | connection errors | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, x in (("baseline (no deploy)", b), ("with the deploy (whole run)", o)):
        lines.append(f"| {name} | {x['sent']} | {x['failed']} | {x['non_2xx']} | {x['connection_errors']} | "
                     f"{f(x['p50_ms'])} | {f(x['p99_ms'])} | {f(x['max_ms'])} |")
    a = r["access_log"]
    lines += ["", "Access log, production listener (latency as the proxy measured it):", "",
              "| window | requests | failed | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for k in ("baseline_run", "before_deploy", "during_deploy", "after_deploy"):
        w = a[k]
        lines.append(f"| {k.replace('_', ' ')} | {w['requests']} | {w['failed']} | {f(w['p50_ms'])} | {f(w['p99_ms'])} |")
    lines += ["", "Versions that answered during the load run: "
              + ", ".join(f"{v} {n}" for v, n in sorted(r["versions_answered"].items()))
              + f"; first request to 1.1.0 at {f(r['first_request_to_1_1_0_s'])} s, last to 1.0.0 at "
              f"{f(r['last_request_to_1_0_0_s'])} s (after the deploy started)", "",
              "Production weights (green, as the poller read the rule) and the share 1.1.0 answered:", "",
              "| green weight | from s | to s | requests | answered by 1.1.0 |", "| --- | --- | --- | --- | --- |"]
    for s in r["production_weights"]:
        lines.append(f"| {s['green_weight']} | {s['from_s']} | {s['to_s']} | {s['requests']} | {f(s['share_percent'])} % |")
    stages = []
    for s in r["stage_timeline"]:
        if s["stage"] and (not stages or stages[-1][1] != s["stage"]):
            stages.append((s["t_s"], s["stage"]))
    lines += ["", "Lifecycle stages (s after the deploy started, as the poller saw them): "
              + ", ".join(f"{st} {t}" for t, st in stages)]
    hooks = [f"{e.get('what')} {e.get('stage', '')} {e.get('action', '')}".strip() + f" {e['t_s']}"
             for e in r["ferry_lifecycle_events"] if str(e.get("what", "")).startswith("lifecycle_hook")]
    if hooks:
        lines.append("ferry at the hook (s): " + ", ".join(hooks))
    if o["errors"]:
        lines.append("oha errors: " + json.dumps(o["errors"]))
    return "\n".join(lines) + "\n"


# -- completion latency ----------------------------------------------------------------------------


def latency(args):
    work = tempfile.mkdtemp(prefix="ferry-native-latency.")
    local = Local(args.ferry, args.minute_seconds, work).up()
    try:
        return latency_on(args, local, work)
    finally:
        local.down()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def latency_on(args, local, work):
    meta = machine(args)
    strategy = ECS_STRATEGY[args.latency_strategy]
    configuration = {"bakeTimeInMinutes": args.latency_bake_minutes}
    world = World(local, args.ferry, strategy=strategy, tasks=args.latency_tasks, configuration=configuration,
                  hook=False, check=False)
    env = dict(local.env)
    env["PATH"] = os.path.dirname(os.path.abspath(args.aws)) + os.pathsep + env.get("PATH", "")
    tools = ("ferry", "aws-cli")
    runs = {tool: [] for tool in tools}
    deadline = time.monotonic() + args.runs * len(tools) * 180
    for i in range(1, args.runs + 1):
        for tool in tools:
            if time.monotonic() > deadline:
                raise TimeoutError("the latency measure is over its time budget")
            world.wait_stable(timeout=120)
            version = VERSIONS[1] if world.version == VERSIONS[0] else VERSIONS[0]
            before = (world.newest_service_deployment() or {}).get("serviceDeploymentArn")
            time.sleep(0.5 + (i % 5) / 10)  # start at a different phase of ferry local's 100 ms tick
            if tool == "ferry":
                argv = [args.ferry, "deploy", ENVIRONMENT, f"{SERVICE}={version}", "--output", "json", "--config", world.config,
                        "--ledger", os.path.join(work, "ledger.sqlite")]
            else:
                argv = ["bash", os.path.join(HERE, "classic_deploy.sh"), local.endpoint, CLUSTER, SERVICE,
                        world.taskdef_file(version)]
            out = os.path.join(work, f"{tool}-{i}.out")
            local.reset_calls()
            code, start, end, _ = run_process(argv, env, world.project, args.tool_timeout, out, rss=False)
            calls = local.calls()
            sd = world.newest_service_deployment()
            running = world.running_version()
            run = {"tool": tool, "run": i, "version": version, "exit_code": code, "wall_s": round(end - start, 3),
                   "calls_total": calls["total"], "calls": calls["calls"],
                   "service_deployment": sd and sd["serviceDeploymentArn"], "status": sd and sd.get("status"),
                   "running_version": running}
            problems = []
            if sd and sd.get("finishedAt"):
                finished, created = epoch(sd["finishedAt"]), epoch(sd["createdAt"])
                run.update(completion_latency_s=round(end - finished, 3), server_deploy_s=round(finished - created, 3),
                           start_to_update_s=round(created - start, 3))
            if code != 0:
                problems.append(f"exit code {code}: " + open(out + ".err", errors="replace").read()[-600:])
            if not sd or sd["serviceDeploymentArn"] == before:
                problems.append("no new service deployment")
            elif sd.get("status") != "SUCCESSFUL":
                problems.append(f"service deployment {sd.get('status')}")
            if running != version:
                problems.append(f"runs {running}, expected {version}")
            else:
                world.version = version
            if problems:
                run["problems"] = problems
            runs[tool].append(run)
            log(f"{tool} run {i}: -> {version} exit {code}, wall {run['wall_s']:.2f} s, completion latency "
                f"{run.get('completion_latency_s')} s, {calls['total']} calls{' PROBLEM ' + str(problems) if problems else ''}")
    report = {
        "meta": {**meta, "measure": "latency", "ecs_strategy": strategy, "deployment_configuration": world.configuration,
                 "minute_seconds": args.minute_seconds, "tasks": args.latency_tasks, "runs": args.runs,
                 "aws": aws_version(args.aws, env),
                 "ferry_toml": open(world.config).read()},
        "runs": runs,
        "summary": {tool: latency_summary(rs) for tool, rs in runs.items()},
    }
    report["meta"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    report["markdown"] = latency_markdown(report)
    return report


def aws_version(aws, env):
    """`aws --version` (v1 prints it on stderr, v2 on stdout)."""
    out = subprocess.run([aws, "--version"], capture_output=True, text=True, env=env, timeout=60)
    return (out.stdout or out.stderr).strip()


def latency_summary(runs):
    ok = [r for r in runs if "problems" not in r]
    ops = sorted({op for r in ok for op in r["calls"]})
    return {
        "ok": len(ok), "runs": len(runs),
        "completion_latency_s": stats([r.get("completion_latency_s") for r in ok]),
        "wall_s": stats([r["wall_s"] for r in ok]),
        "server_deploy_s": stats([r.get("server_deploy_s") for r in ok]),
        "calls_total": stats([r["calls_total"] for r in ok]),
        "calls_median": {op: sorted(r["calls"].get(op, 0) for r in ok)[len(ok) // 2] for op in ops} if ok else {},
    }


def latency_markdown(r):
    m = r["meta"]
    f = lambda v, d=3: "—" if v is None else f"{v:.{d}f}"
    lines = [
        f"### Completion latency: {m['ecs_strategy']} ({m['date']}, ferry {m['ferry_commit']}, {m['build']})",
        "",
        f"deploymentConfiguration: `{json.dumps({k: v for k, v in m['deployment_configuration'].items() if k not in ('maximumPercent', 'minimumHealthyPercent')})}`, "
        f"a deployment minute = {m['minute_seconds']} s; {m['tasks']} tasks; {m['aws']}",
        "",
        "| tool | ok / runs | completion latency p50 | p90 | max | wall p50 | p90 | ECS deployment (created → finished) p50 | API calls p50 | p90 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool, s in r["summary"].items():
        c, w, d, n = s["completion_latency_s"] or {}, s["wall_s"] or {}, s["server_deploy_s"] or {}, s["calls_total"] or {}
        lines.append(f"| {tool} | {s['ok']} / {s['runs']} | {f(c.get('p50'))} s | {f(c.get('p90'))} s | {f(c.get('max'))} s | "
                     f"{f(w.get('p50'), 2)} s | {f(w.get('p90'), 2)} s | {f(d.get('p50'), 2)} s | "
                     f"{f(n.get('p50'), 0)} | {f(n.get('p90'), 0)} |")
    lines += ["", "API calls per run (median), by operation:", ""]
    for tool, s in r["summary"].items():
        lines.append(f"- {tool}: " + ", ".join(f"{op.split(':')[-1]} {n}" for op, n in s["calls_median"].items()))
    lines += ["", "Each run (completion latency s / calls):", ""]
    for tool, rs in r["runs"].items():
        lines.append(f"- {tool}: " + ", ".join(f"{f(x.get('completion_latency_s'))}/{x['calls_total']}" for x in rs))
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measure", choices=["zero-downtime", "latency"])
    p.add_argument("--ferry", required=True, help="the ferry binary (ferry local, ferry deploy and the tasks' sample app)")
    p.add_argument("--out", required=True, help="directory for ecs-native-<name>.md and .json")
    p.add_argument("--revision", default="unknown", help="the ferry commit, for the report")
    p.add_argument("--build", default="debug (cargo build -p ferry)", help="how the binary was built, for the report")
    p.add_argument("--name", help="results as ecs-native-NAME.md and .json (default: the strategy, or latency)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (state, access log, outputs)")
    p.add_argument("--minute-seconds", type=float, default=None,
                   help="ferry local's --minute-seconds (default: 10 for zero-downtime, 5 for latency)")
    z = p.add_argument_group("zero-downtime")
    z.add_argument("--strategy", choices=sorted(ECS_STRATEGY), default="blue-green")
    z.add_argument("--oha", help="the oha binary")
    z.add_argument("--rate", type=int, default=500, help="requests per second")
    z.add_argument("--connections", type=int, default=50)
    z.add_argument("--baseline", type=int, default=10, help="seconds of load with no deploy")
    z.add_argument("--duration", type=int, default=90, help="seconds of load with the deploy")
    z.add_argument("--deploy-after", type=float, default=5.0, help="seconds into the load run the deploy starts")
    z.add_argument("--tasks", type=int, default=4)
    z.add_argument("--poll", type=float, default=0.25, help="seconds between the poller's looks")
    z.add_argument("--bake-minutes", type=int, default=None,
                   help="bakeTimeInMinutes (default: 2 for blue-green, 1 for linear and canary)")
    z.add_argument("--step-percent", type=float, default=20.0, help="LINEAR stepPercent")
    z.add_argument("--step-bake-minutes", type=int, default=1, help="LINEAR stepBakeTimeInMinutes")
    z.add_argument("--canary-percent", type=float, default=10.0, help="CANARY canaryPercent")
    z.add_argument("--canary-bake-minutes", type=int, default=3, help="CANARY canaryBakeTimeInMinutes")
    z.add_argument("--no-hook", action="store_true", help="no PAUSE hook at POST_TEST_TRAFFIC_SHIFT (and no ferry checks)")
    lat = p.add_argument_group("latency")
    lat.add_argument("--aws", help="the aws CLI (v1, the conformance venv's)")
    lat.add_argument("--runs", type=int, default=7, help="deploys per tool")
    lat.add_argument("--latency-strategy", choices=sorted(ECS_STRATEGY), default="blue-green")
    lat.add_argument("--latency-bake-minutes", type=int, default=1, help="bakeTimeInMinutes")
    lat.add_argument("--latency-tasks", type=int, default=2)
    lat.add_argument("--tool-timeout", type=float, default=300.0, help="seconds before a tool run is killed")
    args = p.parse_args()
    if args.minute_seconds is None:
        args.minute_seconds = 10.0 if args.measure == "zero-downtime" else 5.0
    if args.bake_minutes is None:
        args.bake_minutes = 2 if args.strategy == "blue-green" else 1
    if args.measure == "zero-downtime" and not args.oha:
        p.error("zero-downtime needs --oha")
    if args.measure == "latency" and not args.aws:
        p.error("latency needs --aws")
    return args


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.measure == "zero-downtime":
        report, name = zero_downtime(args), f"ecs-native-{args.name or args.strategy}"
        ok = report["deploy"]["exit_code"] == 0
    else:
        report, name = latency(args), f"ecs-native-{args.name or 'latency'}"
        ok = all(s["ok"] == s["runs"] for s in report["summary"].values())
    fb.write_json(os.path.join(args.out, f"{name}.json"), report)
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(report["markdown"])
    print(report["markdown"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
