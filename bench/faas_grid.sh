#!/usr/bin/env bash
# faas_grid.sh — the FaaS bridge's throughput against its bound C×B/L (bench/README.md, "FaaS bound"):
# a Rill app source → FaaS stage → sink over a one-partition input (one task, so C is the real
# concurrency) calls a function that waits L ms and echoes, for every cell of
# L ∈ {25, 200} ms × B ∈ {1, 100, 1000} records per call × C ∈ {1, 5, 20} calls in flight.
#
# Usage: bash bench/faas_grid.sh
#
# Steps: build; find or start a broker; start our own Functions Framework process (target
# `faulty`, whose injected latency is set per cell through POST /control, no other fault);
# write the input once (1 partition, not timed); then
#   1. the function alone: bench-faas-fn-ceiling keeps C calls of B events in flight with no
#      added latency (L = 0), no Rill involved — what the single-threaded Node process can
#      serve for each (B, C), the ceiling of the cells whose C×B/L is above it;
#   2. Rill at L = 0 for each (B, C): what the whole pipeline can do when only the
#      function's CPU and Rill's own work limit it;
#   3. the grid: one bench-faas-throughput run per cell, each under a fresh application.id
#      with its own output topic, reading the input from the beginning.
# Each cell counts after 2 s of warm-up, for at least RECORDS outputs and MIN_S seconds, at
# most MAX_S seconds (see bench/faas_throughput.c). It prints a table, writes a gnuplot PNG
# (achieved/bound against C, one line per (L, B)) and appends both to bench/RESULTS.md.
# A cell whose clean stop hangs after it printed its figures (bench-faas-throughput exit code 3,
# see bench/faas_throughput.c) is kept, and listed in RESULTS.md.
# Cost (bench/lib/cost.sh): per cell, the FaaS stage's USD per million events at list prices
# from the function's own invocations and billed time (GET /stats, reset per cell) and Rill's
# CPU per record; the grid has no native run, so no crossover (faas_latency.sh has both).
#
# Environment:
#   RILL_BENCH_BOOTSTRAP        a running broker 127.0.0.1:PORT (default: the one of
#                               scripts/kafka.sh if it runs, else one started here in a temp dir
#                               on RILL_KAFKA_PORT, default a free port, and stopped at the end)
#   RILL_BENCH_FAAS_PORT        port of our function process  (default: a free port)
#   RILL_BENCH_FAAS_LATENCIES   function latencies L, ms            (default "25 200")
#   RILL_BENCH_FAAS_BATCHES     batch sizes B                       (default "1 100 1000")
#   RILL_BENCH_FAAS_IN_FLIGHTS  calls in flight C                   (default "1 5 20")
#   RILL_BENCH_FAAS_RECORDS     outputs counted per cell, at least  (default 60000)
#   RILL_BENCH_FAAS_MIN_S, RILL_BENCH_FAAS_MAX_S  window bounds, s   (default 3, 10)
#   RILL_BENCH_FAAS_INPUT       input records written once          (default 1000000)
#   RILL_BENCH_FAAS_FLAGS       extra flags for every Rill run, e.g.
#                               "-D buffered.records.per.partition=1000000" (default none)
#   RILL_BENCH_FAAS_PLOT        the PNG, relative to the repo  (default bench/faas_throughput.png)
#   RILL_BENCH_FAAS_LABEL       a word naming the variant in RESULTS.md (default "defaults")
#   RILL_BUILD_DIR              build directory (default <repo>/build; configured if needed)
#   RILL_COST_*                 prices and sizes of the cost model (bench/cost_prices.h)
set -euo pipefail

