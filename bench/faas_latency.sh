#!/usr/bin/env bash
# faas_latency.sh — the same stateless stage (the `transform` rule of
# faas_bridge/functions/core.js) run natively (a flat_map in C) and through the FaaS bridge
# (the Functions Framework `transform` function), alternating native, faas, native, faas, …
# on the same broker: end-to-end latency at a fixed input rate below saturation, and CPU
# seconds per million records of the processor process (and, for faas, of the function's).
#
# Usage: bash bench/faas_latency.sh
#
# Each run is one bench-faas-latency (bench/faas_latency.c): its own new input and output
# topics (one partition: one task) and application.id; a forked driver produces RATE
# records/s for SECONDS s and an observing consumer takes each output's arrival time minus
# its input's send time; the first 2 s are warm-up. The script prints per pair p50/p99/p99.9
# and CPU-s per million records, the faas/native ratios, their median and min–max, plots
# the latency distributions (bench/faas_latency.png) and appends it all to bench/RESULTS.md.
# Cost (bench/lib/cost.sh): per pair and for the medians, USD per million events native and
# FaaS and the rate where they cross, from the processor's CPU and the function's own
# invocations and billed time (its GET /stats, reset before each faas run); plot
# bench/cost_latency_stage.png (cost per hour against the event rate).
#
# Environment:
#   RILL_BENCH_BOOTSTRAP     a running broker 127.0.0.1:PORT (default: the one of
#                            scripts/kafka.sh if it runs, else one started here, stopped at end)
#   RILL_BENCH_FAAS_PORT     port of our `transform` function process  (default: a free port)
#   RILL_BENCH_PAIRS         native/faas pairs, at least 3             (default 3)
#   RILL_BENCH_RATE          input records per second                  (default 2000)
#   RILL_BENCH_SECONDS       seconds of input per run                  (default 20)
#   RILL_BENCH_FAAS_FLAGS    extra flags for every Rill run (-D name=value ...)
#   RILL_BENCH_LATENCY_PLOT  the PNG, relative to the repo (default bench/faas_latency.png)
#   RILL_BENCH_COST_PLOT     the cost PNG, relative to the repo (default bench/cost_latency_stage.png)
#   RILL_COST_*              prices and sizes of the cost model (bench/cost_prices.h)
#   RILL_BUILD_DIR           build directory (default <repo>/build; configured if needed)
set -euo pipefail

SCRIPT=faas_latency.sh
readonly COMMAND_QUOTED=1
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly PORT=${RILL_BENCH_FAAS_PORT:-}
readonly RATE=${RILL_BENCH_RATE:-2000}
readonly SECONDS_PER_RUN=${RILL_BENCH_SECONDS:-20}
readonly WARMUP_S=2
read -r -a EXTRA_FLAGS <<<"${RILL_BENCH_FAAS_FLAGS:-}"
readonly PLOT_REL=${RILL_BENCH_LATENCY_PLOT:-bench/faas_latency.png}
readonly COST_PLOT_REL=${RILL_BENCH_COST_PLOT:-bench/cost_latency_stage.png}

need_pairs
for v in "$RATE" "$SECONDS_PER_RUN"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "RILL_BENCH_RATE and RILL_BENCH_SECONDS must be positive integers"
done
((SECONDS_PER_RUN > WARMUP_S)) || die "RILL_BENCH_SECONDS must be above the ${WARMUP_S} s warm-up"
bench_work faas-latency

# run_one native|faas I: prints the RESULT line.
run_one() {
    local kind=$1 i=$2 name="$RUN_ID-$2-$1" cmd
    cmd=("$BUILD_DIR/bench/bench-faas-latency" --bootstrap-servers "$BOOTSTRAP"
         --variant "$kind" --input "bench.faas-latency.$name.in"
         --output "bench.faas-latency.$name.out" --rate "$RATE" --seconds "$SECONDS_PER_RUN"
         --warmup-s "$WARMUP_S" --samples "$WORK/samples-$i-$kind"
         -D "application.id=bench-faas-latency-$name"
         -D "errors.deadletterqueue.topic.name=$DLQ" "${EXTRA_FLAGS[@]}")
    [[ "$kind" == faas ]] && cmd+=(--url "$FN_URL" --fn-pid "$FN_PID") && fn_control '{"reset":true}'
    RUN_BOUND_S=$((SECONDS_PER_RUN + 240)) run_program "$kind-$i" "${cmd[@]}" ||
        die "$kind run $i failed (command: ${cmd[*]})"
    local r
    r=$(result_of "$kind-$i")
    [[ "$kind" == faas ]] && r+=" $(cost_fn_stats "$FN_URL" | awk '{ printf "fn_calls=%s fn_events=%s fn_billed_ms=%s", $1, $2, $3 }')"
    echo "$r"
}

