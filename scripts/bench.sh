#!/usr/bin/env bash
# Runs the package-benchmark suites (instructions where the kernel allows, mallocs, wall clock).
# Usage: scripts/bench.sh [SuiteName] [extra benchmark arguments]
# The suites are built only when SPILLWAY_BENCHMARKS is set, in their own scratch path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh libxxhash-dev pkg-config
export SPILLWAY_BENCHMARKS=1
if [ $# -gt 0 ]; then
  target="$1"; shift
  exec swift package --scratch-path .build-bench --allow-writing-to-package-directory benchmark --target "$target" "$@"
fi
exec swift package --scratch-path .build-bench --allow-writing-to-package-directory benchmark "$@"
