# shellcheck shell=bash disable=SC2034 # sourced: its variables are the callers'
# state_common.sh — shell helpers shared by the state-store benchmark scripts
# (bench/state_agg.sh, bench/state_restore.sh). Sourced, not run.
#
# The caller sets SCRIPT (its name, for messages), WORK (its temporary directory) and
# BUILD_DIR before calling anything here, and calls state_cleanup from its EXIT trap.
#
# Broker, as bench/passthrough.sh finds it: RILL_BENCH_BOOTSTRAP when set; else the broker of
# scripts/kafka.sh (its run dir: RILL_KAFKA_DIR, default this checkout's) when it answers, at
# the address `kafka.sh status` reports; else one started with scripts/kafka.sh under those
# settings (on a free port unless RILL_KAFKA_PORT is set) and stopped at the end. Topics, groups and
# application ids of a run are unique, so a broker others use is not disturbed.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=scripts/lib/host.sh
source "$ROOT/scripts/lib/host.sh"
readonly KAFKA="$ROOT/scripts/kafka.sh"
readonly RESULTS="${RILL_BENCH_RESULTS:-$ROOT/bench/RESULTS.md}" # another file for trial runs
readonly PARTITIONS=4

log() { echo "$SCRIPT: $*" >&2; }
die() { log "error: $*"; exit 1; }

STARTED_BROKER=""
BROKER_PID=""

state_cleanup() {
    if [[ -n "$STARTED_BROKER" ]]; then
        log "stopping the broker this script started"
        "$KAFKA" stop || true
    fi
    [[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}

# make_work NAME: makes the run's temporary directory WORK ("rill-bench-NAME.*", read-only
# from then on) and removes it on exit with state_cleanup (a script with more to clean up
# traps its own function, which calls state_cleanup, afterwards).
make_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-bench-$1.XXXXXX")
    readonly WORK
    trap state_cleanup EXIT
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

# Sets BOOTSTRAP (and RILL_KAFKA_PORT for kafka.sh create-topic), and BROKER_PID when the
# broker is scripts/kafka.sh's (also when given as RILL_BENCH_BOOTSTRAP, see below).
find_broker() {
    local line
    if [[ -n "${RILL_BENCH_BOOTSTRAP:-}" ]]; then
        [[ "$RILL_BENCH_BOOTSTRAP" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]] ||
            die "RILL_BENCH_BOOTSTRAP must be 127.0.0.1:PORT, got '$RILL_BENCH_BOOTSTRAP'"
        export RILL_KAFKA_PORT=${BASH_REMATCH[2]}
        BOOTSTRAP=$RILL_BENCH_BOOTSTRAP
    elif line=$("$KAFKA" status 2>/dev/null); then
        BOOTSTRAP=${line#bootstrap=}
        log "using the running broker at $BOOTSTRAP"
    else
        log "no broker running: starting one with scripts/kafka.sh"
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

create_topic() {
    "$KAFKA" create-topic "$1" "$2" >/dev/null 2>"$WORK/create-topic.log" ||
        { cat "$WORK/create-topic.log" >&2; die "cannot create topic $1"; }
}

# CPU seconds (user+sys) the broker has used so far, or "nan" when it is not known.
broker_cpu() {
    if [[ -n "$BROKER_PID" && -r "/proc/$BROKER_PID/stat" ]]; then
        awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
            "/proc/$BROKER_PID/stat"
    else
        echo nan
    fi
}

# b - a, or nan.
cpu_diff() {
    if [[ "$1" == nan || "$2" == nan ]]; then echo nan; else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
    fi
}

# The sum of the end offsets of topic $1's PARTITIONS partitions (its record count when
# nothing was deleted), or nothing when kcat cannot tell.
topic_records() {
    local args=() p
    for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$1:$p:-1"); done
    timeout 30 kcat -b "$BOOTSTRAP" -Q "${args[@]}" 2>/dev/null |
        awk '/offset/ { n += $NF; seen = 1 } END { if (seen) print n }'
}

# field LINE KEY: the value of KEY=value in a RESULT/METRICS/PHASES line.
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

# The build type of BUILD_DIR (CMakeLists.txt takes RelWithDebInfo when none is given).
build_type() {
    local t
    t=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
    echo "${t:-RelWithDebInfo}"
}

# A path as written in RESULTS.md: relative to the repository when inside it.
rel_path() {
    local p
    p=$(realpath -m "$1")
    if [[ "$p" == "$ROOT"/* ]]; then echo "${p#"$ROOT"/}"; else echo "(outside the repository)"; fi
}

# The machine, broker and libraries, one Markdown list item.
machine_line() {
    printf -- '- machine: %s × %s, %s MiB RAM; Kafka 3.9.1, one broker on the same machine (%s); librdkafka %s; RocksDB %s\n' \
        "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
        "$(awk '/MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$BOOTSTRAP" \
        "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" \
        "$(dpkg-query -W -f '${Version}' librocksdb-dev 2>/dev/null || echo '?')"
}

# The busiest other processes over one second (what else shares the machine), one line.
other_load() {
    top -b -n2 -d1 -w 200 2>/dev/null | awk '
        /^top -/ { blk++ }
        blk == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 { printf "%s%s %s%%", sep, $12, $9; sep = ", " }'
}

# The command as typed, with the settings that shape it, for RESULTS.md.
command_line() {
    echo "$(env | grep -E '^RILL_(BENCH|KAFKA|BUILD)' | sed -E 's#=/[^ ]*/([^/ ]+)$#=.../\1#' |
        sort | tr '\n' ' ')bash bench/$SCRIPT"
}

# note_failure WHAT ERRFILE: records a failed (retried) run and the last line of its stderr.
note_failure() {
    log "warning: $1 failed; retrying it once"
    # shellcheck disable=SC2016 # the backquotes are Markdown
    printf '%s: `%s`\n' "$1" "$(grep -v '^[0-9:.]* [A-Z]* *rill\[' "$2" | tail -n 1 | sed "s#$WORK#<tmp>#g")" \
        >>"$WORK/failures"
}

# The failed and retried runs, one Markdown list item (nothing when none failed).
failures_line() {
    [[ -s "$WORK/failures" ]] || return 0
    printf -- '- failed runs, retried once (a new application.id): %s\n' \
        "$(paste -sd ';' "$WORK/failures" | sed 's/;/; /g')"
}

# Awk functions for the summaries: median, lo, hi of a[1..k].
readonly AWK_STATS='
    function median(a, k,   i, j, t, b) {
        for (i = 1; i <= k; i++) b[i] = a[i]
        for (i = 2; i <= k; i++)
            for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
        return k % 2 ? b[(k + 1) / 2] : (b[k / 2] + b[k / 2 + 1]) / 2
    }
    function lo(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] < m) m = a[i]; return m }
    function hi(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] > m) m = a[i]; return m }
'
