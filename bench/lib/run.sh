# shellcheck shell=bash disable=SC2034 # sourced: its variables are the callers'
# run.sh — what a benchmark run needs around the programs it measures: messages, settings
# checks, the work directory and the cleanup, builds, the broker, topics, and what a process
# costs. Sourced through bench/lib/bench.sh, not run.
#
# Broker: RILL_BENCH_BOOTSTRAP when set; else the broker of scripts/kafka.sh (its run dir:
# RILL_KAFKA_DIR, default this checkout's) when it answers, at the address `kafka.sh status`
# reports; else one started with scripts/kafka.sh (on a free port unless RILL_KAFKA_PORT is
# set) and stopped at the end. Topics, groups and application ids of a run are unique, so a
# broker others use is not disturbed.

readonly KAFKA="$ROOT/scripts/kafka.sh"

log() { echo "$SCRIPT: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------- settings

# need_count NAME VALUE: dies unless VALUE is a positive count (NAME: its variable).
need_count() {
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive count"
}

# need_pairs: dies unless PAIRS is 3 or more (bench/README.md).
need_pairs() {
    if ! [[ "$PAIRS" =~ ^[0-9]+$ ]] || ((PAIRS < 3)); then die "RILL_BENCH_PAIRS must be 3 or more"; fi
}

# ---------------------------------------------------------------- work directory, cleanup

STARTED_BROKER=""
BROKER_PID=""
BENCH_PIDS=() # processes the script runs in the background, ended at exit

# bench_work NAME: notes the command line of the run (COMMAND), makes its temporary directory
# WORK ("rill-bench-NAME.*"; both read-only from then on), and cleans up on exit: the
# processes of BENCH_PIDS, the function runtimes and the broker the script started, WORK.
bench_work() {
    COMMAND=$(command_line)
    readonly COMMAND
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-bench-$1.XXXXXX")
    readonly WORK
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    stop_function
    stop_functions
    if [[ -n "$STARTED_BROKER" ]]; then
        log "stopping the broker this script started"
        "$KAFKA" stop || true
    fi
    [[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}

# ---------------------------------------------------------------- builds

# build TARGET...: configures BUILD_DIR when needed (RelWithDebInfo, tests off; with
# BUILD_TESTS=ON, for programs that live with the tests, configured again with the tests on
# when they are off) and builds.
build() {
    if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]] || { [[ "${BUILD_TESTS:-}" == ON ]] &&
        ! grep -q '^RILL_TESTS:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; }; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DRILL_TESTS="${BUILD_TESTS:-OFF}" >"$WORK/cmake.log" 2>&1 ||
            { cat "$WORK/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target "$@" >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }
}

# ---------------------------------------------------------------- broker, topics

# find_broker [--private]: sets BOOTSTRAP (and RILL_KAFKA_PORT for kafka.sh create-topic),
# and BROKER_PID when the broker is scripts/kafka.sh's (also when given as
# RILL_BENCH_BOOTSTRAP, see below). --private: a broker this call starts runs in
# $WORK/kafka, not in the checkout's run dir.
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
        [[ "${1:-}" == --private ]] && export RILL_KAFKA_DIR=$WORK/kafka
        log "no broker running: starting one in $(rill_run_dir kafka)"
        line=$("$KAFKA" start) || die "scripts/kafka.sh start failed"
        STARTED_BROKER=1
        BOOTSTRAP=${line#bootstrap=}
    fi
    # The broker's CPU is known when it is scripts/kafka.sh's; a RILL_BENCH_BOOTSTRAP broker is
    # taken to be that one only when kafka.sh's configuration listens on the same address.
    local dir pid
    dir=$(rill_run_dir kafka)
    if [[ -n "${RILL_BENCH_BOOTSTRAP:-}" ]] &&
        ! grep -qE "^listeners=PLAINTEXT://$BOOTSTRAP(,|$)" "$dir/server.properties" 2>/dev/null; then
        return 0
    fi
    pid=$(cat "$dir/kafka.pid" 2>/dev/null || true)
    if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" |
        grep -qF kafka.Kafka; then
        BROKER_PID=$pid
    fi
}

# bench_start [--private] TARGET...: what a benchmark does before its runs: builds the
# TARGETs, finds the broker (find_broker's --private), and notes when the build ended and how
# loaded the machine was before the runs (BUILT_AT, LOAD, OTHERS).
bench_start() {
    local private=()
    [[ "$1" == --private ]] && private=(--private) && shift
    build "$@"
    BUILT_AT=$(date -u '+%H:%M UTC')
    find_broker "${private[@]}"
    LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
    OTHERS=$(other_load)
}

# create_topic NAME PARTITIONS [KEY=VALUE...]: a new topic, with the topic configs given.
create_topic() {
    "$KAFKA" create-topic "$@" >/dev/null 2>"$WORK/create-topic.log" ||
        { cat "$WORK/create-topic.log" >&2; die "cannot create topic $1"; }
}

# topic_records TOPIC [PARTITIONS]: the sum of the end offsets of TOPIC's partitions (its
# record count when nothing was deleted), or nothing when kcat cannot tell.
topic_records() {
    local args=() p
    for ((p = 0; p < ${2:-$PARTITIONS}; p++)); do args+=(-t "$1:$p:-1"); done
    timeout 30 kcat -b "$BOOTSTRAP" -Q "${args[@]}" 2>/dev/null |
        awk '/offset/ { n += $NF; seen = 1 } END { if (seen) print n }'
}

# ---------------------------------------------------------------- inputs

# write_records TOPIC N [VALUE_BYTES]: writes N records to TOPIC with bench-produce (keys
# "k<i>", VALUE_BYTES-byte values, default 100, drawn by SEED); not timed.
write_records() {
    timeout 900 "$BUILD_DIR/bench/bench-produce" --bootstrap-servers "$BOOTSTRAP" --topic "$1" \
        --records "$2" --value-bytes "${3:-100}" --seed "$SEED" >&2 || die "writing the input to $1 failed"
}

# write_keyed TOPIC N KEYS BASE_MS [FLAG...]: writes N records of KEYS distinct keys, timestamps
# 1 ms apart from BASE_MS, to TOPIC with bench-state-input (state_bench.h); not timed.
write_keyed() {
    timeout 900 "$BUILD_DIR/bench/bench-state-input" --bootstrap-servers "$BOOTSTRAP" --topic "$1" \
        --records "$2" --keys "$3" --base-ms "$4" --seed "$SEED" "${@:5}" >&2 ||
        die "writing the input to $1 failed"
}

# ---------------------------------------------------------------- runs, what they cost

# run_program NAME CMD...: one run of a measured program, bounded by RUN_BOUND_S (default:
# RUN_TIMEOUT_S and a minute for its stop): stdout to $WORK/NAME.out, stderr to
# $WORK/NAME.err. Fails, with the tail of its stderr shown, when the program does.
run_program() {
    local name=$1
    shift
    timeout --kill-after=10 "${RUN_BOUND_S:-$((RUN_TIMEOUT_S + 60))}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
        { tail -n 30 "$WORK/$name.err" >&2; return 1; }
}

# result_of NAME: the RESULT line run NAME printed; dies without one.
result_of() {
    grep '^RESULT ' "$WORK/$1.out" || die "$1 printed no RESULT line"
}

# alternate A B ROW [MODE...]: the pairs of a benchmark: for each pair I (1 to PAIRS) and, in
# it, each MODE (none: one pair of runs), the script's run_one A I [MODE] then run_one B I
# [MODE] (each prints one line), both logged; then ROW I LINE_A LINE_B [MODE], which keeps
# the pair's figures. Runs in the caller's shell, so that ROW can add to its variables (whose
# names must not start with an underscore).
alternate() {
    local _a=$1 _b=$2 _row=$3 _i _m _la _lb _modes
    shift 3
    _modes=("$@")
    ((${#_modes[@]})) || _modes=("")
    for ((_i = 1; _i <= PAIRS; _i++)); do
        for _m in "${_modes[@]}"; do
            _la=$(run_one "$_a" "$_i" ${_m:+"$_m"})
            log "pair $_i${_m:+ $_m} $_a: ${_la#RESULT }"
            _lb=$(run_one "$_b" "$_i" ${_m:+"$_m"})
            log "pair $_i${_m:+ $_m} $_b: ${_lb#RESULT }"
            "$_row" "$_i" "$_la" "$_lb" ${_m:+"$_m"}
        done
    done
}

# proc_cpu PID: CPU seconds (user+sys) process PID has used so far, or "nan".
proc_cpu() {
    if [[ -n "$1" && -r "/proc/$1/stat" ]]; then
        awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
            "/proc/$1/stat"
    else
        echo nan
    fi
}

# CPU seconds (user+sys) the broker has used so far, or "nan" when it is not known.
broker_cpu() { proc_cpu "$BROKER_PID"; }

# cpu_diff A B: B - A, or nan.
cpu_diff() {
    if [[ "$1" == nan || "$2" == nan ]]; then echo nan; else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
    fi
}

# "${TIMED[@]}" FILE CMD...: runs CMD under GNU time, which writes "wall user sys maxrss_kb" of
# the whole process to FILE (a command, not a function, so that timeout can run it).
readonly TIMED=(/usr/bin/time -f '%e %U %S %M' -o)

# timed_fields FILE: "wall_s=W cpu_s=C rss_mb=M" (C = user + sys) of a timed run.
timed_fields() {
    awk '{ printf "wall_s=%s cpu_s=%.2f rss_mb=%.0f", $1, $2 + $3, $4 / 1024 }' "$1"
}

# field LINE KEY: the value of KEY=value in a RESULT/METRICS/PHASES line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
