#!/usr/bin/env bash
# run.sh — the main job: installs what is missing, builds, and runs Rill's auction showcase
# (rill-auction, topologies/auction) on the embedded broker (or on the Kafka given with
# --bootstrap-servers), with --drain: it stops once every auction is closed. Arguments go to
# the app (see build/topologies/auction/rill-auction --help), e.g.
#   scripts/run.sh --events 20000
#   scripts/run.sh --edge native          # validation and notify in C: no function runtimes
# Unless --edge native is given, the function runtimes (validate-auction, validate-bid,
# notify) are started with scripts/functions.sh (from this checkout's run dir, on the ports it
# chooses or RILL_FN_*_PORT gives), the app is given the URLs it prints, and they are stopped
# on exit; --describe, --describe-dot and --help only print, so they start nothing.
# Notifications go to RILL_NOTIFY_FILE, default .run/functions/notifications.log.
# RILL_BUILD_DIR: the build directory (default build; configured when it is not yet).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/host.sh
source scripts/lib/host.sh

native=0 print_only=0
prev=""
for a in "$@"; do
    [[ "$prev" == "--edge" && "$a" == "native" ]] && native=1
    [[ "$a" == --describe* || "$a" == --help || "$a" == -h ]] && print_only=1
    prev="$a"
done

build_dir=${RILL_BUILD_DIR:-build}
scripts/install-deps.sh
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)" --target rill-auction >/dev/null

run_dir=$(rill_run_dir functions)
export RILL_NOTIFY_FILE="${RILL_NOTIFY_FILE:-$run_dir/notifications.log}"
fn_flags=()
if ((native && !print_only)); then
    mkdir -p "$(dirname "$RILL_NOTIFY_FILE")" # the app appends there itself
elif ((!native && !print_only)); then
    trap 'scripts/functions.sh stop >/dev/null 2>&1 || true' EXIT
    urls=$(RILL_FN_LAMBDA="${RILL_FN_LAMBDA:-0}" scripts/functions.sh start)
    while IFS='=' read -r name url; do
        case "$name" in
            validate-auction | validate-bid | notify) fn_flags+=("--$name-url" "$url") ;;
        esac
    done <<<"$urls"
    ((${#fn_flags[@]} == 6)) || { echo "run.sh: functions.sh did not report every function" >&2; exit 1; }
fi
# Not exec: the trap stops the functions when the app is done. Flags given to run.sh come
# after the URLs, so they win.
"$build_dir/topologies/auction/rill-auction" --drain "${fn_flags[@]}" "$@"
