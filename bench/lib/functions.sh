# shellcheck shell=bash disable=SC2034 # sourced: its variables are the callers'
# functions.sh — the function runtimes a FaaS benchmark calls. Sourced through
# bench/lib/bench.sh, not run.
#
# Two ways: a Functions Framework process of the script's own (faas_bridge/functions, run as
# scripts/functions.sh runs it) on a port of its own (given, or a free one), whose faults and
# latency the script sets through POST /control, stopped by pid at the end (start_function);
# or the functions scripts/functions.sh runs from this checkout's run dir, started, and
# stopped at the end, only when `functions.sh status` says they do not run
# (ensure_functions).

readonly FN_DIR="$ROOT/faas_bridge/functions"
readonly FF_MAIN="$FN_DIR/node_modules/@google-cloud/functions-framework/build/src/main.js"
readonly FUNCTIONS="$ROOT/scripts/functions.sh"

FN_PID=""
STARTED_FUNCTIONS=""

# start_function TARGET PORT FAULT_JSON: runs the Functions Framework target on 127.0.0.1:PORT
# (PORT "": a free one of RILL_PORT_RANGE) in the background; sets FN_PID and FN_URL; waits
# until it answers. FAULT_JSON is RILL_FAULT (faulty only; "" for none). FN_CPU, when set,
# is the one CPU the function may run on (taskset).
start_function() {
    local target=$1 port=$2 fault=$3 i pin=()
    [[ -n "${FN_CPU:-}" ]] && pin=(taskset -c "$FN_CPU")
    rill_need node || exit 1
    [[ -f "$FF_MAIN" ]] || die "faas_bridge/functions/node_modules is missing: run scripts/functions.sh install"
    if [[ -z "$port" ]]; then
        port=$(rill_pick_port 1) || die "no free port for the function"
    elif ! rill_port_bindable "$port"; then
        die "port $port is in use (set RILL_BENCH_FAAS_PORT to another one, or none)"
    fi
    (cd "$FN_DIR" && RILL_FUNCTIONS_HOST=127.0.0.1 RILL_FAULT="$fault" \
        exec "${pin[@]}" node -r "$FN_DIR/listen-host.js" "$FF_MAIN" --source="$FN_DIR" --target="$target" \
            --port="$port" --signature-type=http </dev/null >"$WORK/fn-$target.log" 2>&1) &
    FN_PID=$!
    FN_URL="http://127.0.0.1:$port/"
    for ((i = 0; i < 150; i++)); do
        if [[ "$(curl -s -m 2 "$FN_URL" 2>/dev/null)" == "{\"target\":\"$target\"}" ]]; then
            log "function $target runs at $FN_URL (pid $FN_PID)"
            return 0
        fi
        kill -0 "$FN_PID" 2>/dev/null || { cat "$WORK/fn-$target.log" >&2; die "function $target exited"; }
        sleep 0.2
    done
    die "function $target did not answer within 30 s"
}

# stop_function: ends the process start_function started (TERM, KILL after 10 s), if any.
stop_function() {
    [[ -n "$FN_PID" ]] || return 0
    kill -TERM "$FN_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$FN_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$FN_PID" 2>/dev/null || true
    wait "$FN_PID" 2>/dev/null || true
    FN_PID=""
}

# fn_control JSON: POST /control to the function (replace faults, reset statistics, ...).
fn_control() {
    curl -s -m 10 -XPOST -H 'Content-Type: application/json' -d "$1" "${FN_URL}control" \
        >/dev/null || die "POST ${FN_URL}control failed"
}

# fn_alone L B CALLS [WARMUP_S SECONDS [ID_PREFIX]]: the function alone, no Rill:
# bench-faas-fn-ceiling keeps CALLS calls of B events in flight (WARMUP_S of warm-up, default
# 1 s, then SECONDS, default 3 s) against it, its latency set to L ms and its statistics reset
# first; its events' ids start with ID_PREFIX (the Rill runs' "<input topic>-<partition>", so
# that the function parses the same ids). Prints its RESULT line.
fn_alone() {
    local out="$WORK/alone-$1-$2-$3"
    fn_control "{\"fault\":{\"latencyMs\":$1},\"reset\":true}"
    timeout 200 "$BUILD_DIR/bench/bench-faas-fn-ceiling" --url "$FN_URL" --batch "$2" \
        --in-flight "$3" --warmup-s "${4:-1}" --seconds "${5:-3}" --fn-pid "$FN_PID" \
        --id-prefix "${6:-bench.ceiling-0}" \
        >"$out.out" 2>"$out.err" ||
        { cat "$out.err" >&2; die "bench-faas-fn-ceiling L=$1 B=$2 calls=$3 failed"; }
    grep '^RESULT ' "$out.out"
}

# faas_start TARGET PORT FAULT_JSON BUILD_TARGET...: what a FaaS benchmark does before its
# runs: builds its programs, notes the revision (REVISION), finds a broker (one it starts is
# private to the run) and starts the function TARGET (start_function's arguments).
faas_start() {
    local target=$1 port=$2 fault=$3
    shift 3
    command -v curl >/dev/null || die "curl not found"
    bench_start --private "$@"
    REVISION=$(revision)
    start_function "$target" "$port" "$fault"
}

# ensure_functions NAME...: the functions of scripts/functions.sh, started when they do not
# run; sets FN_URLS, the URLs of the functions NAMEs in the order it reports them, and
# FN_FLAGS, "--NAME-url URL" for each. Dies unless every NAME is reported.
FN_FLAGS=""
FN_URLS=()
ensure_functions() {
    if "$FUNCTIONS" status >"$WORK/functions.out" 2>/dev/null; then
        log "using the functions scripts/functions.sh runs"
    else
        log "starting the functions (scripts/functions.sh)"
        "$FUNCTIONS" start >"$WORK/functions.out" || die "scripts/functions.sh start failed"
        STARTED_FUNCTIONS=1
    fi
    local name url want
    while IFS='=' read -r name url; do
        for want in "$@"; do
            [[ "$name" == "$want" ]] || continue
            FN_FLAGS+="--$name-url $url "
            FN_URLS+=("$url")
        done
    done <"$WORK/functions.out"
    for want in "$@"; do
        [[ "$FN_FLAGS" == *"--$want-url "* ]] || die "scripts/functions.sh did not report the function $want"
    done
}

# stop_functions: stops the functions ensure_functions started, if it did.
stop_functions() {
    [[ -n "$STARTED_FUNCTIONS" ]] || return 0
    "$FUNCTIONS" stop >/dev/null 2>&1 || true
    STARTED_FUNCTIONS=""
}
