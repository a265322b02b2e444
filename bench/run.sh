#!/usr/bin/env bash
# Reproduces every number in docs/benchmarks.md:
#   1. builds ferry in release mode (respects CARGO_TARGET_DIR);
#   2. starts ferry local (detached, 127.0.0.1, a free port, a temporary state dir) and runs
#      bench/api_latency.py: 100 services x 2 tasks, idle CPU/RSS, DescribeServices latency;
#   3. stops it, starts a fresh one and runs bench/deploy_time.py: UpdateService -> COMPLETED
#      for a 4-task service with a 1 s container health check;
#   4. stops it and removes the state dirs.
# Results (JSON) are written to $BENCH_OUT (default: a new directory under /tmp).
# Needs: cargo, python3 (standard library; boto3 optional, for the SDK comparison row).
#
#   bench/run.sh deploy [deploy_compare.py flags...]
# instead builds ferry, makes a Python environment with the peers (bench/requirements-deploy.txt:
# awscli, boto3, ecs-deploy; in $FERRY_BENCH_VENV, default ~/.cache/ferry/bench-venv), starts
# one ferry local and runs bench/deploy_compare.py: ferry deploy vs the aws CLI vs ecs-deploy
# (completion latency, API calls, ten services in one run, start-up). Its markdown tables
# are written to $BENCH_OUT/deploy_compare.md, its raw results to deploy_compare.json.
# Extra arguments go to deploy_compare.py (e.g. --runs 10 --measure latency); without
# `deploy`, no arguments are taken: tune the scripts' flags by running them directly.
#
#   bench/run.sh retag [retag.py flags...]
# builds ferry, starts one ferry local (the environment's endpoint: `ferry tag` must make no
# AWS call) and runs bench/retag.py: `ferry tag` vs `skopeo copy` on a local docker-registry,
# 10 MB and 500 MB images (needs docker-registry, skopeo, apache2-utils; about 3 minutes).
#
#   bench/run.sh promote [promote_many.py flags...]
# builds ferry and runs bench/promote_many.py three times, each on a fresh ferry local:
# fifty services promoted dev -> stage in one run vs one, with ferry local's default rate
# limits (2 rounds), with a write burst wide enough for fifty services (2 rounds), and
# with no limits (3 rounds); about 10 minutes in all, most of it the SDK's retry waits.
#
#   bench/run.sh noop [noop_deploy.py flags...]
# builds ferry and runs bench/noop_deploy.py twice, each on a fresh ferry local: ten services
# deployed once, then the same `ferry deploy` of all ten timed 20 times (every service
# already runs it: reads only), with ferry local's default rate limits and with none; about
# 2 minutes. The script exits 1 if a run makes a call that is not a read.
#
#   bench/run.sh run [run_task.py flags...]
# builds ferry, starts one ferry local and runs bench/run_task.py: `ferry run` of a task that
# exits at once (and of one that sleeps 2 s) vs `aws ecs run-task` + `aws ecs wait
# tasks-stopped` (the aws CLI of the conformance venv, tests/conformance/venv.sh), 10 runs
# each: wall time, the task's own run time (ECS's startedAt to stoppedAt), API calls; about
# 3 minutes, most of it the aws CLI waiter's 6 s polls.
#
#   bench/run.sh ecs-native [blue-green|linear|canary|latency ...]
# runs bench/ecs_native.sh (issue 12; it builds ferry in *debug* mode, as bench/zero-downtime.sh,
# not release, and starts a ferry local per part): zero downtime through the production listener
# during ECS-managed BLUE_GREEN, LINEAR and CANARY deploys by `ferry deploy` under oha at 500
# requests/s, and the completion latency and API calls of `ferry deploy` vs `aws ecs
# update-service` + `aws ecs wait services-stable`; about 15 minutes for all four parts.
# All write $BENCH_OUT/<name>.md (tables) and <name>.json (raw results); extra arguments
# go to the script (for promote and noop, to every run).
set -euo pipefail

mode=${1:-}
case "$mode" in
    "") ;;
    deploy|retag|promote|noop|run) shift ;;
    ecs-native) shift; exec "$(dirname "${BASH_SOURCE[0]}")/ecs_native.sh" "$@" ;;
    *) echo "usage: bench/run.sh [deploy|retag|promote|noop|run|ecs-native [script flags...]]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

echo "== building ferry (release)"
cargo build --release -p ferry
target_dir=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ferry="$target_dir/release/ferry"
[ -x "$ferry" ] || { echo "no binary at $ferry" >&2; exit 1; }

out=${BENCH_OUT:-$(mktemp -d /tmp/ferry-bench.XXXXXX)}
mkdir -p "$out"

