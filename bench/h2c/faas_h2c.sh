#!/usr/bin/env bash
# faas_h2c.sh — a FaaS stage over HTTP/1.1 against the same stage over h2c (http_version 2),
# at the same L, B, C and P, alternating (1.1, 2) RILL_BENCH_PAIRS times: Rill's rate and
# CPU per million records, the function's CPU per million records, and the connections the
# h2c function accepted. The functions: `faulty` with latency L (RILL_FAULT), under the
# Functions Framework (HTTP/1.1) and under faas_bridge/functions/h2c.js (h2c), one process
# each on 127.0.0.1. Prints one line per run.
#
# Usage: RILL_BENCH_BOOTSTRAP=127.0.0.1:PORT bash bench/h2c/faas_h2c.sh
# Environment: RILL_BENCH_H2C_L (25 ms), RILL_BENCH_H2C_B (10), RILL_BENCH_H2C_C (16),
#   RILL_BENCH_H2C_P (4), RILL_BENCH_PAIRS (3), RILL_BENCH_H2C_INPUT (300000),
#   RILL_BENCH_FAAS_PORT (31801; the h2c function gets the next port), RILL_BUILD_DIR
#   (<repo>/build). The broker is RILL_BENCH_BOOTSTRAP, which must be the one
#   scripts/kafka.sh runs (its create-topic makes the input).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
BOOT=${RILL_BENCH_BOOTSTRAP:?set RILL_BENCH_BOOTSTRAP=127.0.0.1:PORT}
BD=${RILL_BUILD_DIR:-$ROOT/build}
L=${RILL_BENCH_H2C_L:-25} B=${RILL_BENCH_H2C_B:-10} C=${RILL_BENCH_H2C_C:-16} P=${RILL_BENCH_H2C_P:-4}
PAIRS=${RILL_BENCH_PAIRS:-3} N=${RILL_BENCH_H2C_INPUT:-300000} PORT=${RILL_BENCH_FAAS_PORT:-31801}
ID=bench-h2c-$(date +%s)-$$
FF=faas_bridge/functions
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-bench-h2c.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

RILL_FAULT="{\"latencyMs\":$L}" RILL_FUNCTIONS_HOST=127.0.0.1 node -r "./$FF/listen-host.js" \
    "$FF/node_modules/@google-cloud/functions-framework/build/src/main.js" --source="$FF" \
    --target=faulty --port="$PORT" --signature-type=http >"$WORK/fn1.log" 2>&1 &
PIDS+=($!)
RILL_FAULT="{\"latencyMs\":$L}" node "$FF/h2c.js" --target=faulty --port=$((PORT + 1)) \
    >"$WORK/fn2.log" 2>&1 &
PIDS+=($!)
sleep 3
scripts/kafka.sh create-topic "$ID.in" "$P" >/dev/null 2>&1 || { echo "cannot create $ID.in" >&2; exit 1; }
"$BD/bench/bench-produce" --bootstrap-servers "$BOOT" --topic "$ID.in" --records "$N" \
    --value-bytes 100 --seed 42 >/dev/null 2>&1 || { echo "writing the input failed" >&2; exit 1; }
echo "L=$L B=$B C=$C P=$P, $N records; $(curl --version | head -1 | cut -d' ' -f1-2)"
for ((i = 1; i <= PAIRS; i++)); do
    for v in 1 2; do
        r=$(timeout 200 "$BD/bench/bench-faas-throughput" --bootstrap-servers "$BOOT" \
            --input "$ID.in" --output "$ID.out$v.$i" --url "http://127.0.0.1:$((PORT + v - 1))/" \
            --batch "$B" --in-flight "$C" --latency-ms "$L" --order partition --tasks "$P" \
            --input-records "$N" --fn-pid "${PIDS[$((v - 1))]}" --timeout-s 120 --http-version "$v" \
            -D "application.id=$ID-$v-$i" -D "errors.deadletterqueue.topic.name=$ID.dlq" \
            2>"$WORK/run.err" | grep '^RESULT')
        echo "http=$v run=$i $(tr ' ' '\n' <<<"$r" | grep -E '^(rate|ratio|cpu_s_per_m|fn_cpu_s_per_m|mean_call_ms|mean_in_flight)=' | tr '\n' ' ')"
    done
done
echo "h2c function: $(grep -c '^h2c.js: session' "$WORK/fn2.log") connection(s) accepted over the $PAIRS run(s)"
