#!/usr/bin/env bash
# passthrough.sh — Rill's stateless ceiling: a source → sink Rill app against a raw librdkafka
# consume→produce loop, on the same broker and the same input, alternating A B A B A B.
# With RILL_BENCH_COMPARE=lineage the pair is instead Rill (baseline) against Rill with
# lineage.enable=true (every output gets a traceparent and rill.lineage): lineage's cost.
#
# Usage: bash bench/passthrough.sh
#        RILL_BENCH_COMPARE=lineage bash bench/passthrough.sh
#
# It writes N records once to a new 4-partition input topic (not timed), then runs the pairs;
# each run reads the whole input from the beginning into its own new output topic, under its
# own new consumer group / application.id. Each program measures itself (bench_common.h):
# from its first record consumed to its clean stop, so the group join is excluded. The script
# prints per pair records/s, CPU seconds per million records and the rill/raw ratios, the
# median and min–max of the ratios, and appends it all to bench/RESULTS.md. When the broker is
# the one scripts/kafka.sh runs, its CPU over each run (join to stop) is shown too: it shares
# the machine, and on 2 cores it is usually what limits the rate.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (topics are made with
#                          scripts/kafka.sh create-topic, which only talks to 127.0.0.1).
#                          Unset: use the broker of scripts/kafka.sh if it runs (at the
#                          address `kafka.sh status` reports), else start one and stop it at
#                          the end.
#   RILL_BENCH_RECORDS     records per run            (default 1000000)
#   RILL_BENCH_PAIRS       raw/rill pairs, at least 3 (default 3)
#   RILL_BENCH_COMPARE     raw (default: raw librdkafka vs Rill) or lineage (Rill vs Rill with
#                          lineage.enable=true)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run        (default 600)
#   RILL_BUILD_DIR         build directory            (default: <repo>/build; built if needed)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
# shellcheck source=scripts/lib/host.sh
source "$ROOT/scripts/lib/host.sh"
readonly KAFKA="$ROOT/scripts/kafka.sh"
readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly PAIRS=${RILL_BENCH_PAIRS:-3}
readonly PARTITIONS=4
readonly VALUE_BYTES=100
readonly SEED=42
readonly RUN_TIMEOUT_S=${RILL_BENCH_RUN_TIMEOUT_S:-600}
readonly BUILD_DIR=${RILL_BUILD_DIR:-$ROOT/build}
readonly RESULTS="$ROOT/bench/RESULTS.md"
readonly COMPARE=${RILL_BENCH_COMPARE:-raw}
case "$COMPARE" in
    raw) readonly KIND_A=raw KIND_B=rill ;;
    lineage) readonly KIND_A=rill KIND_B=lineage ;;
    *) echo "passthrough.sh: RILL_BENCH_COMPARE must be raw or lineage" >&2; exit 1 ;;
esac
RUN_ID="$(date +%s)-$$"
readonly RUN_ID

# The command as typed, with the settings that shape it, for RESULTS.md.
COMMAND="$( (env | grep -E '^RILL_(BENCH|KAFKA|BUILD)' || true) | sort | tr '\n' ' ')bash bench/passthrough.sh"
readonly COMMAND

log() { echo "passthrough.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$RECORDS" =~ ^[1-9][0-9]*$ ]] || die "RILL_BENCH_RECORDS must be a positive count"
if ! [[ "$PAIRS" =~ ^[0-9]+$ ]] || ((PAIRS < 3)); then die "RILL_BENCH_PAIRS must be 3 or more"; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-bench-passthrough.XXXXXX")
readonly WORK

