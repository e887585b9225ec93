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
#       baseline (when RILL_BENCH_BASELINE_BUILD_DIR is set) the same restore with the app of
#                another build (an earlier revision), just before this build's, so that the
#                two alternate in one run on the same changelog.
#     The ratio restore records/s ÷ consume records/s is taken pair by pair (and this build's
#     restore rate ÷ the baseline's).
# It prints the table and the median and min–max of the ratios, and appends them to
# bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_RECORDS     records and distinct keys        (default 1000000)
#   RILL_BENCH_PAIRS       consume/restore pairs, at least 3 (default 3)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run              (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_BASELINE_BUILD_DIR  a build of another revision with bench-state-agg built
#                          (optional: its restores alternate with this build's)
#   RILL_BENCH_BASELINE_REV  what that build is, for RESULTS.md (default: "baseline")
#   RILL_BENCH_RESULTS     file to append to                (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=state_restore.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly BASE_DIR=${RILL_BENCH_BASELINE_BUILD_DIR:-}
readonly BASE_REV=${RILL_BENCH_BASELINE_REV:-baseline}

need_count RILL_BENCH_RECORDS "$RECORDS"
need_pairs
bench_work state-restore
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
        run_program "$name" "$@" && break
        [[ $attempt == 1 && "$name" != fill ]] || die "$name failed (command: $*)"
        note_failure "$name" "$WORK/$name.err"
    done
    cpu1=$(broker_cpu)
    local result extra
    result=$(result_of "$name")
    extra=$(grep '^METRICS ' "$WORK/$name.out" | cut -d' ' -f2- || true)
    echo "$result $extra broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# app NAME FLAGS...: runs the counting app (fill or restore) under APP_ID and STATE_DIR, of
# this build, or of the baseline build when NAME starts with "restore-base".
app() {
    local dir=$BUILD_DIR
    [[ "$1" == restore-base* ]] && dir=$BASE_DIR
    run_cmd "$1" "$dir/bench/bench-state-agg" --bootstrap-servers "$BOOTSTRAP" \
        --input "$INPUT" --mode keyed --timeout-s "$RUN_TIMEOUT_S" --state-dir "$STATE_DIR" \
        -D "application.id=$APP_ID" "${@:2}"
}

consume() {
    run_cmd "$1" "$BUILD_DIR/bench/bench-changelog-consume" --bootstrap-servers "$BOOTSTRAP" \
        --topic "$CHANGELOG" --timeout-s "$RUN_TIMEOUT_S" "${@:2}"
}

# restore NAME: one timed restore (NAME restore-I, or restore-base-I for the baseline).
restore() {
    local r lines
    r=$(app "$1" --restore-records "$CHANGELOG_RECORDS")
    # The per-store "restored" log lines: how many records each store replayed.
    lines=$(grep -c 'restored: ' "$WORK/$1.err" || true)
    echo "$r restored_lines=$lines"
}

# ---------------------------------------------------------------- report

# Reads rows "pair c_wall c_cpu c_records s_wall r_wall r_cpu r_records r_total b_wall
# b_records" (b_: the baseline's restore, 0 0 without one); prints the Markdown table and
# the summary lines.
report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| pair | consume rec/s | restore rec/s | **restore/consume rec/s** | consume CPU-s/M | restore CPU-s/M | **restore/consume CPU** | restore: start → done s | consume one partition at a time rec/s | baseline restore rec/s | **restore/baseline rec/s** |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            cr[k] = $4 / $2; cc[k] = $3 / ($4 / 1e6); rr[k] = $8 / $6; rc[k] = $7 / ($8 / 1e6)
            tr[k] = rr[k] / cr[k]; xr[k] = rc[k] / cc[k]; sr[k] = $4 / $5; tt[k] = $9
            br[k] = $10 > 0 ? $11 / $10 : 0; nb[k] = br[k] > 0 ? rr[k] / br[k] : 0
            printf "| %d | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.2f | %.0f | %.0f | **%.3f** |\n",
                $1, cr[k], rr[k], tr[k], cc[k], rc[k], xr[k], tt[k], sr[k], br[k], nb[k]
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.2f | %.0f | %.0f | **%.3f** |\n",
                median(cr, k), median(rr, k), median(tr, k), median(cc, k), median(rc, k), median(xr, k), median(tt, k), median(sr, k), median(br, k), median(nb, k)
            printf "\nrestore rate: median %.0f records/s, min–max %.0f–%.0f (%d runs)\n", median(rr, k), lo(rr, k), hi(rr, k), k
            if (median(br, k) > 0)
                printf "restore/baseline restore throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(nb, k), lo(nb, k), hi(nb, k), k
            printf "restore/consume throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(tr, k), lo(tr, k), hi(tr, k), k
            printf "restore/consume CPU per record: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(xr, k), lo(xr, k), hi(xr, k), k
        }'
}

