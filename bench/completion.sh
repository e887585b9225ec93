#!/usr/bin/env bash
# completion.sh — completion detection over NEXMark: the winning bid of each auction
# (bench-completion, the topology of tests/progs/rill_winner_app.c) against the raw consume
# rate of the same topics (bench-changelog-consume, plain librdkafka), alternating A B A B A B.
#
# Usage: bash bench/completion.sh
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
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/state_common.sh)
#   RILL_BENCH_EVENTS      NEXMark events (persons are not written) (default 1000000)
#   RILL_BENCH_PAIRS       raw/rill pairs, at least 3               (default 3)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run                      (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to                        (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=completion.sh
# shellcheck source=bench/state_common.sh
source "$(dirname "$0")/state_common.sh"

readonly EVENTS=${RILL_BENCH_EVENTS:-1000000}
readonly PAIRS=${RILL_BENCH_PAIRS:-3}
readonly SEED=42
readonly GRACE_MS=5000
readonly RUN_TIMEOUT_S=${RILL_BENCH_RUN_TIMEOUT_S:-600}
readonly BUILD_DIR=${RILL_BUILD_DIR:-$ROOT/build}
RUN_ID="$(date +%s)-$$"
readonly RUN_ID
COMMAND=$(command_line)
readonly COMMAND

[[ "$EVENTS" =~ ^[1-9][0-9]*$ ]] || die "RILL_BENCH_EVENTS must be a positive count"
if ! [[ "$PAIRS" =~ ^[0-9]+$ ]] || ((PAIRS < 3)); then die "RILL_BENCH_PAIRS must be 3 or more"; fi
make_work completion

# ---------------------------------------------------------------- runs

# consume TOPIC: one raw read of TOPIC; prints its RESULT line.
consume() {
    local out="$WORK/consume-$1.out" err="$WORK/consume-$1.err"
    timeout --kill-after=10 $((RUN_TIMEOUT_S + 60)) "$BUILD_DIR/bench/bench-changelog-consume" \
        --bootstrap-servers "$BOOTSTRAP" --topic "$1" --timeout-s "$RUN_TIMEOUT_S" \
        >"$out" 2>"$err" || { tail -n 30 "$err" >&2; die "raw read of $1 failed"; }
    grep '^RESULT ' "$out" || die "raw read of $1 printed no RESULT line"
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
        rill)
            local dir="$WORK/state-$i" out="$WORK/rill-$i.out" err="$WORK/rill-$i.err"
            local output="bench.completion.$RUN_ID.$i.out"
            create_topic "$output" "$PARTITIONS"
            if ! timeout --kill-after=10 $((RUN_TIMEOUT_S + 60)) "$BUILD_DIR/bench/bench-completion" \
                --bootstrap-servers "$BOOTSTRAP" --auctions "$AUCTIONS" --bids "$BIDS" \
                --output "$output" --events "$EVENTS" --grace-ms "$GRACE_MS" \
                --timeout-s "$RUN_TIMEOUT_S" --state-dir "$dir" \
                -D "application.id=bench-completion-$RUN_ID-$i" >"$out" 2>"$err"; then
                tail -n 30 "$err" >&2
                die "rill run $i failed"
            fi
            rm -rf "$dir"
            local result metrics
            result=$(grep '^RESULT ' "$out") || die "rill run $i printed no RESULT line"
            metrics=$(grep '^METRICS ' "$out" | cut -d' ' -f2- || true)
            line="records=$(field "$result" records) wall_s=$(field "$result" wall_s)"
            line+=" cpu_s=$(field "$result" cpu_s) total_s=$(field "$result" total_s) $metrics"
            ;;
    esac
    cpu1=$(broker_cpu)
    echo "$line broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# ---------------------------------------------------------------- report

