#!/usr/bin/env bash
# auction_pipeline.sh — the whole auction showcase (rill-auction), its edge stages native
# (--edge native: the validation and notify rules in C) against FaaS (--edge faas: the
# functions of topologies/auction/functions on the Functions Framework), on a real Kafka.
#
# Usage: bash bench/auction_pipeline.sh
#
# Two experiments, each alternating native and faas:
#  throughput  NEXMark events 0..N-1 (seed 42, 1% invalid, 500 ms disorder) are written once
#              to three raw topics (not timed). Each run is `rill-auction --drain` with a new
#              application.id and new output topics, reading the raw topics from the start
#              to the end and closing every auction; clock and CPU (user+sys) of the whole
#              process, start-up included, from /usr/bin/time. Pairs: RILL_BENCH_PAIRS.
#  latency     rill-auction runs while rill-nexmark writes events live, event time = wall
#              time (--base-time now, RATE events/s for LIVE_S s). An auction may close once
#              the wall clock passes expires + grace; its close delay is the time from then to
#              its record in auction.closed (that topic has LogAppendTime, so the broker
#              stamps when it got it). The app runs without --drain (live input is often at
#              its end) and is stopped with SIGTERM 5 s after the generator; auctions ending
#              in the last 2 s of input are left out. p50/p99/max per edge, and a CDF plot.
# It prints the tables and appends them to bench/RESULTS.md; the plot goes to PLOT.
# Cost (bench/lib/cost.sh), from the throughput pairs: USD per million NEXMark events with the
# edge native (the processor) and as functions (their own invocations and billed time, GET
# /stats of the three functions before and after each faas run, and the processor's CPU of
# the faas run), the crossover rate, and the plot COST_PLOT; also the billed time the bridge
# saw (rill-auction's own estimate: the functions' Server-Timing) next to their GET /stats.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_EVENTS      throughput: NEXMark events (default 200000)
#   RILL_BENCH_PAIRS       throughput: native/faas pairs, at least 3 (default 3)
#   RILL_BENCH_RATE        latency: events per second (default 2000)
#   RILL_BENCH_LIVE_S      latency: seconds of live input per edge (default 30)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run (default 600)
#   RILL_BENCH_PLOT        the PNG, relative to the repo (default bench/auction_latency.png)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to (default bench/RESULTS.md)
#   RILL_BENCH_COST_PLOT   the cost PNG, relative to the repo (default bench/cost_auction.png)
#   RILL_BENCH_BASELINE_BUILD_DIR  a build of another revision (rill-auction built): instead of
#                          the two experiments, the throughput pairs alternate that build's
#                          rill-auction (baseline) and this one's (candidate), both with the
#                          edge native, on the same input; no functions, cost or latency
#   RILL_BENCH_BASELINE_REV  the baseline's name in the results (default: its build directory)
#   RILL_COST_*            prices and sizes of the cost model (bench/cost_prices.h)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
# The functions are the ones scripts/functions.sh runs from this checkout's run dir (started
# here, and stopped, when `functions.sh status` says they do not run), at the URLs it prints.
set -euo pipefail

readonly SCRIPT=auction_pipeline.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly EVENTS=${RILL_BENCH_EVENTS:-200000}
readonly RATE=${RILL_BENCH_RATE:-2000}
readonly LIVE_S=${RILL_BENCH_LIVE_S:-30}
readonly PLOT_REL=${RILL_BENCH_PLOT:-bench/auction_latency.png}
readonly GRACE_MS=1000
readonly COST_PLOT_REL=${RILL_BENCH_COST_PLOT:-bench/cost_auction.png}
readonly BASE_DIR=${RILL_BENCH_BASELINE_BUILD_DIR:-}
readonly BASE_REV=${RILL_BENCH_BASELINE_REV:-$BASE_DIR}

need_count RILL_BENCH_EVENTS "$EVENTS"
need_pairs
[[ "$RATE" =~ ^[1-9][0-9]*$ && "$LIVE_S" =~ ^[1-9][0-9]*$ ]] ||
    die "RILL_BENCH_RATE and RILL_BENCH_LIVE_S must be positive integers"
bench_work auction

# ---------------------------------------------------------------- helpers

# topic_flags PREFIX: rill-auction's flags naming every topic PREFIX.<name>.
topic_flags() {
    local p=$1 f
    for f in persons auctions-raw bids-raw auctions bids auctions-rejected bids-rejected \
        closed notifications sent category-price seller-avg hot-items; do
        printf -- '--%s-topic %s.%s ' "$f" "$p" "${f/-raw/.raw}"
    done
}

