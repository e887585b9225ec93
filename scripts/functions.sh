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
#           127.0.0.1, in the background; wait (at most 60 s) until each answers. A port
#           variable that is set is used as given (start fails if the port is taken); every
#           other service gets a free port of RILL_PORT_RANGE, chosen at start (and chosen again,
#           at most 5 times, if another process takes it before the service binds it). The
#           ports are recorded in RUN_DIR. Prints on stdout, one per line, the URLs to use:
#             echo=http://127.0.0.1:PORT/
#             transform=http://127.0.0.1:PORT/
#             faulty=http://127.0.0.1:PORT/
#             validate-auction=http://127.0.0.1:PORT/
#             validate-bid=http://127.0.0.1:PORT/
#             notify=http://127.0.0.1:PORT/
#             lambda=http://127.0.0.1:PORT
#   install only the `npm ci` step of start (for tests that start a function themselves)
#   stop    TERM the processes recorded in RUN_DIR (KILL after 10 s); safe if none runs
#   status  exit 0 if every process recorded in RUN_DIR is alive and answers (prints the
#           lines above, from the recorded ports)
#
# Environment:
#   RILL_CACHE_DIR          cache root; npm's cache is $RILL_CACHE_DIR/npm (default $HOME/.cache/rill)
#   RILL_FUNCTIONS_DIR      RUN_DIR: logs NAME.log, pid files NAME.pid, ports NAME.port
#                           (default <checkout>/.run/functions: one per checkout)
#   RILL_FN_ECHO_PORT       echo      (default: a free port chosen at start)
#   RILL_FN_TRANSFORM_PORT  transform (default: chosen)
#   RILL_FN_FAULTY_PORT     faulty    (default: chosen)
#   RILL_FN_VALIDATE_AUCTION_PORT  validate-auction (default: chosen)
#   RILL_FN_VALIDATE_BID_PORT      validate-bid     (default: chosen)
#   RILL_FN_NOTIFY_PORT            notify           (default: chosen)
#   RILL_FN_LAMBDA_PORT     serverless-offline lambdaPort (default: chosen)
#   RILL_PORT_RANGE         where ports are chosen (default 30000-32767; outside the
#                           ephemeral range, which starts at 32768 on Linux)
#   RILL_NOTIFY_FILE        where notify appends (default RUN_DIR/notifications.log)
#   RILL_FN_LAMBDA          0: do not start serverless-offline (saves ~5 s and ~150 MB)
#   RILL_FN_LAMBDA_TIMEOUT_S  the Lambda faulty function's timeout (default 120)
#   RILL_FAULT, RILL_FAULT_SEED  fault settings of `faulty` (JSON; faas_bridge/functions/core.js)
#
# Needs node (>= 18.12), npm and perl. Only talks to 127.0.0.1 (and the npm registry when
# node_modules must be installed).
set -euo pipefail

# shellcheck source=scripts/lib/host.sh
source "$(dirname "$0")/lib/host.sh"
readonly ROOT=$rill_root
readonly FN_DIR="$ROOT/faas_bridge/functions"
readonly AUCTION_FN_DIR="$ROOT/topologies/auction/functions"
readonly CACHE_ROOT="${RILL_CACHE_DIR:-$HOME/.cache/rill}"
readonly NPM_CACHE="$CACHE_ROOT/npm"
RUN_DIR=$(rill_run_dir functions)
readonly RUN_DIR
readonly NOTIFY_FILE="${RILL_NOTIFY_FILE:-$RUN_DIR/notifications.log}"
readonly HOST=127.0.0.1
readonly STAMP="$FN_DIR/node_modules/.rill-npm-ci"
readonly FF_MAIN="$FN_DIR/node_modules/@google-cloud/functions-framework/build/src/main.js"
readonly SLS_MAIN="$FN_DIR/node_modules/serverless/bin/serverless.js"

