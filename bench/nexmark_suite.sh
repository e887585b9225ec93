#!/usr/bin/env bash
# nexmark_suite.sh — the NEXMark queries on Rill (tests/progs/rill_nexmark_app.c) and on Kafka
# Streams (bench/peers/kafka-streams/), side by side: same broker, same input, alternating
# rill, ks, rill, ks, ... per query and processing guarantee, outputs checked equal.
#
# Usage: bash bench/nexmark_suite.sh
#
# It builds rill_nexmark_app and rill-nexmark (in RILL_BUILD_DIR, configured with the tests
# on, where the query program lives) and the peer's jar (Maven, offline after a first online
# resolve into the user's Maven repository), writes the input once (not timed): NEXMark
# events 0..N-1 of seed 42 (rill-nexmark's defaults: 10,000 events/s of event time, no
# disorder), persons, auctions and bids, 4 partitions each, then one watermark bid per bids
# partition an hour of event time after the last event (closes every window and auction in
# both). Then for each query and guarantee, PAIRS times: rill_nexmark_app --drain, then the
# peer with --exit-on-end, each with a new application.id, state directory and output topic.
#
# Measured per run: events/s = records of the topics the query reads / seconds from the
# moment the app starts processing (Rill's "running:" log line; the peer's RUNNING line,
# Kafka Streams' REBALANCING → RUNNING) to the broker's append time of the last output
# record (output topics use LogAppendTime; an empty output would fall back to the end of
# the run: Rill's exit after --drain, the peer's first moment with everything committed,
# polled every 250 ms); CPU-s per million of those records = user+sys
# of the whole process (GNU time, getrusage of the child: start-up, JIT and the peer's 2 s
# of idle checks at the end included); peak RSS = ru_maxrss (VmHWM). commit.interval.ms is
# 1000 for both under at_least_once (so the peer's end is seen within about a second) and
# the default 100 under exactly_once_v2.
#
# Outputs: each run's output topic is read to its end (read_committed), made canonical
# (queries whose output is every record: the sorted "key<TAB>value" lines; queries whose
# output is a table's updates, q4-q7: the last value of each key, sorted) and hashed; every
# run of a query and guarantee must give the same hash, else the table says which differ.
#
# Environment:
#   RILL_BENCH_BOOTSTRAP      a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_EVENTS         NEXMark events                          (default 1000000)
#   RILL_BENCH_PAIRS          rill/ks pairs per query and guarantee, 3 or more (default 3)
#   RILL_BENCH_QUERIES        queries to run         (default "q0 q1 q2 q3 q4 q5 q6 q7 q8")
#   RILL_BENCH_GUARANTEES     (default "at_least_once exactly_once_v2")
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run                         (default 900)
#   RILL_BUILD_DIR            build directory (default: <repo>/build)
#   RILL_BENCH_RESULTS        file to append to (default bench/RESULTS.md)
#   RILL_BENCH_PLOT           the plot (default bench/nexmark.png)
#   RILL_KAFKA_PORT, RILL_KAFKA_DIR  passed to scripts/kafka.sh
set -euo pipefail

readonly SCRIPT=nexmark_suite.sh
readonly RUN_TIMEOUT_DEFAULT_S=900
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly EVENTS=${RILL_BENCH_EVENTS:-1000000}
# q8's grace, given to both: the input's event-time span (10,000 events/s) plus its 10 s
# window, at least the default 60 s. Kafka Streams judges a join record late against its
# task's stream time over both inputs, and persons may be read ahead of the auctions still
# on their way through the repartition topic by up to the whole span: with 60 s its output
# lost a varying few thousand rows at 1M events (different in every run), Rill's did not.
Q8_GRACE_MS=$((EVENTS / 10 + 10000))
((Q8_GRACE_MS < 60000)) && Q8_GRACE_MS=60000
readonly Q8_GRACE_MS
read -r -a QUERIES <<<"${RILL_BENCH_QUERIES:-q0 q1 q2 q3 q4 q5 q6 q7 q8}"
read -r -a GUARANTEES <<<"${RILL_BENCH_GUARANTEES:-at_least_once exactly_once_v2}"
readonly BUILD_TESTS=ON # rill_nexmark_app is a test program
readonly PLOT=${RILL_BENCH_PLOT:-$ROOT/bench/nexmark.png}
readonly PEER="$ROOT/bench/peers/kafka-streams"

