#!/usr/bin/env bash
# faas_bound.sh — does the FaaS bridge reach its bound with Rill's DEFAULT settings?
# (bench/README.md, "FaaS bound"). For every cell of L ∈ {25, 200} ms × B ∈ {1, 100, 1000}
# records per call × C ∈ {1, 5, 20} calls in flight per task, and every variant of
# P ∈ {1, 4} input partitions (tasks) × order ∈ {partition, key}:
#   - the function alone: bench-faas-fn-ceiling keeps min(P·C, 64) calls of B events in flight
#     against the same function with the same latency L, no Rill — what the function itself
#     serves at that cell (its latency, its CPU, the machine's load at that moment); when its
#     calls take more than 300 ms, measured again over a window that holds many of them;
#   - Rill: bench-faas-throughput with the stage's defaults (linger, read-ahead, retries) and
#     only B and C set, under a fresh application.id, reading the input from the start. Its
#     warm-up and window grow with the function alone's call time T at the cell: warm-up
#     2 s + 2·T, window at least max(3 s, 16·T) (and at most 5 s more). In partition order
#     results leave in bursts, when a partition's oldest call returns; with calls of ~1.5 s
#     (a saturated function) a 3 s window held two or three bursts and its rate swung from
#     0.3 to 1.2 of the limit; with 8·T, a saturated cell (calls of ~0.9 s) still gave 0.87 in
#     key order and 1.17 in partition order while the function served the same rate in both.
# limit = min(bound, function alone), bound = min(P·C, 64)·B/L (64: faas.max.in.flight, the
# process's default cap on calls in flight). The function alone and the Rill variants of a cell
# run one after the other (alternating), RILL_BENCH_FAAS_REPEATS times; the report gives
# medians. It prints a table, writes a gnuplot PNG (achieved/limit against C, one panel per
# variant) and appends both to bench/RESULTS.md.
#
# Usage: bash bench/faas_bound.sh
#
# Environment (besides those of bench/lib/run.sh's broker and build):
#   RILL_BENCH_FAAS_PORT        port of our function process        (default 28081)
#   RILL_BENCH_FAAS_LATENCIES   function latencies L, ms            (default "25 200")
#   RILL_BENCH_FAAS_BATCHES     batch sizes B                       (default "1 100 1000")
#   RILL_BENCH_FAAS_IN_FLIGHTS  calls in flight per task C          (default "1 5 20")
#   RILL_BENCH_FAAS_PARTITIONS  input partitions P                  (default "1 4")
#   RILL_BENCH_FAAS_ORDERS      stage orders                        (default "partition key")
#   RILL_BENCH_FAAS_REPEATS     runs of each cell and variant       (default 1)
#   RILL_BENCH_FAAS_INPUT       input records written once per P    (default 1000000)
#   RILL_BENCH_FAAS_PLOT        the PNG, relative to the repo       (default bench/faas_bound.png;
#                               "none": no plot, e.g. for a run of one cell)
#   RILL_BENCH_FAAS_PIN         1: the function runs alone on the last CPU, this script and
#                               what it starts (the broker it starts, Rill, the function-alone
#                               client) on the others; 0: no pinning  (default 1)
#   RILL_BUILD_DIR              build directory (default <repo>/build)
#
# Why pinning: the function is one single-threaded node process. Unpinned, at the cells where
# it saturates, "the function alone" had the machine to itself while in Rill's runs the
# broker and Rill took CPU from it, so the ratio measured the machine, not the bridge (on 2
# cores such cells gave 0.13–0.8). Pinned, the function has one CPU in both runs, as a
# function has its own machine in a FaaS deployment. A broker already running
# (RILL_BENCH_BOOTSTRAP) is not pinned.
set -euo pipefail

