#!/usr/bin/env bash
# progress_cost.sh — what progress tracking and event-time alignment (engine/progress.c) cost:
# Rill as it is against Rill at a baseline revision without them, on the same broker and the
# same input, alternating base and new (A B A B A B), for the passthrough (source → sink) and
# the windowed count (bench-state-agg --mode windowed: tumbling 10 s, grace 5 s). Method:
# bench/README.md. With RILL_BENCH_BASE, RILL_BENCH_MODES and RILL_BENCH_TITLE it compares
# against any other revision (the architecture step: the keyed count too).
#
# Usage: bash bench/progress_cost.sh
#
# The baseline is built from a git worktree of RILL_BENCH_BASE into its own build directory
# (once; kept in the cache for later runs). Per pair it prints records/s and CPU-s per million
# records of each, and the new/base ratios (CPU above 1: progress costs that much more), then
# the median and min–max of the ratios, and appends it all to bench/RESULTS.md.
#
# Environment:
#   RILL_BENCH_BASE        baseline revision (default f28ff02, the last one without progress)
#   RILL_BENCH_BOOTSTRAP   a running broker, 127.0.0.1:PORT (see bench/lib/run.sh)
#   RILL_BENCH_RECORDS     records of each input            (default 1000000)
#   RILL_BENCH_PAIRS       base/new pairs, at least 3        (default 3)
#   RILL_BENCH_MODES       of passthrough, windowed, keyed (bench-state-agg --mode keyed: a
#                          count per key)                    (default "passthrough windowed")
#   RILL_BENCH_TITLE       what the baseline lacks, for RESULTS.md's heading
#                          (default "progress tracking and alignment")
#   RILL_BENCH_EMIT        the windowed mode's emit, update or final (default update;
#                          bench-state-agg reads it)
#   RILL_BENCH_RUN_TIMEOUT_S  bound of one run              (default 600)
#   RILL_BUILD_DIR         the new build (default <repo>/build)
#   RILL_CACHE_DIR         where the baseline is built (default $HOME/.cache/rill)
#   RILL_BENCH_RESULTS     file to append to                 (default bench/RESULTS.md)
set -euo pipefail

readonly SCRIPT=progress_cost.sh
# shellcheck source=bench/lib/bench.sh
source "$(dirname "$0")/lib/bench.sh"

readonly BASE_REV=${RILL_BENCH_BASE:-f28ff02}
readonly RECORDS=${RILL_BENCH_RECORDS:-1000000}
readonly MODES=${RILL_BENCH_MODES:-passthrough windowed}
readonly TITLE=${RILL_BENCH_TITLE:-progress tracking and alignment}
readonly EMIT=${RILL_BENCH_EMIT:-update}
[[ "$EMIT" == update || "$EMIT" == final ]] || die "RILL_BENCH_EMIT is update or final"
export RILL_BENCH_EMIT=$EMIT
readonly KEYS=100000
readonly CACHE=${RILL_CACHE_DIR:-$HOME/.cache/rill}
BASE_SRC="$CACHE/progress-base-src"
BASE_BUILD="$CACHE/progress-base-build"

need_count RILL_BENCH_RECORDS "$RECORDS"
need_pairs
for m in $MODES; do [[ $m =~ ^(passthrough|windowed|keyed)$ ]] || die "unknown mode '$m'"; done
bench_work progress-cost

readonly TARGETS=(bench-rill-passthrough bench-produce bench-state-input bench-state-agg)

# Builds the baseline revision in its own worktree and build directory.
build_base() {
    local rev
    rev=$(git -C "$ROOT" rev-parse --short "$BASE_REV") || die "unknown revision $BASE_REV"
    if [[ ! -d "$BASE_SRC" ]]; then
        mkdir -p "$CACHE"
        git -C "$ROOT" worktree add --detach "$BASE_SRC" "$rev" >"$WORK/worktree.log" 2>&1 ||
            { cat "$WORK/worktree.log" >&2; die "cannot check out $rev"; }
    fi
    git -C "$BASE_SRC" checkout -q --detach "$rev" || die "cannot check out $rev"
    cmake -S "$BASE_SRC" -B "$BASE_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TESTS=OFF \
        >"$WORK/cmake-base.log" 2>&1 || { cat "$WORK/cmake-base.log" >&2; die "cmake (base)"; }
    cmake --build "$BASE_BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >"$WORK/build-base.log" 2>&1 ||
        { tail -n 40 "$WORK/build-base.log" >&2; die "build of the baseline failed"; }
}

