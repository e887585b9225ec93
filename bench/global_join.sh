#!/usr/bin/env bash
# global_join.sh — global tables: orders enriched with their user's row by the stream–global
# table join (bench-global-join --variant global) against the co-partitioned stream–table
# join a Kafka Streams user writes (--variant table, the baseline), alternating table, global,
# table, global, ... in one run on the same topics.
#
# Usage: bash bench/global_join.sh
#
# It writes the input once (not timed; bench-global-join --write): a users topic of U rows
# "u<i>" → 100-byte values, and an orders topic of N records keyed by user, whose value names
# the user ("user=u<k>;order=<i>;amount=<a>"; ~5% name a user without a row), both with 4
# partitions (murmur2), every user older than every order. Then, pair by pair:
#   table   orders → rill_stream_table_join(orders, rill_table_from(users), LEFT, grace 0) →
#           sink: the co-partitioned join; the users are read by the stream tasks
#   global  orders → rill_stream_global_join(orders, rill_global_table(users), LEFT, the key
#           mapper reading the user from the value) → sink; the users are read into the
#           process's copy before rill_app_start returns (the bootstrap)
# each one process, Rill's defaults (at_least_once), a new application.id, state.dir and output
# topic, reading from the start, measured from its first record consumed to its N-th result.
# Every run is checked: its output topic must hold N records whose digest (an order-free sum
# of a hash per record, bench-global-join --digest over kcat) is the one the generator
# expects (--expect), so both variants give the same joined values; rill_join_unmatched_total
# must be the number of orders without a row, and the global bootstrap must read U rows.
# Per pair it prints orders/s, CPU-s per million orders, peak RSS and the global/table ratios,
# then their median and min–max, and appends it all to bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_ORDERS      orders N                         (default 1000000)
#   RILL_BENCH_USERS       users U                          (default 100000)
#   RILL_BENCH_PAIRS       table/global pairs               (default 3; fewer only for trials)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run              (default 600)
#   RILL_BUILD_DIR         build directory (default: <repo>/build; configured and built if needed)
#   RILL_BENCH_RESULTS     file to append to                (default bench/RESULTS.md)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=global_join.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly ORDERS_N=${RILL_BENCH_ORDERS:-1000000}
readonly USERS_N=${RILL_BENCH_USERS:-100000}
readonly PROGRAM="$BUILD_DIR/bench/bench-global-join"

need_count RILL_BENCH_ORDERS "$ORDERS_N"
need_count RILL_BENCH_USERS "$USERS_N"
need_count RILL_BENCH_PAIRS "$PAIRS"
((PAIRS >= 3)) || log "warning: $PAIRS pair(s): a trial, not a measurement (bench/README.md asks for 3 or more)"
bench_work global-join

# ---------------------------------------------------------------- runs

# check_output VARIANT I TOPIC OUT ERR: dies unless the run's output and counters are the
# expected ones; prints "out_records=R boot_records=B boot_ms=M" (B, M: n/a for table).
check_output() {
    local v=$1 i=$2 topic=$3 out=$4 err=$5 digest metrics boot="" records
    digest=$(timeout 600 kcat -C -b "$BOOTSTRAP" -t "$topic" -o beginning -e -q \
                 -f '%k\t%s\n' 2>"$WORK/kcat.err" | "$PROGRAM" --digest) ||
        { cat "$WORK/kcat.err" >&2; die "$v run $i: reading $topic failed"; }
    records=$(field "$digest" records)
    metrics=$(grep '^METRICS ' "$out")
    local want
    want="records=$ORDERS_N digest=$(field "$EXPECTED" digest)"
    [[ "$records" == "$ORDERS_N" && "${digest#DIGEST }" == "$want" ]] ||
        die "$v run $i: output $topic has ${digest#DIGEST }, expected $want ($metrics)"
    [[ "$(field "$metrics" unmatched)" == "$(field "$EXPECTED" unmatched)" &&
        "$(field "$metrics" results)" == "$ORDERS_N" && "$(field "$metrics" dlq)" == 0 ]] ||
        die "$v run $i: expected results=$ORDERS_N unmatched=$(field "$EXPECTED" unmatched) dlq=0, got $metrics"
    if [[ "$v" == global ]]; then
        boot=$(grep -o 'global tables ready: [0-9]* record(s) read in [0-9]* ms' "$err" | tail -n 1)
        [[ "$boot" =~ ready:\ ([0-9]+)\ record.*\ in\ ([0-9]+)\ ms ]] ||
            die "$v run $i: no \"global tables ready\" line in its log"
        [[ "${BASH_REMATCH[1]}" == "$USERS_N" ]] ||
            die "$v run $i: the bootstrap read ${BASH_REMATCH[1]} rows, not $USERS_N"
        echo "out_records=$records boot_records=${BASH_REMATCH[1]} boot_ms=${BASH_REMATCH[2]}"
    else
        echo "out_records=$records boot_records=n/a boot_ms=n/a"
    fi
}