STARTED_BROKER=""
BROKER_PID=""
cleanup() {
    if [[ -n "$STARTED_BROKER" ]]; then
        log "stopping the broker this script started"
        "$KAFKA" stop || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build and broker

build() {
    if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/cmake.log" 2>&1 ||
            { cat "$WORK/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench-raw-passthrough \
        bench-rill-passthrough bench-produce >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }
}

# Sets BOOTSTRAP, and RILL_KAFKA_PORT for kafka.sh create-topic.
find_broker() {
    local line
    if [[ -n "${RILL_BENCH_BOOTSTRAP:-}" ]]; then
        [[ "$RILL_BENCH_BOOTSTRAP" =~ ^(127\.0\.0\.1|localhost):([0-9]+)$ ]] ||
            die "RILL_BENCH_BOOTSTRAP must be 127.0.0.1:PORT, got '$RILL_BENCH_BOOTSTRAP'"
        export RILL_KAFKA_PORT=${BASH_REMATCH[2]}
        BOOTSTRAP=$RILL_BENCH_BOOTSTRAP
    elif line=$("$KAFKA" status); then
        BOOTSTRAP=${line#bootstrap=}
        log "using the running broker at $BOOTSTRAP"
    else
        log "no broker running: starting one with scripts/kafka.sh"
        line=$("$KAFKA" start) || die "scripts/kafka.sh start failed"
        STARTED_BROKER=1
        BOOTSTRAP=${line#bootstrap=}
    fi
    if [[ -z "${RILL_BENCH_BOOTSTRAP:-}" ]]; then
        local pid
        pid=$(cat "$(rill_run_dir kafka)/kafka.pid" 2>/dev/null || true)
        if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" |
            grep -qF kafka.Kafka; then
            BROKER_PID=$pid
        fi
    fi
}

# CPU seconds (user+sys) the broker has used so far, or "nan" when it is not known.
broker_cpu() {
    if [[ -n "$BROKER_PID" && -r "/proc/$BROKER_PID/stat" ]]; then
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$BROKER_PID/stat"
    else
        echo nan
    fi
}

create_topic() {
    "$KAFKA" create-topic "$1" "$2" 2>"$WORK/create-topic.log" ||
        { cat "$WORK/create-topic.log" >&2; die "cannot create topic $1"; }
}

# Prints the sum of the end offsets of topic's partitions (its record count, as nothing is
# deleted), or nothing when kcat cannot tell.
topic_records() {
    local args=() p
    for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$1:$p:-1"); done
    timeout 30 kcat -b "$BOOTSTRAP" -Q "${args[@]}" 2>/dev/null |
        awk '/offset/ { n += $NF; seen = 1 } END { if (seen) print n }'
}

# ---------------------------------------------------------------- runs

# Runs one program (raw or rill) of pair i; prints its RESULT line with broker_cpu_s added.
run_one() {
    local kind=$1 i=$2 out="bench.passthrough.$RUN_ID.$2.$1" cmd
    local id="bench-$kind-$RUN_ID-$i"
    case "$kind" in
        raw) cmd=("$BUILD_DIR/bench/bench-raw-passthrough" --bootstrap-servers "$BOOTSTRAP"
                  --input "$INPUT" --output "$out" --group "$id" --records "$RECORDS"
                  --timeout-s "$RUN_TIMEOUT_S") ;;
        rill) cmd=("$BUILD_DIR/bench/bench-rill-passthrough" --bootstrap-servers "$BOOTSTRAP"
                   --input "$INPUT" --output "$out" -D "application.id=$id"
                   --records "$RECORDS" --timeout-s "$RUN_TIMEOUT_S") ;;
        lineage) cmd=("$BUILD_DIR/bench/bench-rill-passthrough" --bootstrap-servers "$BOOTSTRAP"
                      --input "$INPUT" --output "$out" -D "application.id=$id"
                      -D lineage.enable=true --records "$RECORDS"
                      --timeout-s "$RUN_TIMEOUT_S") ;;
    esac
    local cpu0 cpu1
    cpu0=$(broker_cpu)
    if ! timeout --kill-after=10 $((RUN_TIMEOUT_S + 60)) "${cmd[@]}" \
        >"$WORK/$kind-$i.out" 2>"$WORK/$kind-$i.err"; then
        tail -n 30 "$WORK/$kind-$i.err" >&2
        die "$kind run $i failed (command: ${cmd[*]})"
    fi
    cpu1=$(broker_cpu)
    local result written metrics
    result=$(grep '^RESULT ' "$WORK/$kind-$i.out") || die "$kind run $i printed no RESULT line"
    metrics=$(grep '^METRICS ' "$WORK/$kind-$i.out" || true)
    [[ -n "$metrics" ]] && log "$kind run $i: ${metrics#METRICS }"
    written=$(topic_records "$out")
    if [[ -n "$written" && "$written" != "$RECORDS" ]]; then
        log "warning: $kind run $i wrote $written records to $out, expected $RECORDS"
    fi
    if [[ "$cpu0" == nan || "$cpu1" == nan ]]; then
        echo "$result broker_cpu_s=nan"
    else
        echo "$result broker_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
    fi
}

# field LINE KEY: the value of KEY=value in a RESULT line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# ---------------------------------------------------------------- report

# Reads "pair raw_wall raw_cpu rill_wall rill_cpu raw_broker_cpu rill_broker_cpu" rows; prints
# the Markdown table and the summary.
report() {
    awk -v n="$RECORDS" -v A="$KIND_A" -v B="$KIND_B" '
        function median(a, k,   i, j, t) {
            for (i = 2; i <= k; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        function lo(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] < m) m = a[i]; return m }
        function hi(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] > m) m = a[i]; return m }
        BEGIN {
            printf "| pair | %s rec/s | %s rec/s | %s/%s rec/s | %s CPU-s/M | %s CPU-s/M | %s/%s CPU | broker CPU-s/M (%s run / %s run) |\n", A, B, B, A, A, B, B, A, A, B
            print "|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            rr = n / $2; lr = n / $4; rc = $3 / (n / 1e6); lc = $5 / (n / 1e6)
            tr[k] = lr / rr; cr[k] = lc / rc
            rrs[k] = rr; lrs[k] = lr; rcs[k] = rc; lcs[k] = lc
            broker = ($6 == "nan" || $7 == "nan") ? "n/a" : sprintf("%.2f / %.2f", $6 / (n / 1e6), $7 / (n / 1e6))
            printf "| %d | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f | %s |\n", $1, rr, lr, tr[k], rc, lc, cr[k], broker
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | |\n",
                median(rrs, k), median(lrs, k), median(tr, k), median(rcs, k), median(lcs, k), median(cr, k)
            printf "\n%s/%s throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", B, A, median(tr, k), lo(tr, k), hi(tr, k), k
            printf "%s/%s CPU per record: median %.3f, min–max %.3f–%.3f (%d pairs)\n", B, A, median(cr, k), lo(cr, k), hi(cr, k), k
        }'
}

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