SCRIPT=faas_bound.sh
readonly COMMAND_QUOTED=1
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly PORT=${RILL_BENCH_FAAS_PORT:-28081}
read -r -a LATENCIES <<<"${RILL_BENCH_FAAS_LATENCIES:-25 200}"
read -r -a BATCHES <<<"${RILL_BENCH_FAAS_BATCHES:-1 100 1000}"
read -r -a IN_FLIGHTS <<<"${RILL_BENCH_FAAS_IN_FLIGHTS:-1 5 20}"
read -r -a PARTITION_COUNTS <<<"${RILL_BENCH_FAAS_PARTITIONS:-1 4}"
read -r -a ORDERS <<<"${RILL_BENCH_FAAS_ORDERS:-partition key}"
readonly REPEATS=${RILL_BENCH_FAAS_REPEATS:-1}
readonly INPUT_RECORDS=${RILL_BENCH_FAAS_INPUT:-1000000}
readonly PLOT_REL=${RILL_BENCH_FAAS_PLOT:-bench/faas_bound.png}
readonly PROCESS_CAP=64
readonly PIN=${RILL_BENCH_FAAS_PIN:-1}

for v in "${LATENCIES[@]}" "${BATCHES[@]}" "${IN_FLIGHTS[@]}" "${PARTITION_COUNTS[@]}" "$REPEATS" "$INPUT_RECORDS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "latencies, batches, in-flights, partitions and counts must be positive integers, got '$v'"
done
for o in "${ORDERS[@]}"; do
    [[ "$o" == partition || "$o" == key ]] || die "orders are partition or key, got '$o'"
done
bench_work faas-bound

# alone L B CALLS P: the function alone, its events named as those of the P-partition input;
# prints "rate call_ms". A first 3 s window gives the call
# time T; when T > 300 ms it is measured again over 2 s + 2·T of warm-up and max(3 s, 16·T)
# (the same rule as the Rill runs: a window must hold many calls).
alone() {
    local r t warm secs prefix="${INPUTS[$4]}-0"
    r=$(fn_alone "$1" "$2" "$3" 1 3 "$prefix")
    t=$(field "$r" mean_call_ms)
    if awk -v t="$t" 'BEGIN { exit !(t > 300) }'; then
        read -r warm secs <<<"$(awk -v t="$t" 'BEGIN { t /= 1000; m = int(16 * t + 0.999)
            print int(2 + 2 * t + 0.999), (m < 3 ? 3 : m) }')"
        r=$(fn_alone "$1" "$2" "$3" "$warm" "$secs" "$prefix")
        t=$(field "$r" mean_call_ms)
    fi
    log "L=$1 B=$2 calls=$3 function alone: ${r#RESULT }"
    echo "$(field "$r" rate) $t"
}

# timing CALL_MS: bench-faas-throughput's warm-up and window flags for a cell (above).
timing() {
    awk -v t="$1" 'BEGIN {
        t = t / 1000; w = int(2 + 2 * t + 0.999); m = int(16 * t + 0.999); if (m < 3) m = 3
        printf "--warmup-s %d --min-s %d --max-s %d\n", w, m, (m + 5 > 10 ? m + 5 : 10) }'
}

# rill L B C P ORDER ALONE_CALL_MS: one Rill run with the stage's defaults; prints its RESULT line.
rill() {
    local l=$1 b=$2 c=$3 p=$4 order=$5 name="$RUN_ID-$1-$2-$3-$4-$5-$RANDOM" rc=0 times
    read -r -a times <<<"$(timing "$6")"
    fn_control "{\"fault\":{\"latencyMs\":$l},\"reset\":true}"
    local cmd=("$BUILD_DIR/bench/bench-faas-throughput" --bootstrap-servers "$BOOTSTRAP"
               --input "${INPUTS[$p]}" --output "bench.faas.$name.out" --url "$FN_URL"
               --batch "$b" --in-flight "$c" --latency-ms "$l" --order "$order" --tasks "$p"
               --input-records "$INPUT_RECORDS" --fn-pid "$FN_PID" --timeout-s 120 "${times[@]}"
               -D "application.id=bench-faas-$name" -D "errors.deadletterqueue.topic.name=$DLQ")
    timeout --kill-after=10 200 "${cmd[@]}" >"$WORK/cell.out" 2>"$WORK/cell.err" || rc=$?
    if ((rc != 0 && rc != 3)); then
        tail -n 20 "$WORK/cell.err" >&2
        die "cell L=$l B=$b C=$c P=$p order=$order failed (command: ${cmd[*]})"
    fi
    grep -q 'run dry' "$WORK/cell.err" && log "warning: L=$l B=$b C=$c P=$p $order ran out of input"
    grep '^RESULT ' "$WORK/cell.out" || die "cell L=$l B=$b C=$c P=$p $order printed no RESULT line"
}

