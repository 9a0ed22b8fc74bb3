#!/usr/bin/env bash
# Fuzzes the policy-file parser and validator with libFuzzer (-sanitize=fuzzer).
#
# Usage: scripts/fuzz-policy.sh [SECONDS] [extra libFuzzer flags...]     (default 120 s)
# Builds Fuzz/PolicyFuzzer (declared in Package.swift only when SPILLWAY_FUZZ is set) into
# .build-fuzz, with SpillwayPolicyFile and the fuzzer instrumented, runs it on a copy of the seed
# corpus in Fuzz/corpus/policy, and prints libFuzzer's final statistics (executions, coverage).
# Crashes are written to fuzz-out/ (git-ignored) and fail the script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-120}
shift || true
cd "$root"

SPILLWAY_FUZZ=1 swift build --scratch-path .build-fuzz --product PolicyFuzzer >&2
fuzzer=$(SPILLWAY_FUZZ=1 swift build --scratch-path .build-fuzz --product PolicyFuzzer --show-bin-path)/PolicyFuzzer

mkdir -p fuzz-out/corpus fuzz-out/crashes
cp -n Fuzz/corpus/policy/* fuzz-out/corpus/ 2>/dev/null || true
"$fuzzer" fuzz-out/corpus -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
    -dict=Fuzz/policy.dict -artifact_prefix=fuzz-out/crashes/ "$@"
