#!/usr/bin/env bash
# Issue 14's zero-downtime benchmark (docs/benchmarks.md, "Zero downtime under traffic
# shifts"): requests sent and failed, p50 and p99, through the *production* listener of a
# ferry local application load balancer while `ferry deploy` moves a 4-task service from
# shop:1.0.0 to shop:1.1.0, with an established load generator (oha) at a fixed rate.
#
#   bench/zero-downtime.sh rolling|blue-green|canary|linear
#
# What it does, all on 127.0.0.1 with a temporary HOME and state directory:
#   1. builds ferry (debug, `cargo build -p ferry`, $CARGO_TARGET_DIR or
#      ~/.cache/ferry/target; FERRY=/path/to/ferry uses that binary instead) and installs oha if missing (cargo install oha --locked into
#      ~/.cache/ferry/tools);
#   2. `ferry local up --detach --health-check-scale 0.05` on a free port; pushes shop:1.0.0
#      and shop:1.1.0; a cluster; an ALB with a production listener and a preparing
#      listener (each forwarding to the target group shop-blue: ip targets, health check
#      /health, deregistration delay 5 s); the service shop, 4 tasks of `ferry sample-app`;
#   3. `ferry init --from-service dev/shop`, then the strategy (and for blue-green, canary
#      and linear the [services.shop.blue_green] table, production_rule and preparing_rule
#      being the two listeners' ARNs) written into ferry.toml;
#   4. a baseline: oha for $BASELINE s (default 10) at $RATE requests/s (default 500);
#   5. oha for $DURATION s (default 60, 120 for canary and linear) at $RATE requests/s, and
#      $DEPLOY_AFTER s (default 5) into it `ferry deploy dev shop=1.1.0 --output json`;
#   6. the figures: oha's (sent, failed = non-2xx answers + connection errors, p50, p99),
#      the load balancer's own access log split into before / during / after the deploy,
#      which version's tasks answered when (the traffic shift as the listener saw it), and
#      ferry's JSON events (its phases; the shift, when ferry reports one).
# Results: bench/results/zero-downtime-<scenario>.json and .txt ($BENCH_OUT overrides the
# directory). Exit 0 when the run completed (whatever the numbers), 1 when the deploy did
# not succeed, 2 for a usage or setup error. ferry local and oha are stopped on any exit.
# KEEP=1 keeps the temporary directory (state, access log, raw oha and ferry output).
# Shared with bench/ecs_native.sh: bench/lib.sh (tools, helpers) and bench/traffic.py (oha's figures,
# the access log, which version answered).
set -euo pipefail

scenario=${1:-}
case "$scenario" in
    rolling|blue-green|canary|linear) ;;
    *) echo "usage: bench/zero-downtime.sh rolling|blue-green|canary|linear" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rate=${RATE:-500}
baseline=${BASELINE:-10}
deploy_after=${DEPLOY_AFTER:-5}
case "$scenario" in
    canary|linear) duration=${DURATION:-120} ;;
    *) duration=${DURATION:-60} ;;
esac
deploy_timeout=$(( duration - deploy_after + 120 ))
tasks=4
out=${BENCH_OUT:-$root/bench/results}
mkdir -p "$out"
# shellcheck source=lib.sh
source "$root/bench/lib.sh"

# --- tools -------------------------------------------------------------------------------
bench_ferry
bench_oha
bench_aws

