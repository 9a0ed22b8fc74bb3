#!/usr/bin/env bash
# Creates (or updates) the ONE Python virtual environment the test suites share, from
# scripts/requirements-test.txt: .build/venv by default, or $SPILLWAY_VENV. Idempotent: pip runs
# only when the requirements file changed since the last install (its SHA-256 is kept in the venv).
# Prints the environment's directory. Tests find it through SPILLWAY_VENV or .build/venv and fail
# (never skip) when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SPILLWAY_VENV:-$root/.build/venv}
requirements=$root/scripts/requirements-test.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "python-env: installing $requirements into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$want" >"$stamp"
fi
echo "$venv"
