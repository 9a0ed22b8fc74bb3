#!/usr/bin/env bash
# Fails when the build plugin's tool (`spillway-policy`) reaches, directly or through any target
# or product of any package, a module it must not: a package that uses SpillwayPolicyPlugin must
# build only the policy-file module and the core, not SwiftNIO's POSIX or SSL modules, the Redis
# client, the test support, Hummingbird or ArgumentParser.
#
# It walks the target graph from `swift package dump-package` of this package and of each
# dependency it reaches (their checkouts under the scratch path; run after a build or
# `swift package resolve`). Conditional dependencies count as dependencies (it is conservative).
#
# Usage: scripts/check-plugin-deps.sh [TARGET]      (default: spillway-policy)
# Env:   SPILLWAY_SCRATCH  the scratch path whose checkouts/ to read (default .build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
start=${1:-spillway-policy}
scratch=${SPILLWAY_SCRATCH:-$root/.build}
forbidden=(NIOSSL NIOPosix SpillwayRedis SpillwayTesting Hummingbird ArgumentParser)
command -v jq >/dev/null || { echo "check-plugin-deps: jq is required (scripts/deps.sh jq)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# dump PACKAGE-IDENTITY -> path of its dump-package JSON (cached).
dump() {
    local id=$1 out=$work/$1.json dir
    if [ ! -f "$out" ]; then
        if [ "$id" = "@root" ]; then
            dir=$root
        else
            dir=""
            for d in "$scratch"/checkouts/*/; do
                if [ "$(basename "$d" | tr '[:upper:]' '[:lower:]')" = "$id" ]; then dir=${d%/}; fi
            done
            [ -n "$dir" ] || { echo "check-plugin-deps: no checkout of '$id' under $scratch/checkouts (build or resolve first)" >&2; exit 1; }
        fi
        swift package --package-path "$dir" --scratch-path "$work/scratch" dump-package >"$out"
    fi
    echo "$out"
}

declare -A seen=()
reached=()
# visit PACKAGE-ID TARGET: records the target and walks its dependencies.
visit() {
    local pkg=$1 target=$2 json
    [ -z "${seen[$pkg/$target]:-}" ] || return 0
    seen[$pkg/$target]=1
    reached+=("$pkg/$target")
    json=$(dump "$pkg")
    jq -e --arg t "$target" '.targets[] | select(.name == $t)' "$json" >/dev/null ||
        { echo "check-plugin-deps: no target '$target' in package '$pkg'" >&2; exit 1; }
    local deps kind name dpkg
    deps=$(jq -r --arg t "$target" '
        .targets[] | select(.name == $t) | .dependencies[] |
        if has("target") then "target \(.target[0]) -"
        elif has("product") then "product \(.product[0]) \(.product[1] | ascii_downcase)"
        else "byName \(.byName[0]) -" end' "$json")
    while read -r kind name dpkg; do
        [ -n "$kind" ] || continue
        case $kind in
            target) visit "$pkg" "$name" ;;
            product) product "$dpkg" "$name" ;;
            byName)
                if jq -e --arg n "$name" '.targets[] | select(.name == $n)' "$json" >/dev/null; then
                    visit "$pkg" "$name"
                else
                    # A product named like its package.
                    product "$(echo "$name" | tr '[:upper:]' '[:lower:]')" "$name"
                fi ;;
        esac
    done <<<"$deps"
}

# product PACKAGE-ID PRODUCT: walks the product's targets.
product() {
    local pkg=$1 name=$2 json t
    [ -z "${seen[$pkg/product:$name]:-}" ] || return 0
    seen[$pkg/product:$name]=1
    json=$(dump "$pkg")
    local targets
    targets=$(jq -r --arg p "$name" '.products[] | select(.name == $p) | .targets[]' "$json")
    [ -n "$targets" ] || { echo "check-plugin-deps: no product '$name' in package '$pkg'" >&2; exit 1; }
    for t in $targets; do visit "$pkg" "$t"; done
}

visit @root "$start"
status=0
for entry in "${reached[@]}"; do
    for bad in "${forbidden[@]}"; do
        if [ "${entry#*/}" = "$bad" ]; then
            echo "FAIL: $start depends on $bad (${entry%%/*})" >&2
            status=1
        fi
    done
done
echo "$start reaches ${#reached[@]} targets: $(printf '%s\n' "${reached[@]}" | sed 's|^@root/||' | sort | tr '\n' ' ')" >&2
[ $status -eq 0 ] && echo "OK: $start reaches none of ${forbidden[*]}" >&2
exit $status
