#!/usr/bin/env bash
# state_agg.sh — Rill's aggregations over RocksDB state stores against the raw RocksDB ceiling
# for the same keys and values, in one run: keyed count and windowed count (tumbling 10 s,
# grace 5 s, emit on update), each alternating ceiling and Rill, A B A B A B.
#
# Usage: bash bench/state_agg.sh
#
# It writes the input once (not timed) to a new 4-partition topic: N records, K distinct
# 16-byte keys drawn by seed, 8-byte values, timestamps 1 ms apart (bench-state-input,
# state_bench.h). Then, pair by pair and mode by mode:
#   ceiling  bench-rocks-ceiling: N batched puts (batches of 10k, written as Rill's stores write:
#            WAL on without fsync since 2a56f5c) then N point gets
#            of the keys Rill's store would hold for the same records, through Rill's RocksDB
#            layer with Rill's default cache and memtable sizes, in a new database;
#   rill     bench-state-agg: source → group_by_key → count (keyed) or → windowed_by → count
#            (windowed), Rill's defaults, a new application.id and state.dir, reading the whole
#            input from the start; measured from its first record consumed to its clean stop.
# Per pair it prints records/s and CPU-s per million records of each and the rill/ceiling
# ratios, then the median and min–max of the ratios per mode, and appends it all to
# bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_RECORDS     records of the input           (default 1000000)
#   RILL_BENCH_KEYS        distinct keys                   (default 100000)
#   RILL_BENCH_PAIRS       ceiling/rill pairs, at least 3  (default 3)
#   RILL_BENCH_MODES       "keyed windowed" or one of them (default both)
#   RILL_BENCH_EMIT        windowed mode's emit: update or final (default update)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run             (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to               (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=state_agg.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly KEYS=${RILL_BENCH_KEYS:-100000}
readonly MODES=${RILL_BENCH_MODES:-keyed windowed}
readonly EMIT=${RILL_BENCH_EMIT:-update}
[[ "$EMIT" == update || "$EMIT" == final ]] || die "RILL_BENCH_EMIT is update or final"
export RILL_BENCH_EMIT=$EMIT
readonly STORE_NAME=counts # the aggregation's store (state_bench.h SB_STORE)

need_count RILL_BENCH_RECORDS "$RECORDS"
need_count RILL_BENCH_KEYS "$KEYS"
need_pairs
for m in $MODES; do [[ "$m" == keyed || "$m" == windowed ]] || die "unknown mode '$m'"; done
bench_work state-agg

# ---------------------------------------------------------------- runs

