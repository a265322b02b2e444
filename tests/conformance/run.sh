#!/usr/bin/env bash
# The conformance suite: the aws CLI and boto3 as clients of `ferry local`, its responses
# checked against botocore's models, and the same requests sent to moto's server.
#
#   bash tests/conformance/run.sh [pytest args...]
#
# FERRY_VENV (default ~/.cache/ferry/venv) is the Python environment, created on first use.
# FERRY_CONFORMANCE_KEEP=1 keeps the temporary directory (ferry local's state and task logs,
# moto's log); FERRY_CONFORMANCE_TIMEOUT (default 900) bounds the pytest run in seconds.
# Before pytest, ferry-registry's tests run against Debian's docker-registry and skopeo
# (installed with apt when missing); FERRY_CONFORMANCE_REGISTRY=0 skips them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FERRY_VENV:-$HOME/.cache/ferry/venv}"

log() { printf 'conformance: %s\n' "$*" >&2; }

# --- Python environment -------------------------------------------------------------
# shellcheck source=venv.sh
source "$here/venv.sh"

# --- Debian peers for the registry tests --------------------------------------------
# docker-registry (Distribution 2.8) and skopeo; htpasswd and openssl write their users
# and certificates.
if [[ "${FERRY_CONFORMANCE_REGISTRY:-1}" != "0" ]]; then
    packages=()
    command -v docker-registry >/dev/null 2>&1 || packages+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || packages+=(skopeo)
    command -v htpasswd >/dev/null 2>&1 || packages+=(apache2-utils)
    command -v openssl >/dev/null 2>&1 || packages+=(openssl)
    if (( ${#packages[@]} )); then
        log "installing ${packages[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
fi

# --- the ferry binary ---------------------------------------------------------------
log "building ferry"
(cd "$root" && cargo build -p ferry)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)"
[[ -n "$target_dir" ]] || target_dir="${CARGO_TARGET_DIR:-$root/target}"
ferry="$target_dir/debug/ferry"
[[ -x "$ferry" ]] || { log "no ferry binary at $ferry"; exit 2; }

# --- ferry-registry against docker-registry and skopeo ------------------------------
if [[ "${FERRY_CONFORMANCE_REGISTRY:-1}" != "0" ]]; then
    log "ferry-registry against docker-registry and skopeo"
    (cd "$root" && timeout --signal=TERM --kill-after=30 600 cargo test -p ferry-registry -- --ignored)
fi

# --- servers ------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-conformance.XXXXXX")"
state_dir="$work/ferry-local"
moto_pid=""

cleanup() {
    local status=$?
    if [[ -n "$moto_pid" ]] && kill -0 "$moto_pid" 2>/dev/null; then
        kill "$moto_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$moto_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$moto_pid" 2>/dev/null || true
    fi
    if [[ -f "$state_dir/ferry-local.pid" ]]; then
        local ferry_pid
        ferry_pid="$(grep -o '"pid":[0-9]*' "$state_dir/ferry-local.pid" | grep -o '[0-9]*$' || true)"
        timeout 90 "$ferry" local down --state-dir "$state_dir" >/dev/null 2>&1 || true
        # The process exits shortly after `down` returns (its tasks stop, its state is
        # saved); should it not within 30 s, stop it.
        for _ in $(seq 300); do
            [[ -n "$ferry_pid" ]] && kill -0 "$ferry_pid" 2>/dev/null || break
            sleep 0.1
        done
        if [[ -n "$ferry_pid" ]] && kill -0 "$ferry_pid" 2>/dev/null; then
            log "ferry local (pid $ferry_pid) still runs after 'ferry local down'; sending SIGTERM"
            kill "$ferry_pid" 2>/dev/null || true
        fi
    fi
    if [[ $status -ne 0 && -f "$state_dir/ferry-local.log" ]]; then
        log "last lines of ferry local's log ($state_dir/ferry-local.log):"
        tail -n 30 "$state_dir/ferry-local.log" >&2 || true
    fi
    if [[ "${FERRY_CONFORMANCE_KEEP:-}" == "1" ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls until `$1` answers an HTTP request (any status), for at most $2 seconds.
wait_http() {
    local url="$1" seconds="$2"
    "$py" - "$url" "$seconds" <<'PY'
import sys, time, urllib.request, urllib.error
url, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answered
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

ferry_port="$(free_port)"
log "starting ferry local on 127.0.0.1:$ferry_port"
# Target groups' health checks at 1/20 of AWS's timings (a 5 s interval checks every 0.25 s),
# so that the ELBv2 flows take seconds, and a deployment minute (bake times, hook timeouts) of
# 0.5 s; what the API answers is not scaled.
up_out="$(timeout 60 "$ferry" local up --port "$ferry_port" --state-dir "$state_dir" --detach \
    --health-check-scale 0.05 --minute-seconds 0.5)"
printf '%s\n' "$up_out" >&2
ferry_url="$(printf '%s\n' "$up_out" | grep -o 'http://127\.0\.0\.1:[0-9]*' | head -n1)"
[[ -n "$ferry_url" ]] || { log "ferry local printed no endpoint"; exit 2; }
wait_http "$ferry_url/_ferry/status" 30 || { log "ferry local does not answer at $ferry_url"; exit 2; }

moto_port="$(free_port)"
log "starting moto_server on 127.0.0.1:$moto_port"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
moto_url="http://127.0.0.1:$moto_port"
if ! wait_http "$moto_url/moto-api/" 60; then
    log "moto_server does not answer at $moto_url"; cat "$work/moto.log" >&2; exit 2
fi

# --- the DynamoDB ledger against moto -------------------------------------------------
# The ledger suite (the cases SQLite and ferry local's DynamoDB pass) over moto's DynamoDB,
# an independent peer; a fresh table per case.
log "the DynamoDB ledger (ferry-aws) against moto"
(cd "$root" && FERRY_LEDGER_MOTO_URL="$moto_url" timeout --signal=TERM --kill-after=30 600 \
    cargo test -p ferry-aws --test it -- --ignored ledger_dynamodb::moto --skip per_call_latency)

# --- the suite ----------------------------------------------------------------------
export FERRY_BIN="$ferry"
export FERRY_LOCAL_URL="$ferry_url"
export MOTO_URL="$moto_url"
export AWS_ACCESS_KEY_ID=000000000000
export AWS_SECRET_ACCESS_KEY=conformance
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
export PYTHONDONTWRITEBYTECODE=1
export PATH="$venv/bin:$PATH"

# Every wait inside the suite is bounded; this bounds the whole run as well.
set +e
(cd "$root" && timeout --signal=TERM --kill-after=30 "${FERRY_CONFORMANCE_TIMEOUT:-900}" \
    "$py" -m pytest -p no:cacheprovider "$here" "$@")
status=$?
[[ $status -eq 124 ]] && log "pytest did not finish within ${FERRY_CONFORMANCE_TIMEOUT:-900} s"
set -e
exit "$status"
