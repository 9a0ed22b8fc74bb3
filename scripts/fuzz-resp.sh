#!/usr/bin/env bash
# Builds the RESP decoder fuzz target with libFuzzer (+ AddressSanitizer) and runs it.
#   scripts/fuzz-resp.sh [seconds]        default 600
# Crashes land in Fuzz/RESP/artifacts/; add each as a regression test in
# Tests/SpillwayTests/Redis/RESPFuzzRegressionTests.swift.
set -euo pipefail
cd "$(dirname "$0")/../Fuzz/RESP"
seconds="${1:-600}"
swift build -c debug \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    --product RESPFuzz
binary="$(swift build -c debug --show-bin-path)/RESPFuzz"
mkdir -p artifacts corpus-work
cp -n corpus/* corpus-work/ 2>/dev/null || true
"$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix=artifacts/ corpus-work
