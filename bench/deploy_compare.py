#!/usr/bin/env python3
"""Deploy: ferry vs the aws CLI vs ecs-deploy, side by side against one ferry local.

Same machine, same ferry local, same service change: the sample app (`ferry sample-app`,
2 tasks, container health check every 1 s, minimumHealthyPercent 100, maximumPercent 200,
circuit breaker with rollback) moves between two image versions, 1.0.0 and 1.1.0. The new
task definition differs from the old one in the image tag and the VERSION variable.

Tools (each run as its own process, the way a CI job runs it):
- ferry:      `ferry deploy bench web=VERSION --output json` (ferry.toml environment with
              endpoint_url = ferry local, credentials = "ferry-local");
- aws-cli:    bench/classic_deploy.sh: `aws ecs register-task-definition`, `aws ecs
              update-service`, `aws ecs wait services-stable` (--endpoint-url);
- ecs-deploy: `ecs deploy bench web --tag VERSION --env app VERSION VERSION` (boto3 pointed
              at ferry local with AWS_ENDPOINT_URL_ECS; its defaults otherwise).

Measurements (`--measure`, comma-separated; default all):
- latency:  per tool, --runs deploys (tools interleaved, versions alternating). Per deploy:
            completion latency = the tool's exit (wall clock, taken when wait4 returns)
            minus ferry local's own finishedAt of the service deployment the run created
            (ListServiceDeployments; the "deployment completed" event's createdAt is
            recorded as a cross-check), total wall time, AWS calls by operation (from
            /_ferry/calls, reset just before the tool starts), peak RSS (GNU time %M).
- ten:      10 more services s0..s9 (2 tasks each). `ferry deploy bench s0=V ... s9=V`
            vs `ferry deploy bench s0=V` (wall time, calls), --ten-runs times each, and
            --separate-rounds rounds of ten separate `ferry deploy bench sI=V` (calls summed).
- startup:  `ferry --help` wall time and peak RSS over --startup-runs runs (plus `aws
            --version` and `ecs --help` for context).

Needs a running ferry local (--endpoint), the release ferry binary (--ferry; tasks run
`ferry sample-app`), and a bin directory holding `aws` and `ecs` (--venv-bin). Every wait
is bounded in time and every loop in count. Markdown tables go to stdout, raw results
(JSON) to --out.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import ferrybench as fb

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = fb.ACCOUNT
REGION = fb.REGION
ECR = "AmazonEC2ContainerRegistry_V20150921"
CLUSTER = "bench"
ENVIRONMENT = "bench"
REPOSITORY = "app"
REPO_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
CONTAINER = "app"
VERSIONS = ("1.0.0", "1.1.0")
SERVICE = "web"
TEN = [f"s{i}" for i in range(10)]
TOOLS = ("ferry", "aws-cli", "ecs-deploy")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="ferry local, e.g. http://127.0.0.1:4590")
    p.add_argument("--ferry", required=True, help="the ferry binary (release build)")
    p.add_argument("--venv-bin", required=True, help="directory with the `aws` and `ecs` commands")
    p.add_argument("--measure", default="latency,ten,startup", help="comma-separated: latency, ten, startup")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of: " + ", ".join(TOOLS))
    p.add_argument("--runs", type=int, default=10, help="deploys per tool for latency")
    p.add_argument("--tasks", type=int, default=2)
    p.add_argument("--ten-runs", type=int, default=5)
    p.add_argument("--separate-rounds", type=int, default=2)
    p.add_argument("--startup-runs", type=int, default=100)
    p.add_argument("--context-runs", type=int, default=10, help="runs of `aws --version` / `ecs --help`")
    p.add_argument("--tool-timeout", type=float, default=120.0, help="seconds before a tool run is killed")
    p.add_argument("--workdir", help="project directory (default: a new temporary one, removed at the end)")
    p.add_argument("--out", help="write the raw results as JSON here")
    return p.parse_args()


def log(msg):
    print(f"[deploy-compare] {msg}", file=sys.stderr, flush=True)


# -- ferry local: AWS calls and admin ----------------------------------------------------------


class Local:
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")
        self.client = fb.RawClient(self.endpoint, timeout=30)

    def ecs(self, op, payload):
        return self.client.call(op, payload)

    def ecr(self, op, payload):
        return self.client.call(op, payload, prefix=ECR)

    def _admin(self, method, path):
        request = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def reset_calls(self):
        self._admin("DELETE", "/_ferry/calls")

    def calls(self):
        return self._admin("GET", "/_ferry/calls")

    def service(self, name):
        return self.ecs("DescribeServices", {"cluster": CLUSTER, "services": [name]})["services"][0]

    def stable(self, name, desired):
        s = self.service(name)
        d = s["deployments"]
        return len(d) == 1 and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == desired

    def wait_stable(self, names, desired, timeout=90.0):
        fb.wait_until(f"{names} stable", lambda: all(self.stable(n, desired) for n in names), timeout, every=0.1)

    def newest_service_deployment(self, name):
        out = self.ecs("ListServiceDeployments", {"cluster": CLUSTER, "service": name, "maxResults": 100})
        sds = out["serviceDeployments"]
        return max(sds, key=lambda sd: sd["createdAt"]) if sds else None


def try_call(fn, *args, ok=()):
    try:
        return fn(*args)
    except fb.HttpError as e:
        if any(code in str(e) for code in ok):
            return None
        raise


# -- the project: images, cluster, services, ferry.toml, template ------------------------------


def container(ferry, version):
    """The sample app's container definition, as every tool ends up registering it."""
    return {
        "name": CONTAINER,
        "image": f"{REPO_URI}:{version}",
        "essential": True,
        "memory": 64,
        "entryPoint": [ferry],
        "command": ["sample-app"],
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "VERSION", "value": version}],
        "healthCheck": {"command": ["CMD", ferry, "sample-app", "--check"], "interval": 1, "timeout": 2, "retries": 2},
        "stopTimeout": 2,
    }


