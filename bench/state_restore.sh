#!/usr/bin/env bash
# state_restore.sh — how fast a Rill app restores a 1M-key store from its changelog, against
# a plain librdkafka consumer reading the same changelog, alternating A B A B A B.
#
# Usage: bash bench/state_restore.sh
#
# Steps:
#  1. Writes N records with N distinct 16-byte keys (each key once, sequential order) to a new
#     4-partition topic (bench-state-input, not timed).
#  2. Fill: bench-state-agg --mode keyed (source → group_by_key → count, Rill defaults) counts
#     them under one application.id and state.dir, and stops cleanly: its changelog
#     <application.id>-counts-changelog then holds one record per key (~N) and its input
#     offsets are committed, so later starts have nothing to process.
#  3. Per pair:
#       consume  bench-changelog-consume reads the changelog from its beginning to its end,
#                all partitions at once (the baseline), and — not part of the pair, for the
#                profile of the restore — one partition after the other with
#                fetch.wait.max.ms=50, as a stream thread's restore consumer reads its tasks'
#                changelog partitions (state/restore.c);
#       restore  wipes the state.dir, starts the same app again (same application.id) and
#                times its restore: from the first record restored to the instant
#                rill_restored_records_total reaches the changelog's size (polled every 2 ms),
#                then stops it.
#     The ratio restore records/s ÷ consume records/s is taken pair by pair.
# It prints the table and the median and min–max of the ratios, and appends them to
# bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/state_common.sh)
#   RILL_BENCH_RECORDS     records and distinct keys        (default 1000000)
#   RILL_BENCH_PAIRS       consume/restore pairs, at least 3 (default 3)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run              (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to                (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=state_restore.sh
# shellcheck source=bench/state_common.sh
source "$(dirname "$0")/state_common.sh"

readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly PAIRS=${RILL_BENCH_PAIRS:-3}
readonly SEED=42
readonly RUN_TIMEOUT_S=${RILL_BENCH_RUN_TIMEOUT_S:-600}
readonly BUILD_DIR=${RILL_BUILD_DIR:-$ROOT/build}
RUN_ID="$(date +%s)-$$"
readonly RUN_ID
COMMAND=$(command_line)
readonly COMMAND

[[ "$RECORDS" =~ ^[1-9][0-9]*$ ]] || die "RILL_BENCH_RECORDS must be a positive count"
if ! [[ "$PAIRS" =~ ^[0-9]+$ ]] || ((PAIRS < 3)); then die "RILL_BENCH_PAIRS must be 3 or more"; fi
make_work state-restore
readonly STATE_DIR="$WORK/state"
readonly APP_ID="bench-state-restore-$RUN_ID"
readonly CHANGELOG="$APP_ID-counts-changelog"

# run_cmd NAME CMD...: runs a measured program; prints its RESULT line, METRICS fields and
# broker_cpu_s. Its stderr is kept in $WORK/NAME.err. A failed run is retried once (the
# failure recorded with the results), except the fill, which a retry could not repeat.
run_cmd() {
    local name=$1 cpu0 cpu1 attempt
    shift
    for attempt in 1 2; do
        [[ "$name" == restore-* ]] && rm -rf "$STATE_DIR"
        cpu0=$(broker_cpu)
        if timeout --kill-after=10 $((RUN_TIMEOUT_S + 60)) "$@" >"$WORK/$name.out" \
            2>"$WORK/$name.err"; then
            break
        fi
        tail -n 30 "$WORK/$name.err" >&2
        [[ $attempt == 1 && "$name" != fill ]] || die "$name failed (command: $*)"
        note_failure "$name" "$WORK/$name.err"
    done
    cpu1=$(broker_cpu)
    local result extra
    result=$(grep '^RESULT ' "$WORK/$name.out") || die "$name printed no RESULT line"
    extra=$(grep '^METRICS ' "$WORK/$name.out" | cut -d' ' -f2- || true)
    echo "$result $extra broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# app NAME FLAGS...: runs the counting app (fill or restore) under APP_ID and STATE_DIR.
app() {
    run_cmd "$1" "$BUILD_DIR/bench/bench-state-agg" --bootstrap-servers "$BOOTSTRAP" \
        --input "$INPUT" --mode keyed --timeout-s "$RUN_TIMEOUT_S" --state-dir "$STATE_DIR" \
        -D "application.id=$APP_ID" "${@:2}"
}

consume() {
    run_cmd "$1" "$BUILD_DIR/bench/bench-changelog-consume" --bootstrap-servers "$BOOTSTRAP" \
        --topic "$CHANGELOG" --timeout-s "$RUN_TIMEOUT_S" "${@:2}"
}

restore() {
    local r lines
    r=$(app "restore-$1" --restore-records "$CHANGELOG_RECORDS")
    # The per-task "restored" log lines: how many records each task replayed.
    lines=$(grep -c 'restored: ' "$WORK/restore-$1.err" || true)
    echo "$r restored_lines=$lines"
}

# ---------------------------------------------------------------- report

# Reads rows "pair c_wall c_cpu c_records s_wall r_wall r_cpu r_records r_total"; prints
# the Markdown table and the summary lines.
report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| pair | consume rec/s | restore rec/s | **restore/consume rec/s** | consume CPU-s/M | restore CPU-s/M | **restore/consume CPU** | restore: start → done s | consume one partition at a time rec/s |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            cr[k] = $4 / $2; cc[k] = $3 / ($4 / 1e6); rr[k] = $8 / $6; rc[k] = $7 / ($8 / 1e6)
            tr[k] = rr[k] / cr[k]; xr[k] = rc[k] / cc[k]; sr[k] = $4 / $5; tt[k] = $9
            printf "| %d | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.2f | %.0f |\n",
                $1, cr[k], rr[k], tr[k], cc[k], rc[k], xr[k], tt[k], sr[k]
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.2f | %.0f |\n",
                median(cr, k), median(rr, k), median(tr, k), median(cc, k), median(rc, k), median(xr, k), median(tt, k), median(sr, k)
            printf "\nrestore rate: median %.0f records/s, min–max %.0f–%.0f (%d runs)\n", median(rr, k), lo(rr, k), hi(rr, k), k
            printf "restore/consume throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(tr, k), lo(tr, k), hi(tr, k), k
            printf "restore/consume CPU per record: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(xr, k), lo(xr, k), hi(xr, k), k
        }'
}

