#!/usr/bin/env bash
# Reproduces every number in docs/benchmarks.md:
#   1. builds ferry in release mode (respects CARGO_TARGET_DIR);
#   2. starts ferry local (detached, 127.0.0.1, a free port, a temporary state dir) and runs
#      bench/api_latency.py: 100 services x 2 tasks, idle CPU/RSS, DescribeServices latency;
#   3. stops it, starts a fresh one and runs bench/deploy_time.py: UpdateService -> COMPLETED
#      for a 4-task service with a 1 s container health check;
#   4. stops it and removes the state dirs.
# Results (JSON) are written to $BENCH_OUT (default: a new directory under /tmp).
# Extra arguments are not taken; tune the scripts' flags by running them directly.
# Needs: cargo, python3 (standard library; boto3 optional, for the SDK comparison row).
set -euo pipefail

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

echo "== benchmark 1: DescribeServices latency, idle CPU and RSS (100 services x 2 tasks)"
start_local
python3 "$root/bench/api_latency.py" --endpoint "$endpoint" --pid "$pid" --ferry "$ferry" \
    --out "$out/api_latency.json"
stop_local

echo "== benchmark 2: UpdateService -> COMPLETED (4 tasks, health check interval 1 s)"
start_local
python3 "$root/bench/deploy_time.py" --endpoint "$endpoint" --ferry "$ferry" \
    --out "$out/deploy_time.json"
stop_local

echo "== results in $out"
