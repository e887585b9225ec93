#!/usr/bin/env bash
# examples.sh — builds the apps of examples/ the way an app of your own is built: outside the
# tree, against Rill installed (cmake --install) into a temporary prefix. word_count is built
# with CMake (find_package(Rill)), enrich_join with CMake too and with make and pkg-config
# (rill.pc, plain and --static). Checks that the install holds only the library, its header,
# rill-broker, rill.pc and the CMake package; runs every binary's --describe, and word_count
# and enrich_join on the embedded broker, comparing what they print with what they must. Any
# failure fails the script (exit 1). The temporary prefix and builds are removed at the end.
# Last, examples/functions/upper.js runs in the Functions Framework and answers requests shaped
# as a FaaS stage sends them.
#
# Usage: scripts/examples.sh
# Environment: RILL_EXAMPLES_BUILD (the library's build directory, kept between runs, default
# build-examples), RILL_EXAMPLES_JOBS (build parallelism, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${RILL_EXAMPLES_BUILD:-build-examples}
jobs=${RILL_EXAMPLES_JOBS:-2}
cflags="-O2 -Wall -Wextra -Wno-unused-parameter -Werror"

scripts/install-deps.sh >&2
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TESTS=OFF -DRILL_BENCH=OFF \
    >/dev/null
cmake --build "$build" -j"$jobs" --target rill rill-broker >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rill-examples-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
installed=$(cd "$prefix" && find . -type f | sed 's|^\./||' | sort)
wanted='bin/rill-broker|include/rill\.h|lib.*/(librill\.a|pkgconfig/rill\.pc|cmake/Rill/Rill.*\.cmake)'
unexpected=$(grep -vxE "$wanted" <<<"$installed" || true)
if [[ -n "$unexpected" ]]; then
    echo "examples.sh: installed what an app does not need:" $unexpected >&2
    exit 1
fi
echo "examples.sh: installed" $installed

# As a user would: CMAKE_PREFIX_PATH for find_package(Rill), PKG_CONFIG_PATH for rill.pc.
for app in word_count enrich_join; do
    cmake -S "examples/$app" -B "$tmp/cmake-$app" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$tmp/cmake-$app" >/dev/null
done
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name rill.pc)")
export PKG_CONFIG_PATH
mkdir "$tmp/make" "$tmp/make-static"
make -s -C "$tmp/make" -f "$PWD/examples/enrich_join/Makefile" CFLAGS="$cflags"
make -s -C "$tmp/make-static" -f "$PWD/examples/enrich_join/Makefile" CFLAGS="$cflags" \
    PKG_CONFIG="pkg-config --static"
built=$(date +%s)

binaries=("$tmp/cmake-word_count/word_count" "$tmp/cmake-enrich_join/enrich_join"
    "$tmp/make/enrich_join" "$tmp/make-static/enrich_join")
for bin in "${binaries[@]}"; do
    if ! grep -q '^   Sub-topology: 0$' <<<"$("$bin" --describe)"; then
        echo "examples.sh: ${bin#"$tmp"/} --describe printed no topology" >&2
        exit 1
    fi
done
echo "examples.sh: ${#binaries[@]} binaries built, each describes its topology"

# A run on the embedded broker: the lines the app prints (in any order) must be these.
run() {
    local bin=$1 expected=$2 name
    name=$(basename "$bin")
    if ! TMPDIR=$tmp timeout 120 "$bin" >"$tmp/$name.out" 2>"$tmp/$name.log"; then
        echo "examples.sh: $name failed; its log:" >&2
        cat "$tmp/$name.log" >&2
        exit 1
    fi
    if ! diff <(sort <<<"$expected") <(grep "^$name: " "$tmp/$name.out" | sort) >"$tmp/diff"; then
        echo "examples.sh: $name printed other results (< expected, > printed):" >&2
        cat "$tmp/diff" >&2
        exit 1
    fi
    echo "examples.sh: $name on the embedded broker: $(wc -l <<<"$expected") results as expected"
}
run "$tmp/cmake-word_count/word_count" "word_count: 2023-11-14 22:14  the      2
word_count: 2023-11-14 22:14  quick    1
word_count: 2023-11-14 22:14  brown    1
word_count: 2023-11-14 22:14  fox      1
word_count: 2023-11-14 22:14  jumps    1
word_count: 2023-11-14 22:14  over     1
word_count: 2023-11-14 22:14  lazy     1
word_count: 2023-11-14 22:14  dog      1
word_count: 2023-11-14 22:15  the      1
word_count: 2023-11-14 22:15  dog      1
word_count: 2023-11-14 22:15  sleeps   1"
run "$tmp/make-static/enrich_join" "enrich_join: c1: a book for Ada
enrich_join: c2: a lamp for Grace
enrich_join: c3: a pen for unknown customer c3
enrich_join: c1: tea for Ada"
# The function of examples/functions/upper.js, as the README says to run it, called the way a
# stage calls it: a CloudEvents batch, a single event in binary mode, and a Lambda event.
scripts/functions.sh install >&2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
faas_bridge/functions/node_modules/.bin/functions-framework --source=examples/functions/upper.js \
    --target=upper --port="$port" --host=127.0.0.1 >"$tmp/upper.log" 2>&1 &
fn_pid=$!
trap 'kill "$fn_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
check_upper() { # WHAT GOT WANT
    [[ "$2" == "$3" ]] || { echo "examples.sh: upper.js, $1: got $2, want $3" >&2; exit 1; }
}
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
done
got=$(curl -s --max-time 10 -H 'content-type: application/cloudevents-batch+json' \
    --data '[{"id":"in-0-7-0","data":"a b"},{"id":"in-0-8-0","data_base64":"eHk="}]' \
    "http://127.0.0.1:$port/")
check_upper batch "$got" '{"results":[{"id":"in-0-7-0","records":[{"value":"A B"}]},{"id":"in-0-8-0","records":[{"value":"XY"}]}]}'
got=$(curl -s --max-time 10 -H 'ce-id: in-0-9-0' -H 'ce-specversion: 1.0' -H 'ce-type: t' \
    -H 'ce-source: /s' -H 'content-type: application/octet-stream' --data 'hi' "http://127.0.0.1:$port/")
check_upper binary "$got" '{"results":[{"id":"in-0-9-0","records":[{"value":"HI"}]}]}'
got=$(node -e 'require("./examples/functions/upper.js").handler({eventSource: "SelfManagedKafka",
    records: {"in-0": [{id: "in-0-1-0", value: Buffer.from("ok").toString("base64")}]}})
    .then((r) => console.log(JSON.stringify(r)))')
check_upper lambda "$got" '{"results":[{"id":"in-0-1-0","records":[{"value":"OK"}]}]}'
kill "$fn_pid"
echo "examples.sh: examples/functions/upper.js answers a batch, a binary event and a Lambda event"
echo "examples.sh: build $((built - start)) s, runs $(($(date +%s) - built)) s"
