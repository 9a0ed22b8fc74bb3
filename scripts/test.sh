#!/usr/bin/env bash
# Runs the whole test suite, including the suites against a real redis-server that the tests
# start themselves. Installs what is missing (libxxhash-dev, xxhash, redis-server).
# Warnings in Spillway's own targets are errors here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh libxxhash-dev pkg-config xxhash redis-server redis-tools
command -v redis-server >/dev/null || { echo "redis-server is required and could not be installed" >&2; exit 1; }
export SPILLWAY_WARNINGS_AS_ERRORS=1
swift build --build-tests
swift test --skip-build
# The example package: the build-tool plugin compiles a valid policy file, and an invalid one
# must fail `swift build` with file:line errors.
scripts/build-example.sh
