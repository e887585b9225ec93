#!/usr/bin/env bash
# functions.sh — run Rill's test functions locally for the FaaS bridge tests and demos.
#
# Usage: scripts/functions.sh start|stop|status|install
#
#   start   install faas_bridge/functions/node_modules with `npm ci` when missing or older than
#           package-lock.json; stop functions left running from RUN_DIR; start one Functions
#           Framework process per target (echo, transform, faulty from faas_bridge/functions;
#           validate-auction, validate-bid, notify from topologies/auction/functions, run with
#           faas_bridge/functions' framework) and serverless-offline
#           (Lambda Invoke API, functions rill-functions-local-{transform,faulty,echo}), all on
#           127.0.0.1, in the background; wait (at most 60 s) until each answers. Prints on
#           stdout, one per line:
#             echo=http://127.0.0.1:18081/
#             transform=http://127.0.0.1:18082/
#             faulty=http://127.0.0.1:18083/
#             validate-auction=http://127.0.0.1:18084/
#             validate-bid=http://127.0.0.1:18085/
#             notify=http://127.0.0.1:18086/
#             lambda=http://127.0.0.1:18090
#   install only the `npm ci` step of start (for tests that start a function themselves)
#   stop    TERM the recorded processes (KILL after 10 s); safe if none runs
#   status  exit 0 if every recorded process is alive and answers (prints the lines above)
#
# Environment:
#   RILL_CACHE_DIR          cache root; npm's cache is $RILL_CACHE_DIR/npm (default $HOME/.cache/rill)
#   RILL_FUNCTIONS_DIR      run dir: logs NAME.log, pid files NAME.pid (default ${TMPDIR:-/tmp}/rill-functions)
#   RILL_FN_ECHO_PORT       echo      (default 18081)
#   RILL_FN_TRANSFORM_PORT  transform (default 18082)
#   RILL_FN_FAULTY_PORT     faulty    (default 18083)
#   RILL_FN_VALIDATE_AUCTION_PORT  validate-auction (default 18084)
#   RILL_FN_VALIDATE_BID_PORT      validate-bid     (default 18085)
#   RILL_FN_NOTIFY_PORT            notify           (default 18086)
#   RILL_NOTIFY_FILE        where notify appends (default ${TMPDIR:-/tmp}/rill-notifications.log)
#   RILL_FN_LAMBDA_PORT     serverless-offline lambdaPort (default 18090)
#   RILL_FN_LAMBDA          0: do not start serverless-offline (saves ~5 s and ~150 MB)
#   RILL_FN_LAMBDA_TIMEOUT_S  the Lambda faulty function's timeout (default 120)
#   RILL_FAULT, RILL_FAULT_SEED  fault settings of `faulty` (JSON; faas_bridge/functions/core.js)
#
# Ports stay below 32768, outside Linux's ephemeral range. Needs node (>= 18.12) and npm.
# Only talks to 127.0.0.1 (and the npm registry when node_modules must be installed).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly ROOT
readonly FN_DIR="$ROOT/faas_bridge/functions"
readonly AUCTION_FN_DIR="$ROOT/topologies/auction/functions"
readonly CACHE_ROOT="${RILL_CACHE_DIR:-$HOME/.cache/rill}"
readonly NPM_CACHE="$CACHE_ROOT/npm"
readonly RUN_DIR="${RILL_FUNCTIONS_DIR:-${TMPDIR:-/tmp}/rill-functions}"
readonly HOST=127.0.0.1
readonly STAMP="$FN_DIR/node_modules/.rill-npm-ci"
readonly FF_MAIN="$FN_DIR/node_modules/@google-cloud/functions-framework/build/src/main.js"
readonly SLS_MAIN="$FN_DIR/node_modules/serverless/bin/serverless.js"

