#!/usr/bin/env bash
# env_vars.sh — checks that README.md's "Environment variables" section lists exactly the
# RILL_* environment variables that the scripts, benchmarks, tests, topologies, functions and
# CI read. Fails naming each one that is read but not listed (with where it is read), and
# each one listed that nothing reads. Under a second; .ci/run runs it first.
#
# DESIGN: the list in the README is what a user of a shared host reads to know which knob
# does what, so it must not drift from the code. A variable counts as read where the code
# reads it from the environment: $RILL_X / ${RILL_X...} in shell, $ENV{RILL_X} in CMake,
# env.RILL_X in JavaScript, ${env:RILL_X...} in serverless.yml, and in C a string literal
# "RILL_X" (what getenv() is given) unless RILL_X is a symbol of include/rill.h (tests
# quote those in expected messages). The README's section names each variable in
# backquotes; any backquoted RILL_ name there counts as listed.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly README=README.md
readonly SECTION="## Environment variables"
readonly DIRS=(scripts bench tests topologies .ci faas_bridge/functions examples)
readonly NAME='RILL_[A-Z0-9_]*[A-Z0-9]'

# The files to scan, tracked or new (not ignored), without data, prose and this script.
files() {
    git ls-files -co --exclude-standard -- "${DIRS[@]}" |
        grep -vE '(^|/)(corpus|node_modules)/|\.(md|png|json|txt\.in)$|Makefile$|^scripts/env_vars\.sh$' ||
        true
}

# "NAME<TAB>FILE:LINE" for every read found in the files of one kind (stdin: the list).
reads_of_kind() {
    local kind=$1 pattern
    case "$kind" in
        c) pattern="\"$NAME\"" ;;
        cmake) pattern="\\\$ENV\\{$NAME" ;;
        js) pattern="env\\.$NAME" ;;
        yml) pattern="\\\$\\{env:$NAME" ;;
        sh) pattern="\\\$\\{?$NAME" ;;
    esac
    xargs -r grep -HnoE "$pattern" 2>/dev/null |
        sed -E "s/^([^:]+:[0-9]+):.*(RILL_[A-Z0-9_]*[A-Z0-9]).*/\\2\\t\\1/" || true
}

# Every read: "NAME<TAB>FILE:LINE", C names of the public API left out.
all_reads() {
    local list api
    list=$(files)
    api=$(grep -ohE "\\b$NAME\\b" include/rill.h | sort -u)
    {
        grep -E '\.(c|h)$' <<<"$list" | reads_of_kind c | grep -vwFf <(echo "$api") || true
        grep -E '(^|/)CMakeLists\.txt$|\.cmake$' <<<"$list" | reads_of_kind cmake
        grep -E '\.js$' <<<"$list" | reads_of_kind js
        grep -E '\.ya?ml$' <<<"$list" | reads_of_kind yml
        grep -vE '\.(c|h|js|ya?ml|cmake)$|(^|/)CMakeLists\.txt$' <<<"$list" | reads_of_kind sh
    } | sort -u
}

# The backquoted RILL_ names of the README's section.
listed() {
    awk -v head="$SECTION" '$0 == head { on = 1; next } on && /^## / { on = 0 } on' "$README" |
        { grep -oE "\`$NAME\`" || true; } | tr -d '`' | sort -u
}

main() {
    local reads names listed_names missing stale rc=0 n
    reads=$(all_reads)
    names=$(cut -f1 <<<"$reads" | sort -u)
    listed_names=$(listed)
    [[ -n "$listed_names" ]] || { echo "env_vars.sh: no \"$SECTION\" section with names in $README" >&2; exit 1; }
    missing=$(comm -23 <(echo "$names") <(echo "$listed_names"))
    stale=$(comm -13 <(echo "$names") <(echo "$listed_names"))
    for n in $missing; do
        echo "env_vars.sh: $n is read ($(awk -v n="$n" -F'\t' '$1 == n { print $2 }' <<<"$reads" |
            head -n 3 | paste -sd ' ')) but not listed in $README, \"$SECTION\"" >&2
        rc=1
    done
    for n in $stale; do
        echo "env_vars.sh: $n is listed in $README, \"$SECTION\", but nothing reads it" >&2
        rc=1
    done
    ((rc == 0)) && echo "env_vars.sh: $(wc -l <<<"$names") variables, all listed in $README"
    return "$rc"
}

main "$@"
