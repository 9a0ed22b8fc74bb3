#!/usr/bin/env bash
# Builds and runs Examples/PolicyExample, which compiles its spillway.yml through
# SpillwayPolicyPlugin; then builds a throwaway copy of it with an invalid policy file and checks
# that the build FAILS with `spillway.yml:LINE: error: ...` diagnostics.
#
# Usage: scripts/build-example.sh
# Env:   SPILLWAY_EXAMPLE_SCRATCH  build folder shared by both builds (default .build-example),
#        so the second build reuses the first one's compiled dependencies.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${SPILLWAY_EXAMPLE_SCRATCH:-$root/.build-example}
example=$root/Examples/PolicyExample

echo "== building Examples/PolicyExample" >&2
mkdir -p "$scratch"
marker=$scratch/build-started
touch "$marker"
# Plan first, then build. SwiftPM builds a plugin's tool twice over: once while planning, with its
# own database (plugin-tools.db), and again in the build proper (build.db), which rewrites the
# tool's C objects, module wrappers and executable. Whenever an invocation plans again, each side
# finds the other's outputs changed and redoes that work (about a minute here). On a fresh scratch
# folder the first `swift build` plans without recording the package structure, so the next
# invocation, the invalid-policy build, planned again and redid the tool. Writing the plan first
# (`--print-manifest-job-graph` plans and builds the tool, nothing else) lets the first build
# record the package structure, and later builds reuse the plan.
if [ ! -f "$scratch/debug.yaml" ]; then
    swift build --package-path "$example" --scratch-path "$scratch" --print-manifest-job-graph >/dev/null
fi
swift build --package-path "$example" --scratch-path "$scratch"
output=$("$scratch/debug/PolicyExample")
echo "$output"
grep -q "policies compiled from spillway.yml: 3 routes, 1 prefixes" <<<"$output"
grep -q "POST /orders/upload lock:order:7: maxKeyBytes=256 keyOverflow=reject spillAbove=off onOOM=fail priority=low" <<<"$output"
grep -q "a 437-byte key is stored as 79 bytes: report:customer=acme" <<<"$output"

# What this build compiled (object files written since it started, so a scratch folder left by
# an older version does not count): the plugin's tool must not have pulled in the heavy modules.
compiled_since() {
    # Object files only: SwiftPM writes every target's output-file-map and module map while planning.
    find "$scratch/debug/" -mindepth 2 -path '*.build/*' -name '*.o' -newer "$1" |
        sed -n -e 's|.*/debug/\([^/]*\)\.build/.*|\1|p' | sed -e 's/-tool$//' | sort -u
}
built=$(compiled_since "$marker")
for module in NIOSSL CNIOBoringSSL NIOPosix SpillwayRedis SpillwayTesting Hummingbird ArgumentParser spillway; do
    if grep -qx "$module" <<<"$built"; then
        echo "FAIL: building the example compiled $module; the plugin's tool must depend only on SpillwayPolicyFile and the core" >&2
        exit 1
    fi
done
echo "== the example's build compiled: $(tr '\n' ' ' <<<"${built:-nothing (up to date)}")" >&2

# The invalid case builds the same package with its policy file swapped for a broken one (restored
# on exit), so only the plugin's command runs again. A copy of the package in another directory
# would be a new root, and SwiftPM would rebuild the plugin's tool and every dependency.
echo "== building with an invalid policy file (must fail)" >&2
policy=$example/Sources/PolicyExample/spillway.yml
backup=$scratch/spillway.yml.valid
mkdir -p "$scratch/invalid-policy"
cp "$policy" "$backup"
trap 'cp "$backup" "$policy"' EXIT
cat >"$policy" <<'YAML'
defaults:
  maxKeyBytes: 256
  maxKeyByte: 512
  spillAbove: 2MiB
  maxValueBytes: 1MiB
routes:
  POST /orders/upload: {onOOM: explode}
YAML
log=$scratch/invalid-policy/build.log
touch "$marker"
if swift build --package-path "$example" --scratch-path "$scratch" >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: the build with an invalid spillway.yml succeeded" >&2
    exit 1
fi
status=0
for expected in \
    "spillway.yml:3: error: unknown field 'maxKeyByte' in defaults; did you mean 'maxKeyBytes'?" \
    "spillway.yml:5: error: spillAbove 2MiB (defaults, line 4) is not below maxValueBytes 1MiB (defaults, line 5)" \
    "spillway.yml:7: error: onOOM must be one of shed, fallback, fail, not 'explode'"; do
    if ! grep -qF "$expected" "$log"; then
        echo "FAIL: the failed build did not report: $expected" >&2
        status=1
    fi
done
if [ $status -ne 0 ]; then
    cat "$log"
    exit 1
fi
grep -F "spillway.yml:" "$log" | sort -u >&2
# The invalid build must only have run the plugin's command again: no dependency, no plugin-tool
# module recompiled (see "Plan first" above).
recompiled=$(compiled_since "$marker" | grep -vx PolicyExample || true)
if [ -n "$recompiled" ]; then
    echo "FAIL: the invalid-policy build recompiled $(tr '\n' ' ' <<<"$recompiled"); only the plugin's command should run again" >&2
    exit 1
fi
if grep -q "Planning build" "$log"; then
    echo "FAIL: the invalid-policy build planned the build again (and so rebuilt the plugin's tool)" >&2
    exit 1
fi
cp "$backup" "$policy"
trap - EXIT
echo "== building again with the valid policy file" >&2
swift build --package-path "$example" --scratch-path "$scratch" >&2
echo "OK: example built and ran; the invalid policy file failed the build with file:line errors" >&2
