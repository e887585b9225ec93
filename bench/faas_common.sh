# shellcheck shell=bash
# faas_common.sh — shell helpers shared by the FaaS bridge benchmark scripts
# (bench/faas_grid.sh, bench/faas_latency.sh). Sourced, not run.
#
# The caller sets SCRIPT (its name, for messages) and WORK (its temporary directory) before
# calling anything here, and calls faas_cleanup from its EXIT trap.
#
# Broker: RILL_BENCH_BOOTSTRAP when set, else the one scripts/kafka.sh runs from its run dir
# (RILL_KAFKA_DIR, default this checkout's) when it answers, at the address `kafka.sh status`
# reports, else a broker of our own started with scripts/kafka.sh in $WORK/kafka (on
# RILL_KAFKA_PORT when set, else a free port), stopped at the end.
# Functions: our own Functions Framework process (faas_bridge/functions, the framework run
# as scripts/functions.sh runs it), on a port of our own (given, or a free one), stopped by
# pid at the end.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=scripts/lib/host.sh
source "$ROOT/scripts/lib/host.sh"
readonly KAFKA="$ROOT/scripts/kafka.sh"
readonly FN_DIR="$ROOT/faas_bridge/functions"
readonly FF_MAIN="$FN_DIR/node_modules/@google-cloud/functions-framework/build/src/main.js"
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly RESULTS="$ROOT/bench/RESULTS.md"

log() { echo "$SCRIPT: $*" >&2; }
die() { log "error: $*"; exit 1; }

STARTED_BROKER=""
FN_PID=""

faas_cleanup() {
    stop_function
    if [[ -n "$STARTED_BROKER" ]]; then
        log "stopping the broker this script started"
        "$KAFKA" stop || true
    fi
    [[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}

# build TARGET...: configures BUILD_DIR when needed (RelWithDebInfo, tests off) and builds.
build() {
    if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TESTS=OFF \
            >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target "$@" >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }
}

# Sets BOOTSTRAP (and exports RILL_KAFKA_PORT/RILL_KAFKA_DIR for kafka.sh create-topic).
find_broker() {
    local line
    if [[ -n "${RILL_BENCH_BOOTSTRAP:-}" ]]; then
        [[ "$RILL_BENCH_BOOTSTRAP" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]] ||
            die "RILL_BENCH_BOOTSTRAP must be 127.0.0.1:PORT, got '$RILL_BENCH_BOOTSTRAP'"
        export RILL_KAFKA_PORT=${BASH_REMATCH[2]}
        BOOTSTRAP=$RILL_BENCH_BOOTSTRAP
    elif line=$("$KAFKA" status 2>/dev/null); then
        BOOTSTRAP=${line#bootstrap=}
        log "using the running broker at $BOOTSTRAP (topics of this run have unique names)"
    else
        export RILL_KAFKA_DIR=$WORK/kafka
        log "no broker running: starting one in $RILL_KAFKA_DIR"
        line=$("$KAFKA" start) || die "scripts/kafka.sh start failed"
        STARTED_BROKER=1
        BOOTSTRAP=${line#bootstrap=}
    fi
}

create_topic() {
    "$KAFKA" create-topic "$1" "$2" 2>"$WORK/create-topic.log" >/dev/null ||
        { cat "$WORK/create-topic.log" >&2; die "cannot create topic $1"; }
}

# CPU seconds (user+sys) process $1 has used so far, or "nan".
proc_cpu() {
    if [[ -n "$1" && -r "/proc/$1/stat" ]]; then
        awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
    else
        echo nan
    fi
}

# start_function TARGET PORT FAULT_JSON: runs the Functions Framework target on 127.0.0.1:PORT
# (as scripts/functions.sh does; PORT "": a free one of RILL_PORT_RANGE) in the background;
# sets FN_PID and FN_URL; waits until it answers. FAULT_JSON is RILL_FAULT (faulty only; ""
# for none).
start_function() {
    local target=$1 port=$2 fault=$3 i
    rill_need node || exit 1
    [[ -f "$FF_MAIN" ]] || die "faas_bridge/functions/node_modules is missing: run scripts/functions.sh install"
    if [[ -z "$port" ]]; then
        port=$(rill_pick_port 1) || die "no free port for the function"
    elif ! rill_port_bindable "$port"; then
        die "port $port is in use (set RILL_BENCH_FAAS_PORT to another one, or none)"
    fi
    (cd "$FN_DIR" && RILL_FUNCTIONS_HOST=127.0.0.1 RILL_FAULT="$fault" \
        exec node -r "$FN_DIR/listen-host.js" "$FF_MAIN" --source="$FN_DIR" --target="$target" \
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

# field LINE KEY: the value of KEY=value in a RESULT line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

revision() {
    local rev dirty
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$ROOT" status --porcelain -- engine operators state faas_bridge include \
                2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')
    if [[ -n "$dirty" ]]; then
        echo "$rev, with uncommitted changes in the library: ${dirty% }"
    else
        echo "$rev"
    fi
}

# The machine, broker, client library and function runtime, one Markdown list item.
machine_line() {
    printf -- '- machine: %s × %s, %s MiB RAM; Kafka 3.9.1, one broker on the same machine (%s); librdkafka %s; libcurl %s; Node.js %s, Functions Framework %s\n' \
        "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
        "$(awk '/MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$BOOTSTRAP" \
        "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" \
        "$(pkg-config --modversion libcurl 2>/dev/null || echo '?')" \
        "$(node --version 2>/dev/null || echo '?')" \
        "$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$FN_DIR/node_modules/@google-cloud/functions-framework/package.json" | head -n1)"
}

# A path as written in RESULTS.md: relative to the repository when inside it.
rel_path() {
    local p
    p=$(realpath -m "$1")
    if [[ "$p" == "$ROOT"/* ]]; then echo "${p#"$ROOT"/}"; else echo "(outside the repository)"; fi
}

# The busiest processes over one second (what else shares the machine), one line.
other_load() {
    top -b -n2 -d1 -w 200 2>/dev/null | awk '
        /^top -/ { blk++ }
        blk == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 { printf "%s%s %s%%", sep, $12, $9; sep = ", " }'
}

# faas_start TARGET PORT: what a FaaS benchmark does before its runs: builds its programs
# (the remaining arguments), notes the revision, the build time and the machine's load
# (REVISION, BUILT_AT, LOAD, OTHERS), finds a broker and starts the function.
faas_start() {
    local target=$1 port=$2
    shift 2
    command -v curl >/dev/null || die "curl not found"
    build "$@"
    REVISION=$(revision)
    BUILT_AT=$(date -u '+%H:%M UTC')
    find_broker
    LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
    OTHERS=$(other_load)
    start_function "$target" "$port" '{"latencyMs":0}'
}