append_results() {
    local table=$1 load=$2 others=$3 fill=$4
    {
        results_head "state stores: restore of a $RECORDS-key store from its changelog" rocksdb
        build_item
        printf -- '- store: keyed count (bench-state-agg --mode keyed: source → group_by_key → count, key-value store "counts", Rill defaults) filled from %s records with %s distinct 16-byte keys over %s partitions; its changelog holds %s records (17-byte keys, 16-byte values), compacted topic; fill run: %s\n' \
            "$RECORDS" "$RECORDS" "$PARTITIONS" "$CHANGELOG_RECORDS" "$fill"
        printf -- '- restore: the same app (same application.id) started over an empty state.dir; 4 tasks on 1 stream thread, their 4 changelog partitions assigned at once to the thread'"'"'s restore consumer (state/restore.c: messages taken in batches, RocksDB write batches of 100k records without the WAL, a flush at the end); clock from the first record restored to rill_restored_records_total = changelog size (polled every 2 ms; the last batch write and the flush are after it); "start → done" from the program'"'"'s start (group join, RocksDB open) to the same instant\n'
        if [[ -n "$BASE_DIR" ]]; then
            printf -- '- baseline: the same restore with bench-state-agg built from %s (build: %s), run just before each of this build'"'"'s restores\n' "$BASE_REV" "$(rel_path "$BASE_DIR")"
        fi
        printf -- '- consume: bench-changelog-consume, a plain librdkafka consumer (defaults), all partitions assigned at once from the beginning, first record → last; the "one partition at a time" column reads them in turn with fetch.wait.max.ms=50, as a restore does (not part of the pair)\n'
        printf -- '- CPU: user+sys of the process over the same span (getrusage), per million changelog records\n'
        printf -- '- alternation: per pair, consume (all at once), consume (one at a time)%s, restore\n' "${BASE_DIR:+, baseline restore}"
        load_item "$load" "$others"
        failures_line
        printf '\n'
        printf '%s\n' "$table"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    [[ -z "$BASE_DIR" || -x "$BASE_DIR/bench/bench-state-agg" ]] ||
        die "RILL_BENCH_BASELINE_BUILD_DIR has no bench/bench-state-agg"
    bench_start bench-state-input bench-state-agg bench-changelog-consume
    INPUT="bench.state-restore.$RUN_ID.in"
    local base_ms=$(( $(date +%s) / 60 * 60 * 1000 ))
    log "broker $BOOTSTRAP; writing $RECORDS records with distinct keys to $INPUT (not timed)"
    create_topic "$INPUT" "$PARTITIONS"
    write_keyed "$INPUT" "$RECORDS" "$RECORDS" "$base_ms" --key-order sequential

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

    local rows="" i c s r b
    for ((i = 1; i <= PAIRS; i++)); do
        c=$(consume "consume-$i")
        log "pair $i consume: $c"
        s=$(consume "consume-seq-$i" --one-partition-at-a-time -X fetch.wait.max.ms=50)
        log "pair $i consume, one partition at a time: $s"
        b="wall_s=0 records=0"
        if [[ -n "$BASE_DIR" ]]; then
            b=$(restore "restore-base-$i")
            log "pair $i baseline restore: $b"
        fi
        r=$(restore "restore-$i")
        log "pair $i restore: $r"
        [[ "$(field "$r" restored_lines)" == "$PARTITIONS" ]] ||
            log "warning: restore $i logged $(field "$r" restored_lines) \"restored\" lines, expected $PARTITIONS"
        rows+="$i $(field "$c" wall_s) $(field "$c" cpu_s) $(field "$c" records) $(field "$s" wall_s)"
        rows+=" $(field "$r" wall_s) $(field "$r" cpu_s) $(field "$r" records) $(field "$r" total_s)"
        rows+=" $(field "$b" wall_s) $(field "$b" records)"$'\n'
    done
    local table
    table=$(printf '%s' "$rows" | report)
    printf '\n%s\n' "$table"
    append_results "$table" "$LOAD" "$OTHERS" "$fill"
    log "appended to $RESULTS"
}

main "$@"
