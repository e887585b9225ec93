#!/usr/bin/env bash
# faas_h2c.sh — a FaaS stage over HTTP/1.1 against the same stage over HTTP/2 without TLS
# (h2c, the stage's http_version 2), at the same L, B, C and P, alternating (1.1, h2c) in
# pairs: Rill's records/s and CPU per million records, the function's CPU per million
# records, the calls' mean time and calls in flight. The function: the `faulty` target with
# latency L (RILL_FAULT), served by the Functions Framework (HTTP/1.1) and by
# faas_bridge/functions/h2c.js (h2c), one process each on 127.0.0.1. Method: bench/README.md.
#
# Usage: bash bench/faas_h2c.sh
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_H2C_L       the function's latency, ms                 (default 25)
#   RILL_BENCH_H2C_B       records per call                           (default 10)
#   RILL_BENCH_H2C_C       calls in flight per task                   (default 16)
#   RILL_BENCH_H2C_P       input partitions (tasks)                   (default 4)
#   RILL_BENCH_H2C_INPUT   input records                              (default 300000)
#   RILL_BENCH_PAIRS       pairs, at least 3                          (default 3)
#   RILL_BENCH_FAAS_PORT   the HTTP/1.1 function's port (default: a free one); the h2c
#                          function takes a free one of RILL_PORT_RANGE
#   RILL_BUILD_DIR, RILL_BENCH_RESULTS, RILL_KAFKA_PORT, RILL_KAFKA_DIR: as the others
set -euo pipefail

readonly SCRIPT=faas_h2c.sh
readonly COMMAND_QUOTED=1
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly L=${RILL_BENCH_H2C_L:-25} B=${RILL_BENCH_H2C_B:-10} C=${RILL_BENCH_H2C_C:-16}
readonly P=${RILL_BENCH_H2C_P:-4} INPUT=${RILL_BENCH_H2C_INPUT:-300000}
readonly PORT=${RILL_BENCH_FAAS_PORT:-}
for v in "$L" "$B" "$C" "$P" "$INPUT"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "RILL_BENCH_H2C_* must be positive integers, got '$v'"
done
need_pairs
bench_work faas-h2c

# start_h2c: faas_bridge/functions/h2c.js serving `faulty` at latency L on a free port; sets
# H2C_PID and H2C_URL; waits until it answers.
start_h2c() {
    local port i
    port=$(rill_pick_port 1) || die "no free port for the h2c function"
    (cd "$FN_DIR" && RILL_FAULT="{\"latencyMs\":$L}" exec node h2c.js --target=faulty \
        --port="$port" </dev/null >"$WORK/fn-h2c.log" 2>&1) &
    H2C_PID=$!
    BENCH_PIDS+=("$H2C_PID")
    H2C_URL="http://127.0.0.1:$port/"
    for ((i = 0; i < 150; i++)); do
        curl -s -m 2 --http2-prior-knowledge -o /dev/null "${H2C_URL}stats" && return 0
        kill -0 "$H2C_PID" 2>/dev/null || { cat "$WORK/fn-h2c.log" >&2; die "h2c.js exited"; }
        sleep 0.2
    done
    die "the h2c function did not answer within 30 s"
}

# run_one VERSION I: one stage run over HTTP VERSION (1 or 2); prints its RESULT line.
run_one() {
    local v=$1 i=$2 url=$FN_URL pid=$FN_PID
    [[ $v == 2 ]] && url=$H2C_URL pid=$H2C_PID
    run_program "run-$v-$i" "$BUILD_DIR/bench/bench-faas-throughput" --bootstrap-servers "$BOOTSTRAP" \
        --input "$INPUT_TOPIC" --output "bench.h2c.$RUN_ID.$v.$i.out" --url "$url" \
        --batch "$B" --in-flight "$C" --latency-ms "$L" --order partition --tasks "$P" \
        --input-records "$INPUT" --fn-pid "$pid" --timeout-s 120 --http-version "$v" \
        -D "application.id=bench-h2c-$RUN_ID-$v-$i" -D "errors.deadletterqueue.topic.name=$DLQ" ||
        die "run $i over HTTP/$v failed"
    result_of "run-$v-$i"
}

