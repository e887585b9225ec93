#!/usr/bin/env bash
# test.sh — build Rill and run its whole test suite: unit tests, component tests on the
# embedded broker, and integration tests on a real Kafka broker that this script starts on
# 127.0.0.1 and stops when it ends. Extra arguments go to ctest (e.g. -L engine, -R alos).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TESTS=ON >/dev/null
cmake --build build -j"$(nproc)"
scripts/layers.sh build # the calls between modules, now that their objects exist

started_kafka=""
started_functions=""
stop_services() {
    if [[ -n "$started_functions" ]]; then
        scripts/functions.sh stop || true
    fi
    if [[ -n "$started_kafka" ]]; then
        scripts/kafka.sh stop || true
    fi
    if [[ -n "${RILL_NOTIFY_FILE:-}" && "$RILL_NOTIFY_FILE" == */rill-test-notify.*/* ]]; then
        rm -rf "$(dirname "$RILL_NOTIFY_FILE")"
    fi
}
trap stop_services EXIT

bootstrap_line=$(scripts/kafka.sh start)
started_kafka=1
export RILL_TEST_BOOTSTRAP="${bootstrap_line#bootstrap=}"
echo "test.sh: Kafka at $RILL_TEST_BOOTSTRAP"

# The notify function's file is this run's own, so that nothing else on the host (a demo,
# another checkout's tests) writes into the file the tests check.
RILL_NOTIFY_FILE="$(mktemp -d "${TMPDIR:-/tmp}/rill-test-notify.XXXXXX")/notifications.log"
export RILL_NOTIFY_FILE
# Function runtimes for the bridge's tests: lines "name=url" become RILL_TEST_FN_<NAME>
# (upper case, '-' as '_': validate-auction → RILL_TEST_FN_VALIDATE_AUCTION).
functions_out=$(scripts/functions.sh start)
started_functions=1
while IFS='=' read -r name url; do
    [[ -n "$name" && -n "$url" ]] || continue
    var="RILL_TEST_FN_${name^^}"
    export "${var//-/_}=$url"
done <<<"$functions_out"
echo "test.sh: functions at $(env | grep -c '^RILL_TEST_FN_') endpoint(s)"

# Four tests at a time (unit and component tests mostly wait on their embedded broker's group
# joins), except the integration tests, which run alone (tests/CMakeLists.txt).
ctest --test-dir build --output-on-failure -j"${RILL_TEST_JOBS:-4}" "$@"