# --- a temporary world -------------------------------------------------------------------
work=$(mktemp -d /tmp/ferry-zd.XXXXXX)
state=$work/state
oha_pid=
cleanup() {
    local rc=$?
    if [[ -n "$oha_pid" ]] && kill -0 "$oha_pid" 2>/dev/null; then
        kill "$oha_pid" 2>/dev/null || true
        wait "$oha_pid" 2>/dev/null || true
    fi
    timeout 60 "$ferry" local down --state-dir "$state" >/dev/null 2>&1 || true
    if [[ "${KEEP:-}" == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$work/home
mkdir -p "$HOME" "$work/project"
unset XDG_STATE_HOME XDG_DATA_HOME XDG_CONFIG_HOME FERRY_LEDGER FERRY_LOCAL_STATE_DIR FERRY_LOCAL_PORT
# An account of its own: its load balancers get loopback addresses other ferry locals on
# this machine (account 000000000000) do not use.
export AWS_ACCESS_KEY_ID=${BENCH_ACCOUNT:-314159265358} AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION
account=$AWS_ACCESS_KEY_ID

port=$(free_port)
endpoint=$(timeout 60 "$ferry" local up --detach -q --port "$port" --state-dir "$state" --health-check-scale 0.05)
log "ferry local at $endpoint (state $state)"
ferry_local_pid=$(jq -r .pid "$state/ferry-local.pid")
awsl() { timeout 60 "$aws" --endpoint-url "$endpoint" "$@"; }

timeout 60 "$ferry" local push-image shop:1.0.0 --endpoint-url "$endpoint" >/dev/null
timeout 60 "$ferry" local push-image shop:1.1.0 --endpoint-url "$endpoint" >/dev/null
awsl ecs create-cluster --cluster-name dev >/dev/null

lb=$(awsl elbv2 create-load-balancer --name shop-alb --subnets subnet-1 subnet-2 \
    --query 'LoadBalancers[0].LoadBalancerArn' --output text)
vpc=$(awsl elbv2 describe-load-balancers --load-balancer-arns "$lb" --query 'LoadBalancers[0].VpcId' --output text)
dns=$(awsl elbv2 describe-load-balancers --load-balancer-arns "$lb" --query 'LoadBalancers[0].DNSName' --output text)
tg=$(awsl elbv2 create-target-group --name shop-blue --protocol HTTP --port 8080 --vpc-id "$vpc" \
    --target-type ip --health-check-path /health --query 'TargetGroups[0].TargetGroupArn' --output text)
awsl elbv2 modify-target-group-attributes --target-group-arn "$tg" \
    --attributes Key=deregistration_delay.timeout_seconds,Value=5 >/dev/null
prod_port=$(free_port)
prep_port=$(free_port)
while [[ "$prep_port" == "$prod_port" ]]; do prep_port=$(free_port); done
production=$(awsl elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port "$prod_port" \
    --default-actions Type=forward,TargetGroupArn="$tg" --query 'Listeners[0].ListenerArn' --output text)
preparing=$(awsl elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port "$prep_port" \
    --default-actions Type=forward,TargetGroupArn="$tg" --query 'Listeners[0].ListenerArn' --output text)
url="http://$dns:$prod_port/"
log "load balancer $dns: production listener :$prod_port, preparing listener :$prep_port"

cat > "$work/shop-task.json" <<JSON
{
  "family": "shop",
  "networkMode": "awsvpc",
  "containerDefinitions": [{
    "name": "shop",
    "image": "$account.dkr.ecr.us-east-1.amazonaws.com/shop:1.0.0",
    "essential": true,
    "memory": 128,
    "entryPoint": ["$ferry"],
    "command": ["sample-app"],
    "portMappings": [{"containerPort": 8080}],
    "stopTimeout": 5
  }]
}
JSON
awsl ecs register-task-definition --cli-input-json "file://$work/shop-task.json" >/dev/null
awsl ecs create-service --cluster dev --service-name shop \
    --task-definition shop --desired-count "$tasks" --health-check-grace-period-seconds 10 \
    --load-balancers targetGroupArn="$tg",containerName=shop,containerPort=8080 \
    --network-configuration 'awsvpcConfiguration={subnets=[subnet-1]}' \
    --deployment-configuration 'minimumHealthyPercent=100,maximumPercent=200,deploymentCircuitBreaker={enable=true,rollback=true}' \
    >/dev/null
healthy_targets() {
    local n
    n=$(awsl elbv2 describe-target-health --target-group-arn "$tg" \
        --query "length(TargetHealthDescriptions[?TargetHealth.State=='healthy'])" --output text)
    [[ "$n" == "$tasks" ]]
}
stable() {
    local s
    s=$(awsl ecs describe-services --cluster dev --services shop \
        --query 'services[0].[runningCount, length(deployments)]' --output text)
    [[ "$s" == "$tasks"$'\t'1 ]]
}
wait_for 120 "the service shop to be stable" stable
wait_for 120 "$tasks healthy targets in shop-blue" healthy_targets
wait_for 30 "the production listener to answer" curl -fsS -m 2 "$url"
log "service shop: $tasks tasks, $tasks healthy targets; $url answers $(curl -fsS -m 2 "$url")"

# --- ferry.toml --------------------------------------------------------------------------
cd "$work/project"
timeout 120 "$ferry" init --from-service dev/shop --environment dev --endpoint-url "$endpoint" >"$work/init.out" 2>&1 \
    || { cat "$work/init.out" >&2; exit 2; }
grep -q '^\[services\.shop\]' ferry.toml || { echo "ferry.toml has no [services.shop]:" >&2; cat ferry.toml >&2; exit 2; }
if [[ "$scenario" != rolling ]]; then
    sed -i "/^\[services\.shop\]/a strategy = \"$scenario\"" ferry.toml
    {
        echo
        echo '[services.shop.blue_green]'
        echo "production_rule = \"$production\""
        echo "preparing_rule = \"$preparing\""
        case "$scenario" in
            blue-green) echo 'overlap = "10s"' ;;
            canary) echo 'steps = ["10%/15s", "50%/15s", "100%"]' ;;
            linear) echo 'linear = "25%/10s"' ;;
        esac
    } >> ferry.toml
