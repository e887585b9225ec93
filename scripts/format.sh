#!/usr/bin/env bash
# format.sh — the layout of every C file, by clang-format and the repository's .clang-format
# (docs/STYLE.md): rewrites the files in place, or with --check only lists those that differ
# and exits 1 (CI runs the check). Files are the tracked *.c and *.h (git ls-files), so build
# directories and fuzz corpora are never touched.
#
# Usage: scripts/format.sh [--check]
# Needs clang-format (Debian 12's is 14; scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

check=""
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

if ! command -v clang-format >/dev/null 2>&1; then
    scripts/install-deps.sh
fi
mapfile -t files < <(git ls-files '*.c' '*.h')
if [[ -z "$check" ]]; then
    clang-format -i "${files[@]}"
    echo "format.sh: ${#files[@]} file(s) formatted"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if ((${#bad[@]})); then
    printf 'format.sh: not formatted: %s\n' "${bad[@]}" >&2
    echo "format.sh: ${#bad[@]} of ${#files[@]} file(s) differ from .clang-format; run scripts/format.sh" >&2
    exit 1
fi
echo "format.sh: ${#files[@]} file(s) formatted as .clang-format says"
