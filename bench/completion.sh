#!/usr/bin/env bash
# completion.sh — completion detection over NEXMark: the winning bid of each auction
# (bench-completion, the topology of tests/progs/rill_winner_app.c) against the raw consume
# rate of the same topics (bench-changelog-consume, plain librdkafka), alternating A B A B A B.
#
# Usage: bash bench/completion.sh
#        RILL_BENCH_COMPARE=lineage bash bench/completion.sh
#        RILL_BENCH_COMPARE=eos bash bench/completion.sh
#        RILL_BENCH_COMPARE=baseline RILL_BENCH_BASELINE_BUILD_DIR=DIR bash bench/completion.sh
#
# With RILL_BENCH_COMPARE=lineage the pair is the Rill app (baseline) against the same with
# lineage.enable=true: the completion keeps each auction's trace and its best bid's in its
# store (completion_trace.c), so this measures what keeping lineage with state costs.
# With RILL_BENCH_COMPARE=eos the pair is the Rill app at at_least_once against the same at
# exactly_once_v2 (what the transactions cost). With RILL_BENCH_COMPARE=baseline it is the
# Rill app of another build (RILL_BENCH_BASELINE_BUILD_DIR, an older revision) against this
# build's, both at RILL_BENCH_GUARANTEE, on the same input (what a change saves).
#
# It writes the input once (not timed): NEXMark events 0..N-1 of seed 42 (auctions and bids
# only, JSON, keyed by auction id, 4 partitions each; event time from now at 10,000 events/s)
# and one watermark auction per partition that moves stream time past every deadline
# (bench-completion --write). Then, pair by pair:
#   raw   bench-changelog-consume reads the auctions topic, then the bids topic, from the
#         beginning to the end; wall and CPU are the sums of the two reads (first record to
#         last record of each);
#   rill  bench-completion: sources (JSON serde, dateTime as event time) →
#         rill_stream_complete (deadline = expires, grace 5 s) → sink, Rill's defaults, a new
#         application.id, state.dir and output topic, reading the input from the start;
#         measured from its first record consumed to the last completion (every auction).
# Per pair it prints records/s and CPU-s per million records of each and the rill/raw
# ratios, then the median and min–max of the ratios, and appends it all to bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_EVENTS      NEXMark events (persons are not written) (default 1000000)
#   RILL_BENCH_PAIRS       raw/rill pairs, at least 3               (default 3)
#   RILL_BENCH_COMPARE     raw (default), lineage (rill vs rill with lineage.enable=true),
#                          eos (at_least_once vs exactly_once_v2) or baseline (see above)
#   RILL_BENCH_GUARANTEE   processing.guarantee of the rill runs (raw, lineage, baseline)
#                          (default at_least_once)
#   RILL_BENCH_BASELINE_BUILD_DIR  baseline: a build of another revision with bench-completion
#   RILL_BENCH_BASELINE_REV        baseline: what that build is, for RESULTS.md (default
#                          "baseline")
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run                      (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to                        (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=completion.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly EVENTS=${RILL_BENCH_EVENTS:-1000000}
readonly GRACE_MS=5000
readonly COMPARE=${RILL_BENCH_COMPARE:-raw}
readonly GUARANTEE=${RILL_BENCH_GUARANTEE:-at_least_once}
readonly BASE_DIR=${RILL_BENCH_BASELINE_BUILD_DIR:-}
readonly BASE_REV=${RILL_BENCH_BASELINE_REV:-baseline}
case "$COMPARE" in
    raw) readonly KIND_A=raw KIND_B=rill LABEL_A="raw consume" ;;
    lineage) readonly KIND_A=rill KIND_B=lineage LABEL_A="rill" ;;
    eos) readonly KIND_A=rill KIND_B=eos LABEL_A="rill" ;;
    baseline) readonly KIND_A=base KIND_B=rill LABEL_A="$BASE_REV" ;;
    *) die "RILL_BENCH_COMPARE must be raw, lineage, eos or baseline" ;;
esac
case "$GUARANTEE" in
    at_least_once | exactly_once_v2) ;;
    *) die "RILL_BENCH_GUARANTEE must be at_least_once or exactly_once_v2" ;;
esac
if [[ $COMPARE == baseline && ! -x "$BASE_DIR/bench/bench-completion" ]]; then
    die "RILL_BENCH_BASELINE_BUILD_DIR has no bench/bench-completion"
fi

need_count RILL_BENCH_EVENTS "$EVENTS"
need_pairs
bench_work completion

# ---------------------------------------------------------------- runs

# consume TOPIC: one raw read of TOPIC; prints its RESULT line.
consume() {
    run_program "consume-$1" "$BUILD_DIR/bench/bench-changelog-consume" \
        --bootstrap-servers "$BOOTSTRAP" --topic "$1" --timeout-s "$RUN_TIMEOUT_S" ||
        die "raw read of $1 failed"
    result_of "consume-$1"
}

