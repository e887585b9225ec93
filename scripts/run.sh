#!/usr/bin/env bash
# run.sh — the main job: installs what is missing, builds, and runs Rill's auction showcase
# (rill-auction, topologies/auction) on the embedded broker (or on the Kafka given with
# --bootstrap-servers), with --drain: it stops once every auction is closed. Arguments go to
# the app (see build/topologies/auction/rill-auction --help), e.g.
#   scripts/run.sh --events 20000
#   scripts/run.sh --edge native          # validation and notify in C: no function runtimes
# Unless --edge native is given, the function runtimes (validate-auction, validate-bid,
# notify on 127.0.0.1:18084..18086) are started with scripts/functions.sh and stopped on exit;
# --describe, --describe-dot and --help only print, so they start nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

no_functions=0
prev=""
for a in "$@"; do
    [[ "$prev" == "--edge" && "$a" == "native" ]] && no_functions=1
    [[ "$a" == --describe* || "$a" == --help || "$a" == -h ]] && no_functions=1
    prev="$a"
done

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target rill-auction >/dev/null

if [[ "$no_functions" == 0 ]]; then
    trap 'scripts/functions.sh stop >/dev/null 2>&1 || true' EXIT
    RILL_FN_LAMBDA="${RILL_FN_LAMBDA:-0}" scripts/functions.sh start >/dev/null
fi
# Not exec: the trap stops the functions when the app is done.
build/topologies/auction/rill-auction --drain "$@"