need_count RILL_BENCH_EVENTS "$EVENTS"
need_pairs
for q in "${QUERIES[@]}"; do
    [[ "$q" =~ ^q[0-8]$ ]] || die "unknown query '$q' in RILL_BENCH_QUERIES (q0 to q8)"
done
for g in "${GUARANTEES[@]}"; do
    [[ "$g" == at_least_once || "$g" == exactly_once_v2 ]] || die "unknown guarantee '$g'"
done
bench_work nexmark

# ---------------------------------------------------------------- the peer's build

build_peer() {
    log "building the Kafka Streams peer (Maven)"
    (cd "$PEER" && { mvn -q -o package -DskipTests || mvn -q package -DskipTests; }) \
        >"$WORK/mvn.log" 2>&1 || { tail -n 40 "$WORK/mvn.log" >&2; die "the peer's build failed"; }
    PEER_CP="$PEER/target/nexmark-kafka-streams-0.1.jar:$PEER/target/lib/*"
}

# ---------------------------------------------------------------- input

write_input() {
    PERSONS="bench.nexmark.$RUN_ID.persons"
    AUCTIONS="bench.nexmark.$RUN_ID.auctions"
    BIDS="bench.nexmark.$RUN_ID.bids"
    local t
    for t in "$PERSONS" "$AUCTIONS" "$BIDS"; do create_topic "$t" "$PARTITIONS"; done
    log "writing $EVENTS NEXMark events (not timed)"
    timeout 1800 "$BUILD_DIR/topologies/nexmark/rill-nexmark" --events "$EVENTS" --seed "$SEED" \
        --bootstrap-servers "$BOOTSTRAP" --persons-topic "$PERSONS" --auctions-topic "$AUCTIONS" \
        --bids-topic "$BIDS" --quiet >"$WORK/nexmark.log" 2>&1 ||
        { tail -n 20 "$WORK/nexmark.log" >&2; die "writing the input failed"; }
    # The watermark: an hour of event time past the last event (rill-nexmark's base time and
    # rate), far past every expiry and window end plus grace.
    local wm p
    wm=$((1436918400000 + EVENTS * 1000 / 10000 + 3600000))
    for ((p = 0; p < PARTITIONS; p++)); do
        printf 'watermark\t{"auction":-1,"bidder":-1,"price":0,"channel":"watermark","url":"","dateTime":%s,"extra":""}\n' \
            "$wm" | kcat -P -b "$BOOTSTRAP" -t "$BIDS" -p "$p" -K $'\t' ||
            die "writing the watermark to $BIDS[$p] failed"
    done
    local n
    for t in "$PERSONS" "$AUCTIONS" "$BIDS"; do
        n=$(topic_records "$t") || true
        [[ -n "$n" ]] || die "cannot count the records of $t"
        RECORDS[$t]=$n
    done
    log "input: ${RECORDS[$PERSONS]} persons, ${RECORDS[$AUCTIONS]} auctions, ${RECORDS[$BIDS]} bids (with ${PARTITIONS} watermarks)"
}

# Records of the topics query $1 reads.
query_records() {
    case "$1" in
        q0 | q1 | q2 | q5 | q7) echo "${RECORDS[$BIDS]}" ;;
        q3 | q8) echo $((RECORDS[$PERSONS] + RECORDS[$AUCTIONS])) ;;
        *) echo $((RECORDS[$AUCTIONS] + RECORDS[$BIDS])) ;;
    esac
}

# ---------------------------------------------------------------- runs

