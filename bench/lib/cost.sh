# shellcheck shell=bash
# cost.sh — the cost model (bench/cost_model.c, through bench-cost) for the benchmark
# scripts that run FaaS stages (faas_grid.sh, faas_latency.sh, auction_pipeline.sh). Sourced
# through bench/lib/bench.sh, not run.
#
# DESIGN
# The scripts measure, bench-cost computes, these helpers only carry numbers between the
# two and format them: the function's invocations and billed time come from its own GET
# /stats (billedMs: each call's execution time rounded up to 1 ms, measured inside the
# function), the processor's CPU from the benchmark programs. Per-event inputs are passed as
# "per million events", so runs of any length compare. Prices: bench/cost_prices.h, or
# RILL_COST_* (see bench/README.md, "Cost model").
#
# The caller sets BUILD_DIR and builds bench-cost.

# cost_fn_stats URL: "calls events billedMs" of the function at URL so far.
cost_fn_stats() {
    curl -s -m 10 "${1%/}/stats" | jq -r '"\(.calls // 0) \(.events // 0) \(.billedMs // 0)"' ||
        die "cannot read ${1%/}/stats"
}

# cost_value COST_LINE KEY: one value of a COST line.
cost_value() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# cost_eval NATIVE_CPU_S_PER_M FAAS_CPU_S_PER_M CALLS_PER_M BILLED_MS_PER_M [bench-cost args]:
# the COST line for one native/FaaS comparison ("n/a" for a side not measured).
cost_eval() {
    local args=() n=$1 f=$2 calls=$3 billed=$4
    shift 4
    [[ "$n" != n/a ]] && args+=(--native-events 1000000 --native-cpu-s "$n")
    [[ "$f" != n/a ]] && args+=(--faas-events 1000000 --faas-cpu-s "$f" --invocations "$calls"
                                --billed-ms "$billed")
    "$BUILD_DIR/bench/bench-cost" "${args[@]}" "$@" || die "bench-cost failed"
}

# cost_per_m COUNT EVENTS: COUNT per million EVENTS (n/a without events).
cost_per_m() { awk -v c="$1" -v e="$2" 'BEGIN { if (e > 0) printf "%.3f", c * 1e6 / e; else print "n/a" }'; }

# cost_prices_item: the Markdown list item naming the prices a run used.
cost_prices_item() {
    printf -- '- cost model (bench/cost_model.c; bench/README.md, "Cost model"): %s\n' \
        "$("$BUILD_DIR/bench/bench-cost" --describe-prices | head -n 1)"
}

# cost_row LABEL COST_LINE: one Markdown row of the cost table (cost_header's columns).
cost_header() {
    echo "| run | native USD/M events (processor fully used) | native events/s per vCPU | FaaS requests USD/M | FaaS duration USD/M | processor CPU of the FaaS run USD/M | **FaaS USD/M events** | **crossover events/s** |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
}
cost_row() {
    local c=$2 x
    x=$(cost_value "$c" crossover)
    [[ "$x" == n/a ]] && x="none"
    printf '| %s | %s | %s | %s | %s | %s | **%s** | **%s** |\n' "$1" \
        "$(cost_value "$c" native_per_m)" "$(cost_value "$c" capacity)" \
        "$(cost_value "$c" fn_requests_per_m)" "$(cost_value "$c" fn_duration_per_m)" \
        "$(cost_value "$c" bridge_per_m)" "$(cost_value "$c" faas_per_m)" "$x"
}

# cost_plot PNG TITLE NATIVE_CPU_S_PER_M FAAS_CPU_S_PER_M CALLS_PER_M BILLED_MS_PER_M: USD per
# hour against the mean event rate (log scales), the always-on processor and the FaaS stage,
# the crossover marked; up to ten times the crossover, and at least three processor steps.
cost_plot() {
    local png=$1 title=$2 c x rmax
    shift 2
    command -v gnuplot >/dev/null || { log "warning: gnuplot not found: no cost plot"; return 0; }
    c=$(cost_eval "$@")
    x=$(cost_value "$c" crossover)
    rmax=$(awk -v x="$x" -v cap="$(cost_value "$c" capacity)" -v s="${RILL_COST_PROC_VCPU_STEP:-0.25}" \
        'BEGIN { r = (cap != "n/a") ? 3 * s * cap : 1000; if (x != "n/a" && 10 * x > r) r = 10 * x; print r }')
    cost_eval "$@" --curve "$WORK/cost-curve.dat" --rate-max "$rmax" >/dev/null
    local mark=""
    [[ "$x" != n/a ]] && mark="set arrow from $x, graph 0 to $x, graph 1 nohead dt 3 lw 2 lc rgb 'black'
set label 'crossover: $x events/s' at $x, graph 0.08 offset 0.5,0"
    run_gnuplot <<EOF
set terminal pngcairo noenhanced size 900,560 font "sans,11"
set output "$png"
set title "$title"
set xlabel "mean event rate (events/s)"
set ylabel "USD per hour at list prices"
set logscale xy
set key top left
set grid
set xrange [$rmax / 1000:$rmax]
$mark
plot "$WORK/cost-curve.dat" using 1:2 with lines lw 2 title "native: always-on processor, sized for the peak", \
     "$WORK/cost-curve.dat" using 1:3 with lines lw 2 title "FaaS: requests + billed GB-s + the processor's CPU of the FaaS run"
EOF
}
