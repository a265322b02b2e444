# Shared shell pieces of the benchmarks that run ferry's debug build under HTTP load
# (bench/zero-downtime.sh, bench/ecs_native.sh). Source it once $root is the repository:
#
#   source "$root/bench/lib.sh"
#   bench_ferry      # sets $ferry: $FERRY, else `cargo build -p ferry` (debug) in $CARGO_TARGET_DIR
#   bench_oha        # sets $oha: $OHA, else oha on PATH, else cargo install oha --locked
#   bench_aws        # sets $aws: $FERRY_BENCH_AWS, else the conformance venv's, else PATH's
#   bench_revision   # prints the commit, and says so when crates/ has uncommitted changes
#
# Call them before changing HOME: the tools live under the real ~/.cache/ferry.

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}

log() { printf '== %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.5 s until it succeeds, at most SECONDS.
wait_for() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$(( SECONDS + limit ))
    until "$@" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || { echo "timed out after ${limit}s waiting for $what" >&2; return 1; }
        sleep 0.5
    done
}

now() { date +%s.%N; }

bench_ferry() {
    if [[ -n "${FERRY:-}" ]]; then
        ferry=$FERRY   # a binary built already (FERRY=path): no build
    else
        log "building ferry (debug)"
        (cd "$root" && timeout 1800 cargo build -q -p ferry)
        ferry=$CARGO_TARGET_DIR/debug/ferry
    fi
    [[ -x "$ferry" ]] || { echo "no binary at $ferry" >&2; exit 2; }
}

bench_oha() {
    oha=${OHA:-$(command -v oha || true)}
    [[ -n "$oha" ]] || oha=$HOME/.cache/ferry/tools/bin/oha
    if [[ ! -x "$oha" ]]; then
        log "installing oha (cargo install oha --locked)"
        timeout 1800 cargo install oha --locked --root "$HOME/.cache/ferry/tools"
    fi
    [[ -x "$oha" ]] || { echo "no oha at $oha" >&2; exit 2; }
}

bench_aws() {
    aws=${FERRY_BENCH_AWS:-}
    local candidate
    for candidate in "$HOME/.cache/ferry/venv/bin/aws" "$(command -v aws || true)"; do
        [[ -z "$aws" && -n "$candidate" && -x "$candidate" ]] && aws=$candidate
    done
    [[ -n "$aws" ]] || { echo "no aws CLI: run tests/conformance/venv.sh's venv or set FERRY_BENCH_AWS" >&2; exit 2; }
}

bench_revision() {
    local rev
    rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || rev="$rev + uncommitted changes under crates/"
    echo "$rev"
}
