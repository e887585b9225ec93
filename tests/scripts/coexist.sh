#!/usr/bin/env bash
# coexist.sh — two checkouts share one host: their brokers and function runtimes start at
# the same time with no port given, each on ports of its own, all answer, and each stops
# only what it started; and scripts/run.sh --describe / --help start nothing.
#
# DESIGN: the checkouts are two folders with a copy of scripts/ (so each script finds its own
# checkout, and its default run directory .run/ under it, from its path) and links to the
# real faas_bridge/ and topologies/ (the functions' code and node_modules). Nothing is
# started in the real checkout and no port is given (then two more run directories are given
# a taken port, and a free one). The functions of both share a window of 24 free ports
# (RILL_PORT_RANGE) for their 13 services (b runs without serverless-offline, the heaviest,
# to keep the test short), so their choices often collide and the relaunch on another port is
# exercised; the brokers choose in the default range. Every wait is bounded (timeout), and
# whatever the outcome every process started here is stopped through its run directory and
# checked gone by pid. Needs node, java, kcat, perl, curl; Kafka fetched and node_modules
# installed (scripts/test.sh does both); RILL_BUILD_DIR for run.sh (ctest sets it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
# shellcheck source=scripts/lib/host.sh
source "$ROOT/scripts/lib/host.sh"
unset RILL_KAFKA_DIR RILL_KAFKA_PORT RILL_FUNCTIONS_DIR RILL_NOTIFY_FILE RILL_FN_LAMBDA \
    RILL_FN_ECHO_PORT RILL_FN_TRANSFORM_PORT RILL_FN_FAULTY_PORT RILL_FN_VALIDATE_AUCTION_PORT \
    RILL_FN_VALIDATE_BID_PORT RILL_FN_NOTIFY_PORT RILL_FN_LAMBDA_PORT
readonly NAMES=(echo transform faulty validate-auction validate-bid notify lambda)
readonly START_BOUND_S=150
T=$(mktemp -d "${TMPDIR:-/tmp}/rill-coexist.XXXXXX")
readonly T
FAILS=0

log() { echo "coexist.sh: $*" >&2; }
fail() { log "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { # check WHAT COMMAND...: runs the command, counts a failure naming WHAT
    local what=$1
    shift
    "$@" || fail "$what"
}

# A checkout at $T/$1: its own scripts/, the real functions.
make_checkout() {
    mkdir -p "$T/$1"
    cp -r "$ROOT/scripts" "$T/$1/scripts"
    ln -s "$ROOT/faas_bridge" "$T/$1/faas_bridge"
    ln -s "$ROOT/topologies" "$T/$1/topologies"
}

# Notes every pid recorded in the run directories under $T (what must be gone at the end).
note_pids() {
    cat "$T"/*/.run/*/*.pid "$T"/*.run/*.pid 2>/dev/null >>"$T/all.pids" || true
}

stop_all() {
    local co
    for co in a b; do
        [[ -d "$T/$co" ]] || continue
        timeout 60 "$T/$co/scripts/functions.sh" stop 2>/dev/null || true
        timeout 60 "$T/$co/scripts/kafka.sh" stop 2>/dev/null || true
    done
    for co in c d; do
        RILL_FUNCTIONS_DIR="$T/$co.run" timeout 60 "$T/a/scripts/functions.sh" stop 2>/dev/null || true
    done
}
# The pids of live processes whose command line names $T (only this test's: $T is its own).
pids_of_test() {
    local f cmd
    for f in /proc/[0-9]*/cmdline; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
        [[ "$cmd" == *"$T/"* ]] && echo "${f//[^0-9]/}"
    done
    return 0
}

# Stops what the scripts did not (when they are broken): by pid, TERM then KILL.
end_leftovers() {
    local pids
    pids=$(pids_of_test)
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086 # pids are words
    kill -TERM $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    all_gone $pids || kill -KILL $pids 2>/dev/null || true
}
trap 'stop_all; end_leftovers; rm -rf "$T"' EXIT

