#!/usr/bin/env bash
# query_latency.sh — what an interactive query costs over HTTP when it crosses instances:
# redirected, proxied, gathered (a key missing from a store Rill did not partition) and a
# whole-store range, against the baseline of a key asked of the instance that holds it, in
# the same run, alternating the cases pair by pair.
#
# Usage: bash bench/query_latency.sh
#
# Steps:
#  1. Writes RECORDS records over KEYS keys to a new 4-partition topic with kcat and the
#     murmur2_random partitioner (not timed).
#  2. Starts two rill_count_app processes (a key-value store "counts") of one application.id,
#     A with query.forward=redirect and B with query.forward=proxy, each with http.listen on
#     a free port, and waits until they processed every record.
#  3. Sorts the keys by owner (GET /owner) and, per pair, asks REQUESTS keys in each case, one
#     curl process per case reusing its connection (curl -w time_total per request):
#       local     A for keys A holds (the baseline)
#       redirect  A for keys B holds (307, followed)
#       proxy     B for keys A holds (B asks A)
#       miss      A for keys never written whose murmur2 partition A holds (A searches its
#                 other partition, then asks B with scope=local)
#       range     A for the whole store, GET /stores/counts?limit=KEYS (A merges B's part)
#     Each case's median latency is divided by the pair's local median.
# It prints the table and appends it to bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_KEYS        distinct keys                       (default 1000)
#   RILL_BENCH_RECORDS     records                             (default 20000)
#   RILL_BENCH_REQUESTS    requests per case and pair          (default 300)
#   RILL_BENCH_PAIRS       pairs, at least 3                   (default 3)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured with the tests
#                          on when they are off: rill_count_app is a test program)
#   RILL_BENCH_RESULTS     file to append to                   (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=query_latency.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly KEYS=${RILL_BENCH_KEYS:-1000}
readonly RECORDS=${RILL_BENCH_RECORDS:-20000}
readonly REQUESTS=${RILL_BENCH_REQUESTS:-300}
readonly BUILD_TESTS=ON # rill_count_app is a test program
readonly CASES=(local redirect proxy miss range)

for v in KEYS RECORDS REQUESTS; do need_count "RILL_BENCH_$v" "${!v}"; done
need_pairs
bench_work query-latency
bench_start rill_count_app

IN="bench-query-in-$RUN_ID"
create_topic "$IN" "$PARTITIONS"
create_topic "bench-query-out-$RUN_ID" "$PARTITIONS"
awk -v n="$RECORDS" -v k="$KEYS" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "key-%06d:v\n", int(rand() * k) }' |
    kcat -P -b "$BOOTSTRAP" -t "$IN" -K: -X partitioner=murmur2_random ||
    die "cannot write the input"

# start NAME FORWARD: starts one instance; sets PORT_<NAME> from its log.
start() {
    local log="$WORK/$1.log" port="" i
    mkdir -p "$WORK/state-$1"
    "$BUILD_DIR/tests/rill_count_app" --bootstrap-servers "$BOOTSTRAP" --input "$IN" \
        --output "bench-query-out-$RUN_ID" --app-id "bench-query-$RUN_ID" \
        --state-dir "$WORK/state-$1" -D http.listen=127.0.0.1:0 -D "query.forward=$2" \
        >"$log" 2>&1 &
    BENCH_PIDS+=($!)
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/.*HTTP endpoint on .*, port \([0-9]*\):.*/\1/p' "$log" | tail -n1)
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    [[ -n "$port" ]] || { tail -n 20 "$log" >&2; die "instance $1 logged no HTTP port"; }
    printf -v "PORT_$1" '%s' "$port"
}
start A redirect
start B proxy

processed() {
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^rill_records_processed_total/ { n += $NF } END { print n + 0 }'
}
for ((i = 0; i < 600; i++)); do
    (($(processed "$PORT_A") + $(processed "$PORT_B") >= RECORDS)) && break
    sleep 0.1
done
(($(processed "$PORT_A") + $(processed "$PORT_B") >= RECORDS)) || die "the records were not all processed in 60 s"