# run_one KIND I: runs the raw reads or the Rill app of pair I; prints one line
# "records=R wall_s=W cpu_s=C [METRICS fields] broker_cpu_s=B".
run_one() {
    local kind=$1 i=$2 cpu0 cpu1 line
    cpu0=$(broker_cpu)
    case "$kind" in
        raw)
            local a b
            a=$(consume "$AUCTIONS")
            b=$(consume "$BIDS")
            line=$(awk -v ra="$(field "$a" records)" -v rb="$(field "$b" records)" \
                       -v wa="$(field "$a" wall_s)" -v wb="$(field "$b" wall_s)" \
                       -v ca="$(field "$a" cpu_s)" -v cb="$(field "$b" cpu_s)" \
                       'BEGIN { printf "records=%d wall_s=%.3f cpu_s=%.3f", ra + rb, wa + wb, ca + cb }')
            ;;
        rill | lineage | eos | base)
            local dir="$WORK/state-$kind-$i" name="$kind-$i"
            local output="bench.completion.$RUN_ID.$i.$kind.out" props=() bin=$BUILD_DIR
            local guarantee=$GUARANTEE
            [[ $COMPARE == eos ]] && guarantee=at_least_once
            [[ $kind == eos ]] && guarantee=exactly_once_v2
            [[ $kind == lineage ]] && props=(-D lineage.enable=true)
            [[ $kind == base ]] && bin=$BASE_DIR
            props+=(-D "processing.guarantee=$guarantee")
            create_topic "$output" "$PARTITIONS"
            run_program "$name" "$bin/bench/bench-completion" \
                --bootstrap-servers "$BOOTSTRAP" --auctions "$AUCTIONS" --bids "$BIDS" \
                --output "$output" --events "$EVENTS" --grace-ms "$GRACE_MS" \
                --timeout-s "$RUN_TIMEOUT_S" --state-dir "$dir" "${props[@]}" \
                -D "application.id=bench-completion-$kind-$RUN_ID-$i" || die "rill run $i failed"
            rm -rf "$dir"
            local result metrics
            result=$(result_of "$name")
            metrics=$(grep '^METRICS ' "$WORK/$name.out" | cut -d' ' -f2- || true)
            line="records=$(field "$result" records) wall_s=$(field "$result" wall_s)"
            line+=" cpu_s=$(field "$result" cpu_s) total_s=$(field "$result" total_s) $metrics"
            ;;
    esac
    cpu1=$(broker_cpu)
    echo "$line broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# pair_row I RAW RILL: adds the pair's row to rows (report's columns), and keeps the counters
# of its Rill run in metrics.
pair_row() {
    local raw=$2 rill=$3
    rows+="$1 $(field "$raw" records) $(field "$raw" wall_s) $(field "$raw" cpu_s)"
    rows+=" $(field "$rill" records) $(field "$rill" wall_s) $(field "$rill" cpu_s)"
    rows+=" $(field "$rill" completions) $(field "$raw" broker_cpu_s) $(field "$rill" broker_cpu_s)"$'\n'
    metrics=$(tr ' ' '\n' <<<"$rill" | grep -E '^(completions|ignored|held|unmatched|late|dlq|commits)=' | tr '\n' ' ')
}

# ---------------------------------------------------------------- report

# Reads rows "pair raw_records raw_wall raw_cpu rill_records rill_wall rill_cpu completions
# raw_broker rill_broker"; prints the Markdown table and the summary lines.
report() {
    awk -v LA="$LABEL_A" -v A="$KIND_A" -v B="$KIND_B" "$AWK_STATS"'
        BEGIN {
            printf "| pair | %s rec/s | %s rec/s | **%s/%s rec/s** | %s CPU-s/M | %s CPU-s/M | **%s/%s CPU** | completions | broker CPU-s/M (%s / %s run) |\n", LA, B, B, A, A, B, B, A, A, B
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            rr[k] = $2 / $3; lr[k] = $5 / $6; rc[k] = $4 / ($2 / 1e6); lc[k] = $7 / ($5 / 1e6)
            tr[k] = lr[k] / rr[k]; xr[k] = lc[k] / rc[k]
            broker = ($9 == "nan" || $10 == "nan") ? "n/a" : sprintf("%.2f / %.2f", $9 / ($2 / 1e6), $10 / ($5 / 1e6))
            printf "| %d | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.2f** | %d | %s |\n",
                $1, rr[k], lr[k], tr[k], rc[k], lc[k], xr[k], $8, broker
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.2f** | | |\n",
                median(rr, k), median(lr, k), median(tr, k), median(rc, k), median(lc, k), median(xr, k)
            printf "\n%s/%s throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", B, A, median(tr, k), lo(tr, k), hi(tr, k), k
            printf "%s/%s CPU per record: median %.2f, min–max %.2f–%.2f (%d pairs)\n", B, A, median(xr, k), lo(xr, k), hi(xr, k), k
            printf "%s: median %.0f events/s, %.3f CPU-s per million events (min–max %.3f–%.3f)\n", B, median(lr, k), median(lc, k), lo(lc, k), hi(lc, k)
        }'
}