def taskdef(ferry, family, version):
    return {"family": family, "containerDefinitions": [container(ferry, version)]}


def template(ferry):
    """The same task definition as a ferry template (minijinja)."""
    text = json.dumps(taskdef(ferry, "@FAMILY@", "@VERSION@"), indent=2)
    return (
        text.replace("@FAMILY@", "{{ service }}")
        .replace(f"{REPO_URI}:@VERSION@", "{{ image }}")
        .replace("@VERSION@", "{{ version }}")
        + "\n"
    )


class Project:
    def __init__(self, args, local):
        self.args = args
        self.local = local
        self.ferry = os.path.abspath(args.ferry)
        self.temporary = args.workdir is None
        self.dir = args.workdir or tempfile.mkdtemp(prefix="ferry-deploy-compare.")
        os.makedirs(self.dir, exist_ok=True)
        self.config = os.path.join(self.dir, "ferry.toml")
        self.ledger = os.path.join(self.dir, "ledger.sqlite")
        self.versions = {}  # service -> version running now
        self.env = self._env()

    def _env(self):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith(("AWS_", "FERRY_")):
                del env[key]
        env.update(
            {
                "PATH": os.path.abspath(self.args.venv_bin) + os.pathsep + env.get("PATH", ""),
                "AWS_ACCESS_KEY_ID": ACCOUNT,
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                # No user config or credentials files, no instance metadata lookups.
                "AWS_CONFIG_FILE": os.path.join(self.dir, "aws-config-none"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.dir, "aws-credentials-none"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_PAGER": "",
                # ecs-deploy has no endpoint option: boto3 (>= 1.28.57) reads these.
                # AWS_ENDPOINT_URL is the catch-all, so no request can leave the machine.
                "AWS_ENDPOINT_URL_ECS": self.local.endpoint,
                "AWS_ENDPOINT_URL": self.local.endpoint,
                "FERRY_USER": "bench",
                "NO_COLOR": "1",
            }
        )
        return env

    def setup(self):
        local = self.local
        try_call(local.ecr, "CreateRepository", {"repositoryName": REPOSITORY}, ok=("RepositoryAlreadyExists",))
        for version in VERSIONS:
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + version.encode().hex().ljust(64, "0")[:64],
                    "size": 2,
                },
                "layers": [],
            }
            try_call(
                local.ecr,
                "PutImage",
                {"repositoryName": REPOSITORY, "imageTag": version, "imageManifest": json.dumps(manifest)},
                ok=("ImageAlreadyExists",),
            )
        local.ecs("CreateCluster", {"clusterName": CLUSTER})
        with open(os.path.join(self.dir, "app.json"), "w") as f:
            f.write(template(self.ferry))
        lines = [
            f"[environments.{ENVIRONMENT}]",
            f'region = "{REGION}"',
            f'cluster = "{CLUSTER}"',
            f'endpoint_url = "{local.endpoint}"',
            'credentials = "ferry-local"',
            'timeout = "2m"',
            'bake = "0s"',  # the benchmark measures the rollout, not the bake after it
            "",
        ]
        for name in [SERVICE] + TEN:
            lines += [f"[services.{name}]", f'repository = "{REPOSITORY}"', f'container = "{CONTAINER}"', 'template = "app.json"', ""]
        with open(self.config, "w") as f:
            f.write("\n".join(lines))
        for version in VERSIONS:
            with open(self.taskdef_file(version), "w") as f:
                json.dump(taskdef(self.ferry, SERVICE, version), f, indent=2)

    def taskdef_file(self, version):
        return os.path.join(self.dir, f"taskdef-{SERVICE}-{version}.json")

    def create_services(self, names):
        """What Terraform would own: each service on a first revision running 1.0.0."""
        t0 = time.monotonic()
        for name in names:
            existing = self.local.ecs("DescribeServices", {"cluster": CLUSTER, "services": [name]})["services"]
            if not (existing and existing[0]["status"] == "ACTIVE"):
                arn = self.local.ecs("RegisterTaskDefinition", taskdef(self.ferry, name, VERSIONS[0]))["taskDefinition"]["taskDefinitionArn"]
                self.local.ecs(
                    "CreateService",
                    {
                        "cluster": CLUSTER,
                        "serviceName": name,
                        "taskDefinition": arn,
                        "desiredCount": self.args.tasks,
                        "deploymentConfiguration": {
                            "minimumHealthyPercent": 100,
                            "maximumPercent": 200,
                            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                        },
                    },
                )
        self.local.wait_stable(names, self.args.tasks, timeout=120)
        for name in names:
            self.versions[name] = self.running_version(name)
        log(f"services {', '.join(names)} stable after {time.monotonic() - t0:.1f} s")

    def running_version(self, name):
        arn = self.local.service(name)["taskDefinition"]
        td = self.local.ecs("DescribeTaskDefinition", {"taskDefinition": arn})["taskDefinition"]
        return td["containerDefinitions"][0]["image"].rsplit(":", 1)[1]

    def next_version(self, name):
        return VERSIONS[1] if self.versions[name] == VERSIONS[0] else VERSIONS[0]

    # -- the tools ---------------------------------------------------------------------------

    def command(self, tool, targets):
        """The command line that deploys {service: version} with `tool`."""
        if tool == "ferry":
            pairs = [f"{s}={v}" for s, v in targets.items()]
            return [self.ferry, "deploy", ENVIRONMENT, *pairs, "--output", "json", "--config", self.config, "--ledger", self.ledger]
        (service, version), = targets.items()
        if tool == "aws-cli":
            return ["bash", os.path.join(HERE, "classic_deploy.sh"), self.local.endpoint, CLUSTER, service, self.taskdef_file(version)]
        if tool == "ecs-deploy":
            return [os.path.join(self.args.venv_bin, "ecs"), "deploy", CLUSTER, service, "--tag", version, "--env", CONTAINER, "VERSION", version]
        raise ValueError(tool)

    def cleanup(self):
        if self.temporary:
            shutil.rmtree(self.dir, ignore_errors=True)