# run_one KIND I MODE: runs the ceiling or the Rill app of pair I; prints its RESULT line with
# the PHASES or METRICS fields and broker_cpu_s appended.
run_one() {
    local kind=$1 i=$2 mode=$3 cmd dir="$WORK/$1-$3-$2"
    case "$kind" in
        ceiling) cmd=("$BUILD_DIR/bench/bench-rocks-ceiling" --dir "$dir" --mode "$mode"
                      --records "$RECORDS" --keys "$KEYS" --base-ms "$BASE_MS" --seed "$SEED"
                      --partitions "$PARTITIONS") ;;
        rill) cmd=("$BUILD_DIR/bench/bench-state-agg" --bootstrap-servers "$BOOTSTRAP"
                   --input "$INPUT" --mode "$mode" --records "$RECORDS"
                   --timeout-s "$RUN_TIMEOUT_S" --state-dir "$dir"
                   -D "application.id=bench-state-$mode-$RUN_ID-$i") ;;
    esac
    local name="$kind-$mode-$i" cpu0 cpu1 attempt
    for attempt in 1 2; do
        rm -rf "$dir"
        cpu0=$(broker_cpu)
        run_program "$name" "${cmd[@]}" && break
        ((attempt == 1)) || die "$kind $mode run $i failed twice (command: ${cmd[*]})"
        # A failed run is retried once, and the failure recorded with the results.
        note_failure "$kind $mode run $i" "$WORK/$name.err"
        if [[ "$kind" == rill ]]; then
            cmd[${#cmd[@]} - 1]="application.id=bench-state-$mode-$RUN_ID-$i-retry"
        fi
    done
    cpu1=$(broker_cpu)
    rm -rf "$dir"
    local result extra topic=""
    result=$(result_of "$name")
    extra=$(grep -E '^(PHASES|METRICS) ' "$WORK/$name.out" | cut -d' ' -f2- || true)
    # What the store's changelog topic holds, to set beside the app's counter of it.
    [[ "$kind" == rill ]] &&
        topic=" topic_changelog=$(topic_records "${cmd[${#cmd[@]} - 1]#application.id=}-$STORE_NAME-changelog")"
    echo "$result $extra broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")$topic"
}

# pair_row I CEILING RILL MODE: adds the pair's row to rows[MODE] (report's columns).
pair_row() {
    local c=$2 r=$3 mode=$4
    rows[$mode]+="$1 $(field "$c" wall_s) $(field "$c" cpu_s) $(field "$c" put_s) $(field "$c" get_s)"
    rows[$mode]+=" $(field "$r" wall_s) $(field "$r" cpu_s) $(field "$r" last_s) $(field "$r" changelog)"
    rows[$mode]+=" $(field "$r" commits) $(field "$r" broker_cpu_s) $(field "$r" maxrss_kb)"
    rows[$mode]+=" $(field "$r" topic_changelog)"$'\n'
}

# ---------------------------------------------------------------- report

# Reads rows "pair c_wall c_cpu c_put c_get r_wall r_cpu r_last changelog commits r_broker
# maxrss_kb topic_changelog"; prints the Markdown table and the summary lines.
report() {
    awk -v n="$RECORDS" "$AWK_STATS"'
        BEGIN {
            print "| pair | ceiling rec/s (put+get) | ceiling put / get rec/s | rill rec/s | **rill/ceiling rec/s** | rill rec/s to last record | ceiling CPU-s/M | rill CPU-s/M | **rill/ceiling CPU** | rill changelog records (counter / topic) | rill commits | rill peak RSS MiB | broker CPU-s/M (rill run) |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            cr[k] = n / $2; cc[k] = $3 / (n / 1e6); rr[k] = n / $6; rc[k] = $7 / (n / 1e6)
            tr[k] = rr[k] / cr[k]; xr[k] = rc[k] / cc[k]; rl[k] = n / $8
            broker = $11 == "nan" ? "n/a" : sprintf("%.2f", $11 / (n / 1e6))
            printf "| %d | %.0f | %.0f / %.0f | %.0f | **%.3f** | %.0f | %.3f | %.3f | **%.3f** | %d / %s | %d | %.0f | %s |\n",
                $1, cr[k], n / $4, n / $5, rr[k], tr[k], rl[k], cc[k], rc[k], xr[k], $9, $13, $10, $12 / 1024, broker
        }
        END {
            printf "| **median** | %.0f | | %.0f | **%.3f** | %.0f | %.3f | %.3f | **%.3f** | | | | |\n",
                median(cr, k), median(rr, k), median(tr, k), median(rl, k), median(cc, k), median(rc, k), median(xr, k)
            printf "\nrill/ceiling throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(tr, k), lo(tr, k), hi(tr, k), k
            printf "rill/ceiling CPU per record: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(xr, k), lo(xr, k), hi(xr, k), k
        }'
}

append_results() {
    local tables=$1 load=$2 others=$3
    {
        results_head "state stores: keyed and windowed count vs the RocksDB ceiling" rocksdb
        build_item
        printf -- '- input (bench-state-input, written once, not timed): %s records, %s distinct 16-byte keys drawn by seed %s, 8-byte values, timestamps 1 ms apart, %s partitions (murmur2)\n' \
            "$RECORDS" "$KEYS" "$SEED" "$PARTITIONS"
        printf -- '- rill (bench-state-agg): source → group_by_key → count (keyed), or → windowed_by(tumbling 10 s, grace 5 s) → count, emit %s (windowed); no sink (updates forwarded to no node); Rill defaults: at_least_once, commit.interval.ms 30000, 1 stream thread, statestore.cache.max.bytes 10 MiB, block cache 64 MiB, 2 × 8 MiB memtables; each run a new application.id and state.dir, reading the input from the start\n' "$EMIT"
        printf -- '- ceiling (bench-rocks-ceiling, Rill'"'"'s RocksDB layer state/db_int.h, same options and sizes, the layer'"'"'s write options — WAL on without fsync since 2a56f5c, as Rill'"'"'s stores —, a new database per run): %s puts in write batches of 10k then %s point gets, of the bytes Rill'"'"'s store holds for the same records (keyed: 21-byte keys [partition][tag][key], windowed: 41-byte window keys; 16-byte values [timestamp][count]); rate = records / (put + get seconds)\n' \
            "$RECORDS" "$RECORDS"
        printf -- '- clock: rill from its first record consumed to its clean stop (final commit: changelog produced, RocksDB applied and flushed; clients closed) — "to last record" stops at the last record processed instead; ceiling put + get (its close, a memtable flush, not counted); CPU: user+sys of the process over the same span (getrusage), per million input records\n'
        printf -- '- alternation: per pair, ceiling then rill, mode after mode (%s)\n' "$MODES"
        load_item "$load" "$others"
        failures_line
        printf '%s\n' "$tables"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    bench_start bench-state-input bench-state-agg bench-rocks-ceiling
    INPUT="bench.state-agg.$RUN_ID.in"
    # Timestamps from now, aligned to a minute (a window store segment): near the present so
    # that no broker retention or timestamp check trips on them.
    BASE_MS=$(( $(date +%s) / 60 * 60 * 1000 ))
    log "broker $BOOTSTRAP; writing $RECORDS records ($KEYS keys) to $INPUT (not timed)"
    create_topic "$INPUT" "$PARTITIONS"
    write_keyed "$INPUT" "$RECORDS" "$KEYS" "$BASE_MS"
    declare -A rows
    local mode
    # shellcheck disable=SC2086 # the modes are words
    alternate ceiling rill pair_row $MODES
    local tables="" table
    for mode in $MODES; do
        table=$(printf '%s' "${rows[$mode]}" | report)
        tables+=$'\n'"**$mode count** ($([[ $mode == keyed ]] && echo "key-value store" || echo "window store, tumbling 10 s, grace 5 s, emit $EMIT"))"$'\n\n'"$table"$'\n'
    done
    printf '%s\n' "$tables"
    append_results "$tables" "$LOAD" "$OTHERS"
    log "appended to $RESULTS"
}

main "$@"