append_results() {
    local table=$1 load=$2 others=$3 wrote=$4 metrics=$5
    {
        if [[ $COMPARE == lineage ]]; then
            results_head "completion detection: the cost of lineage kept with the state" rocksdb
        elif [[ $COMPARE == eos ]]; then
            results_head "completion detection: exactly_once_v2 vs at_least_once" rocksdb
        elif [[ $COMPARE == baseline ]]; then
            results_head "completion detection: this build vs $BASE_REV ($GUARANTEE)" rocksdb
        else
            results_head "completion detection: NEXMark winning bid vs the raw consume rate" rocksdb
        fi
        build_item
        printf -- '- input (bench-completion --write, written once, not timed): NEXMark events 0..%s of seed %s (rill_nexmark defaults: 10,000 events/s of event time, 100 auctions in flight, id_lead 10, no disorder, nothing invalid), auctions and bids only, JSON, keyed by auction id, %s partitions each (murmur2), plus one watermark auction per auctions partition 60 s of event time after the last expiry; %s\n' \
            "$((EVENTS - 1))" "$SEED" "$PARTITIONS" "$wrote"
        printf -- '- rill (bench-completion): sources with the JSON serde and dateTime as event time → rill_stream_complete (deadline = expires, grace %s ms, hold 60 s; a bid counts when auction.dateTime <= dateTime < expires and price >= reserve; winner: highest price, earliest, lowest bidder) → sink of one JSON record per auction; Rill defaults but processing.guarantee %s (commit.interval.ms 30000 at at_least_once, 100 at exactly_once_v2), 1 stream thread, RocksDB store with its changelog; each run a new application.id, state.dir and output topic; operator counters of the last run: %s\n' \
            "$GRACE_MS" "$GUARANTEE" "$metrics"
        printf -- '- raw (bench-changelog-consume, librdkafka only, no group, nothing done with the records): the auctions topic, then the bids topic, each from its first record to its last; the pair'"'"'s figures are the sums of the two reads\n'
        printf -- '- clock: rill from its first record consumed to its last completion (rill_completions_total = the number of auctions); CPU: user+sys of the process over the same span (getrusage), per million input records\n'
        [[ $COMPARE == lineage ]] && printf -- '- lineage: the same rill run with -D lineage.enable=true: each auction keeps its trace and its leading bid'"'"'s (the best so far: the winner app'"'"'s accumulate returns RILL_COMPLETION_LEADS) in the store and changelog; the output carries the winner'"'"'s traceparent and rill.lineage\n'
        [[ $COMPARE == eos ]] && printf -- '- eos: the same rill run at at_least_once (rill) and at exactly_once_v2 (eos)\n'
        [[ $COMPARE == baseline ]] && printf -- '- baseline: the same rill run with bench-completion of %s, built in %s\n' "$BASE_REV" "$(rel_path "$BASE_DIR")"
        printf -- '- alternation: per pair, %s then %s\n' "$KIND_A" "$KIND_B"
        load_item "$load" "$others"
        printf '\n%s\n' "$table"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    bench_start bench-completion bench-changelog-consume
    AUCTIONS="bench.completion.$RUN_ID.auctions"
    BIDS="bench.completion.$RUN_ID.bids"
    create_topic "$AUCTIONS" "$PARTITIONS"
    create_topic "$BIDS" "$PARTITIONS"
    log "broker $BOOTSTRAP; writing $EVENTS NEXMark events to $AUCTIONS and $BIDS (not timed)"
    local wrote
    wrote=$(timeout 900 "$BUILD_DIR/bench/bench-completion" --write --bootstrap-servers "$BOOTSTRAP" \
        --auctions "$AUCTIONS" --bids "$BIDS" --events "$EVENTS" --seed "$SEED" \
        --partitions "$PARTITIONS") || die "writing the input failed"
    wrote=${wrote#WROTE }
    log "wrote $wrote"
    local rows="" metrics=""
    alternate "$KIND_A" "$KIND_B" pair_row
    local table
    table=$(printf '%s' "$rows" | report)
    printf '\n%s\n' "$table"
    append_results "$table" "$LOAD" "$OTHERS" "$wrote" "${metrics% }"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