# Runs every cell; appends "L B C P order rep bound alone alone_call rate batch call inflight cpu_m"
# rows to $WORK/rows.
run_grid() {
    local l b c p o rep calls a r
    for ((rep = 1; rep <= REPEATS; rep++)); do
        for l in "${LATENCIES[@]}"; do for b in "${BATCHES[@]}"; do for c in "${IN_FLIGHTS[@]}"; do
            for p in "${PARTITION_COUNTS[@]}"; do
                calls=$((p * c < PROCESS_CAP ? p * c : PROCESS_CAP))
                a=$(alone "$l" "$b" "$calls" "$p")
                for o in "${ORDERS[@]}"; do
                    r=$(rill "$l" "$b" "$c" "$p" "$o" "${a##* }")
                    log "L=$l B=$b C=$c P=$p $o (run $rep): alone $a; ${r#RESULT }"
                    echo "$l $b $c $p $o $rep $(field "$r" bound) $a $(field "$r" rate)" \
                         "$(field "$r" mean_batch) $(field "$r" mean_call_ms)" \
                         "$(field "$r" mean_in_flight) $(field "$r" cpu_s_per_m)" >>"$WORK/rows"
                done
            done
        done; done; done
    done
}

# Medians over the repeats; prints the Markdown table, writes $WORK/plot.dat.
report() {
    sort -k1,1n -k2,2n -k3,3n -k4,4n -k5,5 -k6,6n "$WORK/rows" | awk -v plotdat="$WORK/plot.dat" '
        function med(s,   v, n, i, j, t) {
            n = split(s, v, " ")
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        function flush() {
            if (key == "") return
            lim = bound + 0 < med(al) + 0 ? bound : med(al)
            ratio = med(rt) / lim
            worst = (worst == "" || ratio < worst) ? ratio : worst
            printf "| %s | %s | %s | %s | %s | %.0f | %.0f | %.1f | %s | %.0f | **%.3f** | %.3f | %s | %.1f | %.1f | %.2f | %s |\n", L, B, C, P, O, bound, med(al), med(alc), (bound + 0 < med(al) + 0 ? "C×B/L" : "function"), med(rt), ratio, med(rt) / bound, n, med(bt), med(cl), med(inf), med(cpu)
            printf "%s %s %s %s %s %.5f\n", L, B, C, P, O, ratio >plotdat
        }
        { k = $1 " " $2 " " $3 " " $4 " " $5
          if (k != key) { flush(); key = k; L = $1; B = $2; C = $3; P = $4; O = $5; bound = $7; al = alc = rt = bt = cl = inf = cpu = ""; n = 0 }
          al = al " " $8; alc = alc " " $9; rt = rt " " $10; bt = bt " " $11; cl = cl " " $12; inf = inf " " $13; cpu = cpu " " $14; n++ }
        BEGIN {
            print "| L ms | B | C per task | P | order | bound rec/s | function alone rec/s | its call ms | limit | achieved rec/s | **achieved/limit** | achieved/bound | runs | mean batch | mean call ms | mean in flight | Rill CPU-s/M |"
            print "|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        END { flush(); printf "\nLowest achieved/limit of the grid: **%.3f**\n", worst }'
}

plot() {
    local png=$1 panels="" p o l b i=0 series
    for p in "${PARTITION_COUNTS[@]}"; do for o in "${ORDERS[@]}"; do
        series=""
        i=0
        : >"$WORK/plot-$p-$o"
        for l in "${LATENCIES[@]}"; do for b in "${BATCHES[@]}"; do
            awk -v l="$l" -v b="$b" -v p="$p" -v o="$o" '$1 == l && $2 == b && $4 == p && $5 == o { print $3, $6 }' \
                "$WORK/plot.dat" | sort -n >>"$WORK/plot-$p-$o"
            printf '\n\n' >>"$WORK/plot-$p-$o"
            series+="${series:+, }'$WORK/plot-$p-$o' index $i using 1:2 with linespoints lw 2 pt 7 title 'L=$l ms, B=$b'"
            i=$((i + 1))
        done; done
        panels+="set title 'P=$p partition(s), order=$o'"$'\n'"plot $series, 0.95 with lines dt 2 lc rgb 'black' title '0.95'"$'\n'
    done; done
    run_gnuplot <<EOF
set terminal pngcairo noenhanced size 1300,900 font ",10"
set output '$png'
set multiplot layout 2,2 title "Rill FaaS bridge with default settings: achieved / min(bound, the function alone)"
set logscale x
set xtics (1, 5, 20)
set xrange [0.8:25]
set yrange [0:1.3]
set xlabel "C (calls in flight per task)"
set ylabel "achieved / limit"
set grid
set key bottom right font ",8"
$panels
unset multiplot
EOF
}

# shellcheck disable=SC2016 # the backquotes are Markdown
append_results() {
    local table=$1 load=$2 others=$3
    {
        results_head "faas bound with default settings" faas
        printf -- '- workload: %s records written once per input (1 and 4 partitions; keys "k<i>", 100-byte values, seed 42); every run reads it from the start under a new application.id\n' "$INPUT_RECORDS"
        printf -- '- stage: CloudEvents, batch_max_records=B, max_in_flight=C, order as given; everything else the defaults of the revision above (linger_ms, the read-ahead max_buffered_records, faas.max.in.flight, faas.max.connections: README.md)\n'
        printf -- '- function: Functions Framework target `faulty` (no fault), latency L per cell (POST /control); "function alone" = bench-faas-fn-ceiling with min(P·C, 64) calls of B events in flight at the same L, run just before the Rill runs of the cell\n'
        printf -- '- limit = min(bound, function alone); medians over %s run(s) per cell and variant\n' "$REPEATS"
        if [[ "$PIN" == 1 ]]; then
            printf -- '- CPUs: the function alone on CPU %s (taskset), everything else of the run on CPU 0-%s (RILL_BENCH_FAAS_PIN=1; see the script)\n' "$FN_CPU" "$((FN_CPU - 1))"
        else
            printf -- '- CPUs: not pinned (RILL_BENCH_FAAS_PIN=0): function, broker and Rill share them\n'
        fi
        load_item "$load" "$others"
        printf -- '- plot: `%s`\n\n' "$PLOT_REL"
        printf '%s\n' "$table"
        [[ "$PLOT_REL" == none ]] || printf '\n![achieved/limit](%s)\n' "$(basename "$PLOT_REL")"
    } >>"$RESULTS"
}

# pin_cpus: with PIN=1, FN_CPU = the last CPU, and this shell (so everything it starts from
# now on but the function) on the others.
pin_cpus() {
    [[ "$PIN" == 1 ]] || return 0
    local n
    n=$(nproc)
    ((n >= 2)) || die "RILL_BENCH_FAAS_PIN=1 needs 2 CPUs or more (set it to 0)"
    command -v taskset >/dev/null || die "taskset not found (util-linux)"
    FN_CPU=$((n - 1))
    taskset -p -c "0-$((n - 2))" $$ >/dev/null || die "taskset on this shell failed"
    log "the function runs on CPU $FN_CPU alone; the rest on CPU 0-$((n - 2))"
}

main() {
    pin_cpus
    faas_start faulty "$PORT" '{"latencyMs":0}' bench-faas-throughput bench-faas-fn-ceiling bench-produce
    local p t0=$SECONDS
    DLQ="bench.faas.$RUN_ID.dlq"
    create_topic "$DLQ" 1
    declare -g -A INPUTS=()
    for p in "${PARTITION_COUNTS[@]}"; do
        INPUTS[$p]="bench.faas.$RUN_ID.in$p"
        create_topic "${INPUTS[$p]}" "$p"
        log "writing $INPUT_RECORDS records to ${INPUTS[$p]} (not timed)"
        write_records "${INPUTS[$p]}" "$INPUT_RECORDS"
    done
    : >"$WORK/rows"
    run_grid
    log "all cells done in $((SECONDS - t0)) s"
    local table
    table=$(report)
    [[ "$PLOT_REL" == none ]] || plot "$ROOT/$PLOT_REL"
    printf '\n%s\n' "$table"
    append_results "$table" "$LOAD" "$OTHERS"
    log "appended to $RESULTS; plot $PLOT_REL"
}

main "$@"