# pair_row I LINE_1 LINE_2: keeps the pair's figures in rows.
pair_row() {
    local f
    rows+="$1"
    for f in rate cpu_s_per_m fn_cpu_s_per_m mean_call_ms mean_in_flight; do
        rows+=" $(field "$2" "$f") $(field "$3" "$f")"
    done
    rows+=$'\n'
}

report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| pair | HTTP/1.1 rec/s | h2c rec/s | **h2c/1.1 rec/s** | HTTP/1.1 Rill CPU-s/M | h2c Rill CPU-s/M | **h2c/1.1 Rill CPU** | HTTP/1.1 function CPU-s/M | h2c function CPU-s/M | call ms (1.1 / h2c) | in flight (1.1 / h2c) |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++; r1[k] = $2; r2[k] = $3; c1[k] = $4; c2[k] = $5; f1[k] = $6; f2[k] = $7
            tr[k] = $3 / $2; tc[k] = $5 / $4
            printf "| %d | %.0f | %.0f | **%.2f** | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.1f / %.1f | %.1f / %.1f |\n",
                $1, $2, $3, tr[k], $4, $5, tc[k], $6, $7, $8, $9, $10, $11
        }
        END {
            printf "| **median** | %.0f | %.0f | **%.2f** | %.2f | %.2f | **%.2f** | %.2f | %.2f | | |\n",
                median(r1, k), median(r2, k), median(tr, k), median(c1, k), median(c2, k),
                median(tc, k), median(f1, k), median(f2, k)
            printf "\nh2c/HTTP/1.1 throughput: median %.2f, min–max %.2f–%.2f (%d pairs)\n", median(tr, k), lo(tr, k), hi(tr, k), k
            printf "h2c/HTTP/1.1 Rill CPU per record: median %.2f, min–max %.2f–%.2f (%d pairs)\n", median(tc, k), lo(tc, k), hi(tc, k), k
        }'
}

main() {
    faas_start faulty "$PORT" "{\"latencyMs\":$L}" bench-faas-throughput bench-produce
    start_h2c
    INPUT_TOPIC="bench.h2c.$RUN_ID.in"
    DLQ="bench.h2c.$RUN_ID.dlq"
    create_topic "$INPUT_TOPIC" "$P"
    write_records "$INPUT_TOPIC" "$INPUT"
    log "broker $BOOTSTRAP; L=$L B=$B C=$C P=$P, $INPUT records, $PAIRS pairs"
    local rows="" table sessions
    alternate 1 2 pair_row
    table=$(printf '%s' "$rows" | report)
    sessions=$(grep -c '^h2c.js: session' "$WORK/fn-h2c.log" || true)
    printf '\n%s\n\nh2c function: %s connection(s) accepted over %s run(s)\n' "$table" "$sessions" "$PAIRS"
    {
        results_head "faas stage over HTTP/1.1 vs h2c (HTTP/2, prior knowledge)" faas
        build_item
        printf -- '- stage: CloudEvents, batch_max_records=%s, max_in_flight=%s per task, %s tasks (input partitions), order=partition; http_version 1 (default) against 2; everything else the defaults\n' "$B" "$C" "$P"
        printf -- '- function: target `faulty`, latency %s ms; HTTP/1.1: the Functions Framework; h2c: faas_bridge/functions/h2c.js (node http2, 100 streams per connection); %s input records written once; alternation: per pair, HTTP/1.1 then h2c; the h2c function accepted %s connection(s) over the %s h2c runs\n' "$L" "$INPUT" "$sessions" "$PAIRS"
        load_item "$LOAD" "$OTHERS"
        printf '\n%s\n' "$table"
    } >>"$RESULTS"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