SCRIPT=faas_grid.sh
readonly COMMAND_QUOTED=1
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly PORT=${RILL_BENCH_FAAS_PORT:-}
read -r -a LATENCIES <<<"${RILL_BENCH_FAAS_LATENCIES:-25 200}"
read -r -a BATCHES <<<"${RILL_BENCH_FAAS_BATCHES:-1 100 1000}"
read -r -a IN_FLIGHTS <<<"${RILL_BENCH_FAAS_IN_FLIGHTS:-1 5 20}"
readonly RECORDS=${RILL_BENCH_FAAS_RECORDS:-60000}
readonly MIN_S=${RILL_BENCH_FAAS_MIN_S:-3}
readonly MAX_S=${RILL_BENCH_FAAS_MAX_S:-10}
readonly WARMUP_S=2
readonly INPUT_RECORDS=${RILL_BENCH_FAAS_INPUT:-1000000}
read -r -a EXTRA_FLAGS <<<"${RILL_BENCH_FAAS_FLAGS:-}"
readonly PLOT_REL=${RILL_BENCH_FAAS_PLOT:-bench/faas_throughput.png}
readonly LABEL=${RILL_BENCH_FAAS_LABEL:-defaults}
readonly LINGER_MS=1
readonly VALUE_BYTES=100

for v in "${LATENCIES[@]}" "${BATCHES[@]}" "${IN_FLIGHTS[@]}" "$RECORDS" "$MIN_S" "$MAX_S" "$INPUT_RECORDS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "latencies, batches, in-flights and counts must be positive integers, got '$v'"
done
bench_work faas-grid

# ---------------------------------------------------------------- runs

# cell L B C: one Rill run; prints its RESULT line.
cell() {
    local l=$1 b=$2 c=$3 name="$RUN_ID-$1-$2-$3" cmd
    fn_control "{\"fault\":{\"latencyMs\":$l},\"reset\":true}"
    cmd=("$BUILD_DIR/bench/bench-faas-throughput" --bootstrap-servers "$BOOTSTRAP"
         --input "$INPUT" --output "bench.faas.$name.out" --url "$FN_URL"
         --batch "$b" --in-flight "$c" --latency-ms "$l" --linger-ms "$LINGER_MS"
         --warmup-s "$WARMUP_S" --min-s "$MIN_S" --max-s "$MAX_S" --records "$RECORDS"
         --input-records "$INPUT_RECORDS" --fn-pid "$FN_PID" --timeout-s 120
         -D "application.id=bench-faas-$name" -D "errors.deadletterqueue.topic.name=$DLQ"
         "${EXTRA_FLAGS[@]}")
    local rc=0
    timeout --kill-after=10 200 "${cmd[@]}" >"$WORK/cell-$name.out" 2>"$WORK/cell-$name.err" || rc=$?
    if ((rc == 3)); then
        log "warning: cell L=$l B=$b C=$c: measured, but the app did not stop cleanly (see bench/faas_throughput.c)"
        echo "$l $b $c" >>"$WORK/stop-hangs"
    elif ((rc != 0)); then
        tail -n 20 "$WORK/cell-$name.err" >&2
        die "cell L=$l B=$b C=$c failed (command: ${cmd[*]})"
    fi
    grep -q 'run dry' "$WORK/cell-$name.err" && log "warning: cell L=$l B=$b C=$c ran out of input"
    cell_cost "$l" "$b" "$c" "$WORK/cell-$name.out"
    grep '^RESULT ' "$WORK/cell-$name.out" || die "cell L=$l B=$b C=$c printed no RESULT line"
}

# cell_cost L B C OUT: appends the cell's cost inputs to $WORK/costs ("L B C Rill-CPU-s/M
# calls/M billed-ms/M", per million events the function got).
cell_cost() {
    local st cpu
    st=$(cost_fn_stats "$FN_URL")
    cpu=$(field "$(grep '^RESULT ' "$4")" cpu_s_per_m)
    echo "$1 $2 $3 $cpu $(cost_per_m "$(cut -d' ' -f1 <<<"$st")" "$(cut -d' ' -f2 <<<"$st")")" \
         "$(cost_per_m "$(cut -d' ' -f3 <<<"$st")" "$(cut -d' ' -f2 <<<"$st")")" >>"$WORK/costs"
}

# The cost table: one row per cell of $WORK/costs (cost model through bench-cost).
cost_grid_table() {
    echo "| L ms | B | C | calls per M events | billed ms per M events | FaaS requests USD/M | FaaS duration USD/M | Rill CPU USD/M | **FaaS USD/M events** |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local l b c cpu calls billed k
    while read -r l b c cpu calls billed; do
        k=$(cost_eval n/a "$cpu" "$calls" "$billed")
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | **%s** |\n' "$l" "$b" "$c" "$calls" "$billed" \
            "$(cost_value "$k" fn_requests_per_m)" "$(cost_value "$k" fn_duration_per_m)" \
            "$(cost_value "$k" bridge_per_m)" "$(cost_value "$k" faas_per_m)"
    done <"$WORK/costs"
}