state_dirs=()
cleanup() {
    for dir in "${state_dirs[@]}"; do
        "$ferry" local down --state-dir "$dir" >/dev/null 2>&1 || true
        rm -rf "$dir"
    done
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts a detached ferry local; sets $endpoint and $pid.
start_local() {
    local dir port
    dir=$(mktemp -d /tmp/ferry-bench-state.XXXXXX)
    state_dirs+=("$dir")
    port=$(free_port)
    "$ferry" local up --detach --port "$port" --state-dir "$dir"
    pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$dir/ferry-local.pid")
    endpoint="http://127.0.0.1:$port"
    state_dir=$dir
}

stop_local() {
    "$ferry" local down --state-dir "$state_dir"
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "memory: $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
    echo "kernel: $(uname -r)"
    rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || rev="$rev + uncommitted changes under crates/"
    echo "ferry: $ferry ($rev)"
    echo "python: $(python3 --version 2>&1)"
} | tee "$out/machine.txt"

if [ "$mode" = deploy ]; then
    venv=${FERRY_BENCH_VENV:-$HOME/.cache/ferry/bench-venv}
    requirements="$root/bench/requirements-deploy.txt"
    if [ ! -x "$venv/bin/python" ]; then
        echo "== creating $venv"
        python3 -m venv "$venv"
    fi
    if ! cmp -s "$requirements" "$venv/.ferry-bench-requirements" 2>/dev/null; then
        echo "== installing $requirements"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$venv/.ferry-bench-requirements"
    fi
    echo "== deploy: ferry vs aws CLI vs ecs-deploy"
    start_local
    python3 "$root/bench/deploy_compare.py" --endpoint "$endpoint" --ferry "$ferry" \
        --venv-bin "$venv/bin" --out "$out/deploy_compare.json" "$@" | tee "$out/deploy_compare.md"
    stop_local
    echo "== results in $out"
    exit 0
fi

if [ "$mode" = retag ]; then
    echo "== retag: ferry tag vs skopeo copy on a local docker-registry"
    start_local
    python3 "$root/bench/retag.py" --ferry "$ferry" --endpoint "$endpoint" \
        --out "$out/retag.json" "$@" | tee "$out/retag.md"
    stop_local
    echo "== results in $out"
    exit 0
fi

if [ "$mode" = promote ]; then
    # Three rate-limit settings, each on a fresh ferry local: ferry local's default buckets
    # (reads 50 burst / 20 per s, writes 20 / 5 per s, per action); the same with a write
    # burst of 100 for RegisterTaskDefinition and UpdateService (fifty services' writes fit
    # in the burst, so the write rate is not the floor); and no limits (ferry's own scaling).
    wide='{"limits": {"ecs:RegisterTaskDefinition": {"burst": 100, "rate": 5}, "ecs:UpdateService": {"burst": 100, "rate": 5}}}'
    for setting in default wide off; do
        case "$setting" in
            default) limits='{}'; rounds=2 ;;
            wide) limits=$wide; rounds=2 ;;
            off) limits=off; rounds=3 ;;
        esac
        echo "== promote: fifty services dev -> stage in one run vs one, rate limits: $setting"
        start_local
        python3 "$root/bench/promote_many.py" --endpoint "$endpoint" --ferry "$ferry" \
            --workdir "$state_dir/project" --limits "$limits" --rounds "$rounds" \
            --out "$out/promote_$setting.json" "$@" | tee "$out/promote_$setting.md"
        stop_local
    done
    echo "== results in $out"
    exit 0
fi

if [ "$mode" = noop ]; then
    for setting in default off; do
        case "$setting" in
            default) limits='{}' ;;
            off) limits=off ;;
        esac
        echo "== noop: ten services, a deploy that changes nothing, rate limits: $setting"
        start_local
        python3 "$root/bench/noop_deploy.py" --endpoint "$endpoint" --ferry "$ferry" \
            --workdir "$state_dir/project" --limits "$limits" \
            --out "$out/noop_$setting.json" "$@" | tee "$out/noop_$setting.md"
        stop_local
    done
    echo "== results in $out"
    exit 0
fi

if [ "$mode" = run ]; then
    here="$root/tests/conformance"
    # shellcheck source=../tests/conformance/venv.sh
    source "$here/venv.sh"
    echo "== run: ferry run vs aws ecs run-task + aws ecs wait tasks-stopped"
    start_local
    python3 "$root/bench/run_task.py" --endpoint "$endpoint" --ferry "$ferry" --aws "$venv/bin/aws" \
        --workdir "$state_dir/project" --out "$out/run_task.json" "$@" | tee "$out/run_task.md"
    stop_local
    echo "== results in $out"
    exit 0
fi

echo "== benchmark 1: DescribeServices latency, idle CPU and RSS (100 services x 2 tasks)"
start_local
python3 "$root/bench/api_latency.py" --endpoint "$endpoint" --pid "$pid" --ferry "$ferry" \
    --state-dir "$state_dir" --out "$out/api_latency.json"
stop_local

echo "== benchmark 2: UpdateService -> COMPLETED (4 tasks, health check interval 1 s)"
start_local
python3 "$root/bench/deploy_time.py" --endpoint "$endpoint" --ferry "$ferry" \
    --out "$out/deploy_time.json"
stop_local

echo "== results in $out"
