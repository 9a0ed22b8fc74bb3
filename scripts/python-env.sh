#!/usr/bin/env bash
# Creates (or refreshes) the shared Python virtual environment of the test suites, .build/venv,
# from scripts/requirements-test.txt. Idempotent: pip runs only when the requirements file
# changed since the last successful install (its hash is kept in the venv). Prints the venv's
# path on stdout.
#
#   scripts/python-env.sh            # then: .build/venv/bin/python -m pytest ...
#   SPILLWAY_VENV=/somewhere scripts/python-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SPILLWAY_VENV:-$PWD/.build/venv}
requirements=scripts/requirements-test.txt
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "python-env.sh: $python is required (Debian: python3 python3-venv)" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >&2
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "python-env.sh: installing $requirements into $venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
    echo "$want" >"$stamp"
fi
echo "$venv"
