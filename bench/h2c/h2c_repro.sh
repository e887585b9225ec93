#!/usr/bin/env bash
# h2c_repro.sh — shows, in one command, why the FaaS bridge cannot simply ask libcurl for
# HTTP/2 with prior knowledge on every call (faas_bridge/http_bridge.c, DESIGN, "HTTP/2 over
# cleartext"): builds bench/h2c/h2c_repro.c against the system's libcurl, starts the `echo`
# function over h2c (faas_bridge/functions/h2c.js) on a free port of 127.0.0.1, then sends
# N concurrent POSTs on one connection three ways:
#   1. curl's command line, --http2-prior-knowledge, the URLs in parallel (-Z);
#   2. h2c_repro pk:     every transfer asks for prior knowledge;
#   3. h2c_repro opener: the first asks for prior knowledge on a fresh connection, the others
#                        for plain HTTP/2 and share it (what the bridge does).
# With libcurl 7.88.x (Debian 12) 1 and 2 fail every transfer but the first with "Error in
# the HTTP2 framing layer" (libcurl sets up a second HTTP/2 layer on a reused connection; fixed
# in libcurl 8.0.0), 3 works on one connection.
#
# Usage: bash bench/h2c/h2c_repro.sh [N]       (default N=20; needs cc, libcurl's headers,
#                                               node and curl)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rill-h2c-repro.XXXXXX")
FN_PID=
cleanup() {
    [[ -n "$FN_PID" ]] && kill "$FN_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

cc -O1 -o "$WORK/h2c_repro" "$ROOT/bench/h2c/h2c_repro.c" -lcurl || exit 2
node "$ROOT/faas_bridge/functions/h2c.js" --target=echo --port=0 >"$WORK/fn.log" 2>&1 &
FN_PID=$!
URL=
for _ in $(seq 50); do
    URL=$(sed -n 's|^h2c.js: target echo on \(http://[^ ]*\)$|\1|p' "$WORK/fn.log")
    [[ -n "$URL" ]] && break
    sleep 0.1
done
[[ -n "$URL" ]] || { cat "$WORK/fn.log" >&2; echo "h2c_repro.sh: the function did not start" >&2; exit 2; }

echo "== 1. curl --http2-prior-knowledge -Z, $N URLs ($(curl --version | head -1 | cut -d' ' -f1-2))"
urls=()
for ((i = 0; i < N; i++)); do urls+=("$URL"); done
curl -sS --http2-prior-knowledge -Z -o /dev/null -w '%{response_code}\n' "${urls[@]}" \
    >"$WORK/cli.out" 2>"$WORK/cli.err"
echo "$(grep -c '^200$' "$WORK/cli.out") ok; errors: $(grep -o 'curl: ([0-9]*) .*' "$WORK/cli.err" | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')"
echo "== 2. h2c_repro pk"
"$WORK/h2c_repro" "$URL" "$N" pk 2>&1 | sort | uniq -c | sed 's/^ *//'
echo "== 3. h2c_repro opener"
"$WORK/h2c_repro" "$URL" "$N" opener 2>&1 | sort | uniq -c | sed 's/^ *//'