# run_one VARIANT I: runs the variant for pair I (retried once with a new application.id and
# output topic when it fails) and checks it; prints its RESULT, START and METRICS fields, the
# check's fields and broker_cpu_s on one line.
run_one() {
    local v=$1 i=$2 dir="$WORK/state-$1-$2" out="$WORK/$1-$2.out" err="$WORK/$1-$2.err"
    local attempt suffix="" output cpu0 cpu1
    for attempt in 1 2; do
        output="bench.global-join.$RUN_ID.$v.$i$suffix.out"
        create_topic "$output" "$PARTITIONS"
        rm -rf "$dir"
        cpu0=$(broker_cpu)
        run_program "$v-$i" "$PROGRAM" --variant "$v" \
            --bootstrap-servers "$BOOTSTRAP" --users "$USERS" --orders "$ORDERS" \
            --output "$output" --order-count "$ORDERS_N" --timeout-s "$RUN_TIMEOUT_S" \
            --state-dir "$dir" -D "application.id=bench-global-join-$RUN_ID-$v-$i$suffix" && break
        ((attempt == 1)) || die "$v run $i failed twice"
        note_failure "$v run $i" "$err"
        suffix=-retry
    done
    cpu1=$(broker_cpu)
    rm -rf "$dir"
    local lines check
    lines=$(grep -E '^(RESULT|START|METRICS) ' "$out" | cut -d' ' -f2- | tr '\n' ' ') ||
        die "$v run $i printed no RESULT line"
    check=$(check_output "$v" "$i" "$output" "$out" "$err") || exit 1
    echo "$lines$check broker_cpu_s=$(cpu_diff "$cpu0" "$cpu1")"
}

# ---------------------------------------------------------------- report

# The fields of a run, in the order report() reads them (7 per variant).
run_fields() {
    local f
    for f in wall_s cpu_s maxrss_kb start_to_last_s cpu_start_to_last_s broker_cpu_s boot_ms; do
        printf ' %s' "$(field "$1" "$f")"
    done
}

# pair_row I TABLE GLOBAL: adds the pair's row to rows, and keeps its runs' lines in t and g.
pair_row() {
    t=$2 g=$3
    rows+="$1$(run_fields "$t")$(run_fields "$g")"$'\n'
}