fi
cp ferry.toml "$work/ferry.toml"

# --- load --------------------------------------------------------------------------------
oha_run() { # SECONDS OUTFILE
    timeout $(( $1 + 60 )) "$oha" -z "$1s" -q "$rate" -c 50 -w --latency-correction --no-tui \
        --output-format json "$url" > "$2"
}
access_lines() { wc -l < "$state/logs/elb-access.log" 2>/dev/null || echo 0; }

log "baseline: oha ${baseline}s at ${rate}/s"
baseline_start=$(now)
oha_run "$baseline" "$work/oha-baseline.json"
baseline_end=$(now)
sleep 1
log "load: oha ${duration}s at ${rate}/s; ferry deploy dev shop=1.1.0 (${scenario}) after ${deploy_after}s"
oha_run "$duration" "$work/oha-main.json" &
oha_pid=$!
load_start=$(now)
sleep "$deploy_after"
deploy_start=$(now)
set +e
# Each JSON line stamped when it arrives (ferry's own "at" has whole seconds).
timeout "$deploy_timeout" "$ferry" deploy dev shop=1.1.0 --output json 2>"$work/deploy.stderr" \
    | while IFS= read -r line; do printf '%s\t%s\n' "$(date +%s.%N)" "$line"; done >"$work/deploy.jsonl"
deploy_rc=${PIPESTATUS[0]}
set -e
deploy_end=$(now)
log "ferry deploy exited $deploy_rc after $(python3 -c "print(round($deploy_end - $deploy_start, 1))") s; waiting for oha"
wait "$oha_pid"
oha_pid=
load_end=$(now)
if [[ "$deploy_rc" != 0 ]]; then
    echo "--- ferry deploy stderr (last 20 lines)" >&2
    tail -n 20 "$work/deploy.stderr" >&2
fi

