#!/usr/bin/env bash
# layers.sh — checks that each module of the library includes only its own headers, the
# public include/rill.h and the headers of the modules it may use. The table of what a module
# may use is read from CMakeLists.txt (the set(RILL_USES_<module> ...) lines: the same table
# gives each module's object library its include path, so the build fails on a wrong include
# too); docs/DESIGN.md ("Modules") shows it. This check is the fast one, and it also catches
# what an include path cannot: a path in quotes ("../engine/x.h") and headers that no .c of
# the module compiles.
#
# With a build directory it also checks calls, which includes cannot show (a function
# declared in one module's header and defined in another's .c): every rill_/rill__ symbol a
# module's objects need must be defined in the module itself or in one it may use.
#
# Usage: scripts/layers.sh [BUILD_DIR]   prints one line per violation, exits 1 if there is any.
# Needs only bash, grep and sed (and nm with BUILD_DIR); takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=$(sed -n 's/^set(RILL_MODULES \(.*\))$/\1/p' CMakeLists.txt)
if [[ -z "$modules" ]]; then
    echo "layers.sh: no set(RILL_MODULES ...) line in CMakeLists.txt" >&2
    exit 2
fi

# The folder(s) among the modules and include/ that hold a header of this name.
where() {
    local dir
    for dir in include $modules; do
        [[ -f "$dir/$1" ]] && printf '%s ' "$dir"
    done
    return 0
}

bad=0
for module in $modules; do
    uses=$(sed -n "s/^set(RILL_USES_$module\\( \\(.*\\)\\)\\{0,1\\})\$/\\2/p" CMakeLists.txt)
    allowed=" include $module $uses "
    while IFS=: read -r file line text; do
        header=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
            <<<"$text")
        [[ -z "$header" ]] && continue
        if [[ "$header" == */* ]]; then
            echo "$file:$line: includes \"$header\": a path; include headers by name only"
            bad=1
            continue
        fi
        found=$(where "$header")
        if [[ -z "$found" ]]; then
            echo "$file:$line: includes \"$header\", which is in no module nor include/"
            bad=1
            continue
        fi
        for dir in $found; do
            if [[ "$allowed" != *" $dir "* ]]; then
                echo "$file:$line: includes \"$header\" of $dir/; $module/ may include only" \
                    "its own headers, include/ and: ${uses:-nothing else}"
                bad=1
            fi
        done
    done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$module"/*.[ch] || true)
done

# The rill symbols the objects of module define (kind "def") or need ("undef").
symbols() {
    # Only the objects of sources that exist: a file moved to another module leaves its old
    # object behind in a build directory that is reused.
    local objs=() obj
    for obj in "$build/CMakeFiles/rill_$1.dir/$1/"*.c.o; do
        [[ -e "$1/$(basename "$obj" .o)" ]] && objs+=("$obj")
    done
    (( ${#objs[@]} )) || { echo "layers.sh: no objects of $1/ in $build" >&2; exit 2; }
    if [[ $2 == def ]]; then
        nm -g --defined-only "${objs[@]}" | sed -n 's/^[0-9a-f]* [TDBRC] \(rill_.*\)$/\1/p'
    else
        nm -g --undefined-only "${objs[@]}" | sed -n 's/^ *U \(rill_.*\)$/\1/p'
    fi | sort -u
}

build=${1:-}
if [[ -n "$build" ]]; then
    declare -A defined
    for module in $modules; do
        defined[$module]=$(symbols "$module" def)
    done
    for module in $modules; do
        uses=" $module $(sed -n "s/^set(RILL_USES_$module\\( \\(.*\\)\\)\\{0,1\\})\$/\\2/p" CMakeLists.txt) "
        for other in $modules; do
            [[ "$uses" == *" $other "* ]] && continue
            while read -r sym; do
                [[ -z "$sym" ]] && continue
                echo "$module/ calls $sym of $other/, which it may not use"
                bad=1
            done < <(comm -12 <(symbols "$module" undef) <(printf '%s\n' "${defined[$other]}"))
        done
    done
fi

if [[ $bad -ne 0 ]]; then
    echo "layers.sh: layer rules broken (the table: CMakeLists.txt RILL_USES_*," \
        "docs/DESIGN.md \"Modules\")" >&2
    exit 1
fi
echo "layers.sh: every module includes${build:+ and calls} only what it may" \
    "($(echo $modules | wc -w) modules)"