readonly TARGETS=(echo transform faulty validate-auction validate-bid notify)
# The ports given in the environment (empty: chosen at start).
declare -A GIVEN=(
    [echo]="${RILL_FN_ECHO_PORT:-}"
    [transform]="${RILL_FN_TRANSFORM_PORT:-}"
    [faulty]="${RILL_FN_FAULTY_PORT:-}"
    [validate-auction]="${RILL_FN_VALIDATE_AUCTION_PORT:-}"
    [validate-bid]="${RILL_FN_VALIDATE_BID_PORT:-}"
    [notify]="${RILL_FN_NOTIFY_PORT:-}"
    [lambda]="${RILL_FN_LAMBDA_PORT:-}"
)
# The port each service runs on: given or chosen by start, else read from RUN_DIR.
declare -A PORTS=()
declare -A LAUNCHES=() # start: how many times each service was launched
FAILED=""
readonly WITH_LAMBDA="${RILL_FN_LAMBDA:-1}"
readonly START_TIMEOUT_S=60
readonly STOP_TIMEOUT_S=10
readonly MAX_LAUNCHES=5

log() { echo "functions.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The services start runs.
services() {
    printf '%s\n' "${TARGETS[@]}"
    [[ "$WITH_LAMBDA" == 0 ]] || echo lambda
}

# The services RUN_DIR records a port for (what the last start ran), in start's order.
recorded_services() {
    local name
    for name in "${TARGETS[@]}" lambda; do
        [[ -f "$(port_file "$name")" ]] && echo "$name"
    done
    return 0
}

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
port_file() { echo "$RUN_DIR/$1.port"; }
read_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }

# Fills PORTS from RUN_DIR (for stop and status).
load_ports() {
    local name
    for name in $(recorded_services); do PORTS[$name]=$(cat "$(port_file "$name")"); done
}

# True if PID is alive and is our process for service $2 on port $3 (guards against a
# recycled pid, and against another run dir's process of the same checkout). Port "": any
# (a run dir written before ports were recorded).
is_ours() {
    local pid=$1 name=$2 port=$3 cmd
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    if [[ "$name" == lambda ]]; then
        [[ "$cmd" == *"$SLS_MAIN offline start"* ]] || return 1
        [[ -z "$port" ]] ||
            tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "RILL_FN_LAMBDA_PORT=$port"
    else
        [[ "$cmd" == *"$FF_MAIN"* && "$cmd" == *"--target=$name "* ]] || return 1
        [[ -z "$port" || "$cmd" == *"--port=$port "* ]]
    fi
}

# A given port must be free: fails naming the holder's kind of socket.
ensure_given_port_free() {
    local name=$1 p=$2 usage
    rill_port_bindable "$p" && return 0
    usage=$(rill_port_usage "$p")
    [[ "$usage" == busy ]] && die "port $p ($name) is held by a client socket (see: ss -tanp | grep :$p)"
    die "port $p ($name) is already in use (see: ss -ltnp | grep :$p)"
}

# Sets PORTS[name] for every service to start: its given port, else a free one.
assign_ports() {
    local name p
    for name in "$@"; do
        p=${GIVEN[$name]}
        [[ -z "$p" ]] && continue
        rill_check_port "$name" "$p" || exit 1
        ((p < 32768)) || log "warning: port $p of $name is in the ephemeral range (>= 32768)"
        ensure_given_port_free "$name" "$p"
        PORTS[$name]=$p
    done
    for name in "$@"; do
        [[ -n "${GIVEN[$name]}" ]] && continue
        PORTS[$name]=$(rill_pick_port 1 "${PORTS[@]}") || die "cannot choose a port for $name"
    done
}

# The port is our process's (not another start's that chose the same port), and one HTTP
# exchange proves it runs our code.
answers() {
    local name=$1 p=${PORTS[$1]} out
    rill_port_owned_by "$p" "$(read_pid "$name")" || return 1
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
        (cd "$src" && RILL_FUNCTIONS_HOST=$HOST RILL_NOTIFY_FILE=$NOTIFY_FILE \
            exec nohup node -r "$FN_DIR/listen-host.js" "$FF_MAIN" --source="$src" \
                --target="$name" --port="${PORTS[$name]}" --signature-type=http \
                </dev/null >>"$logf" 2>&1) &
    fi
    pid=$!
    echo "$pid" >"$(pid_file "$name")"
    echo "${PORTS[$name]}" >"$(port_file "$name")"
}