# Keys by owner: a written key held by A or B, and a missing one whose partition A holds.
owner_is_a() { curl -s "http://127.0.0.1:$PORT_A/owner/counts/$1" | grep -q '"local":true'; }
: >"$WORK/keys-A"; : >"$WORK/keys-B"; : >"$WORK/missing-A"
for ((k = 0; k < KEYS && ($(wc -l <"$WORK/keys-A") < 50 || $(wc -l <"$WORK/keys-B") < 50); k++)); do
    key=$(printf 'key-%06d' "$k")
    if owner_is_a "$key"; then echo "$key" >>"$WORK/keys-A"; else echo "$key" >>"$WORK/keys-B"; fi
done
for ((k = 0; $(wc -l <"$WORK/missing-A") < 50 && k < 1000; k++)); do
    key=$(printf 'none-%06d' "$k")
    if owner_is_a "$key"; then echo "$key" >>"$WORK/missing-A"; fi
done

# run CASE: REQUESTS requests of the case through one curl; prints the median in ms.
run() {
    local port=$PORT_A file="$WORK/keys-B" route="/stores/counts/" cfg="$WORK/$1.curl"
    case $1 in
        local) file="$WORK/keys-A" ;;
        proxy) port=$PORT_B; file="$WORK/keys-A" ;;
        miss) file="$WORK/missing-A" ;;
    esac
    : >"$cfg"
    for ((i = 0; i < REQUESTS; i++)); do
        if [[ $1 == range ]]; then
            echo "url = \"http://127.0.0.1:$port/stores/counts?limit=$KEYS\""
        else
            echo "url = \"http://127.0.0.1:$port$route$(sed -n "$((i % $(wc -l <"$file") + 1))p" "$file")\""
        fi
        echo 'output = "/dev/null"'
    done >"$cfg"
    curl -s -L -K "$cfg" -w '%{http_code} %{time_total}\n' >"$WORK/$1.times"
    awk -v c="$1" '$1 != 200 && !(c == "miss" && $1 == 404) { bad++ } END { exit bad > 0 }' \
        "$WORK/$1.times" || die "case $1 got answers other than expected: $(sort "$WORK/$1.times" | cut -d' ' -f1 | uniq -c | tr '\n' ' ')"
    awk '{ print $2 * 1000 }' "$WORK/$1.times" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }'
}

declare -A MED
for ((p = 1; p <= PAIRS; p++)); do
    for c in "${CASES[@]}"; do MED[$p,$c]=$(run "$c"); done
    log "pair $p: $(for c in "${CASES[@]}"; do printf '%s %s ms; ' "$c" "${MED[$p,$c]}"; done)"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median3() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
{
    results_head "Interactive queries over HTTP: crossing instances against a local get" rocksdb " ($(build_type))"
    echo "- input: $RECORDS records over $KEYS keys, $PARTITIONS partitions, murmur2; two rill_count_app processes (store \"counts\"), A redirects, B proxies"
    echo "- $REQUESTS sequential requests per case and pair, one curl per case (connection reused); median of time_total"
    load_item "$LOAD" "$OTHERS"
    echo
    echo "| pair | local ms | redirect ms | proxy ms | miss ms | range ($KEYS rows) ms | redirect/local | proxy/local | miss/local | range/local |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for ((p = 1; p <= PAIRS; p++)); do
        printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$p" \
            "${MED[$p,local]}" "${MED[$p,redirect]}" "${MED[$p,proxy]}" "${MED[$p,miss]}" "${MED[$p,range]}" \
            "$(ratio "${MED[$p,redirect]}" "${MED[$p,local]}")" "$(ratio "${MED[$p,proxy]}" "${MED[$p,local]}")" \
            "$(ratio "${MED[$p,miss]}" "${MED[$p,local]}")" "$(ratio "${MED[$p,range]}" "${MED[$p,local]}")"
    done
    row=()
    for c in "${CASES[@]}"; do
        vals=(); for ((p = 1; p <= PAIRS; p++)); do vals+=("${MED[$p,$c]}"); done
        row+=("$(median3 "${vals[@]}")")
    done
    printf '| **median** | %s | %s | %s | %s | %s | | | | |\n' "${row[@]}"
} | tee -a "$RESULTS"
