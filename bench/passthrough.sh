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

readonly SCRIPT=passthrough.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly VALUE_BYTES=100
readonly COMPARE=${RILL_BENCH_COMPARE:-raw}
case "$COMPARE" in
    raw) readonly KIND_A=raw KIND_B=rill ;;
    lineage) readonly KIND_A=rill KIND_B=lineage ;;
    *) die "RILL_BENCH_COMPARE must be raw or lineage" ;;
esac

need_count RILL_BENCH_RECORDS "$RECORDS"
need_pairs
bench_work passthrough

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
    run_program "$kind-$i" "${cmd[@]}" || die "$kind run $i failed (command: ${cmd[*]})"
    cpu1=$(broker_cpu)
    local result written metrics
    result=$(result_of "$kind-$i")
    metrics=$(grep '^METRICS ' "$WORK/$kind-$i.out" || true)
    [[ -n "$metrics" ]] && log "$kind run $i: ${metrics#METRICS }"
    written=$(topic_records "$out")
    if [[ -n "$written" && "$written" != "$RECORDS" ]]; then
        log "warning: $kind run $i wrote $written records to $out, expected $RECORDS"
    fi
    echo "$result broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# pair_row I A B: adds the pair's row to rows (report's columns) and its start-ups to startups.
pair_row() {
    local raw=$2 rill=$3
    rows+="$1 $(field "$raw" wall_s) $(field "$raw" cpu_s) $(field "$rill" wall_s) $(field "$rill" cpu_s)"
    rows+=" $(field "$raw" broker_cpu_s) $(field "$rill" broker_cpu_s)"$'\n'
    startups+="$(field "$raw" total_s) $(field "$raw" wall_s) $(field "$rill" total_s) $(field "$rill" wall_s)"$'\n'
}

# ---------------------------------------------------------------- report

# Reads "pair raw_wall raw_cpu rill_wall rill_cpu raw_broker_cpu rill_broker_cpu" rows; prints
# the Markdown table and the summary.
report() {
    awk -v n="$RECORDS" -v A="$KIND_A" -v B="$KIND_B" "$AWK_STATS"'
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

append_results() {
    local table=$1 startup=$2 load=$3
    {
        results_head "passthrough$([[ $COMPARE == lineage ]] && echo ': lineage cost')" ""
        build_item
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
    bench_start bench-raw-passthrough bench-rill-passthrough bench-produce
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
    write_records "$INPUT" "$RECORDS" "$VALUE_BYTES"
    local rows="" startups=""
    alternate "$KIND_A" "$KIND_B" pair_row
    local table startup
    table=$(printf '%s' "$rows" | report)
    startup=$(printf '%s' "$startups" | awk -v A="$KIND_A" -v B="$KIND_B" "$AWK_STATS"'
        { r[NR] = $1 - $2; l[NR] = $3 - $4 }
        END { printf "%s %.2f s, %s %.2f s", A, median(r, NR), B, median(l, NR) }')
    printf '\n%s\n\nstart-up (not counted): %s\n' "$table" "$startup"
    append_results "$table" "$startup" "$LOAD"
    log "appended to $RESULTS"
}

main "$@"