# ---------------------------------------------------------------- report

# Reads "ceiling" rows (B C rate busy call_ms fn_cpu_s_per_m) from $WORK/ceilings and "cell"
# rows (L B C rate bound ratio batch call inflight cpu_m fn_m fn_busy window) from
# $WORK/cells; prints the Markdown tables; writes $WORK/plot.dat. The function's capacity is
# what one full core would serve at its measured CPU cost: 10^6 / (its CPU-s per million
# records), from the function-alone run — unlike the function-alone rate it does not depend
# on how much CPU the shared machine left the Node process during that run.
report() {
    awk -v plotdat="$WORK/plot.dat" '
        FNR == 1 { file++ }
        file == 1 { k = $1 " " $2; fn[k] = $3; fnbusy[k] = $4; fncall[k] = $5; fncpu[k] = $6
                    cap[k] = ($6 > 0) ? 1e6 / $6 : 0; next }
        file == 2 && $1 == 0 { k = $2 " " $3; zero[k] = $4; zbusy[k] = $12; zbatch[k] = $7;
                               zcall[k] = $8; zinf[k] = $9; zcpu[k] = $10; next }
        file == 2 { n++; row[n] = $0 }
        END {
            print "**The function alone, and Rill at L = 0** (no added latency: the ceiling of each (B, C)). Function alone = bench-faas-fn-ceiling, no Rill; capacity = 10^6 / its CPU-s per million records = what the single-threaded Node process serves with one full core"
            print ""
            print "| B | C | function alone rec/s | its CPU busy | its mean call ms | its CPU-s/M | **capacity (1 core) rec/s** | Rill at L=0 rec/s | Rill/capacity | Rill: mean batch | mean call ms | mean in flight | Rill CPU-s/M | function CPU busy |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (k in fn) keys[++nk] = k
            for (i = 2; i <= nk; i++) for (j = i; j > 1; j--) {
                split(keys[j - 1], a, " "); split(keys[j], b, " ")
                if (a[1] + 0 > b[1] + 0 || (a[1] + 0 == b[1] + 0 && a[2] + 0 > b[2] + 0)) { t = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = t }
            }
            for (i = 1; i <= nk; i++) {
                k = keys[i]; split(k, a, " ")
                if (k in zero)
                    printf "| %d | %d | %.0f | %.2f | %.1f | %.1f | **%.0f** | %.0f | %.2f | %s | %s | %s | %s | %s |\n", a[1], a[2], fn[k], fnbusy[k], fncall[k],
                        fncpu[k], cap[k], zero[k], cap[k] ? zero[k] / cap[k] : 0, zbatch[k], zcall[k], zinf[k], zcpu[k], zbusy[k]
                else
                    printf "| %d | %d | %.0f | %.2f | %.1f | %.1f | **%.0f** | n/a | | | | | | |\n", a[1], a[2], fn[k], fnbusy[k], fncall[k], fncpu[k], cap[k]
            }
            print ""
            print "**The grid** (bound = C×B/L; capacity = the function'"'"'s, one core, at this (B, C); limit = the smaller of the two; ← the example cell)"
            print ""
            print "| L ms | B | C | bound C×B/L rec/s | function capacity rec/s | achieved rec/s | **achieved/bound** | achieved/min(bound, capacity) | limit | mean batch | mean call ms | mean in flight | Rill CPU-s/M | function CPU-s/M | function CPU busy |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= n; i++) {
                split(row[i], f, " ")
                k = f[2] " " f[3]
                fb = (k in cap) && cap[k] > 0 && cap[k] < f[5]
                lim = fb ? "function CPU" : "C×B/L"
                eff = fb ? cap[k] : f[5]
                mark = (f[1] == 200 && f[2] == 1000 && f[3] == 5) ? " ←" : ""
                printf "| %d | %d | %d | %.0f | %s | %.0f | **%.3f**%s | %.3f | %s | %s | %s | %s | %s | %s | %s |\n",
                    f[1], f[2], f[3], f[5], (k in cap) ? sprintf("%.0f", cap[k]) : "n/a", f[4], f[6], mark, f[4] / eff, lim,
                    f[7], f[8], f[9], f[10], f[11], f[12]
                printf "%d %d %d %.5f %.5f\n", f[1], f[2], f[3], f[6], f[4] / eff >plotdat
            }
        }' "$WORK/ceilings" "$WORK/cells"
}

