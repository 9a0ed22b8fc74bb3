#!/usr/bin/env bash
# Formats the package's Swift files with `swift format` and the repository's .swift-format
# (4-space indentation, existing line breaks kept, long lines allowed: the style the code was
# written in), or checks them.
#
# Usage: scripts/format.sh            format every tracked Swift file in place, and empty
#                                     .swift-format-pending (commit the result)
#        scripts/format.sh --check    exit 1 if a file is not formatted; files listed in
#                                     .swift-format-pending (formatted yet, in one commit, by
#                                     `scripts/format.sh`) are left out of the check
set -euo pipefail
cd "$(dirname "$0")/.."
pending=.swift-format-pending
mapfile -t files < <(git ls-files '*.swift')

case "${1:-}" in
"")
    swift format format --configuration .swift-format --in-place --parallel "${files[@]}"
    [ ! -f "$pending" ] || : >"$pending"
    echo "formatted ${#files[@]} files" >&2
    ;;
--check)
    checked=()
    for f in "${files[@]}"; do
        if [ -f "$pending" ] && grep -qxF "$f" "$pending"; then continue; fi
        checked+=("$f")
    done
    if ! swift format lint --strict --configuration .swift-format --parallel "${checked[@]}"; then
        echo "FAIL: the files above are not formatted; run scripts/format.sh and commit" >&2
        exit 1
    fi
    left=$(( ${#files[@]} - ${#checked[@]} ))
    note=""
    [ "$left" -eq 0 ] || note=" ($left listed in $pending, not checked)"
    echo "OK: ${#checked[@]} Swift files formatted$note" >&2
    ;;
*)
    echo "usage: scripts/format.sh [--check]" >&2
    exit 2
    ;;
esac