# Reads rows "pair" + run_fields(table) + run_fields(global); prints the two Markdown tables
# and the summary lines.
report() {
    awk -v n="$ORDERS_N" "$AWK_STATS"'
        function perm(cpu) { return cpu / (n / 1e6) }
        function broker(b) { return b == "nan" ? "n/a" : sprintf("%.2f", perm(b)) }
        function summary(what, a, fmt) {
            printf "%s: median " fmt ", min–max " fmt "–" fmt " (%d pair%s)\n",
                what, median(a, k), lo(a, k), hi(a, k), k, (k > 1 ? "s" : "")
        }
        {
            k++
            te[k] = n / $2; ge[k] = n / $9; re[k] = ge[k] / te[k]
            tc[k] = perm($3); gc[k] = perm($10); rc[k] = gc[k] / tc[k]
            tm[k] = $4 / 1024; gm[k] = $11 / 1024; rm[k] = gm[k] / tm[k]
            ts[k] = $5; gs[k] = $12; rs[k] = gs[k] / ts[k]
            tsc[k] = perm($6); gsc[k] = perm($13); rsc[k] = gsc[k] / tsc[k]
            gb[k] = $15 / 1000
            row1[k] = sprintf("| %d | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.0f | %.0f | **%.2f** |",
                $1, te[k], ge[k], re[k], tc[k], gc[k], rc[k], tm[k], gm[k], rm[k])
            row2[k] = sprintf("| %d | %.2f | %.2f | %.2f | **%.3f** | %.3f | %.3f | **%.3f** | %s / %s |",
                $1, gb[k], ts[k], gs[k], rs[k], tsc[k], gsc[k], rsc[k], broker($7), broker($14))
        }
        END {
            print "From the first record consumed to the N-th result:"
            print ""
            print "| pair | table orders/s | global orders/s | **global/table orders/s** | table CPU-s/M | global CPU-s/M | **global/table CPU** | table peak RSS MiB | global peak RSS MiB | **global/table RSS** |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= k; i++) print row1[i]
            printf "| **median** | %.0f | %.0f | **%.3f** | %.3f | %.3f | **%.3f** | %.0f | %.0f | **%.2f** |\n",
                median(te, k), median(ge, k), median(re, k), median(tc, k), median(gc, k), median(rc, k),
                median(tm, k), median(gm, k), median(rm, k)
            print ""
            print "From the call to rill_app_start to the N-th result (group join, the global bootstrap and the whole input):"
            print ""
            print "| pair | global bootstrap s | table s | global s | **global/table time** | table CPU-s/M | global CPU-s/M | **global/table CPU** | broker CPU-s/M (table / global run) |"
            print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= k; i++) print row2[i]
            printf "| **median** | %.2f | %.2f | %.2f | **%.3f** | %.3f | %.3f | **%.3f** | |\n",
                median(gb, k), median(ts, k), median(gs, k), median(rs, k), median(tsc, k), median(gsc, k), median(rsc, k)
            print ""
            summary("global/table throughput (first record → last result)", re, "%.3f")
            summary("global/table CPU per order (same span)", rc, "%.3f")
            summary("global/table peak RSS", rm, "%.2f")
            summary("global/table time from rill_app_start to the last result", rs, "%.3f")
            summary("global/table CPU per order from rill_app_start", rsc, "%.3f")
            summary("global bootstrap seconds (rill_app_start, from the log line)", gb, "%.2f")
        }'
}

# The "reading these numbers" paragraph.
reading() {
    cat <<EOF
Reading these numbers. Both variants give the same N results (checked per run above); what
differs is where the users' rows come from. The table variant is the co-partitioned join: its
four tasks each read their partition of the users topic inside the stream, in timestamp order
before the orders, and log the rows to the table's changelog topic (changelog= in the
counters above), so its first-record clock includes loading the table. The global variant
reads the whole users topic into the process's own store before rill_app_start returns (the
bootstrap column), with no changelog, and then only does a point get per order; its
first-record clock starts after the rows are in, which is why the second table, from the call
to rill_app_start, is the fair end-to-end comparison. What the global table saves is not
visible in one process on co-partitioned input: it needs no co-partitioning, so an orders
stream keyed by anything else (order id, region) would need no repartition topic — for the
table join that is one more produce, consume and broker round trip per order — and its rows
survive a rebalance without restoring a changelog. What it costs grows with the number of
processes P, which this one-process run does not show: every process holds all U rows (here
one process holds all of them in both variants, so the RSS ratio reflects the stores' layout,
not P), every process reads the whole users topic (U × P records from the broker instead of
U), and every start waits for the bootstrap, whose time grows with the topic's size.
EOF
}