# pair_row I NATIVE FAAS: adds the pair's row to rows: "pair n50 n99 n999 ncpu f50 f99 f999
# fcpu fncpu nmean fmean calls/M billed-ms/M".
pair_row() {
    local native=$2 faas=$3
    [[ "$(field "$native" outputs)" == "$(field "$native" records)" &&
       "$(field "$faas" outputs)" == "$(field "$faas" records)" ]] ||
        log "warning: pair $1: outputs and inputs differ"
    rows+="$1 $(field "$native" p50_ms) $(field "$native" p99_ms) $(field "$native" p999_ms) $(field "$native" cpu_s_per_m)"
    rows+=" $(field "$faas" p50_ms) $(field "$faas" p99_ms) $(field "$faas" p999_ms) $(field "$faas" cpu_s_per_m)"
    rows+=" $(field "$faas" fn_cpu_s_per_m) $(field "$native" mean_ms) $(field "$faas" mean_ms)"
    rows+=" $(cost_per_m "$(field "$faas" fn_calls)" "$(field "$faas" fn_events)")"
    rows+=" $(cost_per_m "$(field "$faas" fn_billed_ms)" "$(field "$faas" fn_events)")"$'\n'
}

# Reads the rows of main(); prints the cost table (per pair, then the medians' row) and
# writes the cost plot from the medians.
cost_report() {
    local rows=$1 i n f c b med
    echo "| pair | native CPU-s/M | faas CPU-s/M (Rill) | function calls per M events | billed ms per M events (the function's own) |"
    echo "|---:|---:|---:|---:|---:|"
    awk 'NF { printf "| %s | %s | %s | %s | %s |\n", $1, $5, $9, $13, $14 }' <<<"$rows"
    echo
    cost_header
    while read -r i n f c b; do
        cost_row "pair $i" "$(cost_eval "$n" "$f" "$c" "$b")"
    done < <(awk 'NF { print $1, $5, $9, $13, $14 }' <<<"$rows")
    med=$(column_medians 5 9 13 14 <<<"$rows")
    # shellcheck disable=SC2086 # four numbers
    cost_row "**medians**" "$(cost_eval $med)"
    # shellcheck disable=SC2086
    cost_plot "$ROOT/$COST_PLOT_REL" "The transform stage at list prices (faas_latency.sh, $RATE events/s runs, medians)\n$(awk '{ printf "native %.1f processor CPU-s per M events; FaaS %.0f calls and %.0f billed ms per M events", $1, $3, $4 }' <<<"$med")" $med
}

# Reads rows "pair n50 n99 n999 ncpu f50 f99 f999 fcpu fncpu nmean fmean"; prints the table
# and the summary.
report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| pair | native p50 / p99 / p99.9 ms | faas p50 / p99 / p99.9 ms | faas/native p50 | faas/native p99 | faas/native p99.9 | native CPU-s/M | faas CPU-s/M (Rill) | faas/native CPU | function CPU-s/M | (faas Rill + function)/native CPU |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            r50[k] = $6 / $2; r99[k] = $7 / $3; r999[k] = $8 / $4; rc[k] = $9 / $5; rt[k] = ($9 + $10) / $5
            n50[k] = $2; n99[k] = $3; n999[k] = $4; nc[k] = $5
            f50[k] = $6; f99[k] = $7; f999[k] = $8; fc[k] = $9; fn[k] = $10
            printf "| %d | %.2f / %.1f / %.1f | %.2f / %.1f / %.1f | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f | %.1f | %.2f |\n",
                $1, $2, $3, $4, $6, $7, $8, r50[k], r99[k], r999[k], $5, $9, rc[k], $10, rt[k]
        }
        END {
            printf "| **median** | %.2f / %.1f / %.1f | %.2f / %.1f / %.1f | **%.2f** | **%.2f** | **%.2f** | %.1f | %.1f | **%.2f** | %.1f | **%.2f** |\n",
                median(n50, k), median(n99, k), median(n999, k), median(f50, k), median(f99, k), median(f999, k),
                median(r50, k), median(r99, k), median(r999, k), median(nc, k), median(fc, k), median(rc, k), median(fn, k), median(rt, k)
            printf "\nfaas/native p50: median %.2f, min–max %.2f–%.2f (%d pairs)\n", median(r50, k), lo(r50, k), hi(r50, k), k
            printf "faas/native p99: median %.2f, min–max %.2f–%.2f\n", median(r99, k), lo(r99, k), hi(r99, k)
            printf "faas/native p99.9: median %.2f, min–max %.2f–%.2f\n", median(r999, k), lo(r999, k), hi(r999, k)
            printf "faas/native CPU per record, Rill process: median %.2f, min–max %.2f–%.2f\n", median(rc, k), lo(rc, k), hi(rc, k)
            printf "faas/native CPU per record, Rill process + function process: median %.2f, min–max %.2f–%.2f\n", median(rt, k), lo(rt, k), hi(rt, k)
        }'
}