# epoch_ms_of_log_time HH:MM:SS.mmm: that UTC time today, in epoch ms.
epoch_ms_of_log_time() {
    local s
    s=$(date -u -d "$(date -u +%F) ${1%.*}" +%s) || return 1
    echo $((s * 1000 + 10#${1##*.}))
}

# canonical QUERY OUTPUT_TOPIC: the hash and row count of the output and the broker's append
# time of its last record ("HASH ROWS LAST_MS").
canonical() {
    local dump="$WORK/dump" rows last
    timeout 600 kcat -C -b "$BOOTSTRAP" -t "$2" -e -q -X isolation.level=read_committed \
        -f '%T\t%k\t%s\n' >"$dump.t" 2>"$WORK/kcat.err" || { cat "$WORK/kcat.err" >&2; die "reading $2 failed"; }
    last=$(awk -F'\t' '$1 > m { m = $1 } END { printf "%.0f\n", m }' "$dump.t")
    cut -f2- "$dump.t" >"$dump"
    rm -f "$dump.t"
    case "$1" in
        q4 | q5 | q6 | q7) awk -F'\t' '{ last[$1] = $0 } END { for (k in last) print last[k] }' "$dump" |
            LC_ALL=C sort >"$dump.c" ;;
        *) LC_ALL=C sort "$dump" >"$dump.c" ;;
    esac
    rows=$(wc -l <"$dump.c")
    echo "$(sha256sum "$dump.c" | cut -c1-16) $rows $last"
    rm -f "$dump" "$dump.c"
}