# write_events PREFIX ARGS...: rill-nexmark into PREFIX's raw topics.
write_events() {
    local p=$1
    shift
    "$BUILD_DIR/topologies/nexmark/rill-nexmark" --bootstrap-servers "$BOOTSTRAP" --quiet \
        --persons-topic "$p.persons" --auctions-topic "$p.auctions.raw" \
        --bids-topic "$p.bids.raw" --seed "$SEED" --invalid 0.01 --ooo-ms 500 "$@" \
        >"$WORK/nexmark.out" 2>&1 || { tail -n 20 "$WORK/nexmark.out" >&2; die "rill-nexmark failed"; }
}

create_inputs() {
    local p=$1 t
    for t in persons auctions.raw bids.raw; do create_topic "$p.$t" "$PARTITIONS"; done
}

# run_app EDGE IN_PREFIX OUT_PREFIX TAG [BUILD_DIR]: rill-auction --drain (of BUILD_DIR,
# default this build); prints "wall_s=W cpu_s=C rss_mb=M".
run_app() {
    local edge=$1 in=$2 out=$3 tag=$4 bdir=${5:-$BUILD_DIR}
    local flags
    flags="$(topic_flags "$out") $FN_FLAGS"
    flags=${flags//--persons-topic $out.persons/--persons-topic $in.persons}
    flags=${flags//--auctions-raw-topic $out.auctions.raw/--auctions-raw-topic $in.auctions.raw}
    flags=${flags//--bids-raw-topic $out.bids.raw/--bids-raw-topic $in.bids.raw}
    # shellcheck disable=SC2086 # the flags are words
    if ! RILL_NOTIFY_FILE="$WORK/notify-$tag.log" timeout --kill-after=10 "$RUN_TIMEOUT_S" \
        "${TIMED[@]}" "$WORK/time-$tag" \
        "$bdir/topologies/auction/rill-auction" --bootstrap-servers "$BOOTSTRAP" \
        --edge "$edge" --no-generate --drain --grace-ms "$GRACE_MS" $flags $FN_FLAGS \
        --notify-file "$WORK/notify-$tag.log" --state-dir "$WORK/state-$tag" \
        -D "application.id=bench-auction-$RUN_ID-$tag" >"$WORK/app-$tag.out" 2>&1; then
        tail -n 30 "$WORK/app-$tag.out" >&2
        die "rill-auction ($tag) failed"
    fi
    rm -rf "$WORK/state-$tag"
    timed_fields "$WORK/time-$tag"
}

# ---------------------------------------------------------------- cost

# fn_totals: "calls billedMs" summed over the three functions so far.
fn_totals() {
    local u
    for u in "${FN_URLS[@]}"; do cost_fn_stats "$u"; done | awk '{ c += $1; b += $3 } END { print c + 0, b + 0 }'
}

# cost_inputs PAIR NATIVE_CPU_S FAAS_CPU_S CALLS BILLED_MS TAG: one row of $WORK/cost-rows, per
# million NEXMark events: "pair native-CPU-s faas-CPU-s calls billed-ms bridge-billed-ms" (the
# last from rill-auction's own estimate in its output).
cost_inputs() {
    local bridge
    bridge=$(sed -n 's/^ *functions *[0-9]* invocations, \([0-9]*\) billed ms.*/\1/p' "$WORK/app-$6.out")
    [[ -n "$bridge" ]] || log "warning: no cost estimate in rill-auction's output ($6)"
    awk -v n="$EVENTS" -v p="$1" -v nc="$2" -v fc="$3" -v c="$4" -v b="$5" -v a="${bridge:-nan}" \
        'BEGIN { m = 1e6 / n; printf "%s %.3f %.3f %.1f %.1f %s\n", p, nc * m, fc * m, c * m, b * m, (a == "nan") ? "n/a" : sprintf("%.1f", a * m) }' \
        >>"$WORK/cost-rows"
}

# The cost table of the throughput pairs (and their medians), and the cost plot.
auction_costs() {
    local p nc fc c b a med
    echo "| pair | calls per M events | billed ms per M events (functions' own; the bridge's) |"
    echo "|---:|---:|---:|"
    while read -r p nc fc c b a; do printf '| %s | %s | %s; %s |\n' "$p" "$c" "$b" "$a"; done <"$WORK/cost-rows"
    echo
    cost_header
    while read -r p nc fc c b a; do cost_row "pair $p" "$(cost_eval "$nc" "$fc" "$c" "$b")"; done <"$WORK/cost-rows"
    med=$(column_medians 2 3 4 5 <"$WORK/cost-rows")
    # shellcheck disable=SC2086 # four numbers
    cost_row "**medians**" "$(cost_eval $med)"
    # shellcheck disable=SC2086
    cost_plot "$ROOT/$COST_PLOT_REL" "The auction showcase's whole processor at list prices (auction_pipeline.sh, medians)\n$(awk '{ printf "edge native %.1f CPU-s per M events; edge FaaS %.1f CPU-s, %.0f calls and %.0f billed ms per M events", $1, $2, $3, $4 }' <<<"$med")" $med
}

# ---------------------------------------------------------------- throughput

throughput() {
    local in="bench.auction.$RUN_ID.tp"
    create_inputs "$in"
    log "writing $EVENTS NEXMark events to $in.* (not timed)"
    write_events "$in" --events "$EVENTS"
    local rows="" i edge r f0 f1 ncpu
    : >"$WORK/cost-rows"
    for ((i = 1; i <= PAIRS; i++)); do
        for edge in native faas; do
            f0=$(fn_totals)
            r=$(run_app "$edge" "$in" "bench.auction.$RUN_ID.tp$i$edge" "tp$i$edge")
            f1=$(fn_totals)
            log "pair $i $edge: $r"
            rows+="$i $edge $(field "$r" wall_s) $(field "$r" cpu_s)"$'\n'
            [[ "$edge" == native ]] && ncpu=$(field "$r" cpu_s)
            [[ "$edge" == faas ]] && cost_inputs "$i" "$ncpu" "$(field "$r" cpu_s)" \
                "$(($(cut -d' ' -f1 <<<"$f1") - $(cut -d' ' -f1 <<<"$f0")))" \
                "$(($(cut -d' ' -f2 <<<"$f1") - $(cut -d' ' -f2 <<<"$f0")))" "tp$i$edge"
        done
    done
    printf '%s' "$rows" | awk -v n="$EVENTS" "$AWK_STATS"'
        BEGIN {
            print "| pair | native events/s | faas events/s | **faas/native events/s** | native CPU-s/M | faas CPU-s/M | **faas/native CPU** |"
            print "|---:|---:|---:|---:|---:|---:|---:|"
        }
        $2 == "native" { nw = $3; nc = $4 }
        $2 == "faas" {
            k++; ne[k] = n / nw; fe[k] = n / $3; ncm[k] = nc / (n / 1e6); fcm[k] = $4 / (n / 1e6)
            te[k] = fe[k] / ne[k]; tc[k] = fcm[k] / ncm[k]
            printf "| %d | %.0f | %.0f | **%.3f** | %.2f | %.2f | **%.2f** |\n", $1, ne[k], fe[k], te[k], ncm[k], fcm[k], tc[k]
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.3f** | %.2f | %.2f | **%.2f** |\n",
                median(ne, k), median(fe, k), median(te, k), median(ncm, k), median(fcm, k), median(tc, k)
            printf "\nfaas/native throughput: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(te, k), lo(te, k), hi(te, k), k
            printf "faas/native CPU per event (rill-auction only, not the functions): median %.2f, min–max %.2f–%.2f\n", median(tc, k), lo(tc, k), hi(tc, k)
        }'
}

# ---------------------------------------------------------------- baseline

# Baseline build against this one, edge native, alternating on one input: the table.
versus_baseline() {
    local in="bench.auction.$RUN_ID.vs"
    create_inputs "$in"
    log "writing $EVENTS NEXMark events to $in.* (not timed)"
    write_events "$in" --events "$EVENTS"
    local rows="" i which r
    for ((i = 1; i <= PAIRS; i++)); do
        for which in base cand; do
            if [[ "$which" == base ]]; then
                r=$(run_app native "$in" "bench.auction.$RUN_ID.vs$i$which" "vs$i$which" "$BASE_DIR")
            else
                r=$(run_app native "$in" "bench.auction.$RUN_ID.vs$i$which" "vs$i$which")
            fi
            log "pair $i $which: $r"
            rows+="$i $which $(field "$r" wall_s) $(field "$r" cpu_s)"$'\n'
        done
    done
    printf '%s' "$rows" | awk -v n="$EVENTS" "$AWK_STATS"'
        BEGIN {
            print "| pair | baseline events/s | candidate events/s | baseline CPU-s/M | candidate CPU-s/M | **candidate/baseline CPU** |"
            print "|---:|---:|---:|---:|---:|---:|"
        }
        $2 == "base" { bw = $3; bc = $4 }
        $2 == "cand" {
            k++; be[k] = n / bw; ce[k] = n / $3; bcm[k] = bc / (n / 1e6); ccm[k] = $4 / (n / 1e6)
            tc[k] = ccm[k] / bcm[k]
            printf "| %d | %.0f | %.0f | %.2f | %.2f | **%.3f** |\n", $1, be[k], ce[k], bcm[k], ccm[k], tc[k]
        }
        END {
            printf "| **median** | %.0f | %.0f | %.2f | %.2f | **%.3f** |\n",
                median(be, k), median(ce, k), median(bcm, k), median(ccm, k), median(tc, k)
            printf "\ncandidate/baseline CPU per event: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(tc, k), lo(tc, k), hi(tc, k), k
        }'
}

main_baseline() {
    [[ -x "$BASE_DIR/topologies/auction/rill-auction" ]] ||
        die "RILL_BENCH_BASELINE_BUILD_DIR has no topologies/auction/rill-auction"
    bench_start rill-auction rill-nexmark
    log "broker $BOOTSTRAP; baseline $BASE_REV against this build: $EVENTS events, $PAIRS pairs"
    local tp
    tp=$(versus_baseline)
    printf '\n%s\n' "$tp"
    {
        results_head "auction pipeline, edge native: this build against $BASE_REV" "" \
            "; baseline: $BASE_REV"
        build_item
        printf -- '- app: rill-auction --drain --edge native, its defaults (at_least_once, commit.interval.ms 1000, 1 stream thread, %s partitions, grace %s ms), the whole topology\n' "$PARTITIONS" "$GRACE_MS"
        printf -- '- input: NEXMark events 0..%s of seed %s (1%% invalid, 500 ms disorder) written once, not timed; per run a new application.id and new output topics; clock and CPU (user+sys) of the whole rill-auction process, start-up and the end (--drain) included; alternation: per pair, baseline then candidate\n' "$((EVENTS - 1))" "$SEED"
        load_item "$LOAD" "$OTHERS"
        printf '\n%s\n' "$tp"
    } >>"$RESULTS"
    log "appended to $(rel_path "$RESULTS")"
}

# ---------------------------------------------------------------- latency

# close_delays PREFIX GEN_END_MS: one close delay (ms) per auction closed by time.
close_delays() {
    local p=$1 end=$2
    timeout 60 kcat -b "$BOOTSTRAP" -C -t "$p.closed" -e -q -f '%T %s\n' 2>/dev/null |
        awk -v g="$GRACE_MS" -v end="$end" '
            match($0, /"closedAt":[0-9]+/) {
                at = substr($0, RSTART + 11, RLENGTH - 11) + 0
                if (at + g <= end - 2000) print $1 - (at + g)
            }' | sort -n
}

# percentile FILE P: the P-th percentile of the sorted numbers in FILE.
percentile() {
    awk -v p="$2" '{ v[NR] = $1 } END { if (!NR) { print "nan"; exit } i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }' "$1"
}

latency_run() {
    local edge=$1 p="bench.auction.$RUN_ID.lat$1"
    create_inputs "$p"
    create_topic "$p.closed" "$PARTITIONS" message.timestamp.type=LogAppendTime
    local flags
    flags="$(topic_flags "$p") $FN_FLAGS"
    # Not --drain: with live input the app is often at the end of it. It stops on SIGTERM.
    # shellcheck disable=SC2086 # the flags are words
    RILL_NOTIFY_FILE="$WORK/notify-lat$edge.log" "$BUILD_DIR/topologies/auction/rill-auction" \
        --bootstrap-servers "$BOOTSTRAP" --edge "$edge" --no-generate --grace-ms "$GRACE_MS" \
        $flags $FN_FLAGS --notify-file "$WORK/notify-lat$edge.log" --state-dir "$WORK/state-lat$edge" \
        -D "application.id=bench-auction-$RUN_ID-lat$edge" >"$WORK/app-lat$edge.out" 2>&1 &
    local app=$!
    sleep 3 # joined the group, stores open
    write_events "$p" --base-time now --rate "$RATE" --write-rate "$RATE" \
        --events $((RATE * LIVE_S))
    local end
    end=$(date +%s%3N)
    sleep 5 # the last auctions that end before the input does close
    kill -TERM "$app"
    wait "$app" || { tail -n 30 "$WORK/app-lat$edge.out" >&2; die "rill-auction (latency, $edge) failed"; }
    close_delays "$p" "$end" >"$WORK/delays-$edge"
    [[ -s "$WORK/delays-$edge" ]] || die "no auction closed by time in the $edge latency run"
    # A record stamped by the app (CreateTime = closedAt) gives exactly -grace: not LogAppendTime.
    if [[ "$(sort -u "$WORK/delays-$edge")" == "-$GRACE_MS" ]]; then
        die "$p.closed does not carry the broker's append time"
    fi
    printf '| %s | %d | %s | %s | %s |\n' "$edge" "$(wc -l <"$WORK/delays-$edge")" \
        "$(percentile "$WORK/delays-$edge" 50)" "$(percentile "$WORK/delays-$edge" 99)" \
        "$(tail -n 1 "$WORK/delays-$edge")"
}

plot() {
    local png="$ROOT/$PLOT_REL" e
    for e in native faas; do
        awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' \
            "$WORK/delays-$e" >"$WORK/cdf-$e"
    done
    run_gnuplot <<EOF
set terminal pngcairo size 900,520 font "sans,11" noenhanced
set output "$png"
set title "Auction close delay: wall clock past expires + grace to the close record in Kafka\n(live NEXMark input, $RATE events/s, one rill-auction process, at_least_once)"
set xlabel "close delay (ms)"
set ylabel "share of auctions closed"
set key bottom right
set grid
set yrange [0:1]
plot "$WORK/cdf-native" using 1:2 with lines lw 2 title "edge native (C)", \
     "$WORK/cdf-faas" using 1:2 with lines lw 2 title "edge FaaS (Functions Framework)"
EOF
    log "plot: $PLOT_REL"
}

latency() {
    echo "| edge | auctions closed by time | p50 close delay (ms) | p99 (ms) | max (ms) |"
    echo "|---|---:|---:|---:|---:|"
    latency_run native
    latency_run faas
}

# ---------------------------------------------------------------- main

main() {
    if [[ -n "$BASE_DIR" ]]; then
        main_baseline
        return
    fi
    bench_start rill-auction rill-nexmark bench-cost
    ensure_functions validate-auction validate-bid notify
    log "broker $BOOTSTRAP; throughput: $EVENTS events, $PAIRS pairs"
    local tp lat
    tp=$(throughput)
    printf '\n%s\n' "$tp"
    local costs
    costs=$(auction_costs)
    printf '\n%s\n' "$costs"
    log "latency: $RATE events/s live for $LIVE_S s per edge"
    lat=$(latency)
    printf '\n%s\n' "$lat"
    plot
    {
        results_head "auction pipeline: edge native vs FaaS" rocksdb
        build_item
        printf -- '- app: rill-auction --drain, its defaults (at_least_once, commit.interval.ms 1000, 1 stream thread, %s partitions, grace %s ms); the whole topology: edge in (validate auctions and bids), close (completion), notifications joined with persons, notify (edge out), category and seller analytics, hot items; faas: the functions of topologies/auction/functions on the Functions Framework on this machine (their CPU is not counted)\n' "$PARTITIONS" "$GRACE_MS"
        printf -- '- throughput: NEXMark events 0..%s of seed %s (1%% invalid, 500 ms disorder) written once, not timed; per run a new application.id and new output topics; clock and CPU (user+sys) of the whole rill-auction process, start-up and the end (--drain) included; alternation: per pair, native then faas\n\n' "$((EVENTS - 1))" "$SEED"
        printf '%s\n\n' "$tp"
        printf -- '- cost at list prices, from the throughput pairs (per million NEXMark events; native: the whole processor with the edge native; FaaS: the functions'"'"' own invocations and billed time, GET /stats before and after each faas run, plus the whole processor'"'"'s CPU of the faas run charged per CPU-second; CPU includes start-up and the end of --drain); plot: `%s`\n' "$COST_PLOT_REL"
        cost_prices_item
        printf '\n%s\n\n![cost per hour against the event rate](%s)\n\n' "$costs" "$(basename "$COST_PLOT_REL")"
        printf -- '- latency: %s events/s written live for %s s per edge (event time = wall time); close delay = the broker'"'"'s LogAppendTime of the auction'"'"'s record in auction.closed minus (expires + grace), i.e. how long after the auction could close its result was in Kafka; the app runs without --drain and stops 5 s after the input; auctions ending in the last 2 s of input left out; plot: %s\n' "$RATE" "$LIVE_S" "$PLOT_REL"
        load_item "$LOAD" "$OTHERS"
        printf '\n%s\n' "$lat"
    } >>"$RESULTS"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
