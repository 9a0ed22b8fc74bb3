#!/usr/bin/env bash
# Fuzzes the spill envelope and pointer decoder (SpillEnvelope / SpillPointer) with libFuzzer
# (-sanitize=fuzzer,address).
#
# Usage: scripts/fuzz-spill.sh [SECONDS] [extra libFuzzer flags...]     (default 600 s)
# Builds Fuzz/SpillPointerFuzzer (declared in Package.swift only when SPILLWAY_FUZZ is set) into
# .build-fuzz-spill, with the Spillway module and the fuzzer instrumented, runs it on a copy of
# the seed corpus in Fuzz/corpus/spill, and prints libFuzzer's final statistics. Crashes are
# written to fuzz-out/spill-crashes/ (git-ignored) and fail the script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
shift || true
cd "$root"

swiftc=$(readlink -f "$(command -v swiftc)")
export SPILLWAY_FUZZ SPILLWAY_FUZZ_SPILL=1
# Let a failed precondition report itself, not the Swift backtracer (whose memory reader trips ASan).
export SWIFT_BACKTRACE=enable=no
SPILLWAY_FUZZ=$(ls "$(dirname "$swiftc")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
[ -f "$SPILLWAY_FUZZ" ] || { echo "libclang_rt.fuzzer_no_main not found next to $swiftc" >&2; exit 1; }
swift build --scratch-path .build-fuzz-spill --product SpillPointerFuzzer >&2
fuzzer=$(swift build --scratch-path .build-fuzz-spill --product SpillPointerFuzzer --show-bin-path)/SpillPointerFuzzer

mkdir -p fuzz-out/spill-corpus fuzz-out/spill-crashes
cp -n Fuzz/corpus/spill/* fuzz-out/spill-corpus/ 2>/dev/null || true
"$fuzzer" fuzz-out/spill-corpus -max_total_time="$seconds" -max_len=1024 -print_final_stats=1 \
    -artifact_prefix=fuzz-out/spill-crashes/ "$@"