plot() {
    local png=$1
    # One data block per (L, B): "C ratio ratio_eff".
    local series=() l b
    : >"$WORK/plot.blocks"
    for l in "${LATENCIES[@]}"; do
        for b in "${BATCHES[@]}"; do
            awk -v l="$l" -v b="$b" '$1 == l && $2 == b { print $3, $4, $5 }' "$WORK/plot.dat" |
                sort -n >>"$WORK/plot.blocks"
            printf '\n\n' >>"$WORK/plot.blocks"
            series+=("L=$l ms, B=$b")
        done
    done
    local plots_a="" plots_b="" i=0 dt
    for ((i = 0; i < ${#series[@]}; i++)); do
        dt=$(( i / ${#BATCHES[@]} == 0 ? 1 : 2 ))
        plots_a+="${plots_a:+, }'$WORK/plot.blocks' index $i using 1:2 with linespoints lw 2 pt 7 dt $dt lc $((i % ${#BATCHES[@]} + 1)) title '${series[$i]}'"
        plots_b+="${plots_b:+, }'$WORK/plot.blocks' index $i using 1:3 with linespoints lw 2 pt 7 dt $dt lc $((i % ${#BATCHES[@]} + 1)) title '${series[$i]}'"
    done
    run_gnuplot <<EOF
set terminal pngcairo noenhanced size 1300,600 font ",10"
set output '$png'
set multiplot layout 1,2 title "Rill FaaS bridge: achieved throughput against the bound (one task, function waits L ms and echoes; $LABEL)"
set logscale x
set xtics (1, 2, 5, 10, 20)
set xrange [0.8:25]
set xlabel "C (invocations in flight)"
set grid
set key below
set yrange [0:1.1]
set ylabel "achieved / (C×B/L)"
set title "achieved / bound"
plot $plots_a
set yrange [0:1.3]
set ylabel "achieved / min(C×B/L, function capacity)"
set title "achieved / what the bound and the function allow"
plot $plots_b
unset multiplot
EOF
}

# shellcheck disable=SC2016 # the backquotes are Markdown
append_results() {
    local tables=$1 load=$2 others=$3 example=$4
    {
        results_head "faas throughput grid ($LABEL)" faas
        build_item
        printf -- '- workload: %s records written once to a 1-partition topic (keys "k<i>", %s-byte values, seed %s); every cell reads it from the start under a new application.id (one task)\n' \
            "$INPUT_RECORDS" "$VALUE_BYTES" "$SEED"
        printf -- '- function: Functions Framework target `faulty` (faas_bridge/functions, no fault), latency L set per cell with POST /control `{"fault":{"latencyMs":L}}`; it echoes the text values; one Node process, started by the script\n'
        printf -- '- stage: CloudEvents, order=partition, batch_max_records=B, max_in_flight=C, linger_ms=%s, max_buffered_records as the stage defaults it; other options and Rill settings default%s\n' \
            "$LINGER_MS" "${EXTRA_FLAGS[*]:+; extra flags: \`${EXTRA_FLAGS[*]}\`}"
        printf -- '- measured: outputs per second leaving the stage after %s s of warm-up, over whole bursts, for ≥ %s outputs and ≥ %s s, ≤ %s s (bench/faas_throughput.c); CPU-s/M = user+sys CPU seconds per million records over the same window (Rill: getrusage of the processor process; function: /proc/<pid>/stat); "busy" = function CPU-s per second of window; mean batch/call/in-flight from the stage metrics (Little: rate ≈ in-flight × batch / call)\n' \
            "$WARMUP_S" "$RECORDS" "$MIN_S" "$MAX_S"
        printf -- '- function alone: bench-faas-fn-ceiling (libcurl multi, no Rill), same request shape, 1 s warm-up + 3 s; capacity = 10^6 / its CPU-s per million records (one full core)\n'
        load_item "$load" "$others"
        printf -- '- plot: `%s`\n' "$PLOT_REL"
        local hangs
        hangs=$(awk '{ printf "%s(L=%s, B=%s, C=%s)", sep, $1, $2, $3; sep = ", " }' "$WORK/stop-hangs" 2>/dev/null || true)
        printf -- '- clean stops that hung after the measurement (figures valid; process ended after 30 s): %s\n\n' "${hangs:-none}"
        printf '**Example cell, 5 in flight × 1000 events / 200 ms = 25,000 events/s:** %s\n\n' "$example"
        printf '%s\n\n' "$tables"
        printf '![achieved/bound](%s)\n' "$(basename "$PLOT_REL")"
        printf '\n**Cost of the FaaS stage at list prices**, per cell (no native run here: see faas_latency.sh for the crossover)\n\n'
        cost_prices_item
        printf '\n%s\n' "$(cost_grid_table)"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    faas_start faulty "$PORT" '{"latencyMs":0}' bench-faas-throughput bench-faas-fn-ceiling bench-produce bench-cost
    local load=$LOAD others=$OTHERS
    INPUT="bench.faas.$RUN_ID.in"
    DLQ="bench.faas.$RUN_ID.dlq"
    create_topic "$INPUT" 1
    create_topic "$DLQ" 1
    log "writing $INPUT_RECORDS records to $INPUT (not timed)"
    write_records "$INPUT" "$INPUT_RECORDS" "$VALUE_BYTES"
    local b c l r t0=$SECONDS
    : >"$WORK/ceilings"
    for b in "${BATCHES[@]}"; do
        for c in "${IN_FLIGHTS[@]}"; do
            r=$(fn_alone 0 "$b" "$c")
            log "function alone B=$b C=$c: ${r#RESULT }"
            echo "$b $c $(field "$r" rate) $(field "$r" fn_busy) $(field "$r" mean_call_ms) $(field "$r" fn_cpu_s_per_m)" >>"$WORK/ceilings"
        done
    done
    : >"$WORK/cells"
    : >"$WORK/costs"
    for l in 0 "${LATENCIES[@]}"; do
        for b in "${BATCHES[@]}"; do
            for c in "${IN_FLIGHTS[@]}"; do
                r=$(cell "$l" "$b" "$c")
                log "L=$l B=$b C=$c: ${r#RESULT }"
                local busy
                busy=$(awk -v f="$(field "$r" fn_cpu_s)" -v w="$(field "$r" window_s)" \
                    'BEGIN { if (f == "nan") print "n/a"; else printf "%.2f", f / w }')
                echo "$l $b $c $(field "$r" rate) $(field "$r" bound) $(field "$r" ratio)" \
                     "$(field "$r" mean_batch) $(field "$r" mean_call_ms) $(field "$r" mean_in_flight)" \
                     "$(field "$r" cpu_s_per_m) $(field "$r" fn_cpu_s_per_m) $busy $(field "$r" window_s)" \
                     >>"$WORK/cells"
            done
        done
    done
    log "all cells done in $((SECONDS - t0)) s"
    local tables example
    tables=$(report)
    example=$(awk '$1 == 200 && $2 == 1000 && $3 == 5 {
        printf "achieved %.0f records/s = **%.3f of the bound** (mean batch %s, mean call %s ms, mean in flight %s)", $4, $6, $7, $8, $9 }' "$WORK/cells")
    [[ -n "$example" ]] || example="not in this grid"
    plot "$ROOT/$PLOT_REL"
    printf '\n%s\n\nExample cell (5 × 1000 / 200 ms = 25,000 events/s): %s\n\n%s\n' "$tables" "$example" "$(cost_grid_table)"
    append_results "$tables" "$load" "$others" "$example"
    log "appended to $RESULTS; plot $PLOT_REL"
}

main "$@"