readonly TARGETS=(echo transform faulty validate-auction validate-bid notify)
declare -A PORTS=(
    [echo]="${RILL_FN_ECHO_PORT:-18081}"
    [transform]="${RILL_FN_TRANSFORM_PORT:-18082}"
    [faulty]="${RILL_FN_FAULTY_PORT:-18083}"
    [validate-auction]="${RILL_FN_VALIDATE_AUCTION_PORT:-18084}"
    [validate-bid]="${RILL_FN_VALIDATE_BID_PORT:-18085}"
    [notify]="${RILL_FN_NOTIFY_PORT:-18086}"
    [lambda]="${RILL_FN_LAMBDA_PORT:-18090}"
)
readonly WITH_LAMBDA="${RILL_FN_LAMBDA:-1}"
readonly START_TIMEOUT_S=60
readonly STOP_TIMEOUT_S=10

log() { echo "functions.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

services() {
    printf '%s\n' "${TARGETS[@]}"
    [[ "$WITH_LAMBDA" == 0 ]] || echo lambda
}

for name in "${!PORTS[@]}"; do
    p=${PORTS[$name]}
    if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < 1024 || p > 65535)); then
        die "port of $name must be 1024..65535, got '$p'"
    fi
    ((p < 32768)) || log "warning: port $p of $name is in the ephemeral range (>= 32768)"
done

# The folder a Functions Framework target's code is in (--source).
source_of() {
    case "$1" in
        validate-auction | validate-bid | notify) echo "$AUCTION_FN_DIR" ;;
        *) echo "$FN_DIR" ;;
    esac
}

url_of() {
    if [[ "$1" == lambda ]]; then echo "http://$HOST:${PORTS[lambda]}"; else echo "http://$HOST:${PORTS[$1]}/"; fi
}

# ---------------------------------------------------------------- install

install_is_current() {
    [[ -f "$STAMP" && "$STAMP" -nt "$FN_DIR/package-lock.json" && "$STAMP" -nt "$FN_DIR/package.json" ]]
}

do_install() {
    install_is_current && return 0
    command -v npm >/dev/null || die "npm not found (run scripts/install-deps.sh)"
    mkdir -p "$NPM_CACHE" "$RUN_DIR"
    exec 9>"$RUN_DIR/.npm-ci.lock"
    flock 9
    if ! install_is_current; then
        log "npm ci in $FN_DIR (cache $NPM_CACHE)"
        if ! (cd "$FN_DIR" && npm_config_cache="$NPM_CACHE" npm ci --no-audit --no-fund --ignore-scripts \
                --prefer-offline --loglevel=warn) >"$RUN_DIR/npm-ci.log" 2>&1; then
            cat "$RUN_DIR/npm-ci.log" >&2
            die "npm ci failed (log: $RUN_DIR/npm-ci.log)"
        fi
        date -u +%FT%TZ >"$STAMP"
    fi
    exec 9>&-
}

# ---------------------------------------------------------------- processes

pid_file() { echo "$RUN_DIR/$1.pid"; }
read_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }

# True if PID is alive and is our process for service $2 (guards against a recycled pid).
is_ours() {
    local pid=$1 name=$2 cmd
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    if [[ "$name" == lambda ]]; then
        [[ "$cmd" == *"$SLS_MAIN offline start"* ]]
    else
        [[ "$cmd" == *"$FF_MAIN"* && "$cmd" == *"--target=$name "* ]]
    fi
}

# How local TCP port $1 is used, read from /proc (never probed with connect()): "listen",
# "busy" (a client socket holds it, bind() would fail), or nothing.
port_usage() {
    local hex f tables=()
    hex=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do [[ -r "$f" ]] && tables+=("$f"); done
    awk -v suffix=":$hex" '
        FNR > 1 && substr($2, length($2) - 4) == suffix {
            if ($4 == "0A") listen = 1
            else if ($2 == $3 || $4 == "01" || $4 == "02") busy = 1
        }
        END { if (listen) print "listen"; else if (busy) print "busy" }' "${tables[@]}"
}

ensure_port_free() {
    local name=$1 p=${PORTS[$1]} usage
    usage=$(port_usage "$p")
    [[ -z "$usage" ]] && return 0
    [[ "$usage" == listen ]] && die "port $p ($name) is already in use (see: ss -ltnp | grep :$p)"
    die "port $p ($name) is held by a client socket (see: ss -tanp | grep :$p)"
}