plot() {
    local png=$1 i kind plots=""
    for ((i = 1; i <= PAIRS; i++)); do
        for kind in native faas; do
            # Exceedance: latency against the fraction of samples above it.
            awk 'NR > 1 { print $2 }' "$WORK/samples-$i-$kind" | sort -n |
                awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], (NR - i + 0.5) / NR }' \
                >"$WORK/ccdf-$i-$kind"
            plots+="${plots:+, }'$WORK/ccdf-$i-$kind' using 1:2 with lines lw 2 dt $([[ $kind == native ]] && echo 1 || echo 2) lc $([[ $kind == native ]] && echo 1 || echo 7) title '$kind, pair $i'"
        done
    done
    run_gnuplot <<EOF
set terminal pngcairo noenhanced size 900,560 font ",10"
set output '$png'
set title "Rill: transform native (flat_map) vs FaaS bridge (Functions Framework), $RATE records/s, end-to-end latency"
set logscale xy
set xlabel "end-to-end latency, ms (input send → output arrival)"
set ylabel "fraction of records slower"
set yrange [0.0005:1]
set ytics ("1" 1, "0.5 (p50)" 0.5, "0.1 (p90)" 0.1, "0.01 (p99)" 0.01, "0.001 (p99.9)" 0.001)
set grid
set key bottom left
plot $plots
EOF
}

# shellcheck disable=SC2016 # the backquotes are Markdown
append_results() {
    local table=$1 load=$2 others=$3
    {
        results_head "faas vs native latency" faas
        build_item
        printf -- '- workload: %s records/s at fixed instants for %s s (first %s s warm-up, not counted); value "i", key "<send µs>-<i>"; one partition (one task); each run its own topics and application.id; native and faas alternate, %s pairs\n' \
            "$RATE" "$SECONDS_PER_RUN" "$WARMUP_S" "$PAIRS"
        printf -- '- stage: the `transform` rule (faas_bridge/functions/core.js): native = flat_map in C (bench/faas_latency.c), faas = FaaS stage → Functions Framework target `transform` (one Node process started by the script), CloudEvents, every stage option default (batch_max_records 100, linger_ms 5, max_in_flight 8, order partition); Rill settings default (at_least_once, commit.interval.ms 30000)%s\n' \
            "${EXTRA_FLAGS[*]:+; extra flags: \`${EXTRA_FLAGS[*]}\`}"
        printf -- '- latency: arrival at an observing consumer (librdkafka, assigned, in a forked driver process) minus the send time carried in the key (µs; the input producer has linger.ms=0), exact percentiles of every counted output\n'
        printf -- '- CPU: user+sys seconds of the processor process (getrusage; the driver is another process) and of the function process (/proc/<pid>/stat), from the end of warm-up until the last output arrived, per million input records sent in that span\n'
        load_item "$load" "$others"
        printf -- '- plot: `%s`\n\n' "$PLOT_REL"
        printf '%s\n\n' "$table"
        printf '![latency distributions](%s)\n' "$(basename "$PLOT_REL")"
        printf '\n**Cost at list prices** (native: the processor CPU of the native run at %s records/s, so its capacity per vCPU is what a run below saturation shows; FaaS: the function'"'"'s own invocations and billed time per event, GET /stats, and the processor CPU of the faas run; plot: `%s`)\n\n' "$RATE" "$COST_PLOT_REL"
        cost_prices_item
        printf '\n%s\n\n![cost per hour against the event rate](%s)\n' "$COST_TABLE" "$(basename "$COST_PLOT_REL")"
    } >>"$RESULTS"
}

main() {
    faas_start transform "$PORT" "" bench-faas-latency bench-cost
    DLQ="bench.faas-latency.$RUN_ID.dlq"
    create_topic "$DLQ" 1
    local rows=""
    alternate native faas pair_row
    local table
    table=$(printf '%s' "$rows" | report)
    plot "$ROOT/$PLOT_REL"
    COST_TABLE=$(cost_report "$rows")
    printf '\n%s\n\n%s\n' "$table" "$COST_TABLE"
    append_results "$table" "$LOAD" "$OTHERS"
    log "appended to $RESULTS; plot $PLOT_REL"
}

main "$@"
