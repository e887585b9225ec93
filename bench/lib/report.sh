# shellcheck shell=bash disable=SC2034 # sourced: its variables are the callers'
# report.sh — what the benchmarks print and append to bench/RESULTS.md beside their own
# tables: the arithmetic over the pairs, the items every section starts with (revision,
# command, machine, build, load), failed runs, and gnuplot. Sourced through
# bench/lib/bench.sh, not run.

# Awk functions for the summaries: median, lo, hi of a[1..k] (a is left as it was).
readonly AWK_STATS='
    function median(a, k,   i, j, t, b) {
        for (i = 1; i <= k; i++) b[i] = a[i]
        for (i = 2; i <= k; i++)
            for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
        return k % 2 ? b[(k + 1) / 2] : (b[k / 2] + b[k / 2 + 1]) / 2
    }
    function lo(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] < m) m = a[i]; return m }
    function hi(a, k,   i, m) { m = a[1]; for (i = 2; i <= k; i++) if (a[i] > m) m = a[i]; return m }
'

# column_medians COLUMN... <ROWS: the median of each numeric COLUMN (1-based) over the rows
# that are not blank, on one line, each followed by a space.
column_medians() {
    awk -v cols="$*" "$AWK_STATS"'
        BEGIN { nc = split(cols, col, " ") }
        NF { n++; for (c = 1; c <= nc; c++) v[c, n] = $(col[c]) }
        END { for (c = 1; c <= nc; c++) { for (i = 1; i <= n; i++) a[i] = v[c, i]; printf "%s ", median(a, n) } }'
}

# ---------------------------------------------------------------- what a section says

revision() {
    local rev dirty
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$ROOT" status --porcelain -- engine operators state faas_bridge include \
                2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')
    if [[ -n "$dirty" ]]; then
        echo "$rev, with uncommitted changes in the library: ${dirty% }"
    else
        echo "$rev"
    fi
}

# The build type of BUILD_DIR (CMakeLists.txt takes RelWithDebInfo when none is given).
build_type() {
    local t
    t=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
    echo "${t:-RelWithDebInfo}"
}

# A path as written in RESULTS.md: relative to the repository when inside it.
rel_path() {
    local p
    p=$(realpath -m "$1")
    if [[ "$p" == "$ROOT"/* ]]; then echo "${p#"$ROOT"/}"; else echo "(outside the repository)"; fi
}

# machine_line [rocksdb|faas]: the machine, broker and client library, one Markdown list item;
# with rocksdb, RocksDB's version; with faas, libcurl's and the function runtime's.
machine_line() {
    local extra=""
    case "${1:-}" in
        rocksdb) extra="; RocksDB $(dpkg-query -W -f '${Version}' librocksdb-dev 2>/dev/null || echo '?')" ;;
        faas)
            extra="; libcurl $(pkg-config --modversion libcurl 2>/dev/null || echo '?')"
            extra+="; Node.js $(node --version 2>/dev/null || echo '?'), Functions Framework $(sed -n \
                's/.*"version": *"\([^"]*\)".*/\1/p' "$FN_DIR/node_modules/@google-cloud/functions-framework/package.json" |
                head -n1)"
            ;;
    esac
    printf -- '- machine: %s × %s, %s MiB RAM; Kafka 3.9.1, one broker on the same machine (%s); librdkafka %s%s\n' \
        "$(nproc --all)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
        "$(awk '/MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$BOOTSTRAP" \
        "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" "$extra"
}

# The busiest other processes over one second (what else shares the machine), one line.
other_load() {
    top -b -n2 -d1 -w 200 2>/dev/null | awk '
        /^top -/ { blk++ }
        blk == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 { printf "%s%s %s%%", sep, $12, $9; sep = ", " }'
}

# The command as typed, with the settings that shape it, for RESULTS.md: a directory is
# written by its last name (or, with COMMAND_QUOTED, each value is quoted, paths in the
# repository relative to it and others hidden).
command_line() {
    local settings
    settings=$(env | grep -E '^RILL_(BENCH|KAFKA|BUILD)' || true)
    if [[ -n "${COMMAND_QUOTED:-}" ]]; then
        settings=$(sed -e 's/=\(.*\)/="\1"/' -e "s|$ROOT/||g" \
            -e 's|="/[^"]*"|="<a directory outside the repository>"|' <<<"$settings")
    else
        settings=$(sed -E 's#=/[^ ]*/([^/ ]+)$#=.../\1#' <<<"$settings")
    fi
    echo "$(sort <<<"$settings" | sed '/^$/d' | tr '\n' ' ')bash bench/$SCRIPT"
}

# results_head TITLE MACHINE [REVISION_NOTE]: the heading of a RESULTS.md section (TITLE and
# the date) and its first items: the revision (REVISION when the script noted it at its
# build, with the time of the build; then REVISION_NOTE), the command, the machine
# (machine_line MACHINE). Before it, in an empty RESULTS file, the file's own heading.
results_head() {
    [[ -s "$RESULTS" ]] ||
        printf '# Rill benchmark results\n\nAppended by the programs in bench/ (see %s), %s\n' \
            "bench/README.md" "newest last; each section says how it was made."
    printf '\n## %s — %s\n\n' "$1" "$(date -u '+%Y-%m-%d %H:%M UTC')"
    if [[ -n "${REVISION:-}" ]]; then
        printf -- '- revision: %s (built %s)%s\n' "$REVISION" "$BUILT_AT" "${3:-}"
    else
        printf -- '- revision: %s%s\n' "$(revision)" "${3:-}"
    fi
    # shellcheck disable=SC2016 # the backquotes are Markdown
    printf -- '- command: `%s`\n' "$COMMAND"
    machine_line "$2"
}

# The build item: BUILD_DIR's build type and where it is.
build_item() {
    printf -- '- build: %s, %s\n' "$(build_type)" "$(rel_path "$BUILD_DIR")"
}

# load_item LOAD OTHERS [NOTE]: how loaded the machine was before the runs, one Markdown list
# item (NOTE after it).
load_item() {
    printf -- '- load average before the runs (1, 5, 15 min): %s; busiest processes then: %s%s\n' \
        "$1" "${2:-none}" "${3:-}"
}

# note_failure WHAT ERRFILE: records a failed (retried) run and the last line of its stderr.
note_failure() {
    log "warning: $1 failed; retrying it once"
    # shellcheck disable=SC2016 # the backquotes are Markdown
    printf '%s: `%s`\n' "$1" "$(grep -v '^[0-9:.]* [A-Z]* *rill\[' "$2" | tail -n 1 | sed "s#$WORK#<tmp>#g")" \
        >>"$WORK/failures"
}

# The failed and retried runs, one Markdown list item (nothing when none failed).
failures_line() {
    [[ -s "$WORK/failures" ]] || return 0
    printf -- '- failed runs, retried once (a new application.id): %s\n' \
        "$(paste -sd ';' "$WORK/failures" | sed 's/;/; /g')"
}

# ---------------------------------------------------------------- plots

# run_gnuplot <SCRIPT: runs gnuplot on the script read from stdin; a missing or failing
# gnuplot is a warning, not an error (the tables are the results).
run_gnuplot() {
    command -v gnuplot >/dev/null || { log "warning: gnuplot not found: no plot"; return 0; }
    gnuplot || log "warning: gnuplot failed"
}