GNU_TIME = "/usr/bin/time"


def run_process(argv, env, cwd, timeout, stdout_path=None, rss=True):
    """Runs argv to completion. Returns (exit code, start epoch, exit epoch, peak RSS KiB).

    The exit time is taken right after wait4 returns. Peak RSS comes from GNU time's %M
    (the largest ru_maxrss of the command and its descendants) when /usr/bin/time exists:
    the rusage of a child this Python process forks would count the RSS of the forked
    Python interpreter (about 23 MiB) before exec. Without GNU time (or with rss=False)
    it is wait4's ru_maxrss, floor included, and the result says so. A timer kills the
    process group after `timeout` seconds.
    """
    rss_file = None
    if rss and os.access(GNU_TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="rss.", dir=cwd)
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv]
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = open(stdout_path + ".err", "wb") if stdout_path else subprocess.DEVNULL
    try:
        start = time.time()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)

        def kill():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            end = time.time()
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss if rss else None
        if rss_file:
            lines = read(rss_file).split()
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else None
            os.unlink(rss_file)
        return proc.returncode, start, end, peak
    finally:
        for f in (out, err):
            if f is not subprocess.DEVNULL:
                f.close()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def deploy_once(project, tool, targets, label):
    """One deploy with one tool; returns its measurements (and checks it really deployed)."""
    local = project.local
    names = list(targets)
    local.wait_stable(names, project.args.tasks)
    time.sleep(random.uniform(0.5, 1.0))  # start at a different phase of the 100 ms tick
    before = {n: (local.newest_service_deployment(n) or {}).get("serviceDeploymentArn") for n in names}
    stdout_path = os.path.join(project.dir, f"{label}.out")
    local.reset_calls()
    code, start, end, rss = run_process(project.command(tool, targets), project.env, project.dir, project.args.tool_timeout, stdout_path)
    calls = local.calls()
    result = {
        "tool": tool,
        "label": label,
        "targets": targets,
        "exit_code": code,
        "wall_s": round(end - start, 3),
        "peak_rss_kib": rss,
        "calls_total": calls["total"],
        "calls": calls["calls"],
        "services": {},
    }
    problems = []
    if code != 0:
        problems.append(f"exit code {code}: {read(stdout_path)[-800:]} {read(stdout_path + '.err')[-800:]}")
    for name, version in targets.items():
        sd = local.newest_service_deployment(name)
        service = local.service(name)
        primary = service["deployments"][0]
        event = next(
            (e for e in service.get("events", []) if f"(deployment {primary['id']}) deployment completed." in e["message"]),
            None,
        )
        running = project.running_version(name)
        info = {
            "service_deployment": sd["serviceDeploymentArn"] if sd else None,
            "status": sd.get("status") if sd else None,
            "created_at": sd.get("createdAt") if sd else None,
            "finished_at": sd.get("finishedAt") if sd else None,
            "event_completed_at": event["createdAt"] if event else None,
            "running_version": running,
        }
        if sd and sd.get("finishedAt") is not None:
            info["completion_latency_s"] = round(end - sd["finishedAt"], 3)
            info["server_deploy_s"] = round(sd["finishedAt"] - sd["createdAt"], 3)
            info["start_to_update_s"] = round(sd["createdAt"] - start, 3)
        if event:
            info["event_latency_s"] = round(end - event["createdAt"], 3)
        if not sd or sd["serviceDeploymentArn"] == before[name]:
            problems.append(f"{name}: no new service deployment")
        elif sd.get("status") != "SUCCESSFUL":
            problems.append(f"{name}: service deployment {sd.get('status')}")
        if running != version:
            problems.append(f"{name}: runs {running}, expected {version}")
        else:
            project.versions[name] = version
        result["services"][name] = info
    if problems:
        result["problems"] = problems
        log(f"{label}: PROBLEM {problems}")
    latencies = [s.get("completion_latency_s") for s in result["services"].values()]
    if latencies and all(v is not None for v in latencies):
        # For a multi-service run: from the last service finishing to the exit.
        result["completion_latency_s"] = min(latencies)
    return result