# Which version each task (its host port) ran, stopped tasks included.
{
    awsl ecs list-tasks --cluster dev --desired-status RUNNING --query 'taskArns' --output json
    awsl ecs list-tasks --cluster dev --desired-status STOPPED --query 'taskArns' --output json
} | jq -s 'add' > "$work/task-arns.json"
if [[ $(jq length "$work/task-arns.json") -gt 0 ]]; then
    jq -r '.[]' "$work/task-arns.json" | xargs -n 100 "$aws" --endpoint-url "$endpoint" ecs describe-tasks --cluster dev \
        --output json --tasks | jq -s '[.[].tasks[]]' > "$work/tasks.json"
else
    echo '[]' > "$work/tasks.json"
fi
timeout 60 "$ferry" local logs --access --output json --state-dir "$state" > "$work/access.jsonl" 2>/dev/null || true
awsl elbv2 describe-target-groups --output json > "$work/target-groups.json"
# ferry local's CPU time and the tasks': one line of /proc/<pid>/stat after the run.
ferry_cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$ferry_local_pid/stat" 2>/dev/null || echo null)

# --- figures -----------------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rev=$(bench_revision)
python3 - "$work" "$out" "$scenario" <<PY
import json, sys, os, statistics
sys.path.insert(0, "$root/bench")
import traffic
from traffic import oha_figures
work, out, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
baseline_start, baseline_end = $baseline_start, $baseline_end
load_start, deploy_start, deploy_end, load_end = $load_start, $deploy_start, $deploy_end, $load_end
meta = {
    "scenario": scenario, "date": "$stamp", "ferry": "$ferry", "ferry_commit": "$rev",
    "build": "debug (cargo build -p ferry)", "nproc": os.cpu_count(),
    "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t") if "model name" in open("/proc/cpuinfo").read() else None,
    "oha": "$("$oha" --version 2>/dev/null | head -n1)", "rate_per_s": $rate, "connections": 50,
    "baseline_s": $baseline, "duration_s": $duration, "deploy_after_s": $deploy_after, "tasks": $tasks,
    "health_check_scale": 0.05, "deregistration_delay_s": 5, "url": "$url",
    "production_listener": "$production", "preparing_listener": "$preparing",
    "deploy_exit_code": $deploy_rc, "deploy_s": round(deploy_end - deploy_start, 3),
    "ferry_local_cpu_s": $ferry_cpu,
}

baseline = oha_figures(f"{work}/oha-baseline.json")
main = oha_figures(f"{work}/oha-main.json")

# Host port -> version, from every task the cluster ran.
port_version = traffic.port_versions(json.load(open(f"{work}/tasks.json")))
tg_names = {g["TargetGroupArn"]: g["TargetGroupName"] for g in json.load(open(f"{work}/target-groups.json")).get("TargetGroups", [])}

# The load balancer's access log, production listener only, split by the deploy's start and end.
rows, sample = traffic.access_rows(f"{work}/access.jsonl", port=$prod_port, listener="$production")
window = traffic.window
access = {"sample_record": sample, "production_requests": len(rows)}
shift = {}
try:
    base = [r for r in rows if baseline_start <= r["_t"] <= baseline_end + 0.5]
    before = [r for r in rows if load_start - 0.5 <= r["_t"] < deploy_start]
    during = [r for r in rows if deploy_start <= r["_t"] <= deploy_end]
    after = [r for r in rows if deploy_end < r["_t"] <= load_end + 0.5]
    access.update({"baseline_run": window(base), "before_deploy": window(before), "during_deploy": window(during),
                   "after_deploy": window(after)})
    def version_of(r):
        return traffic.version_of(r, port_version)
    first_new = last_old = None
    groups, per_second = {}, {}
    for r in during + after:
        v = version_of(r)
        g = r.get("target_group")
        g = tg_names.get(g, g)
        groups.setdefault(str(g), [r["_t"], r["_t"], 0])
        groups[str(g)][1] = r["_t"]; groups[str(g)][2] += 1
        if v == "1.1.0" and first_new is None:
            first_new = r["_t"]
        if v == "1.0.0":
            last_old = r["_t"]
        sec = int(r["_t"] - deploy_start)
        per_second.setdefault(sec, {"1.0.0": 0, "1.1.0": 0, "other": 0, "failed": 0})
        per_second[sec][v if v in ("1.0.0", "1.1.0") else "other"] += 1
        if not str(r.get("status", "")).startswith("2"):
            per_second[sec]["failed"] += 1
    rel = lambda t: None if t is None else round(t - deploy_start, 3)
    shift = {
        "first_request_to_1_1_0_s": rel(first_new), "last_request_to_1_0_0_s": rel(last_old),
        "shift_window_s": round(last_old - first_new, 3) if first_new and last_old else None,
        "by_target_group": {g: {"first_s": rel(a), "last_s": rel(b), "requests": n} for g, (a, b, n) in groups.items()},
        "per_second": {str(k): v for k, v in sorted(per_second.items())},
        "note": "seconds after ferry deploy started, from the load balancer's access log; shift_window_s = last request to 1.0.0 - first request to 1.1.0 (negative: no request overlap)",
    }