append_results() {
    local tables=$1 load=$2 others=$3 wrote=$4 metrics=$5
    {
        results_head "global tables: stream–global join vs the co-partitioned stream–table join" rocksdb
        build_item
        printf -- '- input (bench-global-join --write, written once, not timed): %s users "u<i>" → 100-byte values; %s orders keyed by user, value "user=u<k>;order=<i>;amount=<a>" (k drawn by seed %s; %s of them name a user without a row); %s partitions each (murmur2, so co-partitioned); timestamps 1 ms apart, every user before every order; %s\n' \
            "$USERS_N" "$ORDERS_N" "$SEED" "$(field "$EXPECTED" unmatched)" "$PARTITIONS" "$wrote"
        printf -- '- table (baseline): orders → rill_stream_table_join(orders, rill_table_from(users, store users-store), LEFT, grace 0) → sink; global: orders → rill_stream_global_join(orders, rill_global_table(users), LEFT, key mapper = the "user=" field of the value) → sink; joiner "<order value>|<user value or NULL>"; bytes serdes; one process, Rill defaults: at_least_once, commit.interval.ms 30000, 1 stream thread, statestore.cache.max.bytes 10 MiB, block cache 64 MiB; each run a new application.id, state.dir and output topic, reading from the start\n'
        printf -- '- clock: from the first record consumed (rill_records_consumed_total, polled every 1 ms) to the N-th result (counted by the joiner, polled every 10 ms), and from the call to rill_app_start to the same instant; CPU: user+sys of the process (getrusage) over the same spans, per million orders; peak RSS: ru_maxrss of the process at its end; global bootstrap: the "global tables ready: U record(s) read in M ms" log line\n'
        printf -- '- checks, every run: the output topic holds %s records whose order-free digest (a sum of a 64-bit hash of each "key<TAB>value", kcat + bench-global-join --digest) equals the generator'"'"'s (%s), so both variants gave the same joined values; rill_join_unmatched_total = %s, no dead letters; the global bootstrap read %s rows. Counters of the last pair: %s\n' \
            "$ORDERS_N" "$(field "$EXPECTED" digest)" "$(field "$EXPECTED" unmatched)" "$USERS_N" "$metrics"
        printf -- '- alternation: per pair, table then global\n'
        load_item "$load" "$others"
        failures_line
        printf '\n%s\n\n' "$tables"
        reading
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    bench_start bench-global-join
    USERS="bench.global-join.$RUN_ID.users"
    ORDERS="bench.global-join.$RUN_ID.orders"
    create_topic "$USERS" "$PARTITIONS"
    create_topic "$ORDERS" "$PARTITIONS"
    # Timestamps in the recent past, 1 ms apart: users, then orders.
    local base_ms=$(($(date +%s) * 1000 - USERS_N - ORDERS_N - 60000)) wrote
    log "broker $BOOTSTRAP; writing $USERS_N users to $USERS and $ORDERS_N orders to $ORDERS (not timed)"
    wrote=$(timeout 900 "$PROGRAM" --write --bootstrap-servers "$BOOTSTRAP" --users "$USERS" \
        --orders "$ORDERS" --user-count "$USERS_N" --order-count "$ORDERS_N" \
        --base-ms "$base_ms" --seed "$SEED") || die "writing the input failed"
    wrote=${wrote#WROTE }
    EXPECTED=$("$PROGRAM" --expect --user-count "$USERS_N" --order-count "$ORDERS_N" \
        --seed "$SEED") || die "computing the expected output failed"
    log "wrote $wrote; expected output: ${EXPECTED#EXPECT }"
    local rows="" t g
    alternate table global pair_row
    local metrics tables
    metrics="table: $(tr ' ' '\n' <<<"$t" | grep -E '^(consumed|produced|changelog|commits|rebalances)=' | paste -sd ' ');"
    metrics+=" global: $(tr ' ' '\n' <<<"$g" | grep -E '^(consumed|produced|changelog|commits|rebalances|global_records)=' | paste -sd ' ')"
    tables=$(printf '%s' "$rows" | report)
    printf '\n%s\n' "$tables"
    append_results "$tables" "$LOAD" "$OTHERS" "$wrote" "$metrics"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
