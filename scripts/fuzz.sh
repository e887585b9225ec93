#!/usr/bin/env bash
# fuzz.sh — build Rill's libFuzzer harnesses (tests/fuzz) with clang, ASan and UBSan in their
# own build directory, run each harness's seed corpus once, then fuzz each for N seconds.
# Any crash, leak, sanitizer report or failed check fails the script (exit 1), and the input
# that caused it is kept and named.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]
#   SECONDS_PER_HARNESS defaults to 10 (CI); give more for a longer run, e.g. 600.
#   HARNESS names (response, http_headers, encode, serdes, properties, cli, meta_time,
#   auction_rules, store_keys) pick some.
# Environment: RILL_FUZZ_BUILD (build directory, default build-fuzz), RILL_FUZZ_WORK (where
# the growing corpora and crash inputs go, default a new temporary directory; kept on
# failure), RILL_FUZZ_JOBS (build parallelism, default 2), RILL_FUZZ_PARALLEL (harnesses
# fuzzing at a time, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a number, got '$seconds'" >&2; exit 2; }
build=${RILL_FUZZ_BUILD:-build-fuzz}
jobs=${RILL_FUZZ_JOBS:-2}
parallel=${RILL_FUZZ_PARALLEL:-2}

scripts/install-deps.sh >&2
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_FUZZ=ON >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null

harnesses=("$@")
if [[ ${#harnesses[@]} -eq 0 ]]; then
    for src in tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        harnesses+=("${name#fuzz_}")
    done
fi

work=${RILL_FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rill-fuzz-XXXXXX")}
mkdir -p "$work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one harness: its seeds once, then fuzzing from a copy (the seeds in the tree are never
# changed). stdout is closed (--help prints usage); the harnesses report on stderr. Leaves
# $work/$name.failed behind when it fails.
fuzz_one() {
    local name=$1 bin="$build/tests/fuzz/fuzz_$1" seeds="tests/fuzz/corpus/$1"
    local corpus="$work/corpus-$1" log="$work/$1.log" runs
    mkdir -p "$corpus" "$work/crash-$name"
    if "$bin" -runs=0 "$seeds" >"$log" 2>&1 &&
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -close_fd_mask=1 -print_final_stats=1 \
            -artifact_prefix="$work/crash-$name/" "$corpus" "$seeds" >>"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        echo "fuzz.sh: $name: ok, ${runs:-?} runs in ${seconds}s"
    else
        echo "fuzz.sh: $name: FAILED (log: $log)" >&2
        grep -E 'ERROR:|runtime error|check failed|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
        touch "$work/$name.failed"
    fi
}

for name in "${harnesses[@]}"; do
    [[ -x "$build/tests/fuzz/fuzz_$name" && -d "tests/fuzz/corpus/$name" ]] ||
        { echo "fuzz.sh: no harness or seeds for '$name'" >&2; exit 2; }
done
# RILL_FUZZ_PARALLEL harnesses at a time (each fuzzes on one core).
running=0
for name in "${harnesses[@]}"; do
    if ((running >= parallel)); then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$name" &
    running=$((running + 1))
done
wait
failed=()
for name in "${harnesses[@]}"; do
    [[ -e "$work/$name.failed" ]] && failed+=("$name")
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: ${#failed[@]} harness(es) failed: ${failed[*]}; inputs and logs in $work" >&2
    exit 1
fi
[[ -n "${RILL_FUZZ_WORK:-}" ]] || rm -rf "$work"
echo "fuzz.sh: all ${#harnesses[@]} harnesses passed"