except Exception as e:  # the access log's shape is reported, not guessed at silently
    access["error"] = repr(e)

# ferry's JSON lines: its phases and, when it reports them, traffic shifts.
events, result = [], None
for line in open(f"{work}/deploy.jsonl"):
    try:
        arrived, raw = line.rstrip("\n").split("\t", 1)
        e = json.loads(raw)
    except ValueError:
        continue
    if e.get("type") == "result":
        result = e
        continue
    if e.get("type") != "event":
        continue
    t = round(float(arrived) - deploy_start, 3)
    keep = {k: v for k, v in e.items() if k not in ("type", "at", "deployment_id", "service", "progress")}
    if isinstance(keep.get("message"), str):
        keep["message"] = keep["message"][:200]
    events.append(dict(t_s=t, **keep))
phases = [e for e in events if e.get("event") == "phase"]
def first(pred):
    return next((e["t_s"] for e in events if pred(e)), None)
text = lambda e: json.dumps(e).lower()
# blue-green, canary, linear: ferry prints a "traffic" phase event as each step starts. The
# new version is healthy when the step after its wait_healthy starts (the checks through the
# preparing rule run then; their "checked" event comes once they are done); it has 100 % of
# production when the shift_weights step to green_percent 100 is printed (ferry prints it
# once ModifyListener/ModifyRule answered).
step_of = lambda e: (e.get("step") or {}).get("step") if isinstance(e.get("step"), dict) else None
shifts = [(e["t_s"], e["step"].get("green_percent")) for e in events if step_of(e) == "shift_weights"]
first_shift = shifts[0][0] if shifts else None
waits = [i for i, e in enumerate(events) if step_of(e) == "wait_healthy" and (first_shift is None or e["t_s"] <= first_shift)]
healthy_t = events[waits[-1] + 1]["t_s"] if waits and waits[-1] + 1 < len(events) else None
checked_t = first(lambda e: e.get("what") == "checked")
full_t = next((t for t, p in shifts if p == 100), None)
# The share of production requests the new version answered while each weight was set, as
# the access log saw it (a check that the listener honours the weights).
measured = []
if shifts and rows and "_t" in rows[0] and "version_of" in globals():
    bounds = [t for t, _ in shifts] + [round(deploy_end - deploy_start, 3)]
    for (t, p), end in zip(shifts, bounds[1:]):
        rs = [r for r in rows if t <= r["_t"] - deploy_start < end]
        new = sum(1 for r in rs if version_of(r) == "1.1.0")
        measured.append({"green_percent": p, "from_s": t, "to_s": end, "requests": len(rs),
                         "to_1_1_0": new, "share_percent": round(100 * new / len(rs), 1) if rs else None})
