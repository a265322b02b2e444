#!/usr/bin/env bash
# Issue 11's benchmarks (docs/benchmarks.md, "Load balancers"): builds ferry in release
# mode, then runs bench/elb_traffic.py's three measures, each on a fresh ferry local
# (detached, 127.0.0.1, a free port, a temporary state dir, AWS's health check timings):
#   1. zero-downtime: rolling deploys of a 4-task service under `hey` at 600 requests/s;
#   2. overhead: listener vs the task's host port, same generator (hey; wrk if installed);
#   3. idle: CPU and RSS with 20 load balancers, 50 target groups, 100 healthy targets.
#
#   bench/elb.sh [zero-downtime|overhead|idle ...]    (default: all three)
#
# Results go to $BENCH_OUT (default: a new directory under /tmp): <measure>.json and
# machine.txt. Needs cargo, Debian's hey and wrk (installed with apt-get when missing) and a
# Python with boto3 ($FERRY_BENCH_PYTHON, default the bench venv of bench/run.sh deploy,
# else the conformance venv).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
measures=("$@")
(( ${#measures[@]} )) || measures=(zero-downtime overhead idle)

py=${FERRY_BENCH_PYTHON:-}
for candidate in "$HOME/.cache/ferry/bench-venv/bin/python" "$HOME/.cache/ferry/venv/bin/python"; do
    [[ -n "$py" ]] && break
    [[ -x "$candidate" ]] && "$candidate" -c 'import boto3' 2>/dev/null && py=$candidate
done
[[ -n "$py" ]] || { echo "no Python with boto3: set FERRY_BENCH_PYTHON" >&2; exit 2; }
packages=()
command -v hey >/dev/null 2>&1 || packages+=(hey)
command -v wrk >/dev/null 2>&1 || packages+=(wrk)
if (( ${#packages[@]} )); then
    echo "== installing ${packages[*]} (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null \
        || { echo "could not install ${packages[*]}: install them (apt-get install hey wrk) and run again" >&2; exit 2; }
fi

echo "== building ferry (release)"
cargo build --release -p ferry
target_dir=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ferry="$target_dir/release/ferry"
[[ -x "$ferry" ]] || { echo "no binary at $ferry" >&2; exit 1; }

out=${BENCH_OUT:-$(mktemp -d /tmp/ferry-bench-elb.XXXXXX)}
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

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "memory: $(grep MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
    echo "kernel: $(uname -r)"
    rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || rev="$rev + uncommitted changes under crates/"
    echo "ferry: $ferry ($rev)"
    echo "hey: $(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo '?'); wrk: $(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo 'not installed')"
    echo "python: $("$py" --version 2>&1)"
} | tee "$out/machine.txt"

for measure in "${measures[@]}"; do
    dir=$(mktemp -d /tmp/ferry-bench-state.XXXXXX)
    state_dirs+=("$dir")
    port=$(free_port)
    "$ferry" local up --detach --port "$port" --state-dir "$dir"
    pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$dir/ferry-local.pid")
    echo "== $measure (ferry local pid $pid, http://127.0.0.1:$port)"
    (cd "$root/bench" && "$py" elb_traffic.py "$measure" --endpoint "http://127.0.0.1:$port" --pid "$pid" \
        --ferry "$ferry" --out "$out/$measure.json" >/dev/null)
    "$ferry" local down --state-dir "$dir" >/dev/null 2>&1 || true
done
echo "== results in $out"