# -- statistics and tables ---------------------------------------------------------------------


def stats(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return {
        "n": len(values),
        "min": values[0],
        "p50": fb.percentile(values, 50),
        "p90": fb.percentile(values, 90),
        "max": values[-1],
        "mean": round(sum(values) / len(values), 3),
    }


def fmt_s(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def calls_median(runs):
    """Median count per operation over runs (0 where a run made none)."""
    ops = sorted({op for r in runs for op in r["calls"]})
    return {op: statistics.median([r["calls"].get(op, 0) for r in runs]) for op in ops}


def short_op(op):
    return f"`{op}`"


# -- the measurements --------------------------------------------------------------------------


def measure_latency(project, tools, runs):
    project.create_services([SERVICE])
    results = {tool: [] for tool in tools}
    deadline = time.monotonic() + runs * len(tools) * 60
    for i in range(1, runs + 1):
        for tool in tools:
            if time.monotonic() > deadline:
                raise TimeoutError("latency measurement over its time budget")
            version = project.next_version(SERVICE)
            r = deploy_once(project, tool, {SERVICE: version}, f"latency-{tool}-{i}")
            results[tool].append(r)
            log(
                f"{tool} run {i}: -> {version} exit {r['exit_code']}, wall {r['wall_s']:.3f} s, "
                f"completion latency {fmt_s(r.get('completion_latency_s'))} s, calls {r['calls_total']}"
            )
    return results


def latency_tables(results):
    rows, call_rows, ops = [], [], set()
    for tool, runs in results.items():
        ok = [r for r in runs if "problems" not in r]
        lat = stats([r.get("completion_latency_s") for r in ok])
        ev = stats([r["services"][SERVICE].get("event_latency_s") for r in ok])
        wall = stats([r["wall_s"] for r in ok])
        server = stats([r["services"][SERVICE].get("server_deploy_s") for r in ok])
        update = stats([r["services"][SERVICE].get("start_to_update_s") for r in ok])
        rss = stats([r["peak_rss_kib"] / 1024 if r["peak_rss_kib"] else None for r in ok])
        rows.append(
            [
                tool,
                f"{len(ok)}/{len(runs)}",
                fmt_s(lat and lat["p50"]),
                fmt_s(lat and lat["p90"]),
                fmt_s(lat and lat["max"]),
                fmt_s(ev and ev["p50"]),
                fmt_s(wall and wall["p50"]),
                fmt_s(wall and wall["max"]),
                fmt_s(update and update["p50"]),
                fmt_s(server and server["p50"]),
                fmt_s(rss and rss["p50"], 1),
            ]
        )
        ops.update(op for r in ok for op in r["calls"])
    header = [
        "tool",
        "ok runs",
        "completion latency p50 (s)",
        "p90 (s)",
        "max (s)",
        "p50 via event (s)",
        "wall p50 (s)",
        "wall max (s)",
        "start → UpdateService p50 (s)",
        "ECS deploy p50 (s)",
        "peak RSS p50 (MiB)",
    ]
    first = table(header, rows)
    ops = sorted(ops)
    medians = {tool: calls_median([r for r in runs if "problems" not in r]) for tool, runs in results.items()}
    for op in ops:
        call_rows.append([short_op(op)] + [fmt_num(medians[t].get(op, 0)) for t in results])
    totals = {t: stats([r["calls_total"] for r in runs if "problems" not in r]) for t, runs in results.items()}
    call_rows.append(["**total** (median; min–max)"] + [
        f"**{fmt_num(totals[t]['p50'])}** ({totals[t]['min']}–{totals[t]['max']})" if totals[t] else "—" for t in results
    ])
    second = table(["operation (median per deploy)"] + list(results), call_rows)
    return first, second


def fmt_num(v):
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def measure_ten(project, runs, rounds):
    project.create_services(TEN)
    together, single, separate = [], [], []
    for i in range(1, runs + 1):
        targets = {name: project.next_version(name) for name in TEN}
        r = deploy_once(project, "ferry", targets, f"ten-together-{i}")
        together.append(r)
        log(f"ten at once, run {i}: wall {r['wall_s']:.3f} s, calls {r['calls_total']}, exit {r['exit_code']}")
        r = deploy_once(project, "ferry", {TEN[0]: project.next_version(TEN[0])}, f"ten-single-{i}")
        single.append(r)
        log(f"one service, run {i}: wall {r['wall_s']:.3f} s, calls {r['calls_total']}, exit {r['exit_code']}")
    for k in range(1, rounds + 1):
        round_runs = []
        for name in TEN:
            round_runs.append(deploy_once(project, "ferry", {name: project.next_version(name)}, f"ten-separate-{k}-{name}"))
        calls = {}
        for r in round_runs:
            for op, n in r["calls"].items():
                calls[op] = calls.get(op, 0) + n
        separate.append(
            {
                "round": k,
                "wall_s_sum": round(sum(r["wall_s"] for r in round_runs), 3),
                "calls_total": sum(r["calls_total"] for r in round_runs),
                "calls": calls,
                "problems": [p for r in round_runs for p in r.get("problems", [])],
                "runs": round_runs,
            }
        )
        log(f"ten separate deploys, round {k}: wall sum {separate[-1]['wall_s_sum']:.3f} s, calls {separate[-1]['calls_total']}")
    return {"together": together, "single": single, "separate": separate}


def ten_tables(ten):
    ok_t = [r for r in ten["together"] if "problems" not in r]
    ok_s = [r for r in ten["single"] if "problems" not in r]
    wt, ws = stats([r["wall_s"] for r in ok_t]), stats([r["wall_s"] for r in ok_s])
    lt, ls = stats([r.get("completion_latency_s") for r in ok_t]), stats([r.get("completion_latency_s") for r in ok_s])
    sv_t = stats([max(s["server_deploy_s"] for s in r["services"].values()) for r in ok_t])
    sv_s = stats([r["services"][TEN[0]]["server_deploy_s"] for r in ok_s])
    up_t = stats([max(s["start_to_update_s"] for s in r["services"].values()) for r in ok_t])
    up_s = stats([r["services"][TEN[0]]["start_to_update_s"] for r in ok_s])
    ratio = round(wt["p50"] / ws["p50"], 2) if wt and ws else None
    rows = [
        ["ten services, one run", f"{len(ok_t)}/{len(ten['together'])}", fmt_s(wt and wt["p50"]), fmt_s(wt and wt["min"]), fmt_s(wt and wt["max"]), fmt_s(up_t and up_t["p50"]), fmt_s(sv_t and sv_t["p50"]), fmt_s(lt and lt["p50"])],
        ["one service", f"{len(ok_s)}/{len(ten['single'])}", fmt_s(ws and ws["p50"]), fmt_s(ws and ws["min"]), fmt_s(ws and ws["max"]), fmt_s(up_s and up_s["p50"]), fmt_s(sv_s and sv_s["p50"]), fmt_s(ls and ls["p50"])],
    ]
    first = table(
        [
            "ferry deploy",
            "ok runs",
            "wall p50 (s)",
            "min (s)",
            "max (s)",
            "start → last UpdateService p50 (s)",
            "slowest ECS deploy p50 (s)",
            "last finish → exit p50 (s)",
        ],
        rows,
    )
    first += f"\n\nRatio of wall p50s (ten / one): **{ratio}**"
    together_calls = calls_median(ok_t)
    ok_sep = [r for r in ten["separate"] if not r["problems"]]
    sep_calls = {op: statistics.median([r["calls"].get(op, 0) for r in ok_sep]) for op in sorted({o for r in ok_sep for o in r["calls"]})}
    ops = sorted(set(together_calls) | set(sep_calls))
    rows = [[short_op(op), fmt_num(together_calls.get(op, 0)), fmt_num(sep_calls.get(op, 0))] for op in ops]
    tt = stats([r["calls_total"] for r in ok_t])
    st = stats([r["calls_total"] for r in ok_sep])
    ws_sum = stats([r["wall_s_sum"] for r in ok_sep])
    rows.append(["**total** (median)", f"**{fmt_num(tt['p50'])}**" if tt else "—", f"**{fmt_num(st['p50'])}**" if st else "—"])
    rows.append(["wall time (median)", fmt_s(wt and wt["p50"]), fmt_s(ws_sum and ws_sum["p50"]) + " (sum of ten)"])
    second = table(["operation", f"one run of ten (median of {len(ok_t)})", f"ten separate runs (median of {len(ok_sep)} rounds)"], rows)
    return first, second, ratio


def measure_startup(project, runs, context_runs):
    def many(argv, n):
        # Wall time from direct runs (nothing in between); peak RSS from a second, smaller
        # pass under GNU time (see run_process).
        walls, rss, codes = [], [], []
        for _ in range(n):
            code, start, end, _ = run_process(argv, project.env, project.dir, 30, rss=False)
            walls.append(round(end - start, 4))
            codes.append(code)
        for _ in range(min(n, 10)):
            rss.append(run_process(argv, project.env, project.dir, 30)[3])
        return {"argv": argv, "wall_s": walls, "peak_rss_kib": rss, "exit_codes": sorted(set(codes))}

    out = {"ferry --help": many([project.ferry, "--help"], runs), "ferry --version": many([project.ferry, "--version"], runs)}
    out["aws --version"] = many([os.path.join(project.args.venv_bin, "aws"), "--version"], context_runs)
    out["ecs --help"] = many([os.path.join(project.args.venv_bin, "ecs"), "--help"], context_runs)
    return out


def startup_table(startup, deploy_rss):
    rows = []
    for name, r in startup.items():
        w = stats(r["wall_s"])
        rows.append([f"`{name}`", w["n"], f"{1000 * w['p50']:.1f}", f"{1000 * w['p90']:.1f}", f"{1000 * w['max']:.1f}", f"{statistics.median(v for v in r['peak_rss_kib'] if v) / 1024:.1f}", r["exit_codes"]])
    text = table(["command", "runs", "wall p50 (ms)", "p90 (ms)", "max (ms)", "peak RSS p50 (MiB)", "exit codes"], rows)
    if deploy_rss:
        text += "\n\n" + table(
            ["process", "runs", "peak RSS p50 (MiB)", "max (MiB)"],
            [[k, v["n"], f"{v['p50']:.1f}", f"{v['max']:.1f}"] for k, v in deploy_rss.items()],
        )
    return text


def versions(project):
    out = {}
    commands = {
        "ferry": [project.ferry, "--version"],
        "aws": [os.path.join(project.args.venv_bin, "aws"), "--version"],
        "ecs-deploy": [os.path.join(project.args.venv_bin, "python"), "-c", "import importlib.metadata as m; print(m.version('ecs-deploy'))"],
        "boto3": [os.path.join(project.args.venv_bin, "python"), "-c", "import boto3, botocore; print(boto3.__version__, botocore.__version__)"],
    }
    for name, argv in commands.items():
        try:
            p = subprocess.run(argv, env=project.env, capture_output=True, text=True, timeout=60)
            out[name] = (p.stdout + p.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            out[name] = f"unknown ({e})"
    return out


def main():
    args = parse_args()
    measures = [m.strip() for m in args.measure.split(",") if m.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            sys.exit(f"unknown tool {t!r}")
    local = Local(args.endpoint)
    project = Project(args, local)
    results = {"parameters": vars(args).copy(), "workdir": project.dir, "loadavg_start": os.getloadavg()}
    try:
        results["versions"] = versions(project)
        log(f"versions: {results['versions']}")
        project.setup()
        sections = []
        deploy_rss = {}
        if "latency" in measures:
            lat = measure_latency(project, tools, args.runs)
            results["latency"] = lat
            first, second = latency_tables(lat)
            sections += ["### Completion latency and wall time per deploy", first, "### AWS API calls per deploy", second]
            for tool, runs in lat.items():
                s = stats([r["peak_rss_kib"] / 1024 if r["peak_rss_kib"] else None for r in runs if "problems" not in r])
                if s:
                    deploy_rss[f"{tool} (one deploy)"] = s
        if "ten" in measures:
            ten = measure_ten(project, args.ten_runs, args.separate_rounds)
            results["ten"] = ten
            first, second, ratio = ten_tables(ten)
            results["ten_ratio"] = ratio
            sections += ["### Ten services in one run", first, "### API calls: one run of ten vs ten runs", second]
            s = stats([r["peak_rss_kib"] / 1024 if r["peak_rss_kib"] else None for r in ten["together"] if "problems" not in r])
            if s:
                deploy_rss["ferry deploy, ten services"] = s
        if "startup" in measures:
            results["startup"] = measure_startup(project, args.startup_runs, args.context_runs)
            sections += ["### Start-up", startup_table(results["startup"], deploy_rss)]
        problems = [
            (r["label"], r["problems"])
            for group in (results.get("latency", {}).values())
            for r in group
            if "problems" in r
        ]
        for key in ("together", "single"):
            problems += [(r["label"], r["problems"]) for r in results.get("ten", {}).get(key, []) if "problems" in r]
        for r in results.get("ten", {}).get("separate", []):
            problems += [("separate round %d" % r["round"], r["problems"])] if r["problems"] else []
        results["problems"] = problems
        results["loadavg_end"] = os.getloadavg()
        fb.write_json(args.out, results)
        print("\n\n".join(sections))
        print(f"\nLoad average (1, 5, 15 min) at start {results['loadavg_start']}, at end {results['loadavg_end']}.")
        if problems:
            print("\nProblems (runs excluded from the tables):")
            for label, p in problems:
                print(f"- {label}: {p}")
    finally:
        project.cleanup()


if __name__ == "__main__":
    sys.exit(main())