# run_one ENGINE QUERY GUARANTEE I: one run; prints
# "wall_s=W cpu_s=C rss_mb=M hash=H rows=R".
run_one() {
    local engine=$1 q=$2 g=$3 i=$4 id out err tm start end commit=()
    id="bench-nexmark-$RUN_ID-$engine-$q-$g-$i"
    out="$WORK/$engine.out" err="$WORK/$engine.err" tm="$WORK/$engine.time"
    local output="bench.nexmark.$RUN_ID.$engine.$q.$g.$i.out" state="$WORK/state-$engine"
    # Append times, so that the end of a run is when its last output reached the broker.
    create_topic "$output" "$PARTITIONS" message.timestamp.type=LogAppendTime
    [[ "$g" == at_least_once ]] && commit=(commit.interval.ms=1000)
    local common=(--query "$q" --persons "$PERSONS" --auctions "$AUCTIONS" --bids "$BIDS"
                  --output "$output" --app-id "$id" --bootstrap-servers "$BOOTSTRAP" --state-dir "$state")
    [[ "$q" == q8 ]] && common+=(--grace-ms "$Q8_GRACE_MS")
    local rc=0
    if [[ "$engine" == rill ]]; then
        local props=(-D "processing.guarantee=$g")
        [[ ${#commit[@]} -gt 0 ]] && props+=(-D "${commit[0]}")
        timeout --kill-after=10 "$RUN_TIMEOUT_S" "${TIMED[@]}" "$tm" \
            "$BUILD_DIR/tests/rill_nexmark_app" "${common[@]}" --drain "${props[@]}" \
            >"$out" 2>"$err" || rc=$?
        end=$(date +%s%3N)
        local t
        t=$(grep -m1 -oE '^[0-9:.]+ INFO +rill\[[^]]*\] thread-0: running:' "$err" | cut -d' ' -f1) ||
            die "rill $q $g run $i: no 'running:' line"
        start=$(epoch_ms_of_log_time "$t")
    else
        local jargs=()
        [[ ${#commit[@]} -gt 0 ]] && jargs+=(--commit-interval-ms 1000)
        timeout --kill-after=10 "$RUN_TIMEOUT_S" "${TIMED[@]}" "$tm" \
            java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$PEER_CP" rill.nexmark.Main "${common[@]}" "${jargs[@]}" \
            --guarantee "$g" --exit-on-end >"$out" 2>"$err" || rc=$?
        start=$(awk '/^RUNNING / { print $2; exit }' "$out")
        end=$(awk '/^END [0-9]/ { print $2 }' "$out")
    fi
    rm -rf "$state"
    if ((rc != 0)) || [[ -z "$start" || -z "$end" ]]; then
        tail -n 30 "$err" >&2
        die "$engine $q $g run $i failed (exit $rc)"
    fi
    local canon hash rows last t
    canon=$(canonical "$q" "$output")
    read -r hash rows last <<<"$canon"
    ((last > 0)) && end=$last
    t=$(timed_fields "$tm")
    echo "wall_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1000 }')" \
        "cpu_s=$(field "$t" cpu_s) rss_mb=$(field "$t" rss_mb) hash=$hash rows=$rows"
}

# ---------------------------------------------------------------- report

# Reads rows "query guarantee pair records rill_wall rill_cpu rill_rss ks_wall ks_cpu ks_rss
# equal"; prints the per-pair table, then "SUMMARY query guarantee rill_eps ks_eps ratio
# rill_cpu ks_cpu cpu_ratio rill_rss ks_rss equal" lines (medians) on fd 3.
report() {
    awk "$AWK_STATS"'
        BEGIN {
            print "| query | guarantee | pair | rill events/s | ks events/s | **ks/rill events/s** | rill CPU-s/M | ks CPU-s/M | **ks/rill CPU** | rill peak RSS MB | ks peak RSS MB | outputs |"
            print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        }
        function flush(   ) {
            if (!k) return
            printf "| **%s** | %s | median | %.0f | %.0f | **%.3f** | %.2f | %.2f | **%.2f** | %.0f | %.0f | %s |\n",
                cq, cg, median(re, k), median(ke, k), median(r, k), median(rc, k), median(kc, k),
                median(c, k), median(rm, k), median(km, k), eq
            printf "SUMMARY %s %s %.0f %.0f %.3f %.2f %.2f %.2f %.0f %.0f %s %.3f %.3f\n",
                cq, cg, median(re, k), median(ke, k), median(r, k), median(rc, k), median(kc, k),
                median(c, k), median(rm, k), median(km, k), eq, lo(r, k), hi(r, k) > "/dev/fd/3"
            k = 0
        }
        {
            if ($1 != cq || $2 != cg) { flush(); cq = $1; cg = $2; eq = "equal" }
            k++
            re[k] = $4 / $5; ke[k] = $4 / $8; r[k] = ke[k] / re[k]
            rc[k] = $6 / ($4 / 1e6); kc[k] = $9 / ($4 / 1e6); c[k] = kc[k] / rc[k]
            rm[k] = $7; km[k] = $10
            if ($11 !~ /^equal/) eq = "**DIFFER**"
            printf "| %s | %s | %d | %.0f | %.0f | **%.3f** | %.2f | %.2f | **%.2f** | %d | %d | %s |\n",
                $1, $2, $3, re[k], ke[k], r[k], rc[k], kc[k], c[k], $7, $10, $11
        }
        END { flush() }'
}

plot() {
    local data="$WORK/plot.dat"
    awk '{ g = $3 == "at_least_once" ? "alos" : "eos"; print $2 "/" g, $4, $5 }' "$WORK/summary" >"$data"
    run_gnuplot <<EOF
set terminal pngcairo size 1100,500 font ",10"
set output "$PLOT"
set title "NEXMark on Rill and Kafka Streams: median events/s ($EVENTS events, $PAIRS pairs, one stream thread each)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "input records per second"
set yrange [0:*]
set xtics rotate by -45
set key top right
set grid ytics
plot "$data" using 2:xtic(1) title "Rill" lc rgb "#1f77b4", "" using 3 title "Kafka Streams 3.9.1" lc rgb "#ff7f0e"
EOF
}

append_results() {
    local table=$1 load=$2 others=$3
    {
        results_head "NEXMark suite: Rill vs Kafka Streams, q0–q8" rocksdb
        printf -- '- build: %s, %s; Kafka Streams 3.9.1 on %s\n' "$(build_type)" "$(rel_path "$BUILD_DIR")" \
            "$(java -version 2>&1 | head -n1)"
        printf -- '- input (rill-nexmark, written once, not timed): events 0..%s of seed %s (10,000 events/s of event time, no disorder): %s persons, %s auctions, %s bids, %s partitions each, and one watermark bid per bids partition an hour of event time after the last event\n' \
            "$((EVENTS - 1))" "$SEED" "${RECORDS[$PERSONS]}" "${RECORDS[$AUCTIONS]}" "$((RECORDS[$BIDS] - PARTITIONS))" "$PARTITIONS"
        printf -- '- queries: tests/progs/rill_nexmark_app.c (its DESIGN comment defines each one exactly) and bench/peers/kafka-streams/ (the same semantics and output bytes: DSL, and the Processor API for the q3 join and the auctions'"'"' closing of q4/q6); graces (q3 10 s, q8 %s ms (the input'"'"'s event-time span plus the window, see the script), others 2 s); one stream thread each, default RocksDB stores and caches; commit.interval.ms 1000 under at_least_once, 100 under exactly_once_v2\n' "$Q8_GRACE_MS"
        printf -- '- events/s: records of the topics the query reads / seconds from the start of processing to the broker'"'"'s append time of the last output record; CPU: user+sys of the whole process (GNU time), per million of those records; peak RSS: ru_maxrss; see the header of bench/nexmark_suite.sh\n'
        printf -- '- outputs: canonical (sorted key/value lines; q4-q7 the last value per key) and hashed; "equal": every run of the query and guarantee gave the same\n'
        printf -- '- alternation: per pair, rill then ks\n'
        load_item "$load" "$others" " (the machine is shared: absolute numbers move with the others' load; the ratios are pair by pair)"
        failures_line
        printf '\n%s\n' "$table"
        [[ -f "$PLOT" ]] && printf '\n![NEXMark: Rill vs Kafka Streams](%s)\n' "$(basename "$PLOT")"
    } >>"$RESULTS"
}

# ---------------------------------------------------------------- main

main() {
    bench_start rill_nexmark_app rill-nexmark
    build_peer
    declare -gA RECORDS
    write_input
    local rows="" q g i rill ks first hash eq records
    for q in "${QUERIES[@]}"; do
        for g in "${GUARANTEES[@]}"; do
            records=$(query_records "$q")
            first=""
            for ((i = 1; i <= PAIRS; i++)); do
                rill=$(run_one rill "$q" "$g" "$i")
                log "$q $g pair $i rill: $rill"
                ks=$(run_one ks "$q" "$g" "$i")
                log "$q $g pair $i ks:   $ks"
                first=${first:-$(field "$rill" hash)}
                eq=equal
                for hash in "$(field "$rill" hash)" "$(field "$ks" hash)"; do
                    [[ "$hash" == "$first" ]] || eq="rill=$(field "$rill" hash)/$(field "$rill" rows),ks=$(field "$ks" hash)/$(field "$ks" rows)"
                done
                [[ "$eq" == equal ]] && eq="equal ($(field "$rill" rows) rows)"
                rows+="$q $g $i $records $(field "$rill" wall_s) $(field "$rill" cpu_s) $(field "$rill" rss_mb)"
                rows+=" $(field "$ks" wall_s) $(field "$ks" cpu_s) $(field "$ks" rss_mb) ${eq// /_}"$'\n'
            done
        done
    done
    local table
    table=$(printf '%s' "$rows" | report 3>"$WORK/summary.raw" | sed 's/equal_(\([0-9]*\)_rows)/equal (\1 rows)/')
    sed 's/^SUMMARY //' "$WORK/summary.raw" | awk '{ print NR, $0 }' >"$WORK/summary"
    printf '\n%s\n' "$table"
    plot
    append_results "$table" "$LOAD" "$OTHERS"
    log "appended to $(rel_path "$RESULTS")"
}

main "$@"
