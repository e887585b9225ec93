# shellcheck shell=bash
# host.sh — what the service scripts (scripts/kafka.sh, scripts/functions.sh) and the
# benchmarks need to share one host with other checkouts. Sourced, not run.
#
# DESIGN: several checkouts (several people, or several branches of one person) run their
# brokers and function runtimes on the same machine at the same time. So each checkout keeps
# its services' state (pid files, chosen ports, logs, data) in a run directory of its own,
# <checkout>/.run/<service> (git ignores .run/), and a port that is not given is chosen free
# when the service starts rather than fixed. A port is free if it binds on 127.0.0.1 with
# SO_REUSEADDR, as the services bind (old connections in TIME_WAIT do not count, as they do
# not for them); it is never probed with connect(), which may take a closed port as its own
# source port. Ports are chosen in RILL_PORT_RANGE, outside the kernel's ephemeral range, so
# that client sockets never hold them. Two starts may still pick the same port between the
# test and the service's own bind; the scripts relaunch on another port when that happens
# (bounded), and count a service as up only when the process they launched holds the port.

[[ -n "${rill_root:-}" ]] && return 0 # sourced already
rill_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly rill_root
readonly rill_default_port_range=30000-32767

# rill_run_dir SERVICE: the run directory of SERVICE (kafka, functions) for this checkout,
# unless the caller's override (RILL_KAFKA_DIR, RILL_FUNCTIONS_DIR) says otherwise.
rill_run_dir() {
    case "$1" in
        kafka) echo "${RILL_KAFKA_DIR:-$rill_root/.run/kafka}" ;;
        functions) echo "${RILL_FUNCTIONS_DIR:-$rill_root/.run/functions}" ;;
        *) echo "host.sh: unknown service '$1'" >&2; return 1 ;;
    esac
}

# How local TCP port $1 is used, read from /proc (never probed with connect()): "listen",
# "busy" (a client socket holds it, bind() would fail), or nothing.
rill_port_usage() {
    local hex f tables=()
    hex=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do [[ -r "$f" ]] && tables+=("$f"); done
    awk -v suffix=":$hex" '
        FNR > 1 && substr($2, length($2) - 4) == suffix {
            if ($4 == "0A") listen = 1
            else if ($2 == $3 || $4 == "01" || $4 == "02") busy = 1
        }
        END { if (listen) print "listen"; else if (busy) print "busy" }' "${tables[@]}"
}

# rill_port_owned_by PORT PID: true if process PID holds a socket listening on local TCP
# port PORT. Two starts that chose the same port both see it answer once the winner listens;
# only this tells the loser that the one answering is not its own process.
rill_port_owned_by() {
    local hex inode f tables=()
    hex=$(printf '%04X' "$1")
    [[ -n "$2" && -d "/proc/$2/fd" ]] || return 1
    for f in /proc/net/tcp /proc/net/tcp6; do [[ -r "$f" ]] && tables+=("$f"); done
    for inode in $(awk -v suffix=":$hex" 'FNR > 1 && $4 == "0A" &&
            substr($2, length($2) - 4) == suffix { print $10 }' "${tables[@]}"); do
        find "/proc/$2/fd" -maxdepth 1 -lname "socket:\\[$inode\\]" 2>/dev/null | grep -q . && return 0
    done
    return 1
}

# rill_port_range: "LO HI" of RILL_PORT_RANGE, checked: 1024 <= LO <= HI < 65536 and no
# overlap with the kernel's ephemeral range. Fails with the reason on stderr.
rill_port_range() {
    local range=${RILL_PORT_RANGE:-$rill_default_port_range} lo hi elo ehi
    if ! [[ "$range" =~ ^([0-9]+)-([0-9]+)$ ]]; then
        echo "RILL_PORT_RANGE must be LO-HI, got '$range'" >&2
        return 1
    fi
    lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
    if ((lo < 1024 || hi > 65535 || lo > hi)); then
        echo "RILL_PORT_RANGE must lie in 1024-65535 with LO <= HI, got '$range'" >&2
        return 1
    fi
    read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range || { elo=32768 ehi=60999; }
    if ((lo <= ehi && hi >= elo)); then
        echo "RILL_PORT_RANGE $range overlaps the ephemeral range $elo-$ehi" >&2
        return 1
    fi
    echo "$lo $hi"
}

# rill_pick_port SPAN [TAKEN...]: prints a port P of RILL_PORT_RANGE such that P..P+SPAN-1
# all bind on 127.0.0.1 now and none is in TAKEN (ports this start already gave out). Tries
# at most 200 candidates from a random point; fails with the reason on stderr.
rill_pick_port() {
    local span=$1 lo hi
    shift
    read -r lo hi < <(rill_port_range) || return 1
    perl -MSocket -e '
        my ($lo, $hi, $span, @taken) = @ARGV;
        my %taken = map { $_ => 1 } @taken;
        my $n = $hi - $lo + 2 - $span;
        exit 2 if $n < 1;
        my $start = int(rand($n));
        sub bindable {
            my $p = shift;
            socket(my $s, PF_INET, SOCK_STREAM, 0) or return 0;
            setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or return 0;
            my $ok = bind($s, pack_sockaddr_in($p, inet_aton("127.0.0.1")));
            close($s);
            return $ok;
        }
        CAND: for my $i (0 .. ($n < 200 ? $n : 200) - 1) {
            my $p = $lo + ($start + $i) % $n;
            for my $q ($p .. $p + $span - 1) { next CAND if $taken{$q} || !bindable($q) }
            print "$p\n";
            exit 0;
        }
        exit 1;' "$lo" "$hi" "$span" "$@" && return 0
    echo "no free port in RILL_PORT_RANGE $lo-$hi (see: ss -ltn)" >&2
    return 1
}

# rill_port_bindable PORT: true if PORT binds on 127.0.0.1 now.
rill_port_bindable() {
    perl -MSocket -e 'socket(my $s, PF_INET, SOCK_STREAM, 0) or exit 1;
        setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or exit 1;
        exit(bind($s, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) ? 0 : 1)' "$1"
}

# rill_check_port NAME VALUE: fails unless VALUE is a port number 1024..65535.
rill_check_port() {
    if ! [[ "$2" =~ ^[0-9]+$ ]] || (($2 < 1024 || $2 > 65535)); then
        echo "port of $1 must be 1024..65535, got '$2'" >&2
        return 1
    fi
}

# rill_bind_failed FILE...: true if a log says the service could not bind its port.
rill_bind_failed() {
    grep -qsE 'EADDRINUSE|[Aa]ddress already in use' "$@"
}

# rill_need COMMAND...: fails naming the first COMMAND that is not installed.
rill_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "$c not found (run scripts/install-deps.sh)" >&2; return 1; }
    done
}
