# shellcheck shell=bash disable=SC2034 # sourced: its variables are the callers'
# bench.sh — the one library of the benchmark scripts in bench/. A script sources this file
# only; it brings the rest of bench/lib/. Sourced, not run.
#
#   run.sh        the broker, builds, topics, the runs of a measured program and what a
#                 process costs (CPU seconds, peak RSS), the work directory and the cleanup
#   functions.sh  function runtimes: a Functions Framework process of the script's own, or the
#                 ones scripts/functions.sh runs
#   report.sh     arithmetic over the pairs (median, min–max), the items every section of
#                 bench/RESULTS.md starts with, gnuplot
#   cost.sh       the cost model (bench/cost_model.c, through bench-cost)
#
# DESIGN: every benchmark follows one method (bench/README.md): the same broker and input for
# candidate and baseline, alternating pairs, CPU per record, a section appended to
# bench/RESULTS.md that says how it was made. What does not depend on the experiment lives
# here once, so that two scripts cannot drift apart in how they find the broker, measure a
# process or describe the machine.
#
# The caller sets, before sourcing: SCRIPT (its name, for messages and the command line);
# for the FaaS scripts, COMMAND_QUOTED=1 (their command line quotes each setting); and
# RUN_TIMEOUT_DEFAULT_S when one run's bound without RILL_BENCH_RUN_TIMEOUT_S is not 600 s.
# Sourcing sets ROOT, the settings every script shares (below) and RUN_ID; the script calls
# bench_work NAME once its own settings are checked (and exported, where its programs read
# them), which also notes the command line (COMMAND).

[[ -n "${BENCH_LIB:-}" ]] && return 0 # sourced already
BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly BENCH_LIB
ROOT=$(cd "$BENCH_LIB/../.." && pwd)
readonly ROOT
# shellcheck source=scripts/lib/host.sh
source "$ROOT/scripts/lib/host.sh"
# shellcheck source=bench/lib/run.sh
source "$BENCH_LIB/run.sh"
# shellcheck source=bench/lib/functions.sh
source "$BENCH_LIB/functions.sh"
# shellcheck source=bench/lib/report.sh
source "$BENCH_LIB/report.sh"
# shellcheck source=bench/lib/cost.sh
source "$BENCH_LIB/cost.sh"

readonly RESULTS="${RILL_BENCH_RESULTS:-$ROOT/bench/RESULTS.md}" # another file for trial runs
readonly BUILD_DIR=${RILL_BUILD_DIR:-$ROOT/build}
readonly PAIRS=${RILL_BENCH_PAIRS:-3}
readonly RUN_TIMEOUT_S=${RILL_BENCH_RUN_TIMEOUT_S:-${RUN_TIMEOUT_DEFAULT_S:-600}} # one run's bound
readonly PARTITIONS=4 # of every topic a script makes, unless it says otherwise
readonly SEED=42      # of every generated input
RUN_ID="$(date +%s)-$$" # in every topic, group and application.id of the run
readonly RUN_ID