append_results() {
    local table=$1 load=$2 others=$3 fill=$4
    {
        printf '\n## state stores: restore of a %s-key store from its changelog — %s\n\n' \
            "$RECORDS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf -- '- revision: %s\n' "$(revision)"
        # shellcheck disable=SC2016 # the backquotes are Markdown
        printf -- '- command: `%s`\n' "$COMMAND"
        machine_line
        printf -- '- build: %s, %s\n' "$(build_type)" "$(rel_path "$BUILD_DIR")"
        printf -- '- store: keyed count (bench-state-agg --mode keyed: source → group_by_key → count, key-value store "counts", Rill defaults) filled from %s records with %s distinct 16-byte keys over %s partitions; its changelog holds %s records (17-byte keys, 16-byte values), compacted topic; fill run: %s\n' \
            "$RECORDS" "$RECORDS" "$PARTITIONS" "$CHANGELOG_RECORDS" "$fill"
        printf -- '- restore: the same app (same application.id) started over an empty state.dir; 4 tasks on 1 stream thread, each restoring its partition in turn (state/restore.c: an assigned consumer, write batches of 10k, WAL on without fsync); clock from the first record restored to rill_restored_records_total = changelog size (polled every 2 ms; the last ≤10k-record batch write is after it); "start → done" from the program'"'"'s start (group join, RocksDB open) to the same instant\n'
        printf -- '- consume: bench-changelog-consume, a plain librdkafka consumer (defaults), all partitions assigned at once from the beginning, first record → last; the "one partition at a time" column reads them in turn with fetch.wait.max.ms=50, as a restore does (not part of the pair)\n'
        printf -- '- CPU: user+sys of the process over the same span (getrusage), per million changelog records\n'
        printf -- '- alternation: per pair, consume (all at once), consume (one at a time), restore\n'
        printf -- '- load average before the runs (1, 5, 15 min): %s; busiest processes then: %s\n' "$load" "${others:-none}"
        failures_line
        printf '\n'
        printf '%s\n' "$table"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    build bench-state-input bench-state-agg bench-changelog-consume
    find_broker
    local load others
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    others=$(other_load)
    INPUT="bench.state-restore.$RUN_ID.in"
    local base_ms=$(( $(date +%s) / 60 * 60 * 1000 ))
    log "broker $BOOTSTRAP; writing $RECORDS records with distinct keys to $INPUT (not timed)"
    create_topic "$INPUT" "$PARTITIONS"
    timeout 900 "$BUILD_DIR/bench/bench-state-input" --bootstrap-servers "$BOOTSTRAP" \
        --topic "$INPUT" --records "$RECORDS" --keys "$RECORDS" --key-order sequential \
        --base-ms "$base_ms" --seed "$SEED" >&2 || die "writing the input failed"

    log "fill: counting the input into the store of $APP_ID"
    local f fill
    f=$(app fill --records "$RECORDS")
    log "fill: $f"
    fill=$(awk -v n="$RECORDS" -v w="$(field "$f" wall_s)" -v c="$(field "$f" cpu_s)" \
        -v l="$(field "$f" changelog)" \
        'BEGIN { printf "%.0f records/s, %.3f CPU-s/M, %d changelog records produced", n / w, c / (n / 1e6), l }')
    CHANGELOG_RECORDS=$(topic_records "$CHANGELOG")
    [[ -n "$CHANGELOG_RECORDS" && "$CHANGELOG_RECORDS" -gt 0 ]] ||
        die "cannot tell how many records $CHANGELOG holds"
    log "$CHANGELOG holds $CHANGELOG_RECORDS records"

    local rows="" i c s r
    for ((i = 1; i <= PAIRS; i++)); do
        c=$(consume "consume-$i")
        log "pair $i consume: $c"
        s=$(consume "consume-seq-$i" --one-partition-at-a-time -X fetch.wait.max.ms=50)
        log "pair $i consume, one partition at a time: $s"
        r=$(restore "$i")
        log "pair $i restore: $r"
        [[ "$(field "$r" restored_lines)" == "$PARTITIONS" ]] ||
            log "warning: restore $i logged $(field "$r" restored_lines) \"restored\" lines, expected $PARTITIONS"
        rows+="$i $(field "$c" wall_s) $(field "$c" cpu_s) $(field "$c" records) $(field "$s" wall_s)"
        rows+=" $(field "$r" wall_s) $(field "$r" cpu_s) $(field "$r" records) $(field "$r" total_s)"$'\n'
    done
    local table
    table=$(printf '%s' "$rows" | report)
    printf '\n%s\n' "$table"
    append_results "$table" "$load" "$others" "$fill"
    log "appended to $RESULTS"
}

main "$@"