# True while PID runs. A zombie counts as gone: once this script has exited, its children
# belong to PID 1, which may take seconds to reap them (kill -0 still succeeds meanwhile).
running() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [[ -n "$state" && "$state" != Z ]]
}

# TERMs (then KILLs) the pids given, waiting at most STOP_TIMEOUT_S for them.
stop_pids() {
    local pid deadline=$((SECONDS + STOP_TIMEOUT_S))
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if running "$pid"; then
            log "process $pid did not stop within ${STOP_TIMEOUT_S}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            while running "$pid"; do sleep 0.1; done
        fi
    done
}

# Stops every service RUN_DIR has a pid for (even one started with RILL_FN_LAMBDA=1 when it
# is 0 now), and forgets them.
do_stop() {
    local name pid pids=()
    load_ports
    for name in "${TARGETS[@]}" lambda; do
        pid=$(read_pid "$name")
        [[ -n "$pid" ]] || continue
        is_ours "$pid" "$name" "${PORTS[$name]:-}" && pids+=("$pid")
        rm -f "$(pid_file "$name")" "$(port_file "$name")"
    done
    ((${#pids[@]} == 0)) || stop_pids "${pids[@]}"
}

show_log_tail() {
    local f="$RUN_DIR/$1.log"
    [[ -s "$f" ]] || return 0
    log "---- last 30 lines of $f ----"
    tail -n 30 "$f" >&2
}

# Service $1 exited while starting: true (and launched again on another free port) when it
# lost its chosen port to another process and launches are left.
relaunch_on_new_port() {
    local name=$1 old=${PORTS[$1]}
    [[ -z "${GIVEN[$name]}" ]] || return 1
    rill_bind_failed "$RUN_DIR/$name.log" || return 1
    ((LAUNCHES[$name] < MAX_LAUNCHES)) || return 1
    PORTS[$name]=$(rill_pick_port 1 "${PORTS[@]}") || return 1
    log "port $old of $name was taken before it bound it; starting it on ${PORTS[$name]}"
    LAUNCHES[$name]=$((LAUNCHES[$name] + 1))
    launch "$name"
}

# Waits (at most START_TIMEOUT_S after the last launch) until every service in $@ answers;
# sets FAILED to the ones that did not (not a command substitution: a relaunch changes PORTS).
wait_until_answering() {
    local name pending=("$@") left failed="" deadline=$((SECONDS + START_TIMEOUT_S))
    while ((${#pending[@]} > 0)); do
        left=()
        for name in "${pending[@]}"; do
            if ! running "$(read_pid "$name")"; then
                if relaunch_on_new_port "$name"; then
                    left+=("$name")
                    deadline=$((SECONDS + START_TIMEOUT_S)) # a new start for it (launches are bounded)
                    continue
                fi
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
    FAILED=$failed
}

do_start() {
    rill_need node curl perl || exit 1
    do_install
    mkdir -p "$RUN_DIR"
    do_stop
    local name names=()
    mapfile -t names < <(services)
    assign_ports "${names[@]}"
    for name in "${names[@]}"; do LAUNCHES[$name]=1; launch "$name"; done
    wait_until_answering "${names[@]}"
    if [[ -n "$FAILED" ]]; then
        for name in $FAILED; do show_log_tail "$name"; done
        do_stop
        exit 1
    fi
    for name in "${names[@]}"; do echo "$name=$(url_of "$name")"; done
}

do_status() {
    local name rc=0 names
    load_ports
    names=$(recorded_services)
    [[ -n "$names" ]] || { log "nothing recorded in $RUN_DIR: not started"; return 1; }
    for name in $names; do
        if is_ours "$(read_pid "$name")" "$name" "${PORTS[$name]}" && answers "$name"; then
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
