#!/usr/bin/env bash
# test.sh — build Rill and run its whole test suite: unit tests, component tests on the
# embedded broker, and integration tests on a real Kafka broker that this script starts on
# 127.0.0.1 and stops when it ends. Extra arguments go to ctest (e.g. -L engine, -R alos).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

started_kafka=""
stop_services() {
    if [[ -n "$started_kafka" ]]; then
        scripts/kafka.sh stop || true
    fi
}
trap stop_services EXIT

bootstrap_line=$(scripts/kafka.sh start)
started_kafka=1
export RILL_TEST_BOOTSTRAP="${bootstrap_line#bootstrap=}"
echo "test.sh: Kafka at $RILL_TEST_BOOTSTRAP"

ctest --test-dir build --output-on-failure "$@"