append_results() {
    local table=$1 startup=$2 load=$3
    if [[ ! -f "$RESULTS" ]]; then
        printf '# Rill benchmark results\n\nAppended by the programs in bench/ (see %s), %s\n' \
            "bench/README.md" "newest last; each section says how it was made." >"$RESULTS"
    fi
    {
        printf '\n## passthrough%s — %s\n\n' "$([[ $COMPARE == lineage ]] && echo ': lineage cost')" \
            "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf -- '- revision: %s\n' "$(revision)"
        # shellcheck disable=SC2016 # the backquotes are Markdown
        printf -- '- command: `%s`\n' "$COMMAND"
        printf -- '- machine: %s × %s, %s MiB RAM; Kafka 3.9.1, one broker on the same machine (%s); librdkafka %s\n' \
            "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
            "$(awk '/MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$BOOTSTRAP" \
            "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"
        printf -- '- build: %s, %s\n' "$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")" "$BUILD_DIR"
        printf -- '- workload: %s records per run, keys "k<i>", %s-byte values (seed %s), %s partitions; ' \
            "$RECORDS" "$VALUE_BYTES" "$SEED" "$PARTITIONS"
        printf '%s and %s alternate, %s pairs, each run a new group and output topic\n' "$KIND_A" "$KIND_B" "$PAIRS"
        printf -- '- Rill: defaults (at_least_once, commit.interval.ms=30000, 1 stream thread), bytes serdes, source → sink%s\n' \
            "$([[ $COMPARE == lineage ]] && echo '; lineage: the same with -D lineage.enable=true (input records carry no headers: every record starts a trace)')"
        printf -- '- clock: first record consumed → clean stop (outputs delivered, offsets committed, clients closed); CPU: user+sys of the processor process over the same span\n'
        printf -- '- start-up not counted (group join etc., median): %s\n' "$startup"
        printf -- '- load average before the runs (1, 5, 15 min): %s\n\n' "$load"
        printf '%s\n' "$table"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    build
    find_broker
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    INPUT="bench.passthrough.$RUN_ID.in"
    log "broker $BOOTSTRAP; creating $INPUT ($PARTITIONS partitions) and the output topics"
    create_topic "$INPUT" "$PARTITIONS"
    local i kind
    for ((i = 1; i <= PAIRS; i++)); do
        for kind in "$KIND_A" "$KIND_B"; do
            create_topic "bench.passthrough.$RUN_ID.$i.$kind" "$PARTITIONS"
        done
    done
    log "writing $RECORDS records to $INPUT (not timed)"
    timeout 900 "$BUILD_DIR/bench/bench-produce" --bootstrap-servers "$BOOTSTRAP" --topic "$INPUT" \
        --records "$RECORDS" --value-bytes "$VALUE_BYTES" --seed "$SEED" >&2 ||
        die "writing the input failed"
    local rows="" startups=""
    for ((i = 1; i <= PAIRS; i++)); do
        local raw rill
        raw=$(run_one "$KIND_A" "$i")
        log "pair $i $KIND_A: $raw"
        rill=$(run_one "$KIND_B" "$i")
        log "pair $i $KIND_B: $rill"
        rows+="$i $(field "$raw" wall_s) $(field "$raw" cpu_s) $(field "$rill" wall_s) $(field "$rill" cpu_s)"
        rows+=" $(field "$raw" broker_cpu_s) $(field "$rill" broker_cpu_s)"$'\n'
        startups+="$(field "$raw" total_s) $(field "$raw" wall_s) $(field "$rill" total_s) $(field "$rill" wall_s)"$'\n'
    done
    local table startup
    table=$(printf '%s' "$rows" | report)
    startup=$(printf '%s' "$startups" | awk '
        { r[NR] = $1 - $2; l[NR] = $3 - $4 }
        function med(a, k,   i, j, t) {
            for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        END { printf "%s %.2f s, %s %.2f s", A, med(r, NR), B, med(l, NR) }' A="$KIND_A" B="$KIND_B")
    printf '\n%s\n\nstart-up (not counted): %s\n' "$table" "$startup"
    append_results "$table" "$startup" "$load"
    log "appended to $RESULTS"
}

main "$@"
