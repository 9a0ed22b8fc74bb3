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

# libFuzzer without its main (see Package.swift), from the toolchain's compiler-rt.
swiftc=$(readlink -f "$(command -v swiftc)")
export SPILLWAY_FUZZ
SPILLWAY_FUZZ=$(ls "$(dirname "$swiftc")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
[ -f "$SPILLWAY_FUZZ" ] || { echo "libclang_rt.fuzzer_no_main not found next to $swiftc" >&2; exit 1; }
swift build --scratch-path .build-fuzz --product PolicyFuzzer >&2
fuzzer=$(swift build --scratch-path .build-fuzz --product PolicyFuzzer --show-bin-path)/PolicyFuzzer

mkdir -p fuzz-out/corpus fuzz-out/crashes
cp -n Fuzz/corpus/policy/* fuzz-out/corpus/ 2>/dev/null || true
"$fuzzer" fuzz-out/corpus -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
    -dict=Fuzz/policy.dict -artifact_prefix=fuzz-out/crashes/ "$@"