# run_one WHICH I MODE: runs the base or new build's program; prints its RESULT line.
run_one() {
    local which=$1 i=$2 mode=$3 dir="$WORK/$1-$3-$2" bd cmd
    bd=$([[ $which == base ]] && echo "$BASE_BUILD" || echo "$BUILD_DIR")
    local id="bench-progress-$mode-$which-$RUN_ID-$i"
    case "$mode" in
        passthrough) cmd=("$bd/bench/bench-rill-passthrough" --bootstrap-servers "$BOOTSTRAP"
                          --input "$PASS_IN" --output "$id.out" -D "application.id=$id"
                          --records "$RECORDS" --timeout-s "$RUN_TIMEOUT_S") ;;
        windowed | keyed) cmd=("$bd/bench/bench-state-agg" --bootstrap-servers "$BOOTSTRAP"
                       --input "$WIN_IN" --mode "$mode" --records "$RECORDS"
                       --timeout-s "$RUN_TIMEOUT_S" --state-dir "$dir" -D "application.id=$id") ;;
    esac
    [[ $mode == passthrough ]] && create_topic "$id.out" "$PARTITIONS"
    rm -rf "$dir"
    run_program "$which-$mode-$i" "${cmd[@]}" || die "$which $mode run $i failed (command: ${cmd[*]})"
    rm -rf "$dir"
    result_of "$which-$mode-$i"
}

# pair_row I BASE NEW MODE: adds the pair's row to rows[MODE] (report's columns).
pair_row() {
    rows[$4]+="$1 $(field "$2" wall_s) $(field "$2" cpu_s) $(field "$3" wall_s) $(field "$3" cpu_s)"$'\n'
}

# Reads rows "pair base_wall base_cpu new_wall new_cpu"; prints the table and the summary.
report() {
    awk -v n="$RECORDS" "$AWK_STATS"'
        BEGIN {
            print "| pair | base rec/s | new rec/s | base CPU-s/M | new CPU-s/M | **new/base CPU** |"
            print "|---:|---:|---:|---:|---:|---:|"
        }
        {
            k++
            br[k] = n / $2; nr[k] = n / $4; bc[k] = $3 / (n / 1e6); nc[k] = $5 / (n / 1e6)
            x[k] = nc[k] / bc[k]
            printf "| %d | %.0f | %.0f | %.3f | %.3f | **%.3f** |\n", $1, br[k], nr[k], bc[k], nc[k], x[k]
        }
        END {
            printf "| **median** | %.0f | %.0f | %.3f | %.3f | **%.3f** |\n",
                median(br, k), median(nr, k), median(bc, k), median(nc, k), median(x, k)
            printf "\nnew/base CPU per record: median %.3f, min–max %.3f–%.3f (%d pairs)\n", median(x, k), lo(x, k), hi(x, k), k
        }'
}

main() {
    build_base
    bench_start "${TARGETS[@]}"
    PASS_IN="bench.progress.$RUN_ID.pass"
    WIN_IN="bench.progress.$RUN_ID.win"
    BASE_MS=$(($(date +%s) / 60 * 60 * 1000))
    create_topic "$PASS_IN" "$PARTITIONS"
    create_topic "$WIN_IN" "$PARTITIONS"
    log "writing $RECORDS records to $PASS_IN and to $WIN_IN (not timed)"
    write_records "$PASS_IN" "$RECORDS"
    write_keyed "$WIN_IN" "$RECORDS" "$KEYS" "$BASE_MS"
    declare -A rows
    local mode
    # shellcheck disable=SC2086 # the modes are words
    alternate base new pair_row $MODES
    local tables=""
    for mode in $MODES; do
        tables+=$'\n'"**$mode**"$'\n\n'"$(printf '%s' "${rows[$mode]}" | report)"$'\n'
    done
    printf '%s\n' "$tables"
    {
        results_head "$TITLE: cost against a baseline without them" rocksdb \
            "; baseline: $(git -C "$ROOT" rev-parse --short "$BASE_REV")"
        printf -- '- input: %s records each, 4 partitions; passthrough: 100-byte values (bench-produce); windowed and keyed: %s keys, timestamps 1 ms apart (bench-state-input)\n' "$RECORDS" "$KEYS"
        printf -- '- programs: bench-rill-passthrough (source → sink), bench-state-agg --mode windowed (tumbling 10 s, grace 5 s, emit %s) and --mode keyed (count per key), Rill defaults; clock and CPU from the first record consumed to the clean stop (getrusage)\n' "$([[ $EMIT == final ]] && echo final || echo 'on update')"
        printf -- '- alternation: per pair, base then new, in the order %s\n' "$MODES"
        load_item "$LOAD" "$OTHERS"
        printf '%s\n' "$tables"
    } >>"$RESULTS"
    log "appended to $RESULTS"
}

main "$@"