# Reads rows "pair raw_records raw_wall raw_cpu rill_records rill_wall rill_cpu completions
# raw_broker rill_broker"; prints the Markdown table and the summary lines.
report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| pair | raw consume rec/s | rill rec/s | **rill/raw rec/s** | raw CPU-s/M | rill CPU-s/M | **rill/raw CPU** | completions | broker CPU-s/M (raw / rill run) |"
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
            printf "\nrill/raw throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(tr, k), lo(tr, k), hi(tr, k), k
            printf "rill/raw CPU per record: median %.2f, min–max %.2f–%.2f (%d pairs)\n", median(xr, k), lo(xr, k), hi(xr, k), k
            printf "rill: median %.0f events/s, %.3f CPU-s per million events (min–max %.3f–%.3f)\n", median(lr, k), median(lc, k), lo(lc, k), hi(lc, k)
        }'
}

append_results() {
    local table=$1 load=$2 others=$3 wrote=$4 metrics=$5
    {
        printf '\n## completion detection: NEXMark winning bid vs the raw consume rate — %s\n\n' \
            "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf -- '- revision: %s\n' "$(revision)"
        # shellcheck disable=SC2016 # the backquotes are Markdown
        printf -- '- command: `%s`\n' "$COMMAND"
        machine_line
        printf -- '- build: %s, %s\n' "$(build_type)" "$(rel_path "$BUILD_DIR")"
        printf -- '- input (bench-completion --write, written once, not timed): NEXMark events 0..%s of seed %s (rill_nexmark defaults: 10,000 events/s of event time, 100 auctions in flight, id_lead 10, no disorder, nothing invalid), auctions and bids only, JSON, keyed by auction id, %s partitions each (murmur2), plus one watermark auction per auctions partition 60 s of event time after the last expiry; %s\n' \
            "$((EVENTS - 1))" "$SEED" "$PARTITIONS" "$wrote"
        printf -- '- rill (bench-completion): sources with the JSON serde and dateTime as event time → rill_stream_complete (deadline = expires, grace %s ms, hold 60 s; a bid counts when auction.dateTime <= dateTime < expires and price >= reserve; winner: highest price, earliest, lowest bidder) → sink of one JSON record per auction; Rill defaults: at_least_once, commit.interval.ms 30000, 1 stream thread, RocksDB store with its changelog; each run a new application.id, state.dir and output topic; operator counters of the last run: %s\n' \
            "$GRACE_MS" "$metrics"
        printf -- '- raw (bench-changelog-consume, librdkafka only, no group, nothing done with the records): the auctions topic, then the bids topic, each from its first record to its last; the pair'"'"'s figures are the sums of the two reads\n'
        printf -- '- clock: rill from its first record consumed to its last completion (rill_completions_total = the number of auctions); CPU: user+sys of the process over the same span (getrusage), per million input records\n'
        printf -- '- alternation: per pair, raw then rill\n'
        printf -- '- load average before the runs (1, 5, 15 min): %s; busiest processes then: %s\n\n' "$load" "${others:-none}"
        printf '%s\n' "$table"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    build bench-completion bench-changelog-consume
    find_broker
    local load others
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    others=$(other_load)
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
    local rows="" i raw rill metrics=""
    for ((i = 1; i <= PAIRS; i++)); do
        raw=$(run_one raw "$i")
        log "pair $i raw:  $raw"
        rill=$(run_one rill "$i")
        log "pair $i rill: $rill"
        rows+="$i $(field "$raw" records) $(field "$raw" wall_s) $(field "$raw" cpu_s)"
        rows+=" $(field "$rill" records) $(field "$rill" wall_s) $(field "$rill" cpu_s)"
        rows+=" $(field "$rill" completions) $(field "$raw" broker_cpu_s) $(field "$rill" broker_cpu_s)"$'\n'
        metrics=$(tr ' ' '\n' <<<"$rill" | grep -E '^(completions|ignored|held|unmatched|late|dlq|commits)=' | tr '\n' ' ')
    done
    local table
    table=$(printf '%s' "$rows" | report)
    printf '\n%s\n' "$table"
    append_results "$table" "$load" "$others" "$wrote" "${metrics% }"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
