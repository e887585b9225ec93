#!/usr/bin/env bash
# races.sh — look for data races and lock-order problems in Rill's multi-threaded paths:
# builds tests/progs/rill_race_app.c (two apps of one application.id with 2 stream threads
# each on the embedded broker, a FaaS stage calling a local HTTP function on the bridge's
# libcurl thread, a global table kept by its reader thread, a store, a rebalance when the
# second app joins and when it stops, stop and destroy) with clang's ThreadSanitizer in its
# own build directory and runs it. Criterion cannot start under TSan and gcc-12's TSan
# crashes in librdkafka's C11 threads, hence clang and a program of its own.
#
# Reports inside the uninstrumented libraries (librdkafka, RocksDB, libcurl, json-c, whose
# own atomics TSan cannot see) are suppressed by tests/sanitize/tsan.supp, which explains
# each entry; any other report fails the script (exit 1), the log kept and named.
#
# Usage: scripts/races.sh [RUNS]   (RUNS: how many times to run the program, default 1)
# Environment: RILL_RACE_BUILD (default build-tsan), RILL_RACE_ARGS (the program's flags,
# default "--records 4000 --seconds 6").
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-1}
build=${RILL_RACE_BUILD:-build-tsan}
start=$(date +%s)
scripts/install-deps.sh >&2
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TSAN=ON \
    -DRILL_TESTS=ON -DRILL_BENCH=OFF >/dev/null
cmake --build "$build" -j"${RILL_RACE_JOBS:-2}" --target rill_race_app >/dev/null

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/rill-races-XXXXXX")
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4 exitcode=66 \
suppressions=$PWD/tests/sanitize/tsan.supp log_path=$log_dir/tsan"
failed=0
for ((i = 1; i <= runs; i++)); do
    rc=0
    # shellcheck disable=SC2086
    "$build/tests/rill_race_app" ${RILL_RACE_ARGS:---records 4000 --seconds 6} \
        >"$log_dir/run-$i.log" 2>&1 || rc=$?
    reports=$(cat "$log_dir"/tsan.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)
    echo "races.sh: run $i: exit $rc, $reports report(s)"
    if [[ $rc -ne 0 || $reports -ne 0 ]]; then
        failed=1
        tail -5 "$log_dir/run-$i.log" >&2
        cat "$log_dir"/tsan.* 2>/dev/null | grep -A12 '^WARNING: ThreadSanitizer' | head -60 >&2 || true
    fi
done
echo "races.sh: $runs run(s) in $(( $(date +%s) - start )) s"
if [[ $failed -ne 0 ]]; then
    echo "races.sh: FAILED; logs in $log_dir" >&2
    exit 1
fi
rm -rf "$log_dir"
echo "races.sh: no race reported"
