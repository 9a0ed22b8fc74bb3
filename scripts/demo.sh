#!/usr/bin/env bash
# Runs `spillway demo` (the incident replay on the embedded backend, no server needed).
# Installs libxxhash-dev when missing. Extra arguments go to the demo: scripts/demo.sh --json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh libxxhash-dev pkg-config
swift build --product spillway >&2
exec .build/debug/spillway demo "$@"
