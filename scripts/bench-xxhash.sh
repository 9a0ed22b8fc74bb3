#!/usr/bin/env bash
# Keyed XXH3-128 of a 10 KB key vs `xxhsum -b` XXH128, in the same run, from a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh libxxhash-dev pkg-config xxhash
SPILLWAY_BENCHMARKS=1 swift run -c release --scratch-path .build-bench XXHashBench