ferry = {
    "exit_code": meta["deploy_exit_code"],
    "outcome": (result or {}).get("outcome"),
    "services": [{k: s.get(k) for k in ("service", "outcome", "cause", "reason", "from_version", "to_version", "probe") if k in s}
                 for s in (result or {}).get("services", [])],
    "phases": [(e["t_s"], e.get("phase") if not isinstance(e.get("step"), dict) else f"{e.get('phase')}:{e['step'].get('step')}")
               for e in phases],
    "event_counts": {},
    "new_version_healthy_s": healthy_t, "checks_passed_s": checked_t, "shifts": shifts,
    "traffic_100_percent_s": full_t, "measured_shares": measured,
    "switch_s": round(full_t - healthy_t, 3) if healthy_t is not None and full_t is not None else None,
}
for e in events:
    ferry["event_counts"][e.get("event")] = ferry["event_counts"].get(e.get("event"), 0) + 1
ferry["timeline"] = [e for e in events if e.get("event") not in ("ecs_event", "progress", None)][:200]

report = {"meta": meta, "baseline": baseline, "during_load": main, "access_log": access, "traffic_shift": shift, "ferry_deploy": ferry}
json.dump(report, open(f"{out}/zero-downtime-{scenario}.json", "w"), indent=2)

f = lambda v: "-" if v is None else v
lines = [
    f"zero-downtime {scenario}: {meta['date']}, ferry {meta['ferry_commit']} ({meta['build']}), nproc {meta['nproc']}, {meta['cpu']}",
    f"oha {meta['oha']}, {meta['rate_per_s']} req/s, 50 connections, {meta['url']} (production listener)",
    f"ferry deploy: exit {ferry['exit_code']} ({f(ferry['outcome'])}), {meta['deploy_s']} s, started {meta['deploy_after_s']} s into the {meta['duration_s']} s run",
    "",
    "| run | sent | failed | non-2xx | conn errors | p50 ms | p99 ms | max ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
]
for name, o in (("baseline (no deploy)", baseline), ("during the deploy (whole run)", main)):
    lines.append(f"| {name} | {o['sent']} | {o['failed']} | {o['non_2xx']} | {o['connection_errors']} | {f(o['p50_ms'])} | {f(o['p99_ms'])} | {f(o['max_ms'])} |")
if "during_deploy" in access:
    lines += ["", "load balancer access log (production listener; latency as the proxy measured it):",
              "| window | requests | failed | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for k in ("baseline_run", "before_deploy", "during_deploy", "after_deploy"):
        w = access[k]
        lines.append(f"| {k.replace('_', ' ')} | {w['requests']} | {w['failed']} | {f(w['p50_ms'])} | {f(w['p99_ms'])} |")
if shift:
    lines += ["", f"traffic shift (s after deploy start): first request to 1.1.0 {f(shift['first_request_to_1_1_0_s'])}, "
              f"last request to 1.0.0 {f(shift['last_request_to_1_0_0_s'])} (window {f(shift['shift_window_s'])} s)"]
if shifts:
    lines.append(f"ferry (s after deploy start): new version healthy {f(healthy_t)}, checks passed {f(checked_t)}, "
                 + ", ".join(f"{p}% at {t}" for t, p in shifts) + f"; healthy -> 100% (switch) {f(ferry['switch_s'])} s")
    lines.append("share of production requests answered by 1.1.0 (access log) while ferry had set "
                 + ", ".join(f"{m['green_percent']}%: {f(m['share_percent'])}% of {m['requests']}" for m in measured))
lines.append("ferry phases (s after deploy start, as the lines arrived): " + ", ".join(f"{p} {t}" for t, p in ferry["phases"]))
if main["errors"]:
    lines.append("oha errors: " + json.dumps(main["errors"]))
open(f"{out}/zero-downtime-{scenario}.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
cp "$work/ferry.toml" "$out/zero-downtime-$scenario.ferry.toml"
[[ "$deploy_rc" == 0 ]] || exit 1
