#!/usr/bin/env bash
# sanitize.sh — build Rill with gcc's address and undefined-behaviour sanitizers
# (-DRILL_ASAN=ON: -fsanitize=address,undefined, no recovery) in their own build directory
# and run the unit and component tests (ctest labels engine, operators, state, faas_bridge,
# topologies: no real broker needed; the component tests start the embedded broker). Any
# sanitizer report is fatal: it fails its test, and so the script (exit 1).
#
# Usage: scripts/sanitize.sh [CTEST_ARGS...]   (e.g. -R engine_test_progress for one test)
# Environment: RILL_SAN_BUILD (build directory, default build-asan), RILL_SAN_JOBS (build
# parallelism, default 2), RILL_SAN_TEST_JOBS (tests at a time, default 4: they mostly wait
# on their embedded broker's group joins), RILL_SAN_LABELS (a ctest label regex, default the five
# labels above).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${RILL_SAN_BUILD:-build-asan}
jobs=${RILL_SAN_JOBS:-2}
test_jobs=${RILL_SAN_TEST_JOBS:-4}
labels=${RILL_SAN_LABELS:-^(engine|operators|state|faas_bridge|topologies)$}

scripts/install-deps.sh >&2
# The auction rules test starts the validate functions itself: their node_modules must exist.
scripts/functions.sh install >&2
start=$(date +%s)
CC=gcc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_ASAN=ON -DRILL_TESTS=ON \
    -DRILL_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
built=$(date +%s)

# halt_on_error / abort_on_error: the first report kills the test (Criterion's worker
# crashes, so the test fails); detect_leaks=1: LeakSanitizer at exit (it works here, outside
# ptrace); UBSan's halt_on_error with the build's -fno-sanitize-recover=undefined.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0}

rc=0
ctest --test-dir "$build" -L "$labels" -j"$test_jobs" --output-on-failure "$@" || rc=$?
echo "sanitize.sh: build $((built - start)) s, tests $(( $(date +%s) - built )) s, exit $rc"
exit "$rc"
