#!/usr/bin/env bash
# Issue 12's benchmarks (docs/benchmarks.md, "ECS-managed blue/green, linear and canary (issue
# 12)"): ECS-managed BLUE_GREEN / LINEAR / CANARY deployments run by ferry local and followed by
# `ferry deploy` (strategy = "ecs-native"). Each part runs bench/ecs_native.py on a fresh ferry
# local of its own (the script starts and stops it: 127.0.0.1, a free port, a temporary state
# directory and HOME, --health-check-scale 0.05, --minute-seconds as the part sets it):
#
#   blue-green, linear, canary   zero downtime through the production listener: oha at 500
#                                requests/s for 90 s, `ferry deploy dev shop=1.1.0` 5 s into it
#                                (a deployment minute lasts 10 s: the traffic shift and the
#                                bakes fall inside the load window)
#   latency                      completion latency and API calls: `ferry deploy` vs `aws ecs
#                                update-service` + `aws ecs wait services-stable`, 7 runs each,
#                                for a BLUE_GREEN deployment with a 1-minute bake, then with a
#                                3-minute bake (a minute = 5 s: the two deployments end at
#                                different points of the aws CLI waiter's 15 s polling)
#
#   bench/ecs_native.sh [blue-green|linear|canary|latency ...]     (default: all four)
#
# Builds ferry (debug, `cargo build -p ferry`, as bench/zero-downtime.sh; FERRY=/path/to/ferry
# uses that binary), installs oha if missing (bench/lib.sh), and uses the conformance venv
# (tests/conformance/venv.sh: boto3 and the aws CLI v1; created on first use). Results:
# $BENCH_OUT (default bench/results) ecs-native-<part>.md and .json. Extra settings go to the
# Python driver through ECS_NATIVE_ARGS (e.g. ECS_NATIVE_ARGS="--duration 120 --rate 1000");
# `~/.cache/ferry/venv/bin/python bench/ecs_native.py --help` lists them. KEEP=1 keeps each part's temporary directory.
# Exit 0 when every part completed with every deploy succeeding, 1 otherwise, 2 on a setup error.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
parts=("$@")
(( ${#parts[@]} )) || parts=(blue-green linear canary latency)
for part in "${parts[@]}"; do
    case "$part" in
        blue-green|linear|canary|latency) ;;
        *) echo "usage: bench/ecs_native.sh [blue-green|linear|canary|latency ...]" >&2; exit 2 ;;
    esac
done
out=${BENCH_OUT:-$root/bench/results}
mkdir -p "$out"

# shellcheck source=lib.sh
source "$root/bench/lib.sh"
rev=$(bench_revision)   # the tree the build starts from
bench_ferry
# A private copy: ferry local, `ferry deploy` and the tasks all run this one binary, even if
# another build replaces $CARGO_TARGET_DIR/debug/ferry while the benchmark runs.
bin=$(mktemp -d /tmp/ferry-bench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
cp "$ferry" "$bin/ferry"
ferry=$bin/ferry
[[ " ${parts[*]} " == *" latency "* && ${#parts[@]} == 1 ]] || bench_oha
here="$root/tests/conformance"
# shellcheck source=../tests/conformance/venv.sh
source "$here/venv.sh"
FERRY_BENCH_AWS=${FERRY_BENCH_AWS:-$venv/bin/aws} bench_aws
read -r -a extra <<< "${ECS_NATIVE_ARGS:-}"
common=(--ferry "$ferry" --out "$out" --revision "$rev")
[[ -n "${FERRY:-}" ]] && common+=(--build "FERRY=$FERRY")
[[ "${KEEP:-}" == 1 ]] && common+=(--keep)

failed=0
for part in "${parts[@]}"; do
    if [[ "$part" == latency ]]; then
        for bake in 1 3; do
            log "latency: BLUE_GREEN, bakeTimeInMinutes $bake (a minute = 5 s): ferry deploy vs aws CLI"
            timeout 2400 "$py" "$root/bench/ecs_native.py" latency "${common[@]}" --aws "$aws" \
                --latency-bake-minutes "$bake" --name "latency-bake$bake" "${extra[@]}" || failed=1
        done
    else
        log "zero downtime: $part"
        timeout 1200 "$py" "$root/bench/ecs_native.py" zero-downtime "${common[@]}" --oha "$oha" \
            --strategy "$part" "${extra[@]}" || failed=1
    fi
done
log "results in $out"
exit "$failed"