# One HTTP exchange that proves the service runs our code.
answers() {
    local name=$1 p=${PORTS[$1]} out
    [[ "$(port_usage "$p")" == listen ]] || return 1
    if [[ "$name" == lambda ]]; then
        out=$(curl -s -m 5 -XPOST -d '{"rillControl":{}}' \
            "http://$HOST:$p/2015-03-31/functions/rill-functions-local-echo/invocations" 2>/dev/null) || return 1
        [[ "$out" == *'"target":"lambda-echo"'* ]]
    else
        out=$(curl -s -m 5 "http://$HOST:$p/" 2>/dev/null) || return 1
        [[ "$out" == "{\"target\":\"$name\"}" ]]
    fi
}

launch() {
    local name=$1 logf="$RUN_DIR/$1.log" pid
    : >"$logf"
    if [[ "$name" == lambda ]]; then
        (cd "$FN_DIR" && SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
            RILL_FUNCTIONS_HOST=$HOST RILL_FN_LAMBDA_PORT=${PORTS[lambda]} \
            exec nohup node "$SLS_MAIN" offline start --stage local </dev/null >>"$logf" 2>&1) &
    else
        local src
        src=$(source_of "$name")
        (cd "$src" && RILL_FUNCTIONS_HOST=$HOST \
            exec nohup node -r "$FN_DIR/listen-host.js" "$FF_MAIN" --source="$src" \
                --target="$name" --port="${PORTS[$name]}" --signature-type=http \
                </dev/null >>"$logf" 2>&1) &
    fi
    pid=$!
    echo "$pid" >"$(pid_file "$name")"
}

# True while PID runs. A zombie counts as gone: once this script has exited, its children
# belong to PID 1, which may take seconds to reap them (kill -0 still succeeds meanwhile).
running() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [[ -n "$state" && "$state" != Z ]]
}

do_stop() {
    local name pid pids=()
    # Every service that may have been started, even when RILL_FN_LAMBDA=0 now.
    for name in "${TARGETS[@]}" lambda; do
        pid=$(read_pid "$name")
        if is_ours "$pid" "$name"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$(pid_file "$name")"
    done
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    for pid in "${pids[@]}"; do
        while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if running "$pid"; then
            log "process $pid did not stop within ${STOP_TIMEOUT_S}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            while running "$pid"; do sleep 0.1; done
        fi
    done
}

show_log_tail() {
    local f="$RUN_DIR/$1.log"
    [[ -s "$f" ]] || return 0
    log "---- last 30 lines of $f ----"
    tail -n 30 "$f" >&2
}

do_start() {
    command -v node >/dev/null || die "node not found (run scripts/install-deps.sh)"
    command -v curl >/dev/null || die "curl not found"
    do_install
    mkdir -p "$RUN_DIR"
    do_stop
    local name pending=() failed=""
    mapfile -t pending < <(services)
    for name in "${pending[@]}"; do ensure_port_free "$name"; done
    for name in "${pending[@]}"; do launch "$name"; done

    local deadline=$((SECONDS + START_TIMEOUT_S)) left
    while ((${#pending[@]} > 0)); do
        left=()
        for name in "${pending[@]}"; do
            if ! running "$(read_pid "$name")"; then
                log "$name exited during startup"
                failed+=" $name"
            elif ! answers "$name"; then
                left+=("$name")
            fi
        done
        pending=("${left[@]}")
        [[ -z "$failed" ]] || break
        ((${#pending[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            log "no answer within ${START_TIMEOUT_S}s from:${pending[*]/#/ }"
            failed+=" ${pending[*]}"
            break
        fi
        sleep 0.2
    done
    if [[ -n "$failed" ]]; then
        for name in $failed; do show_log_tail "$name"; done
        do_stop
        exit 1
    fi
    for name in $(services); do echo "$name=$(url_of "$name")"; done
}

do_status() {
    local name rc=0
    for name in $(services); do
        if is_ours "$(read_pid "$name")" "$name" && answers "$name"; then
            echo "$name=$(url_of "$name")"
        else
            log "$name is not running"
            rc=1
        fi
    done
    return "$rc"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    install) do_install ;;
    status) do_status ;;
    *) usage ;;
esac
