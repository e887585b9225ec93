#!/usr/bin/env bash
# run.sh — the main job: installs what is missing, builds, and runs Rill's showcase on the
# embedded broker (or on the Kafka given with --bootstrap-servers). Arguments go to the app.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target rill-sample >/dev/null
exec build/topologies/sample/rill-sample "$@"