# alive PID: true while PID runs (a zombie counts as gone).
alive() {
    local state
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    [[ -n "$state" && "$state" != Z ]]
}

# all_gone PID...: waits (at most 15 s) until none of the pids runs.
all_gone() {
    local pid i
    for ((i = 0; i < 150; i++)); do
        for pid in "$@"; do alive "$pid" && continue 2; done
        return 0
    done
    return 1
}

# answers NAME URL: the runtime at URL is the service NAME.
answers() {
    local out
    if [[ "$1" == lambda ]]; then
        out=$(curl -s -m 5 -XPOST -d '{"rillControl":{}}' \
            "$2/2015-03-31/functions/rill-functions-local-echo/invocations") || return 1
        [[ "$out" == *'"target":"lambda-echo"'* ]]
    else
        out=$(curl -s -m 5 "$2") || return 1
        [[ "$out" == "{\"target\":\"$1\"}" ]]
    fi
}

# A window of 24 ports of RILL_PORT_RANGE that all bind now (for the functions).
free_window() {
    local lo hi p
    read -r lo hi < <(rill_port_range)
    for ((p = lo; p + 23 <= hi; p += 24)); do
        perl -MSocket -e 'for my $p ($ARGV[0] .. $ARGV[0] + 23) {
            socket(my $s, PF_INET, SOCK_STREAM, 0) or exit 1;
            bind($s, pack_sockaddr_in($p, inet_aton("127.0.0.1"))) or exit 1; close($s) }' "$p" &&
            { echo "$p-$((p + 23))"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- start side by side

start_both() {
    local window
    window=$(free_window) || { fail "no window of 24 free ports"; return 1; }
    log "functions choose in $window"
    RILL_PORT_RANGE=$window timeout "$START_BOUND_S" \
        "$T/a/scripts/functions.sh" start >"$T/a.fn" 2>"$T/a.fn.err" &
    local fa=$!
    RILL_PORT_RANGE=$window RILL_FN_LAMBDA=0 timeout "$START_BOUND_S" \
        "$T/b/scripts/functions.sh" start >"$T/b.fn" 2>"$T/b.fn.err" &
    local fb=$!
    timeout "$START_BOUND_S" "$T/a/scripts/kafka.sh" start >"$T/a.kafka" 2>"$T/a.kafka.err" &
    local ka=$!
    timeout "$START_BOUND_S" "$T/b/scripts/kafka.sh" start >"$T/b.kafka" 2>"$T/b.kafka.err" &
    local kb=$!
    local pid co what ok=0
    for what in "a.fn:$fa" "b.fn:$fb" "a.kafka:$ka" "b.kafka:$kb"; do
        pid=${what#*:} co=${what%%:*}
        if ! wait "$pid"; then
            fail "$co start failed: $(tail -n 5 "$T/$co.err" | tr '\n' ' ')"
            ok=1
        fi
    done
    note_pids
    log "relaunches after a lost port: $(cat "$T"/*.fn.err | grep -c 'was taken before' || true)"
    return "$ok"
}

# ---------------------------------------------------------------- checks

# check_functions RUN NAME...: RUN's lines ($T/RUN.fn) name NAME... in order, each at
# http://127.0.0.1:PORT/ where that service answers; their ports go to $T/RUN.ports.
check_functions() {
    local run=$1 i=0 name url want
    shift
    want=("$@")
    : >"$T/$run.ports"
    while IFS='=' read -r name url; do
        [[ "$name" == "${want[i]:-}" ]] || fail "$run: line $((i + 1)) names '$name', not ${want[i]:-nothing}"
        if [[ "$url" =~ ^http://127\.0\.0\.1:([0-9]+)/?$ ]]; then
            echo "${BASH_REMATCH[1]}" >>"$T/$run.ports"
            answers "$name" "$url" || fail "$run: $name does not answer at $url"
        else
            fail "$run: $name's URL '$url' is not http://127.0.0.1:PORT/"
        fi
        i=$((i + 1))
    done <"$T/$run.fn"
    ((i == ${#want[@]})) || fail "$run: $i function lines, not ${#want[@]}"
}

check_ports() {
    local all n p
    check_functions a "${NAMES[@]}"
    check_functions b "${NAMES[@]:0:6}"
    all=$(cat "$T/a.ports" "$T/b.ports")
    n=$(sort -u <<<"$all" | wc -l)
    ((n == 13)) || fail "the 13 services hold $n distinct ports: $(tr '\n' ' ' <<<"$all")"
    for p in $all; do
        ((p < 32768)) || fail "port $p was chosen in the ephemeral range"
    done
    check "a's status repeats its start" diff "$T/a.fn" <("$T/a/scripts/functions.sh" status)
    check "b's status repeats its start" diff "$T/b.fn" <("$T/b/scripts/functions.sh" status)
}

# Run directories c and d of checkout a: c is given b's echo port, and is refused with
# nothing started; d is given a free one, and its echo runs there.
check_given_ports() {
    local port
    port=$(sed -n 's#^echo=http://127.0.0.1:\([0-9]*\)/$#\1#p' "$T/b.fn")
    if RILL_FUNCTIONS_DIR="$T/c.run" RILL_FN_ECHO_PORT=$port RILL_FN_LAMBDA=0 \
        timeout 60 "$T/a/scripts/functions.sh" start >"$T/c.fn" 2>"$T/c.fn.err"; then
        fail "a start given b's echo port $port succeeded"
    fi
    grep -q "port $port (echo) is already in use" "$T/c.fn.err" ||
        fail "the refusal does not name the port: $(tr '\n' ' ' <"$T/c.fn.err")"
    compgen -G "$T/c.run/*.pid" >/dev/null && fail "the refused start left pid files in $T/c.run"
    answers echo "http://127.0.0.1:$port/" || fail "b's echo stopped answering"
    port=$(rill_pick_port 1) || { fail "no free port to give"; return; }
    RILL_FUNCTIONS_DIR="$T/d.run" RILL_FN_ECHO_PORT=$port RILL_FN_LAMBDA=0 \
        timeout 60 "$T/a/scripts/functions.sh" start >"$T/d.fn" 2>"$T/d.fn.err" ||
        fail "a start given free port $port failed: $(tail -n 3 "$T/d.fn.err" | tr '\n' ' ')"
    note_pids
    check_functions d "${NAMES[@]:0:6}"
    [[ "$(head -n 1 "$T/d.ports")" == "$port" ]] || fail "d's echo is not on its given port $port"
    RILL_FUNCTIONS_DIR="$T/d.run" timeout 60 "$T/a/scripts/functions.sh" stop
}

check_brokers() {
    local co line bs=()
    for co in a b; do
        line=$(cat "$T/$co.kafka")
        [[ "$line" =~ ^bootstrap=127\.0\.0\.1:([0-9]+)$ ]] || { fail "$co: kafka.sh start printed '$line'"; continue; }
        bs+=("${BASH_REMATCH[1]}")
        check "$co: kafka.sh status repeats its bootstrap line" \
            test "$("$T/$co/scripts/kafka.sh" status)" == "$line"
        check "$co: create-topic on its broker" \
            timeout 60 "$T/$co/scripts/kafka.sh" create-topic "coexist-$co" 1 2>>"$T/topics.log"
    done
    ((${#bs[@]} == 2)) || return 0
    ((bs[0] + 1 < bs[1] || bs[1] + 1 < bs[0])) || fail "the brokers' port pairs overlap: ${bs[*]}"
    local topics_a topics_b
    topics_a=$(timeout 20 kcat -b "127.0.0.1:${bs[0]}" -L -m 5 | grep -o 'topic "coexist-[ab]"' | tr '\n' ' ')
    topics_b=$(timeout 20 kcat -b "127.0.0.1:${bs[1]}" -L -m 5 | grep -o 'topic "coexist-[ab]"' | tr '\n' ' ')
    [[ "$topics_a" == 'topic "coexist-a" ' ]] || fail "a's broker holds: $topics_a"
    [[ "$topics_b" == 'topic "coexist-b" ' ]] || fail "b's broker holds: $topics_b"
}

# Stops a's services: a's processes end, b's still run and answer.
check_stop_is_own() {
    local a_pids b_pids
    a_pids=$(cat "$T"/a/.run/*/*.pid) b_pids=$(cat "$T"/b/.run/*/*.pid)
    timeout 60 "$T/a/scripts/functions.sh" stop
    timeout 60 "$T/a/scripts/kafka.sh" stop
    # shellcheck disable=SC2086 # pids are words
    all_gone $a_pids || fail "a's processes still run after its stop"
    local pid
    for pid in $b_pids; do alive "$pid" || fail "b's process $pid ended with a's stop"; done
    check "b's functions answer after a's stop" diff "$T/b.fn" <("$T/b/scripts/functions.sh" status)
    check "b's broker answers after a's stop" "$T/b/scripts/kafka.sh" status >/dev/null
    timeout 60 "$T/b/scripts/functions.sh" stop
    timeout 60 "$T/b/scripts/kafka.sh" stop
    # shellcheck disable=SC2086
    all_gone $b_pids || fail "b's processes still run after its stop"
}

# Nothing started from $T runs any more (by pid, and by command line).
check_nothing_left() {
    local left
    # shellcheck disable=SC2046
    all_gone $(cat "$T/all.pids" 2>/dev/null) || fail "recorded processes still run after the stops"
    left=$(pids_of_test | tr '\n' ' ')
    [[ -z "$left" ]] || fail "processes of the test still run:$left"
}

# run.sh ARG prints and starts nothing: no run directory, no process left in its session.
check_print_only() {
    local arg=$1 want=$2 sid
    RILL_FUNCTIONS_DIR="$T/print.run" RILL_BUILD_DIR="${RILL_BUILD_DIR:-$ROOT/build}" \
        timeout 300 setsid --wait bash -c 'echo $$ >"$0"; exec "$1" "$2"' "$T/sid" \
        "$ROOT/scripts/run.sh" "$arg" >"$T/print.out" 2>"$T/print.err" ||
        { fail "run.sh $arg failed: $(tail -n 3 "$T/print.err" | tr '\n' ' ')"; return; }
    grep -q "$want" "$T/print.out" || fail "run.sh $arg did not print '$want'"
    [[ ! -e "$T/print.run" ]] || fail "run.sh $arg made the functions' run directory"
    sid=$(cat "$T/sid")
    # Zombies of the session are on their way out (init reaps them): only live ones count.
    ps -e -o sid=,stat= | awk -v sid="$sid" '$1 == sid && $2 !~ /^Z/ { found = 1 } END { exit !found }' &&
        fail "run.sh $arg left processes: $(ps -s "$sid" -o pid=,stat=,args= | head -n 3 | tr '\n' ' ')"
    return 0
}

main() {
    [[ -f "$ROOT/faas_bridge/functions/node_modules/.rill-npm-ci" ]] ||
        "$ROOT/scripts/functions.sh" install
    make_checkout a
    make_checkout b
    local t0=$SECONDS
    if start_both; then
        log "started both in $((SECONDS - t0)) s"
        check_ports
        check_given_ports
        check_brokers
        check_stop_is_own
    fi
    stop_all
    check_nothing_left
    check_print_only --describe "Sub-topology: 0"
    check_print_only --help "usage: rill-auction"
    if ((FAILS > 0)); then
        log "$FAILS check(s) failed"
        exit 1
    fi
    log "ok: two checkouts ran side by side and stopped only their own; run.sh printed only ($((SECONDS - t0)) s)"
}

main "$@"
